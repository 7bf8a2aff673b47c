#!/usr/bin/env python3
"""The compiled log-probabilities (ds.logprobs, dsc compile --logprobs=K)
against NumPy's log_softmax of the executable's own logits.

A tiny V2-Lite-style checkpoint is compiled with --logprobs=8. Four prompts
generate 4 tokens each with --json --logprobs 8 --dump-logits; for every
generated token the NumPy model takes the logits row it was sampled from:

1. the token's log-probability is log_softmax(logits / T)[token] (T = 1 for
   greedy rows), over the whole vocabulary, before top-k/top-p truncation;
2. the 8 top tokens are those of a stable sort by decreasing logit (the
   lowest index first among equal logits), with their log-probabilities;

greedy, at temperature 0.7 with top-k 5 (the reported values ignore the
truncation) and at temperature 1.3. Then the checkpoint's lm_head rows of
the greedy token are copied to 40 other tokens (half of them below it), so
41 tokens tie at the top logit: the 8 reported must be the 8 lowest indices
of the tie (the selection's index passes), each with the same value.

Usage: logprobs.py --dsc BUILD/bin/dsc [--target cuda:sm_90a]
       logprobs.py --dsc BUILD/bin/dsc --target cuda:sm_90a --build-only DIR
       logprobs.py --prebuilt DIR        (on the GPU machine: DIR from above)
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROMPTS = ["3 17 42 99 7", "250 11", "5 5 5 5 5 5 5 5 5", "123"]
TOP = 8
STEPS = 4
TIES = 40


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr}")
    return result.stdout


def generate(exe, weights, dump, extra):
    cmd = [exe, "--weights", weights, "--json", "--logprobs", str(TOP),
           "-n", str(STEPS), "--ignore-eos", "--dump-logits", dump] + extra
    for p in PROMPTS:
        cmd += ["--prompt-ids", p]
    return json.loads(run(cmd))["sequences"], np.load(dump)


def log_softmax(row, temperature):
    t = temperature if temperature > 0 else 1.0
    z = (row.astype(np.float64) - row.max()) / t
    return z - np.log(np.exp(z).sum())


def compare(sequences, logits, temperature, what, check):
    worst = 0.0
    for b, s in enumerate(sequences):
        check(len(s["logprobs"]) == len(s["tokens"]) == STEPS,
              f"{what}: sequence {b} reports one entry per generated token")
        for i, (token, entry) in enumerate(zip(s["tokens"], s["logprobs"])):
            row = logits[b, len(PROMPTS[b].split()) - 1 + i]
            ref = log_softmax(row, temperature)
            order = np.argsort(-row, kind="stable")[:TOP]
            ids = [t for t, _ in entry["top"]]
            values = [v for _, v in entry["top"]]
            check(entry["token"] == token, f"{what}: row {b}.{i} names its token")
            check(ids == order.tolist(),
                  f"{what}: row {b}.{i} top ids {ids} == {order.tolist()}")
            errors = [abs(entry["logprob"] - ref[token])] + \
                     [abs(v - ref[t]) for t, v in zip(order, values)]
            worst = max(worst, max(errors))
    check(worst < 2e-4, f"{what}: largest |log-probability error| {worst:.2e} < 2e-4")
    return worst


def tie_lm_head(src, dst, token, others):
    """Copies checkpoint `src` to `dst` with lm_head rows `others` set to
    row `token` (raw bytes: any dtype)."""
    shutil.copytree(src, dst)
    for name in os.listdir(dst):
        if not name.endswith(".safetensors"):
            continue
        path = os.path.join(dst, name)
        with open(path, "r+b") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
            if "lm_head.weight" not in header:
                continue
            info = header["lm_head.weight"]
            begin, end = info["data_offsets"]
            rows = info["shape"][0]
            width = (end - begin) // rows
            f.seek(8 + n + begin + token * width)
            source = f.read(width)
            for o in others:
                f.seek(8 + n + begin + o * width)
                f.write(source)
            return
    raise RuntimeError(f"no lm_head.weight in {src}")


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
        if not ok:
            print("FAIL " + what)
            failures.append(what)

    with tempfile.TemporaryDirectory() as temp:
        work = args.prebuilt or args.build_only or temp
        exe = os.path.join(work, "model.exe")
        model = os.path.join(work, "model")
        if not args.prebuilt:
            os.makedirs(work, exist_ok=True)
            run(["/usr/bin/python3", os.path.join(ROOT, "tools", "make-tiny-checkpoint.py"),
                 os.path.join(ROOT, "examples", "tiny-v2-lite"), "-o", model, "--seed", "3"])
            run([args.dsc, "compile", model, "-o", exe, "--max-seq-len", "64",
                 "--max-batch", "4", "--logprobs", str(TOP), "--target", args.target])
            if args.build_only:
                print(f"built {exe} for {args.target}")
                return 0
        dump = os.path.join(temp, "logits.npy")
        rows = []
        for what, temperature, extra in [
                ("greedy", 0.0, []),
                ("temperature 0.7, top-k 5", 0.7, ["--temp", "0.7", "--top-k", "5", "--seed", "4"]),
                ("temperature 1.3", 1.3, ["--temp", "1.3", "--seed", "9"])]:
            seqs, logits = generate(exe, model, dump, extra)
            rows.append((what, compare(seqs, logits, temperature, what, check)))
            if temperature == 0.0:
                first = seqs[0]["tokens"][0]
        # Ties at the top: the greedy token's lm_head row copied to 40 others.
        vocab = logits.shape[-1]
        others = [t for t in range(vocab) if t != first]
        below = [t for t in others if t < first][-TIES // 2:]
        above = [t for t in others if t > first][:TIES - len(below)]
        tied = os.path.join(temp, "tied")
        tie_lm_head(model, tied, first, below + above)
        seqs, logits = generate(exe, tied, dump, [])
        row = logits[0, len(PROMPTS[0].split()) - 1]
        group = sorted([first] + below + above)
        check(np.all(row[group] == row[first]) and row[first] == row.max(),
              f"tied checkpoint: {len(group)} tokens share the top logit")
        entry = seqs[0]["logprobs"][0]
        ids = [t for t, _ in entry["top"]]
        check(ids == group[:TOP], f"ties: top ids {ids} == the {TOP} lowest of the tie {group[:TOP]}")
        check(len(set(v for _, v in entry["top"])) == 1, "ties: one log-probability for all")
        check(seqs[0]["tokens"][0] == group[0], "ties: greedy takes the lowest index")
        rows.append(("41 tokens tied at the top", compare(seqs, logits, 0.0, "ties", check)))

    print(f"{'setting':<28} {'largest error':>14}")
    for what, worst in rows:
        print(f"{what:<28} {worst:>14.2e}")
    if failures:
        print(f"\n{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("\nall log-probability checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
