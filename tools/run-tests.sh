#!/bin/sh
# run-tests.sh LABEL "PREFIX CMD" TEST...: runs cmocka test binaries (through
# PREFIX, e.g. qemu-aarch64-static -cpu cortex-a53), prints each binary's
# cmocka closing lines (stderr merged) and wall seconds, and a total. Exit 1 if any failed.
# A binary that runs longer than TEST_TIMEOUT seconds (default 900) is
# killed and counted as failed, its output so far printed (cmocka's
# "[ RUN ]" lines name the test that hung).
set -u
tmo=${TEST_TIMEOUT:-900}
label=$1; prefix=$2; shift 2
run=0; passed=0; failed=0; bad=""
log=$(mktemp); trap 'rm -f "$log"' EXIT
for t in "$@"; do
  t0=$(date +%s)
  # shellcheck disable=SC2086
  timeout -k 10 "$tmo" $prefix "$t" >"$log" 2>&1 </dev/null; rc=$?
  [ $rc -eq 124 ] && echo "[ TIMEOUT  ] killed after $tmo s" >>"$log"
  secs=$(( $(date +%s) - t0 ))
  n=$(sed -n 's/^\[==========\] \([0-9]*\) test(s) run\./\1/p' "$log" | tail -1)
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$log" | tail -1)
  n=${n:-0}; p=${p:-0}
  run=$((run + n)); passed=$((passed + p))
  if [ $rc -ne 0 ] || [ "$n" -eq 0 ] || [ "$p" -ne "$n" ]; then
    failed=$((failed + 1)); bad="$bad $(basename "$t")"
    echo "---- $(basename "$t") (exit $rc) ----"; cat "$log"
  else
    printf '%-22s %-30s %4d s\n' "$(basename "$t")" "$(grep -E '^\[ *(PASSED|FAILED) *\]' "$log" | tr '\n' ' ')" "$secs"
  fi
done
echo "[$label] $passed/$run tests passed in $# binaries"
if [ $failed -ne 0 ]; then echo "[$label] FAILED:$bad"; exit 1; fi
