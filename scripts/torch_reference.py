#!/usr/bin/env python3
"""PyTorch reference of dptrain's model and step, for scripts/bench.sh (never run in CI).

The same model as dptrain's gpt preset: pre-LN GPT, learned positions, Q/K/V/O without biases,
FFN 4·dim with biases and GELU (tanh), LayerNorms with biases, a final LayerNorm, tied
embeddings; AdamW (decay on matrices and embeddings only), clip of the global norm, eager mode.

  bench:  torch_reference.py --threads 2 --batch 12 --steps 20            (one JSON line)
          torch_reference.py --attention-bias ...   (biases on Q/K/V/O: dptrain's gpt2 preset)
          torch_reference.py --hf-gpt2 ...          (transformers' GPT2LMHeadModel of that shape)
          torch_reference.py --nanogpt DIR ...      (nanoGPT's own model.py from a checkout in DIR,
                                                     train.py's defaults: bias=False, dropout 0,
                                                     its configure_optimizers)
          torch_reference.py --ddp 2 --threads 1 --batch 6 --steps 20     (DDP, gloo, 2 processes)
  train:  torch_reference.py --data tinyshakespeare.txt --train-steps 2000 --batch 12 ...
          (char tokenizer, last 10% val, cosine lr with warmup; prints val loss and wall seconds)
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, dim, heads, ffn, bias):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim)
        self.wq = nn.Linear(dim, dim, bias=bias)
        self.wk = nn.Linear(dim, dim, bias=bias)
        self.wv = nn.Linear(dim, dim, bias=bias)
        self.wo = nn.Linear(dim, dim, bias=bias)
        self.ln2 = nn.LayerNorm(dim)
        self.w1 = nn.Linear(dim, ffn)
        self.w2 = nn.Linear(ffn, dim)

    def forward(self, x):
        B, T, C = x.shape
        h = self.ln1(x)
        q, k, v = (w(h).view(B, T, self.heads, C // self.heads).transpose(1, 2) for w in (self.wq, self.wk, self.wv))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.wo(y.transpose(1, 2).reshape(B, T, C))
        return x + self.w2(F.gelu(self.w1(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab, context, dim, heads, layers, ffn, bias=False):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(context, dim)
        self.blocks = nn.ModuleList(Block(dim, heads, ffn, bias) for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith(("wo.weight", "w2.weight")) else 0.02
                nn.init.normal_(p, std=std)

    def forward(self, idx, targets):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        logits = self.ln_f(x) @ self.tok.weight.t()
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


class HFGPT2(nn.Module):
    """transformers' own GPT2LMHeadModel of the same shape (its default attention), loss as GPT above."""

    def __init__(self, vocab, context, dim, heads, layers):
        super().__init__()
        from transformers import GPT2Config, GPT2LMHeadModel
        config = GPT2Config(vocab_size=vocab, n_positions=context, n_embd=dim, n_layer=layers, n_head=heads,
                            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                            bos_token_id=vocab - 1, eos_token_id=vocab - 1)
        self.model = GPT2LMHeadModel(config)

    def forward(self, idx, targets):
        logits = self.model(input_ids=idx).logits
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


class NanoGPT(nn.Module):
    """nanoGPT's own GPT (model.py of a checkout in `directory`), with train.py's defaults."""

    def __init__(self, directory, vocab, context, dim, heads, layers):
        super().__init__()
        sys.path.insert(0, os.path.abspath(directory))
        from model import GPT as NanoGPTModel, GPTConfig
        config = GPTConfig(block_size=context, vocab_size=vocab, n_layer=layers, n_head=heads, n_embd=dim, dropout=0.0, bias=False)
        self.model = NanoGPTModel(config)

    def forward(self, idx, targets):
        return self.model(idx, targets)[1]


def make_optimizer(model, a):
    if isinstance(model, NanoGPT):  # its own parameter groups and AdamW
        return model.model.configure_optimizers(a.weight_decay, a.lr, (a.beta1, a.beta2), "cpu")
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay}, {"params": rest, "weight_decay": 0.0}],
                             lr=a.lr, betas=(a.beta1, a.beta2), eps=1e-8, foreach=True)


def lr_at(step, a):
    if step <= a.warmup:
        return a.lr * step / a.warmup
    progress = min(1.0, (step - a.warmup) / max(1, a.train_steps - a.warmup))
    return a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * progress))


