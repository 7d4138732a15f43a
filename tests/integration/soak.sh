# soak.sh: the real server at its connection cap under a mixed load for
# SOAK_SECS (default 30; `SOAK_SECS=600 sh tests/integration/soak.sh`, and
# SOAK_WORDNET=1 for the WordNet knowledge base of ../shared/eval-dev, are
# what `make check-all` runs). 64 connections (the cap): 57 clients in a
# loop of SEARCH (3 modes), FIND, ASK, EMBED, DOC ADD / DOC GET / DOC DEL of
# their own documents and FACT ADD / FACT DEL; 2 that pipeline three
# requests per write; 2 that send malformed lines (bad UTF-8, missing
# arguments, unknown commands, an over-long line) between good ones; 1 slow
# reader of a 256 KB document (4 KB every 5 ms); 1 reading METRICS; and 1
# slot for a client
# that connects, sends half a DOC ADD payload and hangs up, again and
# again. A 65th connection while all 64 are held gets ERR BUSY too many
# clients. Checked: every reply is OK or the ERR it should be (ERR BUSY
# counted; a DOC GET told BUSY is asked again), every DOC GET gives back the
# bytes added, no connection drops but the ones that hang up themselves,
# RSS in the last third within 8 MB of the first third's peak and every
# arena budget's use the same at the end as after the first second, a clean
# SIGTERM and `edgekb kb check` after. Prints requests/s, ERR BUSY (clients back off
# 5-20 ms after one), RSS and p50/p99 per command of the answered requests.
. "$(dirname "$0")/_lib.sh"
set -u
B=$EDGEKB
KB=$TMPDIR/kb
S=$TMPDIR/s.sock
WN=$SHARED/eval-dev/wordnet
if [ "${SOAK_WORDNET:-0}" = 1 ] && [ -r "$WN/facts.tsv" ]; then
  expect_rc 0 "$B" -q kb init --kb "$KB" --model "$TMPDIR/none.gguf"
  expect_rc 0 "$B" -q ingest --kb "$KB" "$WN/predicates.jsonl" "$WN/entities.jsonl" "$WN/facts.tsv" "$SHARED/eval-dev/elements_docs.jsonl"
else
  elements_kb "$KB" elements_docs.jsonl elements_facts.tsv
fi
"$B" serve --kb "$KB" --sock "$S" --serial none --lm none >"$TMPDIR/serve.log" 2>&1 &
SP=$!
trap 'kill -9 $SP 2>/dev/null' EXIT
wait_sock "$S" "$TMPDIR/serve.log"
/usr/bin/python3 - "$S" "$SP" "${SOAK_SECS:-30}" <<'PY' || exit 1
import random, re, socket, sys, threading, time
sock, pid, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
lock = threading.Lock()
stats = {"req": 0, "busy": 0, "hangups": 0, "bad": 0}
lat = {}
errors = []
def fail(m):
    print("FAIL: " + m); sys.exit(1)
def rss_kb():
    for l in open("/proc/%s/status" % pid):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])
    return -1
class Client:
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX); self.s.connect(sock); self.f = self.s.makefile("rwb")
    def send(self, data):
        self.f.write(data); self.f.flush()
    def close(self):  # the makefile holds the socket open too
        self.f.close(); self.s.close()
    def reply(self, line):
        head = self.f.readline().decode(errors="replace")
        if not head:
            raise RuntimeError("connection dropped after %r" % line[:60])
        rows = []
        m = re.match(r"OK (\d+)", head)
        if m:
            rows = [self.f.readline() for _ in range(int(m.group(1)))]
        elif head.startswith("OK PAYLOAD "):
            rows = [self.f.read(int(head.split()[2]) + 1)]
        return head, rows
    def req(self, line, payload=None, want_ok=True):
        t0 = time.perf_counter()
        self.send(line.encode() + b"\n" + (payload + b"\n" if payload is not None else b""))
        head, rows = self.reply(line)
        ms = (time.perf_counter() - t0) * 1e3
        cmd = " ".join(line.split()[:2]) if line.startswith(("DOC", "FACT")) else line.split()[0]
        with lock:
            stats["req"] += 1
            if head.startswith("OK"):  # latency of the answered ones
                lat.setdefault(cmd, []).append(ms)
            if head.startswith("ERR BUSY"):
                stats["busy"] += 1
        if head.startswith("ERR BUSY"):
            time.sleep(random.uniform(0.005, 0.02))  # clients back off when told BUSY
        if want_ok and not head.startswith("OK") and not head.startswith("ERR BUSY"):
            raise RuntimeError("%r -> %r" % (line[:60], head))
        return head, rows
