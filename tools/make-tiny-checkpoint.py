#!/usr/bin/env python3
# ===- make-tiny-checkpoint.py - random-weight DeepSeek checkpoints ---------===#
#
# Writes a small, deterministic, random-weight DeepSeek-V2 / V2-Lite / V3 / R1
# checkpoint in the exact HuggingFace layout (config.json, sharded safetensors,
# model.safetensors.index.json), for CPU tests and numerics comparisons.
#
# ===------------------------------------------------------------------------===#
"""Write a deterministic random-weight DeepSeek checkpoint in the HuggingFace layout.

Usage:
    /usr/bin/python3 tools/make-tiny-checkpoint.py CONFIG_DIR_OR_JSON -o OUT_DIR
        [--seed N] [--shards N] [--dtype auto|bf16|fp8] [--router structured|random]
        [--max-params N] [--fill normal|tiled]
    /usr/bin/python3 tools/make-tiny-checkpoint.py --self-test

Only NumPy is needed (Debian's python3-numpy for /usr/bin/python3).

What is written (docs/docs/model.md §5, §6):
  * OUT_DIR/config.json: a byte copy of the input config. When --dtype disagrees with the config
    (bf16 for a config with quantization_config, fp8 for one without), the copy is rewritten
    without / with V3's quantization_config so that the folder stays self-consistent.
  * OUT_DIR/model-0000i-of-0000N.safetensors: every tensor of §6.2 (main layers) and, when
    num_nextn_predict_layers is set, the MTP layers of §6.3 at layer indices num_hidden_layers...
    Consumers of the main model must ignore those. Each shard: 8-byte little-endian header length,
    JSON header (`__metadata__` {"format": "pt"} first, then tensors in data order) padded with
    spaces to a multiple of 8, then the raw row-major little-endian data. Inside a shard tensors
    are ordered by element size (largest first) then name, like the safetensors library, so every
    tensor is naturally aligned. Tensors are split over shards in model order by byte size; a
    weight and its weight_scale_inv may land in different shards (read the index).
  * OUT_DIR/model.safetensors.index.json: {"metadata": {"total_size": sum of tensor byte
    sizes}, "weight_map": {name: shard}} (sorted keys, indent 2, as transformers writes it).

Dtypes. --dtype auto means fp8 when the config has quantization_config, else bf16.
  bf16: every tensor BF16 (round-to-nearest-even from the fp32 master values), except
        e_score_correction_bias which is F32.
  fp8:  every Linear listed in §5.1 (attention q_proj/q_a_proj/q_b_proj/kv_a_proj_with_mqa/
        kv_b_proj/o_proj, dense MLP, routed and shared experts, also in MTP layers) is stored as
        F8_E4M3 (float8_e4m3fn: bias 7, subnormals, max 448, no inf) plus an F32
        `weight_scale_inv` of shape [ceil(N/bn), ceil(K/bk)] (weight_block_size, default
        [128, 128]). Per block: scale = amax/448 over the block (the zero padding of a partial
        block does not change amax), q = e4m3(w / scale) with round-to-nearest-even and
        saturation at 448, weight_scale_inv = scale, so that W ~ e4m3_decode(q) * scale_inv.
        Everything else as in bf16 mode (router, norms, embeddings, lm_head, eh_proj BF16;
        e_score_correction_bias F32).

Initialisation (fp32 master values, then cast/quantised):
  * embed_tokens: N(0, 1) (plus the routing-class component, see below). Norm weights:
    1 + 0.1*N(0, 1) (not trivially 1).
  * Linear [N, K]: N(0, 1/K) (std 1/sqrt(in_features)), so every projection roughly preserves
    the RMS of its (RMS-normalised) input and residual contributions are O(1) per layer.
    Routed experts' down_proj is further divided by routed_scaling_factor, so the scaled expert
    mixture (x16 for V2, x2.5 for V3) stays O(1) instead of dominating the residual stream.
  * lm_head: N(0, 1/D), logits O(1). MTP copies: model.layers.L.embed_tokens and
    shared_head.head are byte copies of model.embed_tokens / lm_head, as in the real R1 files.

Router separation (for numerics comparisons), --router structured (default):
  Random routers tie easily. With E Gaussian logits the gap between the k-th and (k+1)-th
  expert has a density that does not vanish at zero; a bf16 run compared with an fp32 reference
  then picks different experts for some tokens, each such flip changes that token's output by
  O(1), and a tolerance-based comparison becomes meaningless. Making the router rows large (std
  several times 1/sqrt(D), --router random) does not help: a relative perturbation of the router
  input moves logits and gaps by the same factor. Measured on the tiny configs (32-token prompts,
  bf16-emulating NumPy forward against fp32): 1-3% of (token, MoE layer) pairs route differently
  at every gain from 1 to 16, and the final logits then differ by up to 9-14% (V2 family) and
  20-26% (V3) of their largest value, instead of ~1-2% when the routing is forced equal.
  So the structured router makes routing a designed function of the token with large margins:
  * C = min(E, D/4) routing classes; U = C orthonormal directions of the D-dim residual stream;
    each vocabulary entry gets a random class c(t). The embedding is N(0, 1) with its component in
    span(U) replaced by a*sqrt(D)*U[:, c(t)] (a = 1). Every Linear that writes the residual
    stream (o_proj, all down_proj) has its output projected off span(U), so the residual stream's
    component in span(U) stays exactly the embedding's class vector in every layer (up to
    bf16/fp8 rounding). RMSNorm weights (1 +- 0.1) leak only ~1% between directions.
  * Router row e = B * sum_c level[c, e] * U[:, c] + a jitter orthogonal to U (std
    0.3/sqrt(D), about +-0.2 logits of token-dependent variation), B chosen so that level 1.0
    gives a logit of ~8 (softmax) or ~5 (sigmoid) at a residual RMS of 2. A token's logits are
    thus B * a * sqrt(D) / rms(h) * level[c(t), :] + jitter: a per-(layer, class) pattern.
  * Levels per MoE layer and class (drawn from the seed):
    greedy: k experts at 0.6-1.0, the rest at 0 (sigmoid scoring: -0.5).
    group_limited_greedy: one leader (0.95-1.0) in each of topk_group random groups, k - topk_group
      followers (0.35-0.6) inside those groups, and a trap expert (0.8) in a dropped group, which
      plain top-k (without group limiting) would pick instead of a follower.
    noaux_tc: k+1 candidates (0.8-1.0, sigmoid 0.95-0.998) spread over topk_group random groups
      (>= 2 per group when k >= 2*topk_group, for the top-2 group sums), the rest at -0.5
      (sigmoid ~0.1). e_score_correction_bias = 2 + rank_in_group*s1 + group*s2 with s1 = 1/8 and
      s2 = 1/32 for the tiny config (in general s1 <= 0.375/(n-1), a power of two): positive like
      the real V3 (minimum about +2.0), pairwise distinct, exactly representable in bf16 for small
      E (an implementation that keeps the bias in bf16 selects the same experts), and spread by
      <= 0.47, less than the candidate/non-candidate score gap. One candidate, the decoy, has a
      bias >= 0.1 below the other candidates of its group, so only the bias excludes it. A trap
      (the highest-bias expert of a dropped group, sigmoid ~0.9) beats the weakest selected
      candidate on score+bias, so only group limiting excludes it.
  Margins are then >= ~1 logit (softmax) or >= ~0.05 in score+bias units (sigmoid), against
  implementation noise of ~0.1 logit / ~0.005. Measured on the tiny configs with seeds 0-2,
  16 prompts of 32 random tokens each: 0 of 10,752 (token, layer) routings differ between the
  bf16-emulating and the fp32 forward; final logits differ by 1.1-1.9% of their largest value; and
  the tests bite: ignoring the bias for selection changes ~80% of V3 routings, dropping group
  limiting changes ~95% (V3) and 100% (V2). transformers 5.17 (fp32) reproduces the NumPy fp32
  logits of all three tiny checkpoints to ~1e-6 relative. Limits: routing does not depend on the
  attention context (only on the token class, the layer and the small jitter); experts of one
  class all get similar weights; the design assumes the prompt is made of vocabulary tokens whose
  class is what the embedding says (it always is), not of out-of-range ids.
  --router random is the plain alternative: rows N(0, (g/sqrt(D))^2) with g = ROUTER_GAIN_SOFTMAX
  (4) or ROUTER_GAIN_SIGMOID (2; a larger gain saturates sigmoid scores at 1.0 and creates ties),
  and e_score_correction_bias = 2 + perm(E)/2^ceil(log2 E) (positive, distinct, bf16-exact for
  E <= 64). It routes as a random model would, with the tie problem above.

Determinism: each tensor is drawn from its own generator seeded with (seed, SHA-256 of its name),
so values do not depend on the number of shards, the order of generation or the other tensors;
the routing construction uses float64 einsum and Gram-Schmidt (no BLAS/LAPACK, whose summation
order may vary by build). The same config, seed, dtype, router and shard count give
byte-identical files with a given NumPy (NumPy does not promise identical Generator streams
across major versions).

--fill tiled (for load-time measurements of full-size configs, not for numerics): every Linear
and the embeddings repeat one random block (2^20 values per distinct std, drawn from the seed,
each tensor starting at its own offset in it) instead of drawing each tensor, and fp8 Linears
share one scale per std (weight_scale_inv constant); norms and routers are drawn as usual.
Writing is then bound by the disk (a V2-Lite-sized bf16 checkpoint, 31 GB, in well under a
minute on an NVMe disk). Needs --router random; lift --max-params for full-size configs.

--self-test checks the bf16 and e4m3 encoders against independent implementations (all 256 e4m3
codes decode/encode consistently, 448, 2^-9, 0.0, ties to even, saturation) and exits 0 or 1.
The functions bf16_encode, bf16_decode, e4m3_encode, e4m3_decode and dequantize_fp8 are meant
to be imported by tests (importlib, the file name has dashes).

Errors (unreadable config, unknown model_type, inconsistent dimensions) print one line to
stderr and exit with status 1.
"""

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import struct
import sys

