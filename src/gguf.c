/* gguf.c: GGUF v2/v3 reader (see gguf.h). Written from the format
 * description: header (magic "GGUF", version, tensor count, KV count), KV
 * pairs (string key, u32 type, value; arrays are u32 element type + u64
 * count + elements), tensor infos (name, n_dims, dims, ggml type, offset
 * relative to the aligned data section), then the data section at the next
 * multiple of general.alignment (default 32). Every read goes through a
 * bounds-checked cursor; sizes are computed with overflow checks. v2 and v3
 * have the same little-endian layout (v3 only allows big-endian files, which
 * we recognise by their byte-swapped version and refuse); v1 (32-bit counts
 * and lengths) is refused. Keys and tensor names are indexed in open-
 * addressing hash tables in the region (duplicates are rejected at open,
 * lookups are O(1)). Writable memory (the copy-on-write map,
 * gguf_open_mem_rw) is handed to the weights module (wt.c) through
 * gguf_tensor_wdata, which records a repacked tensor's layout with
 * gguf_tensor_set_layout; this file computes nothing on tensor data. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ekb_err.h"
#include "ekb_limits.h"
#include "gguf.h"

struct kv {
    const char *key;
    uint32_t klen;
    enum gguf_type type;
    enum gguf_type elem; /* arrays */
    uint64_t n;          /* arrays: element count; strings: byte length */
    const unsigned char *val; /* scalars and arrays: first byte of the value/elements */
    uint64_t *str_off;   /* string arrays: offset of each element's length field */
    uint64_t off0, off1; /* the whole pair's bytes in the file: [off0, off1) */
};

struct gguf {
    const struct port *port;
    const unsigned char *base;
    unsigned char *wbase; /* base, when the memory may be rewritten (repacking); else NULL */
    uint64_t size;
    int mapped;
    uint32_t version;
    uint64_t n_kv, n_tensors;
    uint64_t kv_end, align, data_start;
    struct kv *kv;
    struct gguf_tensor *t;
    uint32_t *kv_hash, *t_hash; /* slot -> index + 1 (0: empty); sizes are powers of two */
    uint32_t kv_mask, t_mask;
    char arch[EKB_NAME_MAX];
};

/* FNV-1a */
static uint32_t hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* A table of at least 2n slots; n <= 2^16. */
static uint32_t *table_new(struct arena_region *r, uint64_t n, uint32_t *mask)
{
    uint32_t size = 16;
    while (size < 2 * n)
        size *= 2;
    *mask = size - 1;
    return arena_zalloc(r, (size_t)size * sizeof(uint32_t), 0);
}

static uint32_t kv_slot(const struct gguf *g, const char *key, size_t kl)
{
    uint32_t h = hash(key, kl) & g->kv_mask;
    while (g->kv_hash[h] != 0) {
        const struct kv *kv = &g->kv[g->kv_hash[h] - 1];
        if (kv->klen == kl && memcmp(kv->key, key, kl) == 0)
            break;
        h = (h + 1) & g->kv_mask;
    }
    return h;
}

static uint32_t t_slot(const struct gguf *g, const char *name, size_t nl)
{
    uint32_t h = hash(name, nl) & g->t_mask;
    while (g->t_hash[h] != 0) {
        if (strcmp(g->t[g->t_hash[h] - 1].name, name) == 0)
            break;
        h = (h + 1) & g->t_mask;
    }
    return h;
}

struct cur {
    const unsigned char *p;
    uint64_t off, size;
    char *err;
    size_t errlen;
};

#define FAIL(rc, ...)                                                                              \
    do {                                                                                           \
        if (err)                                                                                   \
            snprintf(err, errlen, "gguf: " __VA_ARGS__);                                           \
        ret = (rc);                                                                                \
        goto out;                                                                                  \
    } while (0)

static int need(struct cur *c, uint64_t n)
{
    return n <= c->size - c->off;
}

static int rd(struct cur *c, void *dst, uint64_t n)
{
    if (!need(c, n))
        return -1;
    memcpy(dst, c->p + c->off, (size_t)n);
    c->off += n;
    return 0;
}

static int rd_u32(struct cur *c, uint32_t *v) { return rd(c, v, 4); }
static int rd_u64(struct cur *c, uint64_t *v) { return rd(c, v, 8); }

