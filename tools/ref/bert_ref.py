#!/usr/bin/python3
"""Reference forward pass (numpy, float64) for GGUF `general.architecture =
"bert"` sentence encoders (all-MiniLM-L6-v2 class), llama.cpp conventions.

Computation (docs/models/reference.md has the full statement):
  ids     = [CLS] wordpiece(text) [SEP]   (truncated to --max-len, CLS/SEP kept)
  x       = token_embd[ids] + position_embd[0..T-1] + token_types[0]
  x       = LN(x; token_embd_norm)                    LN(x) = (x-mean)/sqrt(var+eps)*g + b, eps = bert.attention.layer_norm_epsilon
  per layer:
    q,k,v = Wq x + bq, Wk x + bk, Wv x + bv           (no causal mask; padded keys masked in a batch)
    a     = Wo concat_h softmax(q_h k_h^T / sqrt(d_h)) v_h + bo
    x     = LN(x + a; attn_output_norm)
    x     = LN(x + Wdown gelu(Wup x + bup) + bdown; layer_output_norm)
  emb     = normalize(mean_t x_t)                     mean over the real (non-pad) tokens incl. CLS/SEP
  gelu(x) = 0.5 x (1 + erf(x / sqrt 2))   (--gelu tanh: llama.cpp/ggml's tanh approximation)

CLI:
  /usr/bin/python3 tools/ref/bert_ref.py MODEL.gguf --text "first" [--text "second" ...]
      [--json] [--dump-embeddings FILE] [--dump-hidden FILE] [--act-q8] [--gelu erf|tanh]
      [--pooling mean|cls|none] [--max-len 512] [--tokens 101,7592,102]
      [--compare-embeddings FILE] [--compare-hidden FILE] [--tol 1e-4]
  --dump-embeddings: float32 LE [n_texts, n_embd] (pooled + L2-normalised)
  --dump-hidden:     float32 LE [sum of T_i, n_embd], last-layer token states of
                     each text in order (before pooling)
  Several --text are run as one padded batch (pad id, key mask); the result
  equals running them one by one (checked by --selftest).
"""
import argparse
import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gguf  # noqa: E402
import tok_ref  # noqa: E402
from llama_ref import Linear, compare, fake_quant_q8_0  # noqa: E402,F401

_erf = np.frompyfunc(math.erf, 1, 1)


def gelu_erf(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


class BertModel:
    def __init__(self, path, gelu="erf"):
        r = gguf.GGUFReader(path)
        self.reader = r
        arch = r.get("general.architecture")
        if arch != "bert":
            raise ValueError("general.architecture is %r, expected 'bert'" % arch)
        g = lambda k, d=None: r.get("bert." + k, d)
        self.n_embd = int(g("embedding_length"))
        self.n_layer = int(g("block_count"))
        self.n_head = int(g("attention.head_count"))
        self.n_ff = int(g("feed_forward_length"))
        self.eps = float(g("attention.layer_norm_epsilon", 1e-12))
        self.n_ctx = int(g("context_length", 512))
        self.pooling = {0: "none", 1: "mean", 2: "cls"}.get(int(g("pooling_type", 1)), "mean")
        self.gelu = gelu_erf if gelu == "erf" else gelu_tanh
        t = r.tensors
        f64 = lambda n: t[n].numpy().astype(np.float64)
        self.tok_embd = f64("token_embd.weight")
        self.pos_embd = f64("position_embd.weight")
        self.type_embd = f64("token_types.weight")
        self.emb_norm = (f64("token_embd_norm.weight"), f64("token_embd_norm.bias"))
        self.layers = []
        for i in range(self.n_layer):
            p = "blk.%d." % i
            L = {}
            for nm in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_up", "ffn_down"):
                L[nm] = (Linear(t[p + nm + ".weight"]), f64(p + nm + ".bias"))
            L["attn_output_norm"] = (f64(p + "attn_output_norm.weight"), f64(p + "attn_output_norm.bias"))
            L["layer_output_norm"] = (f64(p + "layer_output_norm.weight"), f64(p + "layer_output_norm.bias"))
            self.layers.append(L)
        self.tok = tok_ref.WordPiece.from_gguf(r)

    def ln(self, x, gb):
        mu = x.mean(axis=-1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.eps) * gb[0] + gb[1]

    def tokenize(self, text, max_len=None):
        ids = self.tok.encode(text, add_special=True)
        max_len = min(max_len or self.n_ctx, self.n_ctx)
        if len(ids) > max_len:
            ids = ids[:max_len - 1] + [self.tok.sep_id]
        return ids

    def forward(self, batch_ids, act_q8=False):
        """batch_ids: list of id lists. Returns (hidden [B, T, n_embd], mask [B, T])."""
        B = len(batch_ids)
        T = max(len(x) for x in batch_ids)
        ids = np.full((B, T), self.tok.pad_id, dtype=np.int64)
        mask = np.zeros((B, T), dtype=bool)
        for b, x in enumerate(batch_ids):
            ids[b, :len(x)] = x
            mask[b, :len(x)] = True
        x = self.tok_embd[ids] + self.pos_embd[np.arange(T)][None] + self.type_embd[0][None, None]
        x = self.ln(x, self.emb_norm)
        nh = self.n_head
        hd = self.n_embd // nh
        keymask = np.where(mask, 0.0, -np.inf)[:, None, None, :]          # [B,1,1,T]

        def lin(L, nm, h):
            W, bias = L[nm]
            return W(h, act_q8) + bias

        for L in self.layers:
            q = lin(L, "attn_q", x).reshape(B, T, nh, hd)
            k = lin(L, "attn_k", x).reshape(B, T, nh, hd)
            v = lin(L, "attn_v", x).reshape(B, T, nh, hd)
            sc = np.einsum("bthd,bshd->bhts", q, k) / math.sqrt(hd) + keymask
            sc = sc - sc.max(axis=-1, keepdims=True)
            p = np.exp(sc)
            p /= p.sum(axis=-1, keepdims=True)
            o = np.einsum("bhts,bshd->bthd", p, v).reshape(B, T, nh * hd)
            x = self.ln(x + lin(L, "attn_output", o), L["attn_output_norm"])
            f = lin(L, "ffn_down", self.gelu(lin(L, "ffn_up", x)))
            x = self.ln(x + f, L["layer_output_norm"])
        return x, mask

    def embed(self, batch_ids, act_q8=False, pooling=None):
        h, mask = self.forward(batch_ids, act_q8)
        pooling = pooling or self.pooling
        if pooling == "none":
            return h, mask, None
        if pooling == "cls":
            e = h[:, 0, :]
        else:
            m = mask[..., None].astype(np.float64)
            e = (h * m).sum(axis=1) / m.sum(axis=1)
        e = e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)
        return h, mask, e


