#!/usr/bin/env bash
# Measures issue 16's data targets. Not run in CI; a measurement, not a timed test.
#
#   scripts/data-bench.sh [DPTRAIN] [--only train|prepare] [--tokens N] [--text-mb M] [--rounds R]
#
# train (target a):
#   makes /tmp/dptrain-data-bench/shards-N, llm.c shards of N (default 1 B) uint16 byte-tokenizer
#   tokens in 100 M-token shards (2·N bytes: 2 GB; a random 32 MB block repeated, written with
#   dd-like speed), and shards-1M, 1 M tokens; runs
#       mpirun -n 2 DPTRAIN train --data DIR --steps 2 --threads 1 (a small model)
#   on each, R rounds interleaved, and prints per rank the peak RssAnon (sampled from
#   /proc/PID/status every 50 ms) and VmHWM, and the wall time from launch to the "step 1" line;
#   then tokens/s of 30 steps on tinyshakespeare, mapped (the text cache) against
#   --data-from-rank0 (the broadcast, in-memory path), R rounds interleaved, medians.
# prepare (target b):
#   makes /tmp/dptrain-data-bench/text-M.txt (default 1024 MB) by repeating tinyshakespeare, and
#   for char, byte and bpe runs prepare in one process and under mpirun -n 2, R rounds
#   interleaved: peak RSS of each process (GNU time), MB/s (input bytes / wall time, medians),
#   the CPU seconds of the one process and of the busiest rank (what the wall-time speedup is on
#   two idle cores; on a loaded machine whose scheduler groups a session's processes, as Linux's
#   autogroup does, two ranks get no more CPU than one and wall time cannot show it), and `cmp`
#   of the tokens (train then val, train.bin/val.bin or the shards in name order, of one process
#   against the two ranks').
# Everything it makes under /tmp/dptrain-data-bench is deleted at the end. Prints `uptime` before
# each section: the machine may be shared. Needs python3, mpirun and GNU time.
set -euo pipefail
dptrain=.build/release/dptrain
tokens=1000000000
text_mb=1024
rounds=3
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tokens) tokens="$2"; shift 2 ;;
    --text-mb) text_mb="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) dptrain="$1"; shift ;;
  esac
done
dptrain="$(cd "$(dirname "$dptrain")" && pwd)/$(basename "$dptrain")"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shakespeare="${SHAKESPEARE:-/work/shared/data/tinyshakespeare.txt}"
[ -f "$shakespeare" ] || shakespeare="$root/data/tinyshakespeare.txt"
work=/tmp/dptrain-data-bench
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun=(mpirun -n 2 --oversubscribe --bind-to none)
median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# A wrapper that runs one rank and samples its RssAnon and VmHWM (kB) into $work/mem.TAG.RANK.
cat > "$work/sample-mem.sh" <<'SH'
#!/bin/sh
tag="$1"; shift
"$@" & pid=$!
peak=0; hwm=0
while kill -0 "$pid" 2>/dev/null; do
  a=$(awk '/^RssAnon/ {print $2}' /proc/$pid/status 2>/dev/null || true)
  h=$(awk '/^VmHWM/ {print $2}' /proc/$pid/status 2>/dev/null || true)
  [ -n "$a" ] && [ "$a" -gt "$peak" ] && peak=$a
  [ -n "$h" ] && hwm=$h
  sleep 0.05
done
wait "$pid"; status=$?
echo "$peak $hwm" > "$tag.${OMPI_COMM_WORLD_RANK:-0}"
exit $status
SH
chmod +x "$work/sample-mem.sh"

if [ "$only" != prepare ]; then
  echo "== target a: training on mapped shards   [$(uptime)]"
  python3 - "$work" "$tokens" <<'PY'
import os, struct, sys, random
work, n = sys.argv[1], int(sys.argv[2])
block = bytearray(2 * (16 << 20)); block[0::2] = random.Random(1).randbytes(16 << 20)  # 16 M byte tokens as uint16
def shards(name, total, per=100_000_000):
    d = os.path.join(work, name); os.makedirs(d, exist_ok=True)
    k = 0
    while total > 0:
        count = min(per, total)
        with open(os.path.join(d, f"bench_train_{k:06d}.bin"), "wb") as f:
            f.write(struct.pack("<256i", 20240520, 1, count, *([0] * 253)))
            left = 2 * count
            while left: f.write(block[:min(left, len(block))]); left -= min(left, len(block))
        total -= count; k += 1
    with open(os.path.join(d, "bench_val_000000.bin"), "wb") as f:
        f.write(struct.pack("<256i", 20240520, 1, 100_000, *([0] * 253))); f.write(block[:200_000])
    open(os.path.join(d, "tokenizer.json"), "w").write('{"kind":"byte"}')