/* A string: u64 length then bytes. */
static int rd_str(struct cur *c, const char **s, uint64_t *len)
{
    if (rd_u64(c, len) != 0)
        return EKB_ECORRUPT;
    if (*len > EKB_GGUF_MAX_STR)
        return EKB_ETOOBIG;
    if (!need(c, *len))
        return EKB_ECORRUPT;
    *s = (const char *)(c->p + c->off);
    c->off += *len;
    return 0;
}

static const uint8_t scalar_size[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static const char *type_names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                   "string", "array", "u64", "i64", "f64"};

struct ggml_type_info {
    const char *name;
    uint32_t block, bytes; /* elements per block, bytes per block; 0 = not supported */
};

static const struct ggml_type_info ggml_types[] = {
    [0] = {"F32", 1, 4},   [1] = {"F16", 1, 2},    [2] = {"Q4_0", 32, 18}, [3] = {"Q4_1", 0, 0},
    [4] = {"Q4_2", 0, 0},  [5] = {"Q4_3", 0, 0},   [6] = {"Q5_0", 0, 0},   [7] = {"Q5_1", 0, 0},
    [8] = {"Q8_0", 32, 34}, [9] = {"Q8_1", 0, 0},  [10] = {"Q2_K", 0, 0},  [11] = {"Q3_K", 0, 0},
    [12] = {"Q4_K", 0, 0}, [13] = {"Q5_K", 0, 0},  [14] = {"Q6_K", 0, 0},  [15] = {"Q8_K", 0, 0},
    [16] = {"IQ2_XXS", 0, 0}, [17] = {"IQ2_XS", 0, 0}, [18] = {"IQ3_XXS", 0, 0}, [19] = {"IQ1_S", 0, 0},
    [20] = {"IQ4_NL", 0, 0}, [21] = {"IQ3_S", 0, 0}, [22] = {"IQ2_S", 0, 0}, [23] = {"IQ4_XS", 0, 0},
    [24] = {"I8", 0, 0},   [25] = {"I16", 0, 0},   [26] = {"I32", 0, 0},   [27] = {"I64", 0, 0},
    [28] = {"F64", 0, 0},  [29] = {"IQ1_M", 0, 0}, [30] = {"BF16", 0, 0},
};
#define N_GGML_TYPES (sizeof ggml_types / sizeof ggml_types[0])

const char *gguf_ggml_type_name(uint32_t type)
{
    return type < N_GGML_TYPES && ggml_types[type].name ? ggml_types[type].name : "unknown";
}

uint64_t gguf_row_bytes(uint32_t type, uint64_t ne0)
{
    if (type >= N_GGML_TYPES || ggml_types[type].block == 0 || ne0 % ggml_types[type].block != 0)
        return 0;
    return ne0 / ggml_types[type].block * ggml_types[type].bytes;
}

