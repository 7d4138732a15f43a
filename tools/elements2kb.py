#!/usr/bin/env python3
"""elements2kb.py: the demo knowledge base's data from Debian's dict-elements.

Reads /usr/share/dictd/elements.index and elements.dict.dz (dictd format:
index lines `headword TAB offset TAB length`, numbers in dictd's base64
digits; the .dz file is gzip-compatible) and writes
  OUT/elements_docs.jsonl   {"id": "elements:<name>", "title", "text"}
  OUT/elements_facts.tsv    element TAB symbol|atomic number|atomic weight TAB value
in the same shapes as ../shared/eval-dev (which tools/run.sh prefers when
present; that set also has discovery facts, which this script does not
extract). Usage: elements2kb.py OUTDIR [DICTDIR]. Exit 1 with a message when
the package is not installed.
"""
import gzip
import json
import os
import sys

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64num(s):
    v = 0
    for ch in s:
        v = v * 64 + B64.index(ch)
    return v


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: elements2kb.py OUTDIR [DICTDIR]")
    out = sys.argv[1]
    d = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/dictd"
    idx, dz = os.path.join(d, "elements.index"), os.path.join(d, "elements.dict.dz")
    if not (os.path.exists(idx) and os.path.exists(dz)):
        sys.exit("elements2kb: %s not found: install it with `apt-get install -y dict-elements`" % idx)
    with gzip.open(dz, "rb") as f:
        data = f.read()
    os.makedirs(out, exist_ok=True)
    ndocs = nfacts = 0
    seen = set()
    with open(idx, encoding="utf-8") as fi, \
            open(os.path.join(out, "elements_docs.jsonl"), "w", encoding="utf-8") as fd, \
            open(os.path.join(out, "elements_facts.tsv"), "w", encoding="utf-8") as ff:
        for line in fi:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or parts[0].startswith("00database"):
                continue
            name, off, ln = parts[0], b64num(parts[1]), b64num(parts[2])
            raw = data[off:off + ln]
            try:
                body = raw.decode("utf-8")
            except UnicodeDecodeError:  # a few entries are Latin-1
                body = raw.decode("latin-1")
            body = body.strip().split("\n")
            if body and body[0].strip().lower() == name.lower():
                body = body[1:]
            props, desc = {}, []
            for b in body:
                b = b.strip()
                for key in ("Symbol", "Atomic number", "Atomic weight"):
                    if b.startswith(key + ":"):
                        props[key] = b[len(key) + 1:].strip()
                        break
                else:
                    if b:
                        desc.append(b)
            head = ". ".join("%s: %s" % (k, props[k]) for k in ("Symbol", "Atomic number", "Atomic weight")
                             if k in props)
            text = (head + ".\n" if head else "") + " ".join(desc)
            if text in seen:  # aluminium / aluminum
                continue
            seen.add(text)
            fd.write(json.dumps({"id": "elements:" + name, "title": name, "text": text}, ensure_ascii=False) + "\n")
            ndocs += 1
            for k in ("Symbol", "Atomic number", "Atomic weight"):
                if k in props:
                    ff.write("%s\t%s\t%s\n" % (name, k.lower(), props[k]))
                    nfacts += 1
    print("elements2kb: %d documents, %d facts from %s -> %s" % (ndocs, nfacts, d, out))


if __name__ == "__main__":
    main()
