#!/usr/bin/env python3
"""search_set.py: a paraphrase retrieval set nobody tuned to: WordNet's
glosses asked of another dictionary.

  search_set.py DOCS.jsonl WORDNET_DIR OUT.jsonl [--n N] [--seed S] [--name NAME]

For every document of DOCS.jsonl (a dictionary made by dict2jsonl.py:
title = headword) whose headword is also a WordNet noun (an entity's name
or alias, without case) with exactly one WordNet sense of that spelling and
a gloss of 5 to 25 words, the gloss is a query and the document is its
gold answer. The glosses were written by WordNet's lexicographers, the
documents by the dictionary's authors: the same thing in other words. N
(default 200) of them are drawn with a fixed seed. A checked sample is in
the log (docs/perf); a query whose gloss names its own headword is left out
(it would be a keyword lookup, not a paraphrase).
Writes {"q", "gold": [doc id], "head"} per line.
"""
import argparse
import json
import random
import re


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("docs")
    ap.add_argument("wordnet")
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    senses = {}
    for l in open(a.wordnet + "/entities.jsonl", encoding="utf-8"):
        e = json.loads(l)
        base = re.sub(r" \(.*\)$", "", e["name"]).lower()
        for k in [base] + [x.lower() for x in e["aliases"]]:
            senses.setdefault(k, []).append(e["description"])
    cand = []
    for l in open(a.docs, encoding="utf-8"):
        d = json.loads(l)
        h = d["title"].lower()
        g = senses.get(h)
        if not g or len(g) != 1:
            continue
        gloss = g[0].split(";")[0].strip()
        nw = len(gloss.split())
        if nw < 5 or nw > 25 or re.search(r"\b%s\b" % re.escape(h), gloss.lower()):
            continue
        cand.append({"q": gloss, "gold": [d["id"]], "head": d["title"]})
    rng = random.Random(a.seed)
    rng.shuffle(cand)
    pick = cand[:a.n]
    with open(a.out, "w", encoding="utf-8") as f:
        for c in pick:
            f.write(json.dumps(c) + "\n")
    print("search_set: %d candidates, %d written to %s" % (len(cand), len(pick), a.out))


if __name__ == "__main__":
    main()