static int parse(struct gguf *g, struct arena_region *r, char *err, size_t errlen)
{
    struct cur c = {g->base, 0, g->size, err, errlen};
    uint32_t magic, version;
    uint64_t align = 32;
    int ret = EKB_OK, rc;

    if (rd_u32(&c, &magic) != 0 || rd_u32(&c, &version) != 0)
        FAIL(EKB_ECORRUPT, "file too short for a header (%llu bytes)", (unsigned long long)g->size);
    if (magic != 0x46554747u)
        FAIL(EKB_ECORRUPT, "not a GGUF file (bad magic)");
    if (version == 0x02000000u || version == 0x03000000u)
        FAIL(EKB_EUNSUPP, "big-endian GGUF files are not supported");
    if (version == 1)
        FAIL(EKB_EUNSUPP, "GGUF version 1 is not supported (convert it to version 3)");
    if (version != 2 && version != 3)
        FAIL(EKB_EUNSUPP, "unknown GGUF version %u", version);
    g->version = version;
    if (rd_u64(&c, &g->n_tensors) != 0 || rd_u64(&c, &g->n_kv) != 0)
        FAIL(EKB_ECORRUPT, "truncated header");
    if (g->n_tensors > EKB_GGUF_MAX_TENSORS)
        FAIL(EKB_ETOOBIG, "%llu tensors (limit %d)", (unsigned long long)g->n_tensors, EKB_GGUF_MAX_TENSORS);
    if (g->n_kv > EKB_GGUF_MAX_KV)
        FAIL(EKB_ETOOBIG, "%llu metadata pairs (limit %d)", (unsigned long long)g->n_kv, EKB_GGUF_MAX_KV);
    /* every pair takes at least 8 (key length) + 4 (type) bytes, every tensor info 8+1+4+8+4+8:
     * a count the file cannot hold is refused before anything is allocated for it */
    if (g->n_kv > (g->size - c.off) / 12)
        FAIL(EKB_ECORRUPT, "%llu metadata pairs cannot fit in %llu bytes", (unsigned long long)g->n_kv,
             (unsigned long long)g->size);
    if (g->n_tensors > (g->size - c.off) / 33)
        FAIL(EKB_ECORRUPT, "%llu tensor infos cannot fit in %llu bytes", (unsigned long long)g->n_tensors,
             (unsigned long long)g->size);
    g->kv = arena_zalloc(r, (size_t)(g->n_kv ? g->n_kv : 1) * sizeof *g->kv, 0);
    g->t = arena_zalloc(r, (size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *g->t, 0);
    if (!g->kv || !g->t)
        FAIL(EKB_ENOMEM, "out of memory for the index");
    g->kv_hash = table_new(r, g->n_kv, &g->kv_mask);
    g->t_hash = table_new(r, g->n_tensors, &g->t_mask);
    if (!g->kv_hash || !g->t_hash)
        FAIL(EKB_ENOMEM, "out of memory for the index");

    for (uint64_t i = 0; i < g->n_kv; i++) {
        struct kv *kv = &g->kv[i];
        uint64_t klen;
        uint32_t type;
        kv->off0 = c.off;
        rc = rd_str(&c, &kv->key, &klen);
        if (rc != 0)
            FAIL(rc, "metadata pair %llu: bad key", (unsigned long long)i);
        kv->klen = (uint32_t)klen;
        if (rd_u32(&c, &type) != 0)
            FAIL(EKB_ECORRUPT, "metadata '%.*s': truncated", (int)(klen > 64 ? 64 : klen), kv->key);
        if (type >= GGUF_TYPE_COUNT)
            FAIL(EKB_ECORRUPT, "metadata '%.*s': unknown value type %u", (int)(klen > 64 ? 64 : klen), kv->key,
                 type);
        kv->type = (enum gguf_type)type;
        if (type == GGUF_TYPE_STRING) {
            const char *s;
            rc = rd_str(&c, &s, &kv->n);
            if (rc != 0)
                FAIL(rc, "metadata '%.*s': bad string", (int)(klen > 64 ? 64 : klen), kv->key);
            kv->val = (const unsigned char *)s;
        } else if (type == GGUF_TYPE_ARRAY) {
            uint32_t et;
            if (rd_u32(&c, &et) != 0 || rd_u64(&c, &kv->n) != 0)
                FAIL(EKB_ECORRUPT, "metadata '%.*s': truncated array", (int)(klen > 64 ? 64 : klen), kv->key);
            if (et >= GGUF_TYPE_COUNT || et == GGUF_TYPE_ARRAY)
                FAIL(EKB_EUNSUPP, "metadata '%.*s': array of type %u", (int)(klen > 64 ? 64 : klen), kv->key, et);
            if (kv->n > EKB_GGUF_MAX_ARR)
                FAIL(EKB_ETOOBIG, "metadata '%.*s': array of %llu elements (limit %u)",
                     (int)(klen > 64 ? 64 : klen), kv->key, (unsigned long long)kv->n, EKB_GGUF_MAX_ARR);
            kv->elem = (enum gguf_type)et;
            kv->val = c.p + c.off;
            if (et == GGUF_TYPE_STRING) {
                if (kv->n > (c.size - c.off) / 8) /* each element has at least its 8-byte length */
                    FAIL(EKB_ECORRUPT, "metadata '%.*s': array runs past the end of the file",
                         (int)(klen > 64 ? 64 : klen), kv->key);
                kv->str_off = arena_alloc(r, (size_t)(kv->n ? kv->n : 1) * sizeof(uint64_t), 0);
                if (!kv->str_off)
                    FAIL(EKB_ENOMEM, "out of memory indexing '%.*s'", (int)(klen > 64 ? 64 : klen), kv->key);
                for (uint64_t j = 0; j < kv->n; j++) {
                    const char *s;
                    uint64_t sl;
                    kv->str_off[j] = c.off;
                    rc = rd_str(&c, &s, &sl);
                    if (rc != 0)
                        FAIL(rc, "metadata '%.*s': element %llu: bad string", (int)(klen > 64 ? 64 : klen),
                             kv->key, (unsigned long long)j);
                }
            } else {
                uint64_t bytes = kv->n * scalar_size[et]; /* n <= 2^24: no overflow */
                if (!need(&c, bytes))
                    FAIL(EKB_ECORRUPT, "metadata '%.*s': array runs past the end of the file",
                         (int)(klen > 64 ? 64 : klen), kv->key);
                c.off += bytes;
            }
        } else {
            kv->val = c.p + c.off;
            if (!need(&c, scalar_size[type]))
                FAIL(EKB_ECORRUPT, "metadata '%.*s': truncated value", (int)(klen > 64 ? 64 : klen), kv->key);
            c.off += scalar_size[type];
            if (type == GGUF_TYPE_BOOL && kv->val[0] > 1)
                FAIL(EKB_ECORRUPT, "metadata '%.*s': bool value %u", (int)(klen > 64 ? 64 : klen), kv->key,
                     kv->val[0]);
        }
        kv->off1 = c.off;
        uint32_t slot = kv_slot(g, kv->key, kv->klen);
        if (g->kv_hash[slot] != 0)
            FAIL(EKB_ECORRUPT, "metadata key '%.*s' appears twice", (int)(klen > 64 ? 64 : klen), kv->key);
        g->kv_hash[slot] = (uint32_t)i + 1;
        if (kv->klen == 20 && memcmp(kv->key, "general.architecture", 20) == 0 && type == GGUF_TYPE_STRING)
            snprintf(g->arch, sizeof g->arch, "%.*s", (int)(kv->n < sizeof g->arch ? kv->n : sizeof g->arch - 1),
                     (const char *)kv->val);
        if (kv->klen == 17 && memcmp(kv->key, "general.alignment", 17) == 0) {
            uint32_t a32;
            if (type != GGUF_TYPE_UINT32)
                FAIL(EKB_ECORRUPT, "general.alignment is a %s, not u32", type_names[type]);
            memcpy(&a32, kv->val, 4);
            if (a32 == 0 || (a32 & (a32 - 1)) != 0 || a32 > 65536)
                FAIL(EKB_ECORRUPT, "general.alignment %u is not a power of two up to 65536", a32);
            align = a32;
        }
    }

    g->kv_end = c.off;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        struct gguf_tensor *t = &g->t[i];
        const char *name;
        uint64_t nlen, off, n_el = 1;
        rc = rd_str(&c, &name, &nlen);
        if (rc != 0)
            FAIL(rc, "tensor %llu: bad name", (unsigned long long)i);
        if (nlen == 0 || nlen > EKB_GGUF_MAX_NAME)
            FAIL(EKB_ECORRUPT, "tensor %llu: name of %llu bytes (1..%d allowed)", (unsigned long long)i,
                 (unsigned long long)nlen, EKB_GGUF_MAX_NAME);
        if (memchr(name, 0, (size_t)nlen) != NULL)
            FAIL(EKB_ECORRUPT, "tensor %llu: NUL byte in its name", (unsigned long long)i);
        char *nm = arena_alloc(r, (size_t)nlen + 1, 1);
        if (!nm)
            FAIL(EKB_ENOMEM, "out of memory for tensor names");
        memcpy(nm, name, (size_t)nlen);
        nm[nlen] = 0;
        t->name = nm;
        if (rd_u32(&c, &t->n_dims) != 0)
            FAIL(EKB_ECORRUPT, "tensor '%s': truncated", nm);
        if (t->n_dims == 0 || t->n_dims > EKB_GGUF_MAX_DIMS)
            FAIL(EKB_ECORRUPT, "tensor '%s': %u dimensions (1..%d allowed)", nm, t->n_dims, EKB_GGUF_MAX_DIMS);
        for (uint32_t d = 0; d < EKB_GGUF_MAX_DIMS; d++)
            t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            if (rd_u64(&c, &t->ne[d]) != 0)
                FAIL(EKB_ECORRUPT, "tensor '%s': truncated", nm);
            if (t->ne[d] == 0 || t->ne[d] > ((uint64_t)1 << 40))
                FAIL(EKB_ECORRUPT, "tensor '%s': dimension %u is %llu", nm, d, (unsigned long long)t->ne[d]);
            if (n_el > ((uint64_t)1 << 48) / t->ne[d])
                FAIL(EKB_ECORRUPT, "tensor '%s': too many elements", nm);
            n_el *= t->ne[d];
        }
        if (rd_u32(&c, &t->type) != 0 || rd_u64(&c, &off) != 0)
            FAIL(EKB_ECORRUPT, "tensor '%s': truncated", nm);
        uint64_t rb = gguf_row_bytes(t->type, t->ne[0]);
        if (rb == 0) {
            if (t->type < N_GGML_TYPES && ggml_types[t->type].name && ggml_types[t->type].block == 0)
                FAIL(EKB_EUNSUPP, "tensor '%s': unsupported tensor type %s (id %u); use F32, F16, Q8_0 or Q4_0", nm,
                     ggml_types[t->type].name, t->type);
            if (t->type >= N_GGML_TYPES)
                FAIL(EKB_ECORRUPT, "tensor '%s': unknown tensor type id %u", nm, t->type);
            FAIL(EKB_ECORRUPT, "tensor '%s': row of %llu elements is not a multiple of the %s block", nm,
                 (unsigned long long)t->ne[0], ggml_types[t->type].name);
        }
        t->nbytes = rb * (n_el / t->ne[0]);
        if (off % align != 0)
            FAIL(EKB_ECORRUPT, "tensor '%s': offset %llu not aligned to %llu", nm, (unsigned long long)off,
                 (unsigned long long)align);
        t->offset = off;
    }
    uint64_t data_start = (c.off + align - 1) / align * align;
    g->align = align;
    g->data_start = data_start;
    if (g->n_tensors > 0 && data_start > g->size)
        FAIL(EKB_ECORRUPT, "data section at %llu beyond end of file (%llu bytes)", (unsigned long long)data_start,
             (unsigned long long)g->size);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        struct gguf_tensor *t = &g->t[i];
        uint64_t off = t->offset;
        if (off > g->size - data_start || t->nbytes > g->size - data_start - off)
            FAIL(EKB_ECORRUPT, "tensor '%s': data [%llu,%llu) beyond end of file (%llu bytes)", t->name,
                 (unsigned long long)(data_start + off), (unsigned long long)(data_start + off + t->nbytes),
                 (unsigned long long)g->size);
        t->data = g->base + data_start + off;
        uint32_t slot = t_slot(g, t->name, strlen(t->name));
        if (g->t_hash[slot] != 0)
            FAIL(EKB_ECORRUPT, "tensor name '%s' appears twice", t->name);
        g->t_hash[slot] = (uint32_t)i + 1;
    }
    /* data ranges disjoint: O(n^2) over at most EKB_GGUF_MAX_TENSORS */
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct gguf_tensor *t = &g->t[i];
        const unsigned char *a0 = t->data;
        for (uint64_t j = 0; j < i; j++) {
            const unsigned char *b0 = g->t[j].data;
            if (t->nbytes && g->t[j].nbytes && a0 < b0 + g->t[j].nbytes && b0 < a0 + t->nbytes)
                FAIL(EKB_ECORRUPT, "tensors '%s' and '%s' overlap", g->t[j].name, t->name);
        }
    }
