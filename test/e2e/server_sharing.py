#!/usr/bin/env python3
"""./model serve sharing the KV cache's pages, and preempting when it runs
short, against the same executable's command line.

A tiny V2-Lite-style checkpoint is compiled for the CPU with pages of 4
positions (so prompts span several), 4 slots, prefill chunks of 8 tokens
and --logprobs=3, then served:

1. n=3 greedy samples of a 13-token prompt (3 full pages and a partial
   one, shared by the three and copied on their first write) each give
   the command line's tokens, and /metrics counts the shared positions;
2. n=2 sampled completions (seed, temperature 0.8, logprobs) give the same
   tokens and log-probabilities as a server with --no-prefix-sharing;
3. a prompt that extends an earlier one by a few tokens maps the earlier
   prompt's full pages from the prefix index (/metrics), and a prompt that
   extends an earlier prompt and its completion maps pages the completion
   wrote; both give the command line's tokens;
4. with a pool of 20 pages (4 sequences of 46 positions need 48), 4
   concurrent requests all complete with the command line's tokens: the
   newest are preempted and computed again (/metrics counts them), with
   and without prefix sharing; streaming clients see no break;
5. with a pool of 8 pages (32 positions), a prompt longer than the pool
   gets status 400, and the server keeps serving; a sequence that would
   outgrow the pool ends with finish_reason "length" once it fills it.

Usage: server_sharing.py --dsc BUILD/bin/dsc
"""
import argparse
import json
import os
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server import ROOT, Server, metric, run, settled  # noqa: E402

