"""A small GGUF v3 writer used by the project's model generators and tests.

Metadata values are typed explicitly where numpy/Python types would be
ambiguous; tensors are given as raw bytes with their ggml type and shape
(shape in GGUF order: ne[0] first, the contiguous dimension).
"""
import struct

import numpy as np

GGUF_MAGIC = b"GGUF"

UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)

_SCALAR_FMT = {
    UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
    FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d",
}

# ggml tensor types used by the project
F32, F16, Q4_0, Q8_0, Q4_K, Q6_K, BF16 = 0, 1, 2, 8, 12, 14, 30


class Value:
    """A metadata value with an explicit GGUF type (arrays: elem_type set)."""

    def __init__(self, vtype, value, elem_type=None):
        self.vtype, self.value, self.elem_type = vtype, value, elem_type


def u32(v): return Value(UINT32, v)
def i32(v): return Value(INT32, v)
def f32(v): return Value(FLOAT32, v)
def u64(v): return Value(UINT64, v)
def boolean(v): return Value(BOOL, v)
def string(v): return Value(STRING, v)
def arr(elem_type, values): return Value(ARRAY, list(values), elem_type)


def _infer(v):
    if isinstance(v, Value):
        return v
    if isinstance(v, bool):
        return Value(BOOL, v)
    if isinstance(v, int):
        return Value(UINT32 if 0 <= v < 2**32 else INT64, v)
    if isinstance(v, float):
        return Value(FLOAT32, v)
    if isinstance(v, str):
        return Value(STRING, v)
    raise TypeError(f"give an explicit type for {v!r}")


def _pack_str(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def _pack_scalar(vtype, v):
    if vtype == STRING:
        return _pack_str(v)
    return struct.pack(_SCALAR_FMT[vtype], v)


def _pack_value(val):
    if val.vtype == ARRAY:
        out = [struct.pack("<IQ", val.elem_type, len(val.value))]
        if val.elem_type == STRING:
            out.extend(_pack_str(s) for s in val.value)
        else:
            fmt = _SCALAR_FMT[val.elem_type]
            out.append(np.asarray(val.value, dtype=np.dtype(fmt)).tobytes())
        return b"".join(out)
    return _pack_scalar(val.vtype, val.value)


class GGUFWriter:
    def __init__(self, alignment=32, version=3):
        self.kv = []          # (key, Value)
        self.tensors = []     # (name, shape, ggml_type, bytes)
        self.alignment = alignment
        self.version = version

    def add(self, key, value):
        self.kv.append((key, _infer(value)))

    def add_tensor(self, name, shape, ggml_type, data):
        self.tensors.append((name, tuple(int(d) for d in shape), ggml_type, bytes(data)))

    def to_bytes(self):
        a = self.alignment
        head = [GGUF_MAGIC, struct.pack("<I", self.version)]
        head.append(struct.pack("<QQ", len(self.tensors), len(self.kv)))
        for key, val in self.kv:
            head.append(_pack_str(key) + struct.pack("<I", val.vtype) + _pack_value(val))
        offset = 0
        blobs = []
        for name, shape, ttype, data in self.tensors:
            head.append(_pack_str(name) + struct.pack("<I", len(shape)))
            head.append(b"".join(struct.pack("<Q", d) for d in shape))
            head.append(struct.pack("<IQ", ttype, offset))
            pad = (-len(data)) % a
            blobs.append(data + b"\0" * pad)
            offset += len(data) + pad
        header = b"".join(head)
        header += b"\0" * ((-len(header)) % a)
        return header + b"".join(blobs)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.to_bytes())
