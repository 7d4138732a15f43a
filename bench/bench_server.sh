# bench_server.sh: requests/s and p50/p99 latency of `edgekb serve` over a
# loopback UNIX socket for PING, SEARCH (hybrid, k 5) and FIND with 1, 8 and
# 64 closed-loop clients (bench/bench_server.c, one thread and connection
# each), plus the server's RSS under that load next to its arena size.
# RSS must stay under the arena plus 48 MB of stated overhead (binary, libc,
# thread stacks, page tables, SQLite's page cache is inside the arena);
# the script prints `bench server rss_check=ok|over` and exits 1 if over.
# The knowledge base: the eval-dev elements (137 documents, 482 facts) with
# the default embedder when build/models has it, else the hash fallback.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
E=${SHARED:-$root/../shared}/eval-dev
LG=${BENCH_BIN_DIR:-$root/build/x86_64-generic/bench}/bench_server
[ -r "$E/elements_docs.jsonl" ] || { echo "bench server skipped=\"no eval-dev set\""; exit 0; }
[ -x "$LG" ] || { echo "bench server skipped=\"no $LG (make bench)\""; exit 0; }
T=$(mktemp -d /tmp/bench-srv-XXXXXX)
MODEL=${MODELS_DIR:-$root/build/models}/use-lite-q8_0.gguf
[ -s "$MODEL" ] || MODEL=$T/none.gguf
"$EDGEKB" -q kb init --kb "$T/kb" --model "$MODEL" >/dev/null || exit 1
"$EDGEKB" -q ingest --kb "$T/kb" "$E/elements_docs.jsonl" "$E/elements_facts.tsv" >/dev/null 2>&1 || exit 1
"$EDGEKB" -q serve --kb "$T/kb" --sock "$T/s.sock" --lm none --workers 2 --queue 64 2>"$T/serve.log" &
SP=$!
trap 'kill -TERM $SP 2>/dev/null; wait $SP 2>/dev/null; rm -rf "$T"' EXIT
i=0; while [ ! -S "$T/s.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
emb=$(basename "$MODEL" .gguf)
SECS=${BENCH_SERVER_SECS:-3}
worst=0; arena=0
for cmd in "PING" "SEARCH hybrid 5 which gas is used in lamps" "FIND ? | symbol | Fe"; do
  name=${cmd%% *}
  for c in 1 8 64; do
    line=$("$LG" --sock "$T/s.sock" --cmd "$cmd" --name "$name" --clients $c --secs "$SECS") || exit 1
    echo "$line embedder=$emb"
    rss=$(echo "$line" | sed -n 's/.*rss_mb=\([0-9.]*\).*/\1/p'); arena=$(echo "$line" | sed -n 's/.*arena_mb=\([0-9]*\).*/\1/p')
    worst=$(awk "BEGIN{print ($rss > $worst) ? $rss : $worst}")
  done
done
ok=$(awk "BEGIN{print ($worst <= $arena + 48) ? \"ok\" : \"over\"}")
echo "bench server rss_max_mb=$worst arena_mb=$arena overhead_allowed_mb=48 rss_check=$ok"
[ "$ok" = ok ]
