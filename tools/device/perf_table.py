#!/usr/bin/env python3
"""The performance table of docs/performance.md, measured on the GPU machine.

Runs the executables prepare-cuda-checks.sh carries, each as one process
measuring several workloads (`--bench-sweep`: the weights load once), with
dummy weights:
  * V2-Lite bf16 and fp8 (`dsc compile --quantize=fp8`): decode at batch 1,
    4, 16, 64; batch 1 at 256 and 4K context; greedy and sampled
    (temperature 0.6, top-p 0.95); prefill of 1K and 4K tokens;
  * V2-Lite bf16 with the model's whole context compiled in: batch 1 at 32K;
  * the real V3 config cut to 6 layers (fp8): decode at batch 1 and 16;
  * HuggingFace transformers eager (V2-Lite bf16, random weights): decode at
    batch 1 and 16, prefill of 1K.
Then the per-kernel profile (`--profile`) of V2-Lite bf16 and fp8 decode at
batch 1 and 16 and a 1K prefill: its kernels must add up to the plain
graph's step time within 10%.

Every row stands next to its floor, computed from the configs as in
../shared/docs/performance.md: decode reads each weight once per step (the
distinct routed experts of a batch B: E(1 - (1 - k/E)^B) per layer) and the
latent cache of every attended position, at 4.3 TB/s; prefill does 2 FLOPs
per linear weight and the expanded attention's FLOPs per token, at the
datasheet's dense peak (989 TFLOP/s bf16, 1979 fp8).

Usage: perf_table.py DIR (the carried build-device); also run by
check-cuda.py after the checks. Prints the table last, as Markdown.
"""
import json
import os
import subprocess
import sys
import time

BANDWIDTH = 4.3e12
PEAK = {"bf16": 989e12, "fp8": 1979e12}
SAMPLED = "temp=0.6:top-p=0.95"


def summary(path):
    with open(path) as f:
        return json.load(f)


def expert_bytes(cfg, dtype):
    h, mi = cfg["hidden_size"], cfg["moe_intermediate_size"]
    if dtype == "bf16":
        return 3 * h * mi * 2
    blocks = -(-h // 128) * -(-mi // 128)
    return 3 * (h * mi + 4 * blocks)


def decode_floor(cfg, info, dtype, batch, context):
    """Tokens/s when a decode step of `batch` sequences at `context` cached
    positions moves only what it must."""
    per_token = info["bf16_bytes_per_token" if dtype == "bf16" else "fp8_bytes_per_token"]
    e, k = cfg.get("n_routed_experts") or 0, cfg.get("num_experts_per_tok") or 0
    step = per_token
    if e:
        one = expert_bytes(cfg, dtype)
        layers = info["moe_layers"]
        distinct = e * (1 - (1 - k / e) ** batch)
        step += layers * (distinct - k) * one
    step += batch * context * info["kv_cache_bytes_per_token"]
    return batch / (step / BANDWIDTH)


def prefill_flops_per_token(cfg, info, length):
    """2 FLOPs per linear weight a token passes (no embedding, no lm_head)
    plus the expanded attention over the mean causal context."""
    # active parameters count lm_head and one embedding row
    linear = info["active_parameters_per_token"] - (cfg["vocab_size"] + 1) * cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    qk = cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]
    attention = 2 * heads * (qk + cfg["v_head_dim"]) * (length + 1) / 2 * cfg["num_hidden_layers"]
    return 2 * linear + attention


def sweep(exe, items, timeout, extra=(), env=None):
    cmd = [exe, "--dummy-weights", "--json", "--bench-sweep", ",".join(items)] + list(extra)
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       env=None if env is None else {**os.environ, **env})
    if r.returncode != 0:
        raise RuntimeError(f"{os.path.basename(exe)}: {r.stderr.strip()[-300:]}")
    out = json.loads(r.stdout)
    return {w["workload"]: w for w in out["sweep"]}, time.time() - t


