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
F32, F16, Q4_0, Q8_0, Q4_K, Q6_K, BF16 = 0, 1, 2, 8, 12, 14, 30

NAMES = {F32: "F32", F16: "F16", BF16: "BF16", Q8_0: "Q8_0", Q4_0: "Q4_0",
         Q4_K: "Q4_K", Q6_K: "Q6_K"}
BY_NAME = {v: k for k, v in NAMES.items()}

QK_K = 256

_BLOCK = {
    F32: np.dtype("<f4"),
    F16: np.dtype("<f2"),
    BF16: np.dtype("<u2"),
    Q8_0: np.dtype([("d", "<f2"), ("qs", "i1", 32)]),
    Q4_0: np.dtype([("d", "<f2"), ("qs", "u1", 16)]),
    Q4_K: np.dtype([("d", "<f2"), ("dmin", "<f2"), ("scales", "u1", 12), ("qs", "u1", 128)]),
    Q6_K: np.dtype([("ql", "u1", 128), ("qh", "u1", 64), ("scales", "i1", 16), ("d", "<f2")]),
}
BLOCK_ELEMS = {F32: 1, F16: 1, BF16: 1, Q8_0: 32, Q4_0: 32, Q4_K: QK_K, Q6_K: QK_K}

assert _BLOCK[Q8_0].itemsize == 34 and _BLOCK[Q4_0].itemsize == 18
assert _BLOCK[Q4_K].itemsize == 144 and _BLOCK[Q6_K].itemsize == 210


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


def _q_q4_k(x):
    v = x.reshape(-1, 8, 32)
    lo = np.minimum(v.min(-1), 0.0)
    hi = v.max(-1)
    scale = (hi - lo) / 15.0
    # a couple of least-squares refinements of (scale, min) per sub-block
    for _ in range(2):
        inv = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale > 0)
        q = np.clip(np.rint((v - lo[..., None]) * inv[..., None]), 0, 15)
        s2, m2 = _fit_scale_min(v, q)
        better = (s2 > 0) & (m2 <= 0)
        scale = np.where(better, s2, scale)
        lo = np.where(better, m2, lo)
    mins = -lo                                   # >= 0
    d = scale.max(-1) / 63.0
    dmin = mins.max(-1) / 63.0
    d16 = d.astype(np.float16).astype(np.float32)
    dmin16 = dmin.astype(np.float16).astype(np.float32)
    sc = np.clip(np.rint(np.divide(scale, d16[:, None], out=np.zeros_like(scale),
                                   where=d16[:, None] > 0)), 0, 63).astype(np.uint8)
    mn = np.clip(np.rint(np.divide(mins, dmin16[:, None], out=np.zeros_like(mins),
                                   where=dmin16[:, None] > 0)), 0, 63).astype(np.uint8)
    step = d16[:, None] * sc
    off = dmin16[:, None] * mn
    inv = np.divide(1.0, step, out=np.zeros_like(step), where=step > 0)
    q = np.clip(np.rint((v + off[..., None]) * inv[..., None]), 0, 15).astype(np.uint8)

    blocks = np.empty(v.shape[0], dtype=_BLOCK[Q4_K])
    blocks["d"] = d16
    blocks["dmin"] = dmin16
    s = np.empty((v.shape[0], 12), dtype=np.uint8)
    s[:, 0:4] = sc[:, 0:4] | ((sc[:, 4:8] >> 4) << 6)
    s[:, 4:8] = mn[:, 0:4] | ((mn[:, 4:8] >> 4) << 6)
    s[:, 8:12] = (sc[:, 4:8] & 15) | ((mn[:, 4:8] & 15) << 4)
    blocks["scales"] = s
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


_QUANT = {F32: _q_f32, F16: _q_f16, BF16: _q_bf16, Q8_0: _q_q8_0, Q4_0: _q_q4_0,
          Q4_K: _q_q4_k, Q6_K: _q_q6_k}
_DEQUANT = {F32: _dq_f32, F16: _dq_f16, BF16: _dq_bf16, Q8_0: _dq_q8_0, Q4_0: _dq_q4_0,
            Q4_K: _dq_q4_k, Q6_K: _dq_q6_k}
