# srv_socket.sh: edgekb serve over a real UNIX socket (socat and edgekb cli):
# every command, pipelining, CRC mode, and bad input: over-long line, NUL and
# binary bytes, unknown command, too many arguments, negative / huge /
# over-limit / truncated / over-long payloads, 200 clients connecting at
# once, a client that never reads its replies, a full queue (ERR BUSY at
# once), optional AUTH, the uid allowlist and the idle timeout; after each the server still
# answers PING. SIGTERM during a generation: clean exit, socket file removed.
. "$(dirname "$0")/_lib.sh"
set -u
command -v socat >/dev/null 2>&1 || { echo "skip: socat not installed"; exit 77; }
[ -r "$SHARED/eval-dev/elements_docs.jsonl" ] || { echo "skip: no $SHARED/eval-dev"; exit 77; }
B=$EDGEKB
KB=$TMPDIR/kb
S=$TMPDIR/s.sock
LM=$SHARED/models/stories260K.gguf
[ -r "$LM" ] || LM=none
expect_rc 0 "$B" -q kb init --kb "$KB" --model "$TMPDIR/none.gguf"
expect_rc 0 "$B" -q ingest --kb "$KB" "$SHARED/eval-dev/elements_docs.jsonl" "$SHARED/eval-dev/elements_facts.tsv"
# documents at and one byte over the DOC GET limit (1 MiB): the over one through ingest
/usr/bin/python3 - "$TMPDIR" <<'PY'
import sys, json
d = sys.argv[1]
def text(n, seed):
    out, i = [], 0
    while sum(map(len, out)) < n:
        out.append("Sentence %d of document %d names element %d.%s" % (i, seed, (i * 7 + seed) % 118, "\n" if i % 9 == 8 else " "))
        i += 1
    return "".join(out)[:n]
