#!/bin/sh
# tools/image.sh BOARD BIN OUT: the appliance image of BOARD (docs/image.md),
# from Debian packages only: downloaded with apt-get download into
# build/image/debs (cached), unpacked with dpkg-deb -x, never installed.
#
# virt-aarch64 (qemu's virt machine): OUT/vmlinuz (Debian's arm64 kernel),
# OUT/initramfs.cpio.gz (newc, gzip) holding:
#   /init                    a few lines of busybox sh (Debian's busybox-static):
#                            mounts proc, sys, devtmpfs; loads the modules below;
#                            mounts the data disk (/dev/vda, ext4) on /data; makes
#                            the KB there from the pack on the first boot; remounts
#                            the root read-only; execs edgekb serve on /dev/ttyS0
#                            (the PCI serial port; the console is ttyAMA0)
#   /bin/edgekb, /bin/busybox
#   /etc/edgekb/board.conf   the board file
#   /etc/edgekb/secret       the device secret (HELLO/AUTH on the serial line)
#   /etc/edgekb/fleet.pub    the pack key (IMAGE_PUB, when given)
#   /lib/modules/*.ko        virtio-pci, virtio-blk, ext4 (jbd2, mbcache, crc16,
#                            crc32c), i6300esb: what the board needs, nothing more
#   /models/*.gguf           the default embedder (IMAGE_MODEL, when given)
#   /pack.ekp                an optional knowledge pack (IMAGE_PACK)
# and OUT/data.img (64 MB, ext4, empty) for the data disk.
# rpi4, pizero2w: the same initramfs (their modules: the SD host driver, ext4,
# the BCM2835 watchdog; the data partition /dev/mmcblk0p2) and OUT/sdcard.img:
# an MBR, a 256 MB FAT32 boot partition (the firmware from Debian's
# raspi-firmware, config.txt, cmdline.txt, the kernel, the initramfs, the
# board's device tree from the kernel package), the data partition.
# Environment: IMAGE_SECRET (a file; default: a new random one in OUT),
# IMAGE_PUB, IMAGE_PACK, IMAGE_MODEL (default: the board's MODEL_EMBED from
# build/models when there; "none": no model, the hash fallback), IMAGE_CACHE
# (default build/image).
set -eu
board=$1; bin=$2; out=$3
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${IMAGE_CACHE:-$root/build/image}
# per board: the modules, the data disk's device, the serial port
case "$board" in
  virt-aarch64)
    mods="crc16 mbcache jbd2 crc32c_generic ext4 virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk i6300esb"
    datadev=/dev/vda ;;
  rpi4)
    mods="crc16 mbcache jbd2 crc32c_generic ext4 sdhci sdhci-pltfm sdhci-iproc bcm2835_wdt"
    datadev=/dev/mmcblk0p2; dtb=bcm2711-rpi-4-b.dtb ;;
  pizero2w)
    mods="crc16 mbcache jbd2 crc32c_generic ext4 bcm2835 bcm2835_wdt"
    datadev=/dev/mmcblk0p2; dtb=bcm2837-rpi-zero-2-w.dtb ;;
  *) echo "image.sh: no image recipe for board '$board' (virt-aarch64, rpi4, pizero2w)" >&2; exit 2 ;;
esac
serial=$(sed -n 's/^SERIAL_DEV *= *\([^ #]*\).*/\1/p' "$root/board/$board.conf")
[ -x "$bin" ] || { echo "image.sh: no binary $bin (make BOARD=$board first)" >&2; exit 1; }
log() { printf 'image: %s\n' "$*" >&2; }
mkdir -p "$cache/debs" "$out"

# ---- the packages: the kernel named by linux-image-arm64, busybox-static
fetch() { # fetch PKG: the .deb's path (downloaded once)
  f=$(ls "$cache/debs/$(echo "$1" | sed 's/:.*//')"_*.deb 2>/dev/null | head -n 1 || true)
  if [ -z "$f" ]; then
    log "apt-get download $1"
    (cd "$cache/debs" && apt-get download -q "$1" >/dev/null 2>&1) ||
      { echo "image.sh: apt-get download $1 failed (is arm64 added: dpkg --add-architecture arm64; apt-get update?)" >&2; exit 1; }
    f=$(ls "$cache/debs/$(echo "$1" | sed 's/:.*//')"_*.deb | head -n 1)
  fi
  echo "$f"
}
kpkg=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-arm64\).*/\1/p' | head -n 1)
[ -n "$kpkg" ] || { echo "image.sh: apt does not know linux-image-arm64:arm64 (dpkg --add-architecture arm64; apt-get update)" >&2; exit 1; }
kdeb=$(fetch "$kpkg:arm64")
bdeb=$(fetch busybox-static:arm64)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$kdeb" "$work/k"
dpkg-deb -x "$bdeb" "$work/b"
kver=$(ls "$work/k/lib/modules" | head -n 1)
cp "$work/k/boot/vmlinuz-$kver" "$out/vmlinuz"

