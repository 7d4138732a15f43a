# run_fallback.sh: `make run` (tools/run.sh run) on a machine without any
# model file: npm unavailable (a shim that fails, as offline), an empty
# $EDGEKB_MODEL_DIR, an empty MODELS_DIR, a fresh run directory. The script
# must say how to connect and that it runs on the reduced fallback; the
# server must start, say the same in its log and INFO, answer PING, SEARCH
# and FIND, refuse GEN with ERR UNAVAIL, and stop cleanly on SIGTERM.
. "$(dirname "$0")/_lib.sh"
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
[ -r "$SHARED/eval-dev/elements_docs.jsonl" ] || { echo "skip: no $SHARED/eval-dev"; exit 77; }
mkdir -p "$TMPDIR/shim" "$TMPDIR/empty" "$TMPDIR/models"
printf '#!/bin/sh\necho "npm: offline (test shim)" >&2\nexit 1\n' >"$TMPDIR/shim/npm"
chmod +x "$TMPDIR/shim/npm"
R=$TMPDIR/run
S=$R/edgekb.sock
PATH="$TMPDIR/shim:$PATH" NPM_DIR=$TMPDIR/npm MODELS_DIR=$TMPDIR/models EDGEKB_MODEL_DIR=$TMPDIR/empty \
  EDGEKB_SHARED=$SHARED EDGEKB_RUN_DIR=$R EDGEKB=$EDGEKB sh "$root/tools/run.sh" run >"$TMPDIR/run.out" 2>&1 &
RP=$!
trap 'kill -9 $RP 2>/dev/null' EXIT
i=0; while [ ! -S "$S" ] && [ $i -lt 300 ] && kill -0 $RP 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
[ -S "$S" ] || { echo "FAIL: make run did not start a server on $S"; cat "$TMPDIR/run.out"; exit 1; }
out=$(cat "$TMPDIR/run.out")
for want in "embedder: NONE" "decoder for GEN: none" "NOTE: no model files: running on a REDUCED FALLBACK" \
            "GEN answers ERR UNAVAIL" "Connect with:" "cli --sock $S" "socat - UNIX-CONNECT:$S" \
            "RUNNING ON A REDUCED FALLBACK" "no decoder model found"; do
  printf '%s\n' "$out" | grep -qF -- "$want" || { echo "FAIL: make run output lacks '$want':"; echo "$out"; exit 1; }
done
[ ! -e "$TMPDIR/models/use-lite-q8_0.gguf" ] || { echo "FAIL: a model file appeared: the test is void"; exit 1; }
q() { "$EDGEKB" -q cli --sock "$S" "$@"; }
[ "$(q PING)" = "OK PONG" ] || { echo "FAIL: PING"; exit 1; }
q INFO | grep -q '^embedder=hash-fallback.*REDUCED' || { echo "FAIL: INFO does not say fallback: $(q INFO)"; exit 1; }
q SEARCH hybrid 3 noble gas used in lamps | grep -q '^OK 3$' || { echo "FAIL: SEARCH on the fallback"; exit 1; }
q FIND ? '|' symbol '|' Fe | grep -q '^iron	symbol	Fe	' || { echo "FAIL: FIND"; exit 1; }
r=$(q GEN 8 Once upon a time); [ $? -eq 1 ] && echo "$r" | grep -q '^ERR UNAVAIL' || { echo "FAIL: GEN without a model: $r"; exit 1; }
kill -TERM $RP; wait $RP; rc=$?
trap - EXIT
[ $rc -eq 0 ] || { echo "FAIL: the server exited $rc on SIGTERM"; exit 1; }
[ ! -e "$S" ] || { echo "FAIL: socket file left behind"; exit 1; }
echo "ok: make run without model files: connect instructions, REDUCED FALLBACK said by run.sh, the server log and INFO; PING/SEARCH/FIND served, GEN ERR UNAVAIL, clean SIGTERM"
