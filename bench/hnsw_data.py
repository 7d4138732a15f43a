#!/usr/bin/python3
"""hnsw_data.py: data sets for bench_hnsw (cached under build/bench-data/).

  hnsw_data.py gcide-texts N_BASE N_QUERY OUT_PREFIX
      Definitions from Debian's dict-gcide (/usr/share/dictd/gcide.dict.dz):
      each entry's definition paragraphs (headword lines, pronunciations and
      "[1913 Webster]"-style source tags removed), whitespace collapsed,
      deduplicated, 20..600 bytes. Paragraphs are taken evenly spread over
      the whole dictionary (every k-th), so the set is not all "A" words.
      Every 101st picked paragraph goes to the query file (held out, never in
      the base set). Writes OUT_PREFIX.base.txt and OUT_PREFIX.query.txt,
      one text per line.
  hnsw_data.py synth N DIM SEED OUT_BIN QUERY_BIN
      Gaussian mixture: 1000 random unit centres, each row = centre + noise
      (per-coordinate sigma 0.8/sqrt(DIM), so the noise norm is ~0.8), then
      L2-normalised; float32. 500 queries from the same mixture go to
      QUERY_BIN (a different stream of the same seed).
  hnsw_data.py json2bin IN_JSONL OUT_BIN DIM
      `edgekb embed` output (one JSON array per line) -> raw float32 rows.
"""
import gzip, json, re, sys

def gcide_paragraphs(path="/usr/share/dictd/gcide.dict.dz"):
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        data = f.read()
    head = re.compile(r'^\S.*\\.*\\')          # "Word \Pro*nun"ci*a`tion\, n. ..."
    tag = re.compile(r'\[(1913 Webster|WordNet 1\.5|PJC|Webster 1913 Suppl\.|[A-Z][A-Za-z0-9 .]*)\]')
    for para in data.split("\n\n"):
        lines = para.split("\n")
        if lines and head.match(lines[0]):
            lines = lines[1:]
        text = " ".join(l.strip() for l in lines)
        text = tag.sub("", text)
        text = re.sub(r'[{}]', '', text)
        text = re.sub(r'^\d+\.\s*', '', text.strip())
        text = re.sub(r'\s+', ' ', text).strip()
        if 20 <= len(text.encode()) <= 600 and not text.startswith("00-database") \
                and not re.search(r'GCIDE|GNU|ftp://|====|\* \* \*|Begin file', text):
            yield text

def main():
    if sys.argv[1] == "gcide-texts":
        nb, nq, out = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
        seen, paras = set(), []
        for t in gcide_paragraphs():
            if t not in seen:
                seen.add(t)
                paras.append(t)
        need = nb + nq
        if len(paras) < need:
            sys.exit("gcide has only %d usable paragraphs, %d asked" % (len(paras), need))
        step = len(paras) / need
        picked = [paras[int(i * step)] for i in range(need)]
        q = [t for i, t in enumerate(picked) if i % 101 == 100][:nq]
        qs = set(q)
        b = [t for t in picked if t not in qs][:nb]
        with open(out + ".base.txt", "w") as f:
            f.write("\n".join(b) + "\n")
        with open(out + ".query.txt", "w") as f:
            f.write("\n".join(q) + "\n")
        print("gcide paragraphs=%d base=%d query=%d" % (len(paras), len(b), len(q)))
    elif sys.argv[1] == "synth":
        import numpy as np
        n, dim, seed = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
        rng = np.random.default_rng(seed)
        cen = rng.standard_normal((1000, dim)).astype(np.float32)
        cen /= np.linalg.norm(cen, axis=1, keepdims=True)
        def rows(r, m):
            x = cen[r.integers(0, 1000, m)] + r.standard_normal((m, dim), dtype=np.float32) * np.float32(0.8 / dim ** 0.5)
            return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
        with open(sys.argv[5], "wb") as f:
            for o in range(0, n, 100000):
                rows(rng, min(100000, n - o)).tofile(f)
        rows(np.random.default_rng(seed + 1), 500).tofile(sys.argv[6])
        print("synth rows=%d dim=%d seed=%d" % (n, dim, seed))
    elif sys.argv[1] == "json2bin":
        import numpy as np
        dim = int(sys.argv[4])
        rows = []
        with open(sys.argv[2]) as f:
            for line in f:
                v = json.loads(line)
                if len(v) != dim:
                    sys.exit("row of %d floats, %d expected" % (len(v), dim))
                rows.append(v)
        np.asarray(rows, dtype=np.float32).tofile(sys.argv[3])
        print("rows=%d dim=%d" % (len(rows), dim))
    else:
        sys.exit(__doc__)

main()
