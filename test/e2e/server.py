#!/usr/bin/env python3
"""./model serve (the OpenAI-compatible server) against the same executable's
command line.

A tiny V2-Lite-style checkpoint (with its tokenizer) is compiled for the CPU
with room for 4 sequences, prefill chunks of 8 tokens and --logprobs=3, then
served on a free port:

1. /health, /v1/models and /metrics answer;
2. greedy completions of token-id prompts give the tokens the command line
   gives (--ignore-eos), one request at a time and 8 at once (more than the
   4 slots: the rest wait, and the decode steps are shared: fewer steps
   than tokens; a 30-token prompt prefilled a chunk per step between the
   others' decode steps);
3. streaming (server-sent events) gives the same tokens, then a usage
   chunk and "data: [DONE]";
4. logprobs=3 gives the command line's --logprobs 3 values, greedy and at
   temperature 0.7 with a seed (the same draws);
5. a stop string cuts the text where it first occurs (finish_reason stop),
   a text prompt is encoded with BOS, n=2 gives two choices, the same seed
   the same sampled tokens;
6. chat completions give the command line's text mode (the same chat
   format, system prompt, tokens and text), with logprobs in chat's shape,
   streamed as chat.completion.chunk deltas; with R1's format (a tiny V3
   whose template opens <think>) the reasoning comes apart in
   reasoning_content, as text mode splits it;
7. 64 concurrent streaming clients (an executable for 64 sequences) get
   their own tokens, at least 48 sequences run at once, and a second
   round leaves the server's resident memory where the first left it;
8. with --max-waiting 1, requests beyond the 4 slots and 1 waiting get
   status 503; with --max-connections 2, a third connection gets 503, and
   with --idle-timeout 1 idle connections are closed, freeing their places;
   requests whose clients go while they wait for a slot are dropped before
   their prompts are prefilled; --prefill-tokens 3 prefills at most 3
   prompt tokens between decode steps, with the same tokens;
9. bad requests get status 400 (not JSON, a token outside the vocabulary,
   logprobs 6, an empty prompt), unknown routes 404, and the server keeps
   serving.

Usage: server.py --dsc BUILD/bin/dsc
"""
import argparse
import json
import os
import subprocess
import sys
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The last is 30 tokens: 4 prefill chunks of 8, interleaved with the
# others' decode steps.
PROMPTS = [[3, 17, 42, 99, 7], [250, 11], [5, 5, 5, 5], [123], [9, 8, 7], [44, 45], [300],
           list(range(20, 50))]
STEPS = 6


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr}")
    return result.stdout


