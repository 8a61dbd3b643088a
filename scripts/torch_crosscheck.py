#!/usr/bin/env python3
# Cross-checks dptrain's forward pass against PyTorch on a checkpoint's validation split.
#
#     swift build -c release
#     .build/release/dptrain --steps 60 --out /tmp/run1
#     python3 scripts/torch_crosscheck.py /tmp/run1 [--batches N] [--batch B] [--dptrain PATH] [--tolerance 1e-4]
#     .build/release/dptrain --steps 60 --positions sinusoidal --out /tmp/run2      # likewise
#     .build/release/dptrain --steps 60 --architecture encoder --out /tmp/run3      # masked-token loss
#
# Needs python3 with numpy and torch (`pip install torch`; the CPU build is enough). Not run in CI:
# the CLI test runs it only when `python3 -c "import torch"` works.
#
# What it does:
# 1. runs `dptrain eval --checkpoint PATH --json --dump-val FILE` (one process, no MPI), which prints
#    dptrain's val loss, the checkpoint directory and the number of windows evaluated, and writes the
#    val split it evaluated (the checkpoint's data, tokenized and split as training did) as an llm.c
#    token file;
# 2. reads model.safetensors by hand (8-byte header length, JSON header, F32 little-endian data) and
#    rebuilds the model of DESIGN.md §2 in PyTorch from the tensor names of DESIGN.md §3 (layout
#    [in, out], y = x·W) and the model config in the file's "config" metadata (snake_case keys):
#    GPT-2 style pre-LN blocks with residuals, learned or sinusoidal positions (or none), tanh GELU,
#    causal attention (a decoder) or bidirectional attention (an encoder, "architecture"), tied
#    or untied lm_head; or the seed preset: no LayerNorm, no residual, no positions, ReLU, untied,
#    loss on the last token;
# 3. computes the mean cross-entropy in float64 on the same windows dptrain evaluated: the first N
#    windows of T+1 tokens at offsets k·S of the val split (`EvalReader`'s order; S, the window
#    stride, is T, or 1 for the seed example, as dptrain eval's JSON says), and prints both
#    losses and their difference. Exits 1 when |difference| / max(loss, 0.1) exceeds --tolerance.
#    For an encoder, dptrain eval also writes (--dump-masked) the windows as it masked them; this
#    script first re-does that masking itself from the val tokens, the run's seed and each window's
#    index (TokenMasking's contract: SplitMix64 seeded by mix(mix(mix(seed) ^ 2^64-1) ^ k), a partial
#    Fisher-Yates pick of round(0.15·T) positions, 80% [MASK] / 10% random / 10% kept), exits 1 if it
#    differs from the dump, and then takes the loss over the masked positions only.
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit("torch_crosscheck.py needs PyTorch: pip install torch")


def read_safetensors(path):
    """(tensors by name as float64 torch tensors, metadata dict) of a safetensors file of F32 tensors."""
    with open(path, "rb") as f:
        raw = f.read()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    data = raw[8 + header_len :]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, entry in header.items():
        if entry["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {entry['dtype']}, not F32")
        begin, end = entry["data_offsets"]
        values = np.frombuffer(data[begin:end], dtype="<f4").reshape(entry["shape"])
        tensors[name] = torch.from_numpy(values.astype(np.float64))
    return tensors, metadata


def read_token_file(path):
    """The tokens of an llm.c token file (256 int32 header: magic 20240520, version, count)."""
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(256 * 4), dtype="<i4")
        if header[0] != 20240520:
            raise ValueError(f"{path}: magic {header[0]}, not 20240520")
        dtype = {1: "<u2", 2: "<u4"}[int(header[1])]
        tokens = np.frombuffer(f.read(), dtype=dtype)
    if len(tokens) != int(header[2]):
        raise ValueError(f"{path}: {len(tokens)} tokens, the header says {header[2]}")
    return tokens.astype(np.int64)


