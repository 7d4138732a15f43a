#!/usr/bin/python3
"""mkseeds_gguf.py OUTDIR: writes the small seed corpus for fuzz_gguf
(tests/fuzz/gguf/, committed; each file < 4 KB) with the numpy reference
writer tools/ref/gguf.py: every metadata value type, every tensor type we
run, v2 and v3 headers, a non-default alignment, an empty file section."""
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import gguf  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(1)


def save(name, w):
    p = os.path.join(out, name)
    w.write(p)
    assert os.path.getsize(p) < 4096, name


# 1: llama-like: tokenizer arrays, all four tensor types
w = gguf.GGUFWriter()
w.add_kv("general.architecture", "llama")
w.add_kv("general.name", "seed")
w.add_kv("llama.block_count", 1)
w.add_kv("llama.embedding_length", 32)
w.add_kv("llama.rope.freq_base", 10000.0)
w.add_kv("tokenizer.ggml.model", "llama")
w.add_kv("tokenizer.ggml.tokens", ["<unk>", "<s>", "</s>", "a", "b", "ab"])
w.add_kv("tokenizer.ggml.scores", np.arange(6, dtype=np.float32))
w.add_kv("tokenizer.ggml.token_type", np.array([2, 3, 3, 1, 1, 1], dtype=np.int32))
w.add_kv("tokenizer.ggml.add_bos_token", True)
w.add_tensor("token_embd.weight", rng.standard_normal((6, 32)).astype(np.float32), gguf.GGML_Q8_0)
w.add_tensor("output_norm.weight", np.ones(32, dtype=np.float32))
w.add_tensor("blk.0.attn_q.weight", rng.standard_normal((4, 32)).astype(np.float32), gguf.GGML_Q4_0)
w.add_tensor("blk.0.ffn_up.weight", rng.standard_normal((3, 32)).astype(np.float32), gguf.GGML_F16)
save("llama-mixed.gguf", w)

# 2: every scalar and array value type, no tensors
w = gguf.GGUFWriter()
for i, (vt, v) in enumerate([(gguf.T_UINT8, 7), (gguf.T_INT8, -7), (gguf.T_UINT16, 700), (gguf.T_INT16, -700),
                             (gguf.T_UINT32, 70000), (gguf.T_INT32, -70000), (gguf.T_FLOAT32, 1.5),
                             (gguf.T_BOOL, False), (gguf.T_STRING, "s"), (gguf.T_UINT64, 1 << 40),
                             (gguf.T_INT64, -(1 << 40)), (gguf.T_FLOAT64, 2.25)]):
    w.add_kv("k.%d" % i, v, vt)
for dt in ("uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "uint64", "int64", "float64"):
    w.add_kv("arr." + dt, np.arange(3).astype(dt))
w.add_kv("arr.str", ["x", "", "yz"])
save("all-kv-types.gguf", w)

# 3: alignment 64, F32 3-D and 4-D tensors
w = gguf.GGUFWriter(alignment=64)
w.add_kv("general.architecture", "bert")
w.add_tensor("t3", np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4))
w.add_tensor("t4", np.arange(16, dtype=np.float32).reshape(2, 2, 2, 2))
w.add_tensor("position_embd.weight", np.zeros((2, 32), dtype=np.float32))
save("align64-dims.gguf", w)

# 4: the same small file as version 2 (identical layout, version field 2)
p = os.path.join(out, "llama-mixed.gguf")
b = bytearray(open(p, "rb").read())
struct.pack_into("<I", b, 4, 2)
open(os.path.join(out, "v2-llama-mixed.gguf"), "wb").write(b)

# 5: header only
open(os.path.join(out, "empty.gguf"), "wb").write(struct.pack("<IIQQ", gguf.GGUF_MAGIC, 3, 0, 0))
