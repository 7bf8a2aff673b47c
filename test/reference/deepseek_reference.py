#!/usr/bin/python3
# ===- deepseek_reference.py - NumPy reference forward for DeepSeek V2/V3 --===#
#
# A plain-NumPy, CPU-only forward pass of DeepSeek-V2 / V2-Lite / V3 / R1 that
# reads an HF-layout checkpoint. It is the numerical oracle for dsc tests.
#
# ===------------------------------------------------------------------------===#
"""NumPy reference forward pass of DeepSeek-V2 / V2-Lite / V3 (/ R1), CPU only.

The numerical contract is docs/docs/model.md (referred to as "the doc", section numbers §N).
Only NumPy is used; run with /usr/bin/python3.

Usage as a module:

    import deepseek_reference as ref
    m = ref.Model("ckpt_dir", mode="exact", mla="naive")   # mode: "exact" | "bf16"; mla: "naive" | "absorbed"
    m = ref.Model("bf16_ckpt", quantize="fp8")               # linears quantised as dsc --quantize=fp8
    logits, cache = m.forward(tokens, positions)            # logits: float32 [T, vocab]
    logits2, cache = m.forward([next_tok], [T], cache)      # decode step on the latent cache
    ids = m.generate_greedy(prompt, n)                      # n greedily generated ids

CLI:

    deepseek_reference.py CKPT --prompt-ids "1 2 3" [--mode exact|bf16] [--mla naive|absorbed]
                          [--quantize none|fp8] [--dump-logits out.npy] [--generate N]

  --dump-logits writes float32 [rows, vocab]: one row per forwarded position, i.e. every prompt
  position, followed by the N-1 decode steps of --generate N (row i is the logits after consuming
  the token at position i of prompt+generated; the last generated token is not fed back).
  Generated ids are printed on stdout as one space-separated line.

Checkpoint reading (§5, §6): config.json, model.safetensors.index.json (or a single
model.safetensors), safetensors parsed by hand (8-byte LE header length, JSON header, raw
row-major data). Dtypes BF16 (decoded by shifting into the high half of float32 bits), F32, F16,
F8_E4M3 (float8_e4m3fn decoded exactly: bias 7, subnormals, NaN for 0x7F/0xFF, no inf).
FP8 weights are dequantised per §5.2: W[n, k] = e4m3(W8[n, k]) * weight_scale_inv[n // bn, k // bk]
with (bn, bk) = quantization_config.weight_block_size (default 128x128). Tensors of layers
>= num_hidden_layers (the MTP layer, §6.3) and rotary_emb.inv_freq are ignored.
quantize="fp8" (§5.4) quantises a bf16 checkpoint's linear weights to e4m3 with 128x128 f32 block
scales (amax / 448, ties-to-even, saturating) as dsc --quantize=fp8 does at load, then dequantises
them as above.

Modes
-----
"exact": every tensor is the checkpoint's value decoded to float32 (FP8 dequantised in float32,
  not rounded to bf16) and every operation is done in float32 with no rounding at all
  (NumPy float32 arithmetic; matmuls through BLAS sgemm).

"bf16": emulates the §9b precision plan. Rounding (round-to-nearest-even of float32 to bf16,
  done on the uint32 bit pattern, NaN preserved) is applied at exactly these points:
  * weights: dequantised FP8 weights rounded to bf16 (§5.2 `W_bf16 = bf16(fp8 * scale_inv)`);
    BF16 tensors are already bf16; e_score_correction_bias stays float32 (§3.4, §9.10);
  * embedding output (a bf16 gather, already bf16-valued);
  * RMSNorm (§2.2): float32 mean-square / rsqrt(var + eps) / normalise, round, times the bf16
    weight, round;
  * every Linear (q_proj / q_a_proj / q_b_proj / kv_a_proj_with_mqa / kv_b_proj / o_proj,
    gate/up/down of dense MLP, experts and shared experts, lm_head): float32 accumulation of
    bf16 inputs, output rounded;
  * RoPE (§2.4): float32 rotation of the bf16 q_pe / k_pe with float32 cos/sin, rounded;
  * attention (§2.3, §2.6): float32 scores (x softmax_scale, + causal mask), float32 softmax,
    probabilities rounded, P.V accumulated in float32 and rounded;
    absorbed form (§2.7) additionally rounds q_abs = q_nope.W_UK and o_lat = P.c (as OFF-MODEL);
    o_lat.W_UV^T is rounded like a Linear;
  * SwiGLU (§2.8): silu(gate) * up computed in float32 from the bf16 gate/up outputs, rounded once;
  * MoE (§3.5): expert outputs are bf16 (their down_proj is rounded), weighted sum in float32,
    rounded, + shared-expert output, rounded;
  * residual adds rounded;
  * lm_head: float32 accumulation, rounded to bf16, returned as float32.
  Not rounded in bf16 mode: the router (float32 GEMM of the upcast bf16 x and weight, float32
  softmax / sigmoid, float32 bias, top-k, renorm and scaling; §3.3, §9b), the RoPE tables,
  attention scores and softmax (float32), the latent cache stores what the forward computed
  (bf16-valued c and roped k_pe in bf16 mode).

Which section each function follows
-----------------------------------
  read_safetensors / load_checkpoint ........ §5.1, §5.2, §6.1, §6.2 (MTP ignored, §6.3)
  e4m3_decode, bf16_decode, bf16_round ...... §5.1, §9b
  e4m3_encode, quantize_fp8_blocks .......... §5.4
  Model.forward ............................. §2.1 (top level), §7 (final norm, lm_head)
  Model._rmsnorm ............................ §2.2 (HF variant: normalise, round, x weight)
  yarn_inv_freq, yarn_get_mscale ............ §4 (HF/HUB fp32 recipe, truncate=True)
  rope_interleaved .......................... §2.4 (interleaved pairs (2i, 2i+1), cos/sin x attention_scaling)
  softmax_scale ............................. §2.5 (qk_head_dim^-0.5 x mscale(factor, mscale_all_dim)^2)
  Model._mla_naive .......................... §2.3, §2.6 (mask by absolute positions of cache + chunk)
  Model._mla_absorbed ....................... §2.7 (latent cache: c after kv_a_layernorm, k_pe after RoPE)
  Model._mlp ................................ §2.8
  route / select_experts / finish_weights ... §3.3 (HF semantics; group mask filled with 0.0 as HF,
                                              ties by lower index via stable argsort of -score)
  Model._moe ................................ §3.1, §3.2, §3.5
Routed scaling (§3.3): deepseek_v3 family: w *= routed_scaling_factor always (after the optional
renorm); deepseek_v2 family: only when not renormalised (not (norm_topk_prob and K > 1)).
Renorm: w / (sum(w) + 1e-20) when norm_topk_prob and K > 1.
"""