import numpy as np

ROUTER_GAIN_SOFTMAX = 4.0
ROUTER_GAIN_SIGMOID = 2.0
NORM_JITTER = 0.1
DEFAULT_QUANTIZATION_CONFIG = {
    "activation_scheme": "dynamic",
    "fmt": "e4m3",
    "quant_method": "fp8",
    "weight_block_size": [128, 128],
}
KNOWN_MODEL_TYPES = ("deepseek_v2", "deepseek_v3")
ITEMSIZE = {"F32": 4, "BF16": 2, "F8_E4M3": 1}


class CheckpointError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


# ---------------------------------------------------------------------------------------------
# bf16 and float8_e4m3fn encodings
# ---------------------------------------------------------------------------------------------


def bf16_encode(x):
    """fp32 -> bf16 bit patterns (uint16), round to nearest, ties to even. NaN not handled."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounding = ((u >> np.uint32(16)) & np.uint32(1)) + np.uint32(0x7FFF)
    return ((u + rounding) >> np.uint32(16)).astype(np.uint16)


def bf16_decode(bits):
    """bf16 bit patterns (uint16) -> fp32."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)


def _e4m3_table():
    codes = np.arange(256, dtype=np.int64)
    sign = (codes >> 7) & 1
    exp = (codes >> 3) & 0xF
    man = codes & 7
    mag = np.where(exp == 0, man / 8.0 * 2.0**-6, (1.0 + man / 8.0) * np.exp2(exp - 7.0))
    val = np.where(sign == 1, -mag, mag)
    val[(exp == 15) & (man == 7)] = np.nan  # 0x7F and 0xFF; e4m3fn has no infinities
    return val


E4M3_VALUES = _e4m3_table()  # float64[256], decoded value of every code
E4M3_POSITIVE = E4M3_VALUES[:127]  # codes 0x00..0x7E, strictly increasing from 0 to 448
E4M3_MAX = 448.0


def e4m3_decode(codes):
    """float8_e4m3fn codes (uint8) -> fp32 values (NaN for 0x7F/0xFF)."""
    return E4M3_VALUES[np.asarray(codes, dtype=np.uint8)].astype(np.float32)


def e4m3_encode(x):
    """fp32 -> float8_e4m3fn codes (uint8): round to nearest, ties to even, saturate at +-448.

    The sign is kept for values that round to zero (-tiny -> 0x80), like a hardware cast.
    NaN inputs are not handled.
    """
    x = np.asarray(x, dtype=np.float32)
    a = np.minimum(np.abs(x).astype(np.float64), E4M3_MAX)
    hi = np.clip(np.searchsorted(E4M3_POSITIVE, a, side="left"), 1, 126)
    lo = hi - 1
    d_lo = a - E4M3_POSITIVE[lo]
    d_hi = E4M3_POSITIVE[hi] - a
    # Neighbouring codes differ in the last mantissa bit, so "even code" is "even mantissa".
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & (hi % 2 == 0))
    code = np.where(pick_hi, hi, lo).astype(np.uint8)
    return code | (np.signbit(x).astype(np.uint8) << np.uint8(7))


