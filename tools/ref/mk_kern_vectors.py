#!/usr/bin/python3
"""Writes tests/data/kern_quant.bin: float32 inputs and the Q8_0 / Q4_0 bytes
the numpy reference quantizers (tools/ref/gguf.py, ggml-exact) give for
them, for tests/test_kern.c. Layout (little-endian): u32 n_floats, then
n float32, then n/32*34 Q8_0 bytes, then n/32*18 Q4_0 bytes.
Run: /usr/bin/python3 tools/ref/mk_kern_vectors.py tests/data/kern_quant.bin"""
import struct
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import gguf  # noqa: E402

rng = np.random.default_rng(20261123)
blocks = [
    rng.normal(0, 1, 32),                        # plain
    rng.normal(0, 1e-3, 32),                     # small
    rng.normal(0, 300, 32),                      # large
    np.zeros(32),                                # all zero: d = 0
    np.r_[np.full(31, 0.01), -5.0],              # one dominant negative
    np.arange(32) - 15.5,                        # ramp, ties at .5 after scaling
    np.r_[127 * np.ones(16), -127 * np.ones(16)] / 127.0 * 3,  # extremes
    rng.uniform(-1, 1, 32) * 6e-5,               # fp16 subnormal scales
    np.r_[np.full(16, 1e4), np.full(16, -1e4)],  # ties on the max
    rng.standard_cauchy(32),                     # heavy tails
]
x = np.concatenate(blocks).astype(np.float32)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<I", x.size))
    f.write(x.tobytes())
    f.write(gguf.quantize_q8_0(x))
    f.write(gguf.quantize_q4_0(x))
print(f"wrote {sys.argv[1]}: {x.size} floats, {x.size // 32} blocks")