# ---- the initramfs tree
r=$work/root
mkdir -p "$r/bin" "$r/etc/edgekb" "$r/lib/modules" "$r/models" "$r/proc" "$r/sys" "$r/dev" "$r/data" "$r/tmp"
cp "$work/b/bin/busybox" "$r/bin/busybox"
cp "$bin" "$r/bin/edgekb"
cp "$root/board/$board.conf" "$r/etc/edgekb/board.conf"
for m in $mods; do
  f=$(find "$work/k/lib/modules/$kver" -name "$m.ko" -o -name "$(echo "$m" | tr - _).ko" | head -n 1)
  [ -n "$f" ] || { echo "image.sh: module $m.ko not in $kpkg" >&2; exit 1; }
  cp "$f" "$r/lib/modules/"
done
if [ -n "${IMAGE_SECRET:-}" ]; then cp "$IMAGE_SECRET" "$r/etc/edgekb/secret"
else head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$out/secret"; cp "$out/secret" "$r/etc/edgekb/secret"; fi
chmod 600 "$r/etc/edgekb/secret"
[ -n "${IMAGE_PUB:-}" ] && cp "$IMAGE_PUB" "$r/etc/edgekb/fleet.pub"
[ -n "${IMAGE_PACK:-}" ] && cp "$IMAGE_PACK" "$r/pack.ekp"
model=${IMAGE_MODEL-}
if [ -z "$model" ]; then
  m=$(sed -n 's/^MODEL_EMBED *= *\([^ #]*\).*/\1/p' "$root/board/$board.conf")
  [ -n "$m" ] && [ -f "$root/build/models/$m" ] && model=$root/build/models/$m
fi
[ -n "$model" ] && [ "$model" != none ] && cp "$model" "$r/models/"
cat >"$r/init" <<EOF
#!/bin/busybox sh
# init of the edgekb appliance (tools/image.sh): PID 1 becomes edgekb serve.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
export PATH=/bin
for m in $mods; do busybox insmod /lib/modules/\$m.ko || echo "init: insmod \$m failed"; done
i=0; while [ ! -b $datadev ] && [ \$i -lt 50 ]; do busybox sleep 0.1; i=\$((i + 1)); done
busybox mount -t ext4 -o rw,noatime $datadev /data || echo "init: no data disk: the KB lives in RAM until power-off"
args=""
for w in \$(busybox cat /proc/cmdline); do
  case \$w in edgekb.env=*) export "\${w#edgekb.env=}" ;; edgekb.arg=*) args="\$args \${w#edgekb.arg=}" ;; esac