names = ["hydrogen", "helium", "lithium", "carbon", "neon", "argon", "iron", "copper", "gold", "xenon", "dog", "oak"]
stop_at = [0.0]
def mixed(n):
    rnd = random.Random(n); c = Client(); i = 0
    while time.time() < stop_at[0]:
        e = rnd.choice(names); i += 1; k = rnd.randrange(9)
        if k < 3:
            c.req("SEARCH %s %d which thing like %s is used in lamps %d" % (("text", "vector", "hybrid")[k], 1 + rnd.randrange(8), e, rnd.randrange(50)))
        elif k == 3:
            c.req("FIND %s | %s | ?" % (e, rnd.choice(["symbol", "atomic number", "is a kind of", "has part"])))
        elif k == 4:
            c.req("ASK %s" % rnd.choice(["What is the symbol of %s?", "Tell me about %s", "Is %s a noble gas?", "What is %s a kind of?"]) % e)
        elif k == 5:
            c.req("EMBED %s and its isotopes %d" % (e, rnd.randrange(1000)))
        elif k == 6:
            body = ("Soak note %d of client %d about %s. " % (i, n, e) * (1 + rnd.randrange(40))).encode()
            did = "soak-%d-%d" % (n, i)
            h, _ = c.req("DOC ADD %d %s soak" % (len(body), did), body)
            if h.startswith("OK ADDED"):
                for _ in range(100):  # ERR BUSY while the payload buffers are taken: asked again
                    h, rows = c.req("DOC GET %s" % did)
                    if not h.startswith("ERR BUSY"):
                        break
                    time.sleep(0.01)
                if h.startswith("OK PAYLOAD") and rows[0][:-1] != body:
                    raise RuntimeError("DOC GET %s: other bytes" % did)
                if not h.startswith("OK PAYLOAD") and not h.startswith("ERR BUSY"):
                    raise RuntimeError("DOC GET %s: %r" % (did, h.strip()))
                with lock:
                    stats["got" if h.startswith("OK") else "get_busy"] = stats.get("got" if h.startswith("OK") else "get_busy", 0) + 1
                c.req("DOC DEL %s" % did)
        else:
            h, _ = c.req("FACT ADD soakthing%d | soaks in | %s" % (n, e))
            if h.startswith("OK"):
                c.req("FACT DEL soakthing%d | soaks in | %s" % (n, e))
def pipeliner(n):
    c = Client()
    while time.time() < stop_at[0]:
        lines = ["FIND argon | symbol | ?", "SEARCH text 3 noble gas %d" % n, "ASK What is the symbol of neon?"]
        c.send("".join(l + "\n" for l in lines).encode())
        for l in lines:
            h, _ = c.reply(l)
            if not h.startswith("OK") and not h.startswith("ERR BUSY"):
                raise RuntimeError("pipelined %r -> %r" % (l, h))
            with lock:
                stats["req"] += 1
def malformed(n):
    c = Client()
    bad = [(b"\xff\xfe\xfd garbage\n", "ERR"), (b"SEARCH\n", "ERR"), (b"FIND a | b\n", "ERR"), (b"FROB x\n", "ERR"),
           (b"DOC ADD x y\n", "ERR"), (b"ASK \xc3\x28\n", "ERR")]
    while time.time() < stop_at[0]:
        for data, want in bad:
            c.send(data)
            h, _ = c.reply(data.decode(errors="replace"))
            if not h.startswith(want):
                raise RuntimeError("malformed %r -> %r" % (data[:30], h))
            with lock:
                stats["req"] += 1; stats["bad"] += 1
        c.send(b"SEARCH text 2 " + b"x" * 70000 + b"\n")  # over the line limit: ERR TOOLONG once
        h, _ = c.reply("over-long")
        if not h.startswith("ERR TOOLONG"):
            raise RuntimeError("over-long line -> %r" % h)
        c.req("PING")
        time.sleep(0.002)
def slow_reader(n):
    c = Client()
    big = (b"Slow reader text line %d. " % n) * 10000
    for _ in range(500):  # ERR BUSY while the payload buffers are taken
        h, _ = c.req("DOC ADD %d slowdoc big" % len(big), big)
        if h.startswith("OK"):
            break
        time.sleep(0.01)
    while time.time() < stop_at[0]:
        c.send(b"DOC GET slowdoc\n")
        head = c.f.readline().decode()
        if head.startswith("ERR BUSY"):  # queue or payload buffers full: later
            time.sleep(0.01)
            continue
        if not head.startswith("OK PAYLOAD"):
            raise RuntimeError("slow DOC GET -> %r" % head)
        k, got = int(head.split()[2]) + 1, b""
        while len(got) < k:
            got += c.f.read(min(4096, k - len(got)))
            time.sleep(0.005)
        if got[:-1] != big:
            raise RuntimeError("slow reader: other bytes")
        with lock:
            stats["req"] += 1
