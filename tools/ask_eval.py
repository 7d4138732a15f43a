#!/usr/bin/env python3
"""ask_eval.py: ASK accuracy and latency over a running server's socket.

  ask_eval.py --sock PATH elements [--data DIR]
      the public dev questions (DIR/elements_questions.jsonl, all 100:
      lookup, reverse, describe) on a KB holding the elements documents and
      facts. lookup/reverse: right when the answer line names a gold value;
      describe: right when the first cited document is the element's.
  ask_eval.py --sock PATH wordnet [--data DIR/wordnet] [--n N] [--seed S]
      questions written from the WordNet facts with templates of several
      wordings per kind (a fixed seed; the engine does not read them):
      what (the object asked), which (the subject asked: "Name a kind of
      Y"), yes and no (transitive "is X a kind of Y", parts), describe.
      Right when the answer names a correct entity (any of the facts'
      answers), yes/no when it starts with the right word, describe when it
      starts with the entity's name.

Prints one machine-readable line per kind:
  ask_eval set=<s> kind=<k> n= right= wrong= acc= p50_ms= p95_ms=
(client-side socket round trip) and, with --dump FILE, every question, its
answer and result as JSON Lines.
"""
import argparse
import json
import random
import re
import socket
import sys
import time


def unescape(s):
    return re.sub(r"\\x([0-9A-Fa-f]{2})|\\(.)",
                  lambda m: chr(int(m.group(1), 16)) if m.group(1) else {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(2), m.group(2)), s)


class Client:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.f = self.s.makefile("rb")

    def ask(self, q):
        t0 = time.perf_counter()
        self.s.sendall(("ASK %s\n" % q.replace("\n", " ")).encode())
        st = self.f.readline().decode().rstrip("\n")
        lines = []
        m = re.match(r"OK (\d+)", st)
        if m:
            for _ in range(int(m.group(1))):
                lines.append(unescape(self.f.readline().decode().rstrip("\n")))
        return st, lines, (time.perf_counter() - t0) * 1000


def names_in(answer, gold):
    a = answer.lower()
    for g in gold:
        g = g.lower()
        i = a.find(g)
        while i >= 0:
            before = a[i - 1] if i > 0 else " "
            after = a[i + len(g)] if i + len(g) < len(a) else " "
            if not (before.isalnum() or after.isalnum()):
                return True
            i = a.find(g, i + 1)
    return False


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] if v else 0.0


def report(setname, stats):
    for k in sorted(stats):
        s = stats[k]
        print("ask_eval set=%s kind=%s n=%d right=%d wrong=%d acc=%.3f p50_ms=%.2f p95_ms=%.2f" % (
            setname, k, s["n"], s["right"], s["n"] - s["right"], s["right"] / s["n"], pct(s["lat"], 0.5),
            pct(s["lat"], 0.95)))


def run(c, qs, setname, dump):
    stats = {}
    for q in qs:
        st, lines, dt = c.ask(q["q"])
        ans = lines[0] if lines else ""
        ok = q["check"](st, lines, ans)
        s = stats.setdefault(q["kind"], {"n": 0, "right": 0, "lat": []})
        s["n"] += 1
        s["right"] += bool(ok)
        s["lat"].append(dt)
        if dump:
            dump.write(json.dumps({"set": setname, "kind": q["kind"], "q": q["q"], "status": st, "lines": lines[:4],
                                   "right": bool(ok), "gold": q.get("gold")}) + "\n")
    report(setname, stats)


def elements(a, c, dump):
    qs = []
    for l in open(a.data + "/elements_questions.jsonl", encoding="utf-8"):
        e = json.loads(l)
        kind = e["meta"]["kind"]
        if kind == "describe":
            want = "elements:" + e["meta"]["element"]
            chk = (lambda want: lambda st, lines, ans: any(x.startswith("doc\t") for x in lines) and
                   [x for x in lines if x.startswith("doc\t")][0].split("\t")[1] == want)(want)
        else:
            gold = e["gold"]
            chk = (lambda gold: lambda st, lines, ans: names_in(ans, gold))(gold)
        qs.append({"kind": kind, "q": e["question"], "check": chk, "gold": e["gold"]})
    run(c, qs, "elements", dump)


