#!/usr/bin/env python3
"""gen_graph.py: a generated fact base with the shape of the WordNet noun
set, at any size, for scale tests and benchmarks.

  gen_graph.py OUT_DIR [--entities N] [--facts M] [--seed S]

Writes OUT_DIR/predicates.jsonl (the WordNet schema: is a kind of
(transitive), is an instance of, has part / is part of (inverse,
transitive), has member / is a member of (inverse), made of / is a
substance in (inverse)), OUT_DIR/entities.jsonl ({"name", "aliases",
"description"}: pronounceable generated names, unique without case, a
third with an alias, some sharing a base name with a sense suffix) and
OUT_DIR/facts.tsv with WordNet's mix: every entity but the roots is a kind
(or, 10%, an instance) of one earlier entity (a forest of depth ~10-16);
the rest of the facts are parts, members and substances between random
entities, stored in the direction WordNet stores them (both for the
meronym pairs, which the engine stores once).
"""
import argparse
import json
import os
import random

SYL = ["ka", "to", "ri", "ne", "sa", "mo", "lu", "pe", "di", "ga", "vo", "shi", "ban", "tor", "mel", "qua", "zen",
       "rak", "lin", "dor", "fel", "gri", "hul", "jas", "kem", "nop", "pra", "sul", "tev", "wim", "yor", "bex"]
WORDS = ["stone", "river", "engine", "leaf", "tower", "valve", "crown", "plate", "wheel", "root", "shell", "frame",
         "cable", "seed", "lamp", "gear", "mill", "ridge", "field", "coil"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--entities", type=int, default=300000)
    ap.add_argument("--facts", type=int, default=1000000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    names, seen = [], set()
    while len(names) < a.entities:
        n = "".join(rng.choice(SYL) for _ in range(rng.randint(2, 4)))
        if rng.random() < 0.3:
            n += " " + rng.choice(WORDS)
        base = n
        if n.lower() in seen:
            n = "%s (%s)" % (base, rng.choice(WORDS))
            if n.lower() in seen:
                continue
        seen.add(n.lower())
        names.append(n)
    with open(os.path.join(a.out, "predicates.jsonl"), "w") as f:
        for p, inv, tr in (("is a kind of", None, True), ("is an instance of", None, False),
                           ("has part", "is part of", True), ("is part of", "has part", True),
                           ("has member", "is a member of", False), ("is a member of", "has member", False),
                           ("made of", "is a substance in", False), ("is a substance in", "made of", False)):
            f.write(json.dumps({"predicate": p, "inverse": inv, "transitive": tr, "aliases": []}) + "\n")
    with open(os.path.join(a.out, "entities.jsonl"), "w") as f:
        for i, n in enumerate(names):
            al = []
            if rng.random() < 0.33:
                al.append("".join(rng.choice(SYL) for _ in range(3)))
            f.write(json.dumps({"name": n, "aliases": al,
                                "description": "a %s related to %s" % (rng.choice(WORDS), rng.choice(WORDS))}) + "\n")
    nf = 0
    roots = max(10, a.entities // 2000)
    with open(os.path.join(a.out, "facts.tsv"), "w") as f:
        for i in range(roots, len(names)):  # the hierarchy: a parent among the earlier entities
            lo = max(0, i - 5000) if rng.random() < 0.7 else 0
            p = rng.randrange(lo, i)
            f.write("%s\t%s\t%s\n" % (names[i], "is an instance of" if rng.random() < 0.1 else "is a kind of",
                                       names[p]))
            nf += 1
        rest = a.facts - nf
        while rest > 0:
            x, y = rng.randrange(len(names)), rng.randrange(len(names))
            if x == y:
                continue
            r = rng.random()
            if r < 0.55:
                pair = ("has member", "is a member of")
            elif r < 0.95:
                pair = ("has part", "is part of")
            else:
                pair = ("made of", "is a substance in")
            f.write("%s\t%s\t%s\n" % (names[x], pair[0], names[y]))
            f.write("%s\t%s\t%s\n" % (names[y], pair[1], names[x]))
            rest -= 2
    return 0


if __name__ == "__main__":
    main()
