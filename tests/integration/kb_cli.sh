# kb_cli.sh: the knowledge-base commands end to end with the hash fallback
# embedder (no model file): init, ingest of JSONL/Markdown/TSV, re-ingest is
# a no-op, search in all modes with --json, facts with wildcards, integrity
# check; and bad input: malformed JSON lines (reported with line numbers,
# others still ingested), unknown file kinds, bad TSV lines, missing files,
# bad options, a directory that is not a KB.
. "$(dirname "$0")/_lib.sh"
set -u
B=$EDGEKB
KB=$TMPDIR/kb
E=$SHARED/eval-dev
expect_rc 0 "$B" kb init --kb "$KB" --model "$TMPDIR/none.gguf"
expect_out 'hash-fallback.*REDUCED FALLBACK'
cat >"$TMPDIR/docs.jsonl" <<'J'
{"id": "d1", "title": "Iron", "text": "Iron rusts in moist air. It is used to make steel."}
{"id": "d2", "title": "Gold", "text": "Gold is soft and shiny, with \"unicode\" \u00e9 and \ud83d\ude00 escapes."}
{"id": "bad1", "title": "broken", "text": "unterminated
not json at all
{"id": "bad3", "text": ["arrays", "are", "refused"]}
{"id": "bad4", "title": "no text"}

{"id": "d3", "title": "Neon", "text": "Neon glows red-orange in discharge tubes.", "extra": 12.5, "ok": true, "n": null}
J
expect_rc 1 "$B" ingest --kb "$KB" "$TMPDIR/docs.jsonl"
expect_out 'docs.jsonl:3: unterminated string'
expect_out 'docs.jsonl:4: not a JSON object'
expect_out 'docs.jsonl:5: a known field has the wrong type'
expect_out 'docs.jsonl:6: no "text"'
expect_out '^ok [0-9]+ d3 '
expect_out '3 documents'
echo "%PDF-1.4" >"$TMPDIR/x.pdf"
printf '# Title\n\nA markdown note about cobalt blue pigments.\n' >"$TMPDIR/note.md"
printf 'iron\tsymbol\tFe\ngold\tsymbol\tAu\nbroken line without tabs\n' >"$TMPDIR/f.tsv"
expect_rc 1 "$B" ingest --kb "$KB" "$TMPDIR/note.md" "$TMPDIR/f.tsv" "$TMPDIR/x.pdf" "$TMPDIR/missing.jsonl"
expect_out 'f.tsv:3: expected subject<TAB>predicate<TAB>object'
expect_out "unknown kind '.pdf'"
expect_out 'missing.jsonl: No such file'
expect_out 'ok facts 2 '
# re-ingest: nothing new
expect_rc 1 "$B" ingest --kb "$KB" "$TMPDIR/docs.jsonl"
expect_out '0 documents \(3 unchanged\)'
for m in vector text hybrid; do
  expect_rc 0 "$B" -q search --kb "$KB" --mode $m -k 3 --json "rusts in moist air"
  echo "$OUT" | head -1 | grep -q '"id":"d1"' || { echo "FAIL: $m search did not rank d1 first: $OUT"; exit 1; }
done
expect_rc 0 "$B" -q search --kb "$KB" --mode text "cobalt"
expect_out 'note.md'
expect_rc 0 "$B" facts --kb "$KB" '?' symbol
expect_out 'gold	symbol	Au'
expect_rc 0 "$B" kb check --kb "$KB"
expect_out 'integrity ok'
# bad options and non-KBs
expect_rc 2 "$B" search --kb "$KB" --mode fuzzy x
expect_rc 2 "$B" search --kb "$KB" -k 0 x
expect_rc 2 "$B" search --kb "$KB"
expect_rc 2 "$B" ingest "$TMPDIR/docs.jsonl"
expect_rc 1 "$B" search --kb "$TMPDIR/nowhere" x
expect_out 'kb init'
mkdir -p "$TMPDIR/notkb"; head -c 5000 /dev/urandom >"$TMPDIR/notkb/kb.sqlite"
expect_rc 1 "$B" search --kb "$TMPDIR/notkb" x
# a larger .txt goes in as a stream; throughput is printed; progress only when stderr is a terminal
/usr/bin/python3 -c "
import sys
with open(sys.argv[1], 'w') as f:
    for i in range(40000):
        f.write('Line %d of the long text about alloys and ores.%s' % (i, '\\n\\n' if i % 7 == 6 else ' '))
" "$TMPDIR/long.txt"
"$B" ingest --kb "$KB" "$TMPDIR/long.txt" >"$TMPDIR/o" 2>"$TMPDIR/e" || { echo "FAIL: long.txt ingest"; cat "$TMPDIR/e"; exit 1; }
grep -Eq '^ingest: 1 documents \(0 unchanged\), [0-9]+ chunks, .* MB/s, [0-9]+ chunks/s' "$TMPDIR/e" ||
  { echo "FAIL: no throughput line: $(cat "$TMPDIR/e")"; exit 1; }
if grep -q "$(printf '\r')" "$TMPDIR/e"; then echo "FAIL: progress written to a non-terminal"; exit 1; fi
if command -v script >/dev/null 2>&1; then
  printf 'A second note, on a terminal this time, about nickel.\n' >"$TMPDIR/tty.md"
  script -qec "$B ingest --kb $KB $TMPDIR/tty.md" /dev/null >"$TMPDIR/t" 2>&1
  grep -Eq "$(printf '\r')  1 documents \([0-9]+/s\), .* chunks \([0-9]+/s\), .* MB/s, ETA ([0-9]+:[0-9][0-9]|--:--)" "$TMPDIR/t" ||
    { echo "FAIL: no progress on a terminal: $(cat -v "$TMPDIR/t")"; exit 1; }
  for i in 1 2 3 4 5 6 7 8 9; do printf '{"id": "tty:%d", "text": "Note %d on a terminal about cobalt and zinc."}\n' $i $i; done >"$TMPDIR/tty.jsonl"
  script -qec "$B ingest --kb $KB --threads 2 $TMPDIR/tty.jsonl" /dev/null >"$TMPDIR/t" 2>&1
  grep -Eq "$(printf '\r')  9 documents \([0-9]+/s\), .* chunks \([0-9]+/s\), .* MB/s, ETA" "$TMPDIR/t" ||
    { echo "FAIL: no progress for batched documents on a terminal: $(cat -v "$TMPDIR/t")"; exit 1; }
  [ "$(grep -c '^ok [0-9]* tty:' "$TMPDIR/t")" = 9 ] || { echo "FAIL: batched documents not all acknowledged: $(cat -v "$TMPDIR/t")"; exit 1; }
fi
# documents and an entity line in one file, on 2 threads: the batch before the entity is committed
# first (its vector is embedded at its commit), every document acknowledged in input order
{ for i in 1 2 3; do printf '{"id": "mix:%d", "text": "Mixed note %d about gallium and indium."}\n' $i $i; done
  printf '{"name": "gallium arsenide", "aliases": ["GaAs"], "description": "a semiconductor"}\n'
  for i in 4 5 6; do printf '{"id": "mix:%d", "text": "Mixed note %d about gallium and indium."}\n' $i $i; done; } >"$TMPDIR/mix.jsonl"
expect_rc 0 "$B" kb init --kb "$TMPDIR/kbmix" --model "$TMPDIR/none.gguf"
"$B" ingest --kb "$TMPDIR/kbmix" --threads 2 "$TMPDIR/mix.jsonl" >"$TMPDIR/o" 2>"$TMPDIR/e" || { echo "FAIL: mixed file: $(cat "$TMPDIR/e")"; exit 1; }
[ "$(grep -o '^ok [0-9]* mix:[0-9]' "$TMPDIR/o" | sed 's/.*://' | tr -d '\n')" = 123456 ] ||
  { echo "FAIL: mixed file acknowledgements: $(cat "$TMPDIR/o")"; exit 1; }
grep -q 'ingest: 6 documents .* 1 entities' "$TMPDIR/e" || { echo "FAIL: mixed file counts: $(cat "$TMPDIR/e")"; exit 1; }
expect_rc 0 "$B" ingest --kb "$KB" "$TMPDIR/long.txt"
expect_out '^dup [0-9]+ long.txt'
expect_out '0 documents \(1 unchanged\)'
expect_rc 0 "$B" -q search --kb "$KB" --mode text -k 1 --json "Line 39998"
expect_out '"id":"long.txt"'
# filtered search (document id prefix) and the entity index
expect_rc 0 "$B" -q search --kb "$KB" --mode vector --doc d -k 10 --json "alloys and ores"
if echo "$OUT" | grep -q '"id":"long.txt"'; then echo "FAIL: --doc d returned long.txt"; exit 1; fi
expect_out '"id":"d[123]"'
expect_rc 0 "$B" -q search --kb "$KB" --entities --mode vector -k 1 gold
expect_out '^1\. gold '
expect_rc 0 "$B" kb check --kb "$KB"
expect_out 'index.hnsw ok: [0-9]+ vectors, every row present, loaded from index.hnsw \(verified\); entity names: 2 entities'
# stopping early: --max-seconds and SIGTERM end at a line boundary (exit 3, said where), what came
# before is committed, the KB checks, and running the same command again gives the whole
W=$SHARED/eval-dev/wordnet
if [ -r "$W/facts.tsv" ]; then
  head -n 30000 "$W/facts.tsv" >"$TMPDIR/facts.tsv"
  K2=$TMPDIR/kb-stop
  expect_rc 0 "$B" -q kb init --kb "$K2" --model "$TMPDIR/none.gguf"
  expect_rc 3 "$B" -q ingest --kb "$K2" --max-seconds 0.2 "$W/predicates.jsonl" "$TMPDIR/facts.tsv"
  expect_out '^partial .*facts.tsv: lines 1\.\.[0-9]+ committed'
  expect_out '--max-seconds reached: stopped before line [0-9]+ of .*facts.tsv; everything before it is committed'
  expect_rc 0 "$B" kb check --kb "$K2"
  expect_out 'integrity ok'
  "$B" -q ingest --kb "$K2" "$W/predicates.jsonl" "$TMPDIR/facts.tsv" >"$TMPDIR/stop.out" 2>&1 &
  IP=$!
  sleep 0.4; kill -TERM $IP; wait $IP; rc=$?
  [ $rc = 3 ] || { echo "FAIL: ingest after SIGTERM exited $rc"; cat "$TMPDIR/stop.out"; exit 1; }
  grep -q 'interrupted (SIGINT/SIGTERM): stopped before line' "$TMPDIR/stop.out" || { echo "FAIL: SIGTERM said"; cat "$TMPDIR/stop.out"; exit 1; }
  expect_rc 0 "$B" -q ingest --kb "$K2" "$W/predicates.jsonl" "$TMPDIR/facts.tsv"
  expect_rc 0 "$B" -q kb stats --kb "$K2"
  nfacts=$(echo "$OUT" | grep -o '[0-9]* facts')
  K3=$TMPDIR/kb-whole
  expect_rc 0 "$B" -q kb init --kb "$K3" --model "$TMPDIR/none.gguf"
  expect_rc 0 "$B" -q ingest --kb "$K3" "$W/predicates.jsonl" "$TMPDIR/facts.tsv"
  expect_rc 0 "$B" -q kb stats --kb "$K3"
  [ "$nfacts" = "$(echo "$OUT" | grep -o '[0-9]* facts')" ] || { echo "FAIL: stopped twice then finished: $nfacts, whole: $OUT"; exit 1; }
  expect_rc 2 "$B" -q ingest --kb "$K2" --max-seconds 0 "$TMPDIR/facts.tsv"
fi
echo "ok: kb init/ingest/search/facts/check, 12 bad-input cases, streamed .txt, throughput, TTY-only progress, filtered and entity search, ingest stopped by --max-seconds and SIGTERM then resumed"