PROMPT = [3, 17, 42, 99, 7, 250, 11, 5, 5, 5, 123, 9, 8]  # 13 tokens
STEPS = 6


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
        run([args.dsc, "compile", model, "-o", exe, "--max-seq-len", "64", "--page-size", "4",
             "--max-batch", "4", "--logprobs", "3", "--prefill-chunk", "8"])
        cache = {}

        def cli(prompt, steps=STEPS):
            key = (tuple(prompt), steps)
            if key not in cache:
                out = json.loads(run([exe, "--prompt-ids", " ".join(map(str, prompt)), "-n",
                                      str(steps), "--ignore-eos", "--json"]))
                cache[key] = out["sequences"][0]["tokens"]
            return cache[key]

        def agree(tokens, prompt, steps):
            """Whether greedy `tokens` are the command line's, up to a
            near-tie: a preempted sequence's cache is computed again by the
            prefill entry, whose sums differ from the decode steps' in the
            last bits, and the logits are bf16 (1/64 apart near these
            values), so where the command line's two best tokens are within
            two such steps the other may win, and the rest follows from it."""
            if tokens is None:
                return False, "no reply"
            ref = cli_logprobs(prompt, steps)
            if tokens == ref["tokens"]:
                return True, "equal"
            k = next(k for k in range(len(tokens)) if tokens[k] != ref["tokens"][k])
            top = dict((t, lp) for t, lp in ref["logprobs"][k]["top"])
            gap = ref["logprobs"][k]["logprob"] - top.get(tokens[k], float("-inf"))
            return gap <= 0.04, f"equal to token {k}, then a near-tie ({gap:.4f} nats)"

        def cli_logprobs(prompt, steps):
            return json.loads(run([exe, "--prompt-ids", " ".join(map(str, prompt)), "-n",
                                   str(steps), "--ignore-eos", "--json", "--logprobs", "3"]))[
                                       "sequences"][0]

        def greedy(server, prompt, steps=STEPS, extra=None):
            body = {"prompt": prompt, "max_tokens": steps, "temperature": 0, "ignore_eos": True}
            body.update(extra or {})
            return server.complete(body)

        def hits(server):
            return metric(server.request("/metrics")[1], "dsc_prefix_cache_hit_tokens_total")

        sampled = {"prompt": PROMPT, "max_tokens": STEPS, "temperature": 0.8, "seed": 7,
                   "n": 2, "logprobs": 3, "ignore_eos": True}

        server = Server(exe, model)
        try:
            # 1. n samples of one prompt.
            before = hits(server)
            three = greedy(server, PROMPT, extra={"n": 3})
            check([c["token_ids"] for c in three["choices"]] == [cli(PROMPT)] * 3,
                  "n=3 greedy samples sharing their prompt's pages give the command line's tokens")
            shared = hits(server) - before
            check(shared >= 2 * 12, f"/metrics: {shared} prompt positions shared by the samples")
            check(three["usage"]["prompt_tokens"] == len(PROMPT) and
                  three["usage"]["completion_tokens"] == 3 * STEPS, "usage of n=3")

            # 2. sampled n=2: the same draws as without sharing.
            with_sharing = server.complete(sampled)

            # 3. the prefix index.
            longer = PROMPT + [77, 78, 79]
            before = hits(server)
            reply = greedy(server, longer)
            check(reply["choices"][0]["token_ids"] == cli(longer),
                  "a prompt extending an earlier one gives the command line's tokens")
            check(hits(server) - before >= 12,
                  f"/metrics: {hits(server) - before} positions of it mapped from the index")
            turn = PROMPT + cli(PROMPT) + [64, 65]  # the prompt, its completion, more
            before = hits(server)
            reply = greedy(server, turn)
            check(reply["choices"][0]["token_ids"] == cli(turn),
                  "a prompt extending an earlier completion gives the command line's tokens")
            check(hits(server) - before >= 16,
                  f"/metrics: {hits(server) - before} positions mapped, past the earlier prompt")
            check(settled(server) == 0 and
                  metric(server.request("/metrics")[1], "dsc_cache_pages_in_use") == 0,
                  "no pages held once the sequences end (indexed pages are reclaimable)")
        finally:
            server.close()

        plain = Server(exe, model, ["--no-prefix-sharing"])
        try:
            without = plain.complete(sampled)
            same = [c["token_ids"] for c in with_sharing["choices"]] == \
                [c["token_ids"] for c in without["choices"]]
            lp = [x for c in with_sharing["choices"] for x in c["logprobs"]["token_logprobs"]]
            lp0 = [x for c in without["choices"] for x in c["logprobs"]["token_logprobs"]]
            check(same and len(lp) == len(lp0) and
                  max(abs(a - b) for a, b in zip(lp, lp0)) < 1e-4,
                  "sampled n=2 with a seed: the same tokens and log-probabilities with and "
                  "without prefix sharing")
            check(hits(plain) == 0, "--no-prefix-sharing maps nothing")
        finally:
            plain.close()

        # 4. A pool too small for the 4 sequences at once: preemption.
        long_steps = 40
        prompts = [[10 + i, 20 + i, 30 + i, 40 + i, 50 + i, 60 + i] for i in range(4)]
        for p in prompts:
            cli(p, long_steps)
        for extra in ([], ["--no-prefix-sharing"]):
            small = Server(exe, model, ["--cache-pages", "20"] + extra)
            try:
                results = [None] * 4
                errors = []

                def worker(i):
                    try:
                        if i % 2:  # streaming: the stream must not break
                            body = {"prompt": prompts[i], "max_tokens": long_steps,
                                    "temperature": 0, "ignore_eos": True, "stream": True}
                            status, text = small.request("/v1/completions", body)
                            events = [json.loads(line[6:]) for line in text.splitlines()
                                      if line.startswith("data: ") and line[6:] != "[DONE]"]
                            if status != 200 or any("error" in e for e in events):
                                raise RuntimeError(text[-300:])
                            results[i] = [t for e in events for t in e["choices"][0]["token_ids"]]
                        else:
                            results[i] = greedy(small, prompts[i], long_steps)["choices"][0]["token_ids"]
                    except Exception as e:  # noqa: BLE001
                        errors.append(f"request {i}: {e}")
                threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                name = " ".join(["--cache-pages 20"] + extra)
                verdicts = [agree(results[i], prompts[i], long_steps) for i in range(4)]
                check(not errors and all(ok for ok, _ in verdicts),
                      f"{name}: 4 concurrent sequences needing 48 pages all complete with the "
                      f"command line's tokens ({'; '.join(v for _, v in verdicts)}) {errors[:1]}")
                text = small.request("/metrics")[1]
                check(metric(text, "dsc_preemptions_total") > 0,
                      f"{name}: /metrics counts {metric(text, 'dsc_preemptions_total')} preemptions")
            finally:
                small.close()
        tiny = Server(exe, model, ["--cache-pages", "8"])  # 32 positions
        try:
            status, text = tiny.request("/v1/completions", {"prompt": list(range(3, 43)),
                                                            "max_tokens": 1})
            check(status == 400 and "pages of the KV cache" in text,
                  "a prompt longer than the pool: status 400 naming the pool")
            status, text = tiny.request("/v1/completions", {"prompt": list(range(3, 43)),
                                                            "max_tokens": 1, "stream": True})
            check(status == 400 and "pages of the KV cache" in text,
                  "streamed too: status 400 before any event")
            check(greedy(tiny, PROMPT)["choices"][0]["token_ids"] == cli(PROMPT),
                  "and the server keeps serving")
            reply = greedy(tiny, PROMPT, 40)
            check(reply["choices"][0]["finish_reason"] == "length" and
                  reply["choices"][0]["token_ids"] == cli(PROMPT, 40)[:33 - len(PROMPT)],
                  "a sequence that would outgrow the whole pool ends with finish_reason "
                  "length once it fills it (the last token drawn from position 31)")
        finally:
            tiny.close()

    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