WHAT = {
    "is a kind of": ["What is {s} a kind of?", "{s} is a kind of what?", "What kind of thing is {s}?",
                     "What type of thing is {s}?", "{s} is a type of what?"],
    "is an instance of": ["What is {s} an instance of?", "{s} is an example of what?", "What is {s}?"],
    "is part of": ["What is {s} part of?", "{s} is part of what?", "Where is {s} found?", "{s} forms part of what?"],
    "has part": ["What are the parts of {s}?", "Name a part of {s}.", "What does {s} consist of?",
                 "What does {s} contain?", "List the parts of {s}."],
    "is a member of": ["What group is {s} a member of?", "{s} belongs to what?", "What does {s} belong to?",
                       "{s} is a member of which group?"],
    "has member": ["Name a member of {s}.", "What are the members of {s}?", "Who belongs to {s}?"],
    "made of": ["What is {s} made of?", "What is {s} made from?", "{s} is made of what?"],
    "is a substance in": ["What is made of {s}?", "{s} is used to make what?"],
}
WHICH = {
    "is a kind of": ["Name a kind of {o}.", "What is a kind of {o}?", "What are some kinds of {o}?",
                     "Give me an example of {o}."],
    "is part of": ["What is part of {o}?", "Name a part of {o}."],
    "is a member of": ["Name a member of {o}.", "What belongs to {o}?"],
}
YES = ["Is {s} a kind of {o}?", "Is {s} a type of {o}?", "Is {s} a sort of {o}?", "Is every {s} a kind of {o}?"]
PART_YES = ["Is {s} part of {o}?", "Is {s} a part of {o}?", "Does {o} have {s}?"]
DESCRIBE = ["What is {s}?", "Tell me about {s}.", "Describe {s}.", "What does {s} mean?", "Who is {s}?"]


# A second set of wordings, written after the engine and not used while building it
# (--wordings alt): how the reading holds up on phrasings it was not shaped by.
ALT_WHAT = {
    "is a kind of": ["Tell me what {s} is a kind of.", "What sort of thing is {s}?", "What is the category of {s}?",
                     "Which category does {s} belong to?", "{s}: what kind of thing is it?"],
    "is part of": ["What larger thing is {s} part of?", "{s} is a component of what?", "What whole contains {s}?"],
    "made of": ["What material is {s} made of?", "{s} is made from what material?"],
    "is a member of": ["What group does {s} belong to?", "{s} is one of the members of what?"],
    "has part": ["What are the components of {s}?", "What does {s} include?"],
    "has member": ["Who are the members of {s}?", "List the members of {s}."],
}
ALT_WHICH = {"is a kind of": ["Give an example of a kind of {o}.", "List some types of {o}.",
                              "Which things are kinds of {o}?"]}
ALT_YES = ["Is it true that {s} is a kind of {o}?", "Can {s} be considered a kind of {o}?",
           "Is {s} a variety of {o}?", "Would you say {s} is a type of {o}?", "{s} is a kind of {o}, right?"]
ALT_DESCRIBE = ["Define {s}.", "Explain {s}.", "What do you know about {s}?", "Give me information about {s}."]


def article(n):
    if n[:1].isupper():
        return n
    return ("an " if n[:1] in "aeiou" else "a ") + n


