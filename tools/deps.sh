#!/usr/bin/env bash
# tools/deps.sh: installs and builds everything edgekb needs, idempotently.
#
# Owns: the Debian packages the build and tests use, the deb-src entry, and the
# third-party static libraries (sqlite3 with FTS5+MEMSYS5, lz4, mbedtls,
# cmocka) built from Debian's source packages with musl-gcc.
# Results: build/deps/<flavour>/{include,lib,bin}, one stamp per package keyed
# by its Debian source version, so a second run only checks stamps (seconds).
# Flavours: x86_64 (musl, static), aarch64 (musl, static, cross),
#           x86_64-glibc (sqlite3 and mbedtls: the ASan/UBSan test build links
#           Debian's own glibc lz4/cmocka but needs our sqlite flags and an
#           mbedtls whose structures match our headers).
# Fails: with a message and a non-zero exit; nothing half-built is stamped.
#
# Usage: tools/deps.sh [--arch x86_64|aarch64|all] [--no-install]
#        DEPS_DIR=... overrides build/deps (shared caches between worktrees).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
DEPS_DIR=${DEPS_DIR:-$here/build/deps}
SRC_DIR=$DEPS_DIR/src
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
arches=x86_64
install=1

while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arches=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "deps.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
[ "$arches" = all ] && arches="x86_64 aarch64"
for a in $arches; do
  case "$a" in x86_64|aarch64) ;; *) echo "deps.sh: unknown arch '$a'" >&2; exit 2 ;; esac
done

log() { printf 'deps: %s\n' "$*" >&2; }
t0=$(date +%s)

# ---------------------------------------------------------------- packages
# Build, test and benchmark tools. Kept in one list so CI and newcomers get
# the same machine. python3-numpy: reference implementations (tools/ref).
PKGS_HOST="build-essential musl-tools musl-dev libmbedtls-dev liblz4-dev
  libsqlite3-dev libcmocka-dev cmake tcl dpkg-dev file socat hyperfine
  python3 python3-numpy nodejs npm clang libclang-rt-14-dev xxd dict-elements tmux"
PKGS_AARCH64="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
  binutils-aarch64-linux-gnu qemu-system-arm e2fsprogs mtools dosfstools fdisk"

missing_pkgs() {
  local p out=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || out="$out $p"
  done
  echo "$out"
}

have_cmd() { command -v "$1" >/dev/null 2>&1; }

need_root_or_print() {
  # $1: the command a non-root user must run
  if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: not root; run this as root first, then run deps.sh again:" >&2
    echo "  $1" >&2
    exit 1
  fi
}

apt_updated=0
apt_update() {
  if [ $apt_updated = 0 ]; then
    log "apt-get update"
    apt-get update -qq >/dev/null
    apt_updated=1
  fi
}

ensure_pkgs() {
  local miss
  miss=$(missing_pkgs "$@")
  [ -z "$miss" ] && return 0
  [ $install = 1 ] || { echo "deps.sh: missing packages:$miss" >&2; exit 1; }
  need_root_or_print "apt-get update && apt-get install -y --no-install-recommends$miss"
  apt_update
  log "installing:$miss"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $miss >/dev/null
}

# Node/npm on the image may come from NodeSource rather than Debian: accept any.
host_pkgs=$PKGS_HOST
if have_cmd node && have_cmd npm; then
  host_pkgs=$(echo "$host_pkgs" | tr ' ' '\n' | grep -vx -e nodejs -e npm | tr '\n' ' ')
fi
ensure_pkgs $host_pkgs

if echo "$arches" | grep -q aarch64; then
  ensure_pkgs $PKGS_AARCH64
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    need_root_or_print "dpkg --add-architecture arm64 && apt-get update && apt-get install -y musl-dev:arm64"
    log "adding the arm64 architecture (for musl-dev:arm64)"
    dpkg --add-architecture arm64
    apt_updated=0
  fi
  if [ -n "$(missing_pkgs musl-dev:arm64)" ]; then
    need_root_or_print "apt-get update && apt-get install -y musl-dev:arm64"
    apt_update
    log "installing musl-dev:arm64"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends musl-dev:arm64 >/dev/null
  fi
fi

