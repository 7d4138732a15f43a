# bench_embed.sh: USE-lite sentences/s, C (bench_embed) next to the Node
# oracle (tools/use_oracle.mjs --bench: the npm package on TF.js/wasm) in
# the same run, on the same 256 sentences; prints the ratio (target >= 10x).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
S=$root/build/use-oracle/sentences.txt
[ -s "$S" ] || { mkdir -p "$(dirname "$S")"; /usr/bin/python3 "$root/tools/ref/use_ref.py" sentences >"$S" 2>/dev/null; }
head -256 "$S" >"${TMPDIR:-/tmp}/bench-s256.txt"
out=$("$BENCH_BIN_DIR/bench_embed" "${TMPDIR:-/tmp}/bench-s256.txt")
echo "$out"
if command -v node >/dev/null 2>&1 && "$root/tools/setup-npm.sh" >/dev/null 2>&1; then
  o=$(node "$root/tools/use_oracle.mjs" --bench 256 --runs 3 "${TMPDIR:-/tmp}/bench-s256.txt" 2>/dev/null | grep '^bench')
  echo "$o"
  for b in 1 32; do
    ob=$(echo "$o" | sed -n "s/.*batch=$b sent_per_s=\([0-9.]*\).*/\1/p")
    echo "$out" | sed -n "s/.*model=\(use-lite-[a-z0-9_]*\).* batch=$b .*sent_per_s=\([0-9.]*\).*/\1 \2/p" | while read -r m c; do
      echo "bench embed ratio model=$m batch=$b c_sent_per_s=$c oracle_sent_per_s=$ob ratio=$(awk "BEGIN{printf \"%.1f\", $c/$ob}")"
    done
  done
else
  echo "bench embed oracle skipped=\"node/npm unavailable\""
fi
