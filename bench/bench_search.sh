# bench_search.sh: search quality and ingest throughput on a public set
# where query wording differs from document wording: the eval-dev chemical
# elements (137 descriptions, 100 questions such as "Technetium has which
# atomic number?"; a question's gold document is elements:<subject>).
# Prints recall@10 for vector, text and hybrid side by side, ingest
# throughput, and on-disk size vs raw text.
# Then the same ingest figures on a real corpus: GCIDE definitions (Debian
# dict-gcide, extracted one per line by bench/hnsw_data.py gcide-texts into
# build/bench-data/gcide.base.txt, 10 MB / 100k definitions), the first
# GCIDE_MB MB (default 2; USE-lite embedding makes the whole file take
# several minutes on a shared core), as JSON Lines (one document per
# definition) and as one .txt file (the streamed path, chunked), each with
# embedding; then a re-ingest of both (must be a no-op: 0 new documents).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
E=${SHARED:-$root/../shared}/eval-dev
[ -r "$E/elements_docs.jsonl" ] || { echo "bench search skipped=\"no eval-dev set\""; exit 0; }
KB=${TMPDIR:-/tmp}/bench-kb.$$
rm -rf "$KB"
EDGEKB_MODEL_DIR=${MODELS_DIR:-$root/build/models} "$EDGEKB" -q kb init --kb "$KB" >/dev/null || exit 1
"$EDGEKB" -q ingest --kb "$KB" "$E/elements_docs.jsonl" 2>"$KB.ingest" >/dev/null || exit 1
emb=$("$EDGEKB" -q kb stats --kb "$KB" | sed -n 's/.*embedder \([^ ]*\).*/\1/p')
sed -n 's/^ingest: \([0-9]*\) documents.* \([0-9.]*\) MB in \([0-9.]*\) s: \([0-9.]*\) MB\/s, \([0-9]*\) chunks\/s.*/bench ingest docs=\1 mb=\2 secs=\3 mb_per_s=\4 chunks_per_s=\5/p' "$KB.ingest" | sed "s/\$/ embedder=$emb/"
raw=$(/usr/bin/python3 -c "import json,sys; print(sum(len(json.loads(l)['text'].encode()) for l in open(sys.argv[1])))" "$E/elements_docs.jsonl")
disk=$(du -cb "$KB"/kb.sqlite* | tail -1 | cut -f1)
echo "bench store raw_text_bytes=$raw disk_bytes=$disk ratio=$(awk "BEGIN{printf \"%.2f\", $disk/$raw}")"
for mode in vector text hybrid; do
  /usr/bin/python3 - "$E/elements_questions.jsonl" "$EDGEKB" "$KB" "$mode" "$emb" <<'PYEOF'
import json, subprocess, sys
qf, exe, kb, mode, emb = sys.argv[1:6]
hit = n = 0
for line in open(qf):
    q = json.loads(line)
    gold = "elements:" + q["meta"]["element"]
    out = subprocess.run([exe, "-q", "search", "--kb", kb, "--mode", mode, "-k", "10", "--json", q["question"]],
                         capture_output=True, text=True).stdout
    ids = [json.loads(l)["id"] for l in out.splitlines() if l.strip()]
    n += 1
    hit += gold in ids
print("bench search mode=%s recall10=%.3f queries=%d embedder=%s" % (mode, hit / n, n, emb))
PYEOF
done
rm -rf "$KB" "$KB.ingest"

D=${GCIDE_TXT:-$root/build/bench-data/gcide.base.txt}
if [ ! -r "$D" ]; then
  echo "bench ingest corpus=gcide skipped=\"no $D (python3 bench/hnsw_data.py gcide-texts ...)\""
  exit 0
fi
W=${TMPDIR:-/tmp}/bench-gcide.$$
mkdir -p "$W"
/usr/bin/python3 - "$D" "${GCIDE_MB:-2}" "$W" <<'PYEOF'
import json, sys
src, mb, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
cap, n, lines = int(mb * 1048576), 0, []
for l in open(src, encoding="utf-8"):
    l = l.rstrip("\n")
    if not l:
        continue
    if n + len(l.encode()) > cap:
        break
    lines.append(l)
    n += len(l.encode())
with open(out + "/gcide.jsonl", "w") as f:
    for i, l in enumerate(lines):
        f.write(json.dumps({"id": "gcide:%d" % i, "title": l.split(" ")[0].strip(",.;:"), "text": l}) + "\n")
with open(out + "/gcide.txt", "w") as f:
    f.write("\n\n".join(lines) + "\n")
with open(out + "/raw", "w") as f:
    f.write("%d %d\n" % (n, len(lines)))
PYEOF
read raw ndefs <"$W/raw"
for shape in jsonl txt; do
  K=$W/kb-$shape
  EDGEKB_MODEL_DIR=${MODELS_DIR:-$root/build/models} "$EDGEKB" -q kb init --kb "$K" >/dev/null || exit 1
  "$EDGEKB" -q ingest --kb "$K" "$W/gcide.$shape" 2>"$W/ingest.$shape" >/dev/null || exit 1
  sed -n 's/^ingest: \([0-9]*\) documents.* \([0-9]*\) chunks, .* \([0-9.]*\) MB in \([0-9.]*\) s: \([0-9.]*\) MB\/s, \([0-9]*\) chunks\/s.*/bench ingest corpus=gcide shape='$shape' definitions='$ndefs' docs=\1 chunks=\2 mb=\3 secs=\4 mb_per_s=\5 chunks_per_s=\6/p' "$W/ingest.$shape" | sed "s/\$/ embedder=$emb/"
  disk=$(du -cb "$K"/kb.sqlite* "$K"/*.hnsw | tail -1 | cut -f1)
  db=$(du -cb "$K"/kb.sqlite* | tail -1 | cut -f1)
  echo "bench store corpus=gcide shape=$shape raw_text_bytes=$raw disk_bytes=$disk sqlite_bytes=$db index_bytes=$((disk - db)) ratio=$(awk "BEGIN{printf \"%.2f\", $disk/$raw}")"
  t0=$(date +%s.%N)
  "$EDGEKB" -q ingest --kb "$K" "$W/gcide.$shape" 2>"$W/again.$shape" >/dev/null || exit 1
  t1=$(date +%s.%N)
  new=$(sed -n 's/^ingest: \([0-9]*\) documents (\([0-9]*\) unchanged).*/\1 \2/p' "$W/again.$shape")
  echo "bench ingest corpus=gcide shape=$shape reingest_new_docs=${new% *} unchanged=${new#* } secs=$(awk "BEGIN{printf \"%.2f\", $t1-$t0}")"
done
rm -rf "$W"
