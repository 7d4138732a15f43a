# _lib.sh: helpers sourced by integration tests (not a test itself: it has no
# main body). expect_rc RC CMD...: run, check the exit code, keep output in $OUT.
OUT=""
expect_rc() {
  want=$1; shift
  OUT=$("$@" 2>&1); got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL: '$*' exited $got, want $want; output:"; echo "$OUT" | head -20; exit 1
  fi
}
expect_out() { # expect_out PATTERN (grep -E on $OUT)
  echo "$OUT" | grep -Eq -- "$1" || { echo "FAIL: output lacks /$1/:"; echo "$OUT" | head -20; exit 1; }
}
