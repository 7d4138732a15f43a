# crash_ingest.sh: kill -9 an ingest at 50 random moments. After each kill
# the knowledge base must reopen, pass PRAGMA integrity_check, load its
# vectors, and every document whose ingest was acknowledged ("ok <id>
# <ext_id>" on stdout: printed only after COMMIT) must be present and
# searchable (checked for the last 5 acknowledged, the ones most at risk,
# plus the total count). Uses the hash fallback embedder so each run is
# short; the durability under test is SQLite's (WAL, synchronous=FULL).
. "$(dirname "$0")/_lib.sh"
set -u
B=$EDGEKB
KB=$TMPDIR/kb
G=$TMPDIR/gen.jsonl
i=0
while [ $i -lt 1500 ]; do
  printf '{"id": "g%d", "title": "doc %d", "text": "Generated document number %d with the unique marker tok%dx. %s"}\n' \
    $i $i $i $i "Filler text about elements, metals and gases to make the chunk longer than a line." >>"$G"
  i=$((i + 1))
done
expect_rc 0 "$B" -q kb init --kb "$KB" --model "$TMPDIR/none.gguf"
points=0; verified=0; seed=7
while [ $points -lt 50 ]; do
  "$B" -q ingest --kb "$KB" "$G" >"$TMPDIR/ack" 2>/dev/null &
  pid=$!
  seed=$(( (seed * 1103515245 + 12345) % 2147483648 ))
  ms=$(( 20 + seed % 400 ))
  sleep "$(awk "BEGIN{print $ms/1000}")"
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  points=$((points + 1))
  expect_rc 0 "$B" -q kb check --kb "$KB"
  expect_out 'integrity ok'
  acked=$(grep -c '^ok ' "$TMPDIR/ack")
  for id in $(grep '^ok ' "$TMPDIR/ack" | tail -5 | cut -d' ' -f3); do
    n=${id#g}
    OUT=$("$B" -q search --kb "$KB" --mode text -k 1 --json "tok${n}x")
    echo "$OUT" | grep -q "\"id\":\"$id\"" || { echo "FAIL: point $points: acknowledged $id is not searchable"; exit 1; }
    verified=$((verified + 1))
  done
  docs=$("$B" -q kb stats --kb "$KB" | sed -n 's/.* \([0-9]*\) documents.*/\1/p')
  [ "$docs" -ge "$acked" ] || { echo "FAIL: point $points: $docs documents < $acked acknowledged in that run"; exit 1; }
  [ "$docs" -ge 1500 ] && rm -rf "$KB" && "$B" -q kb init --kb "$KB" --model "$TMPDIR/none.gguf" >/dev/null
done
echo "ok: $points kill -9 points, $verified acknowledged documents verified searchable, integrity ok every time"
