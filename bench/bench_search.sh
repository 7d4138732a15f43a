# bench_search.sh: search quality and ingest throughput on a public set
# where query wording differs from document wording: the eval-dev chemical
# elements (137 descriptions, 100 questions such as "Technetium has which
# atomic number?"; a question's gold document is elements:<subject>).
# Prints recall@10 for vector, text and hybrid side by side, ingest
# throughput, and on-disk size vs raw text.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
E=${SHARED:-$root/../shared}/eval-dev
[ -r "$E/elements_docs.jsonl" ] || { echo "bench search skipped=\"no eval-dev set\""; exit 0; }
KB=${TMPDIR:-/tmp}/bench-kb.$$
rm -rf "$KB"
EDGEKB_MODELS_DIR=${MODELS_DIR:-$root/build/models} "$EDGEKB" -q kb init --kb "$KB" >/dev/null || exit 1
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