class Model:
    """The transformer of DESIGN.md §2 with weights W (names of §3) and config c (snake_case keys)."""

    def __init__(self, W, c):
        self.W, self.c = W, c

    def layer_norm(self, x, prefix):
        C = self.c["dim"]
        return F.layer_norm(x, (C,), self.W[prefix + ".weight"], self.W[prefix + ".bias"], eps=1e-5)

    def attention(self, h, p):
        B, T, C = h.shape
        NH = self.c["heads"]
        HS = C // NH
        q = (h @ self.W[p + "attn.wq"]).view(B, T, NH, HS).transpose(1, 2)  # (B, NH, T, HS)
        k = (h @ self.W[p + "attn.wk"]).view(B, T, NH, HS).transpose(1, 2)
        v = (h @ self.W[p + "attn.wv"]).view(B, T, NH, HS).transpose(1, 2)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(HS)  # (B, NH, T, T)
        if self.c.get("architecture", "decoder") == "decoder":
            mask = torch.ones(T, T, dtype=torch.bool).tril()
            scores = scores.masked_fill(~mask, float("-inf"))
        y = scores.softmax(dim=-1) @ v  # (B, NH, T, HS)
        return y.transpose(1, 2).reshape(B, T, C) @ self.W[p + "attn.wo"]

    def ffn(self, h, p):
        a = h @ self.W[p + "ffn.w1"] + self.W[p + "ffn.b1"]
        a = F.gelu(a, approximate="tanh") if self.c["activation"] == "gelu" else F.relu(a)
        return a @ self.W[p + "ffn.w2"] + self.W[p + "ffn.b2"]

    def logits(self, tokens):
        """tokens (B, T) -> logits (B, T, V)."""
        c, W = self.c, self.W
        B, T = tokens.shape
        x = W["tok_embedding"][tokens]  # (B, T, C)
        # "positions" (learned, sinusoidal, none); older configs have "learned_positions" instead.
        positions = c.get("positions", "learned" if c.get("learned_positions") else "none")
        if positions == "learned":
            x = x + W["pos_embedding"][:T]
        elif positions == "sinusoidal":
            # "Attention Is All You Need": PE[t, 2i] = sin(t / 10000^(2i/C)), PE[t, 2i+1] = cos(...).
            C = x.shape[-1]
            t = torch.arange(T, dtype=torch.float64)[:, None]
            j = torch.arange(C)
            angle = t / torch.pow(torch.tensor(10000.0, dtype=torch.float64), (2 * (j // 2)).double() / C)
            pe = torch.where(j % 2 == 0, torch.sin(angle), torch.cos(angle))
            x = x + pe.to(x.dtype)
        for i in range(c["layers"]):
            p = f"blocks.{i}."
            h = self.layer_norm(x, p + "ln1") if c["layer_norm"] else x
            a = self.attention(h, p)
            x = x + a if c["residual"] else a
            h = self.layer_norm(x, p + "ln2") if c["layer_norm"] else x
            f = self.ffn(h, p)
            x = x + f if c["residual"] else f
        if c["layer_norm"]:
            x = self.layer_norm(x, "ln_f")
        head = W["tok_embedding"].T if c["tied_embeddings"] else W["lm_head"]
        return x @ head

    def loss_sum(self, tokens, targets):
        """Summed cross-entropy and the number of predictions: all positions, the last of each row,
        or (an encoder) the positions whose target is not -1."""
        logits = self.logits(tokens)
        if self.c["loss"] == "last":
            logits, targets = logits[:, -1, :], targets[:, -1]
        V = logits.shape[-1]
        losses = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="sum", ignore_index=-1)
        return losses.item(), int((targets != -1).sum())


MASK64 = (1 << 64) - 1


class SplitMix64:
    """dptrain's generator (DPBase/SplitMix64.swift), bit for bit."""

    def __init__(self, seed):
        self.state = seed & MASK64

    @staticmethod
    def mix(z):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        return self.mix(self.state)

    def below(self, n):
        """Lemire's multiply-shift with rejection, as `SplitMix64.below`."""
        product = self.next() * n
        if (product & MASK64) < n:
            threshold = ((1 << 64) - n) % n
            while (product & MASK64) < threshold:
                product = self.next() * n
        return product >> 64


def mask_window(window, seed, index, mask_token, data_vocab_size):
    """TokenMasking.apply on one eval window (stream 2^64 - 1, row = the window's index):
    (inputs, targets) with targets -1 where nothing is predicted."""
    T = len(window)
    inputs, targets = list(window), [-1] * T
    mix = SplitMix64.mix
    rng = SplitMix64(mix(mix(mix(seed) ^ MASK64) ^ index))
    order = list(range(T))
    for i in range(max(1, math.floor(0.15 * T + 0.5))):
        j = i + rng.below(T - i)
        order[i], order[j] = order[j], order[i]
        t = order[i]
        targets[t] = inputs[t]
        u = rng.below(10)
        if u < 8:
            inputs[t] = mask_token
        elif u == 8:
            inputs[t] = rng.below(data_vocab_size)
    return inputs, targets


def encoder_checkpoint(path):
    """Whether the checkpoint at path (a checkpoint directory, OUT/checkpoints or OUT) is an encoder's."""
    for candidate in [path, os.path.join(path, "checkpoints")]:
        latest = os.path.join(candidate, "LATEST")
        if os.path.exists(latest):
            with open(latest) as f:
                path = os.path.join(candidate, f.read().strip())
            break
    try:
        with open(os.path.join(path, "state.json")) as f:
            return json.load(f)["model"].get("architecture") == "encoder"
    except (OSError, KeyError, ValueError):
        return False  # dptrain eval reports what is wrong with the checkpoint


def main():
    parser = argparse.ArgumentParser(description="Compare dptrain's val loss with PyTorch's on the same windows.")
    parser.add_argument("checkpoint", help="a checkpoint directory or an OUT directory (its LATEST)")
    parser.add_argument("--dptrain", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release", "dptrain"))
    parser.add_argument("--batches", type=int, help="global batches for dptrain eval (default: its default)")
    parser.add_argument("--batch", type=int, help="rows per batch for dptrain eval (default: the checkpoint's)")
    parser.add_argument("--data", help="passed to dptrain eval --data")
    parser.add_argument("--val-fraction", help="passed to dptrain eval --val-fraction")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest relative difference accepted")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="torch-crosscheck-") as scratch:
        val_file = os.path.join(scratch, "val.bin")
        masked_file = os.path.join(scratch, "masked.json")
        command = [args.dptrain, "eval", "--checkpoint", args.checkpoint, "--json", "--dump-val", val_file, "--single-process"]
        if encoder_checkpoint(args.checkpoint):
            command += ["--dump-masked", masked_file]
        for flag, value in [("--batches", args.batches), ("--batch", args.batch), ("--data", args.data), ("--val-fraction", args.val_fraction)]:
            if value is not None:
                command += [flag, str(value)]
        run = subprocess.run(command, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"dptrain eval failed ({run.returncode}): {run.stderr.strip()}")
        result = json.loads(run.stdout.strip().splitlines()[-1])
        tokens = read_token_file(val_file)
        masked = None
        if os.path.exists(masked_file):
            with open(masked_file) as f:
                masked = json.load(f)

    W, metadata = read_safetensors(os.path.join(result["checkpoint"], "model.safetensors"))
    config = json.loads(metadata["config"])
    model = Model(W, config)
    T, windows = result["context"], result["windows"]
    S = result.get("window_stride", T)  # window k starts at k·S: S = T, or 1 for the seed example
    assert T == config["context"], (T, config["context"])

    encoder = config.get("architecture", "decoder") == "encoder"
    if encoder:
        if masked is None or len(masked["inputs"]) != windows:
            sys.exit("dptrain eval wrote no masked windows for this encoder checkpoint")
        for k in range(windows):
            inputs, targets = mask_window(tokens[k * S : k * S + T].tolist(), masked["seed"], k,
                                          masked["mask_token"], masked["data_vocab_size"])
            if inputs != masked["inputs"][k] or targets != masked["targets"][k]:
                sys.exit(f"window {k}: the masking re-done here differs from dptrain's (TokenMasking's contract)")

    total, count = 0.0, 0
    chunk = 64
    with torch.no_grad():
        for first in range(0, windows, chunk):
            ks = range(first, min(first + chunk, windows))
            if encoder:
                inputs = torch.tensor([masked["inputs"][k] for k in ks])
                s, n = model.loss_sum(inputs, torch.tensor([masked["targets"][k] for k in ks]))
            else:
                rows = torch.from_numpy(np.stack([tokens[k * S : k * S + T + 1] for k in ks]))  # (rows, T+1)
                s, n = model.loss_sum(rows[:, :-1], rows[:, 1:])
            total += s
            count += n
    torch_loss = total / count
    ours = result["loss"]
    difference = ours - torch_loss
    # Relative to the loss, but not below 0.1: a loss near 0 (the trained seed example's ~0.004) is
    # −log p with p ≈ 1, whose float32 rounding leaves an absolute floor of ~1e-7.
    relative = abs(difference) / max(abs(torch_loss), 0.1)
    print(f"checkpoint   {result['checkpoint']} (step {result['step']})")
    over = ("the masked positions (masking re-done here and equal to dptrain's)" if encoder
            else "the last token" if config["loss"] == "last" else "all positions")
    print(f"model        {config.get('architecture', 'decoder')}, positions {config.get('positions', 'learned' if config.get('learned_positions') else 'none')}")
    print(f"windows      {windows} of {T} tokens, loss over {over}, {count} predictions")
    print(f"dptrain      {ours:.8f}")
    print(f"pytorch      {torch_loss:.8f}  (float64)")
    print(f"difference   {difference:+.3e}  ({relative:.2e} relative to max(loss, 0.1), tolerance {args.tolerance:g})")
    sys.exit(0 if relative <= args.tolerance else 1)


if __name__ == "__main__":
    main()
