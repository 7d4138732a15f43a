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
# small_inputs DIR: a schema line, two entities, three facts (TSV) and six
# documents ("Manual page <i>: the pump <i> is primed ...", ids m0..m5).
small_inputs() {
  mkdir -p "$1"
  printf '{"predicate": "is part of", "inverse": "has part", "transitive": true}\n' >"$1/schema.jsonl"
  printf '{"name": "pump", "aliases": ["pumps"], "description": "a machine that moves fluid"}\n{"name": "valve", "description": "a device that controls flow"}\n' >"$1/entities.jsonl"
  printf 'valve\tis part of\tpump\nimpeller\tis part of\tpump\npump\tmade of\tsteel\n' >"$1/facts.tsv"
  : >"$1/docs.jsonl"
  i=0
  while [ $i -lt 6 ]; do
    printf '{"id": "m%d", "title": "manual %d", "text": "Manual page %d: the pump %d is primed before start. %s"}\n' $i $i $i $i \
      "Close the valve, open the vent, fill the casing and start the motor; check the seal for leaks." >>"$1/docs.jsonl"
    i=$((i + 1))
  done
}
# check_acked KB ACKFILE WHAT: the KB passes kb check, every document ingest
# acknowledged in ACKFILE ("ok <n> <id> ...") is found by text search, and the
# facts when acknowledged; WHAT names the run in failures.
check_acked() {
  expect_rc 0 "$EDGEKB" -q kb check --kb "$1"
  expect_out 'integrity ok'
  for id in $(sed -n 's/^ok [0-9]* \([^ ]*\) .*/\1/p' "$2"); do
    OUT=$("$EDGEKB" -q search --kb "$1" --mode text -k 3 --json "Manual page ${id#m}: the pump ${id#m} is primed")
    echo "$OUT" | grep -q "\"id\":\"$id\"" || { echo "FAIL: $3: acknowledged $id is missing"; exit 1; }
  done
  if grep -q '^ok facts 3 ' "$2"; then
    expect_rc 0 "$EDGEKB" -q find --kb "$1" impeller "is part of" pump
    expect_out 'impeller'
  fi
}
# all_acked ACKFILE WHAT: the run acknowledged all six documents of small_inputs.
all_acked() {
  n_ok=$(grep -c '^ok [0-9]' "$1")
  [ "$n_ok" -eq 6 ] || { echo "FAIL: $2: the last run acknowledged $n_ok documents, not 6"; exit 1; }
}
