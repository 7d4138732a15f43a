# srv_cache.sh: the result cache of the real server over a real socket.
# A hit gives the bytes of the miss (FIND/ASK: all but the status line's
# ms=), blanks in the request do not matter, CRC connections get valid
# CRC lines from a hit; FACT ADD, DOC ADD and DOC DEL through the server,
# and an `edgekb ingest` by another process into the served KB, each make
# the next answer fresh (no stale row); INFO and METRICS count hits and
# misses per command. ASK also looks up the question as read (kind,
# subject, relation, object): another wording read alike is a hit
# (METRICS edgekb_cache_ask_read_hits_total), and answers in the
# question's own words are not shared between spellings.
. "$(dirname "$0")/_lib.sh"
set -u
B=$EDGEKB
KB=$TMPDIR/kb
S=$TMPDIR/s.sock
elements_kb "$KB" elements_docs.jsonl elements_facts.tsv
"$B" serve --kb "$KB" --sock "$S" >"$TMPDIR/serve.log" 2>&1 &
SP=$!
trap 'kill -9 $SP 2>/dev/null' EXIT
wait_sock "$S" "$TMPDIR/serve.log"
printf '{"id": "ext:1", "title": "Quasarium", "text": "Quasarium is a made-up metal that glows under zorbic light."}\n' >"$TMPDIR/ext.jsonl"
/usr/bin/python3 - "$S" "$B" "$KB" "$TMPDIR/ext.jsonl" <<'PY'
import re, socket, subprocess, sys
sock, exe, kb, ext = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX); s.connect(sock); f = s.makefile("rwb")
def fail(m):
    print("FAIL: " + m); sys.exit(1)
def req(line, payload=None):
    f.write(line.encode() + b"\n")
    if payload is not None:
        f.write(payload + b"\n")
    f.flush()
    head = f.readline().decode()
    rows = []
    m = re.match(r"OK (\d+)", head)
    if m:
        rows = [f.readline().decode() for _ in range(int(m.group(1)))]
    return head, rows
def info(key):
    for r in req("INFO")[1]:
        if r.startswith(key + "="):
            return r.strip()
    fail("INFO has no " + key)
def nostatus_ms(h):
    return re.sub(r" ms=[0-9.]+", "", h)
checks = 0
# hits give the miss's bytes; blanks do not matter
for q in ["SEARCH text 5 noble gas", "SEARCH hybrid 3 lightest element", "SEARCH vector 4 a soft metal", "EMBED helium"]:
    a = req(q); b = req(q); c = req(q.replace(" ", "   ") + "  ")
    if a != b or a != c:
        fail("%s: a hit differs from the miss: %r / %r / %r" % (q, a[0], b[0], c[0]))
    checks += 1
for q in ["FIND Iron | atomic number | ?", "ASK What is the atomic number of iron?", "ASK Which element has atomic number 26?"]:
    a = req(q); b = req(q)
    if nostatus_ms(a[0]) != nostatus_ms(b[0]) or a[1] != b[1] or not a[0].startswith("OK"):
        fail("%s: hit %r %r vs miss %r %r" % (q, b[0], b[1][:2], a[0], a[1][:2]))
    checks += 1
ci = info("cache")
m = re.search(r"SEARCH (\d+)/(\d+), FIND (\d+)/(\d+), ASK (\d+)/(\d+), EMBED (\d+)/(\d+)", ci)
if not m or [int(x) for x in m.groups()] != [6, 9, 1, 2, 2, 4, 2, 3]:
    fail("INFO cache counts: " + ci)
checks += 1
met = "".join(req("METRICS")[1])
if 'edgekb_cache_hits_total{cmd="SEARCH"} 6' not in met or 'edgekb_cache_misses_total{cmd="ASK"} 2' not in met:
    fail("METRICS cache counters:\n" + "\n".join(l for l in met.splitlines() if "cache" in l))
checks += 1
# ASK by the question as read: another wording read alike is a hit with the same answer; a yes/no
# answer that repeats the question's own words is not shared between spellings
def read_hits():
    m = re.search(r"edgekb_cache_ask_read_hits_total (\d+)", "".join(req("METRICS")[1]))
    return int(m.group(1)) if m else -1
r0 = read_hits()
a = req("ASK Tell me about neon"); b = req("ASK Describe neon.")
if not a[0].startswith("OK") or nostatus_ms(a[0]) != nostatus_ms(b[0]) or a[1] != b[1] or read_hits() != r0 + 1:
    fail("ASK read alike: %r %r vs %r %r (read hits %d -> %d)" % (a[0], a[1][:1], b[0], b[1][:1], r0, read_hits()))
