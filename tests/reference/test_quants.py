#!/usr/bin/env python3
"""Checks models/quants.py.

1. The vectorised dequantisers against plain per-element loops written
   straight from the ggml block layouts, on random block bytes (every bit
   pattern of quants, scales and packed 6-bit fields gets exercised).
2. Quantise -> dequantise error per type stays within what the format allows,
   and the byte sizes are ggml's.
3. F16/BF16 conversion agrees with torch's round-to-nearest-even.
"""
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models"))
import quants  # noqa: E402

failures = []
passes = [0]


def check(cond, msg):
    if not cond:
        failures.append(msg)
    else:
        passes[0] += 1
    print(f"{'ok  ' if cond else 'FAIL'} {msg}")


def f16(b, off):
    return float(np.frombuffer(b[off:off + 2], dtype="<f2")[0])


# ---- scalar dequantisers, one block at a time, from the layout descriptions ----

def scalar_q8_0(b):
    d = f16(b, 0)
    return [d * struct.unpack("b", b[2 + i:3 + i])[0] for i in range(32)]


def scalar_q4_0(b):
    d = f16(b, 0)
    y = [0.0] * 32
    for j in range(16):
        y[j] = ((b[2 + j] & 0xF) - 8) * d
        y[j + 16] = ((b[2 + j] >> 4) - 8) * d
    return y


