#!/bin/sh
# run-bench.sh PROG...: runs each benchmark (C binaries and bench/*.sh scripts)
# one after the other (never in parallel: they share the cores), appends every
# output line to build/bench.log, and exits 1 if any benchmark failed.
set -u
log=${BENCH_LOG:-build/bench.log}
mkdir -p "$(dirname "$log")"; : >"$log"
failed=""
for b in "$@"; do
  echo "== $b" | tee -a "$log"
  out=$(mktemp)
  case $b in *.sh) sh "$b" >"$out" 2>&1 ;; *) "$b" >"$out" 2>&1 ;; esac
  rc=$?
  tee -a "$log" <"$out"; rm -f "$out"
  [ $rc -eq 0 ] || { echo "FAILED: $b (exit $rc)" | tee -a "$log"; failed="$failed $b"; }
done
echo "bench lines: $(grep -c '^bench ' "$log"), full log: $log"
[ -z "$failed" ] || { echo "failed:$failed"; exit 1; }
