# gguf_ref.sh: the C GGUF reader and `edgekb quantize` against the independent
# numpy reference (tools/ref/gguf.py):
#  - `edgekb gguf-info` lists exactly what the python reader lists (version,
#    architecture, alignment, data offset, metadata count, file type, every
#    tensor's name, type, shape, bytes and offset) for stories260K, the
#    mkmodels.py bert-tiny / minilm-shape files (F32, and Q8_0/Q4_0 written by
#    the python quantizer) and the fuzz seeds (v2, every KV type, alignment 64);
#  - `edgekb quantize` output: every tensor the C rule quantizes is byte-equal
#    to the python ggml-exact quantizer on the source tensor; the set of
#    quantized tensors and their types equal python's quant_type (token_embd,
#    and USE-lite's blk.0.*, are Q8_0 in our Q4_0 files: docs/models/quantize.md)
#    on stories260K, bert-tiny, minilm-shape and use-lite-f32 (when made);
#    metadata equal to the source except general.file_type / quantization_version;
#  - bad inputs to the commands: truncated file, bad type, unwritable output.
. "$(dirname "$0")/_lib.sh"
set -u
PY=/usr/bin/python3
root=$(cd "$(dirname "$0")/../.." && pwd)
$PY -c 'import numpy' 2>/dev/null || { echo "skip: /usr/bin/python3 has no numpy (apt-get install python3-numpy)"; exit 77; }
REFD=$root/build/ref
stale=0 # absent, or older than the generator / quantizer: remade
for f in "$REFD/minilm-shape-q4_0.gguf" "$REFD/bert-tiny-q4_0.gguf"; do
  { [ -s "$f" ] && [ ! "$root/tools/ref/mkmodels.py" -nt "$f" ] && [ ! "$root/tools/ref/gguf.py" -nt "$f" ]; } || stale=1
done
if [ $stale = 1 ]; then
  mkdir -p "$REFD"
  EDGEKB_SHARED=$SHARED $PY "$root/tools/ref/mkmodels.py" "$REFD" --only bert-tiny,minilm-shape >/dev/null || exit 1
fi
$PY "$root/tools/fuzz/mkseeds_gguf.py" "$TMPDIR/seeds" || exit 1
export PYTHONPATH=$root/tools/ref

# python's listing in gguf-info's format
pylist() {
  $PY - "$1" <<'PYEOF'
import sys, gguf
r = gguf.GGUFReader(sys.argv[1])
print("version: %d" % r.version)
a = r.kv.get("general.architecture", "")
print("architecture: %s" % (a if r.kv_types.get("general.architecture", (0,))[0] == gguf.T_STRING else ""))
print("alignment: %d" % r.alignment)
print("data offset: %d" % r.data_offset)
print("metadata: %d" % len(r.kv))
if "general.file_type" in r.kv:
    print("file type: %d" % r.kv["general.file_type"])
print("tensors: %d" % len(r.tensors))
for n in r.tensor_order:
    t = r.tensors[n]
    print("tensor %s %s [%s] %d bytes at %d" % (n, gguf.GGML_TYPE_NAMES[t.type], ", ".join(map(str, t.ne)),
                                                t.nbytes, t.offset))
PYEOF
}