import argparse
import json
import math
import os
import re
import struct
import sys

import numpy as np

__all__ = [
    "Model", "Cache", "bf16_round", "bf16_decode", "e4m3_decode", "e4m3_encode",
    "quantize_fp8_blocks", "dequantize_fp8_blocks", "is_linear_weight", "read_safetensors",
    "load_checkpoint", "yarn_inv_freq", "yarn_get_mscale", "softmax_scale", "rope_interleaved",
    "select_experts", "finish_weights", "route", "rel_err",
]

F32 = np.float32

# ---------------------------------------------------------------------------------------------
# Number formats (§5.1, §9b)
# ---------------------------------------------------------------------------------------------


def bf16_round(x):
    """float32 -> nearest bf16 value (ties to even), returned as float32. NaN stays NaN."""
    x = np.ascontiguousarray(x, dtype=F32)
    u = x.view(np.uint32)
    r = (u + (np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))) & np.uint32(0xFFFF0000)
    out = r.view(F32)
    nan = np.isnan(x)
    if nan.any():
        out = np.where(nan, x, out)
    return out


def bf16_decode(bits):
    """bf16 bit patterns (uint16) -> float32 (exact: shift into the high half of the fp32 word)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << np.uint32(16)).view(F32)


def _e4m3_fp32_table():
    # Build the fp32 bit pattern of every float8_e4m3fn code (bias 7; fp32 bias 127).
    c = np.arange(256, dtype=np.uint32)
    s = (c >> np.uint32(7)) & np.uint32(1)
    e = (c >> np.uint32(3)) & np.uint32(0xF)
    m = c & np.uint32(7)
    normal_bits = (s << np.uint32(31)) | ((e + np.uint32(127 - 7)) << np.uint32(23)) | (m << np.uint32(20))
    vals = normal_bits.view(F32).copy()
    sub = e == 0  # subnormal: m * 2^-9 (exact in fp32)
    vals[sub] = (m[sub].astype(F32) * F32(2.0 ** -9)) * np.where(s[sub] == 1, F32(-1), F32(1))
    vals[(e == 15) & (m == 7)] = np.nan  # 0x7F, 0xFF; e4m3fn has no infinities
    return vals


_E4M3 = _e4m3_fp32_table()


def e4m3_decode(codes):
    """float8_e4m3fn codes (uint8) -> float32 values (exact; NaN for 0x7F / 0xFF)."""
    return _E4M3[np.asarray(codes, dtype=np.uint8)]


# The non-negative finite e4m3fn values, increasing: codes 0x00 ... 0x7E (0 ... 448).
_E4M3_POSITIVE = _E4M3[:0x7F].astype(np.float64)


def e4m3_encode(x):
    """float32 -> float8_e4m3fn codes (uint8), §5.4: the nearest value, ties to the even code
    (mantissa bit 0 clear), saturating to +-448 (never NaN for finite or infinite input); the sign
    of zero is kept. NaN -> 0x7F. Found by searching the table of values, not by bit tricks."""
    x = np.asarray(x, dtype=F32)
    a = np.abs(x).astype(np.float64)
    hi = np.searchsorted(_E4M3_POSITIVE, a, side="left").clip(0, 0x7E)  # first value >= a
    lo = (hi - 1).clip(0, None)
    up = _E4M3_POSITIVE[hi] - a
    down = a - _E4M3_POSITIVE[lo]
    take_hi = (up < down) | ((up == down) & (hi % 2 == 0)) | (hi == 0)
    code = np.where(take_hi, hi, lo)
    code = np.where(a >= 448.0, 0x7E, code).astype(np.uint8)
    code = code | np.where(np.signbit(x), np.uint8(0x80), np.uint8(0))
    return np.where(np.isnan(x), np.uint8(0x7F), code).astype(np.uint8)


def quantize_fp8_blocks(w, bn=128, bk=128):
    """§5.4: a float32 matrix of bf16 values -> (e4m3 codes uint8 [N, K], f32 scales
    [ceil(N/bn), ceil(K/bk)]). Per block (partial at the edges): amax = max |w|, s = amax / 448 in
    float32 (0 when amax is 0), q = e4m3(w / s) with the division in float32 (q = 0 when s = 0).
    Raises ValueError on non-finite values."""
    w = np.asarray(w, dtype=F32)
    if not np.isfinite(w).all():
        raise ValueError(f"{int((~np.isfinite(w)).sum())} non-finite value(s): cannot quantise to fp8")
    n, k = w.shape
    nb, kb = -(-n // bn), -(-k // bk)
    padded = np.zeros((nb * bn, kb * bk), F32)
    padded[:n, :k] = np.abs(w)
    amax = padded.reshape(nb, bn, kb, bk).max(axis=(1, 3))
    scales = (amax / F32(448.0)).astype(F32)
    s = scales[np.arange(n)[:, None] // bn, np.arange(k)[None, :] // bk]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = e4m3_encode((w / np.where(s == 0, F32(1), s)).astype(F32))
    return np.where(s == 0, np.uint8(0), q).astype(np.uint8), scales


def dequantize_fp8_blocks(codes, scales, bn=128, bk=128):
    """§5.2: W[n, k] = e4m3(codes[n, k]) * scales[n // bn, k // bk], in float32."""
    n_rows, k_cols = codes.shape
    rows = np.arange(n_rows) // bn
    cols = np.arange(k_cols) // bk
    return (e4m3_decode(codes) * scales[rows[:, None], cols[None, :]]).astype(F32)


# The tensors an fp8 checkpoint stores as fp8 (§5.1): attention projections, dense MLP, routed
# and shared experts. Not the router (mlp.gate), embeddings, lm_head, norms or the bias.
_LINEAR = re.compile(r"\.(self_attn\.(q_proj|q_a_proj|q_b_proj|kv_a_proj_with_mqa|kv_b_proj|o_proj)"
                     r"|mlp\.(experts\.\d+\.|shared_experts\.)?(gate_proj|up_proj|down_proj))\.weight$")


def is_linear_weight(name):
    return _LINEAR.search(name) is not None


def rel_err(a, b):
    """max |a - b| / max |b| (float64)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# ---------------------------------------------------------------------------------------------
# Checkpoint reading (§5, §6)
# ---------------------------------------------------------------------------------------------

_ITEMSIZE = {"F32": 4, "BF16": 2, "F16": 2, "F8_E4M3": 1, "F64": 8}


def read_safetensors(path, names=None):
    """Parse one safetensors file by hand; returns {name: (dtype_str, float32/uint8 array)}.

    BF16/F16/F32/F64 are decoded to float32; F8_E4M3 is returned as raw uint8 codes (to be
    dequantised with its scale). Only `names` (a set) are read when given."""
    out = {}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
        base = 8 + n
        for name, info in header.items():
            if name == "__metadata__" or (names is not None and name not in names):
                continue
            dtype = info["dtype"]
            shape = tuple(int(s) for s in info["shape"])
            begin, end = (int(v) for v in info["data_offsets"])
            if dtype not in _ITEMSIZE:
                raise ValueError(f"{path}: tensor {name}: unsupported dtype {dtype}")
            count = int(np.prod(shape, dtype=np.int64)) if shape else 1
            if end - begin != count * _ITEMSIZE[dtype]:
                raise ValueError(f"{path}: tensor {name}: data size does not match shape/dtype")
            f.seek(base + begin)
            raw = f.read(end - begin)
            if len(raw) != end - begin:
                raise ValueError(f"{path}: tensor {name}: truncated data")
            if dtype == "BF16":
                arr = bf16_decode(np.frombuffer(raw, dtype="<u2"))
            elif dtype == "F32":
                arr = np.frombuffer(raw, dtype="<f4").astype(F32)
            elif dtype == "F16":
                arr = np.frombuffer(raw, dtype="<f2").astype(F32)
            elif dtype == "F64":
                arr = np.frombuffer(raw, dtype="<f8").astype(F32)
            else:  # F8_E4M3: keep codes
                arr = np.frombuffer(raw, dtype=np.uint8).copy()
            out[name] = (dtype, arr.reshape(shape))
    return out


def _layer_index(name):
    parts = name.split(".")
    if len(parts) > 2 and parts[0] == "model" and parts[1] == "layers":
        try:
            return int(parts[2])
        except ValueError:
            return None
    return None


def load_checkpoint(ckpt_dir, quantize=None):
    """Returns (config dict, {name: float32 array}) with FP8 weights dequantised per §5.2
    in float32 (no bf16 rounding here). MTP layers (index >= num_hidden_layers) are skipped.
    quantize="fp8" (`dsc compile --quantize=fp8`, §5.4): a bf16 checkpoint's linear weights are
    quantised to e4m3 with 128x128 block scales, then dequantised like an fp8 checkpoint's; a no-op
    on a checkpoint with quantization_config."""
    if quantize not in (None, "none", "fp8"):
        raise ValueError("quantize must be None, 'none' or 'fp8'")
    with open(os.path.join(ckpt_dir, "config.json")) as f:
        cfg = json.load(f)
    n_layers = int(cfg["num_hidden_layers"])
    index_path = os.path.join(ckpt_dir, "model.safetensors.index.json")
    if os.path.exists(index_path):
        with open(index_path) as f:
            weight_map = json.load(f)["weight_map"]
    else:
        single = os.path.join(ckpt_dir, "model.safetensors")
        with open(single, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            hdr = json.loads(f.read(n).decode("utf-8"))
        weight_map = {k: "model.safetensors" for k in hdr if k != "__metadata__"}

    def wanted(name):
        li = _layer_index(name)
        if li is not None and li >= n_layers:
            return False
        return not name.endswith("rotary_emb.inv_freq")

    by_file = {}
    for name, fn in weight_map.items():
        if wanted(name):
            by_file.setdefault(fn, set()).add(name)
    raw = {}
    for fn, names in sorted(by_file.items()):
        raw.update(read_safetensors(os.path.join(ckpt_dir, fn), names))

    qc = cfg.get("quantization_config") or {}
    bn, bk = (qc.get("weight_block_size") or [128, 128])
    tensors = {}
    for name, (dtype, arr) in raw.items():
        if name.endswith(".weight_scale_inv"):
            continue
        if dtype == "F8_E4M3":
            scale = raw.get(name + "_scale_inv")
            if scale is None:
                raise ValueError(f"FP8 tensor {name} has no {name}_scale_inv")
            s = scale[1]
            n_rows, k_cols = arr.shape
            if s.shape != (-(-n_rows // bn), -(-k_cols // bk)):
                raise ValueError(f"{name}_scale_inv has shape {s.shape}, expected "
                                 f"{(-(-n_rows // bn), -(-k_cols // bk))}")
            tensors[name] = dequantize_fp8_blocks(arr, s, bn, bk)
        elif quantize == "fp8" and not qc and is_linear_weight(name):
            if dtype != "BF16":
                raise ValueError(f"{name} is {dtype}; --quantize fp8 quantises bf16 weights")
            try:
                codes, s = quantize_fp8_blocks(arr, bn, bk)
            except ValueError as e:
                raise ValueError(f"{name}: {e}") from None
            tensors[name] = dequantize_fp8_blocks(codes, s, bn, bk)
        else:
            tensors[name] = arr
    return cfg, tensors


# ---------------------------------------------------------------------------------------------
# RoPE / YaRN (§2.4, §2.5, §4)
# ---------------------------------------------------------------------------------------------


def yarn_get_mscale(scale=1.0, mscale=1.0):
    if scale <= 1:
        return 1.0
    return 0.1 * mscale * math.log(scale) + 1.0


def _rope_type(rs):
    if not rs:
        return None
    return rs.get("type", rs.get("rope_type"))


def yarn_inv_freq(dim, base, factor, original_max_pos, beta_fast=32, beta_slow=1):
    """§4 YaRN inv_freq in float32 (the HF / HUB recipe: pos_freqs = base ** (arange(0,dim,2)/dim)
    in fp32, extra = 1/pos_freqs, inter = 1/(factor*pos_freqs), ramp in fp32)."""
    exps = (np.arange(0, dim, 2, dtype=np.int64).astype(F32) / F32(dim)).astype(F32)
    pos_freqs = np.power(F32(base), exps).astype(F32)
    freq_extra = (F32(1.0) / pos_freqs).astype(F32)
    freq_inter = (F32(1.0) / (F32(factor) * pos_freqs)).astype(F32)

    def corr_dim(n_rot):
        return (dim * math.log(original_max_pos / (n_rot * 2 * math.pi))) / (2 * math.log(base))

    low = max(math.floor(corr_dim(beta_fast)), 0)
    high = min(math.ceil(corr_dim(beta_slow)), dim - 1)
    if low == high:
        high += 0.001
    ramp = ((np.arange(dim // 2, dtype=F32) - F32(low)) / F32(high - low)).astype(F32)
    ramp = np.clip(ramp, F32(0), F32(1))
    extra_mask = (F32(1) - ramp).astype(F32)
    inv = freq_inter * (F32(1) - extra_mask) + freq_extra * extra_mask
    return inv.astype(F32)


def rope_params(cfg):
    """(inv_freq float32 [dr/2], attention_scaling float) from config (§2.4, §4)."""
    dr = int(cfg["qk_rope_head_dim"])
    base = float(cfg.get("rope_theta", 10000.0))
    rs = cfg.get("rope_scaling")
    if _rope_type(rs) == "yarn":
        factor = float(rs["factor"])
        inv = yarn_inv_freq(dr, base, factor,
                            float(rs.get("original_max_position_embeddings", 4096)),
                            float(rs.get("beta_fast", 32)), float(rs.get("beta_slow", 1)))
        att = (yarn_get_mscale(factor, float(rs.get("mscale", 1) or 0))
               / yarn_get_mscale(factor, float(rs.get("mscale_all_dim", 0) or 0)))
        return inv, att
    if rs is not None and _rope_type(rs) not in (None, "default"):
        raise NotImplementedError(f"rope_scaling type {_rope_type(rs)!r} not supported")
    exps = (np.arange(0, dr, 2, dtype=np.int64).astype(F32) / F32(dr)).astype(F32)
    return (F32(1.0) / np.power(F32(base), exps)).astype(F32), 1.0


def softmax_scale(qk_head_dim, rope_scaling):
    """§2.5: qk_head_dim^-0.5, times mscale(factor, mscale_all_dim)^2 when rope_scaling has a
    truthy mscale_all_dim."""
    s = qk_head_dim ** -0.5
    if rope_scaling:
        mad = rope_scaling.get("mscale_all_dim", 0)
        if mad:
            m = yarn_get_mscale(float(rope_scaling["factor"]), float(mad))
            s = s * m * m
    return s


def rope_interleaved(x, positions, inv_freq, attention_scaling=1.0):
    """§2.4: rotate interleaved pairs (x[2i], x[2i+1]) by p * inv_freq[i], in float32.
    x: [..., T, (H,) dr] with the position axis given by `positions` broadcasting as [T, 1(, 1)]."""
    pos = np.asarray(positions, dtype=F32)
    ang = (pos[:, None] * inv_freq[None, :]).astype(F32)  # fp32 product, [T, dr/2]
    cos = (np.cos(ang) * F32(attention_scaling)).astype(F32)
    sin = (np.sin(ang) * F32(attention_scaling)).astype(F32)
    if x.ndim == 3:  # [T, H, dr]
        cos = cos[:, None, :]
        sin = sin[:, None, :]
    x0 = x[..., 0::2]
    x1 = x[..., 1::2]
    y = np.empty_like(x, dtype=F32)
    y[..., 0::2] = x0 * cos - x1 * sin
    y[..., 1::2] = x0 * sin + x1 * cos
    return y


# ---------------------------------------------------------------------------------------------
# Router (§3.3)
# ---------------------------------------------------------------------------------------------


def _topk_stable(s, k):
    """Indices of the k largest along the last axis, ties broken by lower index."""
    return np.argsort(-s, axis=-1, kind="stable")[..., :k]


def select_experts(scores, method, top_k, n_group=1, topk_group=1, bias=None):
    """§3.3 selection on float32 scores [T, E] -> (idx int [T, K], w float32 [T, K]) before renorm
    and scaling. Group-limited methods fill non-kept groups with 0.0 (HF). For noaux_tc the
    selection uses scores + bias, the returned weights are the unbiased scores."""
    scores = np.asarray(scores, dtype=F32)
    T, E = scores.shape
    if method == "greedy":
        idx = _topk_stable(scores, top_k)
        return idx, np.take_along_axis(scores, idx, -1)
    if method == "group_limited_greedy":
        g = scores.reshape(T, n_group, E // n_group).max(-1)
        keep = _topk_stable(g, topk_group)
        gmask = np.zeros((T, n_group), bool)
        np.put_along_axis(gmask, keep, True, -1)
        emask = np.repeat(gmask, E // n_group, axis=1)
        tmp = np.where(emask, scores, F32(0.0))
        idx = _topk_stable(tmp, top_k)
        return idx, np.take_along_axis(tmp, idx, -1)
    if method == "noaux_tc":
        if bias is None:
            raise ValueError("noaux_tc needs e_score_correction_bias")
        sc = (scores + np.asarray(bias, F32)[None, :]).astype(F32)
        grp = sc.reshape(T, n_group, E // n_group)
        top2 = -np.sort(-grp, axis=-1)[..., :2]
        g = top2.sum(-1).astype(F32)
        keep = _topk_stable(g, topk_group)
        gmask = np.zeros((T, n_group), bool)
        np.put_along_axis(gmask, keep, True, -1)
        emask = np.repeat(gmask, E // n_group, axis=1)
        tmp = np.where(emask, sc, F32(0.0))
        idx = _topk_stable(tmp, top_k)
        return idx, np.take_along_axis(scores, idx, -1)
    raise NotImplementedError(f"topk_method {method!r}")


def finish_weights(w, top_k, norm_topk_prob, routed_scaling_factor, family):
    """§3.3 renorm (+1e-20) and routed scaling: v3 always scales; v2 scales only when not
    renormalised."""
    w = np.asarray(w, F32)
    renorm = top_k > 1 and bool(norm_topk_prob)
    if renorm:
        w = (w / (w.sum(-1, keepdims=True) + F32(1e-20))).astype(F32)
    if family == "deepseek_v3" or not renorm:
        w = (w * F32(routed_scaling_factor)).astype(F32)
    return w


def _sigmoid(x):
    return (F32(0.5) * (F32(1.0) + np.tanh(F32(0.5) * x))).astype(F32)


def _softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, F32(0))
    e = np.exp((x - m).astype(F32))
    return (e / e.sum(axis=axis, keepdims=True)).astype(F32)


def route(x, gate_w, cfg, bias=None):
    """Full §3.3 gate: fp32 logits of the (upcast) x and weight, softmax/sigmoid, selection,
    renorm, scaling. Returns (idx [T, K], w float32 [T, K])."""
    logits = (np.asarray(x, F32) @ np.asarray(gate_w, F32).T).astype(F32)
    func = cfg.get("scoring_func", "softmax")
    if func == "softmax":
        scores = _softmax(logits)
    elif func == "sigmoid":
        scores = _sigmoid(logits)
    else:
        raise NotImplementedError(f"scoring_func {func!r}")
    k = int(cfg["num_experts_per_tok"])
    idx, w = select_experts(scores, cfg.get("topk_method", "greedy"), k,
                            int(cfg.get("n_group") or 1), int(cfg.get("topk_group") or 1), bias)
    w = finish_weights(w, k, cfg.get("norm_topk_prob", False),
                       float(cfg.get("routed_scaling_factor", 1.0)), cfg.get("model_type"))
    return idx, w


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


class Cache:
    """Latent KV cache (§2.7, §9b): per layer c (after kv_a_layernorm, [n, R]) and k_pe (after
    RoPE, [n, dr]); `positions` are the absolute positions of the cached tokens."""

    def __init__(self, n_layers, R, dr):
        self.c = [np.zeros((0, R), F32) for _ in range(n_layers)]
        self.kpe = [np.zeros((0, dr), F32) for _ in range(n_layers)]
        self.positions = np.zeros((0,), np.int64)

    def __len__(self):
        return int(self.positions.shape[0])


class Model:
    def __init__(self, checkpoint_dir, mode="exact", mla="naive", quantize=None):
        if mode not in ("exact", "bf16"):
            raise ValueError("mode must be 'exact' or 'bf16'")
        if mla not in ("naive", "absorbed"):
            raise ValueError("mla must be 'naive' or 'absorbed'")
        self.mode = mode
        self.mla = mla
        cfg, tensors = load_checkpoint(checkpoint_dir, quantize=quantize)
        self.cfg = cfg
        self.family = cfg.get("model_type")
        if self.family not in ("deepseek_v2", "deepseek_v3"):
            raise ValueError(f"unknown model_type {self.family!r}")
        R_ = bf16_round if mode == "bf16" else (lambda a: a)
        self.R = R_
        # Weights: bf16 mode rounds every tensor except the fp32 e_score_correction_bias.
        self.w = {k: (v if k.endswith("e_score_correction_bias") else R_(v)) for k, v in tensors.items()}

        self.L = int(cfg["num_hidden_layers"])
        self.D = int(cfg["hidden_size"])
        self.H = int(cfg["num_attention_heads"])
        self.q_lora = cfg.get("q_lora_rank") or None
        self.Rkv = int(cfg["kv_lora_rank"])
        self.dn = int(cfg["qk_nope_head_dim"])
        self.dr = int(cfg["qk_rope_head_dim"])
        self.dv = int(cfg["v_head_dim"])
        self.eps = float(cfg.get("rms_norm_eps", 1e-6))
        self.vocab = int(cfg["vocab_size"])
        self.n_experts = cfg.get("n_routed_experts") or None
        self.first_dense = int(cfg.get("first_k_dense_replace", 0) or 0)
        self.moe_freq = int(cfg.get("moe_layer_freq", 1) or 1)
        self.inv_freq, self.attn_scaling = rope_params(cfg)
        self.scale = F32(softmax_scale(self.dn + self.dr, cfg.get("rope_scaling")))
        self.lm_head = self.w.get("lm_head.weight")
        if self.lm_head is None and cfg.get("tie_word_embeddings"):
            self.lm_head = self.w["model.embed_tokens.weight"]

    # -- helpers ---------------------------------------------------------------------------

    def is_moe(self, i):
        """§3.1."""
        return bool(self.n_experts) and i >= self.first_dense and i % self.moe_freq == 0

    def new_cache(self):
        return Cache(self.L, self.Rkv, self.dr)

    def _linear(self, x, name):
        """y = x @ W^T, fp32 accumulate, output rounded in bf16 mode."""
        return self.R((x @ self.w[name].T).astype(F32))

    def _rmsnorm(self, x, name, eps=None):
        """§2.2 (HF): fp32 normalise, round, times weight, round."""
        eps = self.eps if eps is None else eps
        var = np.mean(x * x, axis=-1, keepdims=True, dtype=F32)
        y = self.R((x * (F32(1.0) / np.sqrt(var + F32(eps)))).astype(F32))
        return self.R((self.w[name] * y).astype(F32))

    def _mlp(self, x, prefix):
        """§2.8 SwiGLU: down(silu(gate(x)) * up(x)); the product in fp32 from bf16 inputs, rounded."""
        g = self._linear(x, prefix + "gate_proj.weight")
        u = self._linear(x, prefix + "up_proj.weight")
        a = self.R((g * _sigmoid(g) * u).astype(F32))
        return self._linear(a, prefix + "down_proj.weight")

    # -- attention -------------------------------------------------------------------------

    def _attn_inputs(self, i, x, positions, cache):
        """Shared front half of §2.3 / §2.7: q_nope, roped q_pe, and the cache update."""
        p = f"model.layers.{i}.self_attn."
        T = x.shape[0]
        H, dn, dr = self.H, self.dn, self.dr
        if self.q_lora is None:
            q = self._linear(x, p + "q_proj.weight")
        else:
            cq = self._linear(x, p + "q_a_proj.weight")
            cq = self._rmsnorm(cq, p + "q_a_layernorm.weight", 1e-6)
            q = self._linear(cq, p + "q_b_proj.weight")
        q = q.reshape(T, H, dn + dr)
        q_nope = q[..., :dn]
        q_pe = self.R(rope_interleaved(q[..., dn:], positions, self.inv_freq, self.attn_scaling))
        ckv = self._linear(x, p + "kv_a_proj_with_mqa.weight")
        c = self._rmsnorm(ckv[:, :self.Rkv], p + "kv_a_layernorm.weight", 1e-6)
        k_pe = self.R(rope_interleaved(ckv[:, self.Rkv:], positions, self.inv_freq, self.attn_scaling))
        cache.c[i] = np.concatenate([cache.c[i], c], 0)
        cache.kpe[i] = np.concatenate([cache.kpe[i], k_pe], 0)
        return q_nope, q_pe

    def _probs(self, scores, positions, key_positions):
        """§2.6 causal mask over absolute positions, fp32 softmax, probs rounded (bf16 mode)."""
        mask = key_positions[None, :] > np.asarray(positions)[:, None]  # [T, Tk]
        s = np.where(mask[None, :, :], F32(-np.inf), scores).astype(F32)
        return self.R(_softmax(s))

    def _mla_naive(self, i, x, positions, cache):
        """§2.3: expand K and V for all cached + new tokens from the latent cache."""
        p = f"model.layers.{i}.self_attn."
        H, dn, dr, dv = self.H, self.dn, self.dr, self.dv
        T = x.shape[0]
        q_nope, q_pe = self._attn_inputs(i, x, positions, cache)
        c_all, kpe_all = cache.c[i], cache.kpe[i]
        Tk = c_all.shape[0]
        kv = self._linear(c_all, p + "kv_b_proj.weight").reshape(Tk, H, dn + dv)
        k_nope, v = kv[..., :dn], kv[..., dn:]
        Q = np.concatenate([q_nope, q_pe], -1).transpose(1, 0, 2)  # [H, T, dn+dr]
        K = np.concatenate([k_nope, np.broadcast_to(kpe_all[:, None, :], (Tk, H, dr))], -1)
        K = K.transpose(1, 2, 0)  # [H, dn+dr, Tk]
        scores = (np.matmul(Q, K) * self.scale).astype(F32)  # [H, T, Tk]
        P = self._probs(scores, positions, cache.positions)
        O = self.R(np.matmul(P, v.transpose(1, 0, 2)).astype(F32))  # [H, T, dv]
        O = O.transpose(1, 0, 2).reshape(T, H * dv)
        return self._linear(O, p + "o_proj.weight")

    def _mla_absorbed(self, i, x, positions, cache):
        """§2.7: scores and P.c in the latent space; W_UK / W_UV from kv_b_proj viewed [H, dn+dv, R]."""
        p = f"model.layers.{i}.self_attn."
        H, dn, dv = self.H, self.dn, self.dv
        T = x.shape[0]
        q_nope, q_pe = self._attn_inputs(i, x, positions, cache)
        c_all, kpe_all = cache.c[i], cache.kpe[i]
        wkvb = self.w[p + "kv_b_proj.weight"].reshape(H, dn + dv, self.Rkv)
        w_uk, w_uv = wkvb[:, :dn, :], wkvb[:, dn:, :]
        q_abs = self.R(np.matmul(q_nope.transpose(1, 0, 2), w_uk).astype(F32))  # [H, T, R]
        s_lat = np.matmul(q_abs, c_all.T).astype(F32)
        s_pe = np.matmul(q_pe.transpose(1, 0, 2), kpe_all.T).astype(F32)
        scores = ((s_lat + s_pe) * self.scale).astype(F32)
        P = self._probs(scores, positions, cache.positions)
        o_lat = self.R(np.matmul(P, c_all).astype(F32))  # [H, T, R]
        o = self.R(np.matmul(o_lat, w_uv.transpose(0, 2, 1)).astype(F32))  # [H, T, dv]
        o = o.transpose(1, 0, 2).reshape(T, H * dv)
        return self._linear(o, p + "o_proj.weight")

    # -- MoE -------------------------------------------------------------------------------

    def _moe(self, i, x):
        """§3.2-§3.5: routed experts (fp32 combine, rounded) + shared experts."""
        p = f"model.layers.{i}.mlp."
        idx, w = route(x, self.w[p + "gate.weight"], self.cfg,
                       self.w.get(p + "gate.e_score_correction_bias"))
        T, K = idx.shape
        outs = np.zeros((T, K, self.D), F32)
        for e in np.unique(idx):
            t, k = np.nonzero(idx == e)
            outs[t, k] = self._mlp(x[t], f"{p}experts.{int(e)}.")
        y = np.zeros((T, self.D), F32)
        for k in range(K):  # fp32 accumulation over the K slots
            y = (y + outs[:, k, :] * w[:, k:k + 1]).astype(F32)
        y = self.R(y)
        if int(self.cfg.get("n_shared_experts") or 0) > 0:
            y = self.R(y + self._mlp(x, p + "shared_experts."))
        return y

    # -- top level -------------------------------------------------------------------------

    def forward(self, tokens, positions, cache=None):
        """§2.1: one sequence, T tokens at absolute `positions`; causal over cache + chunk.
        Returns (logits float32 [T, vocab], cache)."""
        tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
        positions = np.asarray(positions, dtype=np.int64).reshape(-1)
        if tokens.shape != positions.shape:
            raise ValueError("tokens and positions must have the same length")
        if cache is None:
            cache = self.new_cache()
        cache.positions = np.concatenate([cache.positions, positions])
        attn = self._mla_naive if self.mla == "naive" else self._mla_absorbed
        h = self.R(self.w["model.embed_tokens.weight"][tokens].astype(F32))
        for i in range(self.L):
            pre = f"model.layers.{i}."
            a = self._rmsnorm(h, pre + "input_layernorm.weight")
            h = self.R(h + attn(i, a, positions, cache))
            m = self._rmsnorm(h, pre + "post_attention_layernorm.weight")
            f = self._moe(i, m) if self.is_moe(i) else self._mlp(m, pre + "mlp.")
            h = self.R(h + f)
        h = self._rmsnorm(h, "model.norm.weight")
        logits = self.R((h @ self.lm_head.T).astype(F32))
        return logits.astype(F32), cache

    def generate_greedy(self, prompt, n, return_logits=False):
        """Prefill `prompt`, then n greedy tokens (argmax, lowest id on ties) by 1-token decode
        steps on the latent cache. With return_logits, also returns float32 [len(prompt)+n-1, vocab]."""
        prompt = [int(t) for t in prompt]
        rows = []
        logits, cache = self.forward(prompt, list(range(len(prompt))))
        rows.append(logits)
        out = []
        pos = len(prompt)
        for step in range(n):
            nxt = int(np.argmax(logits[-1]))
            out.append(nxt)
            if step == n - 1:
                break
            logits, cache = self.forward([nxt], [pos], cache)
            rows.append(logits)
            pos += 1
        if return_logits:
            return out, np.concatenate(rows, 0)
        return out


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description="NumPy reference forward of DeepSeek V2/V2-Lite/V3.")
    ap.add_argument("checkpoint", help="checkpoint folder (HF layout)")
    ap.add_argument("--prompt-ids", required=True, help='token ids, e.g. "1 2 3"')
    ap.add_argument("--mode", choices=("exact", "bf16"), default="exact")
    ap.add_argument("--mla", choices=("naive", "absorbed"), default="naive")
    ap.add_argument("--quantize", choices=("none", "fp8"), default="none",
                    help="fp8: quantise a bf16 checkpoint's linear weights as dsc --quantize=fp8 (§5.4)")
    ap.add_argument("--dump-logits", metavar="OUT.npy")
    ap.add_argument("--generate", type=int, default=0, metavar="N")
    args = ap.parse_args(argv)
    prompt = [int(t) for t in args.prompt_ids.replace(",", " ").split()]
    if not prompt:
        ap.error("--prompt-ids is empty")
    model = Model(args.checkpoint, mode=args.mode, mla=args.mla, quantize=args.quantize)
    if any(t < 0 or t >= model.vocab for t in prompt):
        ap.error(f"token id out of range [0, {model.vocab})")
    if args.generate > 0:
        ids, logits = model.generate_greedy(prompt, args.generate, return_logits=True)
        print(" ".join(str(t) for t in ids))
    else:
        logits, _ = model.forward(prompt, list(range(len(prompt))))
    if args.dump_logits:
        np.save(args.dump_logits, np.ascontiguousarray(logits, dtype=F32))
    if args.generate <= 0:
        print(f"logits [{logits.shape[0]}, {logits.shape[1]}]; argmax at last position: "
              f"{int(np.argmax(logits[-1]))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
