"""Row-wise quantisers and dequantisers for the ggml tensor types rkserve reads.

Every function works on a 2-D float32 array of shape (rows, ne0), ne0 being
the contiguous GGUF dimension, and on the raw bytes of the same rows laid out
exactly as ggml blocks (one row = ne0 / block_size blocks, rows back to back).
The dequantisers are what the PyTorch reference uses, so the reference runs
on precisely the weights stored in the file; the quantisers only need to be
decent, not bit-identical to ggml's.
"""
import numpy as np

# ggml type ids (the numbers stored in GGUF tensor infos)
F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 = 0, 1, 2, 3, 6, 7, 8
Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, BF16 = 10, 11, 12, 13, 14, 30

NAMES = {F32: "F32", F16: "F16", BF16: "BF16", Q8_0: "Q8_0", Q4_0: "Q4_0", Q4_1: "Q4_1",
         Q5_0: "Q5_0", Q5_1: "Q5_1", Q2_K: "Q2_K", Q3_K: "Q3_K", Q4_K: "Q4_K", Q5_K: "Q5_K",
         Q6_K: "Q6_K"}
BY_NAME = {v: k for k, v in NAMES.items()}

QK_K = 256

_BLOCK = {
    F32: np.dtype("<f4"),
    F16: np.dtype("<f2"),
    BF16: np.dtype("<u2"),
    Q8_0: np.dtype([("d", "<f2"), ("qs", "i1", 32)]),
    Q4_0: np.dtype([("d", "<f2"), ("qs", "u1", 16)]),
    Q4_1: np.dtype([("d", "<f2"), ("m", "<f2"), ("qs", "u1", 16)]),
    Q5_0: np.dtype([("d", "<f2"), ("qh", "u1", 4), ("qs", "u1", 16)]),
    Q5_1: np.dtype([("d", "<f2"), ("m", "<f2"), ("qh", "u1", 4), ("qs", "u1", 16)]),
    Q2_K: np.dtype([("scales", "u1", 16), ("qs", "u1", 64), ("d", "<f2"), ("dmin", "<f2")]),
    Q3_K: np.dtype([("hmask", "u1", 32), ("qs", "u1", 64), ("scales", "u1", 12), ("d", "<f2")]),
    Q4_K: np.dtype([("d", "<f2"), ("dmin", "<f2"), ("scales", "u1", 12), ("qs", "u1", 128)]),
    Q5_K: np.dtype([("d", "<f2"), ("dmin", "<f2"), ("scales", "u1", 12), ("qh", "u1", 32),
                    ("qs", "u1", 128)]),
    Q6_K: np.dtype([("ql", "u1", 128), ("qh", "u1", 64), ("scales", "i1", 16), ("d", "<f2")]),
}
BLOCK_ELEMS = {F32: 1, F16: 1, BF16: 1, Q8_0: 32, Q4_0: 32, Q4_1: 32, Q5_0: 32, Q5_1: 32,
               Q2_K: QK_K, Q3_K: QK_K, Q4_K: QK_K, Q5_K: QK_K, Q6_K: QK_K}

assert _BLOCK[Q8_0].itemsize == 34 and _BLOCK[Q4_0].itemsize == 18
assert _BLOCK[Q4_1].itemsize == 20 and _BLOCK[Q5_0].itemsize == 22 and _BLOCK[Q5_1].itemsize == 24
assert _BLOCK[Q2_K].itemsize == 84 and _BLOCK[Q3_K].itemsize == 110
assert _BLOCK[Q4_K].itemsize == 144 and _BLOCK[Q5_K].itemsize == 176 and _BLOCK[Q6_K].itemsize == 210


def block_bytes(ttype):
    return _BLOCK[ttype].itemsize


def row_bytes(ttype, ne0):
    qk = BLOCK_ELEMS[ttype]
    if ne0 % qk:
        raise ValueError(f"{NAMES[ttype]} needs rows of a multiple of {qk}, got {ne0}")
    return ne0 // qk * _BLOCK[ttype].itemsize


def fits(ttype, ne0):
    return ne0 % BLOCK_ELEMS[ttype] == 0


