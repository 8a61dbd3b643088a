#!/usr/bin/env python3
# Writes the committed Hugging Face GPT-2 fixtures in Tests/Fixtures/hf-gpt2/ (issue 13).
#
#     python3 scripts/make_hf_fixtures.py [--data /work/shared/data/tinyshakespeare.txt] \
#                                         [--out Tests/Fixtures/hf-gpt2]
#
# Needs python3 with torch, transformers, tokenizers and safetensors (pip install torch
# transformers tokenizers safetensors). Deterministic: the tokenizer's training is, and the model
# is seeded, so running it again rewrites the same bytes (checked: `git diff` is empty).
#
# It writes, all small (well under 1 MB together):
#   tokenizer.json                  byte-level BPE (ByteLevel pre-tokenizer, decoder and
#                                   post-processor, GPT-2 style), 400 tokens, `<|endoftext|>` as a
#                                   special token, trained by `tokenizers` on the text; merges as
#                                   this tokenizers version saves them ([["a","b"], ...] pairs)
#   tokenizer-merges-as-strings.json  the same tokenizer with merges in the other, older form
#                                   (["a b", ...]), which tokenizers < 0.20 writes and still reads
#   tokenizer-add-prefix-space.json the same with ByteLevel add_prefix_space = true
#   tokenizer-no-regex.json         the same with ByteLevel use_regex = false (no GPT-2 pre-split)
#   vocab.json, merges.txt          the older pair (what GPT2Tokenizer reads) of the same model
#   tokenizer_config.json           so that transformers' AutoTokenizer loads the directory
#   config.json, model.safetensors  a random GPT2LMHeadModel (2 layers, 2 heads, dim 32, context
#                                   64, the tokenizer's vocabulary), seeded, save_pretrained, F32;
#                                   tensor names "transformer.h.0.attn.c_attn.weight", ...
#   model-noprefix.safetensors      the same weights (F32) named as the GPT-2 checkpoints on the
#                                   Hugging Face hub are ("h.0.attn.c_attn.weight", "wte.weight",
#                                   ...), with the causal-mask buffers "h.{i}.attn.bias"
#                                   [1,1,64,64] that older transformers saved (an importer ignores them)
#   model-f16.safetensors           the save_pretrained names, weights rounded to F16
#   model-bf16.safetensors          the save_pretrained names, weights rounded to BF16
#   expected.json                   what the Python libraries give, for the Swift tests:
#       tokenizer.texts             each text, and per tokenizer file its token ids
#                                   (`Tokenizer.encode(text, add_special_tokens=False).ids`) and
#                                   decoded string (`decode(ids, skip_special_tokens=False)`)
#       tokenizer.tinyshakespeare   token count, sha256 and FNV-1a 64 of the ids (int32 little-endian)
#                                   of the whole data file, for a test that runs where the file exists
#       tokenizer.decode_each_id    `decode([i])` for every id; decode_prefixes: the ids of a
#                                   multi-byte text cut after each id, and their decoding
#       model.prompts               per prompt: ids, logits at the last position (and for the
#                                   first prompt at every position; F32 model, 8 significant
#                                   digits), the ids of greedy `generate(do_sample=False,
#                                   max_new_tokens=8)` and of the same loop by hand never stopping
#                                   at <|endoftext|> (what dptrain's sampler does)
import argparse
import hashlib
import json
import os
import random
import shutil
import struct
import tempfile

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

VOCAB_SIZE = 400
SPECIAL = "<|endoftext|>"
SEED = 1234

# Texts whose ids the tests check exactly. The tinyshakespeare lines are added from the data file.
TEXTS = [
    "naïve café – 日本語 🙂",
    "a   b\n\n\tc",
    "12345 3.14",
    "don't I'll we're",
    "'S 'D 'sa 'll 'LL 've're'm",
    "Hello<|endoftext|>world",
    "<|endoftext|><|endoftext|> again <|endoftext|>",
    "<|endoftext| not special <|endoftext",
    "  leading and trailing  ",
    "x \n\n y\t\t\n",
    "\u00a0nbsp\u3000ideographic\u2028line\u0085next\r\nend",
    "e\u0301 combining, \u0928\u092e\u0938\u094d\u0924\u0947 Devanagari, \u2460\u00b2 numbers",
    "\u0120 is the character GPT-2 shows for a space",
    "!!! ??? ... --- ;;; :: x!y",
    "",
    " ",
    "\n",
]

# The tokenizer files, by name, and how each differs from the trained tokenizer.
VARIANTS = ["tokenizer.json", "tokenizer-merges-as-strings.json", "tokenizer-add-prefix-space.json",
            "tokenizer-no-regex.json", "vocab.json+merges.txt"]

PROMPTS = ["First Citizen:", "ROMEO:\nO, she doth", "naïve café 🙂"]


