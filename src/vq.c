/* vq.c: int8 + 4-bit residual vectors and the refined score (see vq.h).
 * Invariant: vq_quantize never writes -128; the refined score is
 * vq_refined_of over an exact integer, whichever kernel computed it.
 * Failure: none (NaN for non-finite input). */
#include <math.h>
#include <string.h>

#include "kern.h"
#include "vq.h"

size_t vq_residual_bytes(uint32_t dim) { return ((size_t)dim + 31) / 32 * 16; }

/* Symmetric quantization's scale max|v| / lim (1 for a zero vector), NaN
 * if v holds a NaN or infinity; and one rounded, clamped value. */
static float sym_scale(const float *v, uint32_t dim, float lim)
{
    float amax = 0.0f;
    for (uint32_t i = 0; i < dim; i++) {
        if (!isfinite(v[i]))
            return NAN;
        amax = fmaxf(amax, fabsf(v[i]));
    }
    return amax > 0.0f ? amax / lim : 1.0f;
}

static int sym_round(float x, float lim)
{
    float r = roundf(x);
    return r > lim ? (int)lim : r < -lim ? -(int)lim : (int)r;
}

float vq_quantize(const float *v, uint32_t dim, int8_t *q)
{
    float s = sym_scale(v, dim, 127.0f);
    if (!isfinite(s))
        return NAN;
    for (uint32_t i = 0; i < dim; i++)
        q[i] = (int8_t)sym_round(v[i] / s, 127.0f);
    return s;
}

void vq_residual(const float *v, uint32_t dim, const int8_t *q, float s, uint8_t *r)
{
    memset(r, 0x88, vq_residual_bytes(dim));
    for (uint32_t i = 0; i < dim; i++) {
        float t = roundf((v[i] / s - (float)q[i]) * 16.0f);
        int nib = (t > 7.0f ? 7 : t < -8.0f ? -8 : (int)t) + 8;
        uint8_t *b = r + (i / 32) * 16 + i % 16;
        *b = (uint8_t)((i % 32) < 16 ? ((*b & 0xf0) | nib) : ((*b & 0x0f) | (nib << 4)));
    }
}

float vq_refine_query(const float *v, uint32_t dim, int16_t *qq)
{
    if (!v || !qq || dim == 0)
        return NAN;
    float s = sym_scale(v, dim, 32767.0f);
    if (!isfinite(s))
        return NAN;
    for (uint32_t i = 0; i < dim; i++)
        qq[i] = (int16_t)sym_round(v[i] / s, 32767.0f);
    return s;
}

float vq_refined_score(const int16_t *qq, float sq, uint32_t dim, const int8_t *q, float scale, const uint8_t *res)
{
    if (!qq || !q || dim == 0)
        return NAN;
    int64_t D = 0;
    if (res)
        D = kern->rdot_r4(qq, q, res, dim);
    else /* zero residual (nibbles 8): 16 q */
        for (uint32_t i = 0; i < dim; i++)
            D += (int64_t)qq[i] * 16 * q[i];
    return vq_refined_of(D, sq, scale);
}
