# obs.sh: what the server measures of itself, on the real binary over a
# real socket, a tmux terminal and a pty pair (docs/monitoring.md).
# A board with SLOWLOG_MS = 30 and SLO_WINDOW_S = 6, the cache off and
# the test hook EDGEKB_TEST_SLOW_FIND_MS = 40 (each FIND takes 40 ms more):
# - 25 FINDs: METRICS' FIND histogram counts 25, none under 25.6 ms; all
#   25 over tier 1's 15 ms budget (edgekb_slo_violations_total); HEALTH
#   says slo=t1 and the log "slo: tier 1 violating"; INFO's latency line
#   has FIND 25 with p50 >= 40 ms;
# - SLOWLOG: the newest first, each FIND with its text, tier and time;
#   LEN, RESET, and bad arguments (ERR ARGS);
# - 25 ASKs (not slowed) over the next 7 s: the slow FINDs leave the
#   window, "slo: tier 1 recovered", HEALTH slo=ok; each ASK stage counted;
# - METRICS passes `promtool check metrics`; the alerting rules pass
#   `promtool check rules` and their unit tests (`promtool test rules`);
#   every metric the rules and the Grafana dashboard use exists; the
#   textfile collector script writes a file promtool accepts;
# - `edgekb top` in tmux shows the view and quits on q + Enter; --plain
#   prints screens of at most 80 columns; over a pty pair (the serial
#   line of a second server) it shows the same view.
. "$(dirname "$0")/_lib.sh"
set -u
B=$EDGEKB
KB=$TMPDIR/kb
S=$TMPDIR/s.sock
root=$(cd "$(dirname "$0")/../.." && pwd)
PROMTOOL=$root/build/deps/tools/promtool
[ -x "$PROMTOOL" ] || { echo "FAIL: no $PROMTOOL (tools/deps.sh fetches it)"; exit 1; }
command -v tmux >/dev/null 2>&1 || { echo "FAIL: tmux not installed (tools/deps.sh installs it)"; exit 1; }
elements_kb "$KB" elements_docs.jsonl elements_facts.tsv
{ cat "$root/board/x86_64-generic.conf"; printf 'SLOWLOG_MS = 30\nSLO_WINDOW_S = 6\n'; } >"$TMPDIR/board.conf"
mkdir -p "$TMPDIR/thermal/thermal_zone0" && echo 47500 >"$TMPDIR/thermal/thermal_zone0/temp"
EDGEKB_TEST_SLOW_FIND_MS=40 "$B" --board "$TMPDIR/board.conf" serve --kb "$KB" --sock "$S" --serial none \
  --cache off --thermal-dir "$TMPDIR/thermal" >"$TMPDIR/serve.log" 2>&1 &
SP=$!
PIDS=$SP
TS=ekbtop$$
trap 'for p in $PIDS; do kill -9 $p 2>/dev/null; done; tmux kill-session -t $TS 2>/dev/null' EXIT
wait_sock "$S" "$TMPDIR/serve.log"
PYTHONPATH="$(dirname "$0")" /usr/bin/python3 - "$S" "$TMPDIR/serve.log" "$TMPDIR/metrics.prom" <<'PY' || exit 1
import re, sys, time
from ekbclient import Client, metric
sock, log, prom = sys.argv[1:4]
c = Client(sock)
def fail(m):
    print("FAIL: " + m); sys.exit(1)
N = 25
for i in range(N):
    h, rows = c.req("FIND Iron | atomic number | ?")
    if not h.startswith("OK 1 tier=0"):
        fail("FIND: %r" % h)
met = "\n".join(c.req("METRICS")[1])
lab = 'cmd="FIND"'
if metric(met, "edgekb_request_duration_seconds_count", lab) != N:
    fail("FIND histogram count: %r" % metric(met, "edgekb_request_duration_seconds_count", lab))
if metric(met, "edgekb_request_duration_seconds_bucket", lab + ',le="0.0256"') != 0:
    fail("FINDs of 40 ms+ counted under 25.6 ms")
if metric(met, "edgekb_request_duration_seconds_bucket", lab + ',le="+Inf"') != N:
    fail("+Inf bucket != count")
if metric(met, "edgekb_find_tier_duration_seconds_count", 'tier="0"') != N:
    fail("tier 0 histogram: %r" % metric(met, "edgekb_find_tier_duration_seconds_count", 'tier="0"'))
if metric(met, "edgekb_slo_violations_total", 'tier="1"') != N:
    fail("SLO violations of tier 1: %r" % metric(met, "edgekb_slo_violations_total", 'tier="1"'))
