# bench_decode.sh: decode speed and memory of `edgekb generate` on model files.
#  1. bench_decode (C): tok/s of the SmolLM2-135M-shaped model in Q8_0 and
#     Q4_0 (built in memory, single thread) as a fraction of the single-thread
#     read bandwidth measured in the same process, and stories260K tok/s;
#     then per thread count T (EDGEKB_BENCH_THREADS, default 1,2) decode on
#     T threads against the T-thread read ceiling (decode_threads lines) and
#     the per-step handoff cost on stories260K (decode_handoff);
#  2. per file in $EKB_REF_DIR (default build/ref, from tools/ref/mkmodels.py):
#     `edgekb -v generate` 64 greedy tokens after a 6-token prompt with --ctx 70
#     (so the whole KV cache is touched), tok/s (incl. prompt) and peak RSS
#     against model file bytes + KV cache/scratch (target overhead < 16 MB):
#     bench decode_rss model=.. quant=.. tok_per_s=.. peak_rss_mb=.. file_mb=.. kv_scratch_mb=.. overhead_mb=..
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
RD=${EKB_REF_DIR:-$root/build/ref}
"$BENCH_BIN_DIR/bench_decode"
for q in q8_0 q4_0 f32; do
  M=$RD/smollm2-135m-shape-$q.gguf
  [ -r "$M" ] || { echo "bench decode_rss model=smollm2-135m-shape quant=$q skipped=\"$M absent (make models / mkmodels.py)\""; continue; }
  line=$("$EDGEKB" -v generate --model "$M" --prompt "Hydrogen is the lightest element." -n 64 --ctx 70 2>&1 >/dev/null |
         grep 'generate:')
  echo "$line" | sed -n 's/.*+ \([0-9]*\) tokens in \([0-9.]*\) s.*file \([0-9]*\) bytes, KV+scratch \([0-9]*\) bytes, peak RSS \([0-9]*\) bytes.*/\1 \2 \3 \4 \5/p' |
    while read -r n t f kv pk; do
      awk -v q=$q -v n=$n -v t=$t -v f=$f -v kv=$kv -v pk=$pk 'BEGIN { M = 1048576;
        printf "bench decode_rss model=smollm2-135m-shape quant=%s tok_per_s=%.1f peak_rss_mb=%.1f file_mb=%.1f kv_scratch_mb=%.1f overhead_mb=%.1f\n",
          q, n / t, pk / M, f / M, kv / M, (pk - f - kv) / M }'
    done
done
