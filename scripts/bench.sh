#!/usr/bin/env bash
# Times dptrain's training step against a PyTorch reference of the same model, in one run, and
# prints one table of medians and ratios.
#
#   scripts/bench.sh [--large | --gpt2] [--steps N] [--rounds R] [--no-torch] [--nanogpt DIR]
#
# Default model: nanoGPT's README CPU configuration (4 layers, 4 heads, dim 128, context 64,
# vocab 65, global batch 12). --large: 6 layers, 6 heads, dim 384, context 256, global batch 12.
# Rows: dptrain 1 rank × 1 thread, 1 rank × 2 threads, 2 ranks × 1 thread (mpirun), and, when
# python3 can import torch, PyTorch eager with 1 and 2 threads and DDP (gloo) 2 processes × 1
# thread. Ratios are against PyTorch with 2 threads (or dptrain 1×1 without PyTorch). The rows run
# in --rounds interleaved rounds (default 3), and each row shows its median round, so that a busy
# moment of a shared machine does not fall on one row only.
# Builds dptrain in release as the other scripts do (setup.sh: -target-cpu haswell where the CPU
# has it). Not run in CI: the timings need a quiet machine.
# --gpt2: GPT-2 small (12 layers, 12 heads, dim 768, context 1024, vocab 50257), the gpt2 preset,
# batch 1 per process, 3 timed steps after 1 warm-up: dptrain 1 rank × 2 threads and 2 ranks ×
# 1 thread against transformers' GPT2LMHeadModel and the reference with attention biases, both
# PyTorch eager with 2 threads.
# --nanogpt DIR: also nanoGPT's own model.py (from a checkout of github.com/karpathy/nanoGPT in
# DIR; train.py's defaults: no biases, dropout 0, its configure_optimizers) with 2 threads, and
# the ratio of dptrain 2 ranks × 1 thread to it.
source "$(dirname "$0")/setup.sh"
cd "$DPTRAIN_ROOT"

steps=30 large=0 gpt2=0 torch=1 rounds=3 nanogpt=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --large) large=1 ;;
        --gpt2) gpt2=1; steps=3 ;;
        --steps) steps="$2"; shift ;;
        --no-torch) torch=0 ;;
        --rounds) rounds="$2"; shift ;;
        --nanogpt) nanogpt="$2"; shift ;;
        -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if [[ $gpt2 == 1 ]]; then
    model=(--layers 12 --heads 12 --dim 768 --context 1024)
elif [[ $large == 1 ]]; then
    model=(--layers 6 --heads 6 --dim 384 --context 256)
else
    model=(--layers 4 --heads 4 --dim 128 --context 64)
fi
swift build -c release "${DPTRAIN_SWIFT_FLAGS[@]}" --product dptrain >&2
bin=.build/release/dptrain
mpi=(mpirun --oversubscribe --bind-to none)
[[ $(id -u) == 0 ]] && mpi+=(--allow-run-as-root)
vocab=65
[[ $gpt2 == 1 ]] && vocab=50257
common=("${model[@]}" --vocab-size "$vocab" --steps "$steps" --json)
torch_common=("${model[@]}" --vocab-size "$vocab" --steps "$steps" --beta2 0.99)

results=$(mktemp)
trap 'rm -f "$results"' EXIT
row() {  # row LABEL COMMAND...: runs COMMAND, keeps its last JSON line under LABEL
    local label=$1; shift
    echo "bench.sh: $label" >&2
    local line
    line=$("$@" | grep '^{' | tail -n 1) || { echo "bench.sh: $label failed" >&2; return 1; }
    printf '%s\t%s\n' "$label" "$line" >>"$results"
}

