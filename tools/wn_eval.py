#!/usr/bin/env python3
"""wn_eval.py: FIND accuracy and latency on the WordNet fact base, over a
running server's socket.

Generates development questions from ../shared/eval-dev/wordnet (a fixed
seed, so every run asks the same ones) of every kind the tiers handle:

  t1-case, t1-plural, t1-typo, t1-synonym   a varied subject, stored predicate
  t2-para, t2-inverse                      a paraphrased predicate (same
                                           direction, or the inverse phrasing
                                           asked from the other end)
  t3-path                                  2-3 hop paths `p1 / p2 [/ p3]`
  t3-yes, t3-no                            "is X a kind of Y?" with the
                                           predicate as stored (the closure)

and asks each as `FIND s | p | o` on one connection. A lookup is right
when the gold entity is among the rows, wrong when there are rows but not
the gold one, not found when there are none; yes/no questions are right
when the rows say yes (some row) or no (none) as they should.

Output: one machine-readable line per kind
  wn_eval kind=<k> n=<n> right=<r> wrong=<w> notfound=<nf> acc=<a> p50_ms=<x> p95_ms=<y>
and per-tier latency lines (client-side, socket round trip)
  wn_eval_latency tier=<t> n=<n> p50_ms=<x> p95_ms=<y> server_p95_ms=<z>
--dump FILE writes the questions and answers (JSONL) for reading.

usage: wn_eval.py --sock PATH [--data DIR] [--n N] [--seed S] [--dump FILE] [--kinds k1,k2]
"""
import argparse
import json
import random
import re
import socket
import sys
import time

# Paraphrases for development (the engine does not read this list). Each is
# (phrase, 'fwd' | 'inv'): fwd asks `s | phrase | ?` for a stored `s p o`;
# inv asks `o | phrase | ?` and expects s.
PARA = {
    "is a kind of": [("is a type of", "fwd"), ("is a sort of", "fwd"), ("is a form of", "fwd"),
                     ("is a variety of", "fwd"), ("is a subtype of", "fwd"), ("type of", "fwd"),
                     ("is a subclass of", "fwd"), ("is classified as", "fwd"), ("falls under", "fwd"),
                     ("is a specific kind of", "fwd"), ("has hypernym", "fwd"), ("belongs to the class", "fwd"),
                     ("kinds", "inv"), ("types", "inv"), ("has subtypes", "inv"), ("has kinds", "inv"),
                     ("varieties", "inv"), ("subclasses", "inv"), ("has hyponym", "inv"),
                     ("is a generalization of", "inv"), ("includes the type", "inv"), ("sorts", "inv")],
    "is an instance of": [("is an example of", "fwd"), ("is an instance of a", "fwd"), ("instance of", "fwd"),
                          ("is a specific", "fwd"), ("is one example of", "fwd"), ("is a particular", "fwd"),
                          ("exemplifies", "fwd"), ("instances", "inv"), ("examples", "inv"),
                          ("has instance", "inv"), ("has examples", "inv")],
    "has part": [("contains", "fwd"), ("consists partly of", "fwd"), ("includes", "fwd"),
                 ("has as a part", "fwd"), ("has component", "fwd"), ("parts", "fwd"), ("components", "fwd"),
                 ("comprises", "fwd"), ("has the part", "fwd"), ("has a piece", "fwd"),
                 ("forms part of", "inv"), ("is a component of", "inv"), ("is a piece of", "inv"),
                 ("is found in", "inv"), ("is contained in", "inv"), ("is a section of", "inv"),
                 ("makes up part of", "inv"), ("is a portion of", "inv"), ("part of", "inv"),
                 ("is an element of", "inv")],
    "is part of": [("is a component of", "fwd"), ("forms part of", "fwd"), ("belongs to", "fwd"),
                   ("is a piece of", "fwd"), ("is located in", "fwd"), ("has part", "inv"),
                   ("contains", "inv"), ("includes", "inv"), ("consists in part of", "inv")],
    "has member": [("has members", "fwd"), ("members", "fwd"), ("includes the member", "fwd"),
                   ("consists of", "fwd"), ("contains the member", "fwd"), ("is made up of", "fwd"),
                   ("includes", "fwd"), ("belongs to", "inv"), ("is a member of", "inv"), ("is one of", "inv"),
                   ("is in the group", "inv"), ("is included in", "inv"), ("member of", "inv"),
                   ("is among", "inv")],
    "is a member of": [("belongs to", "fwd"), ("is one of", "fwd"), ("is a member of the group", "fwd"),
                       ("is in", "fwd"), ("members", "inv"), ("has member", "inv"), ("includes", "inv")],
    "made of": [("is made from", "fwd"), ("is composed of", "fwd"), ("consists of", "fwd"),
                ("contains the substance", "fwd"), ("has ingredient", "fwd"), ("ingredients", "fwd"),
                ("is formed from", "fwd"), ("is made out of", "fwd"), ("material", "fwd"),
                ("is used to make", "inv"), ("is an ingredient of", "inv"), ("goes into", "inv"),
                ("is a material for", "inv"), ("is used in", "inv"), ("makes up", "inv"),
                ("is a constituent of", "inv")],
    "is a substance in": [("is an ingredient in", "fwd"), ("is used to make", "fwd"), ("is a material in", "fwd"),
                          ("is made of", "inv"), ("contains", "inv")],
}

