#!/usr/bin/python3
"""Independent numpy reference for the USE-lite embedder, reading only the
GGUF written by tools/use2gguf.mjs (weights, hyper-parameters and tokenizer).
It implements docs/models/use-lite.md; agreement with tools/use_oracle.mjs
(the npm package on TF.js) shows that the spec and the converter are complete.

Run with Debian's python3 + python3-numpy:

  /usr/bin/python3 tools/ref/use_ref.py sentences [--edge] > S.txt
        the evaluation sentences: elements_docs.jsonl texts split into
        sentences, plus the elements_questions.jsonl questions (one per line);
        --edge: edge cases (empty, whitespace, unicode, > 128 tokens, ...) as
        JSON strings, one per line (use --jsonl with the other commands)
  /usr/bin/python3 tools/ref/use_ref.py tokenize --gguf M.gguf [--jsonl] [FILE]
  /usr/bin/python3 tools/ref/use_ref.py embed    --gguf M.gguf [--jsonl] [--f32] [FILE]
  /usr/bin/python3 tools/ref/use_ref.py compare  --gguf M.gguf --oracle O.jsonl
        [--oracle-tokens T.jsonl] [--jsonl] [--f32] [--min-mean X] FILE
        prints mean/min cosine vs the oracle's embeddings, and token-id
        agreement vs the oracle's --tokens output; exit 1 below --min-mean
        (default 0.99999) or on any token mismatch
  /usr/bin/python3 tools/ref/use_ref.py check --gguf M.gguf [--edge]
        sentences -> node tools/use_oracle.mjs (embeddings and tokens) -> compare

FILE defaults to stdin.  Lines are split on \\n, one trailing \\r removed.
By default the forward pass runs in float64 on the file's float32 weights;
--f32 runs it in float32 (closer to what a C engine does).
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import unicodedata

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf import GGUFReader  # noqa: E402  (tools/ref/gguf.py, shares no code with the converter)

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEFAULT_EVAL = os.path.join(os.path.dirname(ROOT), "shared", "eval-dev")
if not os.path.isdir(DEFAULT_EVAL):
    DEFAULT_EVAL = "/work/shared/eval-dev"


# ----------------------------------------------------------------------------
# tokenizer: a transcription of the algorithm in docs/models/use-lite.md
# ----------------------------------------------------------------------------
class Tokenizer:
    def __init__(self, g, f64_scores=True):
        kv = g.kv
        if kv["tokenizer.ggml.model"] != "use-unigram":
            raise ValueError("not a use-unigram tokenizer")
        self.tokens = kv["tokenizer.ggml.tokens"]
        scores = kv["use-lite.tokenizer.scores_f64"] if f64_scores else kv["tokenizer.ggml.scores"]
        self.scores = [float(s) for s in scores]
        self.unk = int(kv["tokenizer.ggml.unknown_token_id"])
        self.reserved = int(kv["use-lite.tokenizer.reserved_count"])
        self.space = kv["use-lite.tokenizer.space_symbol"]
        self.max_len = int(kv["use-lite.context_length"])
        assert kv["use-lite.tokenizer.normalizer"] == "NFKC"
        # piece -> (score, id); for duplicate pieces the highest id wins
        # (the package inserts ids in increasing order into a trie, overwriting)
        self.piece = {}
        for i in range(self.reserved, len(self.tokens)):
            self.piece[self.tokens[i]] = (self.scores[i], i)
        self.max_piece = max(len(p) for p in self.piece)
        # length in UTF-16 code units, used by the package's back-tracking
        self.u16len = [sum(2 if ord(c) > 0xFFFF else 1 for c in t) for t in self.tokens]

    def preprocess(self, text):
        t = unicodedata.normalize("NFKC", text)
        return self.space + t.replace(" ", self.space) if t else t

    def encode(self, text, truncate=False):
        sym = self.preprocess(text)  # a Python str is a sequence of code points
        n = len(sym)
        # edges[end] = {start: (length, score, id)}
        edges = [dict() for _ in range(n + 1)]
        for i in range(n):
            found = False
            for k in range(1, min(self.max_piece, n - i) + 1):
                hit = self.piece.get(sym[i:i + k])
                if hit is not None:
                    edges[i + k][i] = (k, hit[0], hit[1])
                    found = True
            if not found:
                edges[i + 1][i] = (1, 0.0, self.unk)
        best = [0.0] * (n + 1)
        words = [0] * (n + 1)
        for end in range(n + 1):
            for start in sorted(edges[end]):
                k, score, tid = edges[end][start]
                s = score + best[end - k]
                if best[end] == 0 or s >= best[end]:   # 0 doubles as "unset"
                    best[end] = s
                    words[end] = tid
        out = []
        it = n
        while it > 0:
            out.append(words[it])
            it -= self.u16len[words[it]]
        out.reverse()
        merged = []
        for tid in out:  # collapse runs of unknown
            if not (tid == self.unk and merged and merged[-1] == self.unk):
                merged.append(tid)
        return merged[:self.max_len] if truncate else merged


# ----------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------
class Model:
    def __init__(self, path, dtype=np.float64):
        g = GGUFReader(path)
        if g.kv["general.architecture"] != "use-lite":
            raise ValueError("not a use-lite GGUF")
        self.g = g
        self.tok = Tokenizer(g)
        kv = g.kv
        self.dt = dtype
        self.n_layer = int(kv["use-lite.block_count"])
        self.n_head = int(kv["use-lite.attention.head_count"])
        self.width = [int(x) for x in kv["use-lite.attention.layer_width"]]
        self.head_dim = [int(x) for x in kv["use-lite.attention.key_length"]]
        self.scale = [float(x) for x in kv["use-lite.attention.scale"]]
        self.eps = float(kv["use-lite.attention.layer_norm_epsilon"])
        self.l2eps = float(kv["use-lite.l2_norm_epsilon"])
        self.n_embd = int(kv["use-lite.embedding_length"])
        assert int(kv["use-lite.pooling_type"]) == 1
        # F32 files are used as stored; Q8_0/Q4_0 files are dequantized by gguf.py
        self.t = {k: g.tensor(k).astype(dtype) for k in g.tensor_order}

    def ln(self, x, name):
        w, b = self.t[name + ".weight"], self.t[name + ".bias"]
        mu = x.mean(-1, keepdims=True)
        d = x - mu
        var = (d * d).mean(-1, keepdims=True)
        return (w * (1.0 / np.sqrt(var + self.dt(self.eps)))) * d + b

    def lin(self, x, name):
        return x @ self.t[name + ".weight"].T + self.t[name + ".bias"]

    def forward(self, ids):
        t = self.t
        n = len(ids)
        if n:
            # the TF graph adds the token embedding twice: TransformerStack/Layer_0/add =
            # Scatter(embedding_lookup) + AddTimingSignal(embedding_lookup + timing signal)
            x = 2 * t["token_embd.weight"][ids] + t["position_embd.weight"][:n]
            for l in range(self.n_layer):
                p = f"blk.{l}."
                d, H, hd = self.width[l], self.n_head, self.head_dim[l]
                a = self.ln(x, p + "attn_norm")
                qkv = self.lin(a, p + "attn_qkv")
                q = qkv[:, :d] * self.dt(self.scale[l])
                k = qkv[:, d:2 * d]
                v = qkv[:, 2 * d:]
                q = q.reshape(n, H, hd).transpose(1, 0, 2)
                k = k.reshape(n, H, hd).transpose(1, 0, 2)
                v = v.reshape(n, H, hd).transpose(1, 0, 2)
                s = q @ k.transpose(0, 2, 1)                  # [H, n, n]
                s = np.exp(s - s.max(-1, keepdims=True))
                s = s / s.sum(-1, keepdims=True)
                o = (s @ v).transpose(1, 0, 2).reshape(n, d)
                o = self.lin(o, p + "attn_output")
                res = self.lin(x, p + "res_proj") if (p + "res_proj.weight") in t else x
                h = o + res
                f = self.ln(h, p + "ffn_norm")
                f = np.maximum(self.lin(f, p + "ffn_up"), 0)
                x = h + self.lin(f, p + "ffn_down")
            pooled = x.mean(0)
        else:
            pooled = np.zeros(self.n_embd, dtype=self.dt)
        y = np.tanh(self.lin(pooled, "pooler"))
        return y / np.sqrt(max(float((y * y).sum()), self.l2eps))

    def embed(self, text):
        return self.forward(self.tok.encode(text, truncate=True))


# ----------------------------------------------------------------------------
# sentence lists
# ----------------------------------------------------------------------------
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")


def eval_sentences(eval_dir):
    out, seen = [], set()

    def add(s):
        s = s.strip()
        if s and s not in seen:
            seen.add(s)
            out.append(s)

    with open(os.path.join(eval_dir, "elements_docs.jsonl"), encoding="utf-8") as f:
        for line in f:
            for para in json.loads(line)["text"].split("\n"):
                for s in _SPLIT.split(para):
                    add(s)
    with open(os.path.join(eval_dir, "elements_questions.jsonl"), encoding="utf-8") as f:
        for line in f:
            add(json.loads(line)["question"])
    return out


def edge_sentences(eval_dir):
    with open(os.path.join(eval_dir, "elements_docs.jsonl"), encoding="utf-8") as f:
        docs = [json.loads(l)["text"] for l in f]
    return [
        "", " ", "   ", "a", "A", ".", "\u2581", "  leading and trailing  ", "two  spaces",
        "tab\tseparated", "line\nbreak", "\r\n", "a\u00a0b (no-break space)", "x\u3000y (ideographic space)",
        "Ångström, naïve café, façade", "e\u0301 (combining acute)", "ﬁnancial ½ Ⅻ ＡＢＣ ｶﾀｶﾅ ² ™",
        "東京タワー", "Привет, мир", "مرحبا", "emoji 😀👍🏽 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\u0000\u0001\u0002 control",
        "unknown ☃☃☃ run", "at 10:30 and 11:00 :: :) :-) :( ://", "”5 and ”5", "<s> </s> extra_token_id_1",
        "UPPER CASE SHOUTING", "1234567890 3.14159 1e-9", "a" * 300,
        " ".join(docs[:3]), " ".join(docs),  # > 128 tokens
    ]


def read_lines(path, jsonl):
    if path in (None, "-"):
        data = sys.stdin.buffer.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    lines = data.decode("utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [l[:-1] if l.endswith("\r") else l for l in lines]
    return [json.loads(l) for l in lines] if jsonl else lines


# ----------------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------------
def cmd_compare(model, sentences, oracle_path, tokens_path, min_mean):
    ok = True
    with open(oracle_path, encoding="utf-8") as f:
        oracle = [np.array(json.loads(l), dtype=np.float64) for l in f if l.strip()]
    if len(oracle) != len(sentences):
        print(f"compare: {len(oracle)} oracle rows for {len(sentences)} sentences", file=sys.stderr)
        return False
    cos, worst, maxabs = [], (2.0, -1), 0.0
    for i, (s, o) in enumerate(zip(sentences, oracle)):
        r = model.embed(s).astype(np.float64)
        c = float(r @ o / (np.linalg.norm(r) * np.linalg.norm(o)))
        cos.append(c)
        maxabs = max(maxabs, float(np.abs(r - o).max()))
        if c < worst[0]:
            worst = (c, i)
    mean = sum(cos) / len(cos)
    print(f"compare use_ref n={len(cos)} mean_cos={mean:.9f} min_cos={worst[0]:.9f} "
          f"max_abs_diff={maxabs:.3e} worst_line={worst[1] + 1} dtype={np.dtype(model.dt).name}")
    if mean < min_mean:
        ok = False
    if tokens_path:
        with open(tokens_path, encoding="utf-8") as f:
            otoks = [json.loads(l) for l in f if l.strip()]
        bad = [i for i, (s, t) in enumerate(zip(sentences, otoks)) if model.tok.encode(s) != t]
        n_tok = sum(len(t) for t in otoks)
        print(f"tokens use_ref n={len(otoks)} total_ids={n_tok} identical={len(otoks) - len(bad)} "
              f"mismatched={len(bad)}" + (f" first_bad_line={bad[0] + 1}" if bad else ""))
        if bad or len(otoks) != len(sentences):
            ok = False
    return ok


def cmd_check(gguf, edge, f32, min_mean, eval_dir):
    sents = edge_sentences(eval_dir) if edge else eval_sentences(eval_dir)
    model = Model(gguf, np.float32 if f32 else np.float64)
    with tempfile.TemporaryDirectory() as d:
        sp, op, tp = (os.path.join(d, n) for n in ("s.txt", "o.jsonl", "t.jsonl"))
        with open(sp, "w", encoding="utf-8") as f:
            for s in sents:
                f.write((json.dumps(s) if edge else s) + "\n")
        oracle = ["node", os.path.join(ROOT, "tools", "use_oracle.mjs")] + (["--jsonl"] if edge else [])
        with open(op, "w") as f:
            subprocess.run(oracle + [sp], stdout=f, check=True)
        with open(tp, "w") as f:
            subprocess.run(oracle + ["--tokens", sp], stdout=f, check=True)
        return cmd_compare(model, sents, op, tp, min_mean)


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    cmd, rest = argv[0], argv[1:]
    opts = {"--gguf": None, "--oracle": None, "--oracle-tokens": None, "--min-mean": "0.99999",
            "--eval-dir": DEFAULT_EVAL}
    flags = {"--jsonl": False, "--f32": False, "--edge": False}
    pos = []
    i = 0
    while i < len(rest):
        a = rest[i]
        if a in opts:
            opts[a] = rest[i + 1]
            i += 2
        elif a in flags:
            flags[a] = True
            i += 1
        elif a.startswith("--"):
            print(f"use_ref: unknown option {a}", file=sys.stderr)
            return 2
        else:
            pos.append(a)
            i += 1
    dtype = np.float32 if flags["--f32"] else np.float64
    path = pos[0] if pos else None
    if cmd == "sentences":
        for s in (edge_sentences if flags["--edge"] else eval_sentences)(opts["--eval-dir"]):
            print(json.dumps(s) if flags["--edge"] else s)
        return 0
    if not opts["--gguf"]:
        print("use_ref: --gguf is required", file=sys.stderr)
        return 2
    if cmd == "check":
        return 0 if cmd_check(opts["--gguf"], flags["--edge"], flags["--f32"],
                              float(opts["--min-mean"]), opts["--eval-dir"]) else 1
    model = Model(opts["--gguf"], dtype)
    sents = read_lines(path, flags["--jsonl"])
    if cmd == "tokenize":
        for s in sents:
            print(json.dumps(model.tok.encode(s)))
        return 0
    if cmd == "embed":
        for s in sents:
            print(json.dumps([float(x) for x in model.embed(s).astype(np.float32)]))
        return 0
    if cmd == "compare":
        if not opts["--oracle"]:
            print("use_ref: compare needs --oracle", file=sys.stderr)
            return 2
        return 0 if cmd_compare(model, sents, opts["--oracle"], opts["--oracle-tokens"],
                                float(opts["--min-mean"])) else 1
    print(f"use_ref: unknown command {cmd}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