# ---------------------------------------------------------------- deb-src
# A deb-src twin of each Debian entry, in a file of our own.
SRC_LIST=/etc/apt/sources.list.d/edgekb-deb-src.sources
have_deb_src() {
  grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null
}
if ! have_deb_src; then
  need_root_or_print "add a 'Types: deb-src' twin of /etc/apt/sources.list.d/debian.sources, then apt-get update"
  log "enabling Debian source packages ($SRC_LIST)"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed -e 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$SRC_LIST.tmp"
  else
    # one-line format: copy the deb lines as deb-src
    grep -hE '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' > "${SRC_LIST%.sources}.list"
  fi
  [ -f "$SRC_LIST.tmp" ] && mv "$SRC_LIST.tmp" "$SRC_LIST"
  apt_updated=0
  apt_update
fi

# ---------------------------------------------------------------- sources
# The newest source version apt knows of (from its lists, no network).
src_version() {
  local v="" c
  for c in $(apt-cache showsrc --only-source "$1" 2>/dev/null | sed -n 's/^Version: //p'); do
    if [ -z "$v" ] || dpkg --compare-versions "$c" gt "$v"; then v=$c; fi
  done
  [ -n "$v" ] || { echo "deps.sh: cannot find the source package '$1' (is deb-src enabled?)" >&2; exit 1; }
  echo "$v"
}

# Unpacks $1 at version $2 once into $SRC_DIR/$1_$2/ and prints the source tree.
fetch_src() {
  local pkg=$1 ver=$2 dir=$SRC_DIR/$1_$2
  if [ ! -f "$dir/.unpacked" ]; then
    log "fetching source $pkg $ver"
    rm -rf "$dir"; mkdir -p "$dir"
    ( cd "$dir" && apt-get source -qq "$pkg=$ver" >/dev/null 2>"$dir/apt-source.log" ) || {
      cat "$dir/apt-source.log" >&2; echo "deps.sh: apt-get source $pkg failed" >&2; exit 1; }
    touch "$dir/.unpacked"
  fi
  find "$dir" -mindepth 1 -maxdepth 1 -type d | head -n1
}

# ---------------------------------------------------------------- toolchains
cc_for() {
  case "$1" in
    x86_64) echo musl-gcc ;;
    x86_64-glibc) echo gcc ;;
    aarch64) echo "$DEPS_DIR/aarch64/bin/aarch64-linux-musl-gcc" ;;
  esac
}
ar_for() { case "$1" in aarch64) echo aarch64-linux-gnu-ar ;; *) echo ar ;; esac; }

make_aarch64_wrapper() {
  local w=$DEPS_DIR/aarch64/bin/aarch64-linux-musl-gcc
  local specs=/usr/lib/aarch64-linux-musl/musl-gcc.specs
  [ -f "$specs" ] || { echo "deps.sh: $specs missing (musl-dev:arm64)" >&2; exit 1; }
  mkdir -p "$(dirname "$w")"
  if [ ! -x "$w" ]; then
    printf '#!/bin/sh\n# musl-gcc for aarch64: Debian cross gcc with the arm64 musl specs\nexec aarch64-linux-gnu-gcc "$@" -specs %s\n' "$specs" > "$w"
    chmod +x "$w"
  fi
}

# Common flags for third-party code: optimised, no fortify (musl has no
# __*_chk), section GC friendly.
CFLAGS_DEPS="-O2 -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=0 -ffunction-sections -fdata-sections -fPIC"

# SQLite configuration edgekb is designed around (see docs/architecture.md):
# memory from the arena (MEMSYS5 + SQLITE_CONFIG_HEAP), FTS5 for BM25,
# multi-thread mode (one connection per thread), no extension loading.
SQLITE_DEFS="-DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_MEMSYS5 -DSQLITE_OMIT_LOAD_EXTENSION
  -DSQLITE_DEFAULT_MEMSTATUS=0 -DSQLITE_DQS=0 -DSQLITE_THREADSAFE=2
  -DSQLITE_OMIT_DEPRECATED -DSQLITE_OMIT_SHARED_CACHE -DSQLITE_DEFAULT_FOREIGN_KEYS=1
  -DSQLITE_TEMP_STORE=3 -DSQLITE_ENABLE_API_ARMOR -DSQLITE_OMIT_AUTOINIT
  -DSQLITE_DEFAULT_WAL_SYNCHRONOUS=2 -DSQLITE_MAX_MMAP_SIZE=0"

