#!/usr/bin/env bash
# Trains with 4 ranks on this machine: installs what is missing, builds dptrain (release), and runs
#
#   scripts/train.sh [dptrain train options]      e.g. scripts/train.sh --steps 200, or --resume
#
# as `mpirun -n 4 dptrain [options]` (DPTRAIN_RANKS=N for another number of ranks). Needs a
# Debian/Ubuntu machine with the Swift toolchain; root or sudo when packages are missing.
# Ctrl-C (or SIGTERM) stops at the next step with a checkpoint (the script passes it on to
# mpirun as SIGUSR1, which mpirun forwards to every rank); a second Ctrl-C stops at once.
source "$(dirname "$0")/setup.sh"
cd "$DPTRAIN_ROOT"
swift build -c release "${DPTRAIN_SWIFT_FLAGS[@]}" --product dptrain
dptrain_mpirun "${DPTRAIN_RANKS:-4}" .build/release/dptrain info

dptrain_mpirun_command "${DPTRAIN_RANKS:-4}"
"${DPTRAIN_MPIRUN[@]}" .build/release/dptrain train "$@" &
mpirun_pid=$!
signals=0
stop() {
    signals=$((signals + 1))
    if [ "$signals" -eq 1 ]; then
        echo "train.sh: stopping at the next step with a checkpoint (Ctrl-C again to stop at once)" >&2
        kill -USR1 "$mpirun_pid" 2>/dev/null || true
    else
        kill -TERM "$mpirun_pid" 2>/dev/null || true
    fi
}
trap stop INT TERM
status=0
while true; do
    wait "$mpirun_pid" && status=0 || status=$?
    kill -0 "$mpirun_pid" 2>/dev/null || break
done
exit "$status"
