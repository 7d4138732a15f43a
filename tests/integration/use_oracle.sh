# use_oracle.sh: the C USE-lite encoder against the TF.js runtime of the npm
# package (tools/use_oracle.mjs) over the eval-dev sentences (element
# descriptions split into sentences + the questions; >= 200 real sentences):
# mean cosine F32 >= 0.9999, Q8_0 >= 0.995, Q4_0 >= 0.98 (Q4_0 files keep
# USE-lite's block 0 in Q8_0: docs/models/quantize.md); mean and min printed.
# Also checks the numpy reference (tools/ref/use_ref.py) on the same file.
# edgekb embed reads the sentences from stdin (batched through embed_batch);
# Q8_0 also on 2 threads, which must print the same bytes.
# Skips (77) without node/npm. Models come from tools/models.sh (make models),
# the oracle's output is cached under build/use-oracle.
. "$(dirname "$0")/_lib.sh"
set -u
PY=/usr/bin/python3
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v node >/dev/null 2>&1 || { echo "skip: node not installed"; exit 77; }
$PY -c 'import numpy' 2>/dev/null || { echo "skip: /usr/bin/python3 has no numpy"; exit 77; }
MD=$root/build/models
EDGEKB=$EDGEKB MODELS_DIR=$MD "$root/tools/models.sh" >/dev/null 2>&1
[ -s "$MD/use-lite-f32.gguf" ] || { echo "skip: the USE-lite model could not be made (npm unavailable?)"; exit 77; }
C=$root/build/use-oracle
mkdir -p "$C"
S=$C/sentences.txt
EDGEKB_SHARED=$SHARED $PY "$root/tools/ref/use_ref.py" sentences >"$S.new" 2>/dev/null || exit 1
if ! cmp -s "$S.new" "$S" || [ ! -s "$C/oracle.jsonl" ]; then
  mv "$S.new" "$S"
  node "$root/tools/use_oracle.mjs" "$S" >"$C/oracle.jsonl" || { echo "FAIL: the oracle did not run"; exit 1; }
fi
rm -f "$S.new"
n=$(wc -l <"$S")
[ "$n" -ge 200 ] || { echo "FAIL: only $n sentences"; exit 1; }
for q in f32 q8_0 q4_0; do
  "$EDGEKB" -q embed --model "$MD/use-lite-$q.gguf" <"$S" >"$TMPDIR/c-$q.jsonl" || { echo "FAIL: edgekb embed $q"; exit 1; }
done
# on 2 threads: the same bytes as one thread (embed --threads)
"$EDGEKB" -q embed --threads 2 --model "$MD/use-lite-q8_0.gguf" <"$S" >"$TMPDIR/c-q8_0-t2.jsonl" || { echo "FAIL: edgekb embed --threads 2"; exit 1; }
cmp -s "$TMPDIR/c-q8_0-t2.jsonl" "$TMPDIR/c-q8_0.jsonl" || { echo "FAIL: --threads 2 output differs from one thread"; exit 1; }
head -200 "$S" >"$TMPDIR/s200.txt" # the float64 numpy reference is slow: its check uses 200 sentences
$PY "$root/tools/ref/use_ref.py" embed --gguf "$MD/use-lite-f32.gguf" "$TMPDIR/s200.txt" >"$TMPDIR/ref.jsonl" 2>/dev/null || exit 1
$PY - "$C/oracle.jsonl" "$TMPDIR" >"$TMPDIR/summary" <<'PYEOF'
import json, sys
import numpy as np
O = np.array([json.loads(l) for l in open(sys.argv[1])], dtype=np.float64)
n = lambda a: a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-30)
ok = True
def load(f):
    rows = [json.loads(l) for l in open(f)]
    return np.array([r if isinstance(r, list) else r["embedding"] for r in rows], dtype=np.float64)
for label, f, need in (("c-f32", "c-f32", 0.9999), ("c-q8_0", "c-q8_0", 0.995), ("c-q4_0", "c-q4_0", 0.98),
                       ("numpy-ref-f32", "ref", 0.9999)):
    X = load("%s/%s.jsonl" % (sys.argv[2], f))
    assert X.shape[1] == O.shape[1] and X.shape[0] <= O.shape[0], (label, X.shape, O.shape)
    cos = (n(X) * n(O[:X.shape[0]])).sum(1)
    print("%s vs tfjs over %d sentences: mean %.7f min %.7f (need mean >= %s)" % (label, len(cos), cos.mean(), cos.min(), need))
    ok &= cos.mean() >= need
sys.exit(0 if ok else 1)
PYEOF
rc=$?
cat "$TMPDIR/summary"
[ $rc -eq 0 ] || { echo "FAIL: below a threshold"; exit 1; }
echo "ok: USE-lite (C) vs the TF.js oracle over $n sentences: $(grep -o 'c-[a-z0-9_]* vs tfjs over [0-9]* sentences: mean [0-9.]* min [0-9.]*' "$TMPDIR/summary" | sed 's/ vs tfjs over [0-9]* sentences://' | tr '\n' ';')"
