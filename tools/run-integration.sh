#!/bin/sh
# run-integration.sh: runs every tests/integration/*.sh (except _*.sh, helpers) against the real
# binary. Each script gets EDGEKB (the binary), SHARED (../shared or
# $EDGEKB_SHARED), MODELS_DIR and a private TMPDIR; exit 0 = pass, 77 = skip
# (it must say why), anything else = fail. Prints one line per script when it
# ends (its output follows on failure), then a total; exits 1 if any failed.
# Two lanes run at once: the scripts named in EKB_IT_LANE (default llm_ref, the
# longest, with its own cached models in build/ref) one after the other, and
# all the others one after the other (bert_ref and gguf_ref share build/ref
# files, so they stay in one lane). EKB_IT_LANE="" runs everything in one lane.
# A script still running after IT_TIMEOUT seconds (default 900) is killed
# and fails (exit 124), its output so far printed.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
: "${EDGEKB:?EDGEKB must name the binary}"
SHARED=${EDGEKB_SHARED:-$root/../shared}
MODELS_DIR=${MODELS_DIR:-$root/build/models}
export EDGEKB SHARED MODELS_DIR
LANE=${EKB_IT_LANE-llm_ref}
work=$(mktemp -d /tmp/ekb-itrun-XXXXXX)
trap 'rm -rf "$work"' EXIT

lane1=""; lane2=""
for t in "$root"/tests/integration/*.sh; do
  [ -e "$t" ] || continue
  name=$(basename "$t" .sh)
  case $name in _*) continue ;; esac
  case " $LANE " in *" $name "*) lane1="$lane1 $name" ;; *) lane2="$lane2 $name" ;; esac
done

# run_lane NAME...: runs them in order; per script a result line in $work/res
# (pass|skip|fail NAME) and its report printed in one write
run_lane() {
  for name in "$@"; do
    tmp=$(mktemp -d /tmp/ekb-it-XXXXXX)
    out=$tmp/.out
    start=$(date +%s)
    TMPDIR=$tmp timeout -k 10 "${IT_TIMEOUT:-900}" sh "$root/tests/integration/$name.sh" >"$out" 2>&1 </dev/null
    rc=$?
    secs=$(( $(date +%s) - start ))
    last=$(grep -v '^$' "$out" | tail -1)
    case $rc in
      0) r=pass; rep=$(printf '  PASS %-28s %3ss  %s' "$name" "$secs" "$last") ;;
      77) r=skip; rep=$(printf '  SKIP %-28s %3ss  %s' "$name" "$secs" "$last") ;;
      *) r=fail; rep=$(printf '  FAIL %-28s %3ss  (exit %s)\n%s' "$name" "$secs" "$rc" "$(sed 's/^/       | /' "$out" | tail -40)") ;;
    esac
    printf '%s\n' "$rep"
    echo "$r $name" >>"$work/res"
    rm -rf "$tmp"
  done
}

: >"$work/res"
# shellcheck disable=SC2086
[ -n "$lane1" ] && { run_lane $lane1 & }
# shellcheck disable=SC2086
run_lane $lane2
wait
pass=$(grep -c '^pass ' "$work/res"); skip=$(grep -c '^skip ' "$work/res"); fail=$(grep -c '^fail ' "$work/res")
bad=$(sed -n 's/^fail //p' "$work/res" | tr '\n' ' ')
echo "[integration] $pass passed, $skip skipped, $fail failed"
[ "$fail" -eq 0 ] || { echo "[integration] FAILED: $bad"; exit 1; }