stamp_ok() { [ -f "$DEPS_DIR/$1/.stamp-$2-$3" ]; }
stamp_set() { rm -f "$DEPS_DIR/$1"/.stamp-"$2"-*; touch "$DEPS_DIR/$1/.stamp-$2-$3"; }

build_sqlite() { # flavour
  local fl=$1 ver tree out=$DEPS_DIR/$1
  ver=$(src_version sqlite3)
  stamp_ok "$fl" sqlite3 "$ver" && return 0
  tree=$(fetch_src sqlite3 "$ver")
  if [ ! -f "$tree/bld/sqlite3.c" ]; then
    log "generating the sqlite3 amalgamation ($ver)"
    mkdir -p "$tree/bld"
    ( cd "$tree/bld" && ../configure --disable-tcl >configure.log 2>&1 && make -j"$JOBS" sqlite3.c >make.log 2>&1 ) || {
      tail -20 "$tree/bld/make.log" "$tree/bld/configure.log" >&2 2>/dev/null; exit 1; }
  fi
  log "building sqlite3 $ver for $fl"
  mkdir -p "$out/lib" "$out/include" "$out/obj"
  # shellcheck disable=SC2086
  $(cc_for "$fl") $CFLAGS_DEPS $SQLITE_DEFS -c "$tree/bld/sqlite3.c" -o "$out/obj/sqlite3.o"
  rm -f "$out/lib/libsqlite3.a"
  $(ar_for "$fl") rcs "$out/lib/libsqlite3.a" "$out/obj/sqlite3.o"
  cp "$tree/bld/sqlite3.h" "$out/include/"
  echo "$SQLITE_DEFS" | tr -s ' \n' ' ' > "$out/sqlite3.flags"
  stamp_set "$fl" sqlite3 "$ver"
}

build_lz4() {
  local fl=$1 ver tree out=$DEPS_DIR/$1
  ver=$(src_version lz4)
  stamp_ok "$fl" lz4 "$ver" && return 0
  tree=$(fetch_src lz4 "$ver")
  log "building lz4 $ver for $fl"
  mkdir -p "$out/lib" "$out/include"
  make -s -C "$tree/lib" clean >/dev/null 2>&1 || true
  make -s -C "$tree/lib" -j"$JOBS" CC="$(cc_for "$fl")" AR="$(ar_for "$fl")" \
    CFLAGS="$CFLAGS_DEPS" liblz4.a >/dev/null
  cp "$tree/lib/liblz4.a" "$out/lib/"
  cp "$tree/lib/lz4.h" "$tree/lib/lz4hc.h" "$out/include/"
  make -s -C "$tree/lib" clean >/dev/null 2>&1 || true
  stamp_set "$fl" lz4 "$ver"
}

build_mbedtls() {
  local fl=$1 ver tree out=$DEPS_DIR/$1
  ver=$(src_version mbedtls)
  stamp_ok "$fl" mbedtls "$ver" && return 0
  tree=$(fetch_src mbedtls "$ver")
  log "building mbedtls $ver for $fl"
  mkdir -p "$out/lib" "$out/include"
  make -s -C "$tree/library" clean >/dev/null 2>&1 || true
  make -s -C "$tree/library" -j"$JOBS" CC="$(cc_for "$fl")" AR="$(ar_for "$fl")" \
    CFLAGS="$CFLAGS_DEPS" static >/dev/null
  cp "$tree"/library/libmbedcrypto.a "$tree"/library/libmbedtls.a "$tree"/library/libmbedx509.a "$out/lib/"
  rm -rf "$out/include/mbedtls"; cp -r "$tree/include/mbedtls" "$out/include/"
  [ -d "$tree/include/psa" ] && { rm -rf "$out/include/psa"; cp -r "$tree/include/psa" "$out/include/"; }
  make -s -C "$tree/library" clean >/dev/null 2>&1 || true
  stamp_set "$fl" mbedtls "$ver"
}

