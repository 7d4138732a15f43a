# soak.sh: the real server under a mixed load for SOAK_SECS (default 20;
# `SOAK_SECS=3600 sh tests/integration/soak.sh` for an hour): 6 clients
# over the socket, each in a loop of SEARCH (3 modes), FIND, ASK, EMBED,
# DOC ADD / DOC GET / DOC DEL of its own documents and FACT ADD / FACT DEL,
# with the result cache on. Checked: every reply is OK (or ERR BUSY, counted;
# a DOC GET told BUSY is asked again), every DOC GET gives back the bytes added, no connection drops, the
# server's RSS in the last third of the run is within 8 MB of the first
# third's peak (nothing grows with the requests), the server stops cleanly
# on SIGTERM and the knowledge base passes `edgekb kb check` afterwards.
# Prints requests per second, errors and the RSS at the thirds.
. "$(dirname "$0")/_lib.sh"
set -u
B=$EDGEKB
KB=$TMPDIR/kb
S=$TMPDIR/s.sock
elements_kb "$KB" elements_docs.jsonl elements_facts.tsv
"$B" serve --kb "$KB" --sock "$S" --serial none --lm none >"$TMPDIR/serve.log" 2>&1 &
SP=$!
trap 'kill -9 $SP 2>/dev/null' EXIT
wait_sock "$S" "$TMPDIR/serve.log"
/usr/bin/python3 - "$S" "$SP" "${SOAK_SECS:-20}" <<'PY' || exit 1
import random, re, socket, sys, threading, time
sock, pid, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
stop = time.time() + secs
lock = threading.Lock()
stats = {"req": 0, "busy": 0}
errors = []
def rss_kb():
    for l in open("/proc/%s/status" % pid):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])
    return -1
def client(n):
    rnd = random.Random(n)
    s = socket.socket(socket.AF_UNIX); s.connect(sock); f = s.makefile("rwb")
    def req(line, payload=None):
        f.write(line.encode() + b"\n")
        if payload is not None:
            f.write(payload + b"\n")
        f.flush()
        head = f.readline().decode()
        if not head:
            raise RuntimeError("connection dropped after %r" % line)
        rows = []
        m = re.match(r"OK (\d+)", head)
        if m:
            rows = [f.readline() for _ in range(int(m.group(1)))]
        elif head.startswith("OK PAYLOAD "):
            k = int(head.split()[2])
            rows = [f.read(k + 1)]
        with lock:
            stats["req"] += 1
            if head.startswith("ERR BUSY"):
                stats["busy"] += 1
        if not head.startswith("OK") and not head.startswith("ERR BUSY"):
            raise RuntimeError("%r -> %r" % (line, head))
        return head, rows
    names = ["hydrogen", "helium", "lithium", "carbon", "neon", "argon", "iron", "copper", "gold", "xenon"]
    i = 0
    try:
        while time.time() < stop:
            e = rnd.choice(names); i += 1
            k = rnd.randrange(9)
            if k < 3:
                req("SEARCH %s %d which element like %s is used in lamps %d" % (("text", "vector", "hybrid")[k], 1 + rnd.randrange(8), e, rnd.randrange(50)))
            elif k == 3:
                req("FIND %s | %s | ?" % (e, rnd.choice(["symbol", "atomic number", "is a kind of", "group"])))
            elif k == 4:
                req("ASK %s" % rnd.choice(["What is the symbol of %s?", "Tell me about %s", "Is %s a noble gas?", "Which element has the symbol %s?"]) % e)
            elif k == 5:
                req("EMBED %s and its isotopes %d" % (e, rnd.randrange(1000)))
            elif k == 6:
                body = ("Soak note %d of client %d about %s. " % (i, n, e) * (1 + rnd.randrange(40))).encode()
                did = "soak-%d-%d" % (n, i)
                h, _ = req("DOC ADD %d %s soak" % (len(body), did), body)
                if h.startswith("OK ADDED"):
                    for _ in range(50):  # ERR BUSY while both payload buffers are taken: retried
                        h, rows = req("DOC GET %s" % did)
                        if not h.startswith("ERR BUSY"):
                            break
                        time.sleep(0.01)
                    if not h.startswith("OK PAYLOAD") or rows[0][:-1] != body:
                        got = rows[0][:-1] if rows else b""
                        at = next((j for j in range(min(len(got), len(body))) if got[j] != body[j]), min(len(got), len(body)))
                        raise RuntimeError("DOC GET %s: %r, %d bytes back for %d, first difference at %d: %r vs %r" %
                                           (did, h.strip(), len(got), len(body), at, got[at:at + 40], body[at:at + 40]))
                    req("DOC DEL %s" % did)
            else:
                req("FACT ADD soakthing%d | soaks in | %s" % (n, e))
                req("FACT DEL soakthing%d | soaks in | %s" % (n, e))
    except Exception as ex:
        with lock:
            errors.append("client %d: %s" % (n, ex))
threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
t0 = time.time()
for t in threads:
    t.start()
samples = []
while any(t.is_alive() for t in threads):
    samples.append((time.time() - t0, rss_kb()))
    time.sleep(0.5)
for t in threads:
    t.join()
el = time.time() - t0
if errors:
    print("FAIL: " + "; ".join(errors[:5])); sys.exit(1)
third = [s[1] for s in samples if s[0] < el / 3], [s[1] for s in samples if s[0] > 2 * el / 3]
first, last = max(third[0] or [0]), max(third[1] or [0])
if last > first + 8 * 1024:
    print("FAIL: RSS grew from %d KB (first third's peak) to %d KB (last third's)" % (first, last)); sys.exit(1)
print("ok: soak %.0f s, 6 clients: %d requests (%.0f/s), %d ERR BUSY, 0 other errors, DOC GET bytes checked, RSS %d KB first third -> %d KB last third" %
      (el, stats["req"], stats["req"] / el, stats["busy"], first, last))
PY
kill -TERM $SP; wait $SP; rc=$?
[ $rc -eq 0 ] || { echo "FAIL: the server exited $rc after SIGTERM"; tail -5 "$TMPDIR/serve.log"; exit 1; }
expect_rc 0 "$B" -q kb check --kb "$KB"
exit 0