def hangup(n):
    while time.time() < stop_at[0]:
        try:
            c = Client()
            c.send(b"DOC ADD 1000 cut half\n" + b"y" * 500)
            c.close()
            with lock:
                stats["hangups"] += 1
        except OSError:
            pass
        time.sleep(0.02)
def run(fn, n):
    try:
        fn(n)
    except Exception as ex:
        with lock:
            errors.append("%s %d: %s" % (fn.__name__, n, ex))
roles = [mixed] * 57 + [pipeliner] * 2 + [malformed] * 2 + [slow_reader]
stop_at[0] = time.time() + 3600  # the connections first, then the clock
threads = [threading.Thread(target=run, args=(fn, n)) for n, fn in enumerate(roles)]
# 63 clients and a probe hold the 64 slots: a 65th is turned away
probe = Client()
probe.req("PING")
held = [Client() for _ in range(63)]
over = socket.socket(socket.AF_UNIX); over.connect(sock)
h = over.makefile("rb").readline().decode()
if not h.startswith("ERR BUSY too many clients"):
    fail("a 65th connection: %r" % h)
over.close(); probe.close()
for c in held:
    c.close()
for _ in range(100):  # until the server has seen the 64 go
    time.sleep(0.1)
    try:
        c = Client()
        m = re.search(rb"edgekb_clients (\d+)", b"".join(c.req("METRICS")[1]))
        c.close()
        if m and int(m.group(1)) <= 1:
            break
    except (OSError, RuntimeError):
        pass
monitor = Client()  # METRICS along the run: one of the 64
t0 = time.time()
stop_at[0] = t0 + secs
for t in threads:
    t.start()
hu = threading.Thread(target=run, args=(hangup, 99)); hu.start()
def arena():
    for _ in range(500):  # the queue may be full: asked again
        h, rows = monitor.req("METRICS")
        if h.startswith("OK"):
            break
        time.sleep(0.01)
    return {m.group(1): int(m.group(2)) for m in re.finditer(rb'edgekb_arena_used_bytes\{budget="(\w+)"\} (\d+)', b"".join(rows))}
time.sleep(1.0)
a0 = arena()
samples = []
while any(t.is_alive() for t in threads):
    samples.append((time.time() - t0, rss_kb()))
    monitor.req("PING")  # not idle: the server closes connections idle for idle_s
    time.sleep(0.5)
hu.join()
el = time.time() - t0
if errors:
    fail("; ".join(errors[:5]))
a1 = arena()
# scratch is per request (reset at its end): a0, read under load, may catch a request holding some;
# idle at the end it must hold none. Every other budget must not have moved.
s0, s1 = a0.pop(b"scratch", 0), a1.pop(b"scratch", 0)
if a0 != a1 or s1 != 0:
    fail("arena use moved: %r (scratch %d under load) -> %r (scratch %d idle)" % (a0, s0, a1, s1))
first = max([s[1] for s in samples if s[0] < el / 3] or [0])
last = max([s[1] for s in samples if s[0] > 2 * el / 3] or [0])
if last > first + 8 * 1024:
    fail("RSS grew from %d KB (first third's peak) to %d KB (last third's)" % (first, last))
pct = lambda v, p: sorted(v)[min(len(v) - 1, int(p * len(v)))]
per = ", ".join("%s %d p50 %.2f p99 %.2f" % (k, len(v), pct(v, 0.5), pct(v, 0.99)) for k, v in sorted(lat.items()))
if stats.get("got", 0) == 0:
    fail("no DOC GET came back to be checked")
print("ok: soak %.0f s at the 64-connection cap (a 65th turned away): %d requests (%.0f/s), %d ERR BUSY, %d malformed lines answered ERR, %d mid-payload hang-ups, 0 other errors, %d DOC GET bytes checked (%d still BUSY after 1 s), arena use unchanged, RSS %d KB first third -> %d KB last third; ms per command: %s" %
      (el, stats["req"], stats["req"] / el, stats["busy"], stats["bad"], stats["hangups"], stats.get("got", 0), stats.get("get_busy", 0), first, last, per))
PY
kill -TERM $SP; wait $SP; rc=$?
[ $rc -eq 0 ] || { echo "FAIL: the server exited $rc after SIGTERM"; tail -5 "$TMPDIR/serve.log"; exit 1; }
expect_rc 0 "$B" -q kb check --kb "$KB"
exit 0