shards("shards-big", n)
shards("shards-1M", 1_000_000)
PY
  du -sh "$work/shards-big" "$work/shards-1M" | sed 's/^/  /'
  small=(--layers 2 --dim 64 --heads 4 --context 64 --batch 4 --eval-every 0 --checkpoint-every 0 --log-every 1 --warmup 1 --threads 1)
  : > "$work/startup.big"; : > "$work/startup.1M"
  for r in $(seq "$rounds"); do
    for set in big 1M; do
      out="$work/out-$set-$r"
      start=$(date +%s.%N)
      "${mpirun[@]}" "$work/sample-mem.sh" "$work/mem.$set.$r" "$dptrain" train --data "$work/shards-$set" --steps 2 --out "$out" "${small[@]}" \
        | while IFS= read -r line; do
            case "$line" in "step 1/"*) echo "$(date +%s.%N) $start" | awk '{print $1 - $2}' >> "$work/startup.$set" ;; esac
          done
      rm -rf "$out"
    done
  done
  for set in 1M big; do
    for rank in 0 1; do
      anon=$(cat "$work"/mem."$set".*."$rank" | awk '{print $1}' | median)
      hwm=$(cat "$work"/mem."$set".*."$rank" | awk '{print $2}' | median)
      printf '  %-4s rank %s: peak RssAnon %6.1f MB, VmHWM %6.1f MB (medians of %s)\n' "$set" "$rank" "$(echo "$anon/1024" | bc -l)" "$(echo "$hwm/1024" | bc -l)" "$rounds"
    done
    printf '  %-4s start-up to step 1 on 2 ranks: %.2f s (median of %s)\n' "$set" "$(median < "$work/startup.$set")" "$rounds"
  done

  echo "== target a: tokens/s on tinyshakespeare, mapped cache vs --data-from-rank0   [$(uptime)]"
  : > "$work/tps.mapped"; : > "$work/tps.rank0"
  for r in $(seq "$rounds"); do
    for mode in mapped rank0; do
      out="$work/tps-$mode-$r"
      extra=(); [ "$mode" = rank0 ] && extra=(--data-from-rank0)
      "${mpirun[@]}" "$dptrain" train --data "$shakespeare" --steps 30 --out "$out" "${small[@]}" --log-every 5 "${extra[@]}" > /dev/null
      python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; v=sorted(x["tokens_per_s"] for x in r if "tokens_per_s" in x and x["step"] > 5); print(v[len(v)//2])' \
        "$out/metrics.jsonl" >> "$work/tps.$mode"
      rm -rf "$out"
    done
  done
  printf '  mapped: %.0f tokens/s, --data-from-rank0: %.0f tokens/s (medians of %s; each the median of its steps 10-30)\n' \
    "$(median < "$work/tps.mapped")" "$(median < "$work/tps.rank0")" "$rounds"
  rm -rf "$work/shards-big" "$work/shards-1M"
fi

if [ "$only" != train ]; then
  text="$work/text-${text_mb}mb.txt"
  python3 - "$shakespeare" "$text" "$text_mb" <<'PY'
import sys
src, dst, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(src, "rb").read()
with open(dst, "wb") as f:
    left = mb << 20
    while left > 0: f.write(data[:left]); left -= len(data)
PY
  bytes=$(stat -c %s "$text")
  echo "== target b: prepare of $((bytes >> 20)) MB of text (tinyshakespeare repeated)   [$(uptime)]"
  payload() { for f in "$@"; do tail -c +1025 "$f"; done; }
  # A prepared directory's token files in order: train.bin or the train shards, then val.bin or
  # the val shards (one process writes shards too once the tokens exceed --shard-tokens).
  token_files() {
    local split
    for split in train val; do
      if [ -f "$1/$split.bin" ]; then echo "$1/$split.bin"; else ls "$1"/data_"$split"_*.bin 2>/dev/null | sort; fi
    done
  }
  for args in "--tokenizer char" "--tokenizer byte" "--tokenizer bpe --vocab-size 512"; do
    kind=$(echo "$args" | awk '{print $2}')
    : > "$work/rate.1"; : > "$work/rate.2"; : > "$work/rss.1"; : > "$work/rss.2"; : > "$work/cpu.1"; : > "$work/cpu.2"
    for r in $(seq "$rounds"); do
      for n in 1 2; do
        out="$work/prep-$kind-$n"
        start=$(date +%s.%N)
        if [ "$n" = 1 ]; then
          /usr/bin/time -f "%M %U %S" -o "$work/time.1.0" "$dptrain" prepare "$text" $args --out "$out" > /dev/null
        else
          "${mpirun[@]}" sh -c '/usr/bin/time -f "%M %U %S" -o '"$work"'/time.2.$OMPI_COMM_WORLD_RANK "$@"' sh "$dptrain" prepare "$text" $args --out "$out" > /dev/null
        fi
        end=$(date +%s.%N)
        echo "$bytes $start $end" | awk '{print $1 / 1e6 / ($3 - $2)}' >> "$work/rate.$n"
        cat "$work"/time."$n".* | awk '{print $1}' | sort -g | tail -1 >> "$work/rss.$n"
        cat "$work"/time."$n".* | awk '{print $2 + $3}' | sort -g | tail -1 >> "$work/cpu.$n"  # the busiest process
        rm -f "$work"/time."$n".*
      done
    done
    if cmp <(payload $(token_files "$work/prep-$kind-1")) <(payload $(token_files "$work/prep-$kind-2")); then same="identical"; else same="DIFFERENT"; fi
    one=$(median < "$work/rate.1"); two=$(median < "$work/rate.2")
    cpu1=$(median < "$work/cpu.1"); cpu2=$(median < "$work/cpu.2")
    printf '  %-4s one process: %6.1f MB/s, peak RSS %4.0f MB | mpirun -n 2: %6.1f MB/s (%.2fx), peak RSS per rank %4.0f MB | tokens %s (cmp)\n' \
      "$kind" "$one" "$(($(sort -g "$work/rss.1" | tail -1) / 1024))" "$two" "$(echo "$two / $one" | bc -l)" \
      "$(($(sort -g "$work/rss.2" | tail -1) / 1024))" "$same"
    printf '       CPU seconds (user+sys): one process %.1f, busiest of 2 ranks %.1f: %.2fx less work on the critical path\n' \
      "$cpu1" "$cpu2" "$(echo "$cpu1 / $cpu2" | bc -l)"
    rm -rf "$work/prep-$kind-1" "$work/prep-$kind-2"
  done
  echo "  [$(uptime)]"
fi