def transformers_rows(config_path):
    """HF eager, V2-Lite bf16 random weights: decode b1/b16, prefill 1K."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    cfg = AutoConfig.from_pretrained(config_path)
    with torch.device("cuda"):
        try:
            model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16).eval()
        except TypeError:
            model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16).eval()
    out = {}
    for batch in [1, 16]:
        ids = torch.randint(2, 100000, (batch, 8), device="cuda")
        with torch.no_grad():
            o = model(ids, use_cache=True)
            past, nxt = o.past_key_values, o.logits[:, -1:].argmax(-1)
            for _ in range(2):  # warm-up steps
                o = model(nxt, past_key_values=past, use_cache=True)
                past, nxt = o.past_key_values, o.logits[:, -1:].argmax(-1)
            torch.cuda.synchronize()
            t = time.time()
            for _ in range(16):
                o = model(nxt, past_key_values=past, use_cache=True)
                past, nxt = o.past_key_values, o.logits[:, -1:].argmax(-1)
            torch.cuda.synchronize()
        out[f"decode b{batch}"] = 16 * batch / (time.time() - t)
    ids = torch.randint(2, 100000, (1, 1024), device="cuda")
    with torch.no_grad():
        model(ids[:, :16])
        torch.cuda.synchronize()
        t = time.time()
        model(ids)
        torch.cuda.synchronize()
    out["prefill 1024"] = 1024 / (time.time() - t)
    del model
    torch.cuda.empty_cache()
    return out


def profile_check(exe, label, rows, failures):
    """--profile on decode b1/b16 and a 1K prefill: kernels vs the step."""
    try:
        got, _ = sweep(exe, ["decode:1:n=4", "decode:16:n=4", "prefill:1024"], 400, ["--profile"])
    except Exception as e:  # noqa: BLE001 - a failed row
        rows.append((f"{label} --profile", str(e)[:70], "", "FAIL"))
        failures.append(f"{label} profile")
        return
    for workload, w in got.items():
        for p in w.get("profile", []):
            if p["entry"] == "prefill" and p["tokens"] < 1024:
                continue  # the 8-token prompts of the decode workloads
            ratio = p["kernel_seconds"] / p["step_seconds"]
            ok = abs(ratio - 1) <= 0.10
            name = f"{label} profile {p['entry']} x{p['tokens']}"
            rows.append((name, f"kernels {1e3 * p['kernel_seconds']:.3f} / step {1e3 * p['step_seconds']:.3f} ms",
                         f"{100 * ratio:.1f}%", "ok" if ok else "FAIL"))
            if not ok:
                failures.append(name)
            print(f"== {label}: {workload}, {p['entry']} of {p['tokens']} tokens: step {1e3 * p['step_seconds']:.3f} ms, "
                  f"kernels {1e3 * p['kernel_seconds']:.3f} ms, marker {1e6 * p['marker_seconds']:.2f} us")
            for k in p["kernels"][:12]:
                bw = k.get("bandwidth_fraction")
                fl = k.get("flops_fraction")
                print(f"  {1e3 * k['seconds']:8.3f} ms {k['launches']:4d}x  "
                      f"{'-' if bw is None else f'{100 * bw:5.1f}% bw'}  "
                      f"{'-' if fl is None else f'{100 * fl:6.2f}% peak'}  {k['name']}")


def main(directory, rows=None, failures=None):
    rows = [] if rows is None else rows
    failures = [] if failures is None else failures
    d = os.path.abspath(directory)
    v2 = summary(os.path.join(d, "v2lite-config.json"))
    v2info = {q: summary(os.path.join(d, f"v2lite-info-{q}.json")) for q in ("bf16", "fp8")}
    v3 = summary(os.path.join(d, "v3-6layers", "config.json"))
    v3info = summary(os.path.join(d, "v3-6layers-info.json"))
    table = []  # (workload, dsc, floor, ratio, note)

    def add(label, rate, floor, note=""):
        ratio = f"{100 * rate / floor:.0f}%" if rate and floor else "-"
        table.append((label, f"{rate:,.0f}" if rate else "-", f"{floor:,.0f}" if floor else "-", ratio, note))

    def decode_items(sampled):
        items = ["decode:1", "decode:4", "decode:16", "decode:64", "decode:1@256", "decode:1@4096"]
        return items + ([f"decode:1:{SAMPLED}"] if sampled else [])

    for dtype in ("bf16", "fp8"):
        exe = os.path.join(d, "v2lite.exe" if dtype == "bf16" else "v2lite-fp8.exe")
        items = decode_items(True) + ["prefill:1024", "prefill:4096"]
        try:
            got, wall = sweep(exe, items, 560)
        except Exception as e:  # noqa: BLE001
            rows.append((f"V2-Lite {dtype} sweep", str(e)[:70], "", "FAIL"))
            failures.append(f"V2-Lite {dtype} sweep")
            continue
        rows.append((f"V2-Lite {dtype} sweep ({len(items)} workloads)", f"{wall:.0f} s in one process", "", "ok"))
        for item in items:
            w = got[item]
            if item.startswith("prefill"):
                n = w["prompt_tokens"]
                flops = prefill_flops_per_token(v2, v2info[dtype], n)
                add(f"V2-Lite {dtype} prefill {n}", w["prefill_tokens_per_second"], PEAK[dtype] / flops,
                    f"{flops / 1e9:.2f} GFLOP/token")
                continue
            batch, context = w["batch"], w["prompt_tokens"]
            sampled = "temp" in item
            floor = decode_floor(v2, v2info[dtype], dtype, batch, context + 16)
            label = f"V2-Lite {dtype} decode b{batch}" + (f" at {context}" if context > 8 else "")
            add(label + (" T0.6 top-p 0.95" if sampled else ""), w["decode_tokens_per_second"], floor,
                f"{1e3 * w['decode_seconds'] / max(w['decode_steps'], 1):.2f} ms/step")
    try:
        got, wall = sweep(os.path.join(d, "v2lite-long.exe"), ["decode:1@32768:n=16"], 560)
        w = got["decode:1@32768:n=16"]
        add("V2-Lite bf16 decode b1 at 32768", w["decode_tokens_per_second"],
            decode_floor(v2, v2info["bf16"], "bf16", 1, 32768 + 8),
            f"(its 32K prefill: {w['prefill_tokens_per_second']:,.0f} tok/s)")
    except Exception as e:  # noqa: BLE001
        rows.append(("V2-Lite 32K context", str(e)[:70], "", "FAIL"))
        failures.append("V2-Lite 32K")
    try:
        got, wall = sweep(os.path.join(d, "v3-6layers.exe"), ["decode:1", "decode:16"], 560)
        for item in ["decode:1", "decode:16"]:
            w = got[item]
            add(f"V3 config, 6 layers, fp8, decode b{w['batch']}", w["decode_tokens_per_second"],
                decode_floor(v3, v3info, "fp8", w["batch"], 24))
    except Exception as e:  # noqa: BLE001
        rows.append(("V3 6 layers", str(e)[:70], "", "FAIL"))
        failures.append("V3 6 layers")
    for dtype in ("bf16", "fp8"):
        profile_check(os.path.join(d, "v2lite.exe" if dtype == "bf16" else "v2lite-fp8.exe"),
                      f"V2-Lite {dtype}", rows, failures)
    try:
        hf = transformers_rows(os.path.join(d, "v2lite-config.json"))
        for b in (1, 16):
            add(f"transformers eager bf16 decode b{b}", hf[f"decode b{b}"],
                decode_floor(v2, v2info["bf16"], "bf16", b, 24))
        flops = prefill_flops_per_token(v2, v2info["bf16"], 1024)
        add("transformers eager bf16 prefill 1024", hf["prefill 1024"], PEAK["bf16"] / flops)
    except Exception as e:  # noqa: BLE001
        rows.append(("transformers eager", str(e)[:70], "", "FAIL"))

    print(f"\nperformance table ({time.strftime('%Y-%m-%d')}, dummy weights, one process per executable)\n")
    print("| workload | tok/s | floor | of floor | note |")
    print("|---|---|---|---|---|")
    for r in table:
        print("| " + " | ".join(r) + " |")
    return table


if __name__ == "__main__":
    rows, failures = [], []
    main(sys.argv[1] if len(sys.argv) > 1 else "build-device", rows, failures)
    for r in rows:
        print(f"{r[0]:48s} {r[1]:36s} {r[2]:10s} {r[3]}")
    sys.exit(1 if failures else 0)
