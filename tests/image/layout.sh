# layout.sh: the SD-card images of rpi4 and pizero2w, checked for their
# layout only (no hardware here; docs/image.md): an MBR with a bootable
# FAT32 partition from 1 MiB (256 MiB) and an ext4 data partition after
# it; the boot partition holds the Raspberry Pi firmware (bootcode.bin,
# start*.elf, fixup*.dat), config.txt (arm_64bit, the kernel, the
# initramfs, the board's device tree), cmdline.txt, the kernel, the
# initramfs and the DTB; the initramfs holds /init (mounting
# /dev/mmcblk0p2 and serving on the board's serial port), the board's
# aarch64 edgekb, its board file and the modules it loads; the data
# partition is a clean ext4. Needs RPI4_BIN and PIZERO2W_BIN.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
T=${TMPDIR:-/tmp}/ekb-layout-$$
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
for cmd in sfdisk mdir mcopy e2fsck python3; do command -v $cmd >/dev/null || fail "no $cmd (tools/deps.sh installs it)"; done
summary=""
for board in rpi4 pizero2w; do
  case $board in rpi4) bin=$RPI4_BIN; dtb=bcm2711-rpi-4-b.dtb ;; *) bin=$PIZERO2W_BIN; dtb=bcm2837-rpi-zero-2-w.dtb ;; esac
  out=$T/$board
  IMAGE_MODEL=none sh "$root/tools/image.sh" $board "$bin" "$out" >/dev/null 2>"$T/log" || { cat "$T/log"; fail "$board: image.sh"; }
  sd=$out/sdcard.img
  [ -f "$sd" ] || fail "$board: no sdcard.img"
  sfdisk -J "$sd" >"$T/pt.json" || fail "$board: no partition table"
  python3 - "$T/pt.json" <<'PY' || exit 1
import json, sys
pt = json.load(open(sys.argv[1]))["partitiontable"]
p = pt["partitions"]
ok = pt["label"] == "dos" and len(p) == 2 and p[0]["start"] == 2048 and p[0]["size"] == 256 * 2048 and \
    p[0]["type"] == "c" and p[0].get("bootable") and p[1]["type"] == "83" and p[1]["start"] >= p[0]["start"] + p[0]["size"]
if not ok:
    print("FAIL: partition table: %r" % pt); sys.exit(1)
PY
  dd if="$sd" of="$T/boot.img" bs=1M skip=1 count=256 status=none
  mdir -i "$T/boot.img" -b ::/ >"$T/files" || fail "$board: the boot partition is not FAT"
  for f in bootcode.bin start.elf fixup.dat start4.elf fixup4.dat config.txt cmdline.txt vmlinuz initramfs.cpio.gz $dtb; do
    grep -q "/$f\$" "$T/files" || fail "$board: $f missing from the boot partition: $(tr '\n' ' ' <"$T/files")"
  done
  mcopy -i "$T/boot.img" ::/config.txt "$T/config.txt"
  for want in 'arm_64bit=1' 'kernel=vmlinuz' 'initramfs initramfs.cpio.gz followkernel' "device_tree=$dtb" 'enable_uart=1'; do
    grep -qx "$want" "$T/config.txt" || fail "$board: config.txt lacks '$want'"
  done
  mcopy -i "$T/boot.img" ::/initramfs.cpio.gz "$T/initramfs.cpio.gz"
  python3 - "$T/initramfs.cpio.gz" "$board" <<'PY' || exit 1
import gzip, sys
d = gzip.open(sys.argv[1]).read()
files, o = {}, 0
while True:
    h = d[o:o + 110]
    namesize, filesize = int(h[94:102], 16), int(h[54:62], 16)
    name = d[o + 110:o + 110 + namesize - 1].decode()
    o += 110 + namesize; o += (4 - o % 4) % 4
    files[name] = d[o:o + filesize]; o += filesize; o += (4 - o % 4) % 4
    if name == "TRAILER!!!":
        break
need = ["init", "bin/edgekb", "bin/busybox", "etc/edgekb/board.conf", "etc/edgekb/secret", "lib/modules/ext4.ko"]
miss = [n for n in need if n not in files]
if miss:
    print("FAIL: initramfs lacks %s" % miss); sys.exit(1)
if files["bin/edgekb"][:4] != b"\x7fELF" or files["bin/edgekb"][18] != 183:  # EM_AARCH64
    print("FAIL: bin/edgekb is not an aarch64 ELF"); sys.exit(1)
init = files["init"].decode()
board = files["etc/edgekb/board.conf"].decode()
if "/dev/mmcblk0p2" not in init or "NAME = %s" % sys.argv[2] not in board:
    print("FAIL: init or board file: %s" % init[:200]); sys.exit(1)
serial = [l.split("=")[1].strip() for l in board.splitlines() if l.startswith("SERIAL_DEV")][0]
if "--serial %s" % serial not in init:
    print("FAIL: init does not serve on %s" % serial); sys.exit(1)
mods = [n for n in files if n.startswith("lib/modules/")]
for m in mods:
    if "insmod /lib/modules/" not in init or m.split("/")[-1][:-3] not in init:
        print("FAIL: module %s is not loaded by init" % m); sys.exit(1)
print("%d files, %d modules" % (len(files) - 1, len(mods)))
PY
  dd if="$sd" of="$T/data.img" bs=1M skip=257 count=64 status=none
  e2fsck -n -f "$T/data.img" >/dev/null 2>&1 || fail "$board: the data partition is not a clean ext4"
  summary="$summary $board $(stat -c %s "$sd") bytes;"
done
echo "ok: SD card layouts (MBR, FAT32 boot with firmware, config.txt, kernel, DTB, initramfs; ext4 data):$summary"
