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
expect_out 'docs.jsonl:5: a known field is not a string'
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
echo "ok: kb init/ingest/search/facts/check and 12 bad-input cases"