a = req("ASK Is argon a noble gas?"); b = req("ASK Is Argon a noble gas?")
if "argon is" not in a[1][0] or "Argon is" not in b[1][0]:
    fail("a yes/no answer in the question's own words was shared: %r / %r" % (a[1][:1], b[1][:1]))
checks += 1
# FIND: a tier-0 answer is shared by every ASCII-case spelling of its names (same bytes), a tier-1
# answer (it quotes the words as typed) is not
def find_hits():
    m = re.search(r'edgekb_cache_hits_total\{cmd="FIND"\} (\d+)', "".join(req("METRICS")[1]))
    return int(m.group(1)) if m else -1
a = req("FIND Neon | atomic number | ?")
h0 = find_hits()
b = req("FIND NEON |  Atomic Number | ?")
if not a[0].startswith("OK 1 tier=0") or nostatus_ms(a[0]) != nostatus_ms(b[0]) or a[1] != b[1] or find_hits() != h0 + 1:
    fail("FIND spelled in other case: %r %r vs %r %r (hits %d -> %d)" % (a[0], a[1], b[0], b[1], h0, find_hits()))
a = req("FIND Neonn | atomic number | ?")
h0 = find_hits()
b = req("FIND NEONN | atomic number | ?")
if not a[0].startswith("OK 1 tier=1") or find_hits() != h0 or '"Neonn"' not in a[1][0] or '"NEONN"' not in b[1][0]:
    fail("a tier-1 FIND shared between spellings: %r / %r (hits %d -> %d)" % (a[1][:1], b[1][:1], h0, find_hits()))
checks += 1
# a FACT ADD through the server: the next FIND and ASK are fresh
q = "FIND Iron | discovered by | ?"
before = req(q); req(q)
h = req("FACT ADD Iron | discovered by | Ancient smiths")[0]
if not h.startswith("OK"):
    fail("FACT ADD: " + h)
after = req(q)
if not any("Ancient smiths" in r for r in after[1]):
    fail("FIND after FACT ADD is stale: %r %r (before %r)" % (after[0], after[1], before[1]))
if not any("Ancient smiths" in r for r in req("ASK Who discovered iron?")[1]):
    fail("ASK after FACT ADD is stale")
checks += 1
# DOC ADD then DOC DEL: the search follows both
q = "SEARCH text 5 florbium"
if req(q)[0] != "OK 0\n":
    fail("florbium found before it was added")
req(q)
body = b"Florbium is a fictional element found in test files."
h = req("DOC ADD %d test:florbium Florbium" % len(body), body)[0]
if not h.startswith("OK ADDED"):
    fail("DOC ADD: " + h)
r = req(q)
if not r[0].startswith("OK 1") or "test:florbium" not in r[1][0]:
    fail("SEARCH after DOC ADD is stale: %r" % (r,))
req(q)
if not req("DOC DEL test:florbium")[0].startswith("OK"):
    fail("DOC DEL")
if req(q)[0] != "OK 0\n":
    fail("SEARCH after DOC DEL is stale")
checks += 1
# another process writes into the served KB: the cache sees the commit
q = "SEARCH text 5 quasarium zorbic"
if req(q)[0] != "OK 0\n":
    fail("quasarium found before the ingest")
req(q)
p = subprocess.run([exe, "-q", "ingest", "--kb", kb, ext], capture_output=True, text=True)
if p.returncode != 0:
    fail("external ingest: " + p.stderr)
r = req(q)
if not r[0].startswith("OK 1"):
    fail("SEARCH after another process's ingest is stale: %r" % (r,))
checks += 1
# CRC mode: a hit's lines carry valid CRCs (the same text as without CRC)
q = "SEARCH text 3 noble gas"
plain = req(q)
import binascii
def crc_ok(l):
    body, _, c = l.rstrip("\n").rpartition("*")
    return c.upper() == "%04X" % binascii.crc_hqx(body.encode(), 0xFFFF)
f.write(b"CRC ON\n"); f.flush(); f.readline()
f.write(("%s*%04X\n" % (q, binascii.crc_hqx(q.encode(), 0xFFFF))).encode()); f.flush()
head = f.readline().decode()
if not re.match(r"OK 3\*[0-9A-Fa-f]{4}\n", head) or not crc_ok(head):
    fail("CRC hit status line: %r" % head)
lines = [f.readline().decode() for _ in range(3)]
if not all(crc_ok(l) for l in lines) or [l.rsplit("*", 1)[0] + "\n" for l in lines] != plain[1]:
    fail("CRC hit rows differ from the plain ones: %r" % lines)
checks += 1
print("ok: %d cache checks: hits equal misses (blanks squeezed, CRC), ASK wordings read alike share an entry, FACT ADD / DOC ADD / DOC DEL / another process's ingest invalidate, INFO and METRICS counts" % checks)
PY
rc=$?
kill $SP; wait $SP 2>/dev/null
exit $rc
