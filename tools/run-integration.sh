#!/bin/sh
# run-integration.sh: runs every tests/integration/*.sh (except _*.sh, helpers) against the real
# binary. Each script gets EDGEKB (the binary), SHARED (../shared or
# $EDGEKB_SHARED), MODELS_DIR and a private TMPDIR; exit 0 = pass, 77 = skip
# (it must say why), anything else = fail. Prints one line per script and a
# total; exits 1 if any failed.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
: "${EDGEKB:?EDGEKB must name the binary}"
SHARED=${EDGEKB_SHARED:-$root/../shared}
MODELS_DIR=${MODELS_DIR:-$root/build/models}
export EDGEKB SHARED MODELS_DIR
pass=0; skip=0; fail=0; bad=""
for t in "$root"/tests/integration/*.sh; do
  [ -e "$t" ] || continue
  case $(basename "$t") in _*) continue ;; esac
  name=$(basename "$t" .sh)
  tmp=$(mktemp -d /tmp/ekb-it-XXXXXX)
  out=$tmp/.out
  start=$(date +%s)
  TMPDIR=$tmp sh "$t" >"$out" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  last=$(grep -v '^$' "$out" | tail -1)
  case $rc in
    0) pass=$((pass + 1)); printf '  PASS %-28s %3ss  %s\n' "$name" "$secs" "$last" ;;
    77) skip=$((skip + 1)); printf '  SKIP %-28s %3ss  %s\n' "$name" "$secs" "$last" ;;
    *) fail=$((fail + 1)); bad="$bad $name"; printf '  FAIL %-28s %3ss  (exit %s)\n' "$name" "$secs" "$rc"
       sed 's/^/       | /' "$out" | tail -40 ;;
  esac
  rm -rf "$tmp"
done
echo "[integration] $pass passed, $skip skipped, $fail failed"
[ $fail -eq 0 ] || { echo "[integration] FAILED:$bad"; exit 1; }
