#!/usr/bin/env python3
"""A load generator for `./model serve` (or any OpenAI-compatible server).

Sends streaming /v1/completions requests with token-id prompts and reports
throughput and latency percentiles:

  TTFT   time from sending a request to its first token
  ITL    time between consecutive tokens of a request
  E2E    time from sending a request to its last byte

Load is either closed (--concurrency N: N clients, each sending its next
request when the last one ends) or open (--rate R: requests start as a
Poisson process of R per second, however many are in flight). Prompt and
output lengths are drawn uniformly from A:B ranges (a single number fixes
them); the prompts are random token ids, optionally behind a shared prefix
of --shared-prefix tokens (what a common system prompt looks like to the
server's prefix cache). Requests set ignore_eos so each generates exactly
its output length.

  tools/loadgen.py --url http://127.0.0.1:8000 --concurrency 64 \\
      --requests 256 --prompt-len 64:512 --output-len 64:256 --vocab 102400

The last line printed is a table; --json FILE also writes every figure.
Exits non-zero when a request fails or returns fewer tokens than asked.
Standard library only.
"""
import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse


def length_range(text):
    parts = text.split(":")
    try:
        lo, hi = (int(parts[0]), int(parts[-1])) if len(parts) <= 2 else (None, None)
    except ValueError:
        lo = hi = None
    if lo is None or lo < 1 or hi < lo:
        raise argparse.ArgumentTypeError(f"expected N or A:B with 1 <= A <= B, got '{text}'")
    return lo, hi


def percentile(values, q):
    """The q-th percentile (0-100) by linear interpolation; None when empty."""
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


class Result:
    def __init__(self, prompt_len, output_len):
        self.prompt_len = prompt_len
        self.output_len = output_len
        self.tokens = 0            # generated tokens the server reported
        self.token_times = []      # arrival time of each token-bearing chunk
        self.start = 0.0
        self.end = 0.0
        self.error = None