def quantize_fp8(w, block):
    """Block-wise e4m3 quantisation of an fp32 [N, K] matrix -> (codes uint8 [N, K], scale_inv
    f32 [ceil(N/bn), ceil(K/bk)]) with scale_inv = amax/448 per block."""
    w = np.asarray(w, dtype=np.float32)
    n, k = w.shape
    bn, bk = block
    rows, cols = -(-n // bn), -(-k // bk)
    padded = np.zeros((rows * bn, cols * bk), dtype=np.float32)
    padded[:n, :k] = w
    blocks = padded.reshape(rows, bn, cols, bk)
    amax = np.abs(blocks).max(axis=(1, 3))
    scale = (amax / np.float32(E4M3_MAX)).astype(np.float32)
    scale[scale == 0] = np.float32(1.0)
    scaled = blocks / scale[:, None, :, None]
    codes = e4m3_encode(scaled).reshape(rows * bn, cols * bk)[:n, :k]
    return np.ascontiguousarray(codes), scale


def dequantize_fp8(codes, scale_inv, block=(128, 128)):
    """§5.2: W[n, k] = e4m3(codes[n, k]) * scale_inv[n // bn, k // bk], in fp32."""
    codes = np.asarray(codes, dtype=np.uint8)
    bn, bk = block
    s = np.repeat(np.repeat(np.asarray(scale_inv, np.float32), bn, axis=0), bk, axis=1)
    return e4m3_decode(codes) * s[: codes.shape[0], : codes.shape[1]]


# ---------------------------------------------------------------------------------------------
# Self-test
# ---------------------------------------------------------------------------------------------


def _bf16_encode_reference(x):
    """Independent bf16 RNE: choose the nearer of the two bf16 neighbours in float64."""
    x = np.asarray(x, dtype=np.float32)
    u = x.view(np.uint32)
    lo = u & np.uint32(0xFFFF0000)
    hi = lo + np.uint32(0x10000)
    xf = x.astype(np.float64)
    d_lo = np.abs(xf - lo.view(np.float32).astype(np.float64))
    d_hi = np.abs(hi.view(np.float32).astype(np.float64) - xf)
    lo_even = ((lo >> np.uint32(16)) & np.uint32(1)) == 0
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & ~lo_even)
    return (np.where(pick_hi, hi, lo) >> np.uint32(16)).astype(np.uint16)


def _e4m3_encode_reference(x):
    """Independent e4m3 RNE by arithmetic: quantum 2^(e-3), e = max(floor(log2|x|), -6)."""
    x = np.asarray(x, dtype=np.float32)
    a = np.minimum(np.abs(x).astype(np.float64), E4M3_MAX)
    _, ex = np.frexp(np.where(a > 0, a, 1.0))
    e = np.maximum(ex - 1, -6)
    quantum = np.exp2(e - 3.0)
    n = np.rint(a / quantum)  # exact division by a power of two; rint rounds half to even
    v = n * quantum
    _, vex = np.frexp(np.where(v > 0, v, 1.0))
    ve = vex - 1
    normal = v >= 2.0**-6
    exp_field = np.where(normal, ve + 7, 0)
    man_field = np.where(normal, v / np.exp2(ve - 3.0) - 8.0, v / 2.0**-9)
    code = (exp_field * 8 + man_field).astype(np.uint8)
    return code | (np.signbit(x).astype(np.uint8) << np.uint8(7))


