#!/bin/sh
# mk_use_token_vectors.sh: regenerates tests/data/use_tokens.jsonl, the
# USE-lite tokenizer vectors of tests/test_tok.c: the package's own ids
# (node tools/use_oracle.mjs --tokens, i.e. @energetic-ai/embeddings'
# Tokenizer.encode) for the first 250 eval sentences (tools/ref/use_ref.py
# sentences) and the edge cases of use_ref.py's edge_sentences() (all but
# the 16 KB one). One JSON object per line: {"text": "...", "ids": [...]}.
# Needs node, the npm packages (tools/setup-npm.sh) and /usr/bin/python3.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/tests/data/use_tokens.jsonl
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$root/tools/setup-npm.sh" >/dev/null
/usr/bin/python3 - "$root" >"$tmp/in.jsonl" <<'PY'
import json, os, sys
sys.path.insert(0, os.path.join(sys.argv[1], "tools", "ref"))
import use_ref
d = os.environ.get("EDGEKB_SHARED", os.path.join(sys.argv[1], "..", "shared")) + "/eval-dev"
texts = use_ref.eval_sentences(d)[:250] + [t for t in use_ref.edge_sentences(d) if len(t.encode()) < 4096]
for t in texts:
    print(json.dumps(t, ensure_ascii=False))
PY
node "$root/tools/use_oracle.mjs" --tokens --jsonl "$tmp/in.jsonl" >"$tmp/ids.jsonl"
/usr/bin/python3 - "$tmp/in.jsonl" "$tmp/ids.jsonl" >"$out.tmp" <<'PY'
import json, sys
T = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
I = [json.loads(l) for l in open(sys.argv[2])]
assert len(T) == len(I), (len(T), len(I))
for t, i in zip(T, I):
    print(json.dumps({"text": t, "ids": i}, ensure_ascii=True))
PY
mv "$out.tmp" "$out"
echo "wrote $out: $(wc -l <"$out") texts, $(wc -c <"$out") bytes"
