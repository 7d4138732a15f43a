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
#     ~2 GB of disk and a long build, see docs/perf/log.md).
# hnswlib: header-only C++ from libhnswlib-dev, built here with g++ -O3
#   -march=native into build/bench/; skipped with a message when absent (this
#   script installs nothing: apt-get install -y libhnswlib-dev).
# After each data set: one `bench hnsw_cmp` line per recall level R (0.95,
#   0.98, 0.99) that both reach: each impl's queries/s AT recall R,
#   interpolated (log qps linear in recall) between the two ef points around
#   R (the lowest ef's qps if that one is already above R: a lower bound for
#   that impl), the ratio edgekb/hnswlib (wall and CPU time), the memory
#   ratio, and target=met when qps_cpu ratio > 1 and memory <= 1/2.
# Environment: EDGEKB (the binary), MODELS_DIR, BENCH_BIN_DIR (from make bench),
#   HNSW_BENCH_SETS (default "gcide-10k gcide-100k synth"), HNSW_BENCH_EF,
#   HNSW_BENCH_EFC (ef_construction of BOTH implementations, default 200),
#   HNSW_BENCH_REFINE (edgekb's residual bits: 4, the default, re-ranks with
#   the 4-bit residuals, +dim/2 bytes per vector; 0: int8 only, the store's setting),
#   HNSW_BENCH_PARALLEL=1 (run edgekb and hnswlib at the same time, one core
#   each, to halve the wall time of the 1M case; compare qps_cpu then).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
D=$root/build/bench-data
PY=/usr/bin/python3
BIN=${BENCH_BIN_DIR:-$root/build/x86_64-generic/bench}/bench_hnsw
EFS=${HNSW_BENCH_EF:-16,32,64,128,256}
M=16
EFC=${HNSW_BENCH_EFC:-200}
RF=${HNSW_BENCH_REFINE:-4}
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

# cmp FILE: the hnsw_cmp lines from one data set's bench lines
cmp() {
  $PY - "$1" <<'PYEOF'
import math, sys
rows = {}
for l in open(sys.argv[1]):
    f = dict(kv.split("=", 1) for kv in l.split()[2:] if "=" in kv)
    if f.get("impl") in ("edgekb", "hnswlib"):
        rows.setdefault(f["impl"], []).append(f)
if len(rows) < 2:
    sys.exit(0)
def at(pts, R, key):
    pts = sorted(pts, key=lambda f: int(f["ef"]))
    r = [float(f["recall10"]) for f in pts]
    q = [float(f[key]) for f in pts]
    if r[0] >= R:
        return q[0], "bound"
    for i in range(1, len(pts)):
        if r[i - 1] < R <= r[i]:
            t = (R - r[i - 1]) / (r[i] - r[i - 1])
            return math.exp(math.log(q[i - 1]) + t * (math.log(q[i]) - math.log(q[i - 1]))), "interp"
    return None, "unreached"
e, h = rows["edgekb"], rows["hnswlib"]
mem = float(e[0]["bytes_per_vec"]) / float(h[0]["bytes_per_vec"])
for R in (0.95, 0.98, 0.99):
    eq, ek = at(e, R, "qps_cpu")
    hq, hk = at(h, R, "qps_cpu")
    ew, _ = at(e, R, "qps")
    hw, _ = at(h, R, "qps")
    if eq is None or hq is None:
        print("bench hnsw_cmp data=%s recall=%.2f edgekb=%s hnswlib=%s" % (e[0]["data"], R, ek, hk))
        continue
    print("bench hnsw_cmp data=%s n=%s recall=%.2f edgekb_qps_cpu=%.0f hnswlib_qps_cpu=%.0f qps_cpu_ratio=%.2f "
          "edgekb_qps=%.0f hnswlib_qps=%.0f qps_ratio=%.2f edgekb_bytes_per_vec=%s hnswlib_bytes_per_vec=%s "
          "mem_ratio=%.3f edgekb_build_s=%s hnswlib_build_s=%s how=%s/%s target=%s"
          % (e[0]["data"], e[0]["n"], R, eq, hq, eq / hq, ew, hw, ew / hw, e[0]["bytes_per_vec"],
             h[0]["bytes_per_vec"], mem, e[0]["build_s"], h[0]["build_s"], ek, hk,
             "met" if eq > hq and mem <= 0.5 else "missed"))
PYEOF
}

# run SET BASE QUERY N NQ
run() {
  echo "== $1: n=$4 queries=$5 dim=512 M=$M efc=$EFC" >&2
  out=$root/build/bench/hnsw-$1.txt
  if [ -n "$REF" ] && [ "${HNSW_BENCH_PARALLEL:-0}" = 1 ]; then
    # both implementations at once (one core each), hnswlib started as
    # soon as bench_hnsw has written the ground truth
    rm -f "$D/$1.gt"
    "$BIN" "$2" "$3" 512 "$4" "$5" "$1" "$D/$1.gt" $M $EFC "$EFS" $RF >"$out.edgekb" &
    pid=$!
    while [ ! -s "$D/$1.gt" ] && kill -0 $pid 2>/dev/null; do sleep 5; done
    [ -s "$D/$1.gt" ] || { wait $pid; return 1; }
    "$REF" "$2" "$3" 512 "$4" "$5" "$1" "$D/$1.gt" $M $EFC "$EFS" >"$out.hnswlib"
    wait $pid
    cat "$out.edgekb" "$out.hnswlib" | tee "$out"
  else
    "$BIN" "$2" "$3" 512 "$4" "$5" "$1" "$D/$1.gt" $M $EFC "$EFS" $RF | tee "$out"
    [ -n "$REF" ] && "$REF" "$2" "$3" 512 "$4" "$5" "$1" "$D/$1.gt" $M $EFC "$EFS" | tee -a "$out"
  fi
  [ "$(grep -c 'impl=edgekb' "$out")" -gt 0 ] || return 1
  [ -n "$REF" ] && cmp "$out"
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
