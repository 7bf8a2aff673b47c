#!/usr/bin/env python3
"""Launch-to-first-token of a full-size checkpoint on the GPU machine
(issue 12), warm and cold page cache, next to the time a plain parallel read
of the same files takes.

Usage: startup.py DIR [--config v2lite-config] [--shards 4] [--runs 2]
                  [--exes v2lite.exe,v2lite-fp8.exe] [--keep CKPT_DIR]
                  [--load-threads 4,8,16]

DIR is the unpacked build-device/ folder: it holds make-tiny-checkpoint.py,
the V2-Lite config folder and the executables. The checkpoint (31 GB for
V2-Lite bf16) is written with `--fill tiled` (a repeated random block: the
bytes are real, the values are not meant for numerics) into --keep or a
temporary folder on the local disk, then:
  * warm: each executable runs `--prompt-ids ... -n 1 --json` --runs times
    with the files in the page cache (just written); the start-up phases of
    the last run are printed;
  * --load-threads: the first executable warm again with each count of
    reader threads (DSRT_LOAD_THREADS), to find where the rate stops
    growing;
  * cold: the files are dropped from the page cache (posix_fadvise
    DONTNEED, which needs no privilege; a read after it shows whether it
    worked), then the first executable runs once, then the files are
    dropped again and read by one `cat` per shard in parallel (the `dd`
    line of the issue's target);
A table of seconds comes last.
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


def drop_cache(files):
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def parallel_read(files):
    t = time.time()
    with concurrent.futures.ThreadPoolExecutor(len(files)) as pool:
        list(pool.map(lambda f: subprocess.run(["cat", f], stdout=subprocess.DEVNULL,
                                               check=True), files))
    return time.time() - t


def run(exe, ckpt, threads=None):
    env = dict(os.environ)
    if threads:
        env["DSRT_LOAD_THREADS"] = str(threads)
    t = time.time()
    r = subprocess.run([exe, "--weights", ckpt, "--prompt-ids", "1 2 3 4 5 6 7 8", "-n", "1",
                        "--json"], capture_output=True, text=True, timeout=600, env=env)
    wall = time.time() - t
    if r.returncode != 0:
        raise RuntimeError(f"{os.path.basename(exe)}: {r.stderr.strip()[-600:]}")
    return json.loads(r.stdout)["startup"], wall


def show(name, startup, wall):
    print(f"== {name}: launch to first token {startup['launch_to_first_token_seconds']:.2f} s "
          f"(process wall {wall:.2f} s)")
    for p in startup["phases"]:
        rate = f"  {p['bytes'] / p['seconds'] / 1e9:6.2f} GB/s" if p.get("bytes") and \
            p["seconds"] > 0 else ""
        print(f"   {p['name']:<22} {p['seconds']:7.3f} s  {p.get('bytes', 0) / 1e9:7.2f} GB{rate}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--config", default="v2lite-config")
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--exes", default="v2lite.exe,v2lite-fp8.exe")
    p.add_argument("--keep")
    p.add_argument("--load-threads", default="")
    a = p.parse_args()
    ckpt = a.keep or tempfile.mkdtemp(prefix="dsc-startup-")
    rows = []
    try:
        t = time.time()
        subprocess.run([sys.executable, os.path.join(a.dir, "make-tiny-checkpoint.py"),
                        os.path.join(a.dir, a.config), "-o", ckpt, "--fill", "tiled",
                        "--router", "random", "--max-params", str(10**12),
                        "--shards", str(a.shards)], check=True)
        print(f"checkpoint written in {time.time() - t:.1f} s", flush=True)
        files = sorted(os.path.join(ckpt, f) for f in os.listdir(ckpt)
                       if f.endswith(".safetensors"))
        size = sum(os.path.getsize(f) for f in files)
        warm_read = parallel_read(files)
        rows.append(("parallel cat, warm", warm_read, size))
        for exe in a.exes.split(","):
            for i in range(a.runs):
                startup, wall = run(os.path.join(a.dir, exe), ckpt)
            show(f"{exe} warm", startup, wall)
            rows.append((f"{exe} warm", startup["launch_to_first_token_seconds"], size))
        exe = a.exes.split(",")[0]
        for threads in filter(None, a.load_threads.split(",")):
            startup, wall = run(os.path.join(a.dir, exe), ckpt, threads)
            show(f"{exe} warm, {threads} reader threads", startup, wall)
            rows.append((f"{exe} warm, {threads} readers",
                         startup["launch_to_first_token_seconds"], size))
        drop_cache(files)
        startup, wall = run(os.path.join(a.dir, exe), ckpt)
        show(f"{exe} cold", startup, wall)
        rows.append((f"{exe} cold", startup["launch_to_first_token_seconds"], size))
        drop_cache(files)
        rows.append(("parallel cat, cold", parallel_read(files), size))
        rows.append(("parallel cat, after", parallel_read(files), size))
    finally:
        if not a.keep:
            shutil.rmtree(ckpt, ignore_errors=True)
    print(f"\n| what | seconds | GB/s |\n|---|---|---|")
    for name, s, size in rows:
        print(f"| {name} | {s:.2f} | {size / s / 1e9:.2f} |")


if __name__ == "__main__":
    main()
