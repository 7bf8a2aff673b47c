#!/usr/bin/env python3
"""The official openai client (npm, version pinned in
test/e2e/openai-client/package-lock.json) drives ./model serve: chat,
completions, streaming, n, logprobs in both shapes at temperature 1 and
0.7, stop strings, unsupported fields and errors (client.mjs). Greedy
tokens through the client equal the command line's.

Needs node and npm (and the npm registry for `npm ci`); without them the
test reports SKIPPED and exits 77 (ctest's skip code).

Usage: openai_client.py --dsc BUILD/bin/dsc --work DIR
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server import ROOT, Server, run  # noqa: E402 - the server test's helpers

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openai-client")
PROMPT = [3, 17, 42, 99, 7]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsc", required=True)
    parser.add_argument("--work", required=True, help="folder for the npm install and the model")
    args = parser.parse_args()
    if not shutil.which("node") or not shutil.which("npm"):
        print("SKIPPED: node and npm are needed to run the openai client")
        return 77
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    npm_dir = os.path.join(work, "openai-client")
    os.makedirs(npm_dir, exist_ok=True)
    for name in ("package.json", "package-lock.json", "client.mjs"):
        shutil.copy(os.path.join(HERE, name), npm_dir)
    if not os.path.isdir(os.path.join(npm_dir, "node_modules", "openai")):
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error",
                            "--fetch-retries=1", "--fetch-timeout=60000"],
                           cwd=npm_dir, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            print(f"SKIPPED: npm ci failed (no registry?):\n{r.stderr[-2000:]}")
            return 77
    model = os.path.join(work, "model")
    exe = os.path.join(work, "model.exe")
    shutil.rmtree(model, ignore_errors=True)
    run(["/usr/bin/python3", os.path.join(ROOT, "tools", "make-tiny-checkpoint.py"),
         os.path.join(ROOT, "examples", "tiny-v2-lite"), "-o", model, "--seed", "5"])
    run([args.dsc, "compile", model, "-o", exe, "--max-seq-len", "64", "--max-batch", "4",
         "--logprobs", "3"])
    greedy = json.loads(run([exe, "--prompt-ids", " ".join(map(str, PROMPT)), "-n", "6",
                             "--ignore-eos", "--json"]))["sequences"][0]["tokens"]
    server = Server(exe, model)
    try:
        r = subprocess.run(["node", os.path.join(npm_dir, "client.mjs"), f"http://{server.base}",
                            json.dumps({"prompt": PROMPT, "greedy": greedy})],
                           cwd=npm_dir, capture_output=True, text=True, timeout=600)
    finally:
        server.close()
    print(r.stdout, end="")
    if r.returncode != 0:
        print(r.stderr[-3000:], file=sys.stderr)
        print("\nthe openai client's checks failed", file=sys.stderr)
        return 1
    print("\nall openai client checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