open(d + "/big.txt", "w").write(text(1 << 20, 1))
open(d + "/over.jsonl", "w").write(json.dumps({"id": "over", "title": "too big", "text": text((1 << 20) + 1, 2)}) + "\n")
PY
expect_rc 0 "$B" -q ingest --kb "$KB" "$TMPDIR/over.jsonl"
PIDS=""
trap 'for p in $PIDS; do kill -9 $p 2>/dev/null; done' EXIT
start() { # start SOCK LOG ARGS...
  sk=$1; lg=$2; shift 2
  "$B" serve --kb "$KB" --sock "$sk" --lm "$LM" "$@" >"$lg" 2>&1 &
  SP=$!; PIDS="$PIDS $SP"
  i=0; while [ ! -S "$sk" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  [ -S "$sk" ] || { echo "FAIL: server did not start"; cat "$lg"; exit 1; }
}
start "$S" "$TMPDIR/serve.log" --stall 2
MAIN=$SP
[ "$(stat -c %a "$S")" = 660 ] || { echo "FAIL: socket mode $(stat -c %a "$S"), want 660"; exit 1; }
q() { printf '%b' "$1" | socat -t 5 - UNIX-CONNECT:"$S"; }
alive() { r=$(q 'PING\n'); [ "$r" = "OK PONG" ] || { echo "FAIL: server not answering after $1 (got '$r')"; exit 1; }; }
n=0
check() { # check REQUEST_BYTES EXPECTED_REGEX WHAT
  r=$(q "$1"); echo "$r" | grep -Eq -- "$2" || { echo "FAIL: $3: got '$(echo "$r" | head -5)'"; exit 1; }
  alive "$3"; n=$((n + 1)); }
check 'PING\n' '^OK PONG$' ping
check 'ping\r\n' '^OK PONG$' 'lower case + CRLF'
check 'HELP\n' '^OK 21$' help
check 'INFO\n' 'documents=138' info
check 'STATS\n' 'embedder=hash-fallback.*REDUCED' 'stats says fallback'
check 'HEALTH\n' '^OK status=(ok|warn|crit) tier=[0-9] mem_available_mb=' health
check 'METRICS\n' '^edgekb_requests_total\{cmd="PING"\} [0-9]+$' metrics
check 'METRICS\n' '^# TYPE edgekb_arena_used_bytes gauge$' 'metrics types'
check 'SEARCH text 3 noble gas\n' '^OK 3$' search
check 'SEARCH vector 2 lightest gas\n' '^OK 2$' 'vector search'
check 'SEARCH gold\n' '^1	elements:gold	' 'hybrid search default k'
check 'FIND hydrogen | symbol | ?\n' '^hydrogen	symbol	H	' find
check 'FIND ? | symbol | Au\n' '^gold	symbol	Au	' 'find by object'
check 'FIND ? | ? | ?\n' '^OK 200 tier=0 ms=[0-9.]* MORE$' 'find limit says MORE'
check 'FIND nosuch | ? | ?\n' '^OK 0 tier=1 ' 'find nothing'
check 'FACT ADD unobtainium | symbol | Uo\nFIND unobtainium | ? | ?\n' 'unobtainium	symbol	Uo' 'fact add'
check 'DOC ADD 24 note1 A note\ncobalt blue is a pigment\nSEARCH text cobalt pigment\n' 'note1' 'doc add + search'
check 'DOC ADD 24 note1 again\ncobalt blue is a pigment\n' '^OK DUP' 'duplicate doc'
check 'EMBED hello world\n' '^OK 1 hash-fallback 256$' embed
check 'CANCEL\n' '^OK IDLE$' 'cancel with nothing running'
check 'QUIT\nPING\n' '^OK BYE$' quit
[ "$(q 'QUIT\nPING\n')" = "OK BYE" ] || { echo "FAIL: a request after QUIT was answered"; exit 1; }
r=$(q 'DOC GET note1\n'); [ "$r" = "$(printf 'OK PAYLOAD 24 note1 A note\ncobalt blue is a pigment')" ] || { echo "FAIL: doc get: $r"; exit 1; }
check 'DOC GET elements:gold\n' '^OK PAYLOAD [0-9]+ elements:gold gold$' 'doc get of an ingested document'
# DOC GET up to the payload limit: 1 MiB in and out byte for byte (also in CRC mode), 1 MiB + 1 refused
out=$("$B" -q cli --sock "$S" --file "$TMPDIR/big.txt" DOC ADD - big The big one) || { echo "FAIL: 1 MiB DOC ADD: $out"; exit 1; }
"$B" -q cli --sock "$S" DOC GET big >"$TMPDIR/big.out" || { echo "FAIL: 1 MiB DOC GET"; exit 1; }
[ "$(head -1 "$TMPDIR/big.out")" = "OK PAYLOAD 1048576 big The big one" ] || { echo "FAIL: DOC GET status: $(head -c 100 "$TMPDIR/big.out")"; exit 1; }
tail -c +36 "$TMPDIR/big.out" | head -c 1048576 | cmp -s - "$TMPDIR/big.txt" || { echo "FAIL: 1 MiB DOC GET bytes differ"; exit 1; }
"$B" -q cli --sock "$S" --crc DOC GET big >"$TMPDIR/bigc.out" || { echo "FAIL: DOC GET in CRC mode (payload checksum)"; exit 1; }
tail -c +36 "$TMPDIR/bigc.out" | head -c 1048576 | cmp -s - "$TMPDIR/big.txt" || { echo "FAIL: CRC-mode DOC GET bytes differ"; exit 1; }
check 'DOC GET over\n' '^ERR TOOLONG document over 1048576 bytes' 'DOC GET over the limit'
# a client that stops reading a streamed DOC GET is dropped after --stall 2; others are served meanwhile
( printf 'DOC GET big\n'; sleep 5 ) | socat -u - UNIX-CONNECT:"$S" &
SLOWG=$!
sleep 0.5
alive 'a stalled DOC GET'
i=0; while ! grep -q 'stopped reading' "$TMPDIR/serve.log" && [ $i -lt 60 ]; do sleep 0.1; i=$((i + 1)); done
grep -q 'stopped reading' "$TMPDIR/serve.log" || { echo "FAIL: the stalled DOC GET reader was not dropped"; exit 1; }
alive 'dropping the stalled DOC GET reader'
kill $SLOWG 2>/dev/null; wait $SLOWG 2>/dev/null
n=$((n + 5))
check 'DOC DEL note1\nSEARCH text cobalt pigment\nDOC GET note1\n' '^ERR NOTFOUND' 'doc del'
r=$(q 'DOC DEL note1\nSEARCH text 5 cobalt pigment\n' | tr '\n' ' '); echo "$r" | grep -q '^ERR NOTFOUND ' && ! echo "$r" | grep -q '	note1	' || { echo "FAIL: deleted doc still found: $r"; exit 1; }
check 'FACT DEL unobtainium | symbol | Uo\nFIND unobtainium | ? | ?\n' '^OK 0 tier=1 ' 'fact del'
check 'FACT DEL unobtainium | symbol | Uo\n' '^ERR NOTFOUND' 'fact del of a missing fact'
long=$(printf '%01100d' 0)
check "FACT DEL $long | symbol | Uo\\n" '^ERR ARGS' 'fact del with an over-long subject'
if [ "$LM" != none ]; then
  check 'GEN 8 Once upon a time\n' '^END tokens=8 reason=length$' 'gen'
  r=$(q 'GEN 5 Once\n'); [ "$(echo "$r" | head -1)" = "OK STREAM" ] && [ "$(echo "$r" | grep -c '^+')" = 5 ] ||
    { echo "FAIL: GEN stream: $r"; exit 1; }
  check 'GEN 256 Once upon a time\nCANCEL\nPING\n' 'reason=(canceled|length|eos)' 'gen + cancel'
  r=$(q 'GEN 256 Once upon a time\nCANCEL\nPING\n' | tail -2 | tr '\n' ' ')
  [ "$r" = "OK CANCELED OK PONG " ] || { echo "FAIL: CANCEL reply order: $r"; exit 1; }
  # CANCEL in the middle of a running stream: wait for the first chunk, then
  # cancel; the stream must end reason=canceled before n tokens. A try whose
  # story hits EOS before the CANCEL lands is retried with another prompt.
  /usr/bin/python3 - "$S" <<'PY' || exit 1
import socket, sys
res = []
for i, prompt in enumerate(["Once upon a time", "The little dog", "One day Lily", "Tom and Sue", "A big red ball"]):
    c = socket.socket(socket.AF_UNIX); c.settimeout(10); c.connect(sys.argv[1])
    f = c.makefile("rb")
    c.sendall(b"GEN 256 " + prompt.encode() + b"\n")
    assert f.readline() == b"OK STREAM\n"
    first = f.readline()
    assert first.startswith(b"+"), first
    c.sendall(b"CANCEL\n")
    chunks, end = 1, None
    while True:
        l = f.readline()
        if not l: break
        if l.startswith(b"+"): chunks += 1; continue
        end = l.decode().strip(); break
    ack = f.readline().decode().strip()
    c.close()
    res.append((end, chunks, ack))
    if end and "reason=canceled" in end:
        n = int(end.split("tokens=")[1].split()[0])
        if n < 256 and ack == "OK CANCELED":
            print("ok: mid-stream CANCEL after %d chunk(s): %s, then %s (try %d)" % (chunks, end, ack, i + 1))
            sys.exit(0)
    if end and "reason=length" in end:
        break   # ran to n although CANCEL was sent after the first chunk: a failure
print("FAIL: mid-stream CANCEL did not stop GEN: %r" % res); sys.exit(1)
PY
  alive 'mid-stream cancel'; n=$((n + 1))
else
  check 'GEN 8 Once\n' '^ERR UNAVAIL' 'gen without a model'
fi
# pipelining: 50 requests in one write, 50 replies in order
req=""; i=0; while [ $i -lt 50 ]; do req="${req}PING\nSEARCH text 1 gold\n"; i=$((i + 1)); done
[ "$(q "$req" | grep -c '^OK PONG$')" = 50 ] || { echo "FAIL: pipelining lost replies"; exit 1; }
# CRC mode, through the client
out=$("$B" -q cli --sock "$S" --crc SEARCH text 2 noble gas) || { echo "FAIL: cli --crc: $out"; exit 1; }
echo "$out" | grep -q '^OK 2$' || { echo "FAIL: cli --crc: $out"; exit 1; }
check 'CRC ON\nPING\n' 'ERR CRC' 'crc mode: a line without its checksum'
# the client: one-shot, --json, a DOC ADD from a file
out=$("$B" -q cli --sock "$S" --json SEARCH hybrid 2 noble gas) || { echo "FAIL: cli --json"; exit 1; }
printf "%s\n" "$out" | grep -q '^{"ok":true,"status":"OK 2","lines":\["1\\t' || { echo "FAIL: cli --json: $out"; exit 1; }
printf 'Tungsten carbide is very hard.\nIt is used for drills.\n' >"$TMPDIR/doc.txt"
out=$("$B" -q cli --sock "$S" --file "$TMPDIR/doc.txt" DOC ADD - wc1 Tungsten carbide) || { echo "FAIL: cli doc: $out"; exit 1; }
echo "$out" | grep -q '^OK ADDED' || { echo "FAIL: cli doc add: $out"; exit 1; }
"$B" -q cli --sock "$S" FROB >/dev/null && { echo "FAIL: cli exit 0 on ERR"; exit 1; }
out=$(printf 'PING\nDOC ADD 5 int1\nhello\nSEARCH text 1 hello\n' | "$B" -q cli --sock "$S") || { echo "FAIL: interactive cli: $out"; exit 1; }
echo "$out" | grep -q 'int1' || { echo "FAIL: interactive cli: $out"; exit 1; }
# bad input
long=$(head -c 5000 /dev/zero | tr '\0' 'a')
check "SEARCH $long\nPING\n" '^ERR TOOLONG' 'over-long line'
[ "$(q "SEARCH $long\nPING\n" | tail -1)" = "OK PONG" ] || { echo "FAIL: no recovery after an over-long line"; exit 1; }
check 'PI\0NG\n' '^ERR BADREQ' 'NUL byte'
check '\377\376\375garbage\n' '^ERR BADREQ' 'binary bytes'
check 'FROB\n' '^ERR UNKNOWN' 'unknown command'
check 'PING extra args\n' '^ERR ARGS' 'too many arguments'
check 'DOC GET a b\n' '^ERR ARGS' 'too many arguments (DOC GET)'
check 'DOC DEL a b\n' '^ERR ARGS' 'too many arguments (DOC DEL)'
check 'HELLO again\n' '^ERR ARGS' 'too many arguments (HELLO)'
check 'CRC ON now\n' '^ERR ARGS' 'too many arguments (CRC)'
check 'QUIT now\nPING\n' '^ERR ARGS' 'too many arguments (QUIT)'
check 'FIND a | b | c | d\n' '^ERR ARGS' 'FIND with four parts'
check 'SEARCH\n' '^ERR ARGS' 'SEARCH without text'
check 'SEARCH 0 x\n' '^ERR ARGS' 'k = 0'
check 'FIND a | b\n' '^ERR ARGS' 'FIND with two parts'
check 'DOC ADD -5 x\n' '^ERR ARGS' 'negative length'
check 'DOC ADD 99999999999 x\n' '^ERR TOOLONG' 'huge length'
check 'DOC ADD 3 x\nabcdef\nPING\n' '^ERR BADREQ payload longer' 'over-long payload'
check 'DOC ADD 5 x\n\377\376\0ab\n' '^ERR BADREQ payload' 'binary payload'
check 'DOC ADD 100 trunc\nshort' '' 'truncated payload (client hangs up)'
check 'DOC GET trunc\n' '^ERR NOTFOUND' 'nothing stored from a truncated payload'
check 'DOC GET x\n' '^ERR NOTFOUND' 'nothing stored from an over-long or binary payload'
[ -z "$(q '\n\r\n  \t\n')" ] || { echo "FAIL: blank lines were answered"; exit 1; }
check 'DOC ADD 4294967296 x\nPING\n' '^ERR TOOLONG payload length over' 'length over 2^32-1 (nothing skipped)'
[ "$(q 'DOC ADD 4294967296 x\nPING\n' | tail -1)" = "OK PONG" ] || { echo "FAIL: the line after an unskippable length was skipped"; exit 1; }
# serve --help and cli --help document every option the parsers accept; the man page names them
root=$(cd "$(dirname "$0")/../.." && pwd)
shelp=$("$B" serve --help) || { echo "FAIL: serve --help exit code"; exit 1; }
keys=$(grep -o 'strcmp(k, "[a-z_]*")' "$root/src/srv_conf.c" | sed 's/.*"\(.*\)".*/\1/' | sort -u)
[ "$(echo $keys | wc -w)" -ge 20 ] || { echo "FAIL: found only $(echo $keys | wc -w) setting keys in srv_conf.c"; exit 1; }
for k in $keys config help; do
  f=$(echo "$k" | tr _ -)
  printf '%s\n' "$shelp" | grep -Eq -- "--$f( |$)|key ([a-z_]+ or )?$k([ ;)]|$)" || { echo "FAIL: serve --help lacks $k"; exit 1; }
done
chelp=$("$B" cli --help) || { echo "FAIL: cli --help exit code"; exit 1; }
for f in $(sed -n 's/.*strcmp(o, "--\([a-z-]*\)").*/\1/p' "$root/src/srv_cli.c" | sort -u); do
  printf '%s\n' "$chelp" | grep -q -- "--$f " || { echo "FAIL: cli --help lacks --$f"; exit 1; }
  grep -q -- "\\\\-\\\\-$f" "$root/docs/edgekb.1" || { echo "FAIL: man page lacks cli --$f"; exit 1; }
done
for f in $(printf '%s\n' "$shelp" | sed -n 's/^  --\([a-z-]*\).*/\1/p'); do
  grep -q -- "\\\\-\\\\-$(echo "$f" | sed 's/-/\\\\-/g')" "$root/docs/edgekb.1" || { echo "FAIL: man page lacks serve --$f"; exit 1; }
done
n=$((n + 2))
# a payload over 1 MiB is refused at once and skipped, never read as requests
head -c 1100000 /dev/zero | tr '\0' 'P' >"$TMPDIR/big"
r=$( (printf 'DOC ADD 1100000 big\n'; cat "$TMPDIR/big"; printf '\nPING\n') | socat -t 5 - UNIX-CONNECT:"$S" | tr '\n' ' ')
[ "$r" = "ERR TOOLONG payload over 1048576 bytes (skipped) OK PONG " ] || { echo "FAIL: big payload: $r"; exit 1; }
n=$((n + 1))
# 200 clients at once: one process opens all 200 connections first (no
# forking, so they really are there together however loaded the machine
# is), then each sends PING and reads what it got: at most max-clients (64)
# are served, every other one is told BUSY.
many=$(/usr/bin/python3 - "$S" <<'PY'
import socket, sys
cs = []
for i in range(200):
    c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); c.settimeout(10); cs.append(c)   # blocking connect: waits while the backlog is full
for c in cs:
    try: c.sendall(b"PING\n")
    except OSError: pass          # a BUSY client may already be closed; its line is still readable
pong = busy = other = 0
for c in cs:
    data = b""
    try:
        while not data.endswith(b"\n"):
            d = c.recv(256)
            if not d: break
            data += d
    except OSError: pass
    if data == b"OK PONG\n": pong += 1
    elif data.startswith(b"ERR BUSY too many clients"): busy += 1
    else: other += 1
    c.close()
print(pong, busy, other)
PY
)
set -- $many
[ "${1:-0}" -eq 64 ] && [ $(( ${1:-0} + ${2:-0} )) -eq 200 ] ||
  { echo "FAIL: 200 clients: got PONG/BUSY/other = $many"; exit 1; }
