#!/usr/bin/env python3
"""dict2jsonl.py: a Debian dictd dictionary as edgekb documents (JSON Lines).

  dict2jsonl.py NAME OUT.jsonl [DICTDIR] [--max N]

Reads DICTDIR/NAME.index and NAME.dict.dz (dictd format: index lines
`headword TAB offset TAB length`, numbers in dictd's base64 digits; the .dz
file is gzip-compatible; default DICTDIR /usr/share/dictd) and writes one
document per headword: {"id": "NAME:<headword>", "title": headword, "text":
the definition without its first line when that line only repeats the
headword}. Entries of the dictionary's own metadata (00-database-*) and
definitions under 40 bytes are left out; a headword listed twice keeps its
first entry. Exits 1 with a message when the package is not installed
(dict-foldoc, dict-jargon, dict-gcide: apt-get install -y dict-NAME).
"""
import gzip
import json
import os
import sys

from elements2kb import b64num  # dictd's base64 numbers


def entries(name, d="/usr/share/dictd"):
    idx, dz = os.path.join(d, name + ".index"), os.path.join(d, name + ".dict.dz")
    if not (os.path.exists(idx) and os.path.exists(dz)):
        sys.exit("dict2jsonl: %s not found: apt-get install -y dict-%s" % (idx, name))
    with gzip.open(dz, "rb") as f:
        data = f.read()
    seen = set()
    for line in open(idx, encoding="utf-8", errors="replace"):
        p = line.rstrip("\n").split("\t")
        if len(p) < 3 or p[0].startswith("00-database") or p[0].startswith("00database"):
            continue
        head = p[0]
        if head.lower() in seen:
            continue
        text = data[b64num(p[1]):b64num(p[1]) + b64num(p[2])].decode("utf-8", "replace")
        lines = text.strip("\n").split("\n")
        if lines and lines[0].strip().lower().startswith(head.lower()[:20]):
            lines = lines[1:]
        body = " ".join(l.strip() for l in lines if l.strip())
        if len(body) < 40:
            continue
        seen.add(head.lower())
        yield head, body


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    mx = None
    if "--max" in sys.argv:
        mx = int(sys.argv[sys.argv.index("--max") + 1])
        args = [a for a in args if a != str(mx)]
    if len(args) < 2:
        sys.exit("usage: dict2jsonl.py NAME OUT.jsonl [DICTDIR] [--max N]")
    name, out = args[0], args[1]
    d = args[2] if len(args) > 2 else "/usr/share/dictd"
    n = nb = 0
    with open(out, "w", encoding="utf-8") as f:
        for head, body in entries(name, d):
            f.write(json.dumps({"id": "%s:%s" % (name, head), "title": head, "text": body}) + "\n")
            n += 1
            nb += len(body.encode())
            if mx and n >= mx:
                break
    print("dict2jsonl: %s: %d documents, %.2f MB" % (name, n, nb / 1e6))


if __name__ == "__main__":
    main()
