#!/usr/bin/python3
"""Independent numpy GGUF reader (v2/v3) and writer (v3), plus the ggml
Q8_0 / Q4_0 block quantizers.

Written from the public description of the GGUF container and of ggml's
reference quantizers; it shares no code with llama.cpp/gguf-py.

File layout (all little endian):
    u32 magic 'GGUF' (0x46554747)   u32 version (2 or 3)
    u64 n_tensors                   u64 n_kv
    n_kv x { str key, u32 value_type, value }
    n_tensors x { str name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
    padding to `general.alignment` (default 32)
    tensor data; each tensor at data_start + offset (offset % alignment == 0)
  str = u64 length + UTF-8 bytes (no NUL)
  array value = u32 elem_type, u64 count, elements

ne[0] is the innermost (fastest varying) dimension, as in ggml.  A numpy
view of a tensor therefore has shape ne[::-1]: a linear layer stored with
ne = [in, out] is the numpy array W[out, in] and computes y = W @ x.

Quantized blocks (32 elements each):
  Q8_0: f16 d, int8 qs[32];            x[j] = d * qs[j]              (34 bytes)
  Q4_0: f16 d, u8 qs[16];              x[j]    = d * ((qs[j] & 15) - 8)
                                       x[j+16] = d * ((qs[j] >> 4) - 8)  (18 bytes)

Usage as a tool:
  /usr/bin/python3 tools/ref/gguf.py dump MODEL.gguf           # metadata + tensor table
  /usr/bin/python3 tools/ref/gguf.py quantize IN.gguf OUT.gguf q8_0|q4_0
  /usr/bin/python3 tools/ref/gguf.py selftest
"""
import struct
import sys

import numpy as np

GGUF_MAGIC = 0x46554747  # b"GGUF" read as little-endian u32
DEFAULT_ALIGNMENT = 32

# metadata value types
T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL, \
    T_STRING, T_ARRAY, T_UINT64, T_INT64, T_FLOAT64 = range(13)

_SCALAR_FMT = {
    T_UINT8: "<B", T_INT8: "<b", T_UINT16: "<H", T_INT16: "<h",
    T_UINT32: "<I", T_INT32: "<i", T_FLOAT32: "<f", T_BOOL: "<?",
    T_UINT64: "<Q", T_INT64: "<q", T_FLOAT64: "<d",
}
_SCALAR_NP = {
    T_UINT8: "<u1", T_INT8: "<i1", T_UINT16: "<u2", T_INT16: "<i2",
    T_UINT32: "<u4", T_INT32: "<i4", T_FLOAT32: "<f4", T_BOOL: "<u1",
    T_UINT64: "<u8", T_INT64: "<i8", T_FLOAT64: "<f8",
}
TYPE_NAMES = {
    T_UINT8: "u8", T_INT8: "i8", T_UINT16: "u16", T_INT16: "i16",
    T_UINT32: "u32", T_INT32: "i32", T_FLOAT32: "f32", T_BOOL: "bool",
    T_STRING: "str", T_ARRAY: "arr", T_UINT64: "u64", T_INT64: "i64",
    T_FLOAT64: "f64",
}

# ggml tensor types we handle (ids as in ggml's enum)
GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q8_0 = 0, 1, 2, 8
GGML_TYPE_NAMES = {GGML_F32: "F32", GGML_F16: "F16", GGML_Q4_0: "Q4_0", GGML_Q8_0: "Q8_0"}
# (block size in elements, bytes per block)
GGML_BLOCK = {GGML_F32: (1, 4), GGML_F16: (1, 2), GGML_Q4_0: (32, 18), GGML_Q8_0: (32, 34)}

# general.file_type values (llama_ftype)
FTYPE_ALL_F32, FTYPE_MOSTLY_F16, FTYPE_MOSTLY_Q4_0, FTYPE_MOSTLY_Q8_0 = 0, 1, 2, 7
FTYPE_FOR = {GGML_F32: FTYPE_ALL_F32, GGML_F16: FTYPE_MOSTLY_F16,
             GGML_Q4_0: FTYPE_MOSTLY_Q4_0, GGML_Q8_0: FTYPE_MOSTLY_Q8_0}

QK = 32


# --------------------------------------------------------------------------
# quantizers (bit-exact emulation of ggml's *_ref row quantizers, which work
# in float32; numpy float32 arithmetic is IEEE single precision, no FMA)
# --------------------------------------------------------------------------