build_cmocka() {
  local fl=$1 ver tree out=$DEPS_DIR/$1 bdir extra=""
  ver=$(src_version cmocka)
  stamp_ok "$fl" cmocka "$ver" && return 0
  tree=$(fetch_src cmocka "$ver")
  log "building cmocka $ver for $fl"
  bdir=$DEPS_DIR/$fl/cmocka-build
  rm -rf "$bdir"; mkdir -p "$bdir" "$out/lib" "$out/include"
  # musl on aarch64: cmocka.h would redefine uintptr_t (see toolchain notes).
  [ "$fl" = aarch64 ] && extra="-D_UINTPTR_T_DEFINED"
  ( cd "$bdir" && cmake "$tree" -DCMAKE_C_COMPILER="$(cc_for "$fl")" \
      -DCMAKE_AR="$(command -v "$(ar_for "$fl")")" \
      -DCMAKE_C_FLAGS="$CFLAGS_DEPS $extra" -DCMAKE_BUILD_TYPE=Release \
      -DWITH_STATIC_LIB=ON -DWITH_EXAMPLES=OFF -DUNIT_TESTING=OFF \
      -DCMAKE_SYSTEM_NAME=Linux >cmake.log 2>&1 &&
    make -j"$JOBS" cmocka-static >make.log 2>&1 ) || {
      tail -30 "$bdir/cmake.log" "$bdir/make.log" >&2 2>/dev/null; exit 1; }
  cp "$(find "$bdir" -name 'libcmocka*static*.a' -o -name 'libcmocka.a' | head -n1)" "$out/lib/libcmocka.a"
  cp "$tree/include/cmocka.h" "$out/include/"
  rm -rf "$bdir"
  stamp_set "$fl" cmocka "$ver"
}

for a in $arches; do
  [ "$a" = aarch64 ] && make_aarch64_wrapper
  build_sqlite "$a"
  build_lz4 "$a"
  build_mbedtls "$a"
  build_cmocka "$a"
done
# ---------------------------------------------------------------- promtool
# The monitoring test checks METRICS, the alerting rules and their unit tests
# with promtool, taken from Debian's prometheus package: downloaded and
# unpacked into build/deps/tools, never installed (the package would start a
# server). Stamped by the package version.
fetch_promtool() {
  local out=$DEPS_DIR/tools ver tmp
  ver=$(apt-cache policy prometheus 2>/dev/null | sed -n 's/^ *Candidate: //p')
  if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
    [ $install = 1 ] && apt_update
    ver=$(apt-cache policy prometheus 2>/dev/null | sed -n 's/^ *Candidate: //p')
  fi
  [ -n "$ver" ] && [ "$ver" != "(none)" ] || { echo "deps.sh: apt knows no prometheus package (for promtool)" >&2; exit 1; }
  [ -x "$out/promtool" ] && [ "$(cat "$out/.promtool-version" 2>/dev/null)" = "$ver" ] && return 0
  log "promtool from prometheus $ver"
  tmp=$(mktemp -d)
  ( cd "$tmp" && apt-get download -q "prometheus=$ver" >/dev/null 2>&1 ) ||
    { rm -rf "$tmp"; echo "deps.sh: apt-get download prometheus=$ver failed" >&2; exit 1; }
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
  mkdir -p "$out"
  cp "$tmp/x/usr/bin/promtool" "$out/promtool.tmp" && mv "$out/promtool.tmp" "$out/promtool"
  echo "$ver" >"$out/.promtool-version"
  rm -rf "$tmp"
}
if echo "$arches" | grep -q x86_64; then
  fetch_promtool
fi

# The glibc ASan/UBSan test build uses Debian's lz4/cmocka, our sqlite3 flags
# (Debian's libsqlite3 lacks MEMSYS5) and our mbedtls build (Debian's has
# MBEDTLS_THREADING_C: its contexts are larger than our headers say).
if echo "$arches" | grep -q x86_64; then
  build_sqlite x86_64-glibc
  build_mbedtls x86_64-glibc # its structs must match the headers the sources see (Debian's build has threading on)
fi

log "ready in $(( $(date +%s) - t0 )) s: $(ls -d "$DEPS_DIR"/*/ 2>/dev/null | grep -v '/src/$' | xargs -n1 basename | tr '\n' ' ')"