def self_test():
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)

    rng = np.random.default_rng(12345)

    # bf16: random values over a wide range, exact ties, and known patterns.
    x = (rng.standard_normal(200000) * np.exp2(rng.uniform(-30, 30, 200000))).astype(np.float32)
    ties = (rng.integers(0, 2**31, 50000, dtype=np.uint32) & np.uint32(0xFFFF0000)) | np.uint32(
        0x8000
    )
    x = np.concatenate([x, ties.view(np.float32)])
    x = x[np.isfinite(x) & (np.abs(x) < 3.0e38)]
    check(np.array_equal(bf16_encode(x), _bf16_encode_reference(x)), "bf16 encode vs reference")
    back = bf16_decode(bf16_encode(x)).astype(np.float64)
    rel = np.abs(back - x) / np.maximum(np.abs(x.astype(np.float64)), 1e-300)
    check(float(rel[np.abs(x) > 1e-37].max()) <= 2.0**-8, "bf16 round-trip error above half ulp")
    known = [(1.0, 0x3F80), (1.0 + 2.0**-8, 0x3F80), (1.0 + 3 * 2.0**-8, 0x3F82), (-2.0, 0xC000),
             (0.0, 0x0000), (-0.0, 0x8000)]
    for value, bits in known:
        check(int(bf16_encode(np.float32(value))) == bits, f"bf16({value}) != {bits:#06x}")
    b = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    finite = np.isfinite(bf16_decode(b))
    check(np.array_equal(bf16_encode(bf16_decode(b))[finite], b[finite]), "bf16 code round trip")

    # e4m3: all 256 codes.
    codes = np.arange(256, dtype=np.uint32).astype(np.uint8)
    vals = e4m3_decode(codes)
    nan_codes = {0x7F, 0xFF}
    for c in range(256):
        if c in nan_codes:
            check(np.isnan(vals[c]), f"e4m3 code {c:#04x} should be NaN")
        else:
            check(np.isfinite(vals[c]), f"e4m3 code {c:#04x} should be finite")
            check(int(e4m3_encode(vals[c])) == c, f"e4m3 encode(decode({c:#04x})) != {c:#04x}")
            check(int(_e4m3_encode_reference(vals[c])) == c, f"e4m3 reference on {c:#04x}")
    check(np.all(np.diff(E4M3_POSITIVE) > 0), "e4m3 positive codes not increasing")
    check(vals[0x7E] == 448.0 and vals[0xFE] == -448.0, "e4m3 max != 448")
    check(vals[0x01] == 2.0**-9, "e4m3 smallest subnormal != 2^-9")
    check(vals[0x08] == 2.0**-6, "e4m3 smallest normal != 2^-6")
    check(vals[0x00] == 0.0 and not np.signbit(vals[0x00]), "e4m3 0x00 != +0")
    check(vals[0x80] == 0.0 and np.signbit(vals[0x80]), "e4m3 0x80 != -0")
    check(vals[0x38] == 1.0, "e4m3 0x38 != 1.0")
    known = [  # a list, not a dict: 0.0 and -0.0 are equal keys
        (448.0, 0x7E), (2.0**-9, 0x01), (0.0, 0x00), (-0.0, 0x80), (500.0, 0x7E), (1.0e6, 0x7E),
        (-1.0e6, 0xFE), (464.0, 0x7E), (2.0**-10, 0x00), (3 * 2.0**-11, 0x01),
        (3 * 2.0**-10, 0x02), (1.0625, 0x38), (1.1875, 0x3A), (1.0, 0x38), (-1.5, 0xBC),
        (240.0, 0x77), (15 * 2.0**-10, 0x08), (-(2.0**-12), 0x80),
    ]
    for value, code in known:
        got = int(e4m3_encode(np.float32(value)))
        check(got == code, f"e4m3({value!r}) = {got:#04x}, expected {code:#04x}")

    # e4m3: random values over the whole range and all exact midpoints, table vs arithmetic.
    sign = rng.choice([-1.0, 1.0], 200000)
    x = (sign * np.exp2(rng.uniform(-12, 9.2, 200000))).astype(np.float32)
    mids = ((E4M3_POSITIVE[:-1] + E4M3_POSITIVE[1:]) / 2).astype(np.float32)
    x = np.concatenate([x, mids, -mids])
    enc = e4m3_encode(x)
    check(np.array_equal(enc, _e4m3_encode_reference(x)), "e4m3 encode vs reference")
    dec = e4m3_decode(enc).astype(np.float64)
    err = np.abs(dec - np.clip(x, -448, 448))
    _, ex = np.frexp(np.clip(np.abs(x), 2.0**-6, 448).astype(np.float64))
    half_ulp = np.exp2(ex - 1 - 3.0) / 2
    check(bool(np.all(err <= half_ulp)), "e4m3 round-trip error above half ulp")

    # Block quantisation with a partial block round-trips within e4m3 precision.
    w = rng.standard_normal((200, 300)).astype(np.float32)
    q, s = quantize_fp8(w, (128, 128))
    check(q.shape == (200, 300) and s.shape == (2, 3), "quantize_fp8 shapes")
    wd = dequantize_fp8(q, s)
    check(bool(np.all(np.abs(wd - w) <= np.abs(w) * 2.0**-4 + s.max() * 2.0**-9)), "fp8 error")
    check(bool(np.all(np.abs(e4m3_decode(q)) <= 448)), "fp8 saturation")

    for f in failures:
        print(f"self-test: FAIL: {f}", file=sys.stderr)
    print(f"self-test: {'FAILED' if failures else 'ok'} ({len(failures)} failures)")
    return 1 if failures else 0


# ---------------------------------------------------------------------------------------------
# Model description
# ---------------------------------------------------------------------------------------------


class Model:
    """The config fields that decide which tensors exist and their shapes."""

    def __init__(self, cfg):
        if not isinstance(cfg, dict):
            raise CheckpointError("config.json is not a JSON object")
        self.model_type = cfg.get("model_type")
        if self.model_type not in KNOWN_MODEL_TYPES:
            raise CheckpointError(
                f"unknown model_type {self.model_type!r} (expected one of "
                f"{', '.join(KNOWN_MODEL_TYPES)})"
            )

        def integer(key, default=None, allow_none=False, minimum=1):
            value = cfg.get(key, default)
            if value is None and allow_none:
                return None
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise CheckpointError(f"config field {key!r} must be an integer >= {minimum}, "
                                      f"got {value!r}")
            return value

        self.vocab = integer("vocab_size")
        self.hidden = integer("hidden_size")
        self.intermediate = integer("intermediate_size")
        self.layers = integer("num_hidden_layers")
        self.heads = integer("num_attention_heads")
        self.q_lora_rank = integer("q_lora_rank", allow_none=True, minimum=0) or None
        self.kv_lora_rank = integer("kv_lora_rank")
        self.qk_nope = integer("qk_nope_head_dim", minimum=0)
        self.qk_rope = integer("qk_rope_head_dim")
        self.v_head = integer("v_head_dim")
        self.experts = integer("n_routed_experts", allow_none=True, minimum=0) or None
        self.first_dense = integer("first_k_dense_replace", 0, minimum=0)
        self.moe_freq = integer("moe_layer_freq", 1)
        self.mtp_layers = integer("num_nextn_predict_layers", 0, allow_none=True, minimum=0) or 0
        if self.qk_rope % 2:
            raise CheckpointError("qk_rope_head_dim must be even")
        if self.experts:
            self.moe_intermediate = integer("moe_intermediate_size")
            self.shared = integer("n_shared_experts", 0, allow_none=True, minimum=0) or 0
            self.top_k = integer("num_experts_per_tok")
            groups = integer("n_group", 1, allow_none=True) or 1
            if self.experts % groups:
                raise CheckpointError(f"n_routed_experts ({self.experts}) is not divisible by "
                                      f"n_group ({groups})")
            self.groups = groups
            self.topk_group = integer("topk_group", 1, allow_none=True) or 1
            if self.top_k > self.experts:
                raise CheckpointError("num_experts_per_tok is larger than n_routed_experts")
            self.scoring = cfg.get("scoring_func", "softmax")
            if self.scoring not in ("softmax", "sigmoid"):
                raise CheckpointError(f"unknown scoring_func {self.scoring!r}")
            self.topk_method = cfg.get("topk_method", "greedy")
            self.routed_scale = float(cfg.get("routed_scaling_factor", 1.0) or 1.0)
        if cfg.get("attention_bias"):
            raise CheckpointError("attention_bias = true is not supported (no DeepSeek release "
                                  "has it)")
        block = (cfg.get("quantization_config") or {}).get("weight_block_size", [128, 128])
        if (not isinstance(block, list) or len(block) != 2
                or not all(isinstance(b, int) and b > 0 for b in block)):
            raise CheckpointError(f"bad quantization_config.weight_block_size {block!r}")
        self.block = tuple(block)
        self.quantized_config = cfg.get("quantization_config") is not None

    def is_moe(self, i):
        return bool(self.experts) and i >= self.first_dense and i % self.moe_freq == 0