out:
    return ret;
}

int gguf_open_mem(struct gguf **out, struct arena_region *r, const void *data, size_t size, char *err,
                  size_t errlen)
{
    size_t mark = arena_mark(r);
    struct gguf *g = arena_zalloc(r, sizeof *g, 0);
    *out = NULL;
    if (!g) {
        if (err)
            snprintf(err, errlen, "gguf: out of memory");
        return EKB_ENOMEM;
    }
    g->base = data;
    g->size = size;
    int rc = parse(g, r, err, errlen);
    if (rc != 0) {
        arena_reset(r, mark);
        return rc;
    }
    *out = g;
    return 0;
}

int gguf_open_mem_rw(struct gguf **out, struct arena_region *r, void *data, size_t size, char *err,
                     size_t errlen)
{
    int rc = gguf_open_mem(out, r, data, size, err, errlen);
    if (rc == 0)
        (*out)->wbase = data;
    return rc;
}

int gguf_open(struct gguf **out, struct arena_region *r, const struct port *p, const char *path, char *err,
              size_t errlen)
{
    uint64_t size;
    const void *map = NULL;
    void *wmap = NULL;
    int fd, rc;

    *out = NULL;
    fd = p->open(path, PORT_O_RDONLY, 0);
    if (fd < 0) {
        snprintf(err, errlen, "gguf: cannot open %.300s: %s", path, strerror(-fd));
        return ekb_from_errno(-fd);
    }
    rc = p->fsize(fd, &size);
    if (rc == 0 && size < 24) {
        snprintf(err, errlen, "gguf: %.300s: file too short for a header (%llu bytes)", path,
                 (unsigned long long)size);
        rc = EKB_ECORRUPT;
    } else if (rc == 0) {
        /* copy-on-write, so weights can be repacked in place; a system with
         * strict overcommit may refuse a writable private mapping of the
         * whole file (ENOMEM): then read-only, and the weights stay plain */
        rc = p->map_file_cow ? p->map_file_cow(fd, size, &wmap) : -ENOMEM;
        map = wmap;
        if (rc == -ENOMEM) {
            wmap = NULL;
            rc = p->map_file(fd, size, &map);
        }
        if (rc != 0) {
            snprintf(err, errlen, "gguf: cannot map %.300s: %s", path, strerror(-rc));
            rc = ekb_from_errno(-rc);
        }
    } else {
        snprintf(err, errlen, "gguf: cannot stat %.300s: %s", path, strerror(-rc));
        rc = ekb_from_errno(-rc);
    }
    p->close(fd);
    if (rc != 0)
        return rc;
    rc = gguf_open_mem(out, r, map, (size_t)size, err, errlen);
    if (rc != 0) {
        p->unmap_file(map, size);
        return rc;
    }
    (*out)->port = p;
    (*out)->mapped = 1;
    (*out)->wbase = wmap;
    return 0;
}

