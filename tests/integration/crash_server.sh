# crash_server.sh: kill -9 the server at CRASH_POINTS (default 150) random
# moments while a client writes over the socket: DOC ADD (documents of 1 to
# 40 sentences), DOC DEL, FACT ADD, FACT DEL, one after another. A write
# is acknowledged by its OK reply; the one in flight when the server died
# is unknown (left out of the checks). At each restart, before writing
# more (for every write acknowledged since the last start and 100 older
# ones at random; at the last start for all), each acknowledged document
# comes back byte for byte (DOC GET) and
# by a text search for its own marker, every acknowledged fact is found,
# and nothing acknowledged as deleted is there; every 10 kills `edgekb kb
# check` (integrity, foreign keys, the index verified or rebuilt) runs on
# the stopped KB. Prints the kill points, writes acknowledged and checks.
. "$(dirname "$0")/_lib.sh"
set -u
B=$EDGEKB
KB=$TMPDIR/kb
S=$TMPDIR/s.sock
ST=$TMPDIR/state.json
N=${CRASH_POINTS:-150}
expect_rc 0 "$B" -q kb init --kb "$KB" --model "$TMPDIR/none.gguf"
echo '{"docs": {}, "facts": [], "gone_docs": [], "gone_facts": [], "n": 0, "checks": 0, "acks": 0}' >"$ST"
seed=11; p=0
while [ $p -le "$N" ]; do  # the last start (p = N + 1) only checks the last kill
  p=$((p + 1))
  rm -f "$S"
  "$B" -q serve --kb "$KB" --sock "$S" --serial none --lm none --cache off >"$TMPDIR/serve.log" 2>&1 &
  SP=$!
  wait_sock "$S" "$TMPDIR/serve.log"
  seed=$(( (seed * 1103515245 + 12345) % 2147483648 ))
  ms=$(( 30 + seed % 300 ))
  /usr/bin/python3 - "$S" "$ST" "$p" "$N" <<'PY' &
import json, random, re, socket, sys
sock, stf, point, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
st = json.load(open(stf))
def save():
    json.dump(st, open(stf + ".tmp", "w")); __import__("os").replace(stf + ".tmp", stf)
s = socket.socket(socket.AF_UNIX); s.connect(sock); f = s.makefile("rwb")
def req(line, payload=None):
    f.write(line.encode() + b"\n" + (payload + b"\n" if payload is not None else b"")); f.flush()
    head = f.readline()
    if not head:
        raise EOFError
    head = head.decode()
    rows = []
    m = re.match(r"OK (\d+)", head)
    if m:
        rows = [f.readline() for _ in range(int(m.group(1)))]
    elif head.startswith("OK PAYLOAD "):
        rows = [f.read(int(head.split()[2]) + 1)]
    return head, rows
def bad(m):
    open(stf + ".fail", "w").write("point %d: %s\n" % (point, m)); sys.exit(1)
# the checks: what was acknowledged since the last start, 100 older ones at random (all at the end)
fresh = set(st.get("fresh", []))
chk = random.Random(point * 7919)
def pick(items, key):
    old = [x for x in items if key(x) not in fresh]
    return [x for x in items if key(x) in fresh] + (old if point > last else chk.sample(old, min(100, len(old))))
for did, body in pick(list(st["docs"].items()), lambda x: x[0]):
    h, rows = req("DOC GET " + did)
    if not h.startswith("OK PAYLOAD") or rows[0][:-1].decode() != body:
        bad("acknowledged %s: %r" % (did, h))
    h, rows = req("SEARCH text 3 marker%s" % did.replace("-", ""))
    if not any(("\t%s\t" % did) in r.decode() for r in rows):
        bad("acknowledged %s not found by its marker: %r" % (did, h))
    st["checks"] += 2
for did in pick(st["gone_docs"], lambda x: x):
    if not req("DOC GET " + did)[0].startswith("ERR NOTFOUND"):
        bad("deleted %s is back" % did)
    st["checks"] += 1
