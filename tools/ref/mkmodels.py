#!/usr/bin/python3
"""Generate GGUF test models with random weights of real shapes.

  /usr/bin/python3 tools/ref/mkmodels.py OUTDIR [--only NAME[,NAME..]] [--no-quant] [--retrain-bpe]

Writes into OUTDIR (use build/ref/, git-ignored):
  bert-tiny-f32.gguf            2 layers, hidden 64, 4 heads, FFN 256, real MiniLM WordPiece vocab
  minilm-shape-f32.gguf         all-MiniLM-L6-v2 shapes: 6 layers, 384, 12 heads, FFN 1536, 30522 vocab, 512 pos
  llama-tiny-gqa-f32.gguf       2 layers, hidden 64, 4 heads / 2 KV heads, FFN 192, tied, synthetic 49152 BPE vocab
  smollm2-135m-shape-f32.gguf   SmolLM2-135M shapes: 30 layers, 576, 9 heads / 3 KV, FFN 1536, 49152 vocab, tied
  for each of them and for stories260K: *-q8_0.gguf and *-q4_0.gguf made with
  the reference quantizer in gguf.py (same tensor selection as llama-quantize).
  bpe-49152.json                the learned byte-level BPE vocabulary (cache)

The BPE vocabulary (17 SmolLM2-style special tokens, 256 byte tokens, 48879
merges = 49152 tokens) is learned here by plain BPE training on English text:
Debian's dict-gcide dictionary (`apt-get install dict-gcide`, 40 MB) if
present, plus the eval-dev texts; without dict-gcide, text from /usr/share/doc
is used instead (different merges; the cache file records its corpus).
All weights come from numpy's PCG64 with fixed seeds: the files are
reproducible bit for bit on any machine with the same corpus.
"""
import argparse
import glob
import gzip
import hashlib
import heapq
import json
import os
import re
import sys
import time
from collections import Counter, defaultdict

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gguf  # noqa: E402
import tok_ref  # noqa: E402

SHARED = os.environ.get("EDGEKB_SHARED", "/work/shared")
MINILM_VOCAB = os.path.join(SHARED, "models", "tokenizers", "all-MiniLM-L6-v2", "vocab.txt")
STORIES = os.path.join(SHARED, "models", "stories260K.gguf")
GCIDE = "/usr/share/dictd/gcide.dict.dz"

SMOL_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>", "<reponame>",
                 "<file_sep>", "<filename>", "<gh_stars>", "<issue_start>", "<issue_comment>",
                 "<issue_closed>", "<jupyter_start>", "<jupyter_text>", "<jupyter_code>",
                 "<jupyter_output>", "<jupyter_script>", "<empty_output>"]
N_VOCAB_BPE = 49152
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


# --------------------------------------------------------------------------
# BPE training
# --------------------------------------------------------------------------

# fast approximation of the smollm pre-tokenizer for counting training words
# (digits single, GPT-2 style words with an optional leading space)
_TRAIN_SPLIT = re.compile(r"""'(?:s|t|re|ve|m|ll|d)| ?[^\W\d_]+|\d| ?[^\s\w\d]+| ?_+|\s+(?!\S)|\s+""")


def corpus_texts():
    """Yields (name, text) of the training corpus in a fixed order."""
    names = []
    if os.path.exists(GCIDE):
        with gzip.open(GCIDE, "rt", encoding="utf-8", errors="replace") as f:
            yield "dict-gcide:" + GCIDE, f.read()
    else:
        files = sorted(glob.glob("/usr/share/doc/*/copyright"))
        files += sorted(glob.glob("/usr/share/doc/*/README*"))
        buf = []
        for p in files:
            try:
                with open(p, "rb") as f:
                    b = f.read()
                if p.endswith(".gz"):
                    b = gzip.decompress(b)
                buf.append(b.decode("utf-8", errors="replace"))
            except OSError:
                pass
        yield "usr-share-doc:%d files" % len(files), "\n".join(buf)
    ed = []
    for p in sorted(glob.glob(os.path.join(SHARED, "eval-dev", "*"))):
        if not os.path.isfile(p):  # the top-level texts only (wordnet/ is a directory of data)
            continue
        with open(p, encoding="utf-8") as f:
            ed.append(f.read())
    yield "eval-dev", "\n".join(ed)