def selftest(path):
    m = BertModel(path)
    texts = ["Hydrogen is the lightest element.", "What is the atomic number of gold?",
             "Café déjà vu, naïve résumé", "a"]
    ids = [m.tokenize(t) for t in texts]
    _, _, eb = m.embed(ids)
    ok = True
    for i, x in enumerate(ids):
        _, _, e1 = m.embed([x])
        d = np.abs(e1[0] - eb[i]).max()
        ok &= d < 1e-12
    sims = eb @ eb.T
    print("batch vs single max diff < 1e-12: %s; norms %s" % (ok, np.round(np.linalg.norm(eb, axis=1), 12)))
    print("cosine similarities:\n", np.round(sims, 4))
    return ok


def main():
    ap = argparse.ArgumentParser(description="numpy reference for GGUF BERT encoders")
    ap.add_argument("model")
    ap.add_argument("--text", action="append", help="text to embed (repeatable)")
    ap.add_argument("--tokens", action="append", help="comma separated ids (repeatable; replaces tokenization)")
    ap.add_argument("--max-len", type=int, default=None, help="truncate to this many tokens (sentence-transformers MiniLM uses 256)")
    ap.add_argument("--pooling", choices=("mean", "cls", "none"), default=None)
    ap.add_argument("--gelu", choices=("erf", "tanh"), default="erf")
    ap.add_argument("--act-q8", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--dump-embeddings")
    ap.add_argument("--dump-hidden")
    ap.add_argument("--compare-embeddings", help="float32 LE [n_texts, n_embd] from the C runtime; exit 1 on mismatch")
    ap.add_argument("--compare-hidden", help="float32 LE [sum T_i, n_embd] from the C runtime; exit 1 on mismatch")
    ap.add_argument("--tol", type=float, default=1e-4, help="pass if max|c-ref| <= tol * max|ref|")
    ap.add_argument("--selftest", action="store_true")
    a = ap.parse_args()
    if a.selftest:
        sys.exit(0 if selftest(a.model) else 1)
    m = BertModel(a.model, a.gelu)
    if a.tokens:
        batch = [[int(t) for t in s.split(",") if t.strip()] for s in a.tokens]
    else:
        batch = [m.tokenize(t, a.max_len) for t in (a.text or ["Hello world"])]
    h, mask, e = m.embed(batch, a.act_q8, a.pooling)
    if a.dump_embeddings and e is not None:
        e.astype("<f4").tofile(a.dump_embeddings)
    if a.dump_hidden:
        np.concatenate([h[b, :len(x)] for b, x in enumerate(batch)]).astype("<f4").tofile(a.dump_hidden)
    ok = True
    if a.compare_embeddings:
        ok &= compare(a.compare_embeddings, e, a.tol, "embeddings")
    if a.compare_hidden:
        ok &= compare(a.compare_hidden, np.concatenate([h[b, :len(x)] for b, x in enumerate(batch)]), a.tol, "hidden")
    if a.json:
        print(json.dumps({
            "model": os.path.basename(a.model),
            "items": [{"ids": x, "tokens": tok_ref.token_strings(m.tok, x),
                       "embedding": None if e is None else [float(v) for v in e[b]]}
                      for b, x in enumerate(batch)],
        }, ensure_ascii=False))
    else:
        for b, x in enumerate(batch):
            print("ids:", x)
            print("tokens:", tok_ref.token_strings(m.tok, x))
            if e is not None:
                print("embedding[:8]:", np.round(e[b, :8], 6), "norm", float(np.linalg.norm(e[b])))
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