def run(rank, a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed + rank)
    world = a.ddp or 1
    if a.ddp:
        torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    if a.nanogpt:
        model = NanoGPT(a.nanogpt, a.vocab_size, a.context, a.dim, a.heads, a.layers)
    elif a.hf_gpt2:
        model = HFGPT2(a.vocab_size, a.context, a.dim, a.heads, a.layers)
    else:
        model = GPT(a.vocab_size, a.context, a.dim, a.heads, a.layers, 4 * a.dim, bias=a.attention_bias)
    net = nn.parallel.DistributedDataParallel(model) if a.ddp else model
    optimizer = make_optimizer(model, a)
    params = sum(p.numel() for p in model.parameters())

    def step(x, y):
        optimizer.zero_grad(set_to_none=True)
        loss = net(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        optimizer.step()
        return loss

    if a.data:
        text = open(a.data, encoding="utf-8").read()
        chars = sorted(set(text))
        index = {c: i for i, c in enumerate(chars)}
        ids = torch.tensor([index[c] for c in text])
        split = int(len(ids) * 0.9)
        train, val = ids[:split], ids[split:]
        g = torch.Generator().manual_seed(a.seed + rank)
        assert len(chars) == a.vocab_size, f"--vocab-size must be {len(chars)} for this text"

        def batch(source, gen):
            starts = torch.randint(len(source) - a.context - 1, (a.batch,), generator=gen)
            x = torch.stack([source[s:s + a.context] for s in starts])
            y = torch.stack([source[s + 1:s + 1 + a.context] for s in starts])
            return x, y

        start = time.time()
        for s in range(1, a.train_steps + 1):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(s, a)
            loss = step(*batch(train, g))
            if rank == 0 and (s % 250 == 0 or s == a.train_steps):
                print(f"step {s} loss {loss.item():.4f} {time.time() - start:.1f}s", file=sys.stderr)
        wall = time.time() - start
        model.eval()
        with torch.no_grad():
            ev = torch.Generator().manual_seed(1234)
            val_loss = statistics.mean(model(*batch(val, ev)).item() for _ in range(a.eval_batches))
        if rank == 0:
            print(json.dumps({"impl": "pytorch", "val_loss": val_loss, "wall_s": wall, "steps": a.train_steps,
                              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
        return

    g = torch.Generator().manual_seed(a.seed + rank)
    x = torch.randint(a.vocab_size, (a.batch, a.context), generator=g)
    y = torch.randint(a.vocab_size, (a.batch, a.context), generator=g)
    for _ in range(a.warm_up):
        step(x, y)
    times = []
    for _ in range(a.steps):
        t = time.perf_counter()
        loss = step(x, y)
        times.append((time.perf_counter() - t) * 1000)
    if a.ddp:
        torch.distributed.destroy_process_group()
    if rank == 0:
        ms = statistics.median(times)
        tokens = world * a.batch * a.context
        flops_per_token = 6 * params + 12 * a.layers * a.dim * a.context
        print(json.dumps({"impl": "pytorch", "ranks": world, "threads_per_rank": a.threads, "parameters": params,
                          "tokens_per_step": tokens, "ms_per_step": ms, "ms_min": min(times), "ms_max": max(times),
                          "tokens_per_s": tokens / ms * 1000, "flops_per_token": flops_per_token, "loss": loss.item(),
                          "peak_rss_mb": [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024],
                          "model": "nanoGPT model.py" if a.nanogpt else "transformers GPT2LMHeadModel" if a.hf_gpt2 else "reference",
                          "torch": torch.__version__}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--context", type=int, default=64)
    p.add_argument("--vocab-size", type=int, default=65)
    p.add_argument("--batch", type=int, default=12, help="rows per process")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ddp", type=int, default=0, help="processes of DistributedDataParallel over gloo (0: none)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--attention-bias", action="store_true", help="biases on Q, K, V and O (dptrain's gpt2 preset)")
    p.add_argument("--hf-gpt2", action="store_true", help="time transformers' GPT2LMHeadModel instead")
    p.add_argument("--nanogpt", metavar="DIR", help="time nanoGPT's own model.py from the checkout in DIR instead")
    p.add_argument("--warm-up", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.99)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--data", help="train on this text file (char tokenizer) instead of timing synthetic steps")
    p.add_argument("--train-steps", type=int, default=2000)
    p.add_argument("--eval-batches", type=int, default=200)
    a = p.parse_args()
    if a.ddp:
        os.environ["MASTER_ADDR"] = "127.0.0.1"
        os.environ["MASTER_PORT"] = str(20000 + os.getpid() % 20000)
        torch.multiprocessing.spawn(run, args=(a,), nprocs=a.ddp)
    else:
        run(0, a)


if __name__ == "__main__":
    main()
