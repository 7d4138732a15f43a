/* vq.h: the vector format of the knowledge base: int8 vectors with a
 * float scale and an optional 4-bit residual, as the store keeps them in
 * SQLite (the vec BLOB) and the HNSW index holds them.
 *
 * Owns: the quantization rules and the refined score, nothing else.
 * int8: per-vector symmetric, q = round(v / s), s = max|v| / 127 (s = 1
 * for a zero vector), so q is in [-127, 127] and never -128 (which the
 * index's fast dot product, kern_ops.dot_i8s, relies on).
 * Residual: the int8 quantization error of each coordinate in 4 bits,
 * r_i = round(16 (v_i / s - q_i)) clamped to [-8, 7], stored as the nibble
 * r_i + 8; coordinate i is in byte (i / 32) * 16 + i % 16, low nibble if
 * i % 32 < 16, else high (unused nibbles: 8). The stored value becomes
 * q + r / 16 (~12 bits).
 * The vec BLOB: dim int8 bytes, then vq_residual_bytes(dim) residual
 * bytes (BLOBs of dim bytes, from KBs made before residuals were kept,
 * mean a zero residual).
 * Refined score: the query rounded to int16 (qq = round(v / sq), sq =
 * max|v| / 32767) against a stored (q, s, r): D = qq . (16 q + r) exactly
 * (kern_ops.rdot_r4), score = D * sq * s / 16 in double, rounded once to
 * float (vq_refined_of), so a scan and an index search give the same bits.
 * Failure: none; a non-finite vector gives a NaN scale. */
#ifndef EKB_VQ_H
#define EKB_VQ_H

#include <stddef.h>
#include <stdint.h>

/* q (dim bytes) from v; returns s, or NaN (q untouched) if v holds a NaN or infinity. */
float vq_quantize(const float *v, uint32_t dim, int8_t *q);
/* Bytes of one vector's 4-bit residual. */
size_t vq_residual_bytes(uint32_t dim);
/* Bytes of a vec BLOB: dim + vq_residual_bytes(dim). */
static inline size_t vq_blob_bytes(uint32_t dim) { return (size_t)dim + vq_residual_bytes(dim); }
/* The residual of q, s = vq_quantize(v, dim, q), into r. */
void vq_residual(const float *v, uint32_t dim, const int8_t *q, float s, uint8_t *r);
/* qq (dim int16) from query v; returns sq, NaN if v is not finite (or NULL / dim 0). */
float vq_refine_query(const float *v, uint32_t dim, int16_t *qq);
/* The refined score from the exact integer D: the one rounding. */
static inline float vq_refined_of(int64_t D, float sq, float scale)
{
    return (float)((double)D * ((double)sq * (double)scale) * 0.0625);
}
/* The refined score of a stored (q, scale, res) for query (qq, sq); res
 * NULL: a zero residual (nibbles 8). NaN for NULL arguments or dim 0. */
float vq_refined_score(const int16_t *qq, float sq, uint32_t dim, const int8_t *q, float scale, const uint8_t *res);

#endif
