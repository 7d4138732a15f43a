#!/bin/sh
# eval.sh: `make eval`: ASK (and FIND) accuracy and socket latency on the dev
# questions. Builds (cached under build/eval/, rebuilt when missing) a KB of
# the elements documents and facts and one of the WordNet fact base, with the
# default embedder (the hash fallback when its file is missing), serves each
# on a UNIX socket and runs:
#   tools/ask_eval.py elements   all 100 public dev questions (lookup, reverse, describe)
#   tools/ask_eval.py wordnet    questions written from the WordNet facts (what, which, yes, no, describe)
#   tools/wn_eval.py             FIND questions of every tier (varied subjects, paraphrases, paths)
# Each prints `ask_eval ...` / `wn_eval ...` lines: accuracy and p50/p95 per kind.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
E=${SHARED:-$root/../shared}/eval-dev
D=$root/build/eval
: "${EDGEKB:?EDGEKB must name the binary}"
[ -r "$E/elements_questions.jsonl" ] || { echo "eval skipped: no $E"; exit 0; }
mkdir -p "$D"
M=${MODELS_DIR:-$root/build/models}/use-lite-q8_0.gguf
[ -r "$M" ] || { M=$D/none.gguf; echo "eval: NOTE: no embedding model: the hash fallback (make models)"; }

build() { # build NAME FILE...
  kb=$D/kb-$1; shift
  [ -r "$kb/.done" ] && return 0
  rm -rf "$kb"
  "$EDGEKB" -q kb init --kb "$kb" --model "$M" >/dev/null || return 1
  "$EDGEKB" -q ingest --kb "$kb" "$@" >/dev/null || return 1
  touch "$kb/.done"
}
serve() { # serve NAME: starts the server, sets SP and S
  S=$D/$1.sock
  rm -f "$S"
  "$EDGEKB" -q serve --kb "$D/kb-$1" --sock "$S" >"$D/$1.log" 2>&1 &
  SP=$!
  for i in $(seq 1 200); do [ -S "$S" ] && return 0; sleep 0.1; done
  echo "eval: the $1 server did not start"; cat "$D/$1.log"; return 1
}
rc=0
build elements "$E/elements_docs.jsonl" "$E/elements_facts.tsv" || exit 1
serve elements || exit 1
/usr/bin/python3 "$root/tools/ask_eval.py" --sock "$S" elements --data "$E" || rc=1
kill -TERM $SP; wait $SP
if [ -r "$E/wordnet/facts.tsv" ]; then
  build wordnet "$E/wordnet/predicates.jsonl" "$E/wordnet/entities.jsonl" "$E/wordnet/facts.tsv" || exit 1
  serve wordnet || exit 1
  /usr/bin/python3 "$root/tools/ask_eval.py" --sock "$S" wordnet --data "$E/wordnet" --n ${EVAL_N:-100} || rc=1
  /usr/bin/python3 "$root/tools/wn_eval.py" --sock "$S" --data "$E/wordnet" --n ${EVAL_N:-100} || rc=1
  kill -TERM $SP; wait $SP
fi
exit $rc