class Tensor:
    """One tensor of the checkpoint: its name, storage dtype, shape and how to make its bytes."""

    def __init__(self, name, dtype, shape, make):
        self.name, self.dtype, self.shape, self.make = name, dtype, tuple(shape), make

    @property
    def numel(self):
        return math.prod(self.shape)

    @property
    def nbytes(self):
        return self.numel * ITEMSIZE[self.dtype]


class StructuredRouting:
    """Router, embedding and writer weights built so that routing has large margins (docstring).

    C = min(E, D // 4) routing classes; U [D, C] orthonormal (float64 Gram-Schmidt, no LAPACK);
    every token has a class c(t). The embedding carries a * sqrt(D) * U[:, c(t)] and is otherwise
    orthogonal to U; every weight that writes the residual stream (o_proj, down_proj) has its
    output projected off U, so the residual stream's component in span(U) is exactly the
    embedding's class vector at every layer. A router row is B * sum_c level[c, e] * U[:, c]
    (plus a small jitter orthogonal to U), so the logits of a token are
    ~ B * a * sqrt(D) / rms(h) * level[c(t), :]: a designed pattern per class and layer.
    """

    AMPLITUDE = 1.0  # a: per-element RMS of the class component of the embedding
    RMS_ESTIMATE = 2.0  # typical RMS of the residual stream at the MoE layers
    TOP_LOGIT = {"softmax": 8.0, "sigmoid": 5.0}  # router logit of a level-1.0 expert
    JITTER = 0.3  # token-dependent part of the router rows, ~0.2 logits

    def __init__(self, model, gen):
        self.m, self.g = model, gen
        d = model.hidden
        self.classes = max(1, min(model.experts, d // 4))
        basis = gen.rng("routing.subspace").standard_normal((d, self.classes))
        for j in range(self.classes):  # modified Gram-Schmidt, deterministic numpy reductions
            v = basis[:, j]
            for i in range(j):
                v = v - np.sum(v * basis[:, i]) * basis[:, i]
            basis[:, j] = v / np.sqrt(np.sum(v * v))
        self.U = basis  # float64 [D, C]
        self.token_class = gen.rng("routing.classes").integers(0, self.classes, model.vocab)
        self._designs = {}

    def _remove_u(self, x):
        """x [..., D] minus its component in span(U), in float64 (einsum, no BLAS)."""
        x = np.asarray(x, dtype=np.float64)
        return x - np.einsum("...c,dc->...d", np.einsum("...d,dc->...c", x, self.U), self.U)

    def project_writer(self, w):
        """w [D, K] (a Linear whose output is added to the residual stream)."""
        return self._remove_u(w.T).T.astype(np.float32)

    def embedding(self, z):
        e = self._remove_u(z) + self.AMPLITUDE * math.sqrt(self.m.hidden) \
            * self.U[:, self.token_class].T
        return e.astype(np.float32)

    def router(self, layer, key):
        m = self.m
        levels, _ = self.design(layer)
        b = self.TOP_LOGIT[m.scoring] * self.RMS_ESTIMATE / (self.AMPLITUDE * math.sqrt(m.hidden))
        w = b * np.einsum("ce,dc->ed", levels, self.U)
        jitter = self.g.normal(key, (m.experts, m.hidden), self.JITTER / math.sqrt(m.hidden))
        return (w + self._remove_u(jitter)).astype(np.float32)

    def correction_bias(self, layer):
        return self.design(layer)[1].astype("<f4")

    def design(self, layer):
        """(levels [C, E], e_score_correction_bias [E] or None) of one MoE layer."""
        if layer in self._designs:
            return self._designs[layer]
        m = self.m
        rng = self.g.rng(f"routing.design.{layer}")
        E, k = m.experts, m.top_k
        G = m.groups
        kept_groups = min(m.topk_group, G)
        n = E // G
        levels = np.full((self.classes, E), -0.5 if m.scoring == "sigmoid" else 0.0)
        bias = None
        if m.topk_method == "noaux_tc":
            # Positive, distinct, bf16-exact for small E: 2 + rank_in_group*s1 + group*s2, with
            # a within-group spread <= 0.375 (below the candidate/non-candidate score gap).
            s1 = 0.125 if n <= 1 else min(0.125, 2.0 ** math.floor(math.log2(0.375 / (n - 1))))
            s2 = s1 / 2 ** math.ceil(math.log2(G)) if G > 1 else 0.0
            rank = np.concatenate([rng.permutation(n) for _ in range(G)])
            bias = 2.0 + rank * s1 + (np.arange(E) // n) * s2
            gap_ranks = math.ceil(0.1 / s1)  # decoy bias at least 0.1 below the others
        for c in range(self.classes):
            kept = rng.choice(G, kept_groups, replace=False)
            members = [np.arange(g * n, (g + 1) * n) for g in kept]
            if m.topk_method == "noaux_tc":
                # k+1 candidates with near-saturated sigmoid scores spread over the kept groups
                # (>= 2 per group when possible, for the top-2 group sums); the extra one, the
                # decoy, has a bias >= 0.1 below the other candidates of its group, so the bias
                # (and only the bias) excludes it.
                counts = [k // kept_groups + (i < k % kept_groups) for i in range(kept_groups)]
                chosen = []
                for i, mem in enumerate(members):
                    if i == 0 and counts[0] + 1 <= n:
                        eligible = mem[rank[mem] >= gap_ranks]
                        if len(eligible) >= counts[0]:
                            others = rng.choice(eligible, counts[0], replace=False)
                            low = mem[rank[mem] <= rank[others].min() - gap_ranks]
                            chosen += list(others) + [rng.choice(low)]
                            continue
                    chosen += list(rng.choice(mem, min(counts[i], n), replace=False))
                levels[c, chosen] = rng.uniform(0.8, 1.0, len(chosen))
                # Trap: the highest-bias expert of a dropped group, sigmoid ~0.9. Its score+bias
                # beats the weakest selected candidate, so only group limiting excludes it; its
                # group's top-2 sum stays >= 0.3 below every kept group's.
                dropped = np.setdiff1d(np.arange(G), kept)
                if len(dropped) and n > 1:
                    g = rng.choice(dropped)
                    trap = g * n + int(np.argmax(rank[g * n:(g + 1) * n]))
                    selected = chosen[:-1] if len(chosen) > k else chosen
                    if bias[trap] - bias[selected].min() >= 0.25:
                        levels[c, trap] = 0.45
            elif m.topk_method == "group_limited_greedy" and G > 1:
                # One leader per kept group (level ~1), followers in the kept groups (0.35-0.6),
                # and a trap expert (0.8) in a dropped group: without group limiting the trap
                # would replace a follower.
                leaders = [rng.choice(mem) for mem in members][:k]
                pool = np.setdiff1d(np.concatenate(members), leaders)
                followers = rng.choice(pool, k - len(leaders), replace=False)
                levels[c, leaders] = rng.uniform(0.95, 1.0, len(leaders))
                levels[c, followers] = rng.uniform(0.35, 0.6, len(followers))
                dropped = np.setdiff1d(np.arange(G), kept)
                if len(dropped) and len(followers):
                    levels[c, rng.choice(dropped) * n + rng.integers(n)] = 0.8
            else:
                chosen = rng.choice(E, k, replace=False)
                levels[c, chosen] = rng.uniform(0.6, 1.0, k)
        self._designs[layer] = (levels, bias)
        return self._designs[layer]


class Generator:
    """Builds the fp32 master values of every tensor, deterministically from (seed, name)."""

    TILE = 1 << 20  # values per block of --fill tiled

    def __init__(self, model, seed, fp8, router, tiled=False):
        self.m, self.seed, self.fp8, self.tiled = model, seed, fp8, tiled
        self._blocks = {}
        self.routing = StructuredRouting(model, self) if router == "structured" and model.experts \
            else None
        self._quantized = {}

    def rng(self, key):
        digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
        return np.random.default_rng([self.seed, digest])

    def normal(self, key, shape, std):
        return self.rng(key).standard_normal(shape, dtype=np.float32) * np.float32(std)

    def master(self, key, shape, std, writer):
        w = self.normal(key, shape, std)
        return self.routing.project_writer(w) if writer and self.routing else w

    # --- tensor kinds; `key` names the master tensor (MTP copies share their source's key) ---

    def bf16(self, values):
        return bf16_encode(values).astype("<u2")

    # --- --fill tiled: one encoded block per (kind, std), repeated from a per-tensor offset ---

    def block(self, kind, std):
        """(codes, scale) of the block for `kind` ("bf16" or "fp8") and `std` (fp8: one scale)."""
        key = (kind, float(std))
        if key not in self._blocks:
            master = self.normal(f"tiled.{kind}.{std!r}", (self.TILE,), std)
            if kind == "bf16":
                self._blocks[key] = (self.bf16(master), None)
            else:
                scale = float(np.max(np.abs(master))) / 448.0
                self._blocks[key] = (e4m3_encode(master / np.float32(scale)), scale)
        return self._blocks[key]

    def tile(self, key, codes, shape):
        start = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little") % len(codes)
        return np.resize(np.roll(codes, -start), math.prod(shape)).reshape(shape)

    def embedding(self, key, shape):
        if self.tiled:
            return lambda: self.tile(key, self.block("bf16", 1.0)[0], shape)

        def make():
            z = self.normal(key, shape, 1.0)
            return self.bf16(self.routing.embedding(z) if self.routing else z)
        return make

    def norm(self, key, shape):
        return lambda: self.bf16(np.float32(1.0) + self.normal(key, shape, NORM_JITTER))

    def linear_bf16(self, key, shape, std, writer=False):
        if self.tiled:
            return lambda: self.tile(key, self.block("bf16", std)[0], shape)
        return lambda: self.bf16(self.master(key, shape, std, writer))

    def router(self, layer, key, shape):
        if self.routing:
            return lambda: self.bf16(self.routing.router(layer, key))
        gain = ROUTER_GAIN_SIGMOID if self.m.scoring == "sigmoid" else ROUTER_GAIN_SOFTMAX
        return lambda: self.bf16(self.normal(key, shape, gain / math.sqrt(shape[1])))

    def correction_bias(self, layer, key, experts):
        if self.routing:
            return lambda: self.routing.correction_bias(layer)

        def make():
            spacing = 2.0 ** -math.ceil(math.log2(max(experts, 2)))
            perm = self.rng(key).permutation(experts).astype(np.float64)
            return (2.0 + perm * spacing).astype("<f4")
        return make

    def quantized(self, key, shape, std, writer):
        if key not in self._quantized:
            self._quantized[key] = quantize_fp8(self.master(key, shape, std, writer), self.m.block)
        return self._quantized[key]

    def linear_fp8(self, key, shape, std, writer=False):
        if self.tiled:
            return lambda: self.tile(key, self.block("fp8", std)[0], shape)
        return lambda: self.quantized(key, shape, std, writer)[0]

    def linear_fp8_scale(self, key, shape, std, writer=False, scale_shape=None):
        if self.tiled:
            return lambda: np.full(scale_shape, self.block("fp8", std)[1], dtype="<f4")
        return lambda: self.quantized(key, shape, std, writer)[1].astype("<f4")


def plan(model, seed, fp8, router="structured", tiled=False):
    """Every tensor of the checkpoint in model order (embed, layers, norm, lm_head, MTP)."""
    m, g = model, Generator(model, seed, fp8, router, tiled)
    out = []
    D = m.hidden

    def add(name, dtype, shape, make):
        out.append(Tensor(name, dtype, shape, make))

    def norm(name, size):
        add(name, "BF16", (size,), g.norm(name, (size,)))

    def linear(name, n, k, scale=1.0, quantizable=True, writer=False):
        std = scale / math.sqrt(k)
        if fp8 and quantizable:
            bn, bk = m.block
            add(name, "F8_E4M3", (n, k), g.linear_fp8(name, (n, k), std, writer))
            scales = (-(-n // bn), -(-k // bk))
            add(name + "_scale_inv", "F32", scales,
                g.linear_fp8_scale(name, (n, k), std, writer, scales))
        else:
            add(name, "BF16", (n, k), g.linear_bf16(name, (n, k), std, writer))

    def mlp(prefix, width, down_scale=1.0):
        linear(f"{prefix}.gate_proj.weight", width, D)
        linear(f"{prefix}.up_proj.weight", width, D)
        linear(f"{prefix}.down_proj.weight", D, width, down_scale, writer=True)

    def decoder_layer(i):
        p = f"model.layers.{i}"
        norm(f"{p}.input_layernorm.weight", D)
        qk_head = m.qk_nope + m.qk_rope
        if m.q_lora_rank is None:
            linear(f"{p}.self_attn.q_proj.weight", m.heads * qk_head, D)
        else:
            linear(f"{p}.self_attn.q_a_proj.weight", m.q_lora_rank, D)
            norm(f"{p}.self_attn.q_a_layernorm.weight", m.q_lora_rank)
            linear(f"{p}.self_attn.q_b_proj.weight", m.heads * qk_head, m.q_lora_rank)
        linear(f"{p}.self_attn.kv_a_proj_with_mqa.weight", m.kv_lora_rank + m.qk_rope, D)
        norm(f"{p}.self_attn.kv_a_layernorm.weight", m.kv_lora_rank)
        linear(f"{p}.self_attn.kv_b_proj.weight", m.heads * (m.qk_nope + m.v_head), m.kv_lora_rank)
        linear(f"{p}.self_attn.o_proj.weight", D, m.heads * m.v_head, writer=True)
        norm(f"{p}.post_attention_layernorm.weight", D)
        if not m.is_moe(i):
            mlp(f"{p}.mlp", m.intermediate)
            return
        name = f"{p}.mlp.gate.weight"
        add(name, "BF16", (m.experts, D), g.router(i, name, (m.experts, D)))
        if m.topk_method == "noaux_tc":
            name = f"{p}.mlp.gate.e_score_correction_bias"
            add(name, "F32", (m.experts,), g.correction_bias(i, name, m.experts))
        for e in range(m.experts):
            mlp(f"{p}.mlp.experts.{e}", m.moe_intermediate, 1.0 / m.routed_scale)
        if m.shared:
            mlp(f"{p}.mlp.shared_experts", m.shared * m.moe_intermediate)

    add("model.embed_tokens.weight", "BF16", (m.vocab, D),
        g.embedding("model.embed_tokens.weight", (m.vocab, D)))
    for i in range(m.layers):
        decoder_layer(i)
    norm("model.norm.weight", D)
    linear("lm_head.weight", m.vocab, D, quantizable=False)
    for i in range(m.layers, m.layers + m.mtp_layers):
        p = f"model.layers.{i}"
        add(f"{p}.embed_tokens.weight", "BF16", (m.vocab, D),
            g.embedding("model.embed_tokens.weight", (m.vocab, D)))
        norm(f"{p}.enorm.weight", D)
        norm(f"{p}.hnorm.weight", D)
        linear(f"{p}.eh_proj.weight", D, 2 * D, quantizable=False)
        decoder_layer(i)
        norm(f"{p}.shared_head.norm.weight", D)
        add(f"{p}.shared_head.head.weight", "BF16", (m.vocab, D),
            g.linear_bf16("lm_head.weight", (m.vocab, D), 1.0 / math.sqrt(D)))
    return out


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def split_into_shards(tensors, shards):
    """Contiguous split in model order, about equal bytes per shard, no shard empty."""
    if shards > len(tensors):
        raise CheckpointError(f"--shards {shards} is more than the {len(tensors)} tensors")
    total = sum(t.nbytes for t in tensors)
    groups, acc = [[]], 0
    for j, t in enumerate(tensors):
        current = len(groups) - 1
        remaining_after_current = shards - 1 - current
        if groups[-1] and remaining_after_current > 0 and (
                acc >= total * (current + 1) / shards
                or len(tensors) - j == remaining_after_current):
            groups.append([])
        groups[-1].append(t)
        acc += t.nbytes
    assert len(groups) == shards
    return groups


def write_safetensors(path, tensors):
    order = sorted(tensors, key=lambda t: (-ITEMSIZE[t.dtype], t.name))
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for t in order:
        header[t.name] = {"dtype": t.dtype, "shape": list(t.shape),
                          "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for t in order:
            data = np.ascontiguousarray(t.make())
            if data.shape != t.shape or data.nbytes != t.nbytes:
                raise AssertionError(f"{t.name}: made {data.shape}/{data.nbytes} bytes, "
                                     f"planned {t.shape}/{t.nbytes}")
            f.write(data.tobytes())


def write_config(src_path, dst_path, cfg, fp8):
    """Copy config.json byte for byte unless the chosen dtype contradicts it."""
    has_q = cfg.get("quantization_config") is not None
    if fp8 == has_q:
        if os.path.abspath(src_path) != os.path.abspath(dst_path):
            shutil.copyfile(src_path, dst_path)
        return False
    cfg = dict(cfg)
    if fp8:
        cfg["quantization_config"] = dict(DEFAULT_QUANTIZATION_CONFIG)
    else:
        cfg.pop("quantization_config", None)
    with open(dst_path, "w", encoding="utf-8") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    return True


SHARD_RE = re.compile(r"^model-\d{5}-of-\d{5}\.safetensors$")


# --------------------------------------------------------------------------
# A tiny tokenizer in the HuggingFace format (tokenizer.json and
# tokenizer_config.json), so that text in and text out can be tested on the
# tiny models: the BOS/EOS tokens at the config's ids, DeepSeek's chat
# tokens, the 256 byte-level symbols, and BPE merges learnt (greedily, by
# pair frequency) on a fixed English text until the vocabulary is full.

_TOKENIZER_TEXT = (
    "The quick brown fox jumps over the lazy dog. DeepSeek models route every "
    "token through a few experts and attend over a compressed latent cache. "
    "Hello, world! How are you today? I am fine, thank you. 0123456789 "
    "def main(): return 42\n\nUser: hi\n\nAssistant: hello there. "
) * 4
_SPLIT = (r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?"
          r"[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def _bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map (ByteLevel)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) \
        + list(range(ord("\xae"), ord("\xff") + 1))
    chars, extra = list(keep), 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(keep, chars)}


def write_tokenizer(out_dir, cfg):
    vocab_size = int(cfg["vocab_size"])
    bos, eos = int(cfg.get("bos_token_id", 0)), int(cfg.get("eos_token_id", 1))
    v3 = cfg.get("model_type") == "deepseek_v3"
    specials = {bos: "<｜begin▁of▁sentence｜>", eos: "<｜end▁of▁sentence｜>"}
    chat = ["<｜User｜>", "<｜Assistant｜>", "<think>", "</think>"] if v3 else []
    vocab, next_id = {}, 0

    def take_id():
        nonlocal next_id
        while next_id in specials or next_id in vocab.values():
            next_id += 1
        next_id += 1
        return next_id - 1

    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, t in sorted(specials.items())]
    for t in chat:
        added.append({"id": take_id(), "content": t, "single_word": False, "lstrip": False,
                      "rstrip": False, "normalized": True, "special": False})
    for a in added:
        vocab[a["content"]] = a["id"]
    byte_map = _bytes_to_unicode()
    for b in range(256):
        vocab[byte_map[b]] = take_id()
    # Greedy BPE on the fixed text, words split on spaces (the space stays
    # with the following word, as the byte-level pre-tokenizer keeps it).
    words = {}
    for piece in re.findall(r" ?[A-Za-z]+| ?[0-9]+| ?[^A-Za-z0-9 ]+| +", _TOKENIZER_TEXT):
        key = tuple(byte_map[b] for b in piece.encode("utf-8"))
        words[key] = words.get(key, 0) + 1
    merges = []
    while len(vocab) < vocab_size:
        pairs = {}
        for word, count in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + count
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merged = a + b
        if merged in vocab:
            break
        merges.append(f"{a} {b}")
        vocab[merged] = take_id()
        rewritten = {}
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
                    out.append(merged)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            rewritten[tuple(out)] = rewritten.get(tuple(out), 0) + count
        words = rewritten
    if max(vocab.values()) >= vocab_size:
        raise CheckpointError(f"vocab_size {vocab_size} is too small for a byte-level tokenizer")
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": _SPLIT}, "behavior": "Isolated",
             "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
             "use_regex": False}]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": merges},
    }
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False, indent=1)
    if v3:
        template = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}"
                    "<｜User｜>{{ m['content'] }}{% elif m['role'] == 'assistant' %}"
                    "<｜Assistant｜>{{ m['content'] }}<｜end▁of▁sentence｜>{% endif %}{% endfor %}"
                    "{% if add_generation_prompt %}<｜Assistant｜>{% endif %}")
    else:
        template = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}"
                    "User: {{ m['content'] }}\n\n{% elif m['role'] == 'assistant' %}"
                    "Assistant: {{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}"
                    "{% if add_generation_prompt %}Assistant:{% endif %}")
    config = {"add_bos_token": True, "add_eos_token": False, "bos_token": specials[bos],
              "eos_token": specials[eos], "model_max_length": 16384,
              "tokenizer_class": "LlamaTokenizerFast", "chat_template": template}
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)
    return len(vocab)


