#!/usr/bin/env bash
# Trains with 4 ranks on this machine: installs what is missing, builds dptrain (release), and runs
#
#   scripts/train.sh [dptrain train options]      e.g. scripts/train.sh --steps 200, or --resume
#
# as `mpirun -n 4 dptrain [options]` (DPTRAIN_RANKS=N for another number of ranks). Needs a
# Debian/Ubuntu machine with the Swift toolchain; root or sudo when packages are missing.
source "$(dirname "$0")/setup.sh"
cd "$DPTRAIN_ROOT"
swift build -c release --product dptrain
dptrain_mpirun "${DPTRAIN_RANKS:-4}" .build/release/dptrain info
dptrain_mpirun "${DPTRAIN_RANKS:-4}" .build/release/dptrain train "$@"
