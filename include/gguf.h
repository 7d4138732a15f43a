/* gguf.h: reading GGUF model files (versions 2 and 3).
 *
 * Owns: the parsed view of one file: metadata key/values and tensor infos,
 * indexes allocated from a caller-given arena region; the file itself is
 * mapped privately (copy-on-write) through the port and tensor data is used
 * in place; the weights module (wt.h) may repack Q8_0/Q4_0 matrices in that
 * mapping into the kernels' x8 layout (never written back to the file).
 *
 * Invariants after gguf_open succeeds: every count, string length, array
 * length and dimension is within ekb_limits.h; every tensor's data range
 * lies inside the file and is aligned to general.alignment; tensor names are
 * unique, NUL-terminated and at most EKB_GGUF_MAX_NAME bytes; metadata keys
 * are unique; every tensor type is F32, F16, Q8_0 or Q4_0; tensor data ranges
 * do not overlap.
 * Failure: EKB_ECORRUPT (bad magic, truncated, out-of-range field, overlap),
 * EKB_EUNSUPP (version 1 or > 3, a tensor type we do not run: the message
 * names it), EKB_ETOOBIG (a count or length over a limit), EKB_ENOMEM (the
 * region is too small), I/O errors from the port; a one-line reason in err.
 * Lookups: EKB_ENOENT (no such key/tensor), EKB_EINVAL (wrong type). */
#ifndef EKB_GGUF_H
#define EKB_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "port.h"

enum gguf_type {
    GGUF_TYPE_UINT8 = 0, GGUF_TYPE_INT8 = 1, GGUF_TYPE_UINT16 = 2, GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4, GGUF_TYPE_INT32 = 5, GGUF_TYPE_FLOAT32 = 6, GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8, GGUF_TYPE_ARRAY = 9, GGUF_TYPE_UINT64 = 10, GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12, GGUF_TYPE_COUNT
};

/* ggml tensor types we run natively */
#define GGML_T_F32 0u
#define GGML_T_F16 1u
#define GGML_T_Q4_0 2u
#define GGML_T_Q8_0 8u

struct gguf_tensor {
    const char *name;   /* NUL-terminated copy in the arena */
    uint32_t type;      /* GGML_T_* */
    uint32_t n_dims;
    uint64_t ne[EKB_GGUF_MAX_DIMS]; /* ne[0] is the row length; unused dims are 1 */
    const void *data;   /* inside the mapping */
    uint64_t nbytes;
    uint64_t offset;    /* of the data, relative to the data section (as in the file) */
    uint32_t layout;    /* GGUF_LAYOUT_*: set once wt_from_gguf has repacked the data in place */
};

#define GGUF_LAYOUT_PLAIN 0
#define GGUF_LAYOUT_X8 1 /* kern.h's x8 layouts (Q4_0x8, Q8_0x8) */

struct gguf;

int gguf_open(struct gguf **out, struct arena_region *r, const struct port *p, const char *path,
              char *err, size_t errlen);
/* Parses a buffer the caller keeps alive (tests, fuzzing). */
int gguf_open_mem(struct gguf **out, struct arena_region *r, const void *data, size_t size, char *err,
                  size_t errlen);
/* The same over memory the caller lets gguf_weight rewrite (repacking). */
int gguf_open_mem_rw(struct gguf **out, struct arena_region *r, void *data, size_t size, char *err,
                     size_t errlen);
void gguf_close(struct gguf *g);
/* Gives a mapped file's pages back to the system (the governor at CRIT):
 * they are read from the file again when touched, so anything repacked in
 * place is in the file's layout again until wt_restore. The bytes released
 * (0 for memory the caller owns). */
uint64_t gguf_release(struct gguf *g);

uint32_t gguf_version(const struct gguf *g);
/* Byte layout: the KV section is [24, kv_end); data starts at data_start. */
void gguf_layout(const struct gguf *g, uint64_t *kv_end, uint64_t *align, uint64_t *data_start);
size_t gguf_n_kv(const struct gguf *g);
/* The i-th key (not NUL-terminated) and its type. */
int gguf_kv_at(const struct gguf *g, size_t i, const char **key, size_t *klen, enum gguf_type *type);
/* The i-th pair's bytes exactly as in the file (key, type, value). */
int gguf_kv_raw(const struct gguf *g, size_t i, const void **bytes, size_t *n);
const char *gguf_arch(const struct gguf *g); /* general.architecture or "" (NUL-terminated copy) */
uint64_t gguf_file_size(const struct gguf *g);
const void *gguf_file_data(const struct gguf *g);

int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *v); /* any integer type that fits */
int gguf_get_f32(const struct gguf *g, const char *key, float *v);    /* f32 or f64 */
int gguf_get_bool(const struct gguf *g, const char *key, int *v);
int gguf_get_str(const struct gguf *g, const char *key, const char **s, size_t *len);
int gguf_get_arr(const struct gguf *g, const char *key, enum gguf_type *elem, size_t *n,
                 const void **data);
int gguf_arr_str(const struct gguf *g, const char *key, size_t i, const char **s, size_t *len);

size_t gguf_n_tensors(const struct gguf *g);
const struct gguf_tensor *gguf_tensor_at(const struct gguf *g, size_t i);
int gguf_find_tensor(const struct gguf *g, const char *name, const struct gguf_tensor **t);

/* The writable bytes of t's data in a copy-on-write mapping (gguf_open,
 * gguf_open_mem_rw), or NULL (read-only memory); the file on disk is never
 * written. A caller that rewrites them in another layout records it with
 * gguf_tensor_set_layout (wt.c's x8 repack: GGUF_LAYOUT_X8). */
void *gguf_tensor_wdata(const struct gguf *g, const struct gguf_tensor *t);
void gguf_tensor_set_layout(const struct gguf *g, const struct gguf_tensor *t, uint32_t layout);

/* "F32", "Q4_K", ... or "unknown" for a ggml type id. */
const char *gguf_ggml_type_name(uint32_t type);
/* Bytes of a row of ne0 elements of a supported type; 0 if unsupported or ne0
 * is not a multiple of the block size. */
uint64_t gguf_row_bytes(uint32_t type, uint64_t ne0);

/* ---- Writing (gguf_write.c) ---- */
struct gguf_quant_stats {
    size_t n_tensors, n_quantized;
    uint64_t in_bytes, out_bytes;
};
/* The type `edgekb quantize` gives tensor t when asked for want (GGML_T_Q8_0
 * or GGML_T_Q4_0): F32/F16 "*.weight" tensors of >= 2 dims with rows a
 * multiple of 32 become want, except *_norm.weight, position_embd.weight and
 * token_types.weight (kept), and token_embd.weight in Q4_0 files (Q8_0);
 * everything else keeps its type. */
uint32_t gguf_quant_type(const struct gguf_tensor *t, uint32_t want);
/* Writes `in` to out_path with gguf_quant_type applied, general.file_type
 * and general.quantization_version set; via out_path.tmp, fsync, rename,
 * fsync of the directory. Scratch: 256 KiB plus two rows, given back. */
int gguf_write_quantized(const struct gguf *in, struct arena_region *scratch, const struct port *p,
                         const char *out_path, uint32_t want, struct gguf_quant_stats *st, char *err,
                         size_t errlen);

#endif
