#!/usr/bin/env python3
#===- check-step-bytes.py - kernel costs against dsc info's bytes/token ---===#
#
# Sums the weight bytes the kernel cost model says one decode step of one
# sequence reads (R = 1, so each launch's bytes_fixed plus bytes_per_expert
# times min(experts, experts_per_row)) over the decode entry point of a
# scheduled module (`dsc compile --emit=schedule`), and compares them with
# the weight bytes per token `dsc info --json` reports (bf16_bytes_per_token,
# or fp8_bytes_per_token with --fp8). Prints both and their ratio; fails
# when they differ by more than --tolerance (a fraction).
#
#   check-step-bytes.py SCHEDULE.mlir INFO.json [--tolerance 0.03] [--fp8]
#
# Every kernel the decode entry point launches must have a cost.
#
#===------------------------------------------------------------------------===#
import argparse
import json
import re
import sys


def parse_cost(text):
    """The coefficients of a printed #ds.kernel_cost (omitted ones are 0)."""
    cost = {"bytes_fixed": 0.0, "bytes_per_row": 0.0, "bytes_per_context": 0.0,
            "bytes_per_expert": 0.0, "experts": 0, "experts_per_row": 0,
            "flops_per_row": 0.0, "flops_per_context": 0.0, "fp8": False}
    for key, value in re.findall(r"(\w+) = ([^,>]+)", text):
        cost[key] = value.strip() == "true" if key == "fp8" else float(value)
    return cost


def main():
    parser = argparse.ArgumentParser(
        description="kernel costs against dsc info's bytes per token")
    parser.add_argument("schedule")
    parser.add_argument("info")
    parser.add_argument("--tolerance", type=float, default=0.03)
    parser.add_argument("--fp8", action="store_true")
    args = parser.parse_args()

    kernels = {}
    decode = []
    in_decode = False
    with open(args.schedule) as f:
        for line in f:
            m = re.match(r"\s*ds\.kernel @(\w+) ", line)
            if m:
                cost = re.search(r" cost = <([^>]*)>", line)
                kernels[m.group(1)] = parse_cost(cost.group(1)) if cost else None
                continue
            if re.match(r"\s*func\.func @", line):
                in_decode = 'ds.entry = "decode"' in line
            m = re.match(r"\s*ds\.launch @(\w+) ", line)
            if m and in_decode:
                decode.append(m.group(1))
    if not decode:
        sys.exit("check-step-bytes: no decode launches in " + args.schedule)
    missing = sorted({k for k in decode if kernels.get(k) is None})
    if missing:
        sys.exit("check-step-bytes: kernels without a cost: " + ", ".join(missing))

    weights = 0.0   # bytes_fixed + expert bytes at R = 1
    rows = 0.0      # bytes_per_row at R = 1 (activations, the embedding row)
    for name in decode:
        c = kernels[name]
        experts = min(c["experts"], c["experts_per_row"])
        weights += c["bytes_fixed"] + c["bytes_per_expert"] * experts
        rows += c["bytes_per_row"]
    with open(args.info) as f:
        info = json.load(f)
    expected = info["fp8_bytes_per_token" if args.fp8 else "bf16_bytes_per_token"]
    ratio = weights / expected
    print(f"decode launches: {len(decode)}")
    print(f"cost model weight bytes per step (R=1): {weights:.0f}")
    print(f"activation row bytes per step (R=1): {rows:.0f}")
    print(f"dsc info bytes per token: {expected}")
    print(f"ratio: {ratio:.4f}")
    if abs(ratio - 1) > args.tolerance:
        sys.exit(f"check-step-bytes: the cost model's weight bytes differ from "
                 f"dsc info's by {100 * (ratio - 1):+.2f}% (tolerance "
                 f"{100 * args.tolerance:.1f}%)")


if __name__ == "__main__":
    main()