pongs=$1; busy=$2
alive '200 clients'
# a client that sends requests and never reads its replies is dropped; others are served meanwhile
( i=0; while [ $i -lt 4000 ]; do printf 'HELP\n'; i=$((i + 1)); done; sleep 4 ) | socat -u - UNIX-CONNECT:"$S" &
SLOW=$!
sleep 1
alive 'a client that does not read'
wait $SLOW 2>/dev/null
grep -q 'stopped reading' "$TMPDIR/serve.log" || { echo "FAIL: the non-reading client was not dropped"; exit 1; }
alive 'dropping the non-reading client'
# a full queue answers ERR BUSY at once: 1 worker, queue 1, 16 pipelining clients
S2=$TMPDIR/q.sock
start "$S2" "$TMPDIR/q.log" --workers 1 --queue 1
req=""; i=0; while [ $i -lt 40 ]; do req="${req}SEARCH hybrid 20 noble gas metal\n"; i=$((i + 1)); done
i=0
W=""
while [ $i -lt 16 ]; do (printf '%b' "$req" | socat -t 10 - UNIX-CONNECT:"$S2" | grep -E '^(OK [0-9]+|ERR)' >>"$TMPDIR/q.out") & W="$W $!"; i=$((i + 1)); done
wait $W 2>/dev/null
oks=$(grep -c '^OK' "$TMPDIR/q.out"); qb=$(grep -c '^ERR BUSY queue full' "$TMPDIR/q.out")
[ $((oks + qb)) -eq 640 ] || { echo "FAIL: queue test: $oks OK + $qb BUSY of 640"; exit 1; }
[ "$qb" -gt 0 ] || { echo "FAIL: queue test: nothing was refused with ERR BUSY"; exit 1; }
kill -TERM $SP; wait $SP
# AUTH on the socket, and the uid allowlist
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMPDIR/secret"
S3=$TMPDIR/a.sock
start "$S3" "$TMPDIR/a.log" --sock-auth on --secret "$TMPDIR/secret" --idle 2
r=$(printf 'PING\nSEARCH gold\nAUTH 0000000000000000000000000000000000000000000000000000000000000000\nHELLO\n' |
    socat -t 5 - UNIX-CONNECT:"$S3" | tr '\n' ' ')
