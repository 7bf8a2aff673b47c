#!/usr/bin/python3
# ===- test_reference.py - self-checks of the NumPy DeepSeek reference ------===#
"""Self-checks of test/reference/deepseek_reference.py (plain asserts, NumPy only).

Run:  /usr/bin/python3 test/reference/test_reference.py
Exits non-zero when any check fails; prints one line per check and a summary.

For each tiny example config (examples/tiny-v2, tiny-v2-lite, tiny-v3) a checkpoint is generated
with tools/make-tiny-checkpoint.py into a temporary folder and checked for:
  (1) naive vs absorbed MLA (exact mode) agree, rel err < 1e-5 (prefill and a decode step);
  (2) prefill of N tokens == N single-token decode steps on the latent cache (exact, < 1e-5),
      and a chunked prefill (prefill + chunk + decode) == the full prefill;
  (3) bf16 mode differs from exact by a small relative error (< 0.1, reported) and is not
      identical; bf16-mode logits are bf16-representable;
  plus FP8 dequantisation of a partial-block tensor against the generator's own decoder, and
  that MTP tensors are not loaded.
Model-independent checks: (4) YaRN inv_freq against the doc's §4 table and the §2.5 softmax
scales; (5) the e4m3 decoder on all 256 codes; (6) router corner cases; (7) the fp8 block
quantiser of --quantize fp8 (§5.4): the encoder on every e4m3 value, midpoint and saturation, the
block quantiser against a scalar loop with partial and zero blocks, and load_checkpoint(quantize=
"fp8") on the bf16 tiny-v2-lite (linears only, within half an e4m3 step) and the fp8 tiny-v3
(unchanged).
Relative error = max|a - b| / max|b|.
"""

import importlib.util
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import deepseek_reference as ref  # noqa: E402

MODELS = ["tiny-v2", "tiny-v2-lite", "tiny-v3"]
PROMPT = [5, 17, 200, 3, 99, 42, 311, 7]
TOOL = os.path.join(REPO, "tools", "make-tiny-checkpoint.py")

results = []  # (name, ok, message)
report = []   # measured numbers


def check(name):
    def deco(fn):
        def run(*a, **kw):
            try:
                msg = fn(*a, **kw)
                results.append((name, True, msg or ""))
            except Exception as e:  # AssertionError or anything unexpected
                tb = traceback.format_exc(limit=3) if not isinstance(e, AssertionError) else ""
                results.append((name, False, f"{type(e).__name__}: {e} {tb}".strip()))
        return run
    return deco