def scalar_q4_k(b):
    d, dmin = f16(b, 0), f16(b, 2)
    sc12 = b[4:16]
    qs = b[16:144]
    y = []
    for j in range(8):
        if j < 4:
            sc, m = sc12[j] & 63, sc12[j + 4] & 63
        else:
            sc = (sc12[j + 4] & 0xF) | ((sc12[j - 4] >> 6) << 4)
            m = (sc12[j + 4] >> 4) | ((sc12[j] >> 6) << 4)
        chunk = qs[32 * (j // 2):32 * (j // 2) + 32]
        for l in range(32):
            q = chunk[l] & 0xF if j % 2 == 0 else chunk[l] >> 4
            y.append(d * sc * q - dmin * m)
    return y


def scalar_q6_k(b):
    ql, qh = b[0:128], b[128:192]
    scales = struct.unpack("16b", b[192:208])
    d = f16(b, 208)
    y = [0.0] * 256
    for half in range(2):
        L, H, S, base = ql[64 * half:], qh[32 * half:], scales[8 * half:], 128 * half
        for l in range(32):
            q = [(L[l] & 15) | ((H[l] & 3) << 4),
                 (L[l + 32] & 15) | (((H[l] >> 2) & 3) << 4),
                 (L[l] >> 4) | (((H[l] >> 4) & 3) << 4),
                 (L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4)]
            for k in range(4):
                e = l + 32 * k
                y[base + e] = d * S[e // 16] * (q[k] - 32)
    return y


def scalar_q4_1(b):
    d, m = f16(b, 0), f16(b, 2)
    y = [0.0] * 32
    for j in range(16):
        y[j] = d * (b[4 + j] & 0xF) + m
        y[j + 16] = d * (b[4 + j] >> 4) + m
    return y


def q5_values(qh_bytes, qs):
    """5-bit quants: low nibbles of qs for 0..15, high for 16..31, bit j of the
    little-endian 32-bit qh as the 5th bit of element j."""
    qh = struct.unpack("<I", qh_bytes)[0]
    lo = [qs[j] & 0xF for j in range(16)] + [qs[j] >> 4 for j in range(16)]
    return [lo[j] | (((qh >> j) & 1) << 4) for j in range(32)]


def scalar_q5_0(b):
    d = f16(b, 0)
    return [d * (q - 16) for q in q5_values(b[2:6], b[6:22])]


def scalar_q5_1(b):
    d, m = f16(b, 0), f16(b, 2)
    return [d * q + m for q in q5_values(b[4:8], b[8:24])]


def k_scale_min(sc12, j):
    if j < 4:
        return sc12[j] & 63, sc12[j + 4] & 63
    return (sc12[j + 4] & 0xF) | ((sc12[j - 4] >> 6) << 4), (sc12[j + 4] >> 4) | ((sc12[j] >> 6) << 4)


def scalar_q5_k(b):
    d, dmin = f16(b, 0), f16(b, 2)
    sc12, qh, qs = b[4:16], b[16:48], b[48:176]
    y = []
    for j in range(8):                        # sub-block j: chunk j // 2, low or high nibbles
        sc, m = k_scale_min(sc12, j)
        chunk = qs[32 * (j // 2):32 * (j // 2) + 32]
        for l in range(32):
            q = chunk[l] & 0xF if j % 2 == 0 else chunk[l] >> 4
            q |= ((qh[l] >> j) & 1) << 4
            y.append(d * sc * q - dmin * m)
    return y


def scalar_q3_k(b):
    hmask, qs, sc12 = b[0:32], b[32:96], b[96:108]
    d = f16(b, 108)
    y = [0.0] * 256
    for e in range(256):
        h, j, l, g = e // 128, (e % 128) // 32, e % 32, e // 16
        low = sc12[g] & 0xF if g < 8 else sc12[g - 8] >> 4
        scale = (low | (((sc12[8 + g % 4] >> (2 * (g // 4))) & 3) << 4)) - 32
        q = ((qs[32 * h + l] >> (2 * j)) & 3) | (((hmask[l] >> (4 * h + j)) & 1) << 2)
        y[e] = d * scale * (q - 4)
    return y


def scalar_q2_k(b):
    scales, qs = b[0:16], b[16:80]
    d, dmin = f16(b, 80), f16(b, 82)
    y = [0.0] * 256
    for e in range(256):
        h, j, l, g = e // 128, (e % 128) // 32, e % 32, e // 16
        q = (qs[32 * h + l] >> (2 * j)) & 3
        y[e] = d * (scales[g] & 0xF) * q - dmin * (scales[g] >> 4)
    return y


SCALAR = {quants.Q8_0: (scalar_q8_0, [0]), quants.Q4_0: (scalar_q4_0, [0]),
          quants.Q4_1: (scalar_q4_1, [0, 2]), quants.Q5_0: (scalar_q5_0, [0]),
          quants.Q5_1: (scalar_q5_1, [0, 2]), quants.Q2_K: (scalar_q2_k, [80, 82]),
          quants.Q3_K: (scalar_q3_k, [108]), quants.Q4_K: (scalar_q4_k, [0, 2]),
          quants.Q5_K: (scalar_q5_k, [0, 2]), quants.Q6_K: (scalar_q6_k, [208])}


def random_blocks(ttype, n, rng):
    """Random bytes, with the fp16 scale fields set to finite values."""
    bb = quants.block_bytes(ttype)
    raw = rng.integers(0, 256, size=(n, bb), dtype=np.uint8)
    for off in SCALAR[ttype][1]:
        raw[:, off:off + 2] = rng.uniform(-2, 2, size=n).astype("<f2").view(np.uint8).reshape(n, 2)
    return raw


def test_layouts():
    rng = np.random.default_rng(1)
    for ttype, (fn, _) in SCALAR.items():
        qk = quants.BLOCK_ELEMS[ttype]
        n_blocks, per_row = 24, 3            # rows of several blocks: block order within a row matters
        raw = random_blocks(ttype, n_blocks, rng)
        got = quants.dequantize(raw.tobytes(), ttype, n_blocks // per_row, qk * per_row).reshape(-1)
        want = np.concatenate([np.array(fn(bytes(raw[i])), dtype=np.float64) for i in range(n_blocks)])
        err = np.abs(got - want).max() / max(1.0, np.abs(want).max())
        check(err < 1e-6, f"{quants.NAMES[ttype]}: vectorised dequant equals the per-element layout loop "
                          f"({n_blocks} random blocks, rel err {err:.1e})")


def test_roundtrip():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, 512)).astype(np.float32)
    x[3] *= 1e-3                             # rows of very different scale
    x[5] = 0.0                               # an all-zero row
    x[7, :40] = 5.0                          # a constant run
    # relative RMS bounds: the format's step size for Gaussian data, with margin
    bounds = {quants.F32: 0.0, quants.F16: 1e-3, quants.BF16: 5e-3, quants.Q8_0: 1e-2,
              quants.Q4_0: 0.12, quants.Q4_1: 0.11, quants.Q5_0: 0.06, quants.Q5_1: 0.05,
              quants.Q2_K: 0.45, quants.Q3_K: 0.22, quants.Q4_K: 0.11, quants.Q5_K: 0.055,
              quants.Q6_K: 0.03}
    sizes = {quants.F32: 2048, quants.F16: 1024, quants.BF16: 1024, quants.Q8_0: 16 * 34,
             quants.Q4_0: 16 * 18, quants.Q4_1: 16 * 20, quants.Q5_0: 16 * 22, quants.Q5_1: 16 * 24,
             quants.Q2_K: 2 * 84, quants.Q3_K: 2 * 110, quants.Q4_K: 2 * 144, quants.Q5_K: 2 * 176,
             quants.Q6_K: 2 * 210}
    for ttype, bound in bounds.items():
        b = quants.quantize(x, ttype)
        check(len(b) == 16 * sizes[ttype], f"{quants.NAMES[ttype]}: row of 512 is {sizes[ttype]} bytes")
        y = quants.dequantize(b, ttype, 16, 512)
        rel = [np.sqrt(((y[r] - x[r]) ** 2).mean() / max(1e-30, (x[r] ** 2).mean())) for r in range(16) if r != 5]
        check(max(rel) <= bound, f"{quants.NAMES[ttype]}: round-trip relative RMS {max(rel):.4f} <= {bound}")
        check(np.all(y[5] == 0), f"{quants.NAMES[ttype]}: zero row stays zero")
    try:
        quants.quantize(np.zeros((1, 100), np.float32), quants.Q4_K)
        check(False, "Q4_K refuses rows that are not a multiple of 256")
    except ValueError:
        check(True, "Q4_K refuses rows that are not a multiple of 256")


def test_floats():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.standard_normal(5000) * 10 ** rng.uniform(-6, 4, 5000),
                        [0.0, -0.0, 65504.0, 1e-8, 3.0e38]]).astype(np.float32)[None, :]
    n = x.shape[1]
    bf = quants.dequantize(quants.quantize(x, quants.BF16), quants.BF16, 1, n)
    tb = torch.tensor(x).to(torch.bfloat16).to(torch.float32).numpy()
    check(np.array_equal(bf, tb), "BF16 rounding equals torch's")
    h = quants.dequantize(quants.quantize(x, quants.F16), quants.F16, 1, n)
    th = torch.tensor(x).to(torch.float16).to(torch.float32).numpy()
    check(np.array_equal(h, th), "F16 rounding equals torch's")


if __name__ == "__main__":
    test_layouts()
    test_roundtrip()
    test_floats()
    print(f"{passes[0]} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)
