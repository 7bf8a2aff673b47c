#!/usr/bin/env python3
"""The compiled sampler (ds.sample) against a NumPy model of its specification.

A tiny V2-Lite-style checkpoint is compiled for the CPU with room for 64
sequences. Every run feeds the same 8-token prompt to all 64 sequences and
samples one token each (-n 1): the 64 sequences share the logits of the
prompt's last position but draw from distinct random streams, so one run
gives 64 independent draws. The logits come from --dump-logits.

For each setting (temperature, top-k, top-p, min-p) the NumPy model computes
the kept tokens and their probabilities exactly as the op's description says
(thresholds in z = (l - max) / T; tokens tied at a threshold are kept):

1. every drawn token is a kept token (no exceptions);
2. the draw frequencies match the probabilities: Pearson's chi-square over
   the tokens expected at least 5 times (the rest pooled) stays below its
   0.999 quantile (Wilson-Hilferty); the seeds are fixed, so the outcome is
   reproducible, not flaky;
3. greedy (temperature 0) and top-k 1 give the argmax in every sequence;
4. the same seed gives the same tokens, another seed other tokens, and the 64
   sequences of one run do not all draw the same token.

Usage: sampling.py --dsc BUILD/bin/dsc [--target cuda:sm_90a]
       sampling.py --dsc BUILD/bin/dsc --target cuda:sm_90a --build-only DIR
       sampling.py --prebuilt DIR        (on the GPU machine: DIR from above)
"""
import argparse
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROMPT = "3 17 42 99 7 3 250 11"
BATCH = 64
RUNS = 16  # 1024 draws per setting
WEIGHTS = []  # --weights DIR where the executable moved since its compile

# (name, temperature, top_k, top_p, min_p)
SETTINGS = [
    ("temperature 0.5", 0.5, 0, 1.0, 0.0),
    ("top-k 10", 1.0, 10, 1.0, 0.0),
    ("top-k 6 (tie at the cut)", 1.0, 6, 1.0, 0.0),
    ("top-p 0.3", 0.8, 0, 0.3, 0.0),
    ("min-p 0.3", 1.0, 0, 1.0, 0.3),
    ("all filters", 0.7, 20, 0.6, 0.1),
]


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr}")
    return result.stdout


def draws(exe, temperature, top_k, top_p, min_p, seed):
    cmd = [exe, "-n", "1", "--temperature", str(temperature), "--top-k",
           str(top_k), "--top-p", str(top_p), "--min-p", str(min_p), "--seed",
           str(seed)] + WEIGHTS
    for _ in range(BATCH):
        cmd += ["--prompt-ids", PROMPT]
    out = run(cmd).split()
    assert len(out) == BATCH, out
    return np.array([int(t) for t in out])


def kept_probabilities(logits, temperature, top_k, top_p, min_p):
    """The op's specification in float64: probability of each token."""
    z = (logits.astype(np.float64) - logits.max()) / temperature
    keep = np.ones_like(z, dtype=bool)
    if 0 < top_k < len(z):
        keep &= z >= np.sort(z)[::-1][top_k - 1]
    if top_p < 1:
        weights = np.where(keep, np.exp(z), 0.0)
        target = top_p * weights.sum()
        mass = 0.0
        for value in np.unique(z[keep])[::-1]:  # distinct values, descending
            mass += weights[z == value].sum()
            if mass >= target:
                keep &= z >= value
                break
    if min_p > 0:
        keep &= z >= math.log(min_p)
    p = np.where(keep, np.exp(z), 0.0)
    return p / p.sum()


