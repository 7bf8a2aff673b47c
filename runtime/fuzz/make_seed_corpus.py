#!/usr/bin/env python3
#===- make_seed_corpus.py - write the safetensors fuzz seeds ---------------===#
#
# Writes the small seed files of fuzz/corpus/safetensors: valid safetensors
# files covering metadata, several dtypes, scalars, empty tensors, gaps and
# header padding. Run from anywhere; the files are committed, so this only
# needs re-running when the seeds change.
#
#===----------------------------------------------------------------------===#

import json
import os
import struct

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus",
                      "safetensors")


def safetensors(header, data, pad_to=1):
    text = json.dumps(header, separators=(",", ":"))
    text += " " * (-len(text) % pad_to)
    return struct.pack("<Q", len(text)) + text.encode() + data


def pattern(size, salt):
    return bytes((i * 37 + salt) % 255 + 1 for i in range(size))


SEEDS = {
    "two-bf16-with-metadata.safetensors": safetensors(
        {"__metadata__": {"format": "pt"},
         "model.embed_tokens.weight": {"dtype": "BF16", "shape": [4, 3],
                                       "data_offsets": [0, 24]},
         "model.norm.weight": {"dtype": "BF16", "shape": [3],
                               "data_offsets": [24, 30]}},
        pattern(30, 1), pad_to=8),
    "fp8-scale-and-scalar.safetensors": safetensors(
        {"w": {"dtype": "F8_E4M3", "shape": [2, 8], "data_offsets": [0, 16]},
         "w.weight_scale_inv": {"dtype": "F32", "shape": [1, 1],
                                "data_offsets": [16, 20]},
         "step": {"dtype": "I64", "shape": [], "data_offsets": [20, 28]}},
        pattern(28, 2)),
    "gap-and-empty.safetensors": safetensors(
        {"a": {"dtype": "U8", "shape": [4], "data_offsets": [8, 12]},
         "e": {"dtype": "F16", "shape": [0, 5], "data_offsets": [2, 2]},
         "b": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}},
        pattern(16, 3)),
    "escapes-and-numbers.safetensors": safetensors(
        {"__metadata__": {"note": "caf\u00e9 \ud83d\ude00 \"q\" \\ \t",
                          "total_size": "1e3"},
         "t\u00e9": {"dtype": "F64", "shape": [1.0e0],
                     "data_offsets": [0, 8]}},
        pattern(8, 4)),
}

os.makedirs(CORPUS, exist_ok=True)
for name, contents in SEEDS.items():
    with open(os.path.join(CORPUS, name), "wb") as out:
        out.write(contents)