# Rows are processed in slabs so a 150k x 1024 embedding never needs several
# full-size float temporaries at once.
_SLAB_ELEMS = 1 << 22


def _slabs(rows, ne0):
    step = max(1, _SLAB_ELEMS // max(ne0, 1))
    for r in range(0, rows, step):
        yield r, min(rows, r + step)


def quantize(x, ttype):
    """float array (rows, ne0) -> bytes in ggml layout."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    rows, ne0 = x.shape
    rb = row_bytes(ttype, ne0)
    out = np.empty(rows * rb, dtype=np.uint8)
    fn = _QUANT[ttype]
    for a, b in _slabs(rows, ne0):
        out[a * rb:b * rb] = fn(x[a:b]).view(np.uint8).reshape(-1)
    return out.tobytes()


def dequantize(buf, ttype, rows, ne0):
    """bytes in ggml layout -> float32 array (rows, ne0)."""
    rb = row_bytes(ttype, ne0)
    raw = np.frombuffer(buf, dtype=np.uint8, count=rows * rb)
    out = np.empty((rows, ne0), dtype=np.float32)
    fn = _DEQUANT[ttype]
    for a, b in _slabs(rows, ne0):
        blocks = raw[a * rb:b * rb].view(_BLOCK[ttype])
        out[a:b] = fn(blocks).reshape(b - a, ne0)
    return out


# ---- float types -------------------------------------------------------------

def _q_f32(x):
    return x.astype("<f4")


def _dq_f32(b):
    return b.astype(np.float32)


def _q_f16(x):
    with np.errstate(over="ignore"):          # beyond 65504 becomes inf, as in ggml
        return x.astype("<f2")


def _dq_f16(b):
    return b.astype(np.float32)


def _q_bf16(x):
    # round to nearest even on the dropped 16 bits; NaN kept quiet
    u = x.view(np.uint32).astype(np.uint64)
    r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    r = np.where(np.isnan(x), (u >> 16) | 64, r)
    return r.astype("<u2")


def _dq_bf16(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


# ---- Q8_0 ----------------------------------------------------------------------

def _q_q8_0(x):
    v = x.reshape(-1, 32)
    d = np.abs(v).max(axis=1) / 127.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
    blocks = np.empty(v.shape[0], dtype=_BLOCK[Q8_0])
    blocks["d"] = d
    blocks["qs"] = np.clip(np.rint(v * inv[:, None]), -127, 127)
    return blocks


def _dq_q8_0(b):
    return b["d"].astype(np.float32)[:, None] * b["qs"].astype(np.float32)


# ---- Q4_0 ----------------------------------------------------------------------

def _q_q4_0(x):
    v = x.reshape(-1, 32)
    idx = np.abs(v).argmax(axis=1)
    signed_max = v[np.arange(v.shape[0]), idx]
    d = signed_max / -8.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = np.minimum(15, np.trunc(v * inv[:, None] + 8.5)).astype(np.uint8)
    blocks = np.empty(v.shape[0], dtype=_BLOCK[Q4_0])
    blocks["d"] = d
    blocks["qs"] = q[:, :16] | (q[:, 16:] << 4)
    return blocks


def _dq_q4_0(b):
    qs = b["qs"]
    q = np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.float32) - 8.0
    return b["d"].astype(np.float32)[:, None] * q


# ---- Q4_1 / Q5_0 / Q5_1 ----------------------------------------------------------

def _to_f16(a):
    return a.astype(np.float16).astype(np.float32)


def _pack_qh(q):
    """5th bits of 32 quants -> 4 bytes, bit j of the little-endian word for element j."""
    return np.packbits((q >> 4) & 1, axis=1, bitorder="little")


def _unpack_qh(qh):
    return np.unpackbits(qh, axis=1, bitorder="little").astype(np.uint8)


def _nibbles(q):
    """32 quants -> 16 bytes: element j in the low nibble of byte j, j+16 in the high one."""
    return (q[:, :16] & 15) | ((q[:, 16:] & 15) << 4)


def _unnibble(qs):
    return np.concatenate([qs & 15, qs >> 4], axis=1)


def _affine(v, nmax):
    """min/max fit of x ~ d*q + m; q rounded against the fp16 d and m."""
    lo, hi = v.min(axis=1), v.max(axis=1)
    d16 = _to_f16((hi - lo) / nmax)
    m16 = _to_f16(lo)
    inv = np.divide(1.0, d16, out=np.zeros_like(d16), where=d16 > 0)
    q = np.clip(np.rint((v - m16[:, None]) * inv[:, None]), 0, nmax).astype(np.uint8)
    return d16, m16, q


def _q_q4_1(x):
    v = x.reshape(-1, 32)
    d, m, q = _affine(v, 15)
    blocks = np.empty(v.shape[0], dtype=_BLOCK[Q4_1])
    blocks["d"], blocks["m"], blocks["qs"] = d, m, _nibbles(q)
    return blocks


def _dq_q4_1(b):
    q = _unnibble(b["qs"]).astype(np.float32)
    return b["d"].astype(np.float32)[:, None] * q + b["m"].astype(np.float32)[:, None]


def _q_q5_0(x):
    v = x.reshape(-1, 32)
    idx = np.abs(v).argmax(axis=1)
    signed_max = v[np.arange(v.shape[0]), idx]
    d = signed_max / -16.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = np.minimum(31, np.trunc(v * inv[:, None] + 16.5)).astype(np.uint8)
    blocks = np.empty(v.shape[0], dtype=_BLOCK[Q5_0])
    blocks["d"], blocks["qh"], blocks["qs"] = d, _pack_qh(q), _nibbles(q)
    return blocks


def _dq_q5_0(b):
    q = (_unnibble(b["qs"]) | (_unpack_qh(b["qh"]) << 4)).astype(np.float32) - 16.0
    return b["d"].astype(np.float32)[:, None] * q


def _q_q5_1(x):
    v = x.reshape(-1, 32)
    d, m, q = _affine(v, 31)
    blocks = np.empty(v.shape[0], dtype=_BLOCK[Q5_1])
    blocks["d"], blocks["m"], blocks["qh"], blocks["qs"] = d, m, _pack_qh(q), _nibbles(q)
    return blocks


def _dq_q5_1(b):
    q = (_unnibble(b["qs"]) | (_unpack_qh(b["qh"]) << 4)).astype(np.float32)
    return b["d"].astype(np.float32)[:, None] * q + b["m"].astype(np.float32)[:, None]


# ---- Q4_K ----------------------------------------------------------------------

def _fit_scale_min(v, q):
    """Least-squares v ~ s*q + m per row (q fixed); returns s, m."""
    n = v.shape[-1]
    sq = q.sum(-1)
    sqq = (q * q).sum(-1)
    sv = v.sum(-1)
    sqv = (q * v).sum(-1)
    den = n * sqq - sq * sq
    ok = den > 0
    s = np.where(ok, (n * sqv - sq * sv) / np.where(ok, den, 1), 0)
    m = np.where(ok, (sv - s * sq) / n, sv / n)
    return s, m


def _fit_scale_min_k(v, nmax, levels):
    """Sub-block scales and mins for x ~ step*q - min, q in 0..nmax, over the
    last axis; the scales and mins themselves quantised to 0..levels against
    per-block (first axis) fp16 d and dmin. Returns d16, dmin16, sc, mn, q."""
    lo = np.minimum(v.min(-1), 0.0)
    hi = v.max(-1)
    scale = (hi - lo) / nmax
    # a couple of least-squares refinements of (scale, min) per sub-block
    for _ in range(2):
        inv = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale > 0)
        q = np.clip(np.rint((v - lo[..., None]) * inv[..., None]), 0, nmax)
        s2, m2 = _fit_scale_min(v, q)
        better = (s2 > 0) & (m2 <= 0)
        scale = np.where(better, s2, scale)
        lo = np.where(better, m2, lo)
    mins = -lo                                   # >= 0
    d16 = _to_f16(scale.max(-1) / levels)
    dmin16 = _to_f16(mins.max(-1) / levels)
    sc = np.clip(np.rint(np.divide(scale, d16[:, None], out=np.zeros_like(scale),
                                   where=d16[:, None] > 0)), 0, levels).astype(np.uint8)
    mn = np.clip(np.rint(np.divide(mins, dmin16[:, None], out=np.zeros_like(mins),
                                   where=dmin16[:, None] > 0)), 0, levels).astype(np.uint8)
    step = d16[:, None] * sc
    off = dmin16[:, None] * mn
    inv = np.divide(1.0, step, out=np.zeros_like(step), where=step > 0)
    q = np.clip(np.rint((v + off[..., None]) * inv[..., None]), 0, nmax).astype(np.uint8)
    return d16, dmin16, sc, mn, q


def _pack_k_scales(sc, mn):
    """Eight 6-bit scales and mins -> the 12 bytes of Q4_K / Q5_K."""
    s = np.empty((sc.shape[0], 12), dtype=np.uint8)
    s[:, 0:4] = sc[:, 0:4] | ((sc[:, 4:8] >> 4) << 6)
    s[:, 4:8] = mn[:, 0:4] | ((mn[:, 4:8] >> 4) << 6)
    s[:, 8:12] = (sc[:, 4:8] & 15) | ((mn[:, 4:8] & 15) << 4)
    return s


def _q_q4_k(x):
    v = x.reshape(-1, 8, 32)
    d16, dmin16, sc, mn, q = _fit_scale_min_k(v, 15, 63)
    blocks = np.empty(v.shape[0], dtype=_BLOCK[Q4_K])
    blocks["d"] = d16
    blocks["dmin"] = dmin16
    blocks["scales"] = _pack_k_scales(sc, mn)
    # 64-element chunk c: bytes 32c..32c+31, low nibble = sub-block 2c, high = 2c+1
    q = q.reshape(-1, 4, 2, 32)
    blocks["qs"] = (q[:, :, 0, :] | (q[:, :, 1, :] << 4)).reshape(-1, 128)
    return blocks


def _unpack_q4_k_scales(s):
    s = s.astype(np.uint8)
    sc = np.empty((s.shape[0], 8), dtype=np.uint8)
    mn = np.empty((s.shape[0], 8), dtype=np.uint8)
    sc[:, 0:4] = s[:, 0:4] & 63
    mn[:, 0:4] = s[:, 4:8] & 63
    sc[:, 4:8] = (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)
    mn[:, 4:8] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, mn


def _dq_q4_k(b):
    sc, mn = _unpack_q4_k_scales(b["scales"])
    d = b["d"].astype(np.float32)[:, None]
    dmin = b["dmin"].astype(np.float32)[:, None]
    qs = b["qs"].reshape(-1, 4, 32)
    q = np.stack([qs & 15, qs >> 4], axis=2).reshape(-1, 8, 32).astype(np.float32)
    return (d * sc)[..., None] * q - (dmin * mn)[..., None]


# ---- Q5_K ----------------------------------------------------------------------

def _q_q5_k(x):
    v = x.reshape(-1, 8, 32)
    d16, dmin16, sc, mn, q = _fit_scale_min_k(v, 31, 63)
    blocks = np.empty(v.shape[0], dtype=_BLOCK[Q5_K])
    blocks["d"] = d16
    blocks["dmin"] = dmin16
    blocks["scales"] = _pack_k_scales(sc, mn)
    q = q.reshape(-1, 4, 2, 32)                  # chunk, low/high nibble, l
    blocks["qs"] = ((q[:, :, 0, :] & 15) | ((q[:, :, 1, :] & 15) << 4)).reshape(-1, 128)
    # bit 2c (low nibbles) and 2c+1 (high nibbles) of qh[l] hold the 5th bits
    bit = (q >> 4).reshape(-1, 8, 32).astype(np.uint32) << np.arange(8, dtype=np.uint32)[None, :, None]
    blocks["qh"] = bit.sum(axis=1).astype(np.uint8)
    return blocks


def _dq_q5_k(b):
    sc, mn = _unpack_q4_k_scales(b["scales"])
    d = b["d"].astype(np.float32)[:, None]
    dmin = b["dmin"].astype(np.float32)[:, None]
    qs = b["qs"].reshape(-1, 4, 32)
    q = np.stack([qs & 15, qs >> 4], axis=2).reshape(-1, 8, 32)
    high = (b["qh"][:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1
    q = (q | (high << 4)).astype(np.float32)
    return (d * sc)[..., None] * q - (dmin * mn)[..., None]


# ---- Q6_K ----------------------------------------------------------------------

def _q_q6_k(x):
    v = x.reshape(-1, 16, 16)
    nb = v.shape[0]
    rows = np.arange(nb)[:, None]
    subs = np.arange(16)[None, :]
    idx = np.abs(v).argmax(-1)
    smax = v[rows, subs, idx]                    # signed largest magnitude per sub-block
    scale = smax / -32.0
    j = np.abs(scale).argmax(-1)
    big = scale[np.arange(nb), j]                # signed largest scale per super-block
    iscale = np.divide(-128.0, big, out=np.zeros_like(big), where=big != 0)
    sc = np.clip(np.rint(iscale[:, None] * scale), -128, 127).astype(np.int8)
    d = np.divide(1.0, iscale, out=np.zeros_like(iscale), where=iscale != 0)
    d16 = d.astype(np.float16).astype(np.float32)
    step = d16[:, None] * sc
    inv = np.divide(1.0, step, out=np.zeros_like(step), where=step != 0)
    q = (np.clip(np.rint(v * inv[..., None]), -32, 31) + 32).astype(np.uint8)

    blocks = np.empty(nb, dtype=_BLOCK[Q6_K])
    blocks["d"] = d16
    blocks["scales"] = sc
    q = q.reshape(nb, 2, 4, 32)                  # half, quarter, l
    q1, q2, q3, q4 = q[:, :, 0], q[:, :, 1], q[:, :, 2], q[:, :, 3]
    ql = np.concatenate([(q1 & 15) | ((q3 & 15) << 4), (q2 & 15) | ((q4 & 15) << 4)], axis=2)
    qh = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6)
    blocks["ql"] = ql.reshape(nb, 128)
    blocks["qh"] = qh.reshape(nb, 64)
    return blocks


def _dq_q6_k(b):
    nb = b.shape[0]
    ql = b["ql"].reshape(nb, 2, 64)
    qh = b["qh"].reshape(nb, 2, 32)
    lo_a, lo_b = ql[:, :, :32], ql[:, :, 32:]
    q = np.stack([
        (lo_a & 15) | ((qh & 3) << 4),
        (lo_b & 15) | (((qh >> 2) & 3) << 4),
        (lo_a >> 4) | (((qh >> 4) & 3) << 4),
        (lo_b >> 4) | (((qh >> 6) & 3) << 4),
    ], axis=2).reshape(nb, 16, 16).astype(np.float32) - 32.0
    scale = b["d"].astype(np.float32)[:, None] * b["scales"].astype(np.float32)
    return scale[..., None] * q


# ---- Q3_K / Q2_K ------------------------------------------------------------------
# Both hold 256 elements as 16 groups of 16; element 128h + 32j + l has its
# low 2 bits at bits 2j, 2j+1 of qs[32h + l] (Q3_K: its 3rd bit at bit 4h + j
# of hmask[l]).

def _pack_2bit(q):
    q = q.reshape(-1, 2, 4, 32).astype(np.uint8)  # half, j, l
    qs = (q[:, :, 0] & 3) | ((q[:, :, 1] & 3) << 2) | ((q[:, :, 2] & 3) << 4) | ((q[:, :, 3] & 3) << 6)
    return qs.reshape(-1, 64)


def _unpack_2bit(qs):
    qs = qs.reshape(-1, 2, 1, 32)
    return (qs >> (2 * np.arange(4, dtype=np.uint8))[None, None, :, None]) & 3   # (nb, 2, 4, 32)


def _q_q3_k(x):
    v = x.reshape(-1, 16, 16)
    nb = v.shape[0]
    rows = np.arange(nb)[:, None]
    subs = np.arange(16)[None, :]
    smax = v[rows, subs, np.abs(v).argmax(-1)]   # signed largest magnitude per group
    scale = smax / -4.0
    big = scale[np.arange(nb), np.abs(scale).argmax(-1)]
    iscale = np.divide(-32.0, big, out=np.zeros_like(big), where=big != 0)
    sc = np.clip(np.rint(iscale[:, None] * scale), -32, 31).astype(np.int16)
    d16 = _to_f16(np.divide(1.0, iscale, out=np.zeros_like(iscale), where=iscale != 0))
    step = d16[:, None] * sc
    inv = np.divide(1.0, step, out=np.zeros_like(step), where=step != 0)
    q = (np.clip(np.rint(v * inv[..., None]), -4, 3) + 4).astype(np.uint8)

    blocks = np.empty(nb, dtype=_BLOCK[Q3_K])
    blocks["d"] = d16
    u = (sc + 32).astype(np.uint8)               # 0..63
    s = np.empty((nb, 12), dtype=np.uint8)
    s[:, 0:8] = (u[:, 0:8] & 15) | ((u[:, 8:16] & 15) << 4)
    s[:, 8:12] = (u[:, 0:4] >> 4) | ((u[:, 4:8] >> 4) << 2) | ((u[:, 8:12] >> 4) << 4) | ((u[:, 12:16] >> 4) << 6)
    blocks["scales"] = s
    blocks["qs"] = _pack_2bit(q)
    hb = ((q >> 2) & 1).reshape(nb, 8, 32).astype(np.uint32)    # (h, j) -> bit 4h + j
    blocks["hmask"] = (hb << np.arange(8, dtype=np.uint32)[None, :, None]).sum(axis=1).astype(np.uint8)
    return blocks


def _unpack_q3_k_scales(s):
    u = np.empty((s.shape[0], 16), dtype=np.uint8)
    u[:, 0:8] = s[:, 0:8] & 15
    u[:, 8:16] = s[:, 0:8] >> 4
    for k in range(4):
        u[:, 4 * k:4 * k + 4] |= ((s[:, 8:12] >> (2 * k)) & 3) << 4
    return u.astype(np.int16) - 32


def _dq_q3_k(b):
    nb = b.shape[0]
    q = _unpack_2bit(b["qs"])
    hb = (b["hmask"][:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1
    q = (q | (hb.reshape(nb, 2, 4, 32) << 2)).reshape(nb, 16, 16).astype(np.float32) - 4.0
    scale = b["d"].astype(np.float32)[:, None] * _unpack_q3_k_scales(b["scales"]).astype(np.float32)
    return scale[..., None] * q


def _q_q2_k(x):
    v = x.reshape(-1, 16, 16)
    d16, dmin16, sc, mn, q = _fit_scale_min_k(v, 3, 15)
    blocks = np.empty(v.shape[0], dtype=_BLOCK[Q2_K])
    blocks["d"] = d16
    blocks["dmin"] = dmin16
    blocks["scales"] = sc | (mn << 4)
    blocks["qs"] = _pack_2bit(q)
    return blocks


def _dq_q2_k(b):
    nb = b.shape[0]
    q = _unpack_2bit(b["qs"]).reshape(nb, 16, 16).astype(np.float32)
    sc = (b["scales"] & 15).astype(np.float32)
    mn = (b["scales"] >> 4).astype(np.float32)
    d = b["d"].astype(np.float32)[:, None]
    dmin = b["dmin"].astype(np.float32)[:, None]
    return (d * sc)[..., None] * q - (dmin * mn)[..., None]


_QUANT = {F32: _q_f32, F16: _q_f16, BF16: _q_bf16, Q8_0: _q_q8_0, Q4_0: _q_q4_0,
          Q4_1: _q_q4_1, Q5_0: _q_q5_0, Q5_1: _q_q5_1, Q2_K: _q_q2_k, Q3_K: _q_q3_k,
          Q4_K: _q_q4_k, Q5_K: _q_q5_k, Q6_K: _q_q6_k}
_DEQUANT = {F32: _dq_f32, F16: _dq_f16, BF16: _dq_bf16, Q8_0: _dq_q8_0, Q4_0: _dq_q4_0,
            Q4_1: _dq_q4_1, Q5_0: _dq_q5_0, Q5_1: _dq_q5_1, Q2_K: _dq_q2_k, Q3_K: _dq_q3_k,
            Q4_K: _dq_q4_k, Q5_K: _dq_q5_k, Q6_K: _dq_q6_k}
