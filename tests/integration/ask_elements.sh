# ask_elements.sh: ASK over a real socket on the public dev set (the
# chemical elements: 137 documents, 482 facts, 100 questions of three
# kinds). Every question goes through tools/ask_eval.py: lookup and reverse
# must be answered right at least 90% of the time, describe questions must
# cite the right element's document first 90% of the time. Also: the reply
# shape (status, answer, citation lines), yes/no, "I don't know", and
# hostile questions (over-long, no words, control bytes, a flood of names):
# an answer or an ERR line, and the server still answers PING after each.
. "$(dirname "$0")/_lib.sh"
set -u
E=$SHARED/eval-dev
[ -r "$E/elements_questions.jsonl" ] || { echo "skip: no $E"; exit 77; }
command -v socat >/dev/null 2>&1 || { echo "skip: socat not installed"; exit 77; }
root=$(cd "$(dirname "$0")/../.." && pwd)
B=$EDGEKB
KB=$TMPDIR/kb
S=$TMPDIR/s.sock
M=$MODELS_DIR/use-lite-q8_0.gguf
[ -r "$M" ] || M=$TMPDIR/none.gguf
expect_rc 0 "$B" -q kb init --kb "$KB" --model "$M"
expect_rc 0 "$B" -q ingest --kb "$KB" "$E/elements_docs.jsonl" "$E/elements_facts.tsv"
expect_rc 0 "$B" -q ask --kb "$KB" "Who discovered helium?"
expect_out '^Helium was discovered by Lockyer\.$'
expect_out '^fact	helium	discovered by	Lockyer$'
"$B" serve --kb "$KB" --sock "$S" >"$TMPDIR/serve.log" 2>&1 &
SP=$!
for i in $(seq 1 100); do [ -S "$S" ] && break; sleep 0.1; done
[ -S "$S" ] || { echo "FAIL: no server"; cat "$TMPDIR/serve.log"; exit 1; }
q() { printf '%s\n' "$1" | socat -t 5 - UNIX-CONNECT:"$S"; }
alive() { [ "$(q PING)" = "OK PONG" ] || { echo "FAIL: no PONG after $1"; cat "$TMPDIR/serve.log"; exit 1; }; }
r=$(q 'ASK Which element has the symbol Fe?')
echo "$r" | grep -Eq '^OK 2 tier=[0-3] ms=[0-9.]+$' || { echo "FAIL: status: $r"; exit 1; }
echo "$r" | grep -q '^The symbol of iron is Fe\.$' || { echo "FAIL: answer: $r"; exit 1; }
echo "$r" | grep -q '^fact	iron	symbol	Fe$' || { echo "FAIL: citation: $r"; exit 1; }
r=$(q 'ASK What is the airspeed velocity of an unladen swallow?')
echo "$r" | grep -q "^I don't know" || { echo "FAIL: unknown: $r"; exit 1; }
r=$(q 'ASK Which element is described here: "Lowest boiling point of all elements and can only be solidified under pressure."')
echo "$r" | grep -q '^doc	elements:helium	helium	' || { echo "FAIL: quoted text: $r"; exit 1; }
# hostile questions
long=$(/usr/bin/python3 -c 'print("ASK " + "what is gold " * 400)')
r=$(q "$long"); echo "$r" | grep -q '^ERR TOOLONG' || { echo "FAIL: over-long: $(echo "$r" | head -c 200)"; exit 1; }; alive long
r=$(q 'ASK ???'); echo "$r" | grep -q '^ERR ARGS' || { echo "FAIL: no words: $r"; exit 1; }; alive nowords
r=$(printf 'ASK what\001is\002gold\n' | socat -t 5 - UNIX-CONNECT:"$S"); echo "$r" | grep -q '^ERR BADREQ' || { echo "FAIL: control bytes: $r"; exit 1; }; alive control
flood=$(/usr/bin/python3 -c 'print("ASK " + " ".join(["gold", "helium", "is part of", "iron"] * 100)[:3900])')
r=$(q "$flood"); echo "$r" | grep -Eq '^OK [0-9]+ tier=' || { echo "FAIL: flood: $(echo "$r" | head -c 200)"; exit 1; }; alive flood
/usr/bin/python3 "$root/tools/ask_eval.py" --sock "$S" elements --data "$E" >"$TMPDIR/eval.txt" ||
  { echo "FAIL: ask_eval"; cat "$TMPDIR/eval.txt"; exit 1; }
/usr/bin/python3 - "$TMPDIR/eval.txt" <<'PY' || exit 1
import re, sys
bad = 0
for l in open(sys.argv[1]):
    m = re.match(r"ask_eval set=elements kind=(\S+) n=(\d+) right=(\d+)", l)
    if m and int(m.group(3)) < 0.90 * int(m.group(2)):
        print("FAIL: " + l.strip())
        bad = 1
sys.exit(bad)
PY
kill -TERM $SP; wait $SP || { echo "FAIL: serve exited $?"; exit 1; }
sed 's/^/  /' "$TMPDIR/eval.txt"
echo "ok: ASK on the elements dev set over the socket: reply shape, unknown, quoted text, 4 hostile questions survived; $(grep -o 'kind=[a-z]* n=[0-9]* right=[0-9]*' "$TMPDIR/eval.txt" | tr '\n' ' ')"