uint64_t gguf_release(struct gguf *g)
{
    if (!g || !g->mapped || !g->port->release)
        return 0;
    return g->port->release((void *)(uintptr_t)g->base, g->size, 1); /* the last page too: all of it is ours */
}

void gguf_close(struct gguf *g)
{
    if (g && g->mapped)
        g->port->unmap_file(g->base, g->size);
    if (g)
        g->mapped = 0;
}

uint32_t gguf_version(const struct gguf *g) { return g->version; }

void gguf_layout(const struct gguf *g, uint64_t *kv_end, uint64_t *align, uint64_t *data_start)
{
    *kv_end = g->kv_end;
    *align = g->align;
    *data_start = g->data_start;
}
size_t gguf_n_kv(const struct gguf *g) { return (size_t)g->n_kv; }
const char *gguf_arch(const struct gguf *g) { return g->arch; }
uint64_t gguf_file_size(const struct gguf *g) { return g->size; }
const void *gguf_file_data(const struct gguf *g) { return g->base; }
size_t gguf_n_tensors(const struct gguf *g) { return (size_t)g->n_tensors; }

const struct gguf_tensor *gguf_tensor_at(const struct gguf *g, size_t i)
{
    return i < g->n_tensors ? &g->t[i] : NULL;
}

int gguf_kv_raw(const struct gguf *g, size_t i, const void **bytes, size_t *n)
{
    if (i >= g->n_kv)
        return EKB_ENOENT;
    *bytes = g->base + g->kv[i].off0;
    *n = (size_t)(g->kv[i].off1 - g->kv[i].off0);
    return 0;
}