def train_bpe(n_merges, log=print):
    t0 = time.time()
    counts = Counter()
    srcs = []
    for name, text in corpus_texts():
        srcs.append("%s (%d chars)" % (name, len(text)))
        counts.update(_TRAIN_SPLIT.findall(text))
    log("bpe: corpus %s; %d distinct words (%.1fs)" % ("; ".join(srcs), len(counts), time.time() - t0))
    b2u = tok_ref.BYTE2U
    syms = [b2u[b] for b in range(256)]          # symbol id -> string
    sym_id = {s: i for i, s in enumerate(syms)}
    words, freqs = [], []
    for w, c in sorted(counts.items()):
        words.append([b for b in w.encode("utf-8")])
        freqs.append(c)
    pair_count = defaultdict(int)
    pair_words = defaultdict(set)
    for wi, w in enumerate(words):
        f = freqs[wi]
        for p in zip(w, w[1:]):
            pair_count[p] += f
            pair_words[p].add(wi)
    heap = [(-c, syms[a], syms[b], a, b) for (a, b), c in pair_count.items()]
    heapq.heapify(heap)
    merges = []
    while len(merges) < n_merges and heap:
        negc, sa, sb, a, b = heapq.heappop(heap)
        c = pair_count.get((a, b), 0)
        if c <= 0 or c != -negc:
            continue
        nid = len(syms)
        syms.append(sa + sb)
        merges.append(sa + " " + sb)
        changed = set()
        for wi in pair_words.pop((a, b), ()):
            w = words[wi]
            if len(w) < 2:
                continue
            new, i, hit = [], 0, False
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    new.append(nid); i += 2; hit = True
                else:
                    new.append(w[i]); i += 1
            if not hit:
                continue
            f = freqs[wi]
            for p in zip(w, w[1:]):
                pair_count[p] -= f
                changed.add(p)
            for p in zip(new, new[1:]):
                pair_count[p] += f
                pair_words[p].add(wi)
                changed.add(p)
            words[wi] = new
        pair_count.pop((a, b), None)
        for p in changed:
            c = pair_count.get(p, 0)
            if c > 0:
                heapq.heappush(heap, (-c, syms[p[0]], syms[p[1]], p[0], p[1]))
            elif p in pair_count:
                del pair_count[p]
        if len(merges) % 5000 == 0:
            log("bpe: %d merges (last %r, count %d) %.1fs" % (len(merges), sa + sb, -negc, time.time() - t0))
    if len(merges) < n_merges:
        raise RuntimeError("corpus too small: only %d merges possible" % len(merges))
    log("bpe: done, %d merges, last count %d, %.1fs" % (len(merges), -negc, time.time() - t0))
    return merges, srcs


def load_bpe(outdir, retrain=False):
    path = os.path.join(outdir, "bpe-49152.json")
    if os.path.exists(path) and not retrain:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    n_merges = N_VOCAB_BPE - len(SMOL_SPECIALS) - 256
    merges, srcs = train_bpe(n_merges)
    b2u = tok_ref.BYTE2U
    tokens = list(SMOL_SPECIALS) + [b2u[b] for b in range(256)]
    tokens += [m.replace(" ", "") for m in merges]
    assert len(tokens) == N_VOCAB_BPE and len(set(tokens)) == N_VOCAB_BPE
    d = {"corpus": srcs, "tokens": tokens, "merges": merges, "n_special": len(SMOL_SPECIALS)}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(d, f, ensure_ascii=False)
    return d


# --------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------

class Rand:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def normal(self, shape, std=1.0, mean=0.0):
        a = self.rng.standard_normal(shape, dtype=np.float32)
        if std != 1.0:
            a *= np.float32(std)
        if mean:
            a += np.float32(mean)
        return a

    def linear(self, n_out, n_in, gain=1.0):
        """numpy [out, in] (= ggml ne [in, out]) with std gain/sqrt(in)."""
        return self.normal((n_out, n_in), gain / np.sqrt(n_in))