def load_tool():
    spec = importlib.util.spec_from_file_location("make_tiny_checkpoint", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------------------------------------
# Per-model checks
# ---------------------------------------------------------------------------------------------


def model_checks(name, ckpt):
    ex_n = ref.Model(ckpt, mode="exact", mla="naive")
    ex_a = ref.Model(ckpt, mode="exact", mla="absorbed")
    bf_n = ref.Model(ckpt, mode="bf16", mla="naive")
    T = len(PROMPT)
    pos = list(range(T))

    full_n, cache_n = ex_n.forward(PROMPT, pos)
    full_a, cache_a = ex_a.forward(PROMPT, pos)

    @check(f"{name}: (1) naive vs absorbed MLA, exact")
    def c1():
        e = ref.rel_err(full_a, full_n)
        assert full_n.shape == (T, ex_n.vocab) and full_n.dtype == np.float32
        assert np.all(np.isfinite(full_n))
        assert e < 1e-5, f"prefill rel err {e:.3g}"
        step_n, _ = ex_n.forward([123], [T], cache_n)
        step_a, _ = ex_a.forward([123], [T], cache_a)
        e2 = ref.rel_err(step_a, step_n)
        assert e2 < 1e-5, f"decode rel err {e2:.3g}"
        # the latent caches hold the same (c, k_pe)
        for i in range(ex_n.L):
            assert cache_n.c[i].shape == (T + 1, ex_n.Rkv) and cache_n.kpe[i].shape == (T + 1, ex_n.dr)
            assert ref.rel_err(cache_a.c[i], cache_n.c[i]) < 1e-6
        report.append(f"{name}: naive vs absorbed rel err prefill {e:.2e}, decode {e2:.2e}")
        return f"prefill {e:.2e}, decode {e2:.2e}"

    c1()

    @check(f"{name}: (2) prefill == token-by-token decode, exact")
    def c2():
        worst = 0.0
        for m in (ex_n, ex_a):
            cache = m.new_cache()
            rows = []
            for t in range(T):
                lg, cache = m.forward([PROMPT[t]], [t], cache)
                rows.append(lg)
            step = np.concatenate(rows, 0)
            full = full_n if m is ex_n else full_a
            e = ref.rel_err(step, full)
            assert e < 1e-5, f"{m.mla}: rel err {e:.3g}"
            worst = max(worst, e)
            # chunked: prefill 3, chunk of 4, then 1 decode step
            lg1, cache = m.forward(PROMPT[:3], [0, 1, 2])
            lg2, cache = m.forward(PROMPT[3:7], [3, 4, 5, 6], cache)
            lg3, cache = m.forward(PROMPT[7:], [7], cache)
            e = ref.rel_err(np.concatenate([lg1, lg2, lg3], 0), full)
            assert e < 1e-5, f"{m.mla} chunked: rel err {e:.3g}"
            worst = max(worst, e)
        report.append(f"{name}: prefill vs decode worst rel err {worst:.2e}")
        return f"worst {worst:.2e}"

    c2()

    @check(f"{name}: (3) bf16 mode vs exact")
    def c3():
        lg_bf, _ = bf_n.forward(PROMPT, pos)
        e = ref.rel_err(lg_bf, full_n)
        fro = float(np.linalg.norm(lg_bf - full_n) / np.linalg.norm(full_n))
        assert not np.array_equal(lg_bf, full_n), "bf16 mode identical to exact"
        assert np.array_equal(ref.bf16_round(lg_bf), lg_bf), "bf16 logits not bf16-valued"
        assert e < 0.1, f"rel err {e:.3g}"
        # argmax agreement is informative only
        agree = float(np.mean(np.argmax(lg_bf, -1) == np.argmax(full_n, -1)))
        report.append(f"{name}: bf16 vs exact max-rel {e:.4f}, frobenius-rel {fro:.4f}, "
                      f"argmax agreement {agree:.2f}")
        return f"max-rel {e:.4f}, frob {fro:.4f}"

    c3()

    @check(f"{name}: checkpoint loading (MTP ignored, FP8 dequant)")
    def c4():
        L = ex_n.L
        assert not any(k.startswith(f"model.layers.{L}.") for k in ex_n.w), "MTP tensors loaded"
        assert not any(k.endswith("weight_scale_inv") for k in ex_n.w)
        cfg = ex_n.cfg
        if cfg.get("quantization_config"):
            tool = load_tool()
            import json
            wm = json.load(open(os.path.join(ckpt, "model.safetensors.index.json")))["weight_map"]
            nm = "model.layers.0.self_attn.kv_a_proj_with_mqa.weight"  # 144 rows: partial block
            raw = ref.read_safetensors(os.path.join(ckpt, wm[nm]), {nm})[nm]
            sc = ref.read_safetensors(os.path.join(ckpt, wm[nm + "_scale_inv"]), {nm + "_scale_inv"})
            sc = sc[nm + "_scale_inv"][1]
            assert raw[0] == "F8_E4M3"
            bs = tuple(cfg["quantization_config"]["weight_block_size"])
            want = tool.dequantize_fp8(raw[1], sc, bs)
            assert np.array_equal(ex_n.w[nm], want), "fp8 dequant differs from generator"
            assert np.array_equal(bf_n.w[nm], ref.bf16_round(want))
            return f"fp8 {nm} {raw[1].shape} scale {sc.shape} ok"
        return "bf16 checkpoint"

    c4()

    @check(f"{name}: generate_greedy / CLI")
    def c5():
        ids, lg = ex_n.generate_greedy(PROMPT[:4], 3, return_logits=True)
        assert len(ids) == 3 and lg.shape == (4 + 2, ex_n.vocab)
        assert ids[0] == int(np.argmax(full_n[3]))
        out = os.path.join(os.path.dirname(ckpt), name + "-logits.npy")
        r = subprocess.run([sys.executable, os.path.join(HERE, "deepseek_reference.py"), ckpt,
                            "--prompt-ids", " ".join(map(str, PROMPT[:4])), "--generate", "3",
                            "--dump-logits", out], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [str(i) for i in ids], r.stdout
        assert np.array_equal(np.load(out), lg)

    c5()


# ---------------------------------------------------------------------------------------------
# Model-independent checks
# ---------------------------------------------------------------------------------------------

YARN_TABLE = [  # docs/docs/model.md §4 (dim 64, base 1e4, factor 40, L0 4096, betas 32/1)
    1.000000000e+00, 7.498942093e-01, 5.623413252e-01, 4.216965034e-01, 3.162277660e-01,
    2.371373706e-01, 1.778279410e-01, 1.333521432e-01, 1.000000000e-01, 7.498942093e-02,
    5.623413252e-02, 3.900692657e-02, 2.687936011e-02, 1.837814622e-02, 1.244795587e-02,
    8.334508951e-03, 5.500000000e-03, 3.561997494e-03, 2.249365301e-03, 1.370513636e-03,
    7.905694150e-04, 4.149903985e-04, 1.778279410e-04, 3.333803580e-05, 2.500000000e-05,
    1.874735523e-05, 1.405853313e-05, 1.054241259e-05, 7.905694150e-06, 5.928434264e-06,
    4.445698525e-06, 3.333803580e-06,
]


@check("(4) YaRN inv_freq table, softmax scales, RoPE")
def check_yarn():
    inv = ref.yarn_inv_freq(64, 10000.0, 40.0, 4096, 32, 1)
    assert inv.dtype == np.float32 and inv.shape == (32,)
    want = np.array(YARN_TABLE)
    rel = np.abs(inv.astype(np.float64) - want) / want
    assert rel.max() < 1e-6, f"inv_freq max rel {rel.max():.3g} at {int(rel.argmax())}"
    v3 = ref.softmax_scale(192, {"factor": 40, "mscale": 1.0, "mscale_all_dim": 1.0})
    v2 = ref.softmax_scale(192, {"factor": 40, "mscale": 0.707, "mscale_all_dim": 0.707})
    assert abs(v3 - 0.1352337789) < 1e-9, v3
    assert abs(v2 - 0.1147213868) < 1e-9, v2
    assert abs(ref.softmax_scale(192, None) - 192 ** -0.5) < 1e-15
    # RoPE: interleaved pairs rotate by p*inv_freq; norms preserved; position 0 is identity.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 64)).astype(np.float32)
    y = ref.rope_interleaved(x, [0, 5, 1000], inv)
    assert np.array_equal(y[0], x[0])
    ang = 1000.0 * float(inv[3])
    c, s = math.cos(ang), math.sin(ang)
    exp6 = x[2, 1, 6] * c - x[2, 1, 7] * s
    exp7 = x[2, 1, 6] * s + x[2, 1, 7] * c
    assert abs(y[2, 1, 6] - exp6) < 1e-4 and abs(y[2, 1, 7] - exp7) < 1e-4
    assert np.allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-5)
    # attention_scaling multiplies cos/sin
    y2 = ref.rope_interleaved(x, [0, 5, 1000], inv, 2.0)
    assert np.allclose(y2, 2 * y, rtol=1e-6, atol=1e-6)
    return f"inv_freq max rel {rel.max():.2e}; scales {v3:.10f} / {v2:.10f}"


@check("(5) e4m3 decoder, all 256 codes")
def check_e4m3():
    got = ref.e4m3_decode(np.arange(256, dtype=np.uint8))
    assert got.dtype == np.float32
    for c in range(256):
        s, e, m = c >> 7, (c >> 3) & 15, c & 7
        if e == 15 and m == 7:
            assert np.isnan(got[c]), hex(c)
            continue
        v = (m / 8.0) * 2.0 ** -6 if e == 0 else (1.0 + m / 8.0) * 2.0 ** (e - 7)
        v = -v if s else v
        assert float(got[c]) == v, f"{c:#04x}: {got[c]} != {v}"
        assert bool(np.signbit(got[c])) == bool(s), f"{c:#04x} sign"
    assert got[0x7E] == 448 and got[0x01] == 2.0 ** -9 and got[0x38] == 1.0
    # bf16 helpers
    x = np.array([1.0, 1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, -2.0, np.nan, np.inf], np.float32)
    r = ref.bf16_round(x)
    assert r[0] == 1.0 and r[1] == 1.0 and r[2] == np.float32(1.0 + 2 ** -6) and r[3] == -2.0
    assert np.isnan(r[4]) and r[5] == np.inf
    assert ref.bf16_decode(np.array([0x3F80, 0xC000], np.uint16)).tolist() == [1.0, -2.0]


@check("(6) router corner cases")
def check_router():
    f32 = np.float32
    # group_limited_greedy: expert 4 (0.7, 3rd highest) is in group 2, which is not kept.
    s = np.array([[0.9, 0.1, 0.8, 0.05, 0.7, 0.0, 0.02, 0.03]], f32)
    idx, w = ref.select_experts(s, "group_limited_greedy", 3, n_group=4, topk_group=2)
    assert idx.tolist() == [[0, 2, 1]], idx
    assert np.array_equal(w, s[:, [0, 2, 1]])
    idx, _ = ref.select_experts(s, "greedy", 3)
    assert idx.tolist() == [[0, 2, 4]], idx  # plain top-k would take it
    # noaux_tc: selection on biased scores, weights unbiased.
    s = np.array([[0.9, 0.8, 0.3, 0.2]], f32)
    b = np.array([0.0, 0.0, 1.0, 1.0], f32)
    idx, w = ref.select_experts(s, "noaux_tc", 2, 1, 1, bias=b)
    assert idx.tolist() == [[2, 3]], idx
    assert np.array_equal(w, np.array([[0.3, 0.2]], f32)), w
    # noaux_tc group score = sum of top-2 biased scores (not the max): group 0 has the single
    # best expert (1.0) but group 1's top-2 sum (0.6 + 0.6) is larger.
    s = np.array([[1.0, 0.0, 0.0, 0.6, 0.6, 0.1]], f32)
    idx, w = ref.select_experts(s, "noaux_tc", 2, n_group=2, topk_group=1, bias=np.zeros(6, f32))
    assert idx.tolist() == [[3, 4]], idx
    # ties go to the lower index (experts, and groups)
    s = np.array([[0.5, 0.7, 0.7, 0.7]], f32)
    idx, _ = ref.select_experts(s, "greedy", 2)
    assert idx.tolist() == [[1, 2]], idx
    s = np.array([[0.3, 0.9, 0.9, 0.3]], f32)
    idx, _ = ref.select_experts(s, "group_limited_greedy", 1, n_group=2, topk_group=1)
    assert idx.tolist() == [[1]], idx
    # renorm / scaling per family
    w = np.array([[0.2, 0.3]], f32)
    assert np.allclose(ref.finish_weights(w, 2, False, 16.0, "deepseek_v2"), [[3.2, 4.8]])
    assert np.allclose(ref.finish_weights(w, 2, True, 16.0, "deepseek_v2"), [[0.4, 0.6]])
    assert np.allclose(ref.finish_weights(w, 2, True, 2.5, "deepseek_v3"), [[1.0, 1.5]])
    assert np.allclose(ref.finish_weights(w[:, :1], 1, True, 2.5, "deepseek_v3"), [[0.5]])
    assert np.allclose(ref.finish_weights(w, 2, False, 2.5, "deepseek_v3"), [[0.5, 0.75]])
    # full gate: fp32 sigmoid + noaux_tc + renorm + scale
    cfg = {"scoring_func": "sigmoid", "num_experts_per_tok": 2, "topk_method": "noaux_tc",
           "n_group": 1, "topk_group": 1, "norm_topk_prob": True, "routed_scaling_factor": 2.5,
           "model_type": "deepseek_v3"}
    x = np.eye(4, dtype=f32)[:1]
    gw = np.diag(np.array([2.0, 1.0, -1.0, -2.0], f32))
    idx, w = ref.route(x, gw, cfg, bias=np.array([0, 0, 0, 5], f32))
    sig = 1 / (1 + np.exp(-np.array([2.0, 0.0, 0.0, 0.0])))
    assert idx.tolist() == [[3, 0]], idx
    assert np.allclose(w, 2.5 * np.array([sig[3], sig[0]]) / (sig[3] + sig[0]), rtol=1e-6)


@check("(7) fp8 encoder: round trip, ties to even, saturation")
def check_e4m3_encode():
    values = ref.e4m3_decode(np.arange(256, dtype=np.uint8))
    finite = [c for c in range(256) if (c & 0x7F) != 0x7F]
    got = ref.e4m3_encode(values[finite])
    assert got.tolist() == finite, [(c, g) for c, g in zip(finite, got.tolist()) if c != g][:5]
    # Midpoints of neighbours go to the even code, either side of it to the nearer one.
    pos = values[:0x7F].astype(np.float64)
    for c in range(0x7E):
        mid = np.float32((pos[c] + pos[c + 1]) / 2)
        even = c if c % 2 == 0 else c + 1
        assert int(ref.e4m3_encode(mid)) == even, (c, mid)
        assert int(ref.e4m3_encode(-mid)) == 0x80 | even, (c, -mid)
        assert int(ref.e4m3_encode(np.nextafter(mid, np.float32(0)))) == c, (c, mid)
        assert int(ref.e4m3_encode(np.nextafter(mid, np.float32(1e9)))) == c + 1, (c, mid)
    big = np.array([448, 449, 463.9, 464, 480, 1e6, 3e38, np.inf], np.float32)
    assert (ref.e4m3_encode(big) == 0x7E).all() and (ref.e4m3_encode(-big) == 0xFE).all()
    assert int(ref.e4m3_encode(np.float32(432))) == 0x7E   # tie 416 (odd) / 448 (even)
    assert int(ref.e4m3_encode(np.float32(431))) == 0x7D
    assert int(ref.e4m3_encode(np.float32(np.nan))) == 0x7F
    tiny = np.float32(2.0 ** -10)
    assert ref.e4m3_encode(np.array([0.0, -0.0, tiny, -tiny, 1e-30], np.float32)).tolist() == \
        [0x00, 0x80, 0x00, 0x80, 0x00]
    assert int(ref.e4m3_encode(np.float32(3 * 2.0 ** -10))) == 0x02   # tie 1 / 2 -> 2


def scalar_quantize(w, bn, bk):
    """§5.4 one element at a time: f32 amax / 448, f32 division, nearest e4m3 by a linear scan."""
    values = [float(v) for v in ref.e4m3_decode(np.arange(0x7F, dtype=np.uint8))]
    n, k = w.shape
    nb, kb = -(-n // bn), -(-k // bk)
    q = np.zeros((n, k), np.uint8)
    s = np.zeros((nb, kb), np.float32)
    for bi in range(nb):
        for bj in range(kb):
            rows, cols = range(bi * bn, min(n, bi * bn + bn)), range(bj * bk, min(k, bj * bk + bk))
            amax = max(abs(float(w[r, c])) for r in rows for c in cols)
            scale = np.float32(np.float32(amax) / np.float32(448))
            s[bi, bj] = scale
            for r in rows:
                for c in cols:
                    if scale == 0:
                        continue
                    x = np.float32(w[r, c]) / scale   # float32 division
                    a = abs(float(x))
                    best = 0x7E
                    if a < 448:
                        for code in range(1, 0x7F):
                            if values[code] >= a:
                                up, down = values[code] - a, a - values[code - 1]
                                best = code if up < down or (up == down and code % 2 == 0) else code - 1
                                break
                    q[r, c] = best | (0x80 if x < 0 or (x == 0 and math.copysign(1, x) < 0) else 0)
    return q, s


@check("(7) fp8 block quantiser vs a scalar loop (partial and zero blocks)")
def check_quantize_blocks():
    rng = np.random.default_rng(3)
    w = ref.bf16_round(rng.normal(0, 0.02, (11, 13)).astype(np.float32))
    w[2, 5] = ref.bf16_round(np.float32(1.7))   # an outlier sets its block's scale
    w[8:, 12:] = 0.0                            # a zero block (the bottom-right, partial)
    w[9, 12] = -0.0
    q, s = ref.quantize_fp8_blocks(w, 4, 3)
    q_ref, s_ref = scalar_quantize(w, 4, 3)
    assert s.shape == (3, 5) and s.dtype == np.float32
    assert np.array_equal(s, s_ref), (s, s_ref)
    assert np.array_equal(q, q_ref), np.argwhere(q != q_ref)[:5]
    assert s[2, 3] > 0 and s[2, 4] == 0 and (q[8:, 12:] == 0).all()
    assert (np.abs(q.astype(np.int32) & 0x7F) == 0x7E).sum() >= 10   # each block's amax -> 448
    back = ref.dequantize_fp8_blocks(q, s, 4, 3)
    step = np.maximum(np.abs(w) / 16, np.repeat(np.repeat(s, 4, 0), 3, 1)[:11, :13] / 512)
    assert (np.abs(back - w) <= step * 1.0001).all()
    # Also with DeepSeek's 128x128 blocks on a matrix with partial blocks.
    w = ref.bf16_round(rng.normal(0, 0.05, (130, 140)).astype(np.float32))
    q, s = ref.quantize_fp8_blocks(w)
    q_ref, s_ref = scalar_quantize(w, 128, 128)
    assert np.array_equal(s, s_ref) and np.array_equal(q, q_ref)
    try:
        ref.quantize_fp8_blocks(np.array([[1.0, np.inf]], np.float32))
        raise AssertionError("non-finite weights were quantised")
    except ValueError as e:
        assert "non-finite" in str(e)


def check_quantized_load(name, ckpt):
    @check(f"{name}: (7) load_checkpoint(quantize='fp8')")
    def run():
        cfg, plain = ref.load_checkpoint(ckpt)
        _, quantized = ref.load_checkpoint(ckpt, quantize="fp8")
        assert plain.keys() == quantized.keys()
        linears = [k for k in plain if ref.is_linear_weight(k)]
        assert linears, "no linear weights"
        if cfg.get("quantization_config"):   # fp8 already: a no-op
            assert all(np.array_equal(plain[k], quantized[k]) for k in plain)
            return f"{len(linears)} linears, fp8 checkpoint unchanged"
        changed = 0
        for k in plain:
            if k in linears:
                w, q = plain[k], quantized[k]
                codes, s = ref.quantize_fp8_blocks(w)
                assert np.array_equal(q, ref.dequantize_fp8_blocks(codes, s))
                step = np.abs(w) / 16 + np.abs(w).max() / 448 / 512
                assert (np.abs(q - w) <= step * 1.0001).all(), k
                changed += not np.array_equal(q, w)
            else:
                assert np.array_equal(plain[k], quantized[k]), f"{k} is not a linear weight"
        assert any(k.endswith("mlp.gate.weight") for k in plain) and \
            not any(ref.is_linear_weight(k) for k in plain if k.endswith("mlp.gate.weight"))
        assert changed > len(linears) // 2, (changed, len(linears))
        return f"{len(linears)} linears quantised, {len(plain) - len(linears)} tensors unchanged"
    run()


def main():
    t0 = time.time()
    check_yarn()
    check_e4m3()
    check_router()
    check_e4m3_encode()
    check_quantize_blocks()
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            ckpt = os.path.join(tmp, name)
            r = subprocess.run([sys.executable, TOOL, os.path.join(REPO, "examples", name),
                                "-o", ckpt], capture_output=True, text=True)
            if r.returncode != 0:
                results.append((f"{name}: make-tiny-checkpoint", False, r.stderr.strip()))
                continue
            model_checks(name, ckpt)
            if name in ("tiny-v2-lite", "tiny-v3"):
                check_quantized_load(name, ckpt)
    dt = time.time() - t0
    fails = [r for r in results if not r[1]]
    for nm, ok, msg in results:
        print(f"{'PASS' if ok else 'FAIL'}  {nm}{'  [' + msg + ']' if msg else ''}")
    print("measured:")
    for line in report:
        print("  " + line)
    print(f"{len(results) - len(fails)}/{len(results)} checks passed in {dt:.1f} s")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