done
model=""
for f in /models/*.gguf; do [ -f "\$f" ] && model="--model \$f"; done
if [ ! -f /data/kb/kb.sqlite ]; then
  if [ -f /pack.ekp ] && [ -f /etc/edgekb/fleet.pub ]; then
    edgekb --board /etc/edgekb/board.conf pack install --kb /data/kb --pub /etc/edgekb/fleet.pub \$model /pack.ekp ||
      echo "init: the pack was refused: serving an empty knowledge base"
  fi
  if [ ! -f /data/kb/kb.sqlite ]; then
    edgekb --board /etc/edgekb/board.conf kb init --kb /data/kb \$model
  fi
fi
if busybox mount -o remount,ro / 2>/dev/null; then echo "init: root read-only"; else echo "init: root NOT read-only"; fi
echo "init: starting edgekb serve on $serial"
exec edgekb --board /etc/edgekb/board.conf serve --kb /data/kb --sock none --serial $serial \\
  --secret /etc/edgekb/secret --watchdog /dev/watchdog \$args
EOF
chmod 755 "$r/init" "$r/bin/busybox" "$r/bin/edgekb"
# newc cpio, gzip: written here (no cpio tool needed), owner root, sorted
python3 - "$r" "$out/initramfs.cpio.gz" <<'PY'
import gzip, os, stat, sys
root, dst = sys.argv[1:3]
ino = [1]
def entry(name, st, data):
    hdr = "070701" + "".join("%08X" % v for v in (
        ino[0], st.st_mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0))
    ino[0] += 1
    b = hdr.encode() + name.encode() + b"\0"
    b += b"\0" * ((4 - len(b) % 4) % 4)
    b += data + b"\0" * ((4 - len(data) % 4) % 4)
    return b
out = []
for dirpath, dirs, files in os.walk(root):
    dirs.sort()
    rel = os.path.relpath(dirpath, root)
    if rel != ".":
        out.append(entry(rel, os.lstat(dirpath), b""))
    for f in sorted(files):
        p = os.path.join(dirpath, f)
        out.append(entry(os.path.normpath(os.path.join(rel, f)), os.lstat(p), open(p, "rb").read()))
out.append(entry("TRAILER!!!", os.stat_result((0,) * 10), b""))
with gzip.open(dst, "wb", compresslevel=9) as g:
    g.write(b"".join(out))
PY
if [ ! -f "$out/data.img" ]; then
  truncate -s 64M "$out/data.img"
  mkfs.ext4 -q -F -L edgekb-data "$out/data.img"
fi
if [ "$board" != virt-aarch64 ]; then
  # an SD card: MBR, a 256 MB FAT32 boot partition (the Raspberry Pi firmware from Debian's
  # raspi-firmware, non-free-firmware: fetched through a private apt configuration under the
  # cache, the system's sources untouched), then the ext4 data partition
  a=$cache/apt
  mkdir -p "$a/lists/partial" "$a/cache/archives/partial"
  printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm non-free-firmware\n' \
    >"$a/sources.list"
  A="-o Dir::Etc::SourceList=$a/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$a/lists -o Dir::Cache=$a/cache"
  fdeb=$(ls "$cache/debs"/raspi-firmware_*.deb 2>/dev/null | head -n 1 || true)
  if [ -z "$fdeb" ]; then
    log "apt-get download raspi-firmware (non-free-firmware)"
    # shellcheck disable=SC2086
    apt-get $A update -qq >/dev/null 2>&1 && (cd "$cache/debs" && apt-get $A download -q raspi-firmware >/dev/null 2>&1) ||
      { echo "image.sh: cannot download raspi-firmware from Debian's non-free-firmware" >&2; exit 1; }
    fdeb=$(ls "$cache/debs"/raspi-firmware_*.deb | head -n 1)
  fi
  dpkg-deb -x "$fdeb" "$work/fw"
  fw=$work/fw/usr/lib/raspi-firmware
  dtbf=$(find "$work/k/usr/lib" -name "$dtb" | head -n 1)
  [ -n "$dtbf" ] || { echo "image.sh: $kpkg has no $dtb" >&2; exit 1; }
  boot=$work/boot.img
  truncate -s 256M "$boot"
  mkfs.vfat -F 32 -n EDGEKB-BOOT "$boot" >/dev/null
  cat >"$work/config.txt" <<CFG
# config.txt of the edgekb $board image (tools/image.sh; docs/image.md)
arm_64bit=1
kernel=vmlinuz
initramfs initramfs.cpio.gz followkernel
device_tree=$dtb
enable_uart=1
dtoverlay=disable-bt
CFG
  printf 'console=tty1 panic=5\n' >"$work/cmdline.txt"
  for f in bootcode.bin start.elf fixup.dat start4.elf fixup4.dat; do mcopy -i "$boot" "$fw/$f" ::/; done
  mcopy -i "$boot" "$out/vmlinuz" "$out/initramfs.cpio.gz" "$dtbf" "$work/config.txt" "$work/cmdline.txt" ::/
  sd=$out/sdcard.img
  truncate -s 0 "$sd"; truncate -s $((1 + 256 + 64))M "$sd"
  printf 'label: dos\nstart=2048, size=%d, type=c, bootable\nstart=%d, size=%d, type=83\n' \
    $((256 * 2048)) $((2048 + 256 * 2048)) $((64 * 2048)) | sfdisk -q "$sd"
  dd if="$boot" of="$sd" bs=1M seek=1 conv=notrunc status=none
  dd if="$out/data.img" of="$sd" bs=1M seek=257 conv=notrunc status=none
  log "$board: SD card image $sd ($(stat -c %s "$sd") bytes): FAT boot partition (firmware, config.txt, kernel, $dtb, initramfs), ext4 data partition"
fi
ksz=$(stat -c %s "$out/vmlinuz"); isz=$(stat -c %s "$out/initramfs.cpio.gz"); esz=$(stat -c %s "$bin")
log "$board: kernel $kpkg $ksz bytes, initramfs $isz bytes (edgekb $esz bytes), data disk $out/data.img"
echo "image $board kernel_bytes=$ksz initramfs_bytes=$isz edgekb_bytes=$esz"