def one_request(url, model, prompt, output_len, timeout, result):
    """Sends one streaming completion and fills `result`."""
    body = {"prompt": prompt, "max_tokens": output_len, "stream": True,
            "stream_options": {"include_usage": True}, "ignore_eos": True,
            "temperature": 0}
    if model:
        body["model"] = model
    data = json.dumps(body).encode()
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=timeout)
    result.start = time.perf_counter()
    try:
        conn.request("POST", "/v1/completions", body=data,
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        if response.status != 200:
            result.error = f"status {response.status}: {response.read(2000).decode(errors='replace')}"
            return
        usage_tokens = None
        while True:
            line = response.readline()
            if not line:
                result.error = "the stream ended before data: [DONE]"
                return
            line = line.strip()
            if not line.startswith(b"data: "):
                continue
            payload = line[6:]
            if payload == b"[DONE]":
                break
            chunk = json.loads(payload)
            if "error" in chunk:
                result.error = f"error event: {chunk['error']}"
                return
            if chunk.get("usage"):
                usage_tokens = chunk["usage"].get("completion_tokens")
            # A token-bearing chunk: its token ids (this server's field) or
            # its text (OpenAI's).
            if any(c.get("token_ids") or c.get("text") for c in chunk.get("choices", [])):
                result.token_times.append(time.perf_counter())
        result.tokens = usage_tokens if usage_tokens is not None else len(result.token_times)
        if result.tokens != output_len:
            result.error = f"{result.tokens} tokens generated, {output_len} asked"
    except (OSError, http.client.HTTPException, ValueError) as e:
        result.error = f"{type(e).__name__}: {e}"
    finally:
        result.end = time.perf_counter()
        conn.close()


def make_requests(args, rng):
    prefix = [rng.randrange(args.min_token, args.vocab) for _ in range(args.shared_prefix)]
    out = []
    for _ in range(args.requests):
        plen = rng.randint(*args.prompt_len)
        olen = rng.randint(*args.output_len)
        own = [rng.randrange(args.min_token, args.vocab) for _ in range(max(plen - len(prefix), 0))]
        out.append(((prefix + own)[:plen], olen))
    return out


def poll_metrics(url, stop, peak):
    """Samples /metrics every 50 ms; records the peak of dsrt_running."""
    while not stop.is_set():
        try:
            conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=5)
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
            conn.close()
            for line in text.splitlines():
                if line.startswith("dsc_running_sequences "):
                    peak[0] = max(peak[0], float(line.split()[1]))
        except (OSError, http.client.HTTPException, ValueError):
            pass
        stop.wait(0.05)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--model", help="the request's model field (default: none)")
    load = p.add_mutually_exclusive_group()
    load.add_argument("--concurrency", type=int, default=8,
                      help="closed loop: clients sending one request at a time (default 8)")
    load.add_argument("--rate", type=float, help="open loop: requests started per second (Poisson)")
    p.add_argument("--requests", type=int, default=64, help="requests in all (default 64)")
    p.add_argument("--prompt-len", type=length_range, default=(32, 32), metavar="A[:B]")
    p.add_argument("--output-len", type=length_range, default=(32, 32), metavar="A[:B]")
    p.add_argument("--shared-prefix", type=int, default=0, metavar="N",
                   help="every prompt starts with the same N tokens")
    p.add_argument("--vocab", type=int, default=1000,
                   help="prompt token ids are drawn below this (default 1000)")
    p.add_argument("--min-token", type=int, default=3,
                   help="and at or above this (default 3: skips special tokens)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=600, help="seconds per request")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    p.add_argument("--label", default="", help="a name for the run in the table")
    p.add_argument("--save-prompts", metavar="DIR",
                   help="write each request's prompt to DIR/prompt-N.txt (the executable's "
                        "--prompt-ids-file format) and exit without sending anything")
    args = p.parse_args()
    if args.requests < 1 or args.concurrency < 1 or (args.rate is not None and args.rate <= 0):
        p.error("--requests, --concurrency and --rate must be positive")
    if args.min_token >= args.vocab:
        p.error("--min-token must be below --vocab")
    url = urllib.parse.urlparse(args.url)
    if url.scheme != "http" or not url.hostname:
        p.error(f"--url must be http://HOST[:PORT], got '{args.url}'")

    rng = random.Random(args.seed)
    work = make_requests(args, rng)
    if args.save_prompts:
        os.makedirs(args.save_prompts, exist_ok=True)
        for i, (prompt, _) in enumerate(work):
            with open(os.path.join(args.save_prompts, f"prompt-{i:04d}.txt"), "w") as f:
                f.write(" ".join(map(str, prompt)) + "\n")
        return 0
    results = [Result(len(pr), ol) for pr, ol in work]
    stop = threading.Event()
    peak = [0.0]
    poller = threading.Thread(target=poll_metrics, args=(url, stop, peak), daemon=True)
    poller.start()

    start = time.perf_counter()
    threads = []
    if args.rate is None:
        next_index = [0]
        lock = threading.Lock()

        def client():
            while True:
                with lock:
                    i = next_index[0]
                    next_index[0] += 1
                if i >= len(work):
                    return
                one_request(url, args.model, work[i][0], work[i][1], args.timeout, results[i])

        for _ in range(min(args.concurrency, len(work))):
            t = threading.Thread(target=client)
            t.start()
            threads.append(t)
    else:
        at = start
        for i, (prompt, olen) in enumerate(work):
            at += rng.expovariate(args.rate)
            delay = at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            t = threading.Thread(target=one_request,
                                 args=(url, args.model, prompt, olen, args.timeout, results[i]))
            t.start()
            threads.append(t)
    for t in threads:
        t.join()
    duration = time.perf_counter() - start
    stop.set()
    poller.join()

    failed = [r for r in results if r.error]
    ok = [r for r in results if not r.error]
    ttft = [r.token_times[0] - r.start for r in ok if r.token_times]
    itl = [b - a for r in ok for a, b in zip(r.token_times, r.token_times[1:])]
    e2e = [r.end - r.start for r in ok]
    out_tokens = sum(r.tokens for r in ok)
    in_tokens = sum(r.prompt_len for r in ok)
    figures = {
        "label": args.label,
        "requests": len(results), "failed": len(failed),
        "load": f"rate {args.rate}/s" if args.rate is not None else f"concurrency {args.concurrency}",
        "duration_s": duration,
        "prompt_tokens": in_tokens, "output_tokens": out_tokens,
        "output_tok_s": out_tokens / duration,
        "total_tok_s": (in_tokens + out_tokens) / duration,
        "peak_running": peak[0],
    }
    for name, values in (("ttft", ttft), ("itl", itl), ("e2e", e2e)):
        for q in (50, 90, 99):
            figures[f"{name}_p{q}_ms"] = (percentile(values, q) or 0) * 1000
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    for r in failed[:5]:
        print(f"loadgen: request of {r.prompt_len}+{r.output_len} tokens failed: {r.error}",
              file=sys.stderr)
    print(f"| run | requests (failed) | load | output tok/s | total tok/s | TTFT p50/p99 ms "
          f"| ITL p50/p99 ms | E2E p50/p99 s | peak running |")
    print(f"| {args.label or '-'} | {len(results)} ({len(failed)}) | {figures['load']} "
          f"| {figures['output_tok_s']:.1f} | {figures['total_tok_s']:.1f} "
          f"| {figures['ttft_p50_ms']:.1f} / {figures['ttft_p99_ms']:.1f} "
          f"| {figures['itl_p50_ms']:.2f} / {figures['itl_p99_ms']:.2f} "
          f"| {figures['e2e_p50_ms'] / 1000:.2f} / {figures['e2e_p99_ms'] / 1000:.2f} "
          f"| {peak[0]:.0f} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