def _roundf(x):
    """C roundf(): round half away from zero.  x is float32; the +0.5 is done
    in float64 where it is exact, so 0.49999997f rounds to 0 like roundf."""
    a = np.abs(x.astype(np.float64))
    return (np.sign(x) * np.floor(a + 0.5)).astype(np.float64)


def quantize_q8_0(x):
    """float32 array (size multiple of 32, last axis contiguous) -> bytes.

    ggml quantize_row_q8_0_ref: amax = max|x|; d = amax/127 (f32);
    id = d ? 1/d : 0 (f32); q = roundf(x*id); store fp16(d) (round to nearest
    even) then the 32 int8 values."""
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, QK)
    amax = np.max(np.abs(x), axis=1)
    d = (amax / np.float32(127.0)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, np.float32(1.0) / np.where(d != 0, d, np.float32(1)), np.float32(0)).astype(np.float32)
    v = (x * idv[:, None]).astype(np.float32)
    q = _roundf(v)
    q = np.clip(q, -128, 127).astype(np.int8)  # |v| <= 127 by construction
    out = np.empty((x.shape[0], 34), dtype=np.uint8)
    out[:, 0:2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def dequantize_q8_0(buf, n):
    b = np.frombuffer(buf, dtype=np.uint8, count=(n // QK) * 34).reshape(-1, 34)
    d = b[:, 0:2].copy().view(np.float16).astype(np.float32)  # (nb,1)
    q = b[:, 2:].view(np.int8).astype(np.float32)
    return (q * d).astype(np.float32).reshape(-1)


def quantize_q4_0(x):
    """ggml quantize_row_q4_0_ref: take the element with the largest |x|
    (first one on ties) with its sign: max; d = max / -8 (f32);
    id = d ? 1/d : 0; q = min(15, (int8)(x*id + 8.5f)) (C cast truncates toward
    zero); qs[j] = q[j] | q[j+16] << 4; store fp16(d)."""
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, QK)
    ax = np.abs(x)
    # first index of the maximum |x| (ggml uses strict '<' so the first wins)
    idx = np.argmax(ax, axis=1)
    mx = x[np.arange(x.shape[0]), idx]
    d = (mx / np.float32(-8.0)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, np.float32(1.0) / np.where(d != 0, d, np.float32(1)), np.float32(0)).astype(np.float32)
    v = (x * idv[:, None]).astype(np.float32)
    v = (v + np.float32(8.5)).astype(np.float32)
    q = np.trunc(v).astype(np.int32)        # (int8_t) cast: values are in [0, 17)
    q = np.minimum(15, q).astype(np.uint8)
    out = np.empty((x.shape[0], 18), dtype=np.uint8)
    out[:, 0:2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


def dequantize_q4_0(buf, n):
    b = np.frombuffer(buf, dtype=np.uint8, count=(n // QK) * 18).reshape(-1, 18)
    d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
    qs = b[:, 2:]
    lo = (qs & 15).astype(np.int32) - 8
    hi = (qs >> 4).astype(np.int32) - 8
    q = np.concatenate([lo, hi], axis=1).astype(np.float32)
    return (q * d).astype(np.float32).reshape(-1)


def tensor_nbytes(ggml_type, ne):
    n = int(np.prod(ne)) if len(ne) else 1
    bs, bb = GGML_BLOCK[ggml_type]
    if ne[0] % bs:
        raise ValueError("ne[0]=%d not a multiple of block size %d" % (ne[0], bs))
    return n // bs * bb


def encode_tensor(arr, ggml_type):
    """numpy array (shape = ne[::-1]) -> raw bytes of the given ggml type."""
    a = np.ascontiguousarray(arr, dtype=np.float32)
    if ggml_type == GGML_F32:
        return a.astype("<f4").tobytes()
    if ggml_type == GGML_F16:
        return a.astype("<f2").tobytes()
    if ggml_type == GGML_Q8_0:
        return quantize_q8_0(a)
    if ggml_type == GGML_Q4_0:
        return quantize_q4_0(a)
    raise ValueError("unsupported ggml type %r" % ggml_type)


def decode_tensor(raw, ggml_type, ne):
    """raw bytes -> float32 numpy array of shape ne[::-1]."""
    n = int(np.prod(ne))
    if ggml_type == GGML_F32:
        v = np.frombuffer(raw, dtype="<f4", count=n).astype(np.float32)
    elif ggml_type == GGML_F16:
        v = np.frombuffer(raw, dtype="<f2", count=n).astype(np.float32)
    elif ggml_type == GGML_Q8_0:
        v = dequantize_q8_0(raw, n)
    elif ggml_type == GGML_Q4_0:
        v = dequantize_q4_0(raw, n)
    else:
        raise ValueError("unsupported ggml type %r" % ggml_type)
    return v.reshape(tuple(reversed([int(e) for e in ne])))


# --------------------------------------------------------------------------
# reader
# --------------------------------------------------------------------------

class TensorInfo:
    __slots__ = ("name", "ne", "type", "offset", "nbytes", "_file")

    def __init__(self, name, ne, typ, offset, f):
        self.name, self.ne, self.type, self.offset, self._file = name, ne, typ, offset, f
        self.nbytes = tensor_nbytes(typ, ne) if typ in GGML_BLOCK else None

    @property
    def shape(self):
        """numpy shape (= ne reversed)."""
        return tuple(reversed(self.ne))

    def raw(self):
        f = self._file
        start = f.data_offset + self.offset
        return f.buf[start:start + self.nbytes]

    def numpy(self):
        """Dequantized float32 array of shape ne[::-1]."""
        return decode_tensor(self.raw(), self.type, self.ne)

    def __repr__(self):
        return "TensorInfo(%s, ne=%s, %s, off=%d)" % (
            self.name, list(self.ne), GGML_TYPE_NAMES.get(self.type, self.type), self.offset)


class GGUFReader:
    """Parses the whole header; tensor data stays in a memory map."""

    def __init__(self, path):
        self.path = path
        self.buf = memoryview(np.memmap(path, dtype=np.uint8, mode="r"))
        self.pos = 0
        magic, = self._unpack("<I")
        if magic != GGUF_MAGIC:
            raise ValueError("%s: not a GGUF file (magic %08x)" % (path, magic))
        self.version, = self._unpack("<I")
        if self.version not in (2, 3):
            raise ValueError("unsupported GGUF version %d" % self.version)
        n_tensors, n_kv = self._unpack("<QQ")
        self.kv = {}        # key -> python value (arrays: list, or numpy for numeric arrays)
        self.kv_types = {}  # key -> (type, elem_type or None)
        for _ in range(n_kv):
            key = self._str()
            vt, = self._unpack("<I")
            if vt == T_ARRAY:
                et, = self._unpack("<I")
                self.kv_types[key] = (vt, et)
            else:
                self.kv_types[key] = (vt, None)
            self.kv[key] = self._value(vt, et if vt == T_ARRAY else None)
        self.alignment = int(self.kv.get("general.alignment", DEFAULT_ALIGNMENT))
        self.tensors = {}
        self.tensor_order = []
        for _ in range(n_tensors):
            name = self._str()
            nd, = self._unpack("<I")
            ne = list(self._unpack("<%dQ" % nd))
            typ, off = self._unpack("<IQ")
            ti = TensorInfo(name, ne, typ, off, self)
            self.tensors[name] = ti
            self.tensor_order.append(name)
        self.header_end = self.pos
        a = self.alignment
        self.data_offset = (self.pos + a - 1) // a * a

    def _unpack(self, fmt):
        s = struct.calcsize(fmt)
        v = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += s
        return v

    def _str(self):
        n, = self._unpack("<Q")
        s = bytes(self.buf[self.pos:self.pos + n]).decode("utf-8", errors="surrogateescape")
        self.pos += n
        return s

    def _value(self, vt, et=None):
        if vt == T_STRING:
            return self._str()
        if vt == T_ARRAY:
            n, = self._unpack("<Q")
            if et == T_STRING:
                return [self._str() for _ in range(n)]
            if et == T_ARRAY:
                out = []
                for _ in range(n):
                    sub_et, = self._unpack("<I")
                    out.append(self._value(T_ARRAY, sub_et))
                return out
            dt = np.dtype(_SCALAR_NP[et])
            a = np.frombuffer(self.buf, dtype=dt, count=n, offset=self.pos).copy()
            self.pos += n * dt.itemsize
            if et == T_BOOL:
                a = a.astype(bool)
            return a
        v, = self._unpack(_SCALAR_FMT[vt])
        return v

    def get(self, key, default=None):
        return self.kv.get(key, default)

    def tensor(self, name):
        return self.tensors[name].numpy()

    def has(self, name):
        return name in self.tensors


# --------------------------------------------------------------------------
# writer
# --------------------------------------------------------------------------

class GGUFWriter:
    """Collects metadata and tensors in memory order, then writes a v3 file.

    add_kv(key, value, vtype=None, elem_type=None): the type is inferred when
    not given (int -> u32 if >= 0 else i32, float -> f32, bool, str, list of
    str, numpy arrays by dtype)."""

    def __init__(self, alignment=DEFAULT_ALIGNMENT):
        self.kvs = []          # (key, vtype, elem_type, value)
        self.tensors = []      # (name, ne, ggml_type, bytes)
        self.alignment = alignment
        if alignment != DEFAULT_ALIGNMENT:
            self.add_kv("general.alignment", alignment, T_UINT32)

    def add_kv(self, key, value, vtype=None, elem_type=None):
        if vtype is None:
            vtype, elem_type = _infer_type(value)
        elif vtype == T_ARRAY and elem_type is None:
            _, elem_type = _infer_type(value)
        self.kvs.append((key, vtype, elem_type, value))

    def add_tensor(self, name, arr, ggml_type=GGML_F32, raw=None, ne=None):
        """arr: numpy array of shape ne[::-1] (float); or pass raw bytes + ne."""
        if raw is None:
            ne = [int(s) for s in reversed(arr.shape)]
            raw = encode_tensor(arr, ggml_type)
        assert len(raw) == tensor_nbytes(ggml_type, ne), name
        self.tensors.append((name, list(ne), ggml_type, raw))

    def write(self, path):
        a = self.alignment
        hdr = bytearray()
        hdr += struct.pack("<IIQQ", GGUF_MAGIC, 3, len(self.tensors), len(self.kvs))
        for key, vt, et, val in self.kvs:
            hdr += _pack_str(key)
            hdr += struct.pack("<I", vt)
            hdr += _pack_value(vt, et, val)
        off = 0
        offsets = []
        for name, ne, typ, raw in self.tensors:
            offsets.append(off)
            hdr += _pack_str(name)
            hdr += struct.pack("<I", len(ne))
            hdr += struct.pack("<%dQ" % len(ne), *ne)
            hdr += struct.pack("<IQ", typ, off)
            off += (len(raw) + a - 1) // a * a
        pad = (-len(hdr)) % a
        with open(path, "wb") as f:
            f.write(hdr)
            f.write(b"\0" * pad)
            for (name, ne, typ, raw), o in zip(self.tensors, offsets):
                f.write(raw)
                f.write(b"\0" * ((-len(raw)) % a))  # every tensor, incl. the last, is padded


def _infer_type(v):
    if isinstance(v, bool):
        return T_BOOL, None
    if isinstance(v, (int, np.integer)):
        return (T_UINT32 if v >= 0 else T_INT32), None
    if isinstance(v, (float, np.floating)):
        return T_FLOAT32, None
    if isinstance(v, str):
        return T_STRING, None
    if isinstance(v, np.ndarray):
        m = {np.dtype("uint8"): T_UINT8, np.dtype("int8"): T_INT8, np.dtype("uint16"): T_UINT16,
             np.dtype("int16"): T_INT16, np.dtype("uint32"): T_UINT32, np.dtype("int32"): T_INT32,
             np.dtype("float32"): T_FLOAT32, np.dtype("bool"): T_BOOL, np.dtype("uint64"): T_UINT64,
             np.dtype("int64"): T_INT64, np.dtype("float64"): T_FLOAT64}
        return T_ARRAY, m[v.dtype]
    if isinstance(v, (list, tuple)):
        if all(isinstance(e, str) for e in v):
            return T_ARRAY, T_STRING
        if all(isinstance(e, bool) for e in v):
            return T_ARRAY, T_BOOL
        if all(isinstance(e, (int, np.integer)) for e in v):
            return T_ARRAY, T_INT32
        return T_ARRAY, T_FLOAT32
    raise TypeError("cannot infer GGUF type of %r" % type(v))


def _pack_str(s):
    b = s.encode("utf-8", errors="surrogateescape")
    return struct.pack("<Q", len(b)) + b


def _pack_value(vt, et, val):
    if vt == T_STRING:
        return _pack_str(val)
    if vt == T_ARRAY:
        out = bytearray(struct.pack("<IQ", et, len(val)))
        if et == T_STRING:
            for s in val:
                out += _pack_str(s)
        elif et == T_ARRAY:
            for sub in val:
                _, sub_et = _infer_type(sub)
                out += _pack_value(T_ARRAY, sub_et, sub)
        else:
            out += np.asarray(val).astype(_SCALAR_NP[et]).tobytes()
        return bytes(out)
    return struct.pack(_SCALAR_FMT[vt], val)


# --------------------------------------------------------------------------
# copy / quantize whole files
# --------------------------------------------------------------------------

def should_quantize(name, ne):
    """llama.cpp llama-quantize policy (subset relevant to bert/llama):
    only tensors named *weight with >= 2 dims; not *_norm.weight; not
    position_embd.weight / token_types.weight; and ne[0] must be a multiple
    of the 32-element block (otherwise llama.cpp falls back to another type;
    we keep F32)."""
    if not name.endswith("weight") or len(ne) < 2:
        return False
    if "_norm.weight" in name:
        return False
    if name in ("position_embd.weight", "token_types.weight"):
        return False
    return ne[0] % QK == 0


def quant_type(name, ne, src_type, want, arch=""):
    """The type `edgekb quantize` gives a tensor in a file quantized to want
    (GGML_Q8_0/GGML_Q4_0); docs/models/quantize.md.  should_quantize, plus
    our two deliberate differences for Q4_0 files: token_embd.weight is
    Q8_0, and in USE-lite (arch "use-lite") block 0's matrices (blk.0.*)
    are Q8_0.  Tensors not F32/F16 keep their type."""
    if src_type not in (GGML_F32, GGML_F16) or not should_quantize(name, ne):
        return src_type
    if want == GGML_Q4_0 and (name == "token_embd.weight" or
                              (arch == "use-lite" and name.startswith("blk.0."))):
        return GGML_Q8_0
    return want


def copy_kvs(reader, writer, override=None, skip=()):
    override = override or {}
    for key in reader.kv:
        if key in skip or key == "general.alignment":
            continue
        vt, et = reader.kv_types[key]
        val = override.get(key, reader.kv[key])
        writer.add_kv(key, val, vt, et)
    for key, val in override.items():
        if key not in reader.kv:
            writer.add_kv(key, val)


def quantize_file(src, dst, qtype):
    """Re-encode every eligible tensor of src as qtype (GGML_Q8_0/GGML_Q4_0;
    per tensor as quant_type says) with the reference quantizer.  Tensors
    are dequantized to float32 first."""
    r = GGUFReader(src)
    w = GGUFWriter(r.alignment)
    copy_kvs(r, w, override={}, skip=("general.file_type", "general.quantization_version"))
    w.add_kv("general.file_type", FTYPE_FOR[qtype], T_UINT32)
    w.add_kv("general.quantization_version", 2, T_UINT32)
    nq = 0
    arch = r.get("general.architecture", "")
    for name in r.tensor_order:
        ti = r.tensors[name]
        qt = quant_type(name, ti.ne, ti.type, qtype, arch)
        if qt != ti.type:
            w.add_tensor(name, ti.numpy(), qt)
            nq += 1
        elif ti.type == GGML_F32:
            w.add_tensor(name, None, GGML_F32, raw=bytes(ti.raw()), ne=ti.ne)
        else:
            w.add_tensor(name, ti.numpy(), GGML_F32)
    w.write(dst)
    return nq


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

def _fmt_val(v):
    if isinstance(v, list):
        head = ", ".join(repr(e) for e in v[:6])
        return "[%s%s] (len %d)" % (head, ", ..." if len(v) > 6 else "", len(v))
    if isinstance(v, np.ndarray):
        return "%s%s (len %d)" % (np.array2string(v[:6], separator=", ")[:-1],
                                  ", ...]" if len(v) > 6 else "]", len(v))
    return repr(v)


def dump(path):
    r = GGUFReader(path)
    print("GGUF v%d  %d kv  %d tensors  alignment %d  data at %d" % (
        r.version, len(r.kv), len(r.tensors), r.alignment, r.data_offset))
    for k, v in r.kv.items():
        vt, et = r.kv_types[k]
        t = TYPE_NAMES[vt] + ("[%s]" % TYPE_NAMES[et] if et is not None else "")
        print("  %-45s %-9s %s" % (k, t, _fmt_val(v)))
    for n in r.tensor_order:
        ti = r.tensors[n]
        print("  %-32s %-5s ne=%-18s off=%d" % (n, GGML_TYPE_NAMES.get(ti.type, ti.type), ti.ne, ti.offset))


def selftest():
    rng = np.random.default_rng(0)
    ok = True
    # Q8_0: error <= d/2 per element, d = amax/127 (plus fp16 rounding of d)
    x = rng.standard_normal((64, 256)).astype(np.float32)
    x[0, :32] = 0.0                                     # all-zero block
    x[1, 5] = 100.0                                     # outlier
    x[2, :32] = np.float32(0.5) * (np.arange(32) - 16)  # exact grid values
    y8 = decode_tensor(encode_tensor(x, GGML_Q8_0), GGML_Q8_0, [256, 64])
    y4 = decode_tensor(encode_tensor(x, GGML_Q4_0), GGML_Q4_0, [256, 64])
    xb = x.reshape(-1, 32)
    amax = np.abs(xb).max(1, keepdims=True)
    e8 = np.abs(y8.reshape(-1, 32) - xb)
    e4 = np.abs(y4.reshape(-1, 32) - xb)
    r8 = (e8 / np.where(amax > 0, amax, 1)).max()
    r4 = (e4 / np.where(amax > 0, amax, 1)).max()
    rms = lambda a: float(np.sqrt(np.mean(a ** 2)))
    print("Q8_0: max |err|/amax = %.5f (bound 1/254 + 2^-11 for the fp16 d = %.5f), rel rms err = %.5f"
          % (r8, 1 / 254 + 2 ** -11, rms(y8 - x) / rms(x)))
    print("Q4_0: max |err|/amax = %.5f (bound 1/16 = %.5f + fp16 d; the clamp at +7 can reach 1/8 = 0.125), rel rms err = %.5f"
          % (r4, 1 / 16, rms(y4 - x) / rms(x)))
    ok &= r8 <= 1 / 254 + 2 ** -11 and r4 <= 0.125 + 2 ** -11
    ok &= np.all(y8[0, :32] == 0) and np.all(y4[0, :32] == 0)
    # hand-computed blocks
    b = np.zeros(32, np.float32); b[0] = -8.0; b[1] = 1.0; b[16] = 7.0; b[17] = -1.0
    raw = quantize_q4_0(b)
    # max = -8 -> d = 1.0; q = trunc(x/1 + 8.5) : -8->0, 1->9, 7->15, -1->7, 0->8
    exp = struct.pack("<e", 1.0) + bytes([0 | (15 << 4), 9 | (7 << 4)] + [8 | (8 << 4)] * 14)
    print("Q4_0 hand block:", "ok" if raw == exp else "MISMATCH %s vs %s" % (raw.hex(), exp.hex()))
    ok &= raw == exp
    b = np.zeros(32, np.float32); b[0] = 127.0; b[1] = -0.5; b[2] = 0.5; b[3] = 1.5; b[4] = -63.5
    raw = quantize_q8_0(b)  # d = 1, roundf: -0.5 -> -1, 0.5 -> 1, 1.5 -> 2, -63.5 -> -64
    exp = struct.pack("<e", 1.0) + struct.pack("<5b", 127, -1, 1, 2, -64) + bytes(27)
    print("Q8_0 hand block:", "ok" if raw == exp else "MISMATCH %s vs %s" % (raw.hex(), exp.hex()))
    ok &= raw == exp
    # scalar, C-like re-implementation (one float32 op at a time) must give the same bytes
    f32 = np.float32

    def c_q8(blk):
        amax = f32(0)
        for v in blk:
            amax = max(amax, abs(v))
        d = f32(amax / f32(127))
        idv = f32(f32(1) / d) if d else f32(0)
        qs = []
        for v in blk:
            t = float(f32(v * idv))
            qs.append(int(np.floor(abs(t) + 0.5)) * (1 if t >= 0 else -1))  # roundf
        return struct.pack("<e", d) + struct.pack("<32b", *qs)

    def c_q4(blk):
        amax, mx = f32(0), f32(0)
        for v in blk:
            if amax < abs(v):
                amax, mx = abs(v), v
        d = f32(mx / f32(-8))
        idv = f32(f32(1) / d) if d else f32(0)
        q = [min(15, int(f32(f32(v * idv) + f32(8.5)))) for v in blk]   # int() truncates like the C cast
        return struct.pack("<e", d) + bytes(q[j] | (q[j + 16] << 4) for j in range(16))

    blocks = rng.standard_normal((300, 32)).astype(np.float32) * np.float32(3)
    blocks[:100] = np.round(blocks[:100] * 2) / 2          # many exact .5 ties
    blocks[100:150] *= np.float32(1e-6)                    # tiny scales (fp16 subnormal d)
    blocks[150, :] = -2.0                                  # equal |x|: first one wins
    blocks[151, ::2] = 4.0; blocks[151, 1::2] = -4.0
    same8 = all(c_q8(b) == quantize_q8_0(b) for b in blocks)
    same4 = all(c_q4(b) == quantize_q4_0(b) for b in blocks)
    print("vectorised vs scalar C-like quantizer on 300 edge-case blocks: Q8_0 %s, Q4_0 %s"
          % ("identical" if same8 else "DIFFER", "identical" if same4 else "DIFFER"))
    ok &= same8 and same4
    # container round trip with every metadata type
    import tempfile, os
    w = GGUFWriter()
    vals = [("a.u8", 7, T_UINT8), ("a.i8", -7, T_INT8), ("a.u16", 700, T_UINT16),
            ("a.i16", -700, T_INT16), ("a.u32", 70000, T_UINT32), ("a.i32", -70000, T_INT32),
            ("a.f32", 0.25, T_FLOAT32), ("a.bool", True, T_BOOL), ("a.str", "héllo ▁", T_STRING),
            ("a.u64", 2 ** 40, T_UINT64), ("a.i64", -2 ** 40, T_INT64), ("a.f64", 1e-300, T_FLOAT64)]
    for k, v, t in vals:
        w.add_kv(k, v, t)
    w.add_kv("a.arr_str", ["x", "", "ü"])
    w.add_kv("a.arr_f32", np.array([1.5, -2], np.float32))
    w.add_kv("a.arr_i32", np.array([1, -2, 3], np.int32))
    w.add_kv("a.arr_arr", [np.array([1, 2], np.int32), np.array([3], np.int32)], T_ARRAY, T_ARRAY)
    w.add_tensor("t.f32", x[:3, :64], GGML_F32)
    w.add_tensor("t.f16", x[:3, :64], GGML_F16)
    w.add_tensor("t.q8", x, GGML_Q8_0)
    w.add_tensor("t.q4", x, GGML_Q4_0)
    with tempfile.TemporaryDirectory() as td:
        p = os.path.join(td, "t.gguf")
        w.write(p)
        r = GGUFReader(p)
        for k, v, t in vals:
            ok &= r.kv[k] == v and r.kv_types[k][0] == t
        ok &= r.kv["a.arr_str"] == ["x", "", "ü"]
        ok &= list(r.kv["a.arr_f32"]) == [1.5, -2.0]
        ok &= [list(a) for a in r.kv["a.arr_arr"]] == [[1, 2], [3]]
        ok &= np.array_equal(r.tensor("t.f32"), x[:3, :64])
        ok &= np.array_equal(r.tensor("t.f16"), x[:3, :64].astype(np.float16).astype(np.float32))
        ok &= np.array_equal(r.tensor("t.q8"), y8) and np.array_equal(r.tensor("t.q4"), y4)
        ok &= all(ti.offset % 32 == 0 for ti in r.tensors.values()) and r.data_offset % 32 == 0
        ok &= bytes(r.tensors["t.q8"].raw()) == quantize_q8_0(x)
    print("container round trip + hand blocks:", "PASS" if ok else "FAIL")
    return ok


def main(argv):
    if len(argv) >= 2 and argv[1] == "dump":
        dump(argv[2])
    elif len(argv) >= 2 and argv[1] == "quantize":
        q = {"q8_0": GGML_Q8_0, "q4_0": GGML_Q4_0}[argv[4].lower()]
        n = quantize_file(argv[2], argv[3], q)
        print("wrote %s (%d tensors quantized)" % (argv[3], n))
    elif len(argv) >= 2 and argv[1] == "selftest":
        sys.exit(0 if selftest() else 1)
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