def wordnet(a, c, dump):
    global WHAT, WHICH, YES, DESCRIBE
    if a.wordings == "alt":
        WHAT, WHICH, YES, DESCRIBE = ALT_WHAT, ALT_WHICH, ALT_YES, ALT_DESCRIBE
    rng = random.Random(a.seed)
    ents = {}
    for l in open(a.data + "/entities.jsonl", encoding="utf-8"):
        e = json.loads(l)
        ents[e["name"]] = e
    facts = [l.rstrip("\n").split("\t") for l in open(a.data + "/facts.tsv", encoding="utf-8")]
    inv = {"has part": "is part of", "is part of": "has part", "has member": "is a member of",
           "is a member of": "has member", "made of": "is a substance in", "is a substance in": "made of"}
    by, up = {}, {}
    for s, p, o in facts:
        by.setdefault((s, p), set()).add(o)
        if p in inv:
            by.setdefault((o, inv[p]), set()).add(s)
        if p == "is a kind of":
            up.setdefault(s, set()).add(o)
    rev = {}
    for (s, p), os_ in by.items():
        for o in os_:
            rev.setdefault((o, p), set()).add(s)

    def anc(x):
        seen, fr = {}, [x]
        d = 0
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

    plain = lambda n: "(" not in n
    keys = [k for k in by if plain(k[0])]
    qs = []
    n = a.n
    while len([q for q in qs if q["kind"] == "what"]) < n:
        s, p = rng.choice(keys)
        if p not in WHAT:
            continue
        gold = sorted(x.split(" (")[0] for x in by[(s, p)])
        t = rng.choice(WHAT[p])
        if t == "What is {s}?" and p != "is an instance of":
            continue
        if t.startswith("{s}"):
            t = t[:3] + t[3:]
            q = t.format(s=article(s))
            q = q[:1].upper() + q[1:]
            qs.append({"kind": "what", "q": q, "gold": gold,
                       "check": (lambda g: lambda st, l, ans: names_in(ans, g))(gold)})
            continue
        qs.append({"kind": "what", "q": t.format(s=article(s)), "gold": gold,
                   "check": (lambda g: lambda st, l, ans: names_in(ans, g))(gold)})
    rkeys = [k for k in rev if plain(k[0]) and k[1] in WHICH]
    while len([q for q in qs if q["kind"] == "which"]) < n:
        o, p = rng.choice(rkeys)
        gold = sorted(x.split(" (")[0] for x in rev[(o, p)])
        qs.append({"kind": "which", "q": rng.choice(WHICH[p]).format(o=article(o)), "gold": gold,
                   "check": (lambda g: lambda st, l, ans: names_in(ans, g))(gold)})
    hyp = [s for s in up if plain(s) and len(anc(s)) >= 3]
    while len([q for q in qs if q["kind"] == "yes"]) < n:
        s = rng.choice(hyp)
        far = [y for y, d in anc(s).items() if d >= 2 and plain(y)]
        if not far:
            continue
        qs.append({"kind": "yes", "q": rng.choice(YES).format(s=article(s), o=article(rng.choice(far))),
                   "check": lambda st, l, ans: ans.startswith("Yes")})
    parts = [(s, o) for (s, p), os_ in by.items() if p == "is part of" and plain(s) for o in os_ if plain(o)]
    while a.wordings == "dev" and len([q for q in qs if q["kind"] == "yes-part"]) < n // 2:
        s, o = rng.choice(parts)
        qs.append({"kind": "yes-part", "q": rng.choice(PART_YES).format(s=article(s), o=article(o)),
                   "check": lambda st, l, ans: ans.startswith("Yes")})
    while len([q for q in qs if q["kind"] == "no"]) < n:
        s, y = rng.choice(hyp), rng.choice(hyp)
        if y == s or y in anc(s) or s in anc(y):
            continue
        qs.append({"kind": "no", "q": rng.choice(YES).format(s=article(s), o=article(y)),
                   "check": lambda st, l, ans: ans.startswith("No")})
    named = [x for x in ents if plain(x) and ents[x]["description"] and (x, "is a kind of") in by or
             (x, "is an instance of") in by]
    while len([q for q in qs if q["kind"] == "describe"]) < n:
        s = rng.choice(named)
        if not plain(s):
            continue
        t = rng.choice(DESCRIBE)
        if t == "Who is {s}?" and not s[:1].isupper():
            continue
        qs.append({"kind": "describe", "q": t.format(s=article(s) if t != "Who is {s}?" else s), "gold": [s],
                   "check": (lambda nm: lambda st, l, ans: ans.lower().startswith(nm.lower()))(s)})
    rng.shuffle(qs)
    run(c, qs, "wordnet", dump)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sock", required=True)
    ap.add_argument("set", choices=["elements", "wordnet"])
    ap.add_argument("--data")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dump")
    ap.add_argument("--wordings", choices=["dev", "alt"], default="dev")
    a = ap.parse_args()
    if not a.data:
        a.data = "../shared/eval-dev" + ("/wordnet" if a.set == "wordnet" else "")
    c = Client(a.sock)
    dump = open(a.dump, "w", encoding="utf-8") if a.dump else None
    (elements if a.set == "elements" else wordnet)(a, c, dump)
    return 0


if __name__ == "__main__":
    sys.exit(main())