def round8(x):
    """A float32 as a short decimal: 8 significant digits (float32 has about 7.2)."""
    return float(f"{float(x):.8g}")


def train_tokenizer(text):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=[SPECIAL],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator([text], trainer)
    return tok


def write_json(path, obj, **kw):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, **kw)
        f.write("\n")


def write_tokenizers(tok, out):
    """The tokenizer files of VARIANTS; returns name -> tokenizers.Tokenizer loaded back from them."""
    tok.save(os.path.join(out, "tokenizer.json"))
    base = json.load(open(os.path.join(out, "tokenizer.json"), encoding="utf-8"))
    merges = base["model"]["merges"]
    assert isinstance(merges[0], list), "this tokenizers version saves merges as strings; swap the two forms"

    strings = json.loads(json.dumps(base))
    strings["model"]["merges"] = [f"{a} {b}" for a, b in merges]
    write_json(os.path.join(out, "tokenizer-merges-as-strings.json"), strings, indent=1)

    prefix = json.loads(json.dumps(base))
    prefix["pre_tokenizer"]["add_prefix_space"] = True
    write_json(os.path.join(out, "tokenizer-add-prefix-space.json"), prefix, indent=1)

    noregex = json.loads(json.dumps(base))
    noregex["pre_tokenizer"]["use_regex"] = False
    write_json(os.path.join(out, "tokenizer-no-regex.json"), noregex, indent=1)

    # The older pair: vocab.json (token -> id, the special token included as GPT-2's is) and
    # merges.txt ("#version: 0.2" then "a b" per line).
    write_json(os.path.join(out, "vocab.json"), base["model"]["vocab"])
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")

    loaded = {name: Tokenizer.from_file(os.path.join(out, name)) for name in VARIANTS[:4]}
    pair = Tokenizer(models.BPE.from_file(os.path.join(out, "vocab.json"), os.path.join(out, "merges.txt")))
    pair.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    pair.decoder = decoders.ByteLevel()
    pair.add_special_tokens([SPECIAL])
    loaded["vocab.json+merges.txt"] = pair

    # transformers' view of the directory: tokenizer_config.json made by save_pretrained in a
    # scratch directory (so that it does not rewrite our tokenizer.json).
    fast = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_file(os.path.join(out, "tokenizer.json")),
                                   bos_token=SPECIAL, eos_token=SPECIAL, unk_token=SPECIAL)
    with tempfile.TemporaryDirectory() as scratch:
        fast.save_pretrained(scratch)
        shutil.copy(os.path.join(scratch, "tokenizer_config.json"), os.path.join(out, "tokenizer_config.json"))
    return loaded


