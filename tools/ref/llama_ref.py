#!/usr/bin/python3
"""Reference forward pass (numpy, float64) for GGUF `general.architecture =
"llama"` decoders: stories260K, SmolLM2-135M/360M-shaped models.

Computation (see docs/models/reference.md for the full statement):
  x_0     = token_embd[id]                                 (row id of ne=[n_embd, n_vocab])
  per layer l:
    h     = rmsnorm(x, attn_norm)                          rmsnorm(x,w) = x / sqrt(mean(x^2) + eps) * w
    q,k,v = Wq h, Wk h, Wv h                               (W stored ne=[in, out] -> numpy [out, in])
    q,k   = rope_norm(q, pos), rope_norm(k, pos)           adjacent pairs (2i, 2i+1), theta_i = pos * base^(-2i/n_rot)
    att   = softmax(q_h . k_g / sqrt(head_dim), causal)    query head h uses kv head g = h // (n_head / n_head_kv)
    x     = x + Wo concat_h(att v_g)
    h     = rmsnorm(x, ffn_norm)
    x     = x + Wdown( silu(Wgate h) * (Wup h) )
  logits  = Wout rmsnorm(x, output_norm)                   Wout = output.weight, or token_embd.weight if absent (tied)

CLI:
  /usr/bin/python3 tools/ref/llama_ref.py MODEL.gguf --prompt "Once upon a time" -n 40
      [--tokens 1,403,407] [--no-bos] [--dump-logits FILE] [--json] [--act-q8] [--ignore-eos]
  --dump-logits writes float32 little-endian, row-major [n_rows, n_vocab]; row i holds
  the logits computed after feeding token i of the full sequence (prompt ids, then
  generated ids), i.e. the distribution of token i+1.  n_rows = n_prompt + max(n_gen - 1, 0)
  (-n 0: prompt rows only, the teacher-forced check: pass the whole sequence as --tokens).
  --compare-logits FILE [--tol T] checks a C dump against the reference; exit 1 on failure.
  --act-q8 rounds each activation vector through Q8_0 (32-blocks, reference
  quantizer) before every matmul whose weight is Q8_0/Q4_0, as ggml's CPU
  kernels do (vec_dot_type = Q8_0).  Without it activations stay float64.
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gguf  # noqa: E402
import tok_ref  # noqa: E402


def fake_quant_q8_0(x):
    """Round a float vector through Q8_0 (reference quantizer), return float64."""
    x32 = np.asarray(x, dtype=np.float32)
    n = x32.shape[-1]
    if n % 32:
        return np.asarray(x, dtype=np.float64)
    raw = gguf.quantize_q8_0(x32.reshape(-1, n))
    return gguf.dequantize_q8_0(raw, x32.size).reshape(x32.shape).astype(np.float64)


class Linear:
    def __init__(self, ti):
        self.w = ti.numpy().astype(np.float64)   # [out, in]
        self.quantized = ti.type in (gguf.GGML_Q8_0, gguf.GGML_Q4_0)
        self.type = ti.type

    def __call__(self, x, act_q8=False):
        if act_q8 and self.quantized:
            x = fake_quant_q8_0(x)
        return x @ self.w.T


def rope(x, pos, n_rot, base, mode="norm"):
    """x: [T, n_heads, head_dim]; pos: [T].  'norm' rotates adjacent pairs
    (x[2i], x[2i+1]) (llama.cpp LLAMA_ROPE_TYPE_NORM, used by arch llama);
    'neox' rotates (x[i], x[i + n_rot/2]) (HF rotate_half)."""
    half = n_rot // 2
    inv = base ** (-np.arange(half, dtype=np.float64) * 2.0 / n_rot)
    ang = np.asarray(pos, dtype=np.float64)[:, None] * inv[None, :]       # [T, half]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    out = x.copy()
    if mode == "norm":
        a, b = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
        out[..., 0:n_rot:2] = a * c - b * s
        out[..., 1:n_rot:2] = a * s + b * c
    else:
        a, b = x[..., :half], x[..., half:n_rot]
        out[..., :half] = a * c - b * s
        out[..., half:n_rot] = a * s + b * c
    return out


def hf_to_gguf_qk_permute(w, n_head):
    """The row permutation llama.cpp's HF converter applies to q_proj/k_proj
    (n_head = n_head_kv for k): within each head, row j of the HF layout
    (rotate_half pairs j, j+d/2) moves so that pairs become adjacent:
    gguf_row[h, 2i + t] = hf_row[h, t*d/2 + i]."""
    out_f = w.shape[0]
    d = out_f // n_head
    return w.reshape(n_head, 2, d // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


class LlamaModel:
    def __init__(self, path, rope_mode="norm"):
        r = gguf.GGUFReader(path)
        self.reader = r
        arch = r.get("general.architecture")
        if arch != "llama":
            raise ValueError("general.architecture is %r, expected 'llama'" % arch)
        g = lambda k, d=None: r.get("%s.%s" % (arch, k), d)
        self.n_embd = int(g("embedding_length"))
        self.n_layer = int(g("block_count"))
        self.n_head = int(g("attention.head_count"))
        self.n_head_kv = int(g("attention.head_count_kv", self.n_head))
        self.n_ff = int(g("feed_forward_length"))
        self.head_dim = self.n_embd // self.n_head
        self.n_rot = int(g("rope.dimension_count", self.head_dim))
        self.freq_base = float(g("rope.freq_base", 10000.0))
        self.eps = float(g("attention.layer_norm_rms_epsilon", 1e-5))
        self.n_ctx = int(g("context_length", 2048))
        self.rope_mode = rope_mode
        t = r.tensors
        self.tok_embd = t["token_embd.weight"].numpy().astype(np.float64)   # [n_vocab, n_embd]
        self.n_vocab = self.tok_embd.shape[0]
        self.tied = "output.weight" not in t
        self.output = Linear(t["token_embd.weight"] if self.tied else t["output.weight"])
        self.output_norm = t["output_norm.weight"].numpy().astype(np.float64)
        self.layers = []
        for i in range(self.n_layer):
            p = "blk.%d." % i
            L = {k: Linear(t[p + k + ".weight"]) for k in
                 ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")}
            L["attn_norm"] = t[p + "attn_norm.weight"].numpy().astype(np.float64)
            L["ffn_norm"] = t[p + "ffn_norm.weight"].numpy().astype(np.float64)
            self.layers.append(L)
        self.tok = tok_ref.from_gguf(r)
        self.reset()

    def reset(self):
        self.k_cache = [np.zeros((0, self.n_head_kv, self.head_dim)) for _ in range(self.n_layer)]
        self.v_cache = [np.zeros((0, self.n_head_kv, self.head_dim)) for _ in range(self.n_layer)]
        self.n_past = 0

    def rmsnorm(self, x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * w

    def forward(self, ids, act_q8=False):
        """Feed tokens ids (appending to the KV cache); returns logits [T, n_vocab]."""
        ids = np.asarray(ids, dtype=np.int64)
        T = len(ids)
        pos = np.arange(self.n_past, self.n_past + T)
        x = self.tok_embd[ids]                                  # [T, n_embd]
        hd, nh, nkv = self.head_dim, self.n_head, self.n_head_kv
        grp = nh // nkv
        for li, L in enumerate(self.layers):
            h = self.rmsnorm(x, L["attn_norm"])
            q = L["attn_q"](h, act_q8).reshape(T, nh, hd)
            k = L["attn_k"](h, act_q8).reshape(T, nkv, hd)
            v = L["attn_v"](h, act_q8).reshape(T, nkv, hd)
            q = rope(q, pos, self.n_rot, self.freq_base, self.rope_mode)
            k = rope(k, pos, self.n_rot, self.freq_base, self.rope_mode)
            K = self.k_cache[li] = np.concatenate([self.k_cache[li], k], axis=0)   # [S, nkv, hd]
            V = self.v_cache[li] = np.concatenate([self.v_cache[li], v], axis=0)
            S = K.shape[0]
            kv_idx = np.arange(nh) // grp
            Kh = K[:, kv_idx, :]                                # [S, nh, hd]
            Vh = V[:, kv_idx, :]
            sc = np.einsum("thd,shd->hts", q, Kh) / np.sqrt(hd)  # [nh, T, S]
            causal = np.arange(S)[None, :] > pos[:, None]       # key after query -> masked
            sc = np.where(causal[None, :, :], -np.inf, sc)
            sc = sc - sc.max(axis=-1, keepdims=True)
            p = np.exp(sc)
            p /= p.sum(axis=-1, keepdims=True)
            o = np.einsum("hts,shd->thd", p, Vh).reshape(T, nh * hd)
            x = x + L["attn_output"](o, act_q8)
            h = self.rmsnorm(x, L["ffn_norm"])
            gt = L["ffn_gate"](h, act_q8)
            up = L["ffn_up"](h, act_q8)
            x = x + L["ffn_down"](gt / (1.0 + np.exp(-gt)) * up, act_q8)
        self.n_past += T
        return self.output(self.rmsnorm(x, self.output_norm), act_q8)

    def generate(self, prompt_ids, n, act_q8=False, stop_at_eos=True):
        """Greedy decoding with KV cache. Returns (generated ids, logits rows)."""
        self.reset()
        rows = []
        logits = self.forward(prompt_ids, act_q8)
        rows.extend(logits)
        out = []
        eos = self.reader.get("tokenizer.ggml.eos_token_id")
        for step in range(n):
            nxt = int(np.argmax(rows[-1]))
            out.append(nxt)
            if (stop_at_eos and eos is not None and nxt == int(eos)) or step == n - 1:
                break
            rows.extend(self.forward([nxt], act_q8))
        return out, np.array(rows)


def compare(path, ref, tol, what="logits"):
    """Compare a float32 LE file to ref [rows, n]; prints one line, returns pass/fail."""
    c = np.fromfile(path, dtype="<f4").astype(np.float64)
    if c.size != ref.size:
        print("compare %s: FAIL size %d != reference %d (shape %s)" % (what, c.size, ref.size, ref.shape),
              file=sys.stderr)
        return False
    c = c.reshape(ref.shape)
    d = np.abs(c - ref)
    scale = np.abs(ref).max()
    rel = d.max() / scale
    rms = np.sqrt((d ** 2).mean()) / np.sqrt((ref ** 2).mean())
    top1 = float(np.mean(np.argmax(c, axis=-1) == np.argmax(ref, axis=-1))) if ref.ndim == 2 else 1.0
    ok = bool(rel <= tol) and np.all(np.isfinite(c))
    print("compare %s: %s max_abs=%.3e max_rel=%.3e rms_rel=%.3e top1_agree=%.3f tol=%.1e" % (
        what, "PASS" if ok else "FAIL", d.max(), rel, rms, top1, tol), file=sys.stderr)
    return ok


def selftest_rope():
    """The HF->GGUF q/k permutation turns HF's rotate_half RoPE into the
    adjacent-pair RoPE: rope_neox(W_hf x) == unpermute(rope_norm(W_gguf x))."""
    rng = np.random.default_rng(0)
    nh, d, n_in = 3, 8, 16
    w_hf = rng.standard_normal((nh * d, n_in))
    x = rng.standard_normal((5, n_in))
    pos = np.arange(5) + 3
    w_gg = hf_to_gguf_qk_permute(w_hf, nh)
    q_hf = rope((x @ w_hf.T).reshape(5, nh, d), pos, d, 10000.0, "neox")
    q_gg = rope((x @ w_gg.T).reshape(5, nh, d), pos, d, 10000.0, "norm")
    # scores are invariant to a common permutation of q and k dims: compare q.q'
    s_hf = np.einsum("thd,shd->hts", q_hf, q_hf)
    s_gg = np.einsum("thd,shd->hts", q_gg, q_gg)
    err = np.abs(s_hf - s_gg).max()
    print("RoPE convention check: neox(HF weights) vs norm(permuted weights): max score diff %.2e" % err)
    return err < 1e-10


def main():
    ap = argparse.ArgumentParser(description="numpy reference for GGUF llama decoders")
    ap.add_argument("model", nargs="?")
    ap.add_argument("--prompt", "--text", dest="prompt", default="Once upon a time")
    ap.add_argument("--tokens", help="comma separated prompt token ids (overrides --prompt)")
    ap.add_argument("-n", type=int, default=32, help="tokens to generate (greedy)")
    ap.add_argument("--no-bos", action="store_true", help="do not add BOS even if the vocab wants it")
    ap.add_argument("--parse-special", action="store_true")
    ap.add_argument("--dump-logits", help="write float32 LE logits [n_rows, n_vocab] here")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--act-q8", action="store_true", help="emulate Q8_0 activation rounding for quantized matmuls")
    ap.add_argument("--ignore-eos", action="store_true")
    ap.add_argument("--compare-logits", help="float32 LE file [n_rows, n_vocab] from the C runtime to check against")
    ap.add_argument("--tol", type=float, default=1e-4,
                    help="pass if max|c-ref| <= tol * max|ref| (default 1e-4, for F32 weights)")
    ap.add_argument("--rope", choices=("norm", "neox"), default="norm", help="(experiments only)")
    ap.add_argument("--selftest", action="store_true")
    a = ap.parse_args()
    if a.selftest:
        sys.exit(0 if selftest_rope() else 1)
    m = LlamaModel(a.model, rope_mode=a.rope)
    if a.tokens:
        ids = [int(t) for t in a.tokens.split(",") if t.strip()]
    else:
        ids = m.tok.encode(a.prompt, add_special=not a.no_bos, parse_special=a.parse_special)
    gen, rows = m.generate(ids, a.n, a.act_q8, stop_at_eos=not a.ignore_eos)
    if a.dump_logits:
        rows.astype("<f4").tofile(a.dump_logits)
    cmp_ok = True
    if a.compare_logits:
        cmp_ok = compare(a.compare_logits, rows, a.tol)
    full = m.tok.decode_bytes(ids + gen)
    head = m.tok.decode_bytes(ids)
    text = full.decode("utf-8", errors="replace")
    gen_text = full[len(head):].decode("utf-8", errors="replace") if full.startswith(head) else m.tok.decode(gen)
    if a.json:
        last = rows[-1]
        top = np.argsort(-last)[:5]
        print(json.dumps({
            "model": os.path.basename(a.model),
            "prompt_ids": ids, "prompt_tokens": tok_ref.token_strings(m.tok, ids),
            "generated_ids": gen, "generated_tokens": tok_ref.token_strings(m.tok, gen),
            "text": text, "generated_text": gen_text, "logits_shape": list(rows.shape),
            "last_top5": [[int(i), float(last[i])] for i in top],
        }, ensure_ascii=False))
    else:
        print("prompt ids:", ids)
        print("generated ids:", gen)
        print("text:", text)
    if not cmp_ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
