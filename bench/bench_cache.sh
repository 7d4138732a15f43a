# bench_cache.sh: the result cache on a replayed, skewed query log.
#
# The elements dev set (../shared/eval-dev) served with USE-lite; the log:
# 4,000 requests drawn from 400 distinct ones (the 100 dev questions as
# ASK and as SEARCH hybrid 5, 200 FIND s | p | ? from the facts file) by a
# Zipf law of exponent 1.0 over a shuffled rank (seed 7: a few requests
# very often, most rarely), one client, sequential. Prints
#   bench cache log=zipf1.0 requests= distinct= hit_rate= hit_p50_us= hit_p95_us= miss_p50_us= miss_p95_us=
#       (server-side, from INFO's cache line: a request's time in its worker)
#   bench cache_client kind=hit|miss p50_us= p95_us=
#       (round trips over the socket, by whether INFO's hit count moved)
# and then the same log with the cache off (serve --cache off):
#   bench cache_off requests= p50_us= p95_us=
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
E=${SHARED:-$root/../shared}/eval-dev
[ -r "$E/elements_docs.jsonl" ] || { echo "bench cache skipped=\"no eval-dev set\""; exit 0; }
export EDGEKB_MODEL_DIR=${MODELS_DIR:-$root/build/models}
W=${TMPDIR:-/tmp}/bench-cache.$$
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT
"$EDGEKB" -q kb init --kb "$W/kb" >/dev/null || exit 1
"$EDGEKB" -q ingest --kb "$W/kb" "$E/elements_docs.jsonl" "$E/elements_facts.tsv" >/dev/null 2>&1 || exit 1
run() { # run LABEL [serve flags...]
  label=$1; shift
  "$EDGEKB" serve --kb "$W/kb" --sock "$W/s.sock" "$@" >"$W/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do [ -S "$W/s.sock" ] && break; sleep 0.1; done
  /usr/bin/python3 - "$W/s.sock" "$E" "$label" <<'PYEOF'
import json, random, re, socket, sys, time
sock, E, label = sys.argv[1:4]
qs = [json.loads(l)["question"] for l in open(E + "/elements_questions.jsonl")]
facts = [l.rstrip("\n").split("\t") for l in open(E + "/elements_facts.tsv") if l.count("\t") == 2]
rnd = random.Random(7)
rnd.shuffle(facts)
pool = ["ASK " + q for q in qs] + ["SEARCH hybrid 5 " + q for q in qs] + \
       ["FIND %s | %s | ?" % (f[0], f[1]) for f in facts[:200]]
rnd.shuffle(pool)
w = [1.0 / (r + 1) for r in range(len(pool))]
log = rnd.choices(pool, weights=w, k=4000)
s = socket.socket(socket.AF_UNIX); s.connect(sock); f = s.makefile("rwb")
def req(line):
    f.write(line.encode() + b"\n"); f.flush()
    head = f.readline().decode()
    m = re.match(r"OK (\d+)", head)
    rows = [f.readline().decode() for _ in range(int(m.group(1)))] if m else []
    return head, rows
def hits():
    for r in req("INFO")[1]:
        if r.startswith("cache=hits"):
            return int(r.split()[1].rstrip(",")), r
    return None, ""
t = {"hit": [], "miss": []}
allt = []
for q in log:
    h0, _ = hits() if label == "on" else (None, "")
    t0 = time.perf_counter()
    req(q)
    dt = (time.perf_counter() - t0) * 1e6
    allt.append(dt)
    if label == "on":
        h1, _ = hits()
        t["hit" if h1 > h0 else "miss"].append(dt)
def pct(a, p):
    a = sorted(a)
    return a[min(len(a) - 1, int(p * len(a)))] if a else 0.0
if label == "on":
    _, line = hits()
    m = re.search(r"hits (\d+), misses (\d+), hit rate ([0-9.]+).*hit ([0-9.]+)/([0-9.]+), miss ([0-9.]+)/([0-9.]+)", line)
    print("bench cache log=zipf1.0 requests=%d distinct=%d hit_rate=%s hit_p50_us=%s hit_p95_us=%s miss_p50_us=%s miss_p95_us=%s"
          % (len(log), len(set(log)), m.group(3), m.group(4), m.group(5), m.group(6), m.group(7)))
    for k in ("hit", "miss"):
        print("bench cache_client kind=%s requests=%d p50_us=%.0f p95_us=%.0f" % (k, len(t[k]), pct(t[k], 0.5), pct(t[k], 0.95)))
else:
    print("bench cache_off requests=%d p50_us=%.0f p95_us=%.0f" % (len(allt), pct(allt, 0.5), pct(allt, 0.95)))
PYEOF
  kill "$pid"; wait "$pid" 2>/dev/null
  rm -f "$W/s.sock"
}
run on
run off --cache off
