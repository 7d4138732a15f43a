#!/usr/bin/python3
"""Minimal GGUF v3 reader (metadata + F32/F16 tensors) used by use_ref.py.

Deliberately tiny and separate from tools/ref/gguf.py, so that use_ref.py
checks tools/use2gguf.mjs against an independent reading of the format:

    "GGUF"  u32 version  u64 n_tensors  u64 n_kv
    n_kv    x (str key, u32 type, value)        str = u64 len + UTF-8 bytes
    n_tens  x (str name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset)
    zero padding to general.alignment (default 32), then the data region;
    tensor i starts at data_start + offset_i.

ne[0] is the fastest-varying dimension, so the numpy view has shape ne[::-1]
(a [out rows x in cols] matrix has ne = [in, out]).
"""
import struct

import numpy as np

_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f",
           7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_NP = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4",
       7: "<u1", 10: "<u8", 11: "<i8", 12: "<f8"}
_GGML = {0: ("<f4", 4), 1: ("<f2", 2)}  # F32, F16 only


class GGUF:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.buf = f.read()
        self.pos = 0
        if self.buf[:4] != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        self.pos = 4
        self.version = self._u(4)
        if self.version != 3:
            raise ValueError(f"{path}: GGUF version {self.version}, want 3")
        n_tensors, n_kv = self._u(8), self._u(8)
        self.kv = {}
        for _ in range(n_kv):
            key = self._str()
            self.kv[key] = self._value(self._u(4))
        infos = []
        for _ in range(n_tensors):
            name = self._str()
            ne = [self._u(8) for _ in range(self._u(4))]
            infos.append((name, ne, self._u(4), self._u(8)))
        align = self.kv.get("general.alignment", 32)
        data_start = (self.pos + align - 1) // align * align
        self.tensors = {}
        self.ne = {}
        for name, ne, gtype, off in infos:
            if gtype not in _GGML:
                raise ValueError(f"{name}: ggml type {gtype} not supported by gguf_min")
            dt, size = _GGML[gtype]
            n = int(np.prod(ne)) if ne else 1
            start = data_start + off
            if off % align or start + n * size > len(self.buf):
                raise ValueError(f"{name}: bad offset {off}")
            arr = np.frombuffer(self.buf, dtype=dt, count=n, offset=start)
            self.tensors[name] = arr.reshape(ne[::-1]).astype(np.float32)
            self.ne[name] = ne

    def _u(self, n):
        v = int.from_bytes(self.buf[self.pos:self.pos + n], "little")
        self.pos += n
        return v

    def _str(self):
        n = self._u(8)
        s = self.buf[self.pos:self.pos + n].decode("utf-8")
        self.pos += n
        return s

    def _value(self, t):
        if t == 8:
            return self._str()
        if t == 9:
            et, n = self._u(4), self._u(8)
            if et == 8:
                return [self._str() for _ in range(n)]
            if et == 9:
                return [self._value(9) for _ in range(n)]
            dt = np.dtype(_NP[et])
            arr = np.frombuffer(self.buf, dtype=dt, count=n, offset=self.pos)
            self.pos += n * dt.itemsize
            return arr
        fmt = _SCALAR[t]
        (v,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return v
