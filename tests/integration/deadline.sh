# deadline.sh: SEARCH past its deadline ends cleanly with a partial answer.
# A board with SEARCH_MS = 20 and the test hook EDGEKB_TEST_SLOW_SEARCH_MS
# (each SEARCH starts 60 ms late): a question in text and hybrid mode comes
# back `OK <k> degraded=deadline` with k hits (the text leg's candidates
# ranked by their rarer words; hybrid without its vector leg), nothing of it
# is cached (asked again: degraded again, no cache hit), PING still answers,
# and the same server answers in time once the hook is off (a second server:
# no degraded=, same first hit as a plain search). Then the queue: with one
# worker busy on a FIND slowed to 400 ms, an EMBED and a FACT ADD queued
# behind it past EMBED_MS / WRITE_MS (100 ms) get ERR BUSY deadline and the
# fact is not written; with GEN_MS = 1 a GEN of 200 tokens ends after its
# first with `END tokens=1 reason=deadline` (when the decoder is there).
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
PY
[ $? -eq 0 ] || exit 1
kill $SP; wait $SP 2>/dev/null
# the queue: one worker busy 400 ms on a slowed FIND; an EMBED (EMBED_MS 100) and a FACT ADD (WRITE_MS
# 100) queued behind it are not run: ERR BUSY deadline, and the fact is not written. GEN_MS = 1: a GEN
# stops after its first token or so, END reason=deadline (with the decoder of ../shared/models)
{ cat "$root/board/x86_64-generic.conf"; echo "EMBED_MS = 100"; echo "WRITE_MS = 100"; echo "GEN_MS = 1"; } \
  >"$TMPDIR/board.conf"
B2() { env EDGEKB_TEST_SLOW_FIND_MS=400 "$B" --board "$TMPDIR/board.conf" serve --kb "$KB" --sock "$TMPDIR/c.sock" \
  --serial none --workers 1 --cache off >"$TMPDIR/c.log" 2>&1; }
B2 &
SP=$!
wait_sock "$TMPDIR/c.sock" "$TMPDIR/c.log"
/usr/bin/python3 - "$TMPDIR/c.sock" <<'PY'
import re, socket, sys, time
sock = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(sock); return s, s.makefile("rwb")
def fail(m):
    print("FAIL: " + m); sys.exit(1)
(sa, fa), (sb, fb), (sc, fc) = conn(), conn(), conn()
fa.write(b"FIND argon | ? | ?\n"); fa.flush()
time.sleep(0.05)
fb.write(b"EMBED argon\n"); fb.flush()
fc.write(b"FACT ADD quasarium | colour | zorbic\n"); fc.flush()
e = fb.readline().decode().strip(); w = fc.readline().decode().strip()
if not e.startswith("ERR BUSY deadline: waited") or not w.startswith("ERR BUSY deadline: waited"):
    fail("queued past their deadline: EMBED %r, FACT ADD %r" % (e, w))
if not fa.readline().decode().startswith("OK"):
    fail("the slow FIND")
fb.write(b"FIND quasarium | ? | ?\n"); fb.flush()
time.sleep(0.6)
r = fb.readline().decode().strip()
if not r.startswith("OK 0"):
    fail("the shed FACT ADD was written: %r" % r)
fb.write(b"GEN 200 Once upon a time\n"); fb.flush()
g = fb.readline().decode().strip()
gen = "no decoder: GEN not tried"
if g == "OK STREAM":
    n = 0
    while True:
        l = fb.readline().decode().strip()
        if not l.startswith("+"):
            break
        n += 1
    m = re.match(r"END tokens=(\d+) reason=deadline$", l)
    if not m or int(m.group(1)) != n or n >= 200:
        fail("GEN past GEN_MS: %r after %d tokens" % (l, n))
    gen = "GEN 200 past GEN_MS=1: %s" % l
elif not g.startswith("ERR UNAVAIL"):
    fail("GEN: %r" % g)
print(gen)
print("ok: SEARCH past its 20 ms deadline (text, hybrid): OK 3 degraded=deadline, not cached, PING served, in time without the hook; queued past their deadline behind a 400 ms FIND: %s / %s, nothing written" % (e, w))
PY
rc=$?
kill $SP; wait $SP 2>/dev/null
exit $rc
