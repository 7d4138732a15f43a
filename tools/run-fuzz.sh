#!/bin/sh
# run-fuzz.sh SECONDS BIN...: runs each libFuzzer binary build/fuzz/fuzz_<name>
# for SECONDS on its seed corpus tests/fuzz/<name>/ (read-only) plus a
# working corpus build/fuzz/corpus/<name>/ (grows between runs). Crashers go
# to build/fuzz/artifacts/<name>/; turn each into a regression test. Prints a
# `fuzz <name> execs=N secs=S corpus=N crashers=N` line per target; exit 1 if
# any target found a crasher.
set -u
secs=$1; shift
root=$(cd "$(dirname "$0")/.." && pwd)
bad=0
for bin in "$@"; do
  name=$(basename "$bin"); name=${name#fuzz_}
  corpus=$root/build/fuzz/corpus/$name; art=$root/build/fuzz/artifacts/$name
  seeds=$root/tests/fuzz/$name
  mkdir -p "$corpus" "$art" "$seeds"
  log=$root/build/fuzz/$name.log
  start=$(date +%s)
  "$bin" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$art/" -max_len=8192 \
    "$corpus" "$seeds" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  n=$(ls "$corpus" | wc -l)
  crashers=$(ls "$art" | wc -l)
  echo "fuzz $name execs=${execs:-?} secs=$(( $(date +%s) - start )) corpus=$n crashers=$crashers exit=$rc"
  if [ "$rc" -ne 0 ] || [ "$crashers" -ne 0 ]; then
    bad=1; grep -E "ERROR|SUMMARY|invariant|Test unit written" "$log" | head -20
  fi
done
exit $bad