if metric(met, "edgekb_slo_violating", 'tier="1"') != 1 or metric(met, "edgekb_slo_violating", 'tier="2"') != 0:
    fail("edgekb_slo_violating")
# the loop notices within its tick (250 ms)
for _ in range(40):
    h = c.req("HEALTH")[0]
    if " slo=t1" in h:
        break
    time.sleep(0.1)
else:
    fail("HEALTH never said slo=t1: %r" % h)
if "slo: tier 1 violating" not in open(log).read():
    fail("the log does not say tier 1 is violating")
info = c.req("INFO")[1]
lat = [l for l in info if l.startswith("latency_ms=")]
m = re.search(r"FIND (\d+) ([0-9.]+)/([0-9.]+)/([0-9.]+)", lat[0] if lat else "")
if not m or int(m.group(1)) != N or float(m.group(2)) < 40:
    fail("INFO latency line: %r" % lat)
# the slow-query log: newest first, each with its text and time
h, rows = c.req("SLOWLOG 3")
if h != "OK 3" or len(rows) != 3:
    fail("SLOWLOG 3: %r" % h)
ids = []
for r in rows:
    f = r.split("\t")
    if len(f) != 7 or f[3] != "FIND" or float(f[2]) < 40 or "tier=0" not in f[4] or \
            f[6] != "Iron | atomic number | ?" or not f[5].startswith("tier=0 rows=1"):
        fail("SLOWLOG line: %r" % r)
    ids.append(int(f[0]))
if ids != sorted(ids, reverse=True) or ids[0] != N:
    fail("SLOWLOG order: %r" % ids)
h = c.req("SLOWLOG LEN")[0]
if h != "OK LEN 25 threshold_ms=30.0 capacity=128 total=25":
    fail("SLOWLOG LEN: %r" % h)
for bad in ["SLOWLOG 0", "SLOWLOG 2000", "SLOWLOG x", "SLOWLOG 3 4", "SLOWLOG RESET now"]:
    h = c.req(bad)[0]
    if not h.startswith("ERR ARGS"):
        fail("%s: %r" % (bad, h))
if c.req("SLOWLOG RESET")[0] != "OK RESET" or c.req("SLOWLOG")[0] != "OK 0":
    fail("SLOWLOG RESET")
# recovery: fast requests while the slow ones leave the 6 s window
t0 = time.time()
for i in range(N):
    h = c.req("ASK What is iron?")[0]
    if not h.startswith("OK") or "tier=0" not in h and "tier=1" not in h:
        fail("ASK: %r" % h)
    time.sleep(0.28)
for _ in range(60):
    h = c.req("HEALTH")[0]
    if " slo=ok" in h:
        break
    time.sleep(0.2)
else:
    fail("tier 1 never recovered: %r" % h)
if "slo: tier 1 recovered" not in open(log).read():
    fail("the log does not say tier 1 recovered")
met = "\n".join(c.req("METRICS")[1])
for st in ("parse", "link", "reason", "fallback"):
    if metric(met, "edgekb_ask_stage_duration_seconds_count", 'stage="%s"' % st) != N:
        fail("ASK stage %s: %r" % (st, metric(met, "edgekb_ask_stage_duration_seconds_count", 'stage="%s"' % st)))
if metric(met, "edgekb_temperature_celsius", 'zone="thermal_zone0"') != 47.5:
    fail("temperature: %r" % metric(met, "edgekb_temperature_celsius", 'zone="thermal_zone0"'))
if metric(met, "edgekb_slow_requests_total") != N:
    fail("edgekb_slow_requests_total: %r" % metric(met, "edgekb_slow_requests_total"))
open(prom, "w").write(met + "\n")
c.close()
print("ok: histograms, SLO violating and recovered, SLOWLOG, INFO")
PY
"$PROMTOOL" check metrics <"$TMPDIR/metrics.prom" || { echo "FAIL: promtool check metrics"; exit 1; }
M=$root/tools/monitoring
( cd "$M" && "$PROMTOOL" check rules edgekb.rules.yml >/dev/null && "$PROMTOOL" test rules edgekb.rules.test.yml >/dev/null ) ||
  { echo "FAIL: promtool check/test rules"; (cd "$M" && "$PROMTOOL" test rules edgekb.rules.test.yml); exit 1; }
