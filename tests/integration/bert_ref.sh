# bert_ref.sh: the C BERT encoder against the independent numpy reference
# (tools/ref/bert_ref.py) on random-weight GGUFs of real shapes made by
# tools/ref/mkmodels.py (bert-tiny and all-MiniLM-L6-v2 shapes; cached under
# build/ref): F32 cosine >= 0.9999 for every text (mean and min printed);
# Q8_0 / Q4_0 cosines vs the reference on the same quantized file with
# --act-q8 are printed and must be >= 0.999 / 0.99.
. "$(dirname "$0")/_lib.sh"
set -u
PY=/usr/bin/python3
root=$(cd "$(dirname "$0")/../.." && pwd)
$PY -c 'import numpy' 2>/dev/null || { echo "skip: /usr/bin/python3 has no numpy"; exit 77; }
[ -r "$SHARED/models/tokenizers/all-MiniLM-L6-v2/vocab.txt" ] || { echo "skip: MiniLM vocab absent"; exit 77; }
REFD=$root/build/ref
stale=0 # absent, or older than the generator / quantizer: remade
for f in "$REFD/minilm-shape-q4_0.gguf" "$REFD/bert-tiny-q4_0.gguf"; do
  { [ -s "$f" ] && [ ! "$root/tools/ref/mkmodels.py" -nt "$f" ] && [ ! "$root/tools/ref/gguf.py" -nt "$f" ]; } || stale=1
done
if [ $stale = 1 ]; then
  mkdir -p "$REFD"
  EDGEKB_SHARED=$SHARED $PY "$root/tools/ref/mkmodels.py" "$REFD" --only bert-tiny,minilm-shape >/dev/null || exit 1
fi
T=$TMPDIR/texts.txt
cat >"$T" <<'TXT'
Hydrogen is the lightest element.
What is the atomic number of carbon?
Gold is a dense, soft, shiny metal; it is used in jewellery.
The noble gases (helium, neon, argon) are unreactive!
Café, naïve façade — Ünïcödé & punctuation...
x
TXT
for m in bert-tiny minilm-shape; do
  for q in f32 q8_0 q4_0; do
    f=$REFD/$m-$q.gguf
    act=""; min=0.9999
    [ $q = q8_0 ] && { act="--act-q8"; min=0.999; }
    [ $q = q4_0 ] && { act="--act-q8"; min=0.99; }
    "$EDGEKB" -q embed --model "$f" <"$T" >"$TMPDIR/c.jsonl" || { echo "FAIL: edgekb embed $f"; exit 1; }
    $PY - "$f" "$T" "$TMPDIR/c.jsonl" "$act" "$min" "$m-$q" "$root" <<'PYEOF' || exit 1
import json, subprocess, sys
import numpy as np
f, texts, cj, act, mn, label, root = sys.argv[1:8]
lines = open(texts, encoding="utf-8").read().split("\n")[:-1]
cmd = ["/usr/bin/python3", root + "/tools/ref/bert_ref.py", f, "--json"]
for t in lines:
    cmd += ["--text", t]
if act:
    cmd.append(act)
ref = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
R = np.array([it["embedding"] for it in ref["items"]], dtype=np.float64)
C = np.array([json.loads(l) for l in open(cj)], dtype=np.float64)
assert C.shape == R.shape, (C.shape, R.shape)
cos = (C * R).sum(1) / np.linalg.norm(C, axis=1) / np.linalg.norm(R, axis=1)
print("%s: cosine vs reference over %d texts: mean %.7f min %.7f (need >= %s)" % (label, len(cos), cos.mean(), cos.min(), mn))
sys.exit(0 if cos.min() >= float(mn) else 1)
PYEOF
  done
done
echo "ok: BERT encoder matches the numpy reference (F32 >= 0.9999, Q8_0 >= 0.999, Q4_0 >= 0.99)"
