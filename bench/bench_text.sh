# bench_text.sh: text, vector and hybrid search and ingest on dictionaries
# shipped by Debian, with questions nobody tuned to (tools/search_set.py:
# WordNet glosses asked of the dictionary; gold = the entry of the same
# headword).
#
# For each corpus (FOLDOC: its first 8,372 entries, ~9k chunks; GCIDE:
# BENCH_GCIDE_DOCS entries, default 120000: 95,633 documents, 104,619 chunks, only when
# BENCH_GCIDE=1 as its ingest takes ~13 minutes):
#   bench ingest corpus= threads=1|2 docs= chunks= secs= mb_per_s= chunks_per_s=
#       (FOLDOC: its first 1,500 entries at 1 and 2 threads, side by side)
#   bench ingest_vs_embedder corpus=foldoc-1500 ingest_chunks_per_s= embedder_texts_per_s= ratio=
#       (bench_embed, 2 threads, on chunk-sized pieces of those documents: the embedder's own speed)
#   bench bm25 impl=edgekb|fts5 ...        (bench_bm25: in process, our MaxScore
#                                           next to FTS5's plain rank query)
#   bench search corpus= mode=text|vector|hybrid queries= p50_ms= p95_ms= p99_ms= recall10=
#       (over the server's UNIX socket, one client, `SEARCH <mode> 10 <q>`)
# Needs dict-foldoc / dict-gcide (apt-get install -y dict-foldoc dict-gcide)
# and ../shared/eval-dev/wordnet; says "skipped" without them.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
WN=${SHARED:-$root/../shared}/eval-dev/wordnet
PY=/usr/bin/python3
BB=${BENCH_BIN_DIR:-$root/build/x86_64-generic/bench}/bench_bm25
export EDGEKB_MODEL_DIR=${MODELS_DIR:-$root/build/models}
[ -r "$WN/entities.jsonl" ] || { echo "bench text skipped=\"no $WN\""; exit 0; }
W=${TMPDIR:-/tmp}/bench-text.$$
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT

ingest_line() { # corpus threads file
  sed -n 's/^ingest: \([0-9]*\) documents.* \([0-9]*\) chunks, .* \([0-9.]*\) MB in \([0-9.]*\) s: \([0-9.]*\) MB\/s, \([0-9]*\) chunks\/s.*/bench ingest corpus='"$1"' threads='"$2"' docs=\1 chunks=\2 mb=\3 secs=\4 mb_per_s=\5 chunks_per_s=\6/p' "$3"
}

search_socket() { # corpus kb queries
  sock=$W/s.sock
  "$EDGEKB" -q serve --kb "$2" --sock "$sock" --serial none --cache off >"$W/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do [ -S "$sock" ] && break; sleep 0.1; done
  $PY - "$sock" "$3" "$1" <<'PYEOF'
import json, socket, sys, time
sock, qf, corpus = sys.argv[1:4]
qs = [json.loads(l) for l in open(qf)]
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
f = s.makefile("rwb")
def ask(line):
    f.write(line.encode() + b"\n"); f.flush()
    head = f.readline().decode()
    if not head.startswith("OK"):
        return head, []
    n = int(head.split()[1])
    return head, [f.readline().decode() for _ in range(n)]
for mode in ("text", "vector", "hybrid"):
    for q in qs[:10]:
        ask("SEARCH %s 10 %s" % (mode, q["q"]))  # warm
    t, hit = [], 0
    for q in qs:
        t0 = time.perf_counter()
        head, rows = ask("SEARCH %s 10 %s" % (mode, q["q"]))
        t.append((time.perf_counter() - t0) * 1e3)
        ids = [r.split("\t")[1] for r in rows if "\t" in r]
        hit += any(g in ids for g in q["gold"])
    t.sort()
    pct = lambda p: t[min(len(t) - 1, int(p * len(t)))]
    print("bench search corpus=%s mode=%s queries=%d p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f recall10=%.3f"
          % (corpus, mode, len(qs), pct(0.5), pct(0.95), pct(0.99), hit / len(qs)))
PYEOF
  kill "$pid"; wait "$pid" 2>/dev/null
}

