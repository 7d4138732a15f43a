# _lib.sh: helpers sourced by integration tests (not a test itself: it has no
# main body). expect_rc RC CMD...: run, check the exit code, keep output in $OUT.
OUT=""
expect_rc() {
  want=$1; shift
  OUT=$("$@" 2>&1); got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL: '$*' exited $got, want $want; output:"; echo "$OUT" | head -20; exit 1
  fi
}
expect_out() { # expect_out PATTERN (grep -E on $OUT)
  echo "$OUT" | grep -Eq -- "$1" || { echo "FAIL: output lacks /$1/:"; echo "$OUT" | head -20; exit 1; }
}
# elements_kb KB FILE...: a knowledge base on the hash fallback holding the
# eval-dev elements FILEs (names in $SHARED/eval-dev); skips (77) without them.
elements_kb() {
  kb=$1; shift
  [ -r "$SHARED/eval-dev/elements_docs.jsonl" ] || { echo "skip: no $SHARED/eval-dev"; exit 77; }
  expect_rc 0 "$EDGEKB" -q kb init --kb "$kb" --model "$TMPDIR/none.gguf"
  for f in "$@"; do expect_rc 0 "$EDGEKB" -q ingest --kb "$kb" "$SHARED/eval-dev/$f"; done
}
# wait_sock SOCK LOG: waits up to 10 s for a server's socket file; fails with its log.
wait_sock() {
  i=0; while [ ! -S "$1" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  [ -S "$1" ] || { echo "FAIL: server did not start"; cat "$2"; exit 1; }
}
