# oom_ingest.sh: `edgekb ingest` with its 1st, 2nd, ... arena allocation
# failing in turn (the test hook EDGEKB_TEST_FAIL_ALLOC=n: counted from the
# command's start, model and knowledge base opening included), until n is
# past the allocations it makes. The input: a schema line, entities, facts
# (TSV) and documents. Each run must end by itself with an error message
# when it fails (no signal, no abort), the knowledge base must pass `kb
# check` after it, and every document it acknowledged ("ok ..." on stdout)
# must be there (and the facts, when acknowledged); the last run ingests
# everything.
. "$(dirname "$0")/_lib.sh"
set -u
B=$EDGEKB
KB=$TMPDIR/kb
D=$TMPDIR/in
mkdir -p "$D"
printf '{"predicate": "is part of", "inverse": "has part", "transitive": true}\n' >"$D/schema.jsonl"
printf '{"name": "pump", "aliases": ["pumps"], "description": "a machine that moves fluid"}\n{"name": "valve", "description": "a device that controls flow"}\n' >"$D/entities.jsonl"
printf 'valve\tis part of\tpump\nimpeller\tis part of\tpump\npump\tmade of\tsteel\n' >"$D/facts.tsv"
i=0
while [ $i -lt 6 ]; do
  printf '{"id": "m%d", "title": "manual %d", "text": "Manual page %d: the pump %d is primed before start. %s"}\n' $i $i $i $i \
    "Close the valve, open the vent, fill the casing and start the motor; check the seal for leaks." >>"$D/docs.jsonl"
  i=$((i + 1))
done
n=0; fails=0
while :; do
  n=$((n + 1))
  rm -rf "$KB"
  expect_rc 0 "$B" -q kb init --kb "$KB" --model "$TMPDIR/none.gguf"
  EDGEKB_TEST_FAIL_ALLOC=$n "$B" -q ingest --kb "$KB" "$D/schema.jsonl" "$D/entities.jsonl" "$D/facts.tsv" "$D/docs.jsonl" \
    >"$TMPDIR/ack" 2>"$TMPDIR/err"
  rc=$?
  [ $rc -lt 128 ] || { echo "FAIL: allocation $n failing: killed by signal $((rc - 128))"; cat "$TMPDIR/err"; exit 1; }
  allocs=$(sed -n 's/.*EDGEKB_TEST_FAIL_ALLOC: \([0-9]*\) arena allocations.*/\1/p' "$TMPDIR/err")
  if [ $rc -ne 0 ]; then
    fails=$((fails + 1))
    grep -qv 'EDGEKB_TEST_FAIL_ALLOC' "$TMPDIR/err" || { echo "FAIL: allocation $n failing: exit $rc without a message"; exit 1; }
  fi
  expect_rc 0 "$B" -q kb check --kb "$KB"
  expect_out 'integrity ok'
  for id in $(sed -n 's/^ok [0-9]* \([^ ]*\) .*/\1/p' "$TMPDIR/ack"); do
    OUT=$("$B" -q search --kb "$KB" --mode text -k 3 --json "Manual page ${id#m}: the pump ${id#m} is primed")
    echo "$OUT" | grep -q "\"id\":\"$id\"" || { echo "FAIL: allocation $n failing: acknowledged $id is missing"; exit 1; }
  done
  if grep -q '^ok facts 3 ' "$TMPDIR/ack"; then # acknowledged facts: found
    expect_rc 0 "$B" -q find --kb "$KB" impeller "is part of" pump
    expect_out 'impeller'
  fi
  if [ -n "$allocs" ] && [ "$allocs" -lt "$n" ]; then
    [ $rc -eq 0 ] || { echo "FAIL: no allocation failed ($allocs < $n) but ingest exited $rc"; cat "$TMPDIR/err"; exit 1; }
    break
  fi
  [ $n -lt 3000 ] || { echo "FAIL: over 3000 allocations"; exit 1; }
done
docs=$(grep -c '^ok [0-9]' "$TMPDIR/ack")
[ "$docs" -eq 6 ] || { echo "FAIL: the last run acknowledged $docs documents, not 6"; exit 1; }
echo "ok: ingest with each of its $allocs arena allocations failing in turn: $fails clean failures (exit code and message), kb check ok and acknowledged documents present after each, then a whole ingest"
