# boot.sh: the virt-aarch64 appliance image booted in qemu-system-aarch64
# (-M virt -cpu cortex-a76, TCG) and served over its PCI serial port, a UNIX
# socket on the host (make check-image; docs/image.md).
# The image holds a knowledge pack of the elements set (hash fallback,
# signed here) and its public key: the first boot installs it on the data
# disk. Over the serial line: HELLO/AUTH (HMAC), CRC ON, INFO, FIND, ASK,
# SEARCH against the pack, a FACT ADD; then qemu is stopped and booted
# again: the fact is there. Then the watchdog (i6300esb, -action
# watchdog=poweroff): healthy, the machine stays up past the timeout; a
# FIND slowed on purpose past --job-stall makes edgekb stop feeding it and
# qemu powers off. Prints the boot times to ready (3 boots, the median).
# Needs: EDGEKB (x86 binary, to build the pack), IMAGE_BIN (the board's
# aarch64 binary), SHARED; qemu-system-aarch64, apt access to arm64.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
T=${TMPDIR:-/tmp}/ekb-image-$$
mkdir -p "$T"
trap 'pkill -f "qemu-system-aarch64.*$T" 2>/dev/null; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; [ -f "$T/console.log" ] && tail -20 "$T/console.log"; exit 1; }
command -v qemu-system-aarch64 >/dev/null || fail "no qemu-system-aarch64 (tools/deps.sh --image installs qemu-system-arm)"
B=$EDGEKB
# a pack of the elements set, signed with a key made here
"$B" -q kb init --kb "$T/src" --model "$T/none.gguf" >/dev/null 2>&1 || fail "kb init"
"$B" -q ingest --kb "$T/src" "$SHARED/eval-dev/elements_docs.jsonl" "$SHARED/eval-dev/elements_facts.tsv" >/dev/null 2>&1 ||
  fail "ingest"
"$B" pack keygen "$T/fleet.key" "$T/fleet.pub" >/dev/null || fail "keygen"
"$B" -q pack build --kb "$T/src" --key "$T/fleet.key" "$T/kb.ekp" >/dev/null || fail "pack build"
IMAGE_MODEL=none IMAGE_PACK=$T/kb.ekp IMAGE_PUB=$T/fleet.pub sh "$root/tools/image.sh" virt-aarch64 "$IMAGE_BIN" "$T/img" >"$T/image.txt" ||
  fail "image"
cat "$T/image.txt"
boot() { # boot EXTRA_APPEND: starts qemu in the background (QP), waits for the ready line (BOOT_MS)
  rm -f "$T/console.log" "$T/ser.sock"
  t0=$(date +%s%N)
  qemu-system-aarch64 -M virt -cpu cortex-a76 -m 1024 -smp 2 -nic none -display none -monitor none \
    -serial "file:$T/console.log" -kernel "$T/img/vmlinuz" -initrd "$T/img/initramfs.cpio.gz" \
    -append "console=ttyAMA0 panic=5 $1" -drive "file=$T/img/data.img,if=none,format=raw,id=d0" \
    -device virtio-blk-pci,drive=d0 -chardev "socket,id=s1,path=$T/ser.sock,server=on,wait=off" \
    -device pci-serial,chardev=s1 -device i6300esb -action watchdog=poweroff -no-reboot >"$T/qemu.out" 2>&1 &
  QP=$!
  i=0
  while ! grep -q "serve: serial line /dev/ttyS0" "$T/console.log" 2>/dev/null; do
    kill -0 $QP 2>/dev/null || fail "qemu exited: $(cat "$T/qemu.out")"
    i=$((i + 1)); [ $i -lt 1200 ] || fail "no ready line in 120 s"
    sleep 0.1
  done
  BOOT_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}
halt() { kill $QP 2>/dev/null; wait $QP 2>/dev/null; }
cat >"$T/client.py" <<'PY'
import binascii, hashlib, hmac, socket, sys, time
sock, secret, mode = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX); s.connect(sock); s.settimeout(60)
buf = b""
def line():
    global buf
    while b"\n" not in buf:
        d = s.recv(4096)
        if not d:
            raise SystemExit("FAIL: the serial line closed")
        buf += d
    l, buf = buf.split(b"\n", 1)
    return l.decode().rstrip("\r")
crc = False
def unwrap(l):
    if not crc:
        return l
    body, _, c = l.rpartition("*")
    if c.upper() != "%04X" % binascii.crc_hqx(body.encode(), 0xFFFF):
        raise SystemExit("FAIL: bad CRC on %r" % l)
    return body
