/* names.h: the entity name index: every folded name, alias and sense base
 * of a knowledge base's entities in one sorted table, with exact and
 * bounded-edit-distance lookups, and one sign-bit signature per entity for
 * a coarse vector scan.
 *
 * Owns: one block of a caller's region, sized at init (capacities given
 * by the caller from the data): the entity table (ids in increasing order,
 * flags, signatures), the key records and the key bytes. Keys are added in
 * any order; names_sort sorts them (the sorted part); keys added after it
 * form an unsorted delta that every lookup also scans, until the next sort.
 * Fuzzy lookup: optimal-string-alignment distance (insertions, deletions,
 * substitutions, adjacent transpositions; bytes, not characters), by a
 * depth-first walk of the sorted keys as an implicit trie: a subtree (the
 * keys sharing a prefix) is entered only while its dynamic-programming row
 * can still end within the distance, so a lookup visits a few thousand
 * prefixes, not every key (Lucene's FuzzyQuery and Hanov's trie walk do the
 * same over a term dictionary).
 * Signatures: bit i of an entity's signature is 1 when coordinate i of its
 * int8 vector is positive; two signatures' Hamming distance estimates the
 * angle between the vectors (kern_ops.hamming counts the bits).
 * Invariants: entity ids increase with their dense index; a key's `ent` is
 * a valid dense index; a deleted entity keeps its slot (flag) and its keys
 * are skipped by every lookup.
 * Not thread-safe: one caller at a time (the store's lock).
 * Failure: EKB_ENOSPC when a capacity is reached (the caller names the
 * budget), EKB_EINVAL for bad arguments. Never allocates after init. */
#ifndef EKB_NAMES_H
#define EKB_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

enum name_kind { NAME_NAME = 0, NAME_ALIAS = 1, NAME_SENSE = 2 };

struct name_key {
    uint32_t off;  /* into the key bytes */
    uint16_t len;
    uint8_t kind;  /* enum name_kind */
    uint8_t pad;
    uint32_t ent;  /* dense entity index */
};

enum { NAMES_HAS_SIG = 1, NAMES_DELETED = 2 };

struct names {
    uint32_t n_ent, cap_ent;
    int64_t *id;        /* entity ids, increasing */
    uint8_t *flags;     /* NAMES_* per entity */
    uint32_t sig_bytes; /* 0: no signatures */
    uint8_t *sig;       /* cap_ent * sig_bytes */
    uint32_t n_key, cap_key, n_sorted;
    struct name_key *key;
    uint32_t *pfx;      /* sorted keys: their first 4 bytes (big-endian, 0-padded), for the fuzzy walk */
    char *blob;
    size_t blob_used, blob_cap;
};

/* Bytes of a region names_init needs for these capacities. */
size_t names_bytes(uint32_t cap_ent, uint32_t cap_key, size_t blob_cap, uint32_t sig_bytes);
int names_init(struct names *x, struct arena_region *r, uint32_t cap_ent, uint32_t cap_key, size_t blob_cap,
               uint32_t sig_bytes);
/* Empties the index (capacities kept). */
void names_clear(struct names *x);

/* Adds entity id (greater than every id so far): its dense index, or EKB_ENOSPC / EKB_EINVAL. */
int32_t names_add_entity(struct names *x, int64_t id);
/* The dense index of id, or -1. */
int32_t names_find_entity(const struct names *x, int64_t id);
/* Entity gone: its keys are skipped from now on. */
void names_drop_entity(struct names *x, int64_t id);
/* Adds a folded key of entity ent (<= 65535 bytes). */
int names_add_key(struct names *x, uint32_t ent, const char *key, size_t n, enum name_kind kind);
/* Sorts every key (the delta joins the sorted part). */
void names_sort(struct names *x);

/* Called per matching key (of a live entity), with its distance; a
 * non-zero return stops the lookup. */
typedef int (*names_fn)(void *ctx, const struct name_key *k, unsigned dist);
/* Keys equal to k[0..n). Returns the number of calls made. */
int names_exact(const struct names *x, const char *k, size_t n, names_fn fn, void *ctx);
/* Keys within OSA distance maxd (1..3) of k[0..n) (n <= NAMES_FUZZY_MAX),
 * exact ones (distance 0) included. Returns the number of calls made, or
 * EKB_EINVAL. */
#define NAMES_FUZZY_MAX 96
int names_fuzzy(const struct names *x, const char *k, size_t n, unsigned maxd, names_fn fn, void *ctx);
/* The key's bytes (not NUL-terminated). */
static inline const char *names_key_text(const struct names *x, const struct name_key *k) { return x->blob + k->off; }

/* Sets entity ent's signature from its int8 vector q (dim = 8 * sig_bytes). */
void names_set_sig(struct names *x, uint32_t ent, const int8_t *q);
/* The signature of vector q into sig (sig_bytes). */
void names_sig_of(const struct names *x, const int8_t *q, uint8_t *sig);
/* The k live entities whose signatures are nearest to sig (Hamming),
 * nearest first: dense indexes into ent, distances into dist. Returns how
 * many (<= k). */
uint32_t names_nearest(const struct names *x, const uint8_t *sig, uint32_t k, uint32_t *ent, uint32_t *dist);

#endif
