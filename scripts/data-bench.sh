#!/usr/bin/env bash
# Measures what each rank holds of the data (peak RSS and RssAnon) and what `prepare` costs.
#
#   scripts/data-bench.sh [DPTRAIN] [--tokens N] [--text-mb M] [--no-prepare]
#
# Makes, under /tmp/dptrain-data-bench, an llm.c shard directory of N (default 100 M) uint16
# tokens of the byte tokenizer (2·N bytes: 200 MB) and a text of M (default 100) MB, then runs,
# each rank under /usr/bin/time -v:
#   mpirun -n 2 DPTRAIN train --data DIR --steps 2 --threads 1
#   DPTRAIN prepare big.txt --tokenizer char|bpe --vocab-size 512
# and prints peak RSS per rank and the time. DPTRAIN defaults to .build/release/dptrain; pass
# another build (an older one) to compare. Needs python3, mpirun and GNU time. Not run in CI.
set -euo pipefail
dptrain=.build/release/dptrain
tokens=100000000
text_mb=100
prepare=1
while [ $# -gt 0 ]; do
  case "$1" in
    --tokens) tokens="$2"; shift 2 ;;
    --text-mb) text_mb="$2"; shift 2 ;;
    --no-prepare) prepare=0; shift ;;
    *) dptrain="$1"; shift ;;
  esac
done
work=/tmp/dptrain-data-bench
mkdir -p "$work"
python3 - "$work" "$tokens" "$text_mb" <<'PY'
import os, struct, sys, random
work, n, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
d = os.path.join(work, f"shards-{n}")
os.makedirs(d, exist_ok=True)
def token_file(path, count, seed):
    if os.path.exists(path) and os.path.getsize(path) == 1024 + 2 * count: return
    rng = random.Random(seed)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<256i", 20240520, 1, count, *([0] * 253)))
        left = count
        while left:
            k = min(left, 1 << 24)
            out = bytearray(2 * k); out[0::2] = rng.randbytes(k)  # byte tokens 0..255 as uint16
            f.write(out); left -= k
    os.replace(path + ".tmp", path)
token_file(os.path.join(d, "train.bin"), n, 1)
token_file(os.path.join(d, "val.bin"), max(n // 100, 10000), 2)
open(os.path.join(d, "tokenizer.json"), "w").write('{"kind":"byte"}')
t = os.path.join(work, f"text-{mb}mb.txt")
if not os.path.exists(t) or os.path.getsize(t) < mb << 20:
    words = "the quick brown fox jumps over a lazy dog and then some more words to make it read like text".split()
    rng = random.Random(3)
    with open(t, "w") as f:
        written = 0
        while written < mb << 20:
            line = " ".join(rng.choice(words) for _ in range(12)) + ".\n"
            f.write(line); written += len(line)
PY
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out="$work/out-$$"
rm -rf "$out"
echo "== mpirun -n 2 train --data shards-$tokens --steps 2 --threads 1"
mpirun -n 2 --oversubscribe --bind-to none sh -c '/usr/bin/time -v -o '"$work"'/time.$OMPI_COMM_WORLD_RANK "$@"' sh \
  "$dptrain" train --data "$work/shards-$tokens" --steps 2 --threads 1 --out "$out" --log-every 1 > "$work/train.log" 2>&1 \
  || { tail -5 "$work/train.log"; exit 1; }
for r in 0 1; do
  printf 'rank %s: peak RSS %s MB, %s s\n' "$r" \
    "$(awk '/Maximum resident/ {printf "%.0f", $6/1024}' "$work/time.$r")" \
    "$(awk -F': ' '/Elapsed/ {print $2}' "$work/time.$r")"
done
rm -rf "$out"
[ "$prepare" = 1 ] || exit 0
for args in "--tokenizer char" "--tokenizer bpe --vocab-size 512"; do
  echo "== prepare text-${text_mb}mb.txt $args"
  /usr/bin/time -v -o "$work/time.prepare" "$dptrain" prepare "$work/text-${text_mb}mb.txt" $args --out "$work/prepared" > /dev/null
  printf 'peak RSS %s MB, %s\n' "$(awk '/Maximum resident/ {printf "%.0f", $6/1024}' "$work/time.prepare")" \
    "$(awk -F': ' '/Elapsed/ {print $2}' "$work/time.prepare")"
done