def req(r):
    out = r + ("*%04X" % binascii.crc_hqx(r.encode(), 0xFFFF) if crc else "")
    s.sendall(out.encode() + b"\n")
    head = unwrap(line())
    rows = []
    if head.startswith("OK ") and head[3:].split(" ")[0].isdigit():
        rows = [unwrap(line()) for _ in range(int(head[3:].split(" ")[0]))]
    return head, rows
def fail(m):
    raise SystemExit("FAIL: " + m)
time.sleep(0.2)
s.sendall(b"\n")  # anything a boot left on the line ends here
h = req("SEARCH text 1 argon")[0]
if not h.startswith("ERR AUTH"):
    fail("before AUTH: %r" % h)
h = req("HELLO")[0]
nonce = h.split()[-1]
mac = hmac.new(open(secret).read().strip().encode(), nonce.encode(), hashlib.sha256).hexdigest()
if req("AUTH " + mac)[0] != "OK AUTH":
    fail("AUTH")
s.sendall(("CRC ON*%04X\n" % binascii.crc_hqx(b"CRC ON", 0xFFFF)).encode())
crc = True
if unwrap(line()) != "OK CRC ON":
    fail("CRC ON")
if mode == "first":
    info = dict(r.split("=", 1) for r in req("INFO")[1] if "=" in r)
    if info.get("board") != "virt-aarch64" or int(info.get("facts", 0)) < 100:
        fail("INFO: %r" % info)
    h, rows = req("FIND argon | symbol | ?")
    if not h.startswith("OK 1") or "\tAr\t" not in rows[0]:
        fail("FIND: %r %r" % (h, rows))
    h, rows = req("ASK What is the atomic number of iron?")
    if not h.startswith("OK") or "26" not in rows[0]:
        fail("ASK: %r %r" % (h, rows))
    h, rows = req("SEARCH text 3 noble gas")
    if not h.startswith("OK 3"):
        fail("SEARCH: %r" % h)
    if not req("FACT ADD quasarium | colour | zorbic")[0].startswith("OK"):
        fail("FACT ADD")
    print("ok: AUTH, CRC, INFO (board virt-aarch64, %s facts), FIND, ASK, SEARCH, FACT ADD over the serial line" % info["facts"])
elif mode == "again":
    h, rows = req("FIND quasarium | colour | ?")
    if not h.startswith("OK 1") or "zorbic" not in rows[0]:
        fail("the fact written before the reboot: %r %r" % (h, rows))
    print("ok: the fact written before the reboot is there after it")
elif mode == "stall":
    s.sendall(("FIND argon | ? | ?*%04X\n" % binascii.crc_hqx(b"FIND argon | ? | ?", 0xFFFF)).encode())
    # connected until the machine goes away (qemu drops what a closed peer left unread)
    s.settimeout(90)
    t0 = time.time()
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    print("ok: a FIND slowed past job_stall sent; the line closed %.0f s later" % (time.time() - t0))
PY
SEC=$T/img/secret
boot ""; t1=$BOOT_MS
python3 "$T/client.py" "$T/ser.sock" "$SEC" first || fail "first boot"
grep -q "init: root read-only" "$T/console.log" || fail "the root is not read-only"
grep -q "pack install: verified and in place" "$T/console.log" || fail "the first boot did not install the pack"
sleep 12 # past the watchdog timeout (10 s): a healthy server keeps the machine up
kill -0 $QP 2>/dev/null || fail "the watchdog fired on a healthy server"
halt
boot ""; t2=$BOOT_MS
python3 "$T/client.py" "$T/ser.sock" "$SEC" again || fail "after the reboot"
halt
boot "edgekb.env=EDGEKB_TEST_SLOW_FIND_MS=60000 edgekb.arg=--job-stall edgekb.arg=1"; t3=$BOOT_MS
s0=$(date +%s)
python3 "$T/client.py" "$T/ser.sock" "$SEC" stall || fail "stall"
i=0; while kill -0 $QP 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 $QP 2>/dev/null && fail "the watchdog did not fire within 90 s of a stalled worker"
fired=$(( $(date +%s) - s0 ))
grep -q "stalled" "$T/console.log" || fail "edgekb did not say the worker stalled"
med=$(printf '%s\n%s\n%s\n' "$t1" "$t2" "$t3" | sort -n | sed -n 2p)
echo "ok: image booted 3 times, ready in $t1 / $t2 / $t3 ms (median $med ms); served over the serial line with AUTH and CRC; a write kept across the reboot; the watchdog held on a healthy server and fired $fired s after a stall"
