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
small_inputs "$D"
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
  check_acked "$KB" "$TMPDIR/ack" "allocation $n failing"
  if [ -n "$allocs" ] && [ "$allocs" -lt "$n" ]; then
    [ $rc -eq 0 ] || { echo "FAIL: no allocation failed ($allocs < $n) but ingest exited $rc"; cat "$TMPDIR/err"; exit 1; }
    break
  fi
  [ $n -lt 3000 ] || { echo "FAIL: over 3000 allocations"; exit 1; }
done
all_acked "$TMPDIR/ack" "allocations"
echo "ok: ingest with each of its $allocs arena allocations failing in turn: $fails clean failures (exit code and message), kb check ok and acknowledged documents present after each, then a whole ingest"
