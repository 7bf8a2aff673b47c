#!/usr/bin/env python3
"""Whether executables of one model compute the same logits, bit for bit:
each runs the same prompts (three, of 40, 9 and 3 tokens, as one batch, six
decode steps, dummy weights) and their --dump-logits arrays are compared
with the first executable's. For a kernel change that must not change the
numbers (a fusion that keeps every rounding), and to measure by how much
one that may does.

Usage: same-logits.py DIR EXE,EXE[,EXE...] [--prompt-mode decode] [--vocab N]
                      [--prompts 1]
  EXE may carry environment settings for its run, as in decode-quick.py:
  v2l-bf16.exe:DSRT_NO_VARIANTS=1 (several joined by ':').
Exits non-zero when an executable fails to run; prints one row per
executable: identical, or the largest absolute and relative difference.
"""
import argparse
import os
import subprocess
import sys

import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("exes")
    p.add_argument("--prompt-mode", default="prefill", choices=["prefill", "decode"])
    p.add_argument("-n", type=int, default=6)
    p.add_argument("--vocab", type=int, default=100000, help="prompt ids are below this")
    p.add_argument("--prompts", type=int, default=3, choices=[1, 2, 3],
                   help="the first N prompts only (1: every launch has one row, "
                        "for kernels chosen by row count)")
    a = p.parse_args()
    rng = np.random.default_rng(17)
    prompts = []
    for length in (40, 9, 3)[:a.prompts]:
        prompts += ["--prompt-ids", " ".join(map(str, rng.integers(2, a.vocab, size=length)))]
    results = {}
    for exe in a.exes.split(","):
        name, *settings = exe.split(":")
        env = dict(os.environ, **dict(s.split("=", 1) for s in settings))
        out = os.path.join(a.dir, f"same-logits-{exe.replace(':', '-').replace('=', '')}.npy")
        cmd = [os.path.join(a.dir, name), "--dummy-weights", "--prompt-mode", a.prompt_mode,
               "-n", str(a.n), "--ignore-eos", "--dump-logits", out, *prompts]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
        if r.returncode != 0:
            print(f"{exe}: exit {r.returncode}\n{r.stderr[-2000:]}")
            sys.exit(1)
        results[exe] = np.load(out)
    names = list(results)
    first = results[names[0]]
    print(f"{names[0]}: reference, logits {first.shape}")
    for name in names[1:]:
        other = results[name]
        if other.shape != first.shape:
            print(f"{name}: shape {other.shape} differs")
            continue
        if np.array_equal(first, other, equal_nan=True):
            print(f"{name}: identical")
            continue
        diff = np.abs(first.astype(np.float64) - other)
        scale = float(np.nanmax(np.abs(first)))
        worst = float(np.nanmax(diff))
        # Rows past a shorter prompt's end are NaN in both.
        rows = np.isfinite(first).all(-1) & np.isfinite(other).all(-1)
        same = np.mean(first[rows].argmax(-1) == other[rows].argmax(-1))
        print(f"{name}: differs, max abs {worst:.3g} (rel to max {worst / scale:.3g}), "
              f"greedy tokens equal in {same:.3f} of {int(rows.sum())} rows")


if __name__ == "__main__":
    main()