def stored(fa):  # FIND links names loosely (typos): the row of exactly this subject and object
    h, rows = req("FIND %s | %s | %s" % tuple(fa))
    return h, any(r.decode().split("\t")[:3] == [fa[0], fa[1], fa[2]] for r in rows)
for fa in pick(st["facts"], lambda x: x[0]):
    h, there = stored(fa)
    if not there:
        bad("acknowledged fact %r: %r" % (fa, h))
    st["checks"] += 1
for fa in pick(st["gone_facts"], lambda x: x[0]):
    h, there = stored(fa)
    if there:
        bad("deleted fact %r is back" % (fa,))
    st["checks"] += 1
st["fresh"] = []
save()
open(stf + ".ready", "w").write("1")
if point > last:
    sys.exit(0)
rnd = random.Random(point)
try:
    while True:
        st["n"] += 1
        n = st["n"]
        k = rnd.randrange(4)
        if k == 0 or not st["docs"]:
            did = "c%d" % n
            body = " ".join("Sentence %d of crash document %d with marker%s inside." % (j, n, did) for j in range(1 + rnd.randrange(40)))
            st["unknown"] = did
            h, _ = req("DOC ADD %d %s crash doc" % (len(body.encode()), did), body.encode())
            if h.startswith("OK ADDED"):
                st["docs"][did] = body; st["acks"] += 1; st["fresh"].append(did)
        elif k == 1:
            did = rnd.choice(sorted(st["docs"]))
            body = st["docs"].pop(did)  # unknown until acknowledged
            h, _ = req("DOC DEL " + did)
            if h.startswith("OK"):
                st["gone_docs"].append(did); st["acks"] += 1; st["fresh"].append(did)
            else:
                st["docs"][did] = body
        elif k == 2:
            fa = ["crashthing%d" % n, "made of", "stuff%d" % (n % 7)]
            h, _ = req("FACT ADD %s | %s | %s" % tuple(fa))
            if h.startswith("OK"):
                st["facts"].append(fa); st["acks"] += 1; st["fresh"].append(fa[0])
        elif st["facts"]:
            fa = st["facts"].pop(rnd.randrange(len(st["facts"])))
            h, _ = req("FACT DEL %s | %s | %s" % tuple(fa))
            if h.startswith("OK"):
                st["gone_facts"].append(fa); st["acks"] += 1; st["fresh"].append(fa[0])
            else:
                st["facts"].append(fa)
        save()
except (EOFError, OSError):
    pass  # the server was killed: the write in flight is neither in nor out of the checks
save()
PY
  CP=$!
  i=0; while [ ! -f "$ST.ready" ] && kill -0 $CP 2>/dev/null && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
  rm -f "$ST.ready"
  sleep "$(awk "BEGIN{print $ms/1000}")"
  if [ $p -gt "$N" ]; then
    wait $CP; kill -TERM $SP; wait $SP
  else
    kill -9 $SP 2>/dev/null; wait $SP 2>/dev/null; wait $CP
  fi
  [ -f "$ST.fail" ] && { echo "FAIL: $(cat "$ST.fail")"; exit 1; }
  if [ $((p % 10)) -eq 0 ]; then
    expect_rc 0 "$B" -q kb check --kb "$KB"
    expect_out 'integrity ok'
    expect_out 'index.hnsw ok'
  fi
done
expect_rc 0 "$B" -q kb check --kb "$KB"
expect_out 'integrity ok'
/usr/bin/python3 -c 'import json, sys; st = json.load(open(sys.argv[1])); print("ok: %s kill -9 points during socket writes: %d writes acknowledged (DOC ADD/DEL, FACT ADD/DEL), %d checks after the restarts (DOC GET bytes, search by marker, FIND, deletions), 0 lost; kb check every 10 kills" % (sys.argv[2], st["acks"], st["checks"]))' "$ST" "$N"