IRREG = {"man": "men", "woman": "women", "child": "children", "foot": "feet", "tooth": "teeth",
         "mouse": "mice", "goose": "geese", "person": "people", "leaf": "leaves", "knife": "knives",
         "wife": "wives", "life": "lives", "wolf": "wolves", "half": "halves", "calf": "calves",
         "shelf": "shelves", "thief": "thieves", "ox": "oxen", "louse": "lice", "cactus": "cacti",
         "fungus": "fungi", "nucleus": "nuclei", "stimulus": "stimuli", "radius": "radii",
         "analysis": "analyses", "crisis": "crises", "thesis": "theses", "phenomenon": "phenomena",
         "criterion": "criteria", "bacterium": "bacteria", "datum": "data", "medium": "media",
         "larva": "larvae", "formula": "formulae", "index": "indices", "matrix": "matrices",
         "vertex": "vertices", "appendix": "appendices"}


def plural(w):
    last = w.split(" ")[-1]
    head = w[: len(w) - len(last)]
    if last in IRREG:
        return head + IRREG[last]
    if re.search(r"(s|x|z|ch|sh)$", last):
        return head + last + "es"
    if re.search(r"[^aeiou]y$", last):
        return head + last[:-1] + "ies"
    return head + last + "s"


def typo(w, rng, n):
    s = list(w)
    for _ in range(n):
        i = rng.randrange(1, len(s) - 1) if len(s) > 2 else 0
        op = rng.choice("sdtx")
        if op == "s":
            s[i] = rng.choice("abcdefghijklmnopqrstuvwxyz")
        elif op == "d" and len(s) > 4:
            del s[i]
        elif op == "t" and i + 1 < len(s):
            s[i], s[i + 1] = s[i + 1], s[i]
        else:
            s.insert(i, rng.choice("abcdefghijklmnopqrstuvwxyz"))
    return "".join(s)


def unescape(s):
    return re.sub(r"\\x([0-9A-Fa-f]{2})|\\\\", lambda m: chr(int(m.group(1), 16)) if m.group(1) else "\\", s)


class Client:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.f = self.s.makefile("rb")

    def find(self, s, p, o):
        line = "FIND %s | %s | %s\n" % (s, p, o)
        t0 = time.perf_counter()
        self.s.sendall(line.encode())
        st = self.f.readline().decode().rstrip("\n")
        rows = []
        m = re.match(r"OK (\d+)", st)
        if m:
            for _ in range(int(m.group(1))):
                f = self.f.readline().decode().rstrip("\n").split("\t")
                rows.append([unescape(x) for x in f])
        dt = (time.perf_counter() - t0) * 1000
        return st, rows, dt