int gguf_kv_at(const struct gguf *g, size_t i, const char **key, size_t *klen, enum gguf_type *type)
{
    if (i >= g->n_kv)
        return EKB_ENOENT;
    *key = g->kv[i].key;
    *klen = g->kv[i].klen;
    *type = g->kv[i].type;
    return 0;
}

static const struct kv *find(const struct gguf *g, const char *key)
{
    uint32_t slot = kv_slot(g, key, strlen(key));
    return g->kv_hash[slot] ? &g->kv[g->kv_hash[slot] - 1] : NULL;
}

int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *v)
{
    const struct kv *kv = find(g, key);
    int64_t s = 0;
    uint64_t u = 0;
    if (!kv)
        return EKB_ENOENT;
    switch (kv->type) {
    case GGUF_TYPE_UINT8: u = kv->val[0]; break;
    case GGUF_TYPE_UINT16: { uint16_t x; memcpy(&x, kv->val, 2); u = x; } break;
    case GGUF_TYPE_UINT32: { uint32_t x; memcpy(&x, kv->val, 4); u = x; } break;
    case GGUF_TYPE_UINT64: memcpy(&u, kv->val, 8); break;
    case GGUF_TYPE_INT8: s = (int8_t)kv->val[0]; goto sgn;
    case GGUF_TYPE_INT16: { int16_t x; memcpy(&x, kv->val, 2); s = x; } goto sgn;
    case GGUF_TYPE_INT32: { int32_t x; memcpy(&x, kv->val, 4); s = x; } goto sgn;
    case GGUF_TYPE_INT64: memcpy(&s, kv->val, 8); goto sgn;
    default: return EKB_EINVAL;
    }
    if (u > UINT32_MAX)
        return EKB_EINVAL;
    *v = (uint32_t)u;
    return 0;
sgn:
    if (s < 0 || s > (int64_t)UINT32_MAX)
        return EKB_EINVAL;
    *v = (uint32_t)s;
    return 0;
}

