#!/usr/bin/env python3
"""The server under load next to the command line's batch, one device call.

Starts EXE serve (dummy weights unless --weights), then drives it with
tools/loadgen.py:

  same      --concurrency C requests of prompt lengths --prompt-len and
            exactly --output-len tokens each: the workload the command line
            runs as one batch below (same prompts, from loadgen's seed)
  mixed     2 x C requests at concurrency C, prompt 32:512, output 16:512
  prefix    2 x C requests at concurrency C sharing a 512-token prefix,
            then 64:256 tokens of their own, output 128 (run again on a
            server started with --no-prefix-sharing)

then runs EXE on the `same` prompts as one batch (--prompt-ids-file each,
-n --output-len --ignore-eos --json) and prints a table: output tok/s of
each run, the server's `same` throughput as a share of the command line's,
TTFT and inter-token latency percentiles.

Usage: serve-bench.py EXE [--concurrency 64] [--prompt-len 64:512]
       [--output-len 256] [--vocab 102400] [--json OUT.json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LOADGEN = os.path.join(HERE, "..", "loadgen.py")


class Server:
    def __init__(self, exe, extra):
        cmd = [exe, "serve", "--port", "0"] + extra
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        while line and "serving" not in line:  # progress lines first
            line = self.proc.stderr.readline()
        if "serving" not in line:
            raise RuntimeError(f"the server did not start: {line}{self.proc.stderr.read()}")
        self.url = "http://" + line.split("http://")[1].split()[0]
        print(line.strip(), flush=True)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def loadgen(url, label, out, extra):
    cmd = [sys.executable, LOADGEN, "--url", url, "--label", label, "--json", out] + extra
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    print(r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "", flush=True)
    if r.returncode != 0:
        print(r.stderr[-2000:], file=sys.stderr)
    print(f"  ({time.time() - t:.1f} s)", flush=True)
    with open(out) as f:
        return json.load(f)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("exe")
    p.add_argument("--weights", help="checkpoint folder (default: --dummy-weights)")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--prompt-len", default="64:512")
    p.add_argument("--output-len", type=int, default=256)
    p.add_argument("--vocab", type=int, default=102400)
    p.add_argument("--skip", default="", help="comma-separated runs to skip (mixed,prefix,cli)")
    p.add_argument("--json", help="write every figure here")
    a = p.parse_args()
    load = ["--weights", a.weights] if a.weights else ["--dummy-weights"]
    skip = set(filter(None, a.skip.split(",")))
    c = a.concurrency
    same = ["--concurrency", str(c), "--requests", str(c), "--prompt-len", a.prompt_len,
            "--output-len", str(a.output_len), "--vocab", str(a.vocab), "--seed", "1"]
    runs = [("same", same)]
    if "mixed" not in skip:
        runs.append(("mixed", ["--concurrency", str(c), "--requests", str(2 * c),
                               "--prompt-len", "32:512", "--output-len", "16:512",
                               "--vocab", str(a.vocab), "--seed", "2"]))
    prefix = ["--concurrency", str(c), "--requests", str(2 * c), "--prompt-len", "576:768",
              "--shared-prefix", "512", "--output-len", "128", "--vocab", str(a.vocab),
              "--seed", "3"]
    if "prefix" not in skip:
        runs.append(("prefix", prefix))
    figures = {}
    with tempfile.TemporaryDirectory() as work:
        server = Server(a.exe, load)
        try:
            for label, extra in runs:
                figures[label] = loadgen(server.url, label, os.path.join(work, label + ".json"), extra)
        finally:
            server.close()
        if "prefix" not in skip:
            server = Server(a.exe, load + ["--no-prefix-sharing"])
            try:
                figures["prefix-off"] = loadgen(server.url, "prefix, --no-prefix-sharing",
                                                os.path.join(work, "off.json"), prefix)
            finally:
                server.close()
        if "cli" not in skip:
            prompts = os.path.join(work, "prompts")
            subprocess.run([sys.executable, LOADGEN, "--save-prompts", prompts] + same, check=True)
            files = sorted(os.listdir(prompts))
            cmd = [a.exe] + load + ["-n", str(a.output_len), "--ignore-eos", "--json"]
            for f in files:
                cmd += ["--prompt-ids-file", os.path.join(prompts, f)]
            t = time.time()
            r = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.time() - t
            if r.returncode != 0:
                print(r.stderr[-2000:], file=sys.stderr)
                return 1
            timings = json.loads(r.stdout)["timings"]
            generated = len(files) * a.output_len
            seconds = timings["prefill_seconds"] + timings["decode_seconds"]
            figures["cli"] = {"prompts": len(files), "output_tokens": generated,
                              "prefill_seconds": timings["prefill_seconds"],
                              "decode_seconds": timings["decode_seconds"],
                              "output_tok_s": generated / seconds,
                              "decode_tok_s": timings["decode_tokens_per_second"],
                              "wall_s": wall}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(figures, f, indent=2)
    print()
    print("| run | requests | output tok/s | TTFT p50 / p99 ms | ITL p50 / p99 ms | peak running |")
    print("|---|---|---|---|---|---|")
    for label, f in figures.items():
        if label == "cli":
            continue
        print(f"| {label} | {f['requests']} ({f['failed']} failed) | {f['output_tok_s']:.1f} "
              f"| {f['ttft_p50_ms']:.0f} / {f['ttft_p99_ms']:.0f} "
              f"| {f['itl_p50_ms']:.1f} / {f['itl_p99_ms']:.1f} | {f['peak_running']:.0f} |")
    if "cli" in figures:
        cl = figures["cli"]
        print(f"| command line, one batch of the `same` prompts | {cl['prompts']} "
              f"| {cl['output_tok_s']:.1f} (decode alone {cl['decode_tok_s']:.1f}) | | | |")
        print(f"\nserver `same` / command line: {figures['same']['output_tok_s'] / cl['output_tok_s']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