def write_bert(path, n_layer, n_embd, n_head, n_ff, n_ctx, seed, name):
    with open(MINILM_VOCAB, encoding="utf-8") as f:
        vocab = [line.rstrip("\n") for line in f]
    n_vocab = len(vocab)
    special = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
    types = np.array([tok_ref.TT_CONTROL if t in special else tok_ref.TT_NORMAL for t in vocab], np.int32)
    # llama.cpp phantom-space form
    toks = [t if t in special else (t[2:] if t.startswith("##") else "\u2581" + t) for t in vocab]
    assert len(set(toks)) == n_vocab
    ids = {t: i for i, t in enumerate(vocab)}
    w = gguf.GGUFWriter()
    kv = w.add_kv
    kv("general.architecture", "bert")
    kv("general.type", "model")
    kv("general.name", name)
    kv("general.description", "edgekb test model: RANDOM weights (seed %d) with the shapes of a BERT encoder" % seed)
    kv("bert.context_length", n_ctx)
    kv("bert.embedding_length", n_embd)
    kv("bert.feed_forward_length", n_ff)
    kv("bert.attention.head_count", n_head)
    kv("bert.attention.layer_norm_epsilon", 1e-12)
    kv("bert.block_count", n_layer)
    kv("bert.attention.causal", False)
    kv("bert.pooling_type", 1)                      # 1 = MEAN (0 none, 2 CLS, 3 LAST)
    kv("general.file_type", gguf.FTYPE_ALL_F32, gguf.T_UINT32)
    kv("tokenizer.ggml.token_type_count", 2)
    kv("tokenizer.ggml.model", "bert")
    kv("tokenizer.ggml.tokens", toks)
    kv("tokenizer.ggml.token_type", types)
    kv("tokenizer.ggml.unknown_token_id", ids["[UNK]"])
    kv("tokenizer.ggml.seperator_token_id", ids["[SEP]"])
    kv("tokenizer.ggml.padding_token_id", ids["[PAD]"])
    kv("tokenizer.ggml.cls_token_id", ids["[CLS]"])
    kv("tokenizer.ggml.mask_token_id", ids["[MASK]"])
    R = Rand(seed)
    ln = lambda: (R.normal((n_embd,), 0.1, 1.0), R.normal((n_embd,), 0.1))
    w.add_tensor("token_embd.weight", R.normal((n_vocab, n_embd), 1.0))
    w.add_tensor("token_types.weight", R.normal((2, n_embd), 0.5))
    w.add_tensor("position_embd.weight", R.normal((n_ctx, n_embd), 0.5))
    g, b = ln()
    w.add_tensor("token_embd_norm.weight", g)
    w.add_tensor("token_embd_norm.bias", b)
    for i in range(n_layer):
        p = "blk.%d." % i
        for nm in ("attn_q", "attn_k", "attn_v", "attn_output"):
            w.add_tensor(p + nm + ".weight", R.linear(n_embd, n_embd))
            w.add_tensor(p + nm + ".bias", R.normal((n_embd,), 0.1))
        g, b = ln()
        w.add_tensor(p + "attn_output_norm.weight", g)
        w.add_tensor(p + "attn_output_norm.bias", b)
        w.add_tensor(p + "ffn_up.weight", R.linear(n_ff, n_embd))
        w.add_tensor(p + "ffn_up.bias", R.normal((n_ff,), 0.1))
        w.add_tensor(p + "ffn_down.weight", R.linear(n_embd, n_ff))
        w.add_tensor(p + "ffn_down.bias", R.normal((n_embd,), 0.1))
        g, b = ln()
        w.add_tensor(p + "layer_output_norm.weight", g)
        w.add_tensor(p + "layer_output_norm.bias", b)
    w.write(path)