# every edgekb_ name the rules and the dashboard use is a family METRICS has
/usr/bin/python3 - "$TMPDIR/metrics.prom" "$M/edgekb.rules.yml" "$M/edgekb.dashboard.json" <<'PY' || exit 1
import json, re, sys
have = set(re.findall(r"^# TYPE (\w+) ", open(sys.argv[1]).read(), re.M))
dash = json.load(open(sys.argv[3]))
exprs = open(sys.argv[2]).read() + " ".join(t["expr"] for p in dash["panels"] for t in p["targets"])
used = {re.sub(r"_(bucket|sum|count)$", "", n) for n in re.findall(r"\bedgekb_\w+", exprs)}
missing = sorted(n for n in used if n not in have)
if missing:
    print("FAIL: metrics used by the rules or the dashboard but not in METRICS: %s" % missing); sys.exit(1)
print("ok: %d metric families used by the rules and the %d-panel dashboard all exist" % (len(used), len(dash["panels"])))
PY
mkdir -p "$TMPDIR/textfile"
EDGEKB=$B sh "$M/edgekb-textfile.sh" "$S" "$TMPDIR/textfile" || { echo "FAIL: edgekb-textfile.sh"; exit 1; }
"$PROMTOOL" check metrics <"$TMPDIR/textfile/edgekb.prom" || { echo "FAIL: the textfile's metrics"; exit 1; }
[ -z "$(ls -A "$TMPDIR/textfile" | grep -v '^edgekb.prom$')" ] || { echo "FAIL: textfile temporaries left"; exit 1; }
# edgekb top in a terminal: the view, then q + Enter quits
tmux new-session -d -s $TS -x 100 -y 60 "$B top --sock $S --interval 0.5"
i=0; while [ $i -lt 50 ]; do
  tmux capture-pane -p -t $TS >"$TMPDIR/top.txt" 2>/dev/null
  grep -q 'SLOW QUERIES' "$TMPDIR/top.txt" && grep -q '^ASK ' "$TMPDIR/top.txt" && break
  sleep 0.1; i=$((i + 1))
done
for want in 'edgekb top' 'governor ok' 'temp 47.5 C' 'COMMAND +REQ/S' '^FIND +[0-9.]+ +25 ' '^ASK +[0-9.]+ +25 ' '^TIER' \
            '^1 .* t1 ok' 'cache hit rate' '^ARENA' '^core ' 'SLOW QUERIES' 'q Enter: quit'; do
  grep -Eq -- "$want" "$TMPDIR/top.txt" || { echo "FAIL: top lacks /$want/:"; cat "$TMPDIR/top.txt"; exit 1; }
done
tmux send-keys -t $TS q Enter
i=0; while tmux has-session -t $TS 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
tmux has-session -t $TS 2>/dev/null && { echo "FAIL: top did not quit on q"; exit 1; }
# plain: screens after dashed lines, 80 columns at most
expect_rc 0 "$B" top --sock "$S" --plain --count 2 --interval 0.3
[ "$(echo "$OUT" | grep -c '^----$')" = 2 ] || { echo "FAIL: top --plain --count 2:"; echo "$OUT"; exit 1; }
echo "$OUT" | awk 'length > 80 { bad = 1 } END { exit bad }' || { echo "FAIL: a line over 80 columns"; exit 1; }
expect_rc 2 "$B" top --sock "$S" --interval 0
expect_rc 1 "$B" top --sock "$TMPDIR/none.sock" --count 1
expect_out 'cannot open'
# over a serial line: a second server on one end of a pty pair, top on the other
command -v socat >/dev/null 2>&1 || { echo "FAIL: socat not installed"; exit 1; }
socat pty,raw,echo=0,link="$TMPDIR/ttyS" pty,raw,echo=0,link="$TMPDIR/ttyC" 2>"$TMPDIR/socat.log" &
PIDS="$PIDS $!"
i=0; while { [ ! -e "$TMPDIR/ttyS" ] || [ ! -e "$TMPDIR/ttyC" ]; } && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
"$B" serve --kb "$KB" --sock none --serial "$TMPDIR/ttyS" --baud 115200 --serial-auth off >"$TMPDIR/serial.log" 2>&1 &
PIDS="$PIDS $!"
i=0; while ! grep -q 'serial line' "$TMPDIR/serial.log" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
expect_rc 0 "$B" top --serial "$TMPDIR/ttyC" --baud 115200 --plain --count 2 --interval 0.3
for want in 'edgekb top' 'governor ok' '^INFO ' 'SLOW QUERIES'; do
  expect_out "$want"
done
echo "ok: top in tmux (q quits), --plain, over a pty pair; promtool: metrics, rules, rule tests"