class Server:
    def __init__(self, exe, model, extra=()):
        self.proc = subprocess.Popen([exe, "serve", "--port", "0", "--weights", model] + list(extra),
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        if "serving" not in line:
            raise RuntimeError(f"the server did not start: {line}{self.proc.stderr.read()}")
        self.base = line.split("http://")[1].split()[0]

    def request(self, path, body=None, raw=None, method=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(f"http://{self.base}{path}", data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def complete(self, body):
        status, text = self.request("/v1/completions", body)
        if status != 200:
            raise RuntimeError(f"status {status}: {text}")
        return json.loads(text)

    def complete_chat(self, body):
        status, text = self.request("/v1/chat/completions", body)
        if status != 200:
            raise RuntimeError(f"status {status}: {text}")
        return json.loads(text)

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def settled(server, seconds=10):
    """dsc_running_sequences once it reaches 0 (or after `seconds`): the
    engine updates it after the step that ends a sequence, which may come
    after that sequence's reply."""
    deadline = time.time() + seconds
    while True:
        running = metric(server.request("/metrics")[1], "dsc_running_sequences")
        if running == 0 or time.time() > deadline:
            return running
        time.sleep(0.02)


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise KeyError(name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsc", required=True)
    args = parser.parse_args()
    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    with tempfile.TemporaryDirectory() as work:
        model = os.path.join(work, "model")
        exe = os.path.join(work, "model.exe")
        run(["/usr/bin/python3", os.path.join(ROOT, "tools", "make-tiny-checkpoint.py"),
             os.path.join(ROOT, "examples", "tiny-v2-lite"), "-o", model, "--seed", "5"])
        run([args.dsc, "compile", model, "-o", exe, "--max-seq-len", "64",
             "--max-batch", "4", "--logprobs", "3", "--prefill-chunk", "8"])
        cli = {}
        for p in PROMPTS:
            out = json.loads(run([exe, "--prompt-ids", " ".join(map(str, p)), "-n", str(STEPS),
                                  "--ignore-eos", "--json", "--logprobs", "3"]))
            cli[tuple(p)] = out["sequences"][0]

        server = Server(exe, model)
        try:
            status, text = server.request("/health")
            check(status == 200 and json.loads(text)["status"] == "ok", "/health")
            status, text = server.request("/v1/models")
            check(status == 200 and json.loads(text)["data"][0]["id"] == "model", "/v1/models names the model")

            def greedy(p, extra=None):
                body = {"prompt": p, "max_tokens": STEPS, "temperature": 0, "ignore_eos": True}
                body.update(extra or {})
                return server.complete(body)

            one = greedy(PROMPTS[0])
            check(one["choices"][0]["token_ids"] == cli[tuple(PROMPTS[0])]["tokens"],
                  "greedy tokens equal the command line's")
            check(one["choices"][0]["finish_reason"] == "length" and
                  one["usage"] == {"prompt_tokens": 5, "completion_tokens": STEPS,
                                   "total_tokens": 5 + STEPS}, "finish_reason and usage")

            results = [None] * len(PROMPTS)

            def worker(i):
                results[i] = greedy(PROMPTS[i])
            threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(PROMPTS))]
            before = server.request("/metrics")[1]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            after = server.request("/metrics")[1]
            check(all(r and r["choices"][0]["token_ids"] == cli[tuple(p)]["tokens"]
                      for r, p in zip(results, PROMPTS)),
                  f"{len(PROMPTS)} concurrent requests (4 slots) give the command line's tokens")

            steps = metric(after, "dsc_decode_steps_total") - metric(before, "dsc_decode_steps_total")
            tokens = metric(after, "dsc_generation_tokens_total") - metric(before, "dsc_generation_tokens_total")
            check(tokens == len(PROMPTS) * STEPS and steps < tokens - len(PROMPTS),
                  f"continuous batching: {tokens} tokens in {steps} decode steps")
            check(metric(after, "dsc_requests_total") >= 1 + len(PROMPTS) and
                  settled(server) == 0, "/metrics counts requests; none left running")
            pages = server.request("/metrics")[1]
            check(metric(pages, "dsc_cache_pages") > 0 and metric(pages, "dsc_cache_pages_in_use") == 0,
                  "/metrics: the cache's pages, none held once the sequences end")
            check(metric(after, 'dsc_time_to_first_token_seconds_bucket{le="+Inf"}') ==
                  metric(after, "dsc_time_to_first_token_seconds_count") == 1 + len(PROMPTS) and
                  metric(after, "dsc_inter_token_latency_seconds_count") ==
                  (1 + len(PROMPTS)) * (STEPS - 1),
                  "/metrics: a first-token latency per request, an inter-token one per later token")

            # Streaming.
            req = urllib.request.Request(
                f"http://{server.base}/v1/completions",
                data=json.dumps({"prompt": PROMPTS[1], "max_tokens": STEPS, "temperature": 0,
                                 "ignore_eos": True, "stream": True,
                                 "stream_options": {"include_usage": True}}).encode())
            with urllib.request.urlopen(req, timeout=120) as r:
                kind = r.headers.get("Content-Type")
                events = [line[6:] for line in r.read().decode().splitlines() if line.startswith("data: ")]
            check(kind.startswith("text/event-stream"), "streaming is text/event-stream")
            check(events and events[-1] == "[DONE]", "the stream ends with data: [DONE]")
            chunks = [json.loads(e) for e in events[:-1]]
            ids = [t for c in chunks for ch in c["choices"] for t in ch["token_ids"]]
            check(ids == cli[tuple(PROMPTS[1])]["tokens"], "streamed tokens equal the command line's")
            check(chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == STEPS,
                  "stream_options.include_usage: a last usage chunk")
            check(chunks[-2]["choices"][0]["finish_reason"] == "length", "the last token chunk has its finish_reason")

            # Log-probabilities.
            lp = greedy(PROMPTS[2], {"logprobs": 3})["choices"][0]["logprobs"]
            ref = cli[tuple(PROMPTS[2])]["logprobs"]
            check(len(lp["token_logprobs"]) == STEPS and
                  all(abs(a - b["logprob"]) < 1e-6 for a, b in zip(lp["token_logprobs"], ref)),
                  "logprobs: the command line's values")
            check(all(len(t) <= 3 for t in lp["top_logprobs"]) and
                  all(abs(max(t.values()) - b["top"][0][1]) < 1e-6
                      for t, b in zip(lp["top_logprobs"], ref)),
                  "logprobs: the top alternatives")
            # Sampled at temperature 0.7: the same draws (seed 11, the first
            # choice's stream 0 is the command line's first prompt) and the
            # same log_softmax(logits / 0.7), which logprobs.py checks
            # against NumPy for the command line.
            hot = json.loads(run([exe, "--prompt-ids", " ".join(map(str, PROMPTS[2])),
                                  "-n", str(STEPS), "--ignore-eos", "--json", "--logprobs", "3",
                                  "--temperature", "0.7", "--seed", "11"]))["sequences"][0]
            got = server.complete({"prompt": PROMPTS[2], "max_tokens": STEPS, "temperature": 0.7,
                                   "seed": 11, "ignore_eos": True, "logprobs": 3})["choices"][0]
            check(got["token_ids"] == hot["tokens"] and
                  all(abs(a - b["logprob"]) < 1e-6
                      for a, b in zip(got["logprobs"]["token_logprobs"], hot["logprobs"])),
                  "logprobs at temperature 0.7: the command line's tokens and values")

            # Text, stop strings, n, seeds.
            text = greedy("The sky is", {"max_tokens": 12})["choices"][0]
            check(len(text["token_ids"]) == 12, "a text prompt generates")
            full = text["text"]
            stop = full[3:5] if len(full) >= 5 else None
            if stop:
                cut = greedy("The sky is", {"max_tokens": 12, "stop": [stop]})["choices"][0]
                check(cut["text"] == full[:full.find(stop)] and cut["finish_reason"] == "stop",
                      f"stop {stop!r} cuts the text at its first occurrence")
            two = server.complete({"prompt": PROMPTS[3], "max_tokens": 8, "n": 2, "seed": 7,
                                   "temperature": 1.0, "ignore_eos": True})
            again = server.complete({"prompt": PROMPTS[3], "max_tokens": 8, "n": 2, "seed": 7,
                                     "temperature": 1.0, "ignore_eos": True})
            check(len(two["choices"]) == 2 and [c["index"] for c in two["choices"]] == [0, 1], "n=2: two choices")
            check([c["token_ids"] for c in two["choices"]] == [c["token_ids"] for c in again["choices"]],
                  "the same seed samples the same tokens")

            # Chat: the command line's text mode with the same system prompt.
            ref = json.loads(run([exe, "-p", "Why is the sky blue?", "--system", "Be brief.",
                                  "-n", "8", "--ignore-eos", "--json", "--weights", model]))
            chat = server.complete_chat({"messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Why is the sky blue?"}]}],
                "max_tokens": 8, "temperature": 0, "ignore_eos": True,
                "logprobs": True, "top_logprobs": 2})
            choice = chat["choices"][0]
            check(chat["object"] == "chat.completion" and choice["message"]["role"] == "assistant",
                  "chat: an assistant message")
            check(choice["token_ids"] == ref["ids"] and choice["message"]["content"] == ref["text"] and
                  chat["usage"]["prompt_tokens"] == ref["prompt_tokens"],
                  "chat: the command line's text mode (chat format, tokens, text)")
            content = choice["logprobs"]["content"]
            check(len(content) == 8 and
                  all(len(c["top_logprobs"]) == 2 and c["logprob"] <= 0 and
                      isinstance(c["bytes"], list) and
                      abs(c["logprob"] - c["top_logprobs"][0]["logprob"]) < 1e-6 for c in content),
                  "chat: logprobs, 2 alternatives per token, the greedy token the likeliest")
            req = urllib.request.Request(
                f"http://{server.base}/v1/chat/completions",
                data=json.dumps({"messages": [{"role": "user", "content": "Why is the sky blue?"}],
                                 "max_tokens": 8, "temperature": 0, "ignore_eos": True,
                                 "stream": True}).encode())
            with urllib.request.urlopen(req, timeout=120) as r:
                events = [line[6:] for line in r.read().decode().splitlines() if line.startswith("data: ")]
            chunks = [json.loads(e) for e in events[:-1]]
            check(events[-1] == "[DONE]" and all(c["object"] == "chat.completion.chunk" for c in chunks) and
                  chunks[0]["choices"][0]["delta"].get("role") == "assistant",
                  "chat streaming: chunks, the role first, [DONE] last")
            plain = server.complete_chat({"messages": [{"role": "user", "content": "Why is the sky blue?"}],
                                          "max_tokens": 8, "temperature": 0, "ignore_eos": True})
            check("".join(c["choices"][0]["delta"].get("content", "") for c in chunks) ==
                  plain["choices"][0]["message"]["content"], "chat streaming: the same text")
            for what, body in [("no messages", {"messages": []}),
                               ("an assistant message last",
                                {"messages": [{"role": "user", "content": "a"},
                                              {"role": "assistant", "content": "b"}]}),
                               ("top_logprobs 21",
                                {"messages": [{"role": "user", "content": "a"}],
                                 "logprobs": True, "top_logprobs": 21})]:
                status, text = server.request("/v1/chat/completions", body)
                check(status == 400 and "message" in json.loads(text)["error"], f"chat: 400 for {what}")

            # Errors.
            for what, body, raw in [("not JSON", None, b"{oops"),
                                    ("a token outside the vocabulary", {"prompt": [10 ** 6]}, None),
                                    ("logprobs 6", {"prompt": [1, 2], "logprobs": 6}, None),
                                    ("an empty prompt", {"prompt": []}, None),
                                    ("temperature -1", {"prompt": [1], "temperature": -1}, None)]:
                status, text = server.request("/v1/completions", body, raw)
                check(status == 400 and "message" in json.loads(text)["error"], f"400 for {what}")
            status, text = server.request("/v1/completions", {"prompt": [1], "tools": []})
            check(status == 400 and "'tools'" in json.loads(text)["error"]["message"],
                  "400 naming an unsupported field (tools)")
            status, _ = server.request("/v1/completions", {"prompt": [1], "max_tokens": 1,
                                                           "presence_penalty": 0, "logit_bias": {}})
            check(status == 200, "no-op values of unsupported fields are accepted")
            status, text = server.request("/v1/completions", {"prompt": [1], "model": "gpt-4"})
            check(status == 404 and json.loads(text)["error"]["type"] == "model_not_found",
                  "404 for an unknown model")
            status, _ = server.request("/v1/completions", {"prompt": [1], "max_tokens": 1,
                                                           "model": "model"})
            check(status == 200, "the served model by name")
            # A client that leaves mid-stream: the server goes on serving.
            host, port = server.base.split(":")
            with socket.create_connection((host, int(port)), timeout=30) as sock:
                body = json.dumps({"prompt": [7], "max_tokens": 60, "stream": True,
                                   "ignore_eos": True}).encode()
                sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Type: application/json\r\nContent-Length: " +
                             str(len(body)).encode() + b"\r\n\r\n" + body)
                sock.recv(256)  # the headers and the first events
            gone_running = settled(server)
            after_gone = greedy(PROMPTS[0])["choices"][0]["token_ids"]
            print("after the disconnect: running", gone_running, after_gone, cli[tuple(PROMPTS[0])]["tokens"])
            check(gone_running == 0 and
                  after_gone == cli[tuple(PROMPTS[0])]["tokens"],
                  "a client gone mid-stream: its sequence ends, the others are served")
            status, _ = server.request("/v1/nothing")
            check(status == 404, "404 for an unknown route")
            status, _ = server.request("/health", method="DELETE")
            check(status == 405, "405 for a wrong method")
            check(server.request("/health")[0] == 200, "still serving after the errors")
        finally:
            server.close()

        # 64 concurrent streaming clients on an executable for 64 sequences:
        # each gets its own tokens (those of one batched command-line run),
        # at least 48 run at once, and a second round leaves the server's
        # memory where the first left it.
        wide_exe = os.path.join(work, "wide.exe")
        run([args.dsc, "compile", model, "-o", wide_exe, "--max-seq-len", "64",
             "--max-batch", "64", "--prefill-chunk", "256"])
        prompts = [[(7 * i + 3) % 500 + 2, (13 * i) % 400 + 2, i + 2] for i in range(64)]
        cmd = [wide_exe, "--weights", model, "-n", "40", "--ignore-eos", "--json"]
        for p in prompts:
            cmd += ["--prompt-ids", " ".join(map(str, p))]
        wide_ref = [q["tokens"] for q in json.loads(run(cmd))["sequences"]]
        server = Server(wide_exe, model)
        try:
            def rss():
                with open(f"/proc/{server.proc.pid}/status") as f:
                    return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

            def round_of_64():
                got, peak, stop = [None] * 64, [0, 0], threading.Event()

                def client(i):
                    req = urllib.request.Request(
                        f"http://{server.base}/v1/completions",
                        data=json.dumps({"prompt": prompts[i], "max_tokens": 40, "temperature": 0,
                                         "ignore_eos": True, "stream": True}).encode())
                    with urllib.request.urlopen(req, timeout=300) as r:
                        lines = r.read().decode().splitlines()
                    got[i] = [t for line in lines if line.startswith("data: {")
                              for c in json.loads(line[6:])["choices"] for t in c["token_ids"]]

                def monitor():
                    while not stop.is_set():
                        text = server.request("/metrics")[1]
                        peak[0] = max(peak[0], metric(text, "dsc_running_sequences"))
                        peak[1] = max(peak[1], metric(text, "dsc_cache_pages_in_use"))
                        stop.wait(0.005)
                watcher = threading.Thread(target=monitor)
                watcher.start()
                threads = [threading.Thread(target=client, args=(i,)) for i in range(64)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                stop.set()
                watcher.join()
                return got, peak

            got, (peak, pages) = round_of_64()
            check(got == wide_ref, "64 concurrent streams: each its own tokens, nothing lost or mixed")
            check(peak >= 48, f"64 concurrent streams: {peak} sequences running at once (>= 48)")
            check(pages >= 48, f"64 concurrent streams: {pages} cache pages in use at the peak (>= 48)")
            idle = rss()
            got, _ = round_of_64()
            after = rss()
            check(got == wide_ref and after <= idle * 1.05 + 2048,
                  f"a second round: the same tokens; memory {idle} -> {after} kB")
        finally:
            server.close()

        # A bounded queue: with 4 slots busy and room for 1 waiting request,
        # the rest are refused with 503 (and the others still complete).
        server = Server(exe, model, ["--max-waiting", "1"])
        try:
            statuses = [None] * 10

            def long_request(i):
                statuses[i] = server.request("/v1/completions", {
                    "prompt": [i + 2], "max_tokens": 60, "ignore_eos": True})[0]
            threads = [threading.Thread(target=long_request, args=(i,)) for i in range(10)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            check(set(statuses) <= {200, 503} and 200 in statuses and 503 in statuses,
                  f"--max-waiting 1: statuses {sorted(statuses)} (503 when the queue is full)")
        finally:
            server.close()

        # --prefill-tokens 3: at most 3 prompt tokens between two decode
        # steps (the compiled chunk holds 8); the same tokens.
        server = Server(exe, model, ["--prefill-tokens", "3"])
        try:
            results = [None] * len(PROMPTS)

            def small_steps(i):
                results[i] = server.complete({"prompt": PROMPTS[i], "max_tokens": STEPS,
                                              "temperature": 0, "ignore_eos": True})
            threads = [threading.Thread(target=small_steps, args=(i,))
                       for i in range(len(PROMPTS))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            text = server.request("/metrics")[1]
            prompt_tokens = sum(len(p) for p in PROMPTS)
            chunks = metric(text, "dsc_prefill_steps_total")
            check(all(r and r["choices"][0]["token_ids"] == cli[tuple(p)]["tokens"]
                      for r, p in zip(results, PROMPTS)) and
                  metric(text, "dsc_prefix_cache_hit_tokens_total") == 0 and
                  chunks >= -(-prompt_tokens // 3),
                  f"--prefill-tokens 3: the command line's tokens; {prompt_tokens} prompt "
                  f"tokens in {chunks} prefill steps")
        finally:
            server.close()

        # A client that goes while its request waits for the slot: the
        # request is dropped before it is admitted (its prompt never
        # prefilled), streamed or not. One slot, held by a 2,000-token
        # sequence of an executable with a long context.
        long_exe = os.path.join(work, "long.exe")
        run([args.dsc, "compile", model, "-o", long_exe, "--max-seq-len", "2048",
             "--max-batch", "1", "--prefill-chunk", "8"])
        server = Server(long_exe, model)
        try:
            held = {}

            def hold():
                start = time.time()
                held["reply"] = server.complete({"prompt": [5], "max_tokens": 2000,
                                                 "ignore_eos": True})
                held["seconds"] = time.time() - start
            holder = threading.Thread(target=hold)
            holder.start()
            deadline = time.time() + 10
            while (metric(server.request("/metrics")[1], "dsc_running_sequences") < 1
                   and time.time() < deadline):
                time.sleep(0.01)
            host, port = server.base.split(":")
            for stream in (False, True):
                body = json.dumps({"prompt": [7, 8, 9], "max_tokens": 5,
                                   "stream": stream}).encode()
                s = socket.create_connection((host, int(port)), timeout=10)
                s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Type: application/json\r\nContent-Length: " +
                          str(len(body)).encode() + b"\r\n\r\n" + body)
                time.sleep(0.2)
                s.close()
            holder.join()
            time.sleep(0.6)  # the connection threads notice within 250 ms
            text = server.request("/metrics")[1]
            usage = held["reply"]["usage"]["completion_tokens"]
            check(held["seconds"] > 1.0 and usage == 2000,
                  f"the slot was held {held['seconds']:.2f} s ({usage} tokens; "
                  "over 1 s for the check below to mean anything)")
            check(metric(text, "dsc_requests_total") == 3 and
                  metric(text, "dsc_prompt_tokens_total") == 1 and
                  metric(text, "dsc_waiting_sequences") == 0,
                  "two requests whose clients went while they waited: dropped "
                  f"unprefilled (requests {metric(text, 'dsc_requests_total')}, "
                  f"prompt tokens {metric(text, 'dsc_prompt_tokens_total')}, "
                  f"waiting {metric(text, 'dsc_waiting_sequences')})")
        finally:
            server.close()

        # Connections: over --max-connections a client gets 503; an idle one
        # is closed after --idle-timeout seconds, freeing its place.
        server = Server(exe, model, ["--max-connections", "2", "--idle-timeout", "1"])
        try:
            host, port = server.base.split(":")
            idle = [socket.create_connection((host, int(port)), timeout=10) for _ in range(2)]
            time.sleep(0.2)
            status, text = server.request("/health")
            check(status == 503 and "--max-connections" in text,
                  f"--max-connections 2: a third connection gets 503 ({status})")
            closed = [s.recv(1) == b"" for s in idle]
            check(all(closed), "--idle-timeout 1: idle connections are closed by the server")
            status, _ = server.request("/health")
            check(status == 200, "and their places serve again")
            for s in idle:
                s.close()
        finally:
            server.close()

        # R1's chat format (a V3 checkpoint whose template opens <think>):
        # the reply's reasoning apart from its answer, as in text mode.
        r1 = os.path.join(work, "r1")
        r1_exe = os.path.join(work, "r1.exe")
        run(["/usr/bin/python3", os.path.join(ROOT, "tools", "make-tiny-checkpoint.py"),
             os.path.join(ROOT, "examples", "tiny-v3"), "-o", r1, "--seed", "6"])
        config_path = os.path.join(r1, "tokenizer_config.json")
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
        config["chat_template"] = config["chat_template"].replace(
            "<｜Assistant｜>{% endif %}", "<｜Assistant｜><think>\n{% endif %}")
        with open(config_path, "w", encoding="utf-8") as f:
            json.dump(config, f, ensure_ascii=False)
        run([args.dsc, "compile", r1, "-o", r1_exe, "--max-seq-len", "64", "--max-batch", "2"])
        ref = json.loads(run([r1_exe, "-p", "Think first.", "-n", "12", "--ignore-eos", "--json"]))
        server = Server(r1_exe, r1)
        try:
            body = {"messages": [{"role": "user", "content": "Think first."}],
                    "max_tokens": 12, "temperature": 0, "ignore_eos": True}
            message = server.complete_chat(body)["choices"][0]["message"]
            check(message.get("reasoning_content") == ref["reasoning"] and
                  message["content"] == ref["text"],
                  "R1: reasoning_content and content as text mode splits them")
            body["stream"] = True
            req = urllib.request.Request(f"http://{server.base}/v1/chat/completions",
                                         data=json.dumps(body).encode())
            with urllib.request.urlopen(req, timeout=120) as r:
                events = [line[6:] for line in r.read().decode().splitlines()
                          if line.startswith("data: ") and line != "data: [DONE]"]
            deltas = [json.loads(e)["choices"][0]["delta"] for e in events]
            check("".join(d.get("reasoning_content", "") for d in deltas) == ref["reasoning"] and
                  "".join(d.get("content", "") for d in deltas) == ref["text"],
                  "R1 streaming: reasoning_content deltas, then content deltas")
        finally:
            server.close()

    if failures:
        print(f"\n{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("\nall server checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
