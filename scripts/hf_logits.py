#!/usr/bin/env python3
# Loads a Hugging Face GPT-2 directory (e.g. one `dptrain export-hf` wrote) with transformers and
# prints, as one JSON object, its logits at the last position for the given token ids, and the
# ids AutoTokenizer gives the given text:
#
#     python3 scripts/hf_logits.py DIR --ids 1 2 3 [--text "First Citizen:"]
#
# Needs python3 with torch and transformers (pip install torch transformers). The dptrain tests
# (CLITests, HuggingFaceRoundTripTests) run it where they are installed and skip otherwise.
import argparse
import json

import torch
from transformers import AutoTokenizer, GPT2LMHeadModel

parser = argparse.ArgumentParser()
parser.add_argument("directory")
parser.add_argument("--ids", type=int, nargs="+", required=True)
parser.add_argument("--text")
args = parser.parse_args()

model = GPT2LMHeadModel.from_pretrained(args.directory)
model.eval()
with torch.no_grad():
    logits = model(torch.tensor([args.ids])).logits[0, -1].tolist()
result = {"logits": logits}
if args.text is not None:
    tokenizer = AutoTokenizer.from_pretrained(args.directory)
    result["text_ids"] = tokenizer(args.text, add_special_tokens=False)["input_ids"]
print(json.dumps(result))