corpus() { # name dict ndocs
  name=$1
  $PY "$root/tools/dict2jsonl.py" "$2" "$W/$name.all.jsonl" >/dev/null 2>"$W/err" || {
    echo "bench text corpus=$name skipped=\"$(cat "$W/err")\""; return 0; }
  head -n "$3" "$W/$name.all.jsonl" >"$W/$name.jsonl"
  $PY "$root/tools/search_set.py" "$W/$name.jsonl" "$WN" "$W/q-$name.jsonl" --n 200 >/dev/null || return 1
  if [ "$name" = foldoc ]; then # ingest at 1 and 2 threads on the first 1,500 entries
    head -n 1500 "$W/$name.jsonl" >"$W/small.jsonl"
    for t in 1 2; do
      "$EDGEKB" -q kb init --kb "$W/kb-t$t" >/dev/null || return 1
      "$EDGEKB" -q ingest --kb "$W/kb-t$t" --threads "$t" "$W/small.jsonl" >/dev/null 2>"$W/ing-t$t" || return 1
      ingest_line "$name-1500" "$t" "$W/ing-t$t"
      rm -rf "$W/kb-t$t"
    done
    # the embedder alone on the same text (each document's title and text in pieces of at most
    # CHUNK_MAX = 1000 bytes, one per line, as ingest's chunks), 2 threads, batches of 32: the
    # limit ingest works against (bench_embed times the first 256 lines)
    $PY -c 'import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    t = " ".join((d.get("title", "") + "\n" + d.get("text", "")).split())
    for i in range(0, len(t), 1000):
        print(t[i:i + 1000])' "$W/small.jsonl" >"$W/small.txt"
    eps=$("$(dirname "$BB")/bench_embed" "$W/small.txt" "$EDGEKB_MODEL_DIR/use-lite-q8_0.gguf" 2 2>/dev/null |
      sed -n 's/.*threads=2 batch=32 .*sent_per_s=\([0-9.]*\).*/\1/p')
    ing=$(sed -n 's/^ingest: .* \([0-9]*\) chunks, .* in \([0-9.]*\) s:.*/\1 \2/p' "$W/ing-t2")
    if [ -n "$eps" ] && [ -n "$ing" ]; then
      echo "$ing $eps" | awk '{ c = $2 > 0 ? $1 / $2 : 0; r = $3 > 0 ? c / $3 : 0
        printf "bench ingest_vs_embedder corpus=%s-1500 threads=2 ingest_chunks_per_s=%.1f embedder_texts_per_s=%.1f ratio=%.2f\n", "'"$name"'", c, $3, r }'
    else
      echo "bench ingest_vs_embedder corpus=$name-1500 skipped=\"no bench_embed or model file\""
    fi
  fi
  "$EDGEKB" -q kb init --kb "$W/kb-$name" >/dev/null || return 1
  "$EDGEKB" -q ingest --kb "$W/kb-$name" --threads 2 "$W/$name.jsonl" >/dev/null 2>"$W/ing-$name" || return 1
  ingest_line "$name" 2 "$W/ing-$name"
  "$BB" "$W/kb-$name" "$W/q-$name.jsonl" "$name" 10 2>/dev/null | grep '^bench'
  search_socket "$name" "$W/kb-$name" "$W/q-$name.jsonl"
  rm -rf "$W/kb-$name"
}

corpus foldoc foldoc 8372 || exit 1
if [ "${BENCH_GCIDE:-0}" = 1 ]; then
  corpus gcide gcide "${BENCH_GCIDE_DOCS:-120000}" || exit 1
else
  echo "bench text corpus=gcide skipped=\"BENCH_GCIDE=1 to run it (~13 min of ingest)\""
fi