def write_llama(path, bpe, n_layer, n_embd, n_head, n_head_kv, n_ff, n_ctx, seed, name,
                freq_base=100000.0, logit_std=2.0):
    tokens = bpe["tokens"]
    n_vocab = len(tokens)
    nsp = bpe["n_special"]
    types = np.array([tok_ref.TT_CONTROL] * nsp + [tok_ref.TT_NORMAL] * (n_vocab - nsp), np.int32)
    hd = n_embd // n_head
    w = gguf.GGUFWriter()
    kv = w.add_kv
    kv("general.architecture", "llama")
    kv("general.type", "model")
    kv("general.name", name)
    kv("general.description", "edgekb test model: RANDOM weights (seed %d) with the shapes of a llama decoder; "
       "synthetic byte-level BPE vocabulary" % seed)
    kv("llama.block_count", n_layer)
    kv("llama.context_length", n_ctx)
    kv("llama.embedding_length", n_embd)
    kv("llama.feed_forward_length", n_ff)
    kv("llama.attention.head_count", n_head)
    kv("llama.attention.head_count_kv", n_head_kv)
    kv("llama.rope.freq_base", float(freq_base))
    kv("llama.attention.layer_norm_rms_epsilon", 1e-5)
    kv("llama.rope.dimension_count", hd)
    kv("llama.vocab_size", n_vocab)
    kv("general.file_type", gguf.FTYPE_ALL_F32, gguf.T_UINT32)
    kv("tokenizer.ggml.model", "gpt2")
    kv("tokenizer.ggml.pre", "smollm")
    kv("tokenizer.ggml.tokens", tokens)
    kv("tokenizer.ggml.token_type", types)
    kv("tokenizer.ggml.merges", bpe["merges"])
    kv("tokenizer.ggml.bos_token_id", 1)
    kv("tokenizer.ggml.eos_token_id", 2)
    kv("tokenizer.ggml.unknown_token_id", 0)
    kv("tokenizer.ggml.padding_token_id", 2)
    kv("tokenizer.ggml.add_bos_token", False)
    kv("tokenizer.chat_template", CHATML)
    R = Rand(seed)
    res = 1.0 / np.sqrt(2 * n_layer)
    # tied output: logits = E . rmsnorm(x) have std ~ logit_std when E has std logit_std/sqrt(n_embd)
    w.add_tensor("token_embd.weight", R.normal((n_vocab, n_embd), logit_std / np.sqrt(n_embd)))
    w.add_tensor("output_norm.weight", R.normal((n_embd,), 0.1, 1.0))
    for i in range(n_layer):
        p = "blk.%d." % i
        w.add_tensor(p + "attn_norm.weight", R.normal((n_embd,), 0.1, 1.0))
        w.add_tensor(p + "attn_q.weight", R.linear(n_head * hd, n_embd))
        w.add_tensor(p + "attn_k.weight", R.linear(n_head_kv * hd, n_embd))
        w.add_tensor(p + "attn_v.weight", R.linear(n_head_kv * hd, n_embd))
        w.add_tensor(p + "attn_output.weight", R.linear(n_embd, n_head * hd, res))
        w.add_tensor(p + "ffn_norm.weight", R.normal((n_embd,), 0.1, 1.0))
        w.add_tensor(p + "ffn_gate.weight", R.linear(n_ff, n_embd))
        w.add_tensor(p + "ffn_up.weight", R.linear(n_ff, n_embd))
        w.add_tensor(p + "ffn_down.weight", R.linear(n_embd, n_ff, res))
    w.write(path)


MODELS = {
    "bert-tiny": lambda out, bpe: write_bert(out, 2, 64, 4, 256, 512, 101, "bert-tiny (random)"),
    "minilm-shape": lambda out, bpe: write_bert(out, 6, 384, 12, 1536, 512, 102, "all-MiniLM-L6-v2 shape (random)"),
    "llama-tiny-gqa": lambda out, bpe: write_llama(out, bpe, 2, 64, 4, 2, 192, 2048, 201, "llama-tiny-gqa (random)"),
    "smollm2-135m-shape": lambda out, bpe: write_llama(out, bpe, 30, 576, 9, 3, 1536, 8192, 202,
                                                       "SmolLM2-135M shape (random)"),
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for blk in iter(lambda: f.read(1 << 20), b""):
            h.update(blk)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--only", help="comma separated subset of: %s,stories260K" % ",".join(MODELS))
    ap.add_argument("--no-quant", action="store_true")
    ap.add_argument("--retrain-bpe", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    only = set(a.only.split(",")) if a.only else set(MODELS) | {"stories260K"}
    bpe = None
    if any(n in only for n in ("llama-tiny-gqa", "smollm2-135m-shape")) or a.retrain_bpe:
        bpe = load_bpe(a.outdir, a.retrain_bpe)
        print("bpe vocabulary: %d tokens, %d merges, corpus %s" % (len(bpe["tokens"]), len(bpe["merges"]), bpe["corpus"]))
    made = []
    for name, fn in MODELS.items():
        if name not in only:
            continue
        t0 = time.time()
        out = os.path.join(a.outdir, name + "-f32.gguf")
        fn(out, bpe)
        made.append((name, out))
        print("wrote %s (%.1f MB, %.1fs)" % (out, os.path.getsize(out) / 1e6, time.time() - t0))
    if "stories260K" in only:
        made.append(("stories260K", STORIES))
    if not a.no_quant:
        for name, src in made:
            for qn, qt in (("q8_0", gguf.GGML_Q8_0), ("q4_0", gguf.GGML_Q4_0)):
                t0 = time.time()
                out = os.path.join(a.outdir, "%s-%s.gguf" % (name, qn))
                nq = gguf.quantize_file(src, out, qt)
                print("wrote %s (%d tensors %s, %.1f MB, %.1fs)" % (out, nq, qn.upper(), os.path.getsize(out) / 1e6,
                                                                   time.time() - t0))
    with open(os.path.join(a.outdir, "SHA256SUMS"), "w") as f:
        for p in sorted(glob.glob(os.path.join(a.outdir, "*.gguf"))):
            f.write("%s  %s\n" % (sha256(p), os.path.basename(p)))


if __name__ == "__main__":
    main()