def status_field(st, k):
    m = re.search(r"\b%s=([^ ]+)" % k, st)
    return m.group(1) if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sock", required=True)
    ap.add_argument("--data", default="../shared/eval-dev/wordnet")
    ap.add_argument("--n", type=int, default=100, help="questions per kind")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dump")
    ap.add_argument("--kinds")
    ap.add_argument("--para", help="JSON file {predicate: [[phrase, fwd|inv], ...]} replacing the built-in paraphrases")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    para = PARA
    if a.para:
        para = json.load(open(a.para, encoding="utf-8"))

    ents, alias_n, name_lc = {}, {}, set()
    for l in open(a.data + "/entities.jsonl", encoding="utf-8"):
        e = json.loads(l)
        ents[e["name"]] = e
        name_lc.add(e["name"].lower())
        for x in e["aliases"]:
            alias_n[x.lower()] = alias_n.get(x.lower(), 0) + 1
    facts = [l.rstrip("\n").split("\t") for l in open(a.data + "/facts.tsv", encoding="utf-8")]
    by_sp, up = {}, {}
    for s, p, o in facts:
        by_sp.setdefault((s, p), set()).add(o)
        if p == "is a kind of":
            up.setdefault(s, set()).add(o)
    # the facts as answered from both ends: inverse pairs hold in both directions
    inverse = {"has part": "is part of", "is part of": "has part", "has member": "is a member of",
               "is a member of": "has member", "made of": "is a substance in", "is a substance in": "made of"}
    for s, p, o in facts:
        if p in inverse:
            by_sp.setdefault((o, inverse[p]), set()).add(s)
    rev = {}
    for (s, p), objs in by_sp.items():
        for o in objs:
            rev.setdefault((o, p), set()).add(s)

    def ancestors(x):
        seen, fr, d = {}, [x], 0
        while fr:
            d += 1
            nx = []
            for y in fr:
                for z in up.get(y, ()):
                    if z not in seen:
                        seen[z] = d
                        nx.append(z)
            fr = nx
        return seen

    single = [f for f in facts if " " not in f[0] and "(" not in f[0] and f[0].isalpha() and f[0].islower()]
    Q = []

    def add(kind, s, p, o, gold, expect=None):
        Q.append({"kind": kind, "s": s, "p": p, "o": o, "gold": gold, "expect": expect})

    pick = lambda pool: pool[rng.randrange(len(pool))]
    n = a.n
    # tier 1
    for _ in range(n):
        s, p, o = pick(facts)
        v = rng.choice([s.upper(), s.title(), s.lower() if s != s.lower() else s.capitalize()])
        if v == s:
            v = s.swapcase()
        add("t1-case", v, p, "?", sorted(by_sp[(s, p)]))
    cnt = 0
    while cnt < n:
        s, p, o = pick(single)
        pl = plural(s)
        if pl.lower() in name_lc or pl.lower() in alias_n or len(s) < 3:
            continue
        add("t1-plural", pl, p, "?", sorted(by_sp[(s, p)]))
        cnt += 1
    cnt = 0
    while cnt < n:
        s, p, o = pick(facts)
        if "(" in s or len(s) < 5:
            continue
        t = typo(s, rng, 2 if len(s) >= 10 else 1)
        if t.lower() in name_lc or t.lower() in alias_n or t == s:
            continue
        add("t1-typo", t, p, "?", sorted(by_sp[(s, p)]))
        cnt += 1
    cnt = 0
    syn = [(nm, x) for nm, e in ents.items() for x in e["aliases"] if alias_n[x.lower()] == 1 and x.lower() not in name_lc]
    while cnt < n:
        nm, x = pick(syn)
        cands = [p for p in ("is a kind of", "is an instance of", "has part", "is part of", "has member",
                             "is a member of", "made of", "is a substance in") if (nm, p) in by_sp]
        if not cands:
            continue
        p = rng.choice(cands)
        add("t1-synonym", x, p, "?", sorted(by_sp[(nm, p)]))
        cnt += 1
    # tier 2
    for kind, want in (("t2-para", "fwd"), ("t2-inverse", "inv")):
        cnt = 0
        while cnt < n:
            s, p, o = pick(facts)
            opts = [x for x in para.get(p, []) if x[1] == want]
            if not opts:
                continue
            ph = rng.choice(opts)[0]
            if want == "fwd":
                add(kind, s, ph, "?", sorted(by_sp[(s, p)]))
            else:  # every x with `x p o` is a right answer
                add(kind, o, ph, "?", sorted(rev[(o, p)]))
            cnt += 1
    # tier 3: paths
    cnt = 0
    while cnt < n:
        s, p1, m = pick(facts)
        nxt = [(q, o) for q in ("is a kind of", "is part of", "is a member of", "has part", "made of",
                                "is an instance of") for o in by_sp.get((m, q), ())]
        if not nxt:
            continue
        p2, o = rng.choice(nxt)
        hops = 2
        path = "%s / %s" % (p1, p2)
        if rng.random() < 0.4:
            nx3 = [(q, z) for q in ("is a kind of", "is part of", "is a member of") for z in by_sp.get((o, q), ())]
            if nx3:
                p3, z = rng.choice(nx3)
                path += " / " + p3
                o = z
                hops = 3
        # gold: every end of the path from s
        ends = {s}
        for q in [x.strip() for x in path.split("/")]:
            ends = set(z for y in ends for z in by_sp.get((y, q), ()))
        add("t3-path", s, path, "?", sorted(ends))
        cnt += 1
    # tier 3: yes/no over the hierarchy
    hyp = [s for s in up if len(ancestors(s)) >= 3]
    cnt = 0
    while cnt < n:
        s = pick(hyp)
        anc = ancestors(s)
        far = [y for y, d in anc.items() if d >= 2]
        if not far:
            continue
        add("t3-yes", s, "is a kind of", pick(far), [], "yes")
        cnt += 1
    cnt = 0
    while cnt < n:
        s = pick(hyp)
        anc = ancestors(s)
        y = pick(hyp)
        if y == s or y in anc or not up.get(y):
            continue
        add("t3-no", s, "is a kind of", y, [], "no")
        cnt += 1

    if a.kinds:
        keep = set(a.kinds.split(","))
        Q = [q for q in Q if q["kind"] in keep]
    c = Client(a.sock)
    stats, lat, srv = {}, {}, {}
    dump = open(a.dump, "w", encoding="utf-8") if a.dump else None
    for q in Q:
        st, rows, dt = c.find(q["s"], q["p"], q["o"])
        tier = status_field(st, "tier") or "?"
        ms = float(status_field(st, "ms") or 0)
        lat.setdefault(tier, []).append(dt)
        srv.setdefault(tier, []).append(ms)
        k = stats.setdefault(q["kind"], {"n": 0, "right": 0, "wrong": 0, "notfound": 0, "lat": []})
        k["n"] += 1
        k["lat"].append(dt)
        if q["expect"] in ("yes", "no"):
            ok = (len(rows) > 0) == (q["expect"] == "yes")
            res = "right" if ok else ("wrong" if rows else "notfound")
        else:
            objs = set(r[2] for r in rows if len(r) > 2)
            res = "right" if set(q["gold"]) & objs else ("wrong" if rows else "notfound")
        k[res] += 1
        if dump:
            dump.write(json.dumps({"q": q, "status": st, "rows": rows[:5], "result": res}) + "\n")

    def pct(v, p):
        v = sorted(v)
        return v[min(len(v) - 1, int(p * len(v)))] if v else 0.0

    for kind in sorted(stats):
        k = stats[kind]
        print("wn_eval kind=%s n=%d right=%d wrong=%d notfound=%d acc=%.3f wrong_rate=%.3f p50_ms=%.2f p95_ms=%.2f" % (
            kind, k["n"], k["right"], k["wrong"], k["notfound"], k["right"] / k["n"], k["wrong"] / k["n"],
            pct(k["lat"], 0.5), pct(k["lat"], 0.95)))
    for t in sorted(lat):
        print("wn_eval_latency tier=%s n=%d p50_ms=%.3f p95_ms=%.3f server_p50_ms=%.3f server_p95_ms=%.3f" % (
            t, len(lat[t]), pct(lat[t], 0.5), pct(lat[t], 0.95), pct(srv[t], 0.5), pct(srv[t], 0.95)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