nf=0; nt=0
for f in "$SHARED/models/stories260K.gguf" "$REFD"/bert-tiny-*.gguf "$REFD"/minilm-shape-*.gguf "$TMPDIR"/seeds/*.gguf; do
  [ -r "$f" ] || continue
  "$EDGEKB" -q gguf-info "$f" | sed 1d >"$TMPDIR/c.txt" || { echo "FAIL: edgekb gguf-info $f"; exit 1; }
  pylist "$f" >"$TMPDIR/py.txt" || { echo "FAIL: python reader on $f"; exit 1; }
  if ! cmp -s "$TMPDIR/c.txt" "$TMPDIR/py.txt"; then
    echo "FAIL: gguf-info differs from the python reader for $f:"; diff "$TMPDIR/py.txt" "$TMPDIR/c.txt" | head -20; exit 1
  fi
  nf=$((nf + 1)); nt=$((nt + $(grep -c '^tensor ' "$TMPDIR/c.txt")))
done
[ $nf -ge 10 ] || { echo "FAIL: only $nf files listed"; exit 1; }
echo "gguf-info: $nf files, $nt tensors listed identically to the python reader"

for src in "$SHARED/models/stories260K.gguf" "$REFD/bert-tiny-f32.gguf" "$REFD/minilm-shape-f32.gguf" \
           "${MODELS_DIR:-$root/build/models}/use-lite-f32.gguf"; do
  [ -r "$src" ] || continue
  for q in q8_0 q4_0; do
    out=$TMPDIR/out-$q.gguf
    expect_rc 0 "$EDGEKB" -q quantize "$src" "$out" $q
    [ ! -e "$out.tmp" ] || { echo "FAIL: $out.tmp left behind"; exit 1; }
    $PY - "$src" "$out" $q <<'PYEOF' || { echo "FAIL: quantize $q of $src"; exit 1; }
import sys, gguf, numpy as np
src, out, q = sys.argv[1:4]
s, d = gguf.GGUFReader(src), gguf.GGUFReader(out)
want = gguf.GGML_Q8_0 if q == "q8_0" else gguf.GGML_Q4_0
assert d.version == 3 and d.tensor_order == s.tensor_order
assert d.kv["general.file_type"] == gguf.FTYPE_FOR[want], d.kv["general.file_type"]
assert d.kv["general.quantization_version"] == 2
for k in s.kv:
    if k in ("general.file_type", "general.quantization_version"):
        continue
    a, b = s.kv[k], d.kv[k]
    assert s.kv_types[k] == d.kv_types[k], k
    assert (np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b), k
nq = 0
for n in s.tensor_order:
    ts, td = s.tensors[n], d.tensors[n]
    assert ts.ne == td.ne, n
    expect = gguf.quant_type(n, ts.ne, ts.type, want, s.get("general.architecture", ""))
    assert td.type == expect, "%s: type %d, want %d" % (n, td.type, expect)
    if td.type == ts.type:
        assert bytes(td.raw()) == bytes(ts.raw()), n
        continue
    x = ts.numpy().astype(np.float32)
    ref = gguf.quantize_q8_0(x) if td.type == gguf.GGML_Q8_0 else gguf.quantize_q4_0(x)
    assert bytes(td.raw()) == bytes(ref), "%s: bytes differ from the numpy quantizer" % n
    nq += 1
print("%s %s: %d tensors byte-identical to the numpy quantizer, metadata equal, file_type %d"
      % (src.rsplit("/", 1)[1], q, nq, d.kv["general.file_type"]))
PYEOF
  done
done

# bad inputs
M=$TMPDIR/seeds/llama-mixed.gguf
head -c 1000 "$M" >"$TMPDIR/trunc.gguf"
expect_rc 1 "$EDGEKB" -q gguf-info "$TMPDIR/trunc.gguf"
expect_out "gguf: tensor '.*': data \[[0-9]+,[0-9]+\) beyond end of file \(1000 bytes\)"
head -c 100 "$M" >"$TMPDIR/trunc.gguf"
expect_rc 1 "$EDGEKB" -q quantize "$TMPDIR/trunc.gguf" "$TMPDIR/x.gguf" q8_0
expect_out "gguf: "
[ ! -e "$TMPDIR/x.gguf" ] && [ ! -e "$TMPDIR/x.gguf.tmp" ] || { echo "FAIL: output left after a bad input"; exit 1; }
expect_rc 2 "$EDGEKB" -q quantize "$M" "$TMPDIR/x.gguf" q4_k
expect_out "not q8_0 or q4_0"
expect_rc 2 "$EDGEKB" -q quantize "$M"
expect_rc 1 "$EDGEKB" -q quantize "$M" "$TMPDIR/no/such/dir/x.gguf" q8_0
expect_out "cannot create"
expect_rc 1 "$EDGEKB" -q gguf-info "$TMPDIR/none.gguf"
printf 'GGUF\001\000\000\000' >"$TMPDIR/v1.gguf"; head -c 40 /dev/zero >>"$TMPDIR/v1.gguf"
expect_rc 1 "$EDGEKB" -q gguf-info "$TMPDIR/v1.gguf"
expect_out "version 1 is not supported"
echo "ok: gguf-info matches the python reader on $nf files; quantize byte-exact vs numpy; bad inputs rejected"
