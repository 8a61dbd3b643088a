#!/usr/bin/env bash
# Soak test (not run in CI): 4 ranks, oversubscribed, training for a while with a checkpoint every
# few seconds; samples every rank's memory (RSS) and open file descriptors every 10 s and reads
# throughput from metrics.jsonl, then prints whether memory stayed flat, descriptors did not leak
# and tokens/s held steady.
#
#   scripts/soak.sh [SECONDS]          default 600 (10 minutes)
source "$(dirname "$0")/setup.sh"
cd "$DPTRAIN_ROOT"
duration=${1:-600}
swift build -c release "${DPTRAIN_SWIFT_FLAGS[@]}" --product dptrain >/dev/null
out=$(mktemp -d /tmp/dptrain-soak.XXXXXX)
trap 'kill -TERM "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT

dptrain_mpirun_command 4
"${DPTRAIN_MPIRUN[@]}" .build/release/dptrain train --out "$out" --steps 100000000 --layers 2 --dim 64 --heads 4 \
    --context 32 --batch 4 --log-every 50 --eval-every 500 --checkpoint-every 100 --keep 2 --quiet &
pid=$!
samples="$out/samples.txt"
start=$(date +%s)
while [ $(( $(date +%s) - start )) -lt "$duration" ] && kill -0 "$pid" 2>/dev/null; do
    sleep 10
    ranks=$(pgrep -P "$pid")
    rss=0; fds=0
    for rank in $ranks; do
        rss=$((rss + $(awk '/VmRSS/ {print $2}' "/proc/$rank/status" 2>/dev/null || echo 0)))
        fds=$((fds + $(ls "/proc/$rank/fd" 2>/dev/null | wc -l)))
    done
    echo "$(( $(date +%s) - start )) $rss $fds" >> "$samples"
done
kill -USR1 "$pid" 2>/dev/null
wait "$pid" && status=0 || status=$?

python3 - "$samples" "$out/metrics.jsonl" "$status" "$(ls "$out/checkpoints" | grep -c step-)" <<'PY'
import json, statistics, sys
samples = [tuple(map(int, line.split())) for line in open(sys.argv[1])]
rates = [json.loads(l)["tokens_per_s"] for l in open(sys.argv[2]) if '"tokens_per_s"' in l]
steps = [json.loads(l)["step"] for l in open(sys.argv[2]) if '"loss"' in l]
third = max(1, len(rates) // 3)
first, last = statistics.median(rates[:third]), statistics.median(rates[-third:])
rss = [s[1] / 1024 for s in samples[1:]] or [0]
fds = [s[2] for s in samples[1:]] or [0]
print(f"soak: {samples[-1][0]} s, {steps[-1] if steps else 0} steps, exit status {sys.argv[3]} (138 = stopped by SIGUSR1 with a checkpoint), {sys.argv[4]} checkpoints kept")
print(f"memory (4 ranks, RSS): first {rss[0]:.1f} MB, last {rss[-1]:.1f} MB, max {max(rss):.1f} MB -> {'flat' if max(rss) - rss[0] < 0.1 * rss[0] + 2 else 'GROWING'}")
print(f"file descriptors (4 ranks): first {fds[0]}, last {fds[-1]}, max {max(fds)} -> {'no leak' if fds[-1] <= fds[0] else 'LEAK?'}")
print(f"tokens/s: median of the first third {first:,.0f}, of the last third {last:,.0f} -> ratio {last / first:.2f}")
PY
