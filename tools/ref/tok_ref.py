#!/usr/bin/python3
"""Reference tokenizers (pure Python, stdlib only) for edgekb's C runtime.

  WordPiece   BERT uncased (tokenizer.ggml.model = "bert")
  SPM         llama SentencePiece-BPE with byte fallback (tokenizer.ggml.model = "llama")
  GPT2BPE     byte-level BPE (tokenizer.ggml.model = "gpt2"), pre-tokenizer of
              GPT-2 / SmolLM2 (tokenizer.ggml.pre = "smollm": digits split
              individually, then the GPT-2 regex), regex written by hand.

All three follow the behaviour of llama.cpp's tokenizers as described in its
public documentation and tests; written independently.

CLI:
  /usr/bin/python3 tools/ref/tok_ref.py MODEL.gguf --text "Hello world" [--no-special] [--parse-special] [--json]
  /usr/bin/python3 tools/ref/tok_ref.py --vocab-txt vocab.txt --text "..."     (WordPiece from a BERT vocab.txt)
  /usr/bin/python3 tools/ref/tok_ref.py --selftest                             (all checks listed in README)
"""
import json
import os
import sys
import unicodedata
import heapq

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("EDGEKB_SHARED", "/work/shared")

# llama.cpp token types (tokenizer.ggml.token_type)
TT_NORMAL, TT_UNKNOWN, TT_CONTROL, TT_USER_DEFINED, TT_UNUSED, TT_BYTE = 1, 2, 3, 4, 5, 6


# ==========================================================================
# BERT WordPiece (uncased)
# ==========================================================================

def _is_bert_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def _is_bert_control(c):
    if c in "\t\n\r":
        return False
    return unicodedata.category(c).startswith("C")


