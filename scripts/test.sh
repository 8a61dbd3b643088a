#!/usr/bin/env bash
# Runs every test: installs what is missing, builds in release, and runs the unit tests and the MPI
# integration tests (which start real `mpirun` jobs with 2 and 4 ranks).
#
#   scripts/test.sh [swift test options]          e.g. scripts/test.sh --filter DPModelTests
#
# Needs a Debian/Ubuntu machine with the Swift toolchain; root or sudo when packages are missing.
# Release, because the numerical tests are far too slow in a debug build; testable imports still work.
source "$(dirname "$0")/setup.sh"
cd "$DPTRAIN_ROOT"
swift test -c release "${DPTRAIN_SWIFT_FLAGS[@]}" "$@"
