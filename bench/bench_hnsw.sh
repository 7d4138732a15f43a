# bench_hnsw.sh: edgekb's int8 HNSW vs Debian's hnswlib vs exact brute force,
# side by side on the same vectors, queries and ground truth, single thread:
# recall@10, queries/s, bytes per vector, build time, one line per (impl, ef).
#
# Data (cached under build/bench-data/, made once):
#   gcide-10k, gcide-100k: REAL 512-d USE-lite embeddings (edgekb embed, the C
#     embedder, Q8_0 model) of Debian dict-gcide definition paragraphs
#     (bench/hnsw_data.py: headword lines and source tags removed, deduplicated,
#     every k-th paragraph over the whole dictionary; 1000 held-out paragraphs
#     are the queries; 10k = every 10th row of the 100k set). Embedding 101k
#     texts takes ~20 min on one core here; it is done once.
#   synth-N: Gaussian mixture (1000 centres, normalised), numpy seed 1234,
#     N = HNSW_BENCH_SYNTH_N (default 200000; 1000000 for the 1M run: needs
#     ~2 GB of disk and a long build, see docs/architecture.md).
# hnswlib: header-only C++ from libhnswlib-dev, built here with g++ -O3
#   -march=native into build/bench/; skipped with a message when absent (this
#   script installs nothing: apt-get install -y libhnswlib-dev).
# Environment: EDGEKB (the binary), MODELS_DIR, BENCH_BIN_DIR (from make bench),
#   HNSW_BENCH_SETS (default "gcide-10k gcide-100k synth"), HNSW_BENCH_EF.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
D=$root/build/bench-data
PY=/usr/bin/python3
BIN=${BENCH_BIN_DIR:-$root/build/x86_64-generic/bench}/bench_hnsw
EFS=${HNSW_BENCH_EF:-16,32,64,128,256}
M=16
EFC=200
mkdir -p "$D" "$root/build/bench"
[ -x "$BIN" ] || { echo "bench hnsw skipped=\"$BIN not built (make bench)\""; exit 0; }

REF=$root/build/bench/hnswlib_ref
if [ -r /usr/include/hnswlib/hnswlib.h ]; then
  if [ ! -x "$REF" ] || [ "$root/bench/hnswlib_ref.cpp" -nt "$REF" ]; then
    g++ -O3 -march=native -o "$REF" "$root/bench/hnswlib_ref.cpp" || REF=""
  fi
else
  echo "bench hnsw note=\"hnswlib not installed: apt-get install -y libhnswlib-dev; comparing with brute force only\""
  REF=""
fi

# run SET BASE QUERY N NQ
run() {
  echo "== $1: n=$4 queries=$5 dim=512 M=$M efc=$EFC" >&2
  "$BIN" "$2" "$3" 512 "$4" "$5" "$1" "$D/$1.gt" $M $EFC "$EFS" || return 1
  [ -n "$REF" ] && "$REF" "$2" "$3" 512 "$4" "$5" "$1" "$D/$1.gt" $M $EFC "$EFS"
  return 0
}

gcide() {
  if [ ! -s "$D/gcide-100k.f32" ] || [ ! -s "$D/gcide-query.f32" ]; then
    [ -r /usr/share/dictd/gcide.dict.dz ] || {
      echo "bench hnsw skipped=\"gcide: dict-gcide not installed (apt-get install -y dict-gcide)\""; return 0; }
    model=${MODELS_DIR:-$root/build/models}/use-lite-q8_0.gguf
    [ -r "$model" ] || { echo "bench hnsw skipped=\"gcide: no $model (make models)\""; return 0; }
    echo "bench_hnsw.sh: embedding 101000 gcide paragraphs with edgekb embed (once, ~20 min)" >&2
    $PY "$root/bench/hnsw_data.py" gcide-texts 100000 1000 "$D/gcide" >&2 || return 1
    for part in query base; do
      "$EDGEKB" -q embed --model "$model" <"$D/gcide.$part.txt" >"$D/gcide.$part.jsonl" || return 1
    done
    $PY "$root/bench/hnsw_data.py" json2bin "$D/gcide.query.jsonl" "$D/gcide-query.f32" 512 >&2 || return 1
    $PY "$root/bench/hnsw_data.py" json2bin "$D/gcide.base.jsonl" "$D/gcide-100k.f32" 512 >&2 || return 1
  fi
  if [ ! -s "$D/gcide-10k.f32" ]; then
    $PY -c "import numpy as np,sys; x=np.fromfile(sys.argv[1],dtype=np.float32).reshape(-1,512); x[::10].tofile(sys.argv[2])" \
      "$D/gcide-100k.f32" "$D/gcide-10k.f32" || return 1
  fi
  case " $SETS " in *" gcide-10k "*) run gcide-10k "$D/gcide-10k.f32" "$D/gcide-query.f32" 10000 1000 || return 1;; esac
  case " $SETS " in *" gcide-100k "*) run gcide-100k "$D/gcide-100k.f32" "$D/gcide-query.f32" 100000 1000 || return 1;; esac
  return 0
}

synth() {
  n=${HNSW_BENCH_SYNTH_N:-200000}
  f=$D/synth-$n.f32
  if [ ! -s "$f" ]; then
    echo "bench_hnsw.sh: generating $n synthetic 512-d vectors into $f" >&2
    $PY "$root/bench/hnsw_data.py" synth "$n" 512 1234 "$f" "$D/synth-query.f32" >&2 || return 1
  fi
  run "synth-$n" "$f" "$D/synth-query.f32" "$n" 500
}

SETS=${HNSW_BENCH_SETS:-gcide-10k gcide-100k synth}
rc=0
case " $SETS " in *" gcide"*) gcide || rc=1;; esac
case " $SETS " in *" synth "*) synth || rc=1;; esac
exit $rc
