#!/usr/bin/env python3
"""The position-split decode attention on the cpu target.

On GPUs decode attention splits each sequence's cached positions into
shares (ds.mla_latent_attention_partial) and merges them
(ds.mla_attention_combine). `dsc compile --attention-splits=N` runs the same
two ops, in their generic lowering, on the cpu target: this compiles a tiny
V2-Lite-style checkpoint with and without the split and checks that

1. a 150-token sequence fed through single-token decode steps (shares of at
   least 32 positions: up to 4 of them past position 96) is as close to the
   exact NumPy reference (test/reference, fp32) as cpu_vs_reference.py
   requires of the unsplit executable: err <= 1.5 err(reference bf16) +
   5e-3, the same argmax wherever the exact top-1 leads the second clearly;
   the distance to the unsplit executable is reported (the split does not
   round probabilities to bf16, the unsplit generic kernel does);
2. the same again with a batch of 3 sequences (2 shares each with 8 at
   most), and that the split executable gives the same bits every run;
3. the same with one sequence of 1,100 tokens and 40 shares at most: past
   1,024 positions the shares number ceil(sqrt(n)) (34 at the end), fewer
   than ceil(n / 32);
4. in each case, that the shares merged in the value product
   (--fuse-attention-combine: ds.mla_absorb_value combine(...)) give the
   split executable's logits bit for bit.

Usage: split_attention.py --dsc BUILD/bin/dsc
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "reference"))
import deepseek_reference as ref  # noqa: E402


def rel_err(x, exact):
    return float(np.linalg.norm(x - exact) / np.linalg.norm(exact))


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr}")
    return result.stdout


def logits_of(exe, prompts, dump):
    cmd = [exe]
    for p in prompts:
        cmd += ["--prompt-ids", " ".join(map(str, p))]
    run(cmd + ["-n", "1", "--prompt-mode", "decode", "--dump-logits", dump])
    return np.load(dump)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsc", required=True)
    args = parser.parse_args()
    failures = []
    with tempfile.TemporaryDirectory(prefix="dsc-split-") as work:
        ckpt = os.path.join(work, "tiny-v2-lite")
        run([sys.executable, os.path.join(ROOT, "tools", "make-tiny-checkpoint.py"),
             os.path.join(ROOT, "examples", "tiny-v2-lite"), "-o", ckpt, "--seed", "7"])
        exes = {}
        for splits in [0, 4, 8, 40]:
            exe = os.path.join(work, f"split{splits}.exe")
            run([args.dsc, "compile", ckpt, "-o", exe, "--max-seq-len", "1152",
                 "--max-batch", "4", "--attention-splits", str(splits)])
            exes[splits] = exe
            if splits:
                run([args.dsc, "compile", ckpt, "-o", exe + ".merged", "--max-seq-len", "1152",
                     "--max-batch", "4", "--attention-splits", str(splits),
                     "--fuse-attention-combine"])
        exact_model = ref.Model(ckpt, mode="exact")
        bf16_model = ref.Model(ckpt, mode="bf16")
        rng = np.random.default_rng(5)
        vocab = exact_model.vocab
        seqs = [[int(t) for t in rng.integers(2, vocab, size=n)] for n in (150, 120, 90, 1100)]
        references = []
        for prompt in seqs:
            positions = np.arange(len(prompt))
            exact, _ = exact_model.forward(prompt, positions)
            bf16, _ = bf16_model.forward(prompt, positions)
            references.append((exact, 1.5 * rel_err(bf16, exact) + 5e-3))
        for splits, prompts, label, first in [(4, seqs[:1], "one sequence, 4 shares", 0),
                                              (8, seqs[:3], "3 sequences, 2 shares", 0),
                                              (40, seqs[3:], "1,100 positions, sqrt", 3)]:
            plain = logits_of(exes[0], prompts, os.path.join(work, "plain.npy"))
            split = logits_of(exes[splits], prompts, os.path.join(work, "split.npy"))
            again = logits_of(exes[splits], prompts, os.path.join(work, "again.npy"))
            merged = logits_of(exes[splits] + ".merged", prompts, os.path.join(work, "merged.npy"))
            for b, prompt in enumerate(prompts):
                exact, bound = references[first + b]
                x, y = split[b, : len(prompt)], plain[b, : len(prompt)]
                err = rel_err(x, exact)
                top2 = np.sort(exact, axis=-1)[:, -2:]
                clear = top2[:, 1] - top2[:, 0] > 0.02 * (exact.max(-1) - exact.min(-1))
                agree = bool(np.all(x.argmax(-1)[clear] == exact.argmax(-1)[clear]))
                ok = err <= bound and agree
                print(f"{label:24s} sequence {b}: err {err:.4f} <= {bound:.4f} (unsplit "
                      f"{rel_err(y, exact):.4f}, split vs unsplit {rel_err(x, y):.4f}), "
                      f"argmax agrees at {int(clear.sum())}/{len(prompt)} clear positions: "
                      f"{agree}  {'ok' if ok else 'FAIL'}")
                if not ok:
                    failures.append(f"{label}, sequence {b}")
            same = bool(np.array_equal(split, again, equal_nan=True))
            print(f"{label:24s} same bits every run: {'ok' if same else 'FAIL'}")
            if not same:
                failures.append(f"{label}: not deterministic")
            same = bool(np.array_equal(split, merged, equal_nan=True))
            print(f"{label:24s} merged in the value product, same bits: {'ok' if same else 'FAIL'}")
            if not same:
                failures.append(f"{label}: merged in the value product differs")
    if failures:
        print(f"\n{len(failures)} failure(s): " + "; ".join(failures))
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
