#!/usr/bin/env python3
"""End-to-end numerics of the CPU target against the NumPy reference.

For each tiny example config (V2-, V2-Lite- and V3-style with fp8 weights):
make a checkpoint (tools/make-tiny-checkpoint.py, structured router, fixed
seed), compile it with `dsc compile --target=cpu`, run the executable, and
compare with test/reference/deepseek_reference.py on the same checkpoint.

With err(x) = ||x - exact|| / ||exact|| over all positions (exact = the
reference in fp32 on the checkpoint's values):

1. teacher-forced: a 32-token sequence (a 16-token prompt plus 16 further
   tokens) through prefill in chunks: err(dsc) <= 1.5 err(reference bf16) +
   5e-3, and the argmax equals the exact one wherever the exact top-1 leads
   the second by more than 2% of that position's logit range;
2. the same sequence through single-token decode steps (the absorbed-MLA
   decode entry point), same bound;
3. a batch of 3 different prompts equals each prompt run alone (bit for bit:
   every token is computed independently of the others);
4. free-running greedy generation of 16 tokens equals the exact reference's
   up to its first low-margin position.

A model name with the suffix ":fp8" (tiny-v2-lite:fp8) is the same model from a bf16 checkpoint
(tiny-v3:fp8 writes its checkpoint with --dtype bf16) compiled with `dsc compile --quantize=fp8`,
checked by the same rules against the reference with quantize="fp8" (docs/model.md §5.4): "exact"
is then the fp32 forward on the quantised weights. For these the summary also reports how often
the fp8 executable's top-1 equals the bf16 executable's over the teacher-forced sequence
(information, not a check: it measures fp8 itself).

`--compile-arg ARG` (repeatable) adds ARG to every `dsc compile` (`--fuse-norms`: decode's
norms folded into the products' prologues, checked by the same rules).

Usage: cpu_vs_reference.py --dsc BUILD/bin/dsc [--models tiny-v3 tiny-v2:fp8 ...]
                           [--compile-arg ARG ...]
Prints one line per check and a summary table; exits 1 on any failure.
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

MARGIN = 0.02


def rel_err(x, exact):
    return float(np.linalg.norm(x - exact) / np.linalg.norm(exact))


def clear_positions(exact):
    """Positions whose exact top-1 leads the second by > 2% of the range."""
    top2 = np.sort(exact, axis=-1)[:, -2:]
    spread = exact.max(-1) - exact.min(-1)
    return (top2[:, 1] - top2[:, 0]) > MARGIN * spread


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr}")
    return result.stdout


def run_exe(exe, prompts, extra, dump):
    cmd = [exe]
    for p in prompts:
        cmd += ["--prompt-ids", " ".join(map(str, p))]
    cmd += extra + ["--dump-logits", dump]
    out = run(cmd)
    ids = [list(map(int, line.split())) for line in out.strip().split("\n")]
    return ids, np.load(dump)


COMPILE_ARGS = []


def compile_model(dsc, ckpt, exe, quantize):
    run([dsc, "compile", ckpt, "-o", exe, "--max-seq-len", "64",
         "--max-batch", "4", "--prefill-chunk", "12"]
        + (["--quantize=" + quantize] if quantize else []) + COMPILE_ARGS)


def check_model(name, dsc, work, failures, rows, top1):
    base, _, quantize = name.partition(":")
    quantize = quantize or None
    ckpt = os.path.join(work, base + ("-bf16" if quantize else ""))
    if not os.path.isdir(ckpt):
        run([sys.executable, os.path.join(ROOT, "tools", "make-tiny-checkpoint.py"),
             os.path.join(ROOT, "examples", base), "-o", ckpt, "--seed", "7"]
            + (["--dtype", "bf16"] if quantize else []))
    exe = os.path.join(work, name.replace(":", "-") + ".exe")
    compile_model(dsc, ckpt, exe, quantize)
    exact_model = ref.Model(ckpt, mode="exact", quantize=quantize)
    bf16_model = ref.Model(ckpt, mode="bf16", quantize=quantize)
    rng = np.random.default_rng(11)

    def check(label, ok, detail):
        print(f"{name:16s} {label:32s} {'ok' if ok else 'FAIL'}  {detail}")
        if not ok:
            failures.append(f"{name}: {label}: {detail}")

    # Teacher-forced logits of a 32-token sequence.
    vocab_size = exact_model.vocab
    seq = [int(t) for t in rng.integers(2, vocab_size, size=32)]
    positions = np.arange(len(seq))
    exact, _ = exact_model.forward(seq, positions)
    bf16, _ = bf16_model.forward(seq, positions)
    bound = 1.5 * rel_err(bf16, exact) + 5e-3
    clear = clear_positions(exact)
    for mode in ["prefill", "decode"]:
        _, logits = run_exe(exe, [seq], ["-n", "1", "--prompt-mode", mode],
                            os.path.join(work, f"{name}-{mode}.npy"))
        got = logits[0, : len(seq)]
        err = rel_err(got, exact)
        agree = bool(np.all(got.argmax(-1)[clear] == exact.argmax(-1)[clear]))
        check(f"teacher-forced via {mode}", err <= bound and agree,
              f"err {err:.4f} <= {bound:.4f}, argmax agrees at "
              f"{int(clear.sum())}/{len(seq)} clear positions: {agree}")
        rows.append((name, mode, err, rel_err(bf16, exact), bound))
        if quantize and mode == "prefill":
            # The same sequence through the bf16 executable of the checkpoint.
            plain = os.path.join(work, name.replace(":", "-") + "-plain.exe")
            compile_model(dsc, ckpt, plain, None)
            _, bf16_logits = run_exe(plain, [seq], ["-n", "1"],
                                     os.path.join(work, f"{base}-plain.npy"))
            same = got.argmax(-1) == bf16_logits[0, : len(seq)].argmax(-1)
            top1.append((name, int(same.sum()), len(seq),
                         rel_err(got, bf16_logits[0, : len(seq)])))

    # A batch of three prompts equals each alone.
    prompts = [seq[:20], seq[5:14], seq[10:31]]
    batch_ids, batch_logits = run_exe(exe, prompts, ["-n", "8"],
                                      os.path.join(work, f"{name}-batch.npy"))
    same = True
    for b, prompt in enumerate(prompts):
        ids, logits = run_exe(exe, [prompt], ["-n", "8"],
                              os.path.join(work, f"{name}-alone{b}.npy"))
        n = logits.shape[1]
        same &= ids[0] == batch_ids[b]
        same &= bool(np.array_equal(logits[0], batch_logits[b, :n]))
    check("batch of 3 equals each alone", same, "token ids and logits identical")

    # Free-running greedy generation against the exact reference.
    prompt = seq[:16]
    ids, _ = run_exe(exe, [prompt], ["-n", "16", "--ignore-eos"],
                     os.path.join(work, f"{name}-greedy.npy"))
    cache = exact_model.new_cache()
    logits, cache = exact_model.forward(prompt, np.arange(16), cache)
    expected, agree_until = [], None
    row = logits[-1]
    for i in range(16):
        top2 = np.sort(row)[-2:]
        if agree_until is None and top2[1] - top2[0] <= MARGIN * (row.max() - row.min()):
            agree_until = i
        token = int(row.argmax())
        expected.append(token)
        logits, cache = exact_model.forward([ids[0][i]], np.array([16 + i]), cache)
        row = logits[-1]
    limit = 16 if agree_until is None else agree_until
    check("greedy generation", ids[0][:limit] == expected[:limit],
          f"first {limit} tokens equal (then a low-margin position)"
          if limit < 16 else "16 tokens equal")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsc", required=True)
    parser.add_argument("--models", nargs="*",
                        default=["tiny-v2", "tiny-v2-lite", "tiny-v3",
                                 "tiny-v2:fp8", "tiny-v2-lite:fp8"])
    parser.add_argument("--compile-arg", action="append", default=[])
    args = parser.parse_args()
    COMPILE_ARGS.extend(args.compile_arg)
    failures, rows, top1 = [], [], []
    with tempfile.TemporaryDirectory(prefix="dsc-e2e-") as work:
        for name in args.models:
            try:
                check_model(name, args.dsc, work, failures, rows, top1)
            except RuntimeError as error:
                failures.append(f"{name}: {error}")
                print(f"{name}: FAIL {error}")
    print("\nmodel            mode     err(dsc)  err(ref bf16)  bound")
    for name, mode, err, ref_err, bound in rows:
        print(f"{name:16s} {mode:8s} {err:8.4f}  {ref_err:13.4f}  {bound:.4f}")
    if top1:
        print("\nfp8 executable vs the bf16 one (same checkpoint, teacher-forced sequence;"
              " information)")
        print("model            top-1 agreement  logits rel diff")
        for name, same, total, diff in top1:
            print(f"{name:16s} {same:3d}/{total:<3d} ({same / total:5.1%})  {diff:.4f}")
    if failures:
        print(f"\n{len(failures)} failure(s)")
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
