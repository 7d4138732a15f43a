#!/usr/bin/env python3
"""mk_tok_llm_vectors.py: expected token ids for tests/test_tok_llm.c, from the
numpy/python reference tokenizers in tok_ref.py (never from the C code).

Writes
  tests/data/tok_gpt2_mini.gguf   a small GPT-2 byte-level BPE vocabulary cut
      from the synthetic 49152-token SmolLM2-like vocabulary (build/ref/
      llama-tiny-gqa-f32.gguf, made by mkmodels.py): the 17 control tokens,
      one user-defined token "<tool>", the 256 byte symbols, and exactly the
      merges (in their original rank order) that the full vocabulary applies
      to the test texts. Keeping only the applied merges cannot change the
      result (a merge that never won while its pair was present never
      mattered); the script checks that the token strings are identical.
  tests/data/tok_llm_vectors.txt  one case per line:
      kind <TAB> flags <TAB> hex(text) <TAB> comma-separated ids
      kind: spm (stories260K.gguf) or bpe (tok_gpt2_mini.gguf); flags: 1 add
      special tokens, 2 parse special tokens.

Invalid UTF-8 is carried through with surrogateescape: an ill-formed byte is
a lone surrogate character, which the reference classifies as "other" (GPT-2
pre-tokenizer) and which never merges (SPM), i.e. it comes out as its byte
token. Usage (from the repo root):
  /usr/bin/python3 tools/ref/mk_tok_llm_vectors.py [--stories S.gguf] [--gpt2 FULL.gguf]
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gguf  # noqa: E402
import tok_ref  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

SPM_TEXTS = [
    (1, b""), (0, b""), (1, b" "), (1, b"   "), (1, b"\n"), (1, b"Once upon a time"),
    (1, b"Once upon a time, there was a little girl named Lily."), (0, b"Lily and Ben went to the park."),
    (1, b"  two  spaces  "), (1, "caf\u00e9 \u4e2d\u6587 \U0001f642 \u00a0x".encode()), (1, b"\x01\x7f\ttab\r\n"),
    (1, b"bad \xff\xfe bytes \xc3( \xe2\x82 end \xed\xa0\x80 \xf4\x90\x80\x80"), (1, b"\xc3"),
    (1, b"a" * 3000), (1, b"abcdefghij" * 300), (1, b"It's 1766; don't stop! 3.14159 <s> </s> <unk>"),
]

BPE_TEXTS = [
    (0, b""), (1, b""), (0, b" "), (0, b"   "), (0, b"\n"), (0, b"\n\n \n"), (0, b"a  b"), (0, b"a   \n b"),
    (0, b"hello   "), (0, b"  leading"), (0, b"Hydrogen is the lightest element. It was discovered in 1766."),
    (0, b"I'll've he's they'RE we'd you're 'tis '"), (0, b"abc123 def 4.5 x1000000y"),
    (0, "Z\u00fcrich \U0001f642 \u4e2d\u6587 \u0661\u0662\u0663 \u00b2 \u2167 caf\u00e9".encode()),
    (0, "tab\there\u00a0nbsp\u3000ideo\u2028ls\u0085nel".encode()),
    (0, b"bad \xff\xfe bytes \xc3( \xe2\x82 end \xed\xa0\x80 \xf4\x90\x80\x80 \x80"), (0, b"\xc3"),
    (0, b"<|im_start|>user\nhi there<|im_end|>\n"), (2, b"<|im_start|>user\nhi there<|im_end|>\n"),
    (2, b"<|endoftext|><|endoftext|>x<|im_end|"), (0, b"say <tool>x<tool> now"), (2, b"<tool><|im_start|><tool>"),
    (0, b"!!!??? ... --- ***"), (0, b"e\xcc\x81 \xe2\x80\x8b zero-width"),
    (0, b"a" * 1500), (0, b"supercalifragilistic" * 60), (0, b" " * 600 + b"x"),
    (3, b"The cat sat on the mat."),
]


def spm_encode(tok, raw, add_special):
    """tok_ref.SPM.encode, with ill-formed bytes (lone surrogates) as
    unmergeable single symbols."""
    if not raw:
        # tok_ref.SPM.encode("") yields BOS + "▁" (it prefixes a space to
        # the empty fragment); llama.cpp skips empty text (llama_vocab
        # tokenize: "if (!raw_text.empty())"), giving BOS only. We follow llama.cpp.
        return [tok.bos_id] if add_special and tok.add_bos else []
    text = raw.decode("utf-8", "surrogateescape")
    if not any(0xDC80 <= ord(c) <= 0xDCFF for c in text):
        return tok.encode(text, add_special=add_special)
    out = [tok.bos_id] if add_special and tok.add_bos else []
    if text:
        text = (" " + text) if tok.add_space_prefix else text
        seg = ""
        for c in text.replace(" ", "\u2581"):
            if 0xDC80 <= ord(c) <= 0xDCFF:
                tok._tokenize_fragment(seg, out)
                seg = ""
                out.append(tok.byte_ids.get(ord(c) - 0xDC00, tok.unk_id))
            else:
                seg += c
        tok._tokenize_fragment(seg, out)
    if add_special and tok.add_eos:
        out.append(tok.eos_id)
    return out


def bpe_encode(tok, raw, flags):
    """tok_ref.GPT2BPE.encode on bytes (surrogateescape for ill-formed ones)."""
    text = raw.decode("utf-8", "surrogateescape")
    out = []
    if (flags & 1) and tok.add_bos and tok.bos_id is not None:
        out.append(int(tok.bos_id))
    specials = [(t, i) for i, (t, tt) in enumerate(zip(tok.tokens, tok.types))
                if tt == tok_ref.TT_USER_DEFINED or ((flags & 2) and tt == tok_ref.TT_CONTROL)]
    for fr in tok_ref.partition_special(text, specials):
        if isinstance(fr, int):
            out.append(fr)
            continue
        for w in tok_ref.pretokenize(fr, tok.pre):
            out.extend(tok.bpe("".join(tok_ref.BYTE2U[b] for b in w.encode("utf-8", "surrogateescape"))))
    if (flags & 1) and tok.add_eos and tok.eos_id is not None:
        out.append(int(tok.eos_id))
    return out


def applied_merges(tok, word):
    """The merges tok.bpe(word) applies (the same loop, recording them)."""
    syms, used = list(word), set()
    while len(syms) > 1:
        best, bi = None, -1
        for k in range(len(syms) - 1):
            r = tok.ranks.get((syms[k], syms[k + 1]))
            if r is not None and (best is None or r < best):
                best, bi = r, k
        if best is None:
            break
        used.add(best)
        a, b = syms[bi], syms[bi + 1]
        merged, k = [], 0
        while k < len(syms):
            if k < len(syms) - 1 and syms[k] == a and syms[k + 1] == b:
                merged.append(a + b)
                k += 2
            else:
                merged.append(syms[k])
                k += 1
        syms = merged
    return used


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stories", default=os.environ.get("EDGEKB_MODEL_DIR", "/work/shared/models") + "/stories260K.gguf")
    ap.add_argument("--gpt2", default=os.path.join(ROOT, "build", "ref", "llama-tiny-gqa-f32.gguf"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data"))
    a = ap.parse_args()

    full_r = gguf.GGUFReader(a.gpt2)
    full = tok_ref.GPT2BPE.from_gguf(full_r)
    merges = list(full_r.get("tokenizer.ggml.merges"))
    nsp = sum(1 for t in full.types if t == tok_ref.TT_CONTROL)
    used = set()
    for flags, raw in BPE_TEXTS:
        text = raw.decode("utf-8", "surrogateescape")
        for fr in tok_ref.partition_special(text, [(t, i) for i, (t, tt) in enumerate(zip(full.tokens, full.types))
                                                   if flags & 2 and tt == tok_ref.TT_CONTROL]):
            if isinstance(fr, str):
                for w in tok_ref.pretokenize(fr, full.pre):
                    used |= applied_merges(full, "".join(tok_ref.BYTE2U[b] for b in
                                                         w.encode("utf-8", "surrogateescape")))
    keep = sorted(used)
    tokens = list(full.tokens[:nsp]) + ["<tool>"] + list(full.tokens[nsp:nsp + 256])
    types = [tok_ref.TT_CONTROL] * nsp + [tok_ref.TT_USER_DEFINED] + [tok_ref.TT_NORMAL] * 256
    mini_merges = []
    for r in keep:
        l, rt = merges[r].split(" ", 1)
        mini_merges.append(merges[r])
        if l + rt not in tokens:
            tokens.append(l + rt)
            types.append(tok_ref.TT_NORMAL)
    import numpy as np
    w = gguf.GGUFWriter()
    w.add_kv("general.architecture", "llama")
    w.add_kv("general.name", "tok-gpt2-mini (test vocabulary cut from the synthetic SmolLM2-like BPE)")
    w.add_kv("tokenizer.ggml.model", "gpt2")
    w.add_kv("tokenizer.ggml.pre", "smollm")
    w.add_kv("tokenizer.ggml.tokens", tokens)
    w.add_kv("tokenizer.ggml.token_type", np.array(types, np.int32))
    w.add_kv("tokenizer.ggml.merges", mini_merges)
    w.add_kv("tokenizer.ggml.bos_token_id", 1)
    w.add_kv("tokenizer.ggml.eos_token_id", 2)
    w.add_kv("tokenizer.ggml.add_bos_token", True)  # so flag 1 is exercised (the full vocab says False)
    mini_path = os.path.join(a.out, "tok_gpt2_mini.gguf")
    w.write(mini_path)
    mini = tok_ref.GPT2BPE.from_gguf(gguf.GGUFReader(mini_path))

    spm = tok_ref.SPM.from_gguf(gguf.GGUFReader(a.stories))
    lines = []
    for flags, raw in SPM_TEXTS:
        ids = spm_encode(spm, raw, bool(flags & 1))
        lines.append("spm\t%d\t%s\t%s" % (flags, raw.hex(), ",".join(map(str, ids))))
    for flags, raw in BPE_TEXTS:
        ids = bpe_encode(mini, raw, flags)
        ref = bpe_encode(full, raw, flags & 2)  # the full vocabulary (no BOS) must give the same strings
        strs = [mini.tokens[i] for i in (ids[1:] if flags & 1 else ids)]
        if b"<tool>" not in raw:  # "<tool>" exists only in the mini vocabulary
            assert strs == [full.tokens[i] for i in ref], ("mini vocabulary changed the result", raw[:40])
        back = mini.decode_bytes(ids)
        if not flags & 2 and b"<tool>" not in raw:
            assert back == raw, ("round trip", raw[:40], back[:40])
        lines.append("bpe\t%d\t%s\t%s" % (flags, raw.hex(), ",".join(map(str, ids))))
    with open(os.path.join(a.out, "tok_llm_vectors.txt"), "w") as f:
        f.write("# generated by tools/ref/mk_tok_llm_vectors.py from tools/ref/tok_ref.py; do not edit\n")
        f.write("\n".join(lines) + "\n")
    print("wrote %s (%d tokens, %d merges) and %d cases" % (mini_path, len(tokens), len(mini_merges), len(lines)))


if __name__ == "__main__":
    main()