int gguf_get_f32(const struct gguf *g, const char *key, float *v)
{
    const struct kv *kv = find(g, key);
    if (!kv)
        return EKB_ENOENT;
    if (kv->type == GGUF_TYPE_FLOAT32) {
        memcpy(v, kv->val, 4);
        return 0;
    }
    if (kv->type == GGUF_TYPE_FLOAT64) {
        double d;
        memcpy(&d, kv->val, 8);
        *v = (float)d;
        return 0;
    }
    return EKB_EINVAL;
}

int gguf_get_bool(const struct gguf *g, const char *key, int *v)
{
    const struct kv *kv = find(g, key);
    if (!kv)
        return EKB_ENOENT;
    if (kv->type != GGUF_TYPE_BOOL)
        return EKB_EINVAL;
    *v = kv->val[0] != 0;
    return 0;
}

int gguf_get_str(const struct gguf *g, const char *key, const char **s, size_t *len)
{
    const struct kv *kv = find(g, key);
    if (!kv)
        return EKB_ENOENT;
    if (kv->type != GGUF_TYPE_STRING)
        return EKB_EINVAL;
    *s = (const char *)kv->val;
    *len = (size_t)kv->n;
    return 0;
}

int gguf_get_arr(const struct gguf *g, const char *key, enum gguf_type *elem, size_t *n, const void **data)
{
    const struct kv *kv = find(g, key);
    if (!kv)
        return EKB_ENOENT;
    if (kv->type != GGUF_TYPE_ARRAY)
        return EKB_EINVAL;
    *elem = kv->elem;
    *n = (size_t)kv->n;
    *data = kv->val;
    return 0;
}

int gguf_arr_str(const struct gguf *g, const char *key, size_t i, const char **s, size_t *len)
{
    const struct kv *kv = find(g, key);
    uint64_t l;
    if (!kv)
        return EKB_ENOENT;
    if (kv->type != GGUF_TYPE_ARRAY || kv->elem != GGUF_TYPE_STRING)
        return EKB_EINVAL;
    if (i >= kv->n)
        return EKB_ENOENT;
    memcpy(&l, g->base + kv->str_off[i], 8);
    *s = (const char *)(g->base + kv->str_off[i] + 8);
    *len = (size_t)l;
    return 0;
}

int gguf_find_tensor(const struct gguf *g, const char *name, const struct gguf_tensor **t)
{
    uint32_t slot = t_slot(g, name, strlen(name));
    if (g->t_hash[slot] == 0)
        return EKB_ENOENT;
    *t = &g->t[g->t_hash[slot] - 1];
    return 0;
}

void *gguf_tensor_wdata(const struct gguf *g, const struct gguf_tensor *t)
{
    if (!g->wbase || t < g->t || t >= g->t + g->n_tensors)
        return NULL;
    return g->wbase + ((const unsigned char *)t->data - g->base);
}

void gguf_tensor_set_layout(const struct gguf *g, const struct gguf_tensor *t, uint32_t layout)
{
    if (t >= g->t && t < g->t + g->n_tensors)
        g->t[t - g->t].layout = layout;
}
