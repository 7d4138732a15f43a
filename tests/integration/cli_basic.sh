# cli_basic.sh: the binary's global options, --version, --help, selftest,
# usage errors, bad board files and --mem.
. "$(dirname "$0")/_lib.sh"
set -u
B=$EDGEKB
expect_rc 0 "$B" --version
expect_out '^edgekb [0-9]+\.[0-9]+\.[0-9]+ \(git '
expect_out '^cpu: (x86_64|aarch64)'
expect_out '^build: .*musl, static'
expect_rc 0 "$B" version
expect_rc 0 "$B" --help
expect_out '^usage: edgekb'
expect_out 'selftest'
expect_rc 0 "$B" selftest
expect_out 'selftest: passed \(0 failed\)'
expect_rc 0 "$B" -q selftest
# usage errors exit 2 with one clear line
expect_rc 2 "$B"
expect_rc 2 "$B" no-such-command
expect_out "unknown command 'no-such-command'"
expect_rc 2 "$B" --no-such-option
expect_out "unknown option"
expect_rc 2 "$B" --board
expect_out "needs a value"
expect_rc 2 "$B" --mem lots selftest
expect_out "not a size"
expect_rc 2 "$B" selftest extra-arg
# --mem scales the arena; too small is refused with a reason
expect_rc 0 "$B" --mem 64M selftest
expect_out 'arena +ok +64 MB'
expect_rc 1 "$B" --mem 1M selftest
expect_out 'arena'
# board files: each shipped board works; bad ones are refused with the line
root=$(cd "$(dirname "$0")/../.." && pwd)
for b in "$root"/board/*.conf; do
  expect_rc 0 "$B" --board "$b" --mem 32M selftest
done
printf 'NAME = x\nBOGUS = 1\n' >"$TMPDIR/bad.conf"
expect_rc 1 "$B" --board "$TMPDIR/bad.conf" selftest
expect_out 'line 2'
expect_rc 1 "$B" --board "$TMPDIR/missing.conf" selftest
expect_out 'missing.conf'
head -c 3000 /dev/urandom >"$TMPDIR/junk.conf"
expect_rc 1 "$B" --board "$TMPDIR/junk.conf" selftest
echo "ok: version, help, selftest, usage errors, $(ls "$root"/board/*.conf | wc -l) boards, bad boards, --mem"
