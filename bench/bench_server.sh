# bench_server.sh: requests/s and p50/p99 latency of `edgekb serve` over a
# loopback UNIX socket for PING, SEARCH (hybrid, k 5) and FIND with 1, 8 and
# 64 closed-loop clients (bench/bench_server.c, one thread and connection
# each), plus the server's RSS under that load, split by /proc/PID/smaps into:
# the arena mapping's resident pages (what was actually touched of the
# arena, which is mapped lazily: RSS against the arena *size* would prove
# nothing), the mmapped model files (GGUF weights are read in place, outside
# the arena), and everything else (binary, libc, thread stacks, SQLite's
# -shm). That remainder must stay under a stated 8 MB; the script prints
# `bench server ... rss_check=ok|over` and exits 1 if over.
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
"$EDGEKB" -q serve --kb "$T/kb" --sock "$T/s.sock" --lm none --workers 2 --queue 64 --cache off 2>"$T/serve.log" &
SP=$!
trap 'kill -TERM $SP 2>/dev/null; wait $SP 2>/dev/null; rm -rf "$T"' EXIT
i=0; while [ ! -S "$T/s.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
emb=$(basename "$MODEL" .gguf)
SECS=${BENCH_SERVER_SECS:-3}
# rss of the server by mapping: total, arena (the anonymous mapping at least the arena's size: the
# kernel may merge it with a neighbouring anonymous mapping), model files
smaps() {
  awk -v asz="$1" '
    /^[0-9a-f]+-[0-9a-f]+ /{ name = (NF >= 6) ? $6 : "" }
    /^Size:/{ sz = $2 }
    /^Rss:/{ tot += $2; if (name == "" && sz >= asz - 64) ar += $2; else if (name ~ /\.gguf$/) fi += $2 }
    END { printf "%.1f %.1f %.1f\n", tot / 1024, ar / 1024, fi / 1024 }' "/proc/$SP/smaps"
}
worst=0; arena=0; worst_other=0
for cmd in "PING" "SEARCH hybrid 5 which gas is used in lamps" "FIND ? | symbol | Fe"; do
  name=${cmd%% *}
  for c in 1 8 64; do
    line=$("$LG" --sock "$T/s.sock" --cmd "$cmd" --name "$name" --clients $c --secs "$SECS") || exit 1
    echo "$line embedder=$emb"
    arena=$(echo "$line" | sed -n 's/.*arena_mb=\([0-9]*\).*/\1/p')
    set -- $(smaps $((arena * 1024)))
    other=$(awk "BEGIN{printf \"%.1f\", $1 - $2 - $3}")
    echo "bench server_rss cmd=$name clients=$c rss_mb=$1 arena_touched_mb=$2 model_files_mb=$3 other_mb=$other arena_mb=$arena"
    worst=$(awk "BEGIN{print ($1 > $worst) ? $1 : $worst}")
    worst_other=$(awk "BEGIN{print ($other > $worst_other) ? $other : $worst_other}")
  done
done
used=$("$EDGEKB" -q cli --sock "$T/s.sock" METRICS | awk '/^edgekb_arena_used_bytes/{s += $2} END{printf "%.1f", s / 1048576}')
ok=$(awk "BEGIN{print ($worst_other <= 8) ? \"ok\" : \"over\"}")
echo "bench server rss_max_mb=$worst arena_mb=$arena arena_used_mb=$used other_max_mb=$worst_other overhead_allowed_mb=8 rss_check=$ok"
[ "$ok" = ok ]
