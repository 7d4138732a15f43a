# watchdog.sh: the watchdogs are fed only by a healthy server. The real
# server with a fake watchdog device (a plain file: the port writes "k" when
# the keep-alive ioctl is refused, "V" at the magic close) and a fake
# systemd (NOTIFY_SOCKET, a datagram socket this test reads): READY=1 at
# start, the device and WATCHDOG=1 fed while idle; a FIND slowed past
# --job-stall by the test hook EDGEKB_TEST_SLOW_FIND_MS stalls its worker:
# HEALTH says stalled=1 watchdog=held, the log says so, neither watchdog is
# fed until the request ends (cleanly, past its deadline: degraded=deadline,
# its time counted from the job's start), then both are fed again; SIGTERM
# closes the device with the magic character.
. "$(dirname "$0")/_lib.sh"
set -u
B=$EDGEKB
KB=$TMPDIR/kb
S=$TMPDIR/s.sock
elements_kb "$KB" elements_facts.tsv
: >"$TMPDIR/wdt"
/usr/bin/python3 - "$B" "$KB" "$S" "$TMPDIR" <<'PY'
import os, re, signal, socket, subprocess, sys, threading, time
exe, kb, sock, tmp = sys.argv[1:5]
wdt, ns = tmp + "/wdt", tmp + "/notify.sock"
def fail(m):
    print("FAIL: " + m)
    try:
        print(open(tmp + "/serve.log").read()[-2000:])
    except OSError:
        pass
    sys.exit(1)
nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); nsock.bind(ns); nsock.settimeout(0.05)
msgs = []  # (time, message)
def drain():
    while True:
        try:
            msgs.append((time.time(), nsock.recv(4096).decode()))
        except socket.timeout:
            return
env = dict(os.environ, NOTIFY_SOCKET=ns, EDGEKB_TEST_SLOW_FIND_MS="3500")
log = open(tmp + "/serve.log", "w")
p = subprocess.Popen([exe, "serve", "--kb", kb, "--sock", sock, "--watchdog", wdt, "--job-stall", "1"],
                     env=env, stdout=log, stderr=log)
for _ in range(100):
    if os.path.exists(sock):
        break
    time.sleep(0.1)
else:
    fail("server did not start")
s = socket.socket(socket.AF_UNIX); s.connect(sock); f = s.makefile("rwb")
def req(line, ff=f):
    ff.write(line.encode() + b"\n"); ff.flush()
    return ff.readline().decode()
def kicks():
    return open(wdt, "rb").read().count(b"k")
# healthy: fed
time.sleep(0.3); drain()
k0 = kicks(); time.sleep(1.2); k1 = kicks(); drain()
if not any(m == "READY=1" for _, m in msgs):
    fail("no READY=1 to systemd")
if k1 - k0 < 2:
    fail("the watchdog device is not fed while healthy (%d kicks in 1.2 s)" % (k1 - k0))
if sum(1 for _, m in msgs if m == "WATCHDOG=1") < 2:
    fail("no WATCHDOG=1 to systemd while healthy")
h = req("HEALTH")
if "stalled=0 watchdog=fed" not in h:
    fail("healthy HEALTH: " + h)
# a FIND on another connection takes 3.5 s > job_stall 1 s
res = {}
def slow():
    s2 = socket.socket(socket.AF_UNIX); s2.connect(sock); f2 = s2.makefile("rwb")
    res["find"] = req("FIND argon | has the symbol | ?", f2)  # tier 2: past its deadline once it starts
    res["t"] = time.time()
t0 = time.time()
th = threading.Thread(target=slow); th.start()
time.sleep(1.8)
h = req("HEALTH")
if "stalled=1 watchdog=held" not in h:
    fail("HEALTH during the stall: " + h)
drain(); n0 = len(msgs)
k2 = kicks(); time.sleep(1.0); k3 = kicks(); drain()
if k3 != k2:
    fail("the watchdog device was fed during a stall (%d kicks)" % (k3 - k2))
if any(m == "WATCHDOG=1" for _, m in msgs[n0:]):
    fail("WATCHDOG=1 sent during a stall")
if req("PING") != "OK PONG\n":
    fail("the loop does not answer during the stall")
th.join()
if not re.match(r"OK \d+ tier=\d ms=[0-9.]+.* degraded=deadline", res.get("find", "")):
    fail("the slow FIND did not end cleanly past its deadline: %r" % res.get("find"))
time.sleep(0.8)
k4 = kicks(); time.sleep(1.0); k5 = kicks()
if k5 - k4 < 2:
    fail("the watchdog is not fed again after the stall")
h = req("HEALTH")
if "stalled=0 watchdog=fed" not in h:
    fail("HEALTH after the stall: " + h)
p.send_signal(signal.SIGTERM)
p.wait(timeout=10)
if not open(wdt, "rb").read().endswith(b"V"):
    fail("no magic close at SIGTERM")
lg = open(tmp + "/serve.log").read()
if "stalled: FIND running for" not in lg or "fed again" not in lg:
    fail("the stall is not in the log")
print("ok: watchdog device and WATCHDOG=1 fed while healthy (%d kicks in 1.2 s), READY=1; a 3.5 s FIND past job_stall 1 s: HEALTH stalled=1 watchdog=held, no feed for 1 s, PING answered, the FIND ends with degraded=deadline; fed again after; magic close at SIGTERM" % (k1 - k0))
PY
