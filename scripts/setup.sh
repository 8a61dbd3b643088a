# Sourced by scripts/train.sh, scripts/test.sh and the other scripts: makes a fresh Debian/Ubuntu
# machine with the Swift toolchain ready to build and run dptrain, and does nothing that is done.
#
#   source scripts/setup.sh        (needs root or sudo only when packages are missing)
#
# Installs (apt) what is missing of: libopenmpi-dev openmpi-bin libopenblas-dev pkg-config.
# Exports: PATH with the Swift toolchain, the mpirun root variables when running as root,
# OPENBLAS_CORETYPE for this CPU when unset (test binaries load OpenBLAS directly; dptrain itself
# chooses the kernel on its own), DPTRAIN_SWIFT_FLAGS: the flags every script builds with (below),
# and DPTRAIN_MPIRUN: the mpirun command line with --oversubscribe when the host has fewer cores
# than the requested ranks.

set -euo pipefail

DPTRAIN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DPTRAIN_ROOT

if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi
if ! command -v swift >/dev/null 2>&1; then
    echo "setup: the Swift toolchain (swift) is not on PATH; install Swift 6 from swift.org first." >&2
    exit 1
fi

dptrain_packages=(libopenmpi-dev openmpi-bin libopenblas-dev pkg-config)
dptrain_missing=()
for package in "${dptrain_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        dptrain_missing+=("$package")
    fi
done
if [ "${#dptrain_missing[@]}" -gt 0 ]; then
    echo "setup: installing ${dptrain_missing[*]}" >&2
    if [ "$(id -u)" -eq 0 ]; then sudo_cmd=(); else sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
        "${dptrain_missing[@]}" >/dev/null
fi

# mpirun refuses to run as root without these; set them only for root.
if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

# The CPU's feature flags, read once for the two choices below.
dptrain_flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)

# Debian's OpenBLAS 0.3.21 runs its slow Prescott kernel on AVX-512 CPUs unless told.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    if [[ " $dptrain_flags " == *" avx512f "* && " $dptrain_flags " == *" avx512bw "* \
          && " $dptrain_flags " == *" avx512dq "* && " $dptrain_flags " == *" avx512vl "* ]]; then
        export OPENBLAS_CORETYPE=SkylakeX
    elif [[ " $dptrain_flags " == *" avx2 "* && " $dptrain_flags " == *" fma "* ]]; then
        export OPENBLAS_CORETYPE=Haswell
    fi
fi

# Swift code for this CPU: on x86-64 with AVX2, FMA and BMI2 the scripts build with -target-cpu
# haswell, so that the loops the compiler vectorizes (GELU, the softmaxes, LayerNorm, AdamW) run
# eight lanes wide instead of baseline x86-64's four: about 6% of a training step (README,
# Performance). Swift does not fuse a·b+c into FMA on its own, so the numbers are the same.
# DPTRAIN_PORTABLE=1 builds for any x86-64 (e.g. one build shared by hosts of different CPUs).
DPTRAIN_SWIFT_FLAGS=()
if [ -z "${DPTRAIN_PORTABLE:-}" ] && [ "$(uname -m)" = x86_64 ]; then
    if [[ " $dptrain_flags " == *" avx2 "* && " $dptrain_flags " == *" fma "* && " $dptrain_flags " == *" bmi2 "* ]]; then
        DPTRAIN_SWIFT_FLAGS=(-Xswiftc -target-cpu -Xswiftc haswell)
    fi
fi

# dptrain_mpirun RANKS ARGS...: mpirun with --oversubscribe when this host has fewer cores than RANKS.
# (For a background job whose pid must be mpirun's own, use "${DPTRAIN_MPIRUN[@]}" after
# dptrain_mpirun_command RANKS, which sets that array.)
dptrain_mpirun_command() {
    DPTRAIN_MPIRUN=(mpirun -n "$1")
    if [ "$(nproc)" -lt "$1" ]; then DPTRAIN_MPIRUN+=(--oversubscribe); fi
}
dptrain_mpirun() {
    dptrain_mpirun_command "$1"; shift
    "${DPTRAIN_MPIRUN[@]}" "$@"
}
