#!/usr/bin/env python3
"""The paged KV cache: sequences that share the page pool give the logits of
separate runs.

The tiny V3 checkpoint is compiled for the CPU with pages of 4 positions
(--page-size 4, --max-seq-len 64, --max-batch 4). Three prompts of different
lengths (11, 19 and 5 tokens, 6 generated tokens each) span 3 to 7 pages. Run
together, with DSRT_SHUFFLE_PAGES handing the pool's pages out in a shuffled
order, each sequence's pages are non-contiguous and out of order; with
--prompt-mode decode the three sequences also advance in lockstep, so their
pages interleave. Every sequence's logits (--dump-logits) must equal, bit for
bit, those of the same prompt run alone in the same prompt mode (the same
kernels on the same rows: only the pages differ). A pool too small for the
three at once completes them by preemption, with the same tokens; one too
small for a prompt alone is refused.

Usage: paged_cache.py --dsc BUILD/bin/dsc
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROMPTS = ["1 2 3 4 5 6 7 8 9 10 11",
           "20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38",
           "40 41 42 43 44"]


def run(cmd, env=None):
    result = subprocess.run(cmd, capture_output=True, text=True,
                            env=dict(os.environ, **(env or {})))
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr}")
    return result.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsc", required=True)
    args = parser.parse_args()
    failures = []
    with tempfile.TemporaryDirectory() as work:
        model = os.path.join(work, "model")
        run(["/usr/bin/python3", os.path.join(ROOT, "tools", "make-tiny-checkpoint.py"),
             os.path.join(ROOT, "examples", "tiny-v3"), "-o", model, "--seed", "0"])
        exe = os.path.join(work, "model.exe")
        run([args.dsc, "compile", model, "-o", exe, "--max-seq-len", "64",
             "--max-batch", "4", "--page-size", "4", "--prefill-chunk", "8"])
        for mode in ("prefill", "decode"):
            alone = []
            for i, prompt in enumerate(PROMPTS):
                dump = os.path.join(work, f"{mode}-{i}.npy")
                run([exe, "--prompt-mode", mode, "--prompt-ids", prompt, "-n", "6",
                     "--dump-logits", dump])
                alone.append(np.load(dump)[0])
            # (seed, pool): the default pool, and one of exactly the 4 + 6 + 3
            # pages the three sequences need (16, 24 and 10 positions).
            for seed, pages in (("1", None), ("7", "13")):
                dump = os.path.join(work, f"{mode}-together-{seed}.npy")
                cmd = [exe, "--prompt-mode", mode, "-n", "6", "--dump-logits", dump]
                if pages:
                    cmd += ["--cache-pages", pages]
                for prompt in PROMPTS:
                    cmd += ["--prompt-ids", prompt]
                run(cmd, env={"DSRT_SHUFFLE_PAGES": seed})
                together = np.load(dump)
                for i, own in enumerate(alone):
                    got = together[i, :own.shape[0]]
                    if not np.array_equal(got, own):
                        failures.append(
                            f"{mode} mode, shuffle seed {seed}, prompt {i}: max "
                            f"difference {np.abs(got - own).max()}")
                    else:
                        print(f"ok: {mode} mode, shuffle seed {seed}, prompt {i} "
                              f"({own.shape[0]} positions)")
        # A pool too small for the three sequences at once: the engine
        # preempts the newest and recomputes it later, so all complete with
        # the tokens of the default pool (greedy; the tiny model's top logits
        # are far apart, so recomputing a prefix by prefill instead of decode
        # does not change the choice).
        # Every position's logits row is dumped once, from its first
        # computation (a preempted sequence's recomputed rows are not
        # reported again): as many rows as the default pool's, the same up
        # to the preemption; after it the cache holds the prefill's
        # recomputation, whose sums differ from the decode steps' in the
        # last bits, so those rows agree to a bf16 step of their range.
        def tokens(extra, dump):
            cmd = [exe, "-n", "6", "--dump-logits", dump] + extra
            for prompt in PROMPTS:
                cmd += ["--prompt-ids", prompt]
            return run(cmd), np.load(dump)
        roomy, roomy_rows = tokens([], os.path.join(work, "roomy.npy"))
        tight, tight_rows = tokens(["--cache-pages", "12"], os.path.join(work, "tight.npy"))
        if roomy != tight:
            failures.append(f"a pool of 12 pages: {tight!r}, not {roomy!r}")
        elif (roomy_rows.shape != tight_rows.shape or
              not np.array_equal(np.isnan(roomy_rows), np.isnan(tight_rows))):
            failures.append(f"a pool of 12 pages: logits rows {tight_rows.shape} "
                            f"{np.isnan(tight_rows).sum()} NaN, not the default pool's "
                            f"{roomy_rows.shape} {np.isnan(roomy_rows).sum()} NaN")
        else:
            diff = np.nan_to_num(np.abs(roomy_rows - tight_rows)).max(axis=2)
            spread = np.nan_to_num(np.ptp(np.nan_to_num(roomy_rows), axis=2))
            changed = int((diff > 0).sum())
            if (diff > 0.02 * spread + 1e-6).any() or changed > 4:
                failures.append(f"a pool of 12 pages: {changed} logits rows differ, at most "
                                f"{diff.max():.3g}")
            else:
                print("ok: a pool of 12 pages (15 needed at once) gives the same tokens and "
                      f"the same logits rows, {changed} after a preemption within a bf16 step")
        # A prompt that does not fit the whole pool is an error that says so.
        cmd = [exe, "--cache-pages", "4", "-n", "6"]
        for prompt in PROMPTS:
            cmd += ["--prompt-ids", prompt]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode == 0 or "needs 5 pages" not in result.stderr:
            failures.append(f"a pool of 4 pages: exit {result.returncode}, "
                            f"stderr {result.stderr.strip()!r}")
        else:
            print("ok: a pool of 4 pages is refused:", result.stderr.strip())
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
