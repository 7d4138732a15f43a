# io_ingest.sh: `edgekb ingest` with the nth write (or sync) of the
# knowledge base's SQLite files failing, for n = 1, 2, ... until the
# ingest makes fewer than n (the test hook EDGEKB_TEST_FAIL_IO=<kind>:<n>,
# armed when the KB opens), for each kind of fault: disk full (ENOSPC), an
# I/O error (EIO), a short write (half the bytes, then disk full) and a
# failed fsync. Each failing run must end by itself with an exit code and a
# message naming the failure; after each, the KB passes `kb check` and
# holds every document and fact the run acknowledged; the run past the last
# write ingests everything. The input: a schema line, entities, facts and
# six documents (as oom_ingest.sh's). IO_STRIDE=k (default 4; make
# check-all: 1) tries every kth point of the three write faults, each kind
# from its own offset (together 3 of every 4 points), and every point of
# fsync (there are few).
. "$(dirname "$0")/_lib.sh"
set -u
B=$EDGEKB
KB=$TMPDIR/kb
D=$TMPDIR/in
small_inputs "$D"
summary=""
STRIDE=${IO_STRIDE:-4}
off=0
for kind in enospc eio short fsync; do
  step=$STRIDE; [ $kind = fsync ] && step=1
  n=$(( off % step )); fails=0; calls=""; runs=0; off=$((off + 1))
  while :; do
    n=$((n + step)); runs=$((runs + 1))
    rm -rf "$KB"
    expect_rc 0 "$B" -q kb init --kb "$KB" --model "$TMPDIR/none.gguf"
    EDGEKB_TEST_FAIL_IO=$kind:$n "$B" -q ingest --kb "$KB" "$D/schema.jsonl" "$D/entities.jsonl" "$D/facts.tsv" \
      "$D/docs.jsonl" >"$TMPDIR/ack" 2>"$TMPDIR/err"
    rc=$?
    [ $rc -lt 128 ] || { echo "FAIL: $kind at $n: killed by signal $((rc - 128))"; cat "$TMPDIR/err"; exit 1; }
    calls=$(sed -n 's/.*EDGEKB_TEST_FAIL_IO: \([0-9]*\) writes and syncs.*/\1/p' "$TMPDIR/err")
    [ -n "$calls" ] || { echo "FAIL: $kind at $n: the hook did not report (exit $rc)"; cat "$TMPDIR/err"; exit 1; }
    if [ "$calls" -ge "$n" ]; then # this run's nth write failed: an error said, or SQLite recovered from it
      if [ $rc -ne 0 ]; then
        fails=$((fails + 1))
        grep -v 'EDGEKB_TEST_FAIL_IO' "$TMPDIR/err" | grep -Eqi 'disk|full|I/O|error|fail|cannot|io' ||
          { echo "FAIL: $kind at $n: exit $rc without a message saying what happened"; cat "$TMPDIR/err"; exit 1; }
      fi
    fi
    check_acked "$KB" "$TMPDIR/ack" "$kind at write $n"
    [ "$calls" -ge "$n" ] || break # past the last write: checked whole below
    [ $n -lt 2000 ] || { echo "FAIL: $kind: over 2000 writes"; exit 1; }
  done
  [ $rc -eq 0 ] || { echo "FAIL: $kind: nothing failed ($calls < $n) but ingest exited $rc"; cat "$TMPDIR/err"; exit 1; }
  all_acked "$TMPDIR/ack" "$kind"
  summary="$summary $kind: $((runs - 1)) of $calls points, $fails errors;"
done
echo "ok: ingest with each SQLite write or sync failing in turn:$summary kb check ok and every acknowledged write present after each"