[[ $torch == 1 ]] && ! python3 -c 'import torch' 2>/dev/null && torch=0
for ((round = 1; round <= rounds; round++)); do
    if [[ $gpt2 == 1 ]]; then
        row "dptrain gpt2 1 rank × 2 threads" "$bin" bench --preset gpt2 --single-process --threads 2 --batch 1 --warm-up 1 "${common[@]}"
        row "dptrain gpt2 2 ranks × 1 thread" "${mpi[@]}" -n 2 "$bin" bench --preset gpt2 --threads 1 --batch 1 --warm-up 1 "${common[@]}"
        if [[ $torch == 1 ]]; then
            row "transformers GPT-2 2 threads" python3 scripts/torch_reference.py --hf-gpt2 --threads 2 --batch 1 --warm-up 1 "${torch_common[@]}"
            row "pytorch reference + attention biases 2 threads" python3 scripts/torch_reference.py --attention-bias --threads 2 --batch 1 --warm-up 1 "${torch_common[@]}"
        fi
        continue
    fi
    row "dptrain 1 rank × 1 thread" "$bin" bench --single-process --threads 1 --batch 12 "${common[@]}"
    row "dptrain 1 rank × 2 threads" "$bin" bench --single-process --threads 2 --batch 12 "${common[@]}"
    row "dptrain 2 ranks × 1 thread" "${mpi[@]}" -n 2 "$bin" bench --threads 1 --batch 6 "${common[@]}"
    row "dptrain 2 ranks × 1 thread, --zero 1" "${mpi[@]}" -n 2 "$bin" bench --threads 1 --batch 6 --zero 1 "${common[@]}"
    if [[ $torch == 1 ]]; then
        row "pytorch 1 thread" python3 scripts/torch_reference.py --threads 1 --batch 12 "${torch_common[@]}"
        row "pytorch 2 threads" python3 scripts/torch_reference.py --threads 2 --batch 12 "${torch_common[@]}"
        row "pytorch DDP 2 × 1 thread" python3 scripts/torch_reference.py --ddp 2 --threads 1 --batch 6 "${torch_common[@]}"
        [[ -z $nanogpt ]] || row "nanoGPT model.py 2 threads" python3 scripts/torch_reference.py --nanogpt "$nanogpt" --threads 2 --batch 12 "${torch_common[@]}"
    fi
done

batch="global batch 12"
[[ $gpt2 == 1 ]] && batch="batch 1 per process"
echo "model: ${model[*]} --vocab-size $vocab, $batch, $steps timed steps (medians; median of $rounds rounds)"
python3 - "$results" <<'EOF'
import json, sys
runs = {}
for line in open(sys.argv[1]):
    if line.strip():
        label, text = line.split("\t", 1)
        runs.setdefault(label, []).append(json.loads(text))
# Each row: its round with the median tokens/s.
rows = [(label, sorted(rs, key=lambda r: r["tokens_per_s"])[len(rs) // 2]) for label, rs in runs.items()]
labels = [l for l, _ in rows]
ref_label = next((l for l in ("pytorch 2 threads", "transformers GPT-2 2 threads") if l in labels), rows[0][0])
ref = dict(rows)[ref_label]["tokens_per_s"]
print(f"| run | ms/step (median, min–max) | tokens/s | vs {ref_label} | MFU | fwd / bwd / all-reduce / update ms | peak RSS MB/rank |")
print("|---|---|---|---|---|---|---|")
for label, r in rows:
    if "mfu" in r:
        mfu = f"{100 * r['mfu']:.0f}% of {r['peak_gflops']:.0f}"
        split = f"{r['forward_ms']:.1f} / {r['backward_ms']:.1f} / {r['allreduce_ms']:.2f} / {r['update_ms']:.2f}"
    else:  # PyTorch: against the roof dptrain measured for the same cores
        cores = r["ranks"] * r["threads_per_rank"]
        roof = next((x["peak_gflops"] for l, x in rows if "mfu" in x and x["ranks"] * x["threads_per_rank"] == cores), None)
        mfu = f"{100 * r['flops_per_token'] * r['tokens_per_s'] / (roof * 1e9):.0f}% of {roof:.0f}" if roof else "–"
        split = "–"
    rss = max(r["peak_rss_mb"])
    print(f"| {label} | {r['ms_per_step']:.1f} ({r['ms_min']:.1f}–{r['ms_max']:.1f}) | {r['tokens_per_s']:,.0f} "
          f"| {r['tokens_per_s'] / ref:.2f}× | {mfu} | {split} | {rss:.0f} |")
two = dict(rows).get("dptrain 2 ranks × 1 thread")
if two and "dptrain 1 rank × 1 thread" in labels:
    one = dict(rows)["dptrain 1 rank × 1 thread"]["tokens_per_s"]
    print(f"\ndata-parallel efficiency: 2 ranks × 1 thread = {two['tokens_per_s'] / one:.2f}× 1 rank × 1 thread; "
          f"all-reduce + update = {100 * (two['allreduce_ms'] + two['update_ms']) / two['ms_per_step']:.0f}% of the step")
nano = dict(rows).get("nanoGPT model.py 2 threads")
if two and nano:
    print(f"dptrain 2 ranks × 1 thread = {two['tokens_per_s'] / nano['tokens_per_s']:.2f}× nanoGPT's own model.py with 2 threads (same rounds)")
EOF
