# bench_embed.sh: USE-lite sentences/s, C (bench_embed: the embedder API,
# one process per model file so each peak RSS is that model's) next to the
# Node oracle (tools/use_oracle.mjs --bench: the npm package on TF.js/wasm)
# in the same run, on the same 256 sentences; prints the ratio (target >= 10x)
# and the memory of each C process: model bytes (mapped file), MODELS tables,
# SCRATCH taken at load, peak RSS, and whether peak RSS <= model + scratch +
# 16 MB. Each C process runs single-threaded first, then on
# EDGEKB_BENCH_THREADS threads (default 2; 1 = single-thread only): both are
# printed (threads=) with their own ratio to the oracle. The oracle runs
# TF.js's wasm backend as the package ships it.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
MD=${MODELS_DIR:-$root/build/models}
S=$root/build/use-oracle/sentences.txt
[ -s "$S" ] || { mkdir -p "$(dirname "$S")"; /usr/bin/python3 "$root/tools/ref/use_ref.py" sentences >"$S" 2>/dev/null; }
S256=${TMPDIR:-/tmp}/bench-s256.txt
head -256 "$S" >"$S256"
out=""
for q in f32 q8_0 q4_0; do
  o=$("$BENCH_BIN_DIR/bench_embed" "$S256" "$MD/use-lite-$q.gguf" "${EDGEKB_BENCH_THREADS:-2}")
  echo "$o"
  out="$out
$o"
  echo "$o" | sed -n 's/^bench embed mem model=\([^ ]*\) model_bytes=\([0-9]*\) tables_bytes=\([0-9]*\) scratch_bytes=\([0-9]*\) peak_rss_bytes=\([0-9]*\).*/\1 \2 \3 \4 \5/p' |
    while read -r m mb tb sb rb; do
      lim=$((mb + tb + sb + 16 * 1048576))
      ok=yes; [ "$rb" -le "$lim" ] || ok=no
      echo "bench embed rss model=$m peak_rss_mb=$(awk "BEGIN{printf \"%.1f\", $rb/1048576}") model_mb=$(awk "BEGIN{printf \"%.1f\", $mb/1048576}") scratch_mb=$(awk "BEGIN{printf \"%.1f\", $sb/1048576}") tables_mb=$(awk "BEGIN{printf \"%.2f\", $tb/1048576}") within_model_scratch_plus_16mb=$ok"
    done
done
if command -v node >/dev/null 2>&1 && "$root/tools/setup-npm.sh" >/dev/null 2>&1; then
  o=$(node "$root/tools/use_oracle.mjs" --bench 256 --runs 3 "$S256" 2>/dev/null | grep '^bench')
  echo "$o"
  for b in 1 32; do
    ob=$(echo "$o" | sed -n "s/.*batch=$b sent_per_s=\([0-9.]*\).*/\1/p")
    [ -n "$ob" ] || continue
    echo "$out" | sed -n "s/^bench embed impl=c model=\(use-lite-[a-z0-9_]*\) .*threads=\([0-9]*\) batch=$b .*sent_per_s=\([0-9.]*\).*/\1 \2 \3/p" | while read -r m th c; do
      echo "bench embed impl=c model=$m threads=$th batch=$b sent_per_s=$c node_sent_per_s=$ob ratio_vs_node=$(awk "BEGIN{printf \"%.1f\", $c/$ob}")"
    done
  done
else
  echo "bench embed oracle skipped=\"node/npm unavailable\""
fi
