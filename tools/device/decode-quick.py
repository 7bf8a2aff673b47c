#!/usr/bin/env python3
"""Quick decode figures for kernel work, one device call: each executable
given runs the same decode workloads in one process (--bench-sweep, warm-up
then timed run), side by side, then the per-kernel profile of batch-1
decode of each (--profile), largest kernels first.

Usage: decode-quick.py DIR EXE[,EXE...] [--items decode:1,...] [--top N] [--repeat N]
  EXE names are files in DIR (v2lite.exe, v2lite-base.exe, v2lite-fp8.exe),
  each optionally followed by environment settings for its runs:
  v2lite.exe:DSRT_NO_PDL=1 (several joined by ':').
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perf_table import sweep  # noqa: E402 - carried beside this script

DEFAULT_ITEMS = "decode:1,decode:4,decode:1@256,decode:1@4096,decode:1:temp=0.6:top-p=0.95,decode:4:temp=0.6:top-p=0.95"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("exes")
    p.add_argument("--items", default=DEFAULT_ITEMS)
    p.add_argument("--top", type=int, default=14)
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--profile", help="profile only these EXEs (comma-separated)")
    p.add_argument("--profile-item", default="decode:1:n=4",
                   help="the workload profiled (default decode:1:n=4)")
    p.add_argument("--repeat", type=int, default=1,
                   help="run the whole list this many times, interleaved (A B A B), "
                        "for the run-to-run spread; later rounds' columns are EXE#2, ...")
    a = p.parse_args()
    base = a.exes.split(",")
    exes = [e if r == 1 else f"{e}#{r}" for r in range(1, a.repeat + 1) for e in base]
    items = a.items.split(",")
    got = {}
    def split(spec):
        name, *settings = spec.split("#")[0].split(":")
        return os.path.join(a.dir, name), dict(s.split("=", 1) for s in settings)

    for exe in exes:
        try:
            path, env = split(exe)
            got[exe], wall = sweep(path, items, 300, env=env)
            print(f"{exe}: {wall:.0f} s", flush=True)
        except Exception as e:  # noqa: BLE001 - report and go on
            print(f"{exe}: FAILED {str(e)[-400:]}", flush=True)
    if not a.no_profile:
        for exe in a.profile.split(",") if a.profile else base:
            try:
                path, env = split(exe)
                prof, _ = sweep(path, [a.profile_item], 300, ["--profile"], env=env)
            except Exception as e:  # noqa: BLE001
                print(f"{exe} --profile: FAILED {str(e)[-400:]}")
                continue
            for w in prof.values():
                for pr in w.get("profile", []):
                    if pr["entry"] != "decode":
                        continue
                    print(f"== {exe} {a.profile_item}: step {1e3 * pr['step_seconds']:.3f} ms, kernels "
                          f"{1e3 * pr['kernel_seconds']:.3f} ms, launches {sum(k['launches'] for k in pr['kernels'])}")
                    for k in pr["kernels"][:a.top]:
                        bw = k.get("bandwidth_fraction")
                        print(f"  {1e3 * k['seconds']:8.3f} ms {k['launches']:4d}x "
                              f"{'-' if bw is None else f'{100 * bw:5.1f}% bw'}  {k['name']}")
    print(f"\n{'workload':40s} " + " ".join(f"{e:>16s}" for e in exes))
    for item in items:
        cells = []
        for exe in exes:
            w = got.get(exe, {}).get(item)
            # A prefill item decodes nothing: its rate is the prefill's.
            key = ("prefill_tokens_per_second" if item.startswith("prefill")
                   else "decode_tokens_per_second")
            cells.append(f"{w[key]:16.1f}" if w else f"{'-':>16s}")
        print(f"{item:40s} " + " ".join(cells))


if __name__ == "__main__":
    main()