def expected_tokens(loaded, texts, data_text):
    rows = []
    for text in texts:
        row = {"text": text}
        for name, tok in loaded.items():
            ids = tok.encode(text, add_special_tokens=False).ids
            row[name] = {"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)}
        # Every form of the same tokenizer that keeps GPT-2's settings must agree.
        assert row["tokenizer.json"] == row["tokenizer-merges-as-strings.json"] == row["vocab.json+merges.txt"], text
        rows.append(row)
    ids = loaded["tokenizer.json"].encode(data_text, add_special_tokens=False).ids
    whole = {
        "bytes": len(data_text.encode("utf-8")),
        "sha256_of_text": hashlib.sha256(data_text.encode("utf-8")).hexdigest(),
        "token_count": len(ids),
        "sha256_of_ids_int32le": hashlib.sha256(struct.pack(f"<{len(ids)}i", *ids)).hexdigest(),
        "fnv1a64_of_ids_int32le": fnv1a64(struct.pack(f"<{len(ids)}i", *ids)),
    }
    # Decoding alone: every id by itself (bytes that are not whole UTF-8 become U+FFFD), and the
    # ids of a multi-byte text cut after each id.
    tok = loaded["tokenizer.json"]
    singles = [tok.decode([i], skip_special_tokens=False) for i in range(tok.get_vocab_size())]
    cut_ids = tok.encode("日本語 🙂 naïve", add_special_tokens=False).ids
    cuts = [{"ids": cut_ids[:n], "decoded": tok.decode(cut_ids[:n], skip_special_tokens=False)} for n in range(len(cut_ids) + 1)]
    return {"texts": rows, "tinyshakespeare": whole, "decode_each_id": singles, "decode_prefixes": cuts}


def fnv1a64(data):
    """FNV-1a, 64 bits, as a 16-digit hex string (dptrain's data checksum)."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def write_model(out, vocab_size, eos_id):
    torch.manual_seed(SEED)
    config = GPT2Config(vocab_size=vocab_size, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=eos_id, eos_token_id=eos_id, initializer_range=0.2)
    # initializer_range 0.2 (GPT-2's is 0.02): at 0.02 a 2-layer model's greedy output is one
    # token repeated, which would test little.
    model = GPT2LMHeadModel(config).eval()
    # Random init has zero biases and unit LayerNorms; make them random too, so a loader that
    # drops a bias or a LayerNorm weight is caught.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias") or ".ln_" in name:
                p.add_(torch.randn_like(p) * 0.1)
    model.save_pretrained(out, safe_serialization=True)
    assert os.path.exists(os.path.join(out, "model.safetensors"))
    for extra in ("generation_config.json",):
        if os.path.exists(os.path.join(out, extra)):
            os.remove(os.path.join(out, extra))

    tensors = load_file(os.path.join(out, "model.safetensors"))
    assert all(k.startswith("transformer.") for k in tensors), sorted(tensors)[:3]
    assert all(t.dtype == torch.float32 for t in tensors.values())
    meta = {"format": "pt"}
    noprefix = {k[len("transformer."):]: v for k, v in tensors.items()}
    mask = torch.tril(torch.ones(64, 64, dtype=torch.float32)).view(1, 1, 64, 64)
    for i in range(config.n_layer):
        noprefix[f"h.{i}.attn.bias"] = mask.clone()
    save_file(noprefix, os.path.join(out, "model-noprefix.safetensors"), metadata=meta)
    save_file({k: v.to(torch.float16) for k, v in tensors.items()}, os.path.join(out, "model-f16.safetensors"), metadata=meta)
    save_file({k: v.to(torch.bfloat16) for k, v in tensors.items()}, os.path.join(out, "model-bf16.safetensors"), metadata=meta)
    return GPT2LMHeadModel.from_pretrained(out).eval()


def expected_model(model, tok, eos_id):
    rows = []
    for k, prompt in enumerate(PROMPTS):
        ids = tok.encode(prompt, add_special_tokens=False).ids
        x = torch.tensor([ids])
        with torch.no_grad():
            logits = model(x).logits[0]  # (T, V)
            generated = model.generate(x, attention_mask=torch.ones_like(x), do_sample=False,
                                       max_new_tokens=8, pad_token_id=eos_id)[0].tolist()
            # The same by hand, never stopping at <|endoftext|>: what dptrain's sampler does.
            seq = list(ids)
            for _ in range(8):
                last = model(torch.tensor([seq])).logits[0, -1]
                top2 = last.topk(2).values
                # A margin that float summation order cannot flip: greedy equality is a fair test.
                assert float(top2[0] - top2[1]) > 1e-3, (prompt, seq, top2)
                seq.append(int(last.argmax()))
        assert generated == seq[:len(generated)], (generated, seq)
        rows.append({
            "text": prompt,
            "ids": ids,
            # Every position for the first prompt only, to keep the file small.
            **({"logits": [[round8(v) for v in row] for row in logits.tolist()]} if k == 0 else {}),
            "logits_last": [round8(v) for v in logits[-1].tolist()],
            "generated": generated,
            "greedy_no_stop": seq,
        })
    return {"prompts": rows, "tolerance": 1e-4, "max_new_tokens": 8}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="Write the Hugging Face GPT-2 test fixtures.")
    ap.add_argument("--data", default="/work/shared/data/tinyshakespeare.txt")
    ap.add_argument("--out", default=os.path.join(here, "..", "Tests", "Fixtures", "hf-gpt2"))
    args = ap.parse_args()
    random.seed(SEED)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)

    data_text = open(args.data, encoding="utf-8").read()
    tok = train_tokenizer(data_text)
    assert tok.get_vocab_size() == VOCAB_SIZE
    loaded = write_tokenizers(tok, args.out)

    # Texts: the file's first lines, a seeded 600-character passage from its middle, and TEXTS.
    lines = data_text.split("\n")
    start = random.Random(SEED).randrange(len(data_text) // 4, 3 * len(data_text) // 4)
    start = data_text.index("\n", start) + 1
    texts = ["\n".join(lines[:4]), data_text[start:start + 600]] + TEXTS
    expected = {"tokenizer": expected_tokens(loaded, texts, data_text)}

    eos_id = tok.token_to_id(SPECIAL)
    model = write_model(args.out, tok.get_vocab_size(), eos_id)
    expected["model"] = expected_model(model, loaded["tokenizer.json"], eos_id)

    # The directory as transformers sees it: AutoTokenizer gives the same ids.
    auto = AutoTokenizer.from_pretrained(args.out)
    for row in expected["tokenizer"]["texts"]:
        assert auto.encode(row["text"], add_special_tokens=False) == row["tokenizer.json"]["ids"], row["text"]
    write_json(os.path.join(args.out, "expected.json"), expected, indent=None, separators=(",", ":"))

    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"wrote {len(os.listdir(args.out))} files, {total} bytes, into {os.path.normpath(args.out)}")


if __name__ == "__main__":
    main()
