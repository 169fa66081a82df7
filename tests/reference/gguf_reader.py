"""Minimal GGUF (v2/v3) reader for the reference: metadata, tensor infos, and
tensors dequantised to float32 through models/quants.py.

Independent of the engine's C loader on purpose: the reference must not share
parsing code with what it checks.
"""
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models"))
import quants  # noqa: E402

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


class GGUFFile:
    def __init__(self, path):
        self.path = path
        self.data = np.memmap(path, dtype=np.uint8, mode="r")
        self.pos = 0
        magic = bytes(self.data[:4])
        if magic != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        self.pos = 4
        self.version = self._u32()
        if self.version not in (2, 3):
            raise ValueError(f"{path}: GGUF version {self.version} unsupported")
        n_tensors = self._u64()
        n_kv = self._u64()
        self.kv = {}
        self.kv_types = {}   # key -> (type, elem_type or None), to copy values faithfully
        for _ in range(n_kv):
            key = self._str()
            vtype = self._u32()
            if vtype == _ARRAY:
                etype = self._u32()
                self.kv_types[key] = (vtype, etype)
                self.kv[key] = self._array(etype)
            else:
                self.kv_types[key] = (vtype, None)
                self.kv[key] = self._value(vtype)
        self.tensors = {}
        order = []
        for _ in range(n_tensors):
            name = self._str()
            nd = self._u32()
            ne = [self._u64() for _ in range(nd)]
            ttype = self._u32()
            off = self._u64()
            self.tensors[name] = (ne, ttype, off)
            order.append(name)
        self.tensor_order = order
        align = int(self.kv.get("general.alignment", 32))
        self.data_start = (self.pos + align - 1) // align * align

    # -- primitive readers --
    def _take(self, n):
        b = bytes(self.data[self.pos:self.pos + n])
        if len(b) != n:
            raise ValueError(f"{self.path}: truncated")
        self.pos += n
        return b

    def _u32(self):
        return struct.unpack("<I", self._take(4))[0]

    def _u64(self):
        return struct.unpack("<Q", self._take(8))[0]

    def _str(self):
        n = self._u64()
        return self._take(n).decode("utf-8", errors="surrogateescape")

    def _value(self, vtype):
        if vtype == _STRING:
            return self._str()
        fmt = _SCALARS[vtype]
        return struct.unpack(fmt, self._take(struct.calcsize(fmt)))[0]

    def _array(self, etype):
        n = self._u64()
        if etype == _STRING:
            return [self._str() for _ in range(n)]
        if etype == _ARRAY:
            raise ValueError("nested arrays are not used by model files")
        dt = np.dtype(_SCALARS[etype])
        arr = np.frombuffer(self._take(n * dt.itemsize), dtype=dt)
        return arr.tolist() if etype == 7 else arr.copy()

    # -- tensors --
    def has(self, name):
        return name in self.tensors

    def tensor_type(self, name):
        return self.tensors[name][1]

    def tensor(self, name):
        """Dequantised float32 array in numpy order (ne reversed: ne[0] last)."""
        ne, ttype, off = self.tensors[name]
        ne0 = ne[0]
        rows = int(np.prod(ne[1:])) if len(ne) > 1 else 1
        nbytes = rows * quants.row_bytes(ttype, ne0)
        start = self.data_start + off
        raw = self.data[start:start + nbytes]
        if raw.shape[0] != nbytes:
            raise ValueError(f"{self.path}: tensor {name} runs past the end of the file")
        out = quants.dequantize(raw, ttype, rows, ne0)
        return out.reshape(list(reversed(ne)))