def make_checkpoint(config_arg, out_dir, seed=0, shards=2, dtype="auto", max_params=100_000_000,
                    router="structured", fill="normal"):
    config_path = os.path.join(config_arg, "config.json") if os.path.isdir(config_arg) \
        else config_arg
    try:
        with open(config_path, encoding="utf-8") as f:
            cfg = json.load(f)
    except OSError as e:
        raise CheckpointError(f"cannot read {config_path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{config_path}: invalid JSON: {e}") from None
    model = Model(cfg)
    fp8 = model.quantized_config if dtype == "auto" else dtype == "fp8"
    if shards < 1:
        raise CheckpointError("--shards must be >= 1")
    if fill == "tiled" and router != "random":
        raise CheckpointError("--fill tiled needs --router random (the structured router "
                              "shapes the embedding and the writers)")
    tensors = plan(model, seed, fp8, router, fill == "tiled")
    params = sum(t.numel for t in tensors if not t.name.endswith("_scale_inv"))
    if params > max_params:
        raise CheckpointError(f"{config_path} has {params:,} parameters, more than --max-params "
                              f"{max_params:,}; this tool is for tiny test models")
    os.makedirs(out_dir, exist_ok=True)
    for name in os.listdir(out_dir):  # stale shards of an earlier run with another shard count
        if SHARD_RE.match(name):
            os.remove(os.path.join(out_dir, name))
    rewritten = write_config(config_path, os.path.join(out_dir, "config.json"), cfg, fp8)
    groups = split_into_shards(tensors, shards)
    weight_map = {}
    for i, group in enumerate(groups, 1):
        shard = f"model-{i:05d}-of-{shards:05d}.safetensors"
        write_safetensors(os.path.join(out_dir, shard), group)
        for t in group:
            weight_map[t.name] = shard
    index = {"metadata": {"total_size": sum(t.nbytes for t in tensors)}, "weight_map": weight_map}
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")
    write_tokenizer(out_dir, cfg)
    mtp = [t for t in tensors if t.name.startswith("model.layers.")
           and int(t.name.split(".")[2]) >= model.layers and not t.name.endswith("_scale_inv")]
    mtp_params = sum(t.numel for t in mtp)
    return {
        "tensors": len(tensors), "params": params - mtp_params, "mtp_params": mtp_params,
        "bytes": index["metadata"]["total_size"], "shards": shards,
        "dtype": "fp8" if fp8 else "bf16", "config_rewritten": rewritten,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Write a deterministic random-weight DeepSeek checkpoint (HF layout).")
    parser.add_argument("config", nargs="?", help="config.json or a folder that holds one")
    parser.add_argument("-o", "--output", help="output folder (created if needed)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--shards", type=int, default=2, help="number of shards (default 2)")
    parser.add_argument("--dtype", choices=("auto", "bf16", "fp8"), default="auto",
                        help="auto: fp8 iff the config has quantization_config (default)")
    parser.add_argument("--router", choices=("structured", "random"), default="structured",
                        help="router construction (see the docstring; default structured)")
    parser.add_argument("--max-params", type=int, default=100_000_000,
                        help="refuse configs larger than this (default 1e8)")
    parser.add_argument("--fill", choices=("normal", "tiled"), default="normal",
                        help="tiled: repeat one random block per std, for load-time "
                             "measurements of full-size configs (see the docstring)")
    parser.add_argument("--self-test", action="store_true",
                        help="check the bf16/e4m3 encoders and exit")
    args = parser.parse_args(argv)
    if args.self_test:
        return self_test()
    if not args.config or not args.output:
        parser.error("CONFIG and -o OUT_DIR are required (or --self-test)")
    if args.seed < 0:
        parser.error("--seed must be >= 0")
    try:
        info = make_checkpoint(args.config, args.output, args.seed, args.shards, args.dtype,
                               args.max_params, args.router, args.fill)
    except CheckpointError as e:
        print(f"make-tiny-checkpoint: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"make-tiny-checkpoint: error: {e}", file=sys.stderr)
        return 1
    note = " (config.json rewritten to match the dtype)" if info["config_rewritten"] else ""
    print(f"{args.output}: {info['tensors']} tensors, {info['params']:,} parameters"
          f" + {info['mtp_params']:,} MTP, {info['bytes']:,} bytes of {info['dtype']} data"
          f" in {info['shards']} shards{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
