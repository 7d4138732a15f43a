# deadline.sh: SEARCH past its deadline ends cleanly with a partial answer.
# A board with SEARCH_MS = 20 and the test hook EDGEKB_TEST_SLOW_SEARCH_MS
# (each SEARCH starts 60 ms late): a question in text and hybrid mode comes
# back `OK <k> degraded=deadline` with k hits (the text leg's candidates
# ranked by their rarer words; hybrid without its vector leg), nothing of it
# is cached (asked again: degraded again, no cache hit), PING still answers,
# and the same server answers in time once the hook is off (a second server:
# no degraded=, same first hit as a plain search).
. "$(dirname "$0")/_lib.sh"
set -u
B=$EDGEKB
KB=$TMPDIR/kb
elements_kb "$KB" elements_docs.jsonl
root=$(cd "$(dirname "$0")/../.." && pwd)
{ cat "$root/board/x86_64-generic.conf"; echo "SEARCH_MS = 20"; } >"$TMPDIR/board.conf"
serve() { # serve SOCK LOG [env...]
  sock=$1; log=$2; shift 2
  env "$@" "$B" --board "$TMPDIR/board.conf" serve --kb "$KB" --sock "$sock" --serial none >"$log" 2>&1 &
  SP=$!
  wait_sock "$sock" "$log"
}
Q="which gas is used in advertising lamps and glows red"
serve "$TMPDIR/a.sock" "$TMPDIR/a.log" EDGEKB_TEST_SLOW_SEARCH_MS=60
trap 'kill -9 $SP 2>/dev/null' EXIT
/usr/bin/python3 - "$TMPDIR/a.sock" "$Q" <<'PY' || exit 1
import re, socket, sys
sock, q = sys.argv[1:3]
s = socket.socket(socket.AF_UNIX); s.connect(sock); f = s.makefile("rwb")
def req(line):
    f.write(line.encode() + b"\n"); f.flush()
    head = f.readline().decode()
    m = re.match(r"OK (\d+)", head)
    return head.strip(), [f.readline().decode() for _ in range(int(m.group(1)))] if m else []
def fail(m):
    print("FAIL: " + m); sys.exit(1)
for mode in ("text", "hybrid"):
    for attempt in range(2):  # the second: would be a cache hit if a partial answer had been stored
        head, rows = req("SEARCH %s 3 %s" % (mode, q))
        if head != "OK 3 degraded=deadline" or len(rows) != 3:
            fail("SEARCH %s past its deadline (attempt %d): %r %r" % (mode, attempt + 1, head, rows))
if req("PING")[0] != "OK PONG":
    fail("PING after the deadlines")
met = "".join(req("METRICS")[1])
m = re.search(r'edgekb_cache_hits_total\{cmd="SEARCH"\} (\d+)', met)
if m and int(m.group(1)) != 0:
    fail("a partial answer was served from the cache: " + m.group(0))
PY
kill $SP; wait $SP 2>/dev/null
grep -q "EDGEKB_TEST_SLOW_SEARCH_MS=60" "$TMPDIR/a.log" || { echo "FAIL: the test hook was not announced"; exit 1; }
serve "$TMPDIR/b.sock" "$TMPDIR/b.log"
/usr/bin/python3 - "$TMPDIR/b.sock" "$Q" <<'PY' || exit 1
import re, socket, sys
sock, q = sys.argv[1:3]
s = socket.socket(socket.AF_UNIX); s.connect(sock); f = s.makefile("rwb")
f.write(("SEARCH hybrid 3 %s\n" % q).encode()); f.flush()
head = f.readline().decode().strip()
if head != "OK 3":
    print("FAIL: SEARCH in time: %r" % head); sys.exit(1)
print("ok: SEARCH past its 20 ms deadline (text, hybrid): OK 3 degraded=deadline, not cached, PING served; in time without the hook: %s" % head)
PY
rc=$?
kill $SP; wait $SP 2>/dev/null
exit $rc
