# srv_serial.sh: edgekb serve on a serial line, through a socat pty pair
# (raw termios on the server side), at the same time as a UNIX socket:
# commands before AUTH are refused (PING, HELLO allowed; a DOC ADD's payload
# is skipped), HELLO/AUTH with
# the device secret (edgekb cli --secret), a wrong MAC, CRC mode with a
# corrupted line and binary noise (ERR CRC, resync at the next newline, the
# next good line answered), QUIT ends the serial session (auth again).
. "$(dirname "$0")/_lib.sh"
set -u
command -v socat >/dev/null 2>&1 || { echo "skip: socat not installed"; exit 77; }
[ -r "$SHARED/eval-dev/elements_docs.jsonl" ] || { echo "skip: no $SHARED/eval-dev"; exit 77; }
B=$EDGEKB
KB=$TMPDIR/kb
expect_rc 0 "$B" -q kb init --kb "$KB" --model "$TMPDIR/none.gguf"
expect_rc 0 "$B" -q ingest --kb "$KB" "$SHARED/eval-dev/elements_docs.jsonl" "$SHARED/eval-dev/elements_facts.tsv"
socat pty,raw,echo=0,link="$TMPDIR/ttyS" pty,raw,echo=0,link="$TMPDIR/ttyC" 2>"$TMPDIR/socat.log" &
PTY=$!
PIDS=$PTY
trap 'for p in $PIDS; do kill $p 2>/dev/null; done' EXIT
i=0; while { [ ! -e "$TMPDIR/ttyS" ] || [ ! -e "$TMPDIR/ttyC" ]; } && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -e "$TMPDIR/ttyC" ] || { echo "skip: socat could not make a pty pair"; exit 77; }
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMPDIR/secret"
# without a secret, a serial line that requires AUTH is refused at start
expect_rc 1 "$B" -q serve --kb "$KB" --sock none --serial "$TMPDIR/ttyS"
echo "$OUT" | grep -q 'requires AUTH' || { echo "FAIL: no clear error without a secret: $OUT"; exit 1; }
"$B" serve --kb "$KB" --sock "$TMPDIR/s.sock" --serial "$TMPDIR/ttyS" --baud 115200 --secret "$TMPDIR/secret" \
  >"$TMPDIR/serve.log" 2>&1 &
SP=$!; PIDS="$SP $PIDS"
i=0; while ! grep -q 'serial line' "$TMPDIR/serve.log" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
grep -q "serial line $TMPDIR/ttyS at 115200 baud (auth required" "$TMPDIR/serve.log" ||
  { echo "FAIL: serial line not opened"; cat "$TMPDIR/serve.log"; exit 1; }
# raw bytes on the line: PING is allowed before AUTH, SEARCH is not
sr() { printf '%b' "$1" | socat -t 2 - "$TMPDIR/ttyC",raw,echo=0; }
r=$(sr 'PING\nSEARCH gold\nFIND gold | ? | ?\n' | tr '\n' ' ')
[ "$r" = "OK PONG ERR AUTH authenticate first (HELLO, AUTH) ERR AUTH authenticate first (HELLO, AUTH) " ] ||
  { echo "FAIL: before AUTH: '$r'"; exit 1; }
# a DOC ADD before AUTH is refused and its payload skipped (never read as a request)
r=$(sr 'DOC ADD 5 x\nHELP!\nPING\n' | tr '\n' ' ')
[ "$r" = "ERR AUTH authenticate first (HELLO, AUTH) OK PONG " ] || { echo "FAIL: DOC ADD before AUTH: '$r'"; exit 1; }
r=$(sr 'HELLO\nAUTH 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\nSEARCH gold\n' | tr '\n' ' ')
echo "$r" | grep -Eq '^OK HELLO [0-9a-f]{32} ERR AUTH bad response .*ERR AUTH authenticate first' ||
  { echo "FAIL: wrong MAC accepted or odd replies: '$r'"; exit 1; }
# the client authenticates with the secret; the socket needs no auth meanwhile
out=$("$B" -q cli --serial "$TMPDIR/ttyC" --secret "$TMPDIR/secret" SEARCH text 2 noble gas) ||
  { echo "FAIL: cli over serial: $out"; exit 1; }
echo "$out" | grep -q '^OK 2$' || { echo "FAIL: search over serial: $out"; exit 1; }
out=$("$B" -q cli --sock "$TMPDIR/s.sock" FIND gold '|' symbol '|' ?) || { echo "FAIL: socket beside serial: $out"; exit 1; }
echo "$out" | grep -q 'gold	symbol	Au' || { echo "FAIL: socket beside serial: $out"; exit 1; }
# the cli's QUIT ended the session: auth is needed again
r=$(sr 'SEARCH gold\n')
echo "$r" | grep -q '^ERR AUTH' || { echo "FAIL: the session survived QUIT: '$r'"; exit 1; }
# CRC mode through the client (with auth), then raw noise on the line
out=$("$B" -q cli --serial "$TMPDIR/ttyC" --crc --secret "$TMPDIR/secret" FIND ? '|' symbol '|' Fe) ||
  { echo "FAIL: cli --crc over serial: $out"; exit 1; }
echo "$out" | grep -q '^iron	symbol	Fe	' || { echo "FAIL: crc find: $out"; exit 1; }
crc() { printf '%s*%s' "$1" "$(printf '%s' "$1" | /usr/bin/python3 -c 'import sys,binascii;print("%04X"%binascii.crc_hqx(sys.stdin.buffer.read(),0xFFFF))')"; }
# authenticate by hand (the serial session persists between openings of the line)
nonce=$(sr 'HELLO\n' | sed -n 's/^OK HELLO //p')
mac=$(/usr/bin/python3 -c 'import hmac,hashlib,sys;print(hmac.new(open(sys.argv[1],"rb").read().rstrip(b"\r\n"),sys.argv[2].encode(),hashlib.sha256).hexdigest())' "$TMPDIR/secret" "$nonce")
[ "$(sr "AUTH $mac\n")" = "OK AUTH" ] || { echo "FAIL: AUTH with an independently computed HMAC (python hmac)"; exit 1; }
r=$(sr "$(crc 'CRC ON')\nPINH*6427\n\377\001\002noise\n$(crc PING)\n$(crc 'FIND ? | symbol | Au')\n$(crc QUIT)\n" | tr '\n' ' ')
echo "$r" | grep -Eq '^OK CRC ON\*[0-9A-F]{4} ERR CRC line checksum missing or wrong\*[0-9A-F]{4} ERR CRC line checksum missing or wrong\*[0-9A-F]{4} OK PONG\*[0-9A-F]{4} OK 1 tier=0 ms=[0-9.]+\*[0-9A-F]{4} gold	symbol	Au	1\.0000	0	exact\*[0-9A-F]{4} OK BYE\*[0-9A-F]{4} $' ||
  { echo "FAIL: CRC resync: '$r'"; exit 1; }
[ "$(sr 'PING\n')" = "OK PONG" ] || { echo "FAIL: CRC mode not reset by QUIT"; exit 1; }
kill -TERM $SP; wait $SP; rc=$?
[ $rc -eq 0 ] || { echo "FAIL: serve exited $rc"; exit 1; }
[ ! -e "$TMPDIR/s.sock" ] || { echo "FAIL: socket file left"; exit 1; }
echo "ok: serial (socat pty, raw termios) + socket at once: AUTH gate, wrong MAC, HMAC auth, CRC mode with corrupted line + noise resync, QUIT resets the session"
