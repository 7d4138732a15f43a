# find_wordnet.sh: FIND over a real socket on the WordNet fact base
# ($SHARED/eval-dev/wordnet: 8 predicates, 82,115 entities, 128,801 facts).
# Ingests the schema, the entities and the facts (with the default
# embedder when its file is in MODELS_DIR, else the hash fallback), then
# serves it twice, with the x86_64-generic board and with the pizero2w
# board's budgets (24 MB index), and asks tools/wn_eval.py's questions of
# every kind (varied subjects, paraphrased predicates, paths, transitive
# yes/no) over the socket: each kind must be right at least as often as
# its floor and wrong at most 5% of the time. Also: the status line and a
# row's fields, a path proof, the governor-free status, ERR on a bad path.
. "$(dirname "$0")/_lib.sh"
set -u
W=$SHARED/eval-dev/wordnet
[ -r "$W/facts.tsv" ] || { echo "skip: no $W"; exit 77; }
command -v socat >/dev/null 2>&1 || { echo "skip: socat not installed"; exit 77; }
root=$(cd "$(dirname "$0")/../.." && pwd)
B=$EDGEKB
KB=$TMPDIR/kb
M=$MODELS_DIR/use-lite-q8_0.gguf
[ -r "$M" ] || M=$TMPDIR/none.gguf
expect_rc 0 "$B" -q kb init --kb "$KB" --model "$M"
start=$(date +%s)
expect_rc 0 "$B" ingest --kb "$KB" "$W/predicates.jsonl" "$W/entities.jsonl" "$W/facts.tsv"
secs=$(( $(date +%s) - start ))
echo "$OUT" | grep -E "^ingest:" | tail -3
expect_rc 0 "$B" -q facts --kb "$KB" beagle "is a kind of" hound
expect_out "beagle	is a kind of	hound"

for board in x86_64-generic pizero2w; do
  S=$TMPDIR/s-$board.sock
  "$B" --board "$root/board/$board.conf" serve --kb "$KB" --sock "$S" >"$TMPDIR/serve-$board.log" 2>&1 &
  SP=$!
  for i in $(seq 1 100); do [ -S "$S" ] && break; sleep 0.1; done
  [ -S "$S" ] || { echo "FAIL: $board: no server"; cat "$TMPDIR/serve-$board.log"; exit 1; }
  q() { printf '%s\n' "$1" | socat -t 5 - UNIX-CONNECT:"$S"; }
  r=$(q 'FIND beagle | is a kind of | wolf')
  echo "$r" | grep -Eq '^OK 0 tier=3 ms=[0-9]+\.[0-9]{2}$' || { echo "FAIL: $board: beagle/wolf: $r"; exit 1; }
  r=$(q 'FIND pulley | is part of / is a kind of | ?')
  echo "$r" | grep -q 'pulley	is part of / is a kind of	hoist	.*	3	pulley -is part of-> block and tackle -is a kind of-> hoist' ||
    { echo "FAIL: $board: path: $r"; exit 1; }
  r=$(q 'FIND Bafgin Island | is an instance of | ?')
  echo "$r" | grep -q '^Baffin Island	is an instance of	island	0.7800	1	subject "Bafgin Island" -> "Baffin Island" (1 edit)' ||
    { echo "FAIL: $board: typo: $r"; exit 1; }
  r=$(q 'FIND wheel | is part of / | ?')
  echo "$r" | grep -q '^ERR ARGS path: step 2 is empty' || { echo "FAIL: $board: bad path: $r"; exit 1; }
  /usr/bin/python3 "$root/tools/wn_eval.py" --sock "$S" --data "$W" --n 40 --seed 3 >"$TMPDIR/eval-$board.txt" ||
    { echo "FAIL: $board: wn_eval"; cat "$TMPDIR/eval-$board.txt"; exit 1; }
  /usr/bin/python3 "$root/tools/ask_eval.py" --sock "$S" wordnet --data "$W" --n 30 --seed 3 >>"$TMPDIR/eval-$board.txt" ||
    { echo "FAIL: $board: ask_eval"; cat "$TMPDIR/eval-$board.txt"; exit 1; }
  r=$(q 'ASK Is a beagle a kind of dog?')
  echo "$r" | grep -q '^path	beagle -is a kind of-> hound -is a kind of-> hunting dog -is a kind of-> dog$' ||
    { echo "FAIL: $board: ASK yes: $r"; exit 1; }
  /usr/bin/python3 - "$TMPDIR/eval-$board.txt" "$board" <<'PY' || exit 1
import re, sys
floor = {"t1": 0.90, "t2": 0.85, "t3": 0.95}
bad = 0
for l in open(sys.argv[1]):
    m = re.match(r"(?:wn_eval|ask_eval set=wordnet) kind=(\S+) n=(\d+) right=(\d+) wrong=(\d+)", l)
    if not m:
        continue
    k, n, right, wrong = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
    if right < floor.get(k[:2], 0.90) * n or wrong > (0.05 if k[:1] == "t" else 0.10) * n:
        print("FAIL: %s: %s" % (sys.argv[2], l.strip()))
        bad = 1
sys.exit(bad)
PY
  kill -TERM $SP; wait $SP || { echo "FAIL: $board: serve exited $?"; exit 1; }
done
grep -h "^wn_eval \|^ask_eval " "$TMPDIR/eval-pizero2w.txt" | sed 's/^/  pizero2w /'
echo "ok: WordNet ingested in ${secs}s ($(basename "$M")); FIND and ASK over the socket on x86_64-generic and pizero2w budgets: status and rows, typo, path proof, bad path, ASK yes with its proof; dev questions of 9 FIND kinds and 6 ASK kinds above their floors"
