# bench_find.sh: find_facts at WordNet scale and at 1M facts, side by side.
#
# Builds (cached under build/bench-data/, rebuilt when the binary's schema
# changes them) two knowledge bases with the default embedder (or the hash
# fallback when its file is missing):
#   wordnet  $SHARED/eval-dev/wordnet: 8 predicates, 82,115 entities, 128,801 facts
#   gen1m    tools/gen_graph.py: the same schema and mix, 300,000 entities, 1,000,000 facts
# and prints, for each:
#   bench find_ingest kb= facts= secs= facts_per_s=         (when it was built in this run)
#   the bench_find lines (bench/bench_find.c): memory per entity and per fact,
#   tier 1 next to a brute-force OSA scan (same answers, ratio), tier 3 next
#   to SQLite's recursive CTE (same answers, ratio), per-tier p50/p95 in process
#   wn_eval lines (tools/wn_eval.py, WordNet only): accuracy per kind and the
#   socket latency per tier, one client, the server on the default board
# BENCH_FIND_1M=0 skips the 1M base (its first build takes minutes).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
W=${SHARED:-$root/../shared}/eval-dev/wordnet
D=$root/build/bench-data
BF=${BENCH_BIN_DIR:-$root/build/x86_64-generic/bench}/bench_find
[ -r "$W/facts.tsv" ] || { echo "bench find skipped=\"no $W\""; exit 0; }
mkdir -p "$D"
M=${MODELS_DIR:-$root/build/models}/use-lite-q8_0.gguf
[ -r "$M" ] || M=$D/none.gguf

# build KB NAME DIR: ingest DIR's predicates, entities and facts into $D/kb-NAME
build() {
  kb=$D/kb-$1
  if [ -r "$kb/kb.sqlite" ] && "$EDGEKB" -q facts --kb "$kb" "?" "?" "?" >/dev/null 2>&1 &&
     [ "$(cat "$kb/.src" 2>/dev/null)" = "$2" ]; then
    return 0
  fi
  rm -rf "$kb"
  "$EDGEKB" -q kb init --kb "$kb" --model "$M" >/dev/null || return 1
  start=$(date +%s.%N)
  "$EDGEKB" ingest --kb "$kb" "$2/predicates.jsonl" "$2/entities.jsonl" "$2/facts.tsv" >"$kb.ingest" 2>&1 || {
    echo "bench find_ingest kb=$1 failed=\"$(tail -1 "$kb.ingest")\""; return 1; }
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  n=$(wc -l <"$2/facts.tsv")
  echo "bench find_ingest kb=$1 facts=$n secs=$secs facts_per_s=$(echo "$n / $secs" | bc) embedder=$(basename "$M")"
  echo "$2" >"$kb/.src"
}

build wordnet "$W" || exit 1
"$BF" "$D/kb-wordnet" wordnet 500
S=$D/wn.sock
rm -f "$S"
"$EDGEKB" -q serve --kb "$D/kb-wordnet" --sock "$S" --cache off >"$D/wn-serve.log" 2>&1 &
SP=$!
for i in $(seq 1 100); do [ -S "$S" ] && break; sleep 0.1; done
/usr/bin/python3 "$root/tools/wn_eval.py" --sock "$S" --data "$W" --n 300 --seed 1
kill -TERM $SP; wait $SP

if [ "${BENCH_FIND_1M:-1}" != 0 ]; then
  G=$D/gen1m
  [ -r "$G/facts.tsv" ] || /usr/bin/python3 "$root/tools/gen_graph.py" "$G" --entities 300000 --facts 1000000
  build gen1m "$G" || exit 1
  "$BF" "$D/kb-gen1m" gen1m 500
fi