def _is_bert_punct(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class WordPiece:
    """tokens: list indexed by id, in vocab.txt form ('##' marks a word
    continuation).  Use from_gguf() for llama.cpp's phantom-space form."""

    def __init__(self, tokens, unk="[UNK]", cls="[CLS]", sep="[SEP]", pad="[PAD]",
                 lowercase=True, max_chars=100):
        self.tokens = tokens
        self.vocab = {}
        for i, t in enumerate(tokens):
            self.vocab.setdefault(t, i)
        self.unk_id = self.vocab[unk]
        self.cls_id = self.vocab[cls]
        self.sep_id = self.vocab[sep]
        self.pad_id = self.vocab.get(pad, 0)
        self.lowercase = lowercase
        self.max_chars = max_chars

    @classmethod
    def from_vocab_txt(cls, path):
        with open(path, encoding="utf-8") as f:
            toks = [line.rstrip("\n") for line in f]
        return cls(toks)

    @classmethod
    def from_gguf(cls, reader):
        """llama.cpp stores BERT vocabularies in 'phantom space' form:
        control tokens verbatim, word-initial pieces prefixed with U+2581,
        '##' continuations without the '##'.  Convert back."""
        toks = reader.get("tokenizer.ggml.tokens")
        types = reader.get("tokenizer.ggml.token_type")
        out = []
        for i, t in enumerate(toks):
            tt = int(types[i]) if types is not None else TT_NORMAL
            if tt == TT_CONTROL:
                out.append(t)
            elif t.startswith("\u2581"):
                out.append(t[1:])
            else:
                out.append("##" + t)
        g = lambda k, d: out[int(reader.get(k))] if reader.get(k) is not None else d
        return cls(out, unk=g("tokenizer.ggml.unknown_token_id", "[UNK]"),
                   cls=g("tokenizer.ggml.cls_token_id", "[CLS]"),
                   sep=g("tokenizer.ggml.seperator_token_id", "[SEP]"),
                   pad=g("tokenizer.ggml.padding_token_id", "[PAD]"))

    def normalize(self, text):
        # BertNormalizer: clean_text, handle_chinese_chars, strip_accents, lowercase
        out = []
        for c in text:
            cp = ord(c)
            if cp == 0 or cp == 0xFFFD or _is_bert_control(c):
                continue
            if _is_bert_whitespace(c):
                out.append(" ")
            elif _is_cjk(cp):
                out.append(" " + c + " ")
            else:
                out.append(c)
        s = "".join(out)
        if self.lowercase:
            s = unicodedata.normalize("NFD", s)
            s = "".join(c for c in s if unicodedata.category(c) != "Mn")
            s = s.lower()
        return s

    @staticmethod
    def pre_tokenize(s):
        # BertPreTokenizer: split on whitespace (dropped) and isolate punctuation
        words, cur = [], []
        for c in s:
            if _is_bert_whitespace(c):
                if cur:
                    words.append("".join(cur)); cur = []
            elif _is_bert_punct(c):
                if cur:
                    words.append("".join(cur)); cur = []
                words.append(c)
            else:
                cur.append(c)
        if cur:
            words.append("".join(cur))
        return words

    def word_ids(self, word):
        if len(word) > self.max_chars:
            return [self.unk_id]
        ids, start, n = [], 0, len(word)
        while start < n:
            end, found = n, None
            while start < end:
                sub = word[start:end]
                if start > 0:
                    sub = "##" + sub
                if sub in self.vocab:
                    found = self.vocab[sub]
                    break
                end -= 1
            if found is None:
                return [self.unk_id]
            ids.append(found)
            start = end
        return ids

    def encode(self, text, add_special=True):
        ids = []
        for w in self.pre_tokenize(self.normalize(text)):
            ids.extend(self.word_ids(w))
        if add_special:
            ids = [self.cls_id] + ids + [self.sep_id]
        return ids

    def decode(self, ids):
        out = []
        for i in ids:
            t = self.tokens[i]
            if t.startswith("##"):
                out.append(t[2:])
            else:
                out.append((" " if out else "") + t)
        return "".join(out)


# ==========================================================================
# shared: special-token partition (llama.cpp tokenizer_st_partition)
# ==========================================================================

def partition_special(text, specials):
    """specials: list of (string, id).  Longest token first; leftmost match.
    Returns a list of str (raw text) and int (token id) fragments."""
    specials = sorted((s for s in specials if s[0]), key=lambda s: -len(s[0]))
    frags = [text]
    for s, tid in specials:
        nxt = []
        for fr in frags:
            if not isinstance(fr, str):
                nxt.append(fr); continue
            parts = fr.split(s)
            for k, p in enumerate(parts):
                if k:
                    nxt.append(tid)
                if p:
                    nxt.append(p)
        frags = nxt
    return frags


# ==========================================================================
# llama SentencePiece BPE (llama.cpp llm_tokenizer_spm)
# ==========================================================================

class SPM:
    def __init__(self, tokens, scores, types, bos_id=1, eos_id=2, unk_id=0,
                 add_bos=True, add_eos=False, add_space_prefix=True):
        self.tokens, self.scores, self.types = tokens, scores, types
        self.vocab = {}
        for i, t in enumerate(tokens):
            self.vocab.setdefault(t, i)
        self.bos_id, self.eos_id, self.unk_id = bos_id, eos_id, unk_id
        self.add_bos, self.add_eos, self.add_space_prefix = add_bos, add_eos, add_space_prefix
        self.byte_ids = {}
        for b in range(256):
            t = "<0x%02X>" % b
            if t in self.vocab:
                self.byte_ids[b] = self.vocab[t]

    @classmethod
    def from_gguf(cls, r):
        g = lambda k, d: r.get(k) if r.get(k) is not None else d
        n = len(r.get("tokenizer.ggml.tokens"))
        scores = r.get("tokenizer.ggml.scores")
        types = r.get("tokenizer.ggml.token_type")
        return cls(list(r.get("tokenizer.ggml.tokens")),
                   [float(x) for x in scores] if scores is not None else [0.0] * n,
                   [int(x) for x in types] if types is not None else [TT_NORMAL] * n,
                   bos_id=int(g("tokenizer.ggml.bos_token_id", 1)),
                   eos_id=int(g("tokenizer.ggml.eos_token_id", 2)),
                   unk_id=int(g("tokenizer.ggml.unknown_token_id", 0)),
                   add_bos=bool(g("tokenizer.ggml.add_bos_token", True)),
                   add_eos=bool(g("tokenizer.ggml.add_eos_token", False)),
                   add_space_prefix=bool(g("tokenizer.ggml.add_space_prefix", True)))

    def _specials(self, parse_special):
        out = []
        for i, (t, tt) in enumerate(zip(self.tokens, self.types)):
            if tt == TT_USER_DEFINED or (parse_special and tt in (TT_CONTROL, TT_UNKNOWN)):
                out.append((t, i))
        return out

    def _tokenize_fragment(self, text, out):
        # symbols: one per Unicode code point (= one UTF-8 sequence)
        syms = list(text)
        n = len(syms)
        if n == 0:
            return
        txt = syms[:]                    # current text of each symbol ('' once merged away)
        prev = list(range(-1, n - 1))
        nxt = list(range(1, n)) + [-1]
        heap = []

        def try_add(left, right):
            if left == -1 or right == -1:
                return
            s = txt[left] + txt[right]
            tid = self.vocab.get(s)
            if tid is None:
                return
            # max score first, then smallest left index
            heapq.heappush(heap, (-self.scores[tid], left, right, len(s.encode("utf-8"))))

        for i in range(1, n):
            try_add(i - 1, i)
        while heap:
            _, left, right, size = heapq.heappop(heap)
            lt, rt = txt[left], txt[right]
            if not lt or not rt or len((lt + rt).encode("utf-8")) != size:
                continue
            txt[left] = lt + rt
            txt[right] = ""
            nxt[left] = nxt[right]
            if nxt[right] >= 0:
                prev[nxt[right]] = left
            try_add(prev[left], left)
            try_add(left, nxt[left])
        i = 0
        while i != -1:
            s = txt[i]
            tid = self.vocab.get(s)
            if tid is not None:
                out.append(tid)
            else:
                for b in s.encode("utf-8"):
                    out.append(self.byte_ids.get(b, self.unk_id))
            i = nxt[i]

    def encode(self, text, add_special=True, parse_special=False):
        out = []
        prev_special = True
        if add_special and self.add_bos:
            out.append(self.bos_id)
        for fr in partition_special(text, self._specials(parse_special)):
            if isinstance(fr, str):
                if self.add_space_prefix and prev_special:
                    fr = " " + fr
                self._tokenize_fragment(fr.replace(" ", "\u2581"), out)
                prev_special = False
            else:
                out.append(fr)
                prev_special = True
        if add_special and self.add_eos:
            out.append(self.eos_id)
        return out

    def piece_bytes(self, tid, special=False):
        tt = self.types[tid]
        t = self.tokens[tid]
        if tt == TT_BYTE:
            return bytes([int(t[3:5], 16)])
        if tt in (TT_CONTROL,):
            return t.encode("utf-8") if special else b""
        if tt == TT_UNKNOWN:
            return "\u2585".encode("utf-8")
        return t.replace("\u2581", " ").encode("utf-8")

    def decode_bytes(self, ids, skip_special=True):
        b = b"".join(self.piece_bytes(i, special=not skip_special) for i in ids)
        if self.add_space_prefix and skip_special and b.startswith(b" "):
            b = b[1:]
        return b

    def decode(self, ids, skip_special=True):
        return self.decode_bytes(ids, skip_special).decode("utf-8", errors="replace")


# ==========================================================================
# GPT-2 byte-level BPE
# ==========================================================================

def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map: printable Latin-1
    bytes map to themselves, the other 68 bytes to U+0100.. in byte order."""
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    m, extra = {}, 0
    for b in range(256):
        if b in keep:
            m[b] = chr(b)
        else:
            m[b] = chr(256 + extra)
            extra += 1
    return m


BYTE2U = bytes_to_unicode()
U2BYTE = {v: k for k, v in BYTE2U.items()}

# Unicode White_Space property (what \s means in the Unicode regex engines)
WHITE_SPACE = set(chr(c) for c in list(range(0x09, 0x0E)) + [0x20, 0x85, 0xA0, 0x1680]
                  + list(range(0x2000, 0x200B)) + [0x2028, 0x2029, 0x202F, 0x205F, 0x3000])


def _cls(c):
    """'S' whitespace, 'L' letter, 'N' number, 'O' other."""
    if c in WHITE_SPACE:
        return "S"
    k = unicodedata.category(c)[0]
    return k if k in "LN" else "O"


_CONTRACTIONS = ("re", "ve", "ll", "s", "t", "m", "d")


def gpt2_split(text):
    """Hand-written equivalent of the GPT-2 pre-tokenizer regex
       's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
    (leftmost alternative wins, each quantifier greedy)."""
    out = []
    n = len(text)
    cl = [_cls(c) for c in text]
    i = 0
    while i < n:
        c = text[i]
        if c == "'" and i + 1 < n:
            m = None
            for s in _CONTRACTIONS:
                if text.startswith(s, i + 1):
                    m = s
                    break
            if m is not None:
                out.append(text[i:i + 1 + len(m)])
                i += 1 + len(m)
                continue
        j = i + 1 if (c == " " and i + 1 < n and cl[i + 1] != "S") else i
        k = cl[j]
        if k in "LNO" and (j == i or c == " "):
            e = j + 1
            while e < n and cl[e] == k:
                e += 1
            out.append(text[i:e])
            i = e
            continue
        # whitespace run
        e = i + 1
        while e < n and cl[e] == "S":
            e += 1
        if e == n or e - i == 1:
            out.append(text[i:e])       # \s+(?!\S) at end, or \s+ for one char
            i = e
        else:
            out.append(text[i:e - 1])   # leave the last space for the next word
            i = e - 1
    return out


def split_digits(text):
    """Digits(individual_digits=True): every \\p{N} character is its own piece."""
    out, cur = [], []
    for c in text:
        if unicodedata.category(c)[0] == "N":
            if cur:
                out.append("".join(cur)); cur = []
            out.append(c)
        else:
            cur.append(c)
    if cur:
        out.append("".join(cur))
    return out


def pretokenize(text, pre="smollm"):
    if pre in ("smollm", "starcoder", "refact", "codeshell"):
        return [w for piece in split_digits(text) for w in gpt2_split(piece)]
    if pre in ("gpt2", "gpt-2", "default", None):
        return gpt2_split(text)
    raise ValueError("pre-tokenizer %r not implemented" % pre)


class GPT2BPE:
    def __init__(self, tokens, merges, types=None, pre="smollm", bos_id=None, eos_id=None,
                 add_bos=False, add_eos=False):
        self.tokens = tokens
        self.vocab = {t: i for i, t in enumerate(tokens)}
        self.ranks = {}
        for r, m in enumerate(merges):
            a, b = m.split(" ", 1)
            self.ranks[(a, b)] = r
        self.types = types or [TT_NORMAL] * len(tokens)
        self.pre = pre
        self.bos_id, self.eos_id, self.add_bos, self.add_eos = bos_id, eos_id, add_bos, add_eos
        self.cache = {}

    @classmethod
    def from_gguf(cls, r):
        g = lambda k, d=None: r.get(k) if r.get(k) is not None else d
        types = g("tokenizer.ggml.token_type")
        return cls(list(r.get("tokenizer.ggml.tokens")), list(r.get("tokenizer.ggml.merges")),
                   [int(x) for x in types] if types is not None else None,
                   pre=g("tokenizer.ggml.pre", "default"),
                   bos_id=g("tokenizer.ggml.bos_token_id"), eos_id=g("tokenizer.ggml.eos_token_id"),
                   add_bos=bool(g("tokenizer.ggml.add_bos_token", False)),
                   add_eos=bool(g("tokenizer.ggml.add_eos_token", False)))

    def bpe(self, word):
        """word: string in byte-unicode form -> list of token ids."""
        hit = self.cache.get(word)
        if hit is not None:
            return hit
        syms = list(word)
        while len(syms) > 1:
            best, bi = None, -1
            for k in range(len(syms) - 1):
                r = self.ranks.get((syms[k], syms[k + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, k
            if best is None:
                break
            a, b = syms[bi], syms[bi + 1]
            merged, k = [], 0
            while k < len(syms):           # merge every occurrence, left to right
                if k < len(syms) - 1 and syms[k] == a and syms[k + 1] == b:
                    merged.append(a + b); k += 2
                else:
                    merged.append(syms[k]); k += 1
            syms = merged
        ids = []
        for s in syms:
            if s in self.vocab:
                ids.append(self.vocab[s])
            else:  # cannot happen with a complete byte alphabet
                ids.extend(self.vocab[ch] for ch in s)
        self.cache[word] = ids
        return ids

    def encode(self, text, add_special=True, parse_special=False):
        out = []
        if add_special and self.add_bos and self.bos_id is not None:
            out.append(int(self.bos_id))
        specials = [(t, i) for i, (t, tt) in enumerate(zip(self.tokens, self.types))
                    if tt == TT_USER_DEFINED or (parse_special and tt == TT_CONTROL)]
        for fr in partition_special(text, specials):
            if isinstance(fr, int):
                out.append(fr); continue
            for w in pretokenize(fr, self.pre):
                out.extend(self.bpe("".join(BYTE2U[b] for b in w.encode("utf-8"))))
        if add_special and self.add_eos and self.eos_id is not None:
            out.append(int(self.eos_id))
        return out

    def decode_bytes(self, ids, skip_special=True):
        out = bytearray()
        for i in ids:
            tt = self.types[i]
            t = self.tokens[i]
            if tt == TT_CONTROL:
                if not skip_special:
                    out += t.encode("utf-8")
                continue
            if tt == TT_USER_DEFINED:
                out += t.encode("utf-8"); continue
            out += bytes(U2BYTE[c] for c in t)
        return bytes(out)

    def decode(self, ids, skip_special=True):
        return self.decode_bytes(ids, skip_special).decode("utf-8", errors="replace")


# ==========================================================================
# loading from GGUF
# ==========================================================================

def from_gguf(reader):
    model = reader.get("tokenizer.ggml.model")
    if model == "bert":
        return WordPiece.from_gguf(reader)
    if model == "llama":
        return SPM.from_gguf(reader)
    if model == "gpt2":
        return GPT2BPE.from_gguf(reader)
    raise ValueError("tokenizer.ggml.model %r not supported" % model)


def token_strings(tok, ids):
    return [tok.tokens[i] for i in ids]


# ==========================================================================
# self tests
# ==========================================================================

def _eval_dev_texts():
    d = os.path.join(SHARED, "eval-dev")
    texts = []
    with open(os.path.join(d, "elements_docs.jsonl"), encoding="utf-8") as f:
        for line in f:
            o = json.loads(line)
            texts += [o["title"], o["text"]]
    with open(os.path.join(d, "elements_questions.jsonl"), encoding="utf-8") as f:
        for line in f:
            texts.append(json.loads(line)["question"])
    with open(os.path.join(d, "elements_facts.tsv"), encoding="utf-8") as f:
        texts.append(f.read())
    with open(os.path.join(d, "README.md"), encoding="utf-8") as f:
        texts.append(f.read())
    return texts


def test_wordpiece(gguf_path=None):
    base = os.path.join(SHARED, "models", "tokenizers")
    if gguf_path:
        sys.path.insert(0, HERE)
        from gguf import GGUFReader
        wp = WordPiece.from_gguf(GGUFReader(gguf_path))
        ref = WordPiece.from_vocab_txt(os.path.join(base, "all-MiniLM-L6-v2", "vocab.txt"))
        if wp.tokens != ref.tokens:
            print("  phantom-space vocabulary in %s does not map back to vocab.txt" % gguf_path)
            return False
    else:
        wp = WordPiece.from_vocab_txt(os.path.join(base, "all-MiniLM-L6-v2", "vocab.txt"))
    with open(os.path.join(base, "bert-uncased-test-vectors", "ggml-vocab-bert-bge.gguf.inp"), encoding="utf-8") as f:
        inp = f.read().split("\n__ggml_vocab_test__\n")
    with open(os.path.join(base, "bert-uncased-test-vectors", "ggml-vocab-bert-bge.gguf.out"), encoding="utf-8") as f:
        outs = f.read().split("\n")
    # llama.cpp's test-tokenizer-0 convention: split both files whole; the file
    # ends with a separator, so the 47th case is the empty string (expected
    # ids: the empty last line of .out).
    assert len(inp) == len(outs), (len(inp), len(outs))
    ok = 0
    for k, s in enumerate(inp):
        exp = [int(x) for x in outs[k].split()]
        got = wp.encode(s, add_special=False)
        if got == exp:
            ok += 1
        else:
            print("  WordPiece case %d %r: got %s expected %s" % (k, s, got, exp))
    print("WordPiece test vectors (%s): %d/%d passed" % (
        os.path.basename(gguf_path) if gguf_path else "vocab.txt", ok, len(inp)))
    return ok == len(inp) and len(inp) == 47


def test_spm():
    sys.path.insert(0, HERE)
    from gguf import GGUFReader
    r = GGUFReader(os.path.join(SHARED, "models", "stories260K.gguf"))
    sp = SPM.from_gguf(r)
    texts = _eval_dev_texts() + ["Once upon a time, there was a little girl named Lily.",
                                 "  leading spaces", "tabs\tand\nnewlines\n", "ünïcödé – “quotes” 日本語 🙂", ""]
    bad = 0
    for t in texts:
        ids = sp.encode(t, add_special=False)
        if sp.decode(ids) != t:
            bad += 1
            if bad < 5:
                print("  SPM round trip FAIL: %r -> %r" % (t[:60], sp.decode(ids)[:60]))
    s = "Once upon a time, there was a little girl named Lily."
    ids = sp.encode(s)
    print("SPM stories260K: %r -> %s" % (s, ids))
    print("   pieces:", token_strings(sp, ids))
    print("SPM round trip on %d texts (eval-dev + extras): %d failures" % (len(texts), bad))
    return bad == 0


def test_gpt2_split():
    cases = {
        "Hello world": ["Hello", " world"],
        "I'm here, isn't it?": ["I", "'m", " here", ",", " isn", "'t", " it", "?"],
        "a  b": ["a", " ", " b"],
        "a \tb": ["a", " ", "\t", "b"],
        "a\n\nb ": ["a", "\n", "\n", "b", " "],
        "a\n\n\nb": ["a", "\n\n", "\n", "b"],
        "x   ": ["x", "   "],
        "  x": [" ", " x"],
        "abc123 def": ["abc", "123", " def"],
        "''s": ["''", "s"],
        "it'S": ["it", "'", "S"],
        "$100.5!!": ["$", "100", ".", "5", "!!"],
        "\u00e9t\u00e9 \u65e5\u672c": ["\u00e9t\u00e9", " \u65e5\u672c"],
        " \n x": [" \n", " x"],
    }
    ok = True
    for s, exp in cases.items():
        got = gpt2_split(s)
        if got != exp:
            ok = False
            print("  gpt2_split(%r) = %r, expected %r" % (s, got, exp))
    got = pretokenize("abc123 def", "smollm")
    if got != ["abc", "1", "2", "3", " def"]:
        ok = False
        print("  smollm pretokenize:", got)
    print("GPT-2 pre-tokenizer hand cases:", "PASS" if ok else "FAIL")
    return ok


def test_gpt2_roundtrip(path, n_random=300, seed=1):
    import random
    sys.path.insert(0, HERE)
    from gguf import GGUFReader
    tok = GPT2BPE.from_gguf(GGUFReader(path))
    texts = _eval_dev_texts()
    rnd = random.Random(seed)
    for _ in range(n_random):
        kind = rnd.randrange(3)
        L = rnd.randrange(0, 60)
        if kind == 0:   # random code points from all planes (no surrogates)
            cps = []
            while len(cps) < L:
                c = rnd.choice([rnd.randrange(0, 0x80), rnd.randrange(0, 0x800), rnd.randrange(0, 0x10000),
                                rnd.randrange(0, 0x110000)])
                if not 0xD800 <= c <= 0xDFFF:
                    cps.append(c)
            texts.append("".join(map(chr, cps)))
        elif kind == 1:  # random bytes, decoded leniently
            texts.append(bytes(rnd.randrange(256) for _ in range(L)).decode("utf-8", errors="replace"))
        else:            # mixed English-like with odd whitespace and digits
            parts = ["the", " ", "  ", "\n", "\t", "'s", "'ll", "123", "4.5", "Zürich", "!!", "🙂", "\u00a0", "\u3000"]
            texts.append("".join(rnd.choice(parts) for _ in range(L)))
    bad = 0
    ntok = nch = 0
    for t in texts:
        ids = tok.encode(t, add_special=False)
        ntok += len(ids); nch += len(t)
        if tok.decode(ids) != t:
            bad += 1
            if bad < 5:
                print("  GPT2 round trip FAIL: %r" % t[:80])
    # arbitrary token id sequences decode to bytes, re-encoding valid UTF-8 text reproduces it
    print("GPT-2 BPE round trip on %d texts (eval-dev + %d random): %d failures; %.2f chars/token"
          % (len(texts), n_random, bad, nch / max(1, ntok)))
    s = "Hydrogen is the lightest element. It was discovered in 1766."
    ids = tok.encode(s)
    print("   %r -> %s" % (s, ids))
    print("   pieces:", token_strings(tok, ids))
    return bad == 0


def selftest(gpt2_gguf=None):
    ok = test_wordpiece()
    bert_gguf = os.path.join(HERE, "..", "..", "build", "ref", "minilm-shape-f32.gguf")
    if os.path.exists(bert_gguf):
        ok &= test_wordpiece(bert_gguf)
    ok &= test_spm()
    ok &= test_gpt2_split()
    if gpt2_gguf is None:
        cand = os.path.join(HERE, "..", "..", "build", "ref", "llama-tiny-gqa-f32.gguf")
        gpt2_gguf = cand if os.path.exists(cand) else None
    if gpt2_gguf:
        ok &= test_gpt2_roundtrip(gpt2_gguf)
    else:
        print("GPT-2 BPE round trip: skipped (run mkmodels.py first)")
    print("tok_ref selftest:", "PASS" if ok else "FAIL")
    return ok


def main():
    import argparse
    ap = argparse.ArgumentParser(description="reference tokenizers")
    ap.add_argument("model", nargs="?", help="GGUF file whose tokenizer to use")
    ap.add_argument("--vocab-txt", help="BERT vocab.txt (WordPiece)")
    ap.add_argument("--text", help="text to tokenize")
    ap.add_argument("--text-file", help="read text from this file")
    ap.add_argument("--no-special", action="store_true", help="do not add BOS/CLS/SEP")
    ap.add_argument("--parse-special", action="store_true", help="recognise control-token text like <|im_start|>")
    ap.add_argument("--decode", help="comma separated ids to decode")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--gpt2-gguf", help="GGUF with a gpt2 tokenizer for the selftest round trip")
    a = ap.parse_args()
    if a.selftest:
        sys.exit(0 if selftest(a.gpt2_gguf) else 1)
    if a.vocab_txt:
        tok = WordPiece.from_vocab_txt(a.vocab_txt)
    else:
        sys.path.insert(0, HERE)
        from gguf import GGUFReader
        tok = from_gguf(GGUFReader(a.model))
    if a.decode is not None:
        ids = [int(x) for x in a.decode.split(",") if x.strip()]
        print(tok.decode(ids))
        return
    text = a.text if a.text is not None else open(a.text_file, encoding="utf-8").read()
    if isinstance(tok, WordPiece):
        ids = tok.encode(text, add_special=not a.no_special)
    else:
        ids = tok.encode(text, add_special=not a.no_special, parse_special=a.parse_special)
    if a.json:
        print(json.dumps({"ids": ids, "tokens": token_strings(tok, ids)}, ensure_ascii=False))
    else:
        print(" ".join(map(str, ids)))
        print(token_strings(tok, ids))


if __name__ == "__main__":
    main()