echo "$r" | grep -Eq '^OK PONG ERR AUTH authenticate first .*ERR AUTH send HELLO first .*OK HELLO [0-9a-f]{32} $' ||
  { echo "FAIL: auth gate: $r"; exit 1; }
out=$("$B" -q cli --sock "$S3" --secret "$TMPDIR/secret" SEARCH text 1 gold) || { echo "FAIL: cli auth: $out"; exit 1; }
# a client silent for longer than --idle 2 gets ERR IDLE and is closed
r=$(sleep 3 | socat -t 5 - UNIX-CONNECT:"$S3")
[ "$r" = "ERR IDLE idle too long; closing" ] || { echo "FAIL: idle client: '$r'"; exit 1; }
printf 'wrong-secret-0123456789\n' >"$TMPDIR/bad"
"$B" -q cli --sock "$S3" --secret "$TMPDIR/bad" PING >/dev/null 2>&1 && { echo "FAIL: a wrong secret authenticated"; exit 1; }
kill -TERM $SP; wait $SP
S4=$TMPDIR/u.sock
start "$S4" "$TMPDIR/u.log" --allow-uid 4242
r=$(socat -t 5 UNIX-CONNECT:"$S4" - </dev/null)
[ "$r" = "ERR DENIED peer uid not allowed" ] || { echo "FAIL: allowlist: $r"; exit 1; }
grep -q "refused pid [0-9]* uid $(id -u)" "$TMPDIR/u.log" || { echo "FAIL: peer credentials not logged"; exit 1; }
kill -TERM $SP; wait $SP
n=$((n + 3))
# SIGTERM while a generation streams: it ends, the socket file goes
G=""
if [ "$LM" != none ]; then (printf 'GEN 256 Once upon a time\n'; sleep 2) | socat -t 3 - UNIX-CONNECT:"$S" >"$TMPDIR/gen.out" & G=$!; fi
sleep 0.2
kill -TERM $MAIN; wait $MAIN; rc=$?
[ $rc -eq 0 ] || { echo "FAIL: serve exited $rc on SIGTERM"; tail -5 "$TMPDIR/serve.log"; exit 1; }
[ ! -e "$S" ] || { echo "FAIL: socket file left behind"; exit 1; }
[ -z "$G" ] || wait $G 2>/dev/null
trap - EXIT
echo "ok: $n checks (every command, bad input), 200 clients ($pongs served, $busy told BUSY), non-reading client dropped, full queue ($qb ERR BUSY of 640), auth + allowlist, idle timeout, clean SIGTERM"