def chi_square(counts, p, n):
    expected = p * n
    big = expected >= 5
    observed = list(counts[big]) + [counts[~big].sum()]
    wanted = list(expected[big]) + [expected[~big].sum()]
    if wanted[-1] < 5:  # pool too small: merge it into the smallest class
        observed[-2] += observed.pop()
        wanted[-2] += wanted.pop()
    stat = sum((o - e) ** 2 / e for o, e in zip(observed, wanted))
    df = len(wanted) - 1
    if df < 1:
        return 0.0, 0, 0.0
    z = 3.090  # 0.999 quantile of the standard normal
    quantile = df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3
    return stat, df, quantile


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsc", help="the compiler (not with --prebuilt)")
    parser.add_argument("--target", default="cpu",
                        help="what the executable is compiled for (default cpu)")
    parser.add_argument("--build-only", metavar="DIR",
                        help="compile the checkpoint and executable into DIR and stop")
    parser.add_argument("--prebuilt", metavar="DIR",
                        help="run the checks on DIR/model.exe from --build-only")
    args = parser.parse_args()
    if bool(args.dsc) == bool(args.prebuilt):
        parser.error("give --dsc or --prebuilt")
    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    with tempfile.TemporaryDirectory() as temp:
        work = args.prebuilt or args.build_only or temp
        exe = os.path.join(work, "model.exe")
        if not args.prebuilt:
            os.makedirs(work, exist_ok=True)
            model = os.path.join(work, "model")
            run(["/usr/bin/python3", os.path.join(ROOT, "tools", "make-tiny-checkpoint.py"),
                 os.path.join(ROOT, "examples", "tiny-v2-lite"), "-o", model, "--seed", "0"])
            run([args.dsc, "compile", model, "-o", exe, "--max-seq-len", "64",
                 "--max-batch", str(BATCH), "--target", args.target])
            if args.build_only:
                print(f"built {exe} for {args.target}")
                return 0
        else:
            WEIGHTS.extend(["--weights", os.path.join(work, "model")])
        dump = os.path.join(temp, "logits.npy")
        greedy = run([exe, "--prompt-ids", PROMPT, "-n", "1", "--dump-logits", dump]
                     + WEIGHTS).split()
        logits = np.load(dump)[0, len(PROMPT.split()) - 1]
        argmax = int(np.argmax(logits))
        check(int(greedy[0]) == argmax, f"greedy picks the argmax ({argmax})")
        check(np.all(draws(exe, 0.0, 0, 1.0, 0.0, 5) == argmax),
              "temperature 0: every sequence takes the argmax")
        check(np.all(draws(exe, 1.0, 1, 1.0, 0.0, 5) == argmax),
              "top-k 1: every sequence takes the argmax")

        a, b, c = (draws(exe, 1.0, 0, 1.0, 0.0, s) for s in (11, 11, 12))
        check(np.array_equal(a, b), "the same seed draws the same tokens")
        check(not np.array_equal(a, c), "another seed draws other tokens")
        check(len(set(a.tolist())) > 1, "the sequences of a batch draw from distinct streams")

        rows = []
        for name, temperature, top_k, top_p, min_p in SETTINGS:
            p = kept_probabilities(logits, temperature, top_k, top_p, min_p)
            tokens = np.concatenate([draws(exe, temperature, top_k, top_p, min_p, 1000 + r)
                                     for r in range(RUNS)])
            outside = [t for t in tokens if p[t] == 0]
            check(not outside, f"{name}: every draw is a kept token "
                  f"({int((p > 0).sum())} kept; outside: {sorted(set(outside))[:5]})")
            counts = np.bincount(tokens, minlength=len(p)).astype(np.float64)
            stat, df, quantile = chi_square(counts, p, len(tokens))
            check(stat <= quantile, f"{name}: chi-square {stat:.1f} <= {quantile:.1f} (df {df})")
            rows.append((name, int((p > 0).sum()), len(set(tokens.tolist())), stat, df, quantile))

    print()
    print(f"{'setting':<26} {'kept':>5} {'drawn':>6} {'chi2':>8} {'df':>4} {'q.999':>8}")
    for name, kept, drawn, stat, df, quantile in rows:
        print(f"{name:<26} {kept:>5} {drawn:>6} {stat:>8.1f} {df:>4} {quantile:>8.1f}")
    if failures:
        print(f"\n{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("\nall sampling checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
