/* jsonl.h: JSON Lines input (one object per line), parsed strictly in
 * place without the heap: documents ({"id","title","text"}), entities
 * ({"name","aliases":[...],"description"}), predicate schemas
 * ({"predicate","inverse","transitive","aliases"}).
 *
 * Owns: nothing; the caller gives one buffer per field it wants.
 * Accepted: an object whose values are strings (every escape of RFC 8259,
 * \uXXXX with surrogate pairs), numbers, true, false, null, or arrays of
 * those (nested objects and arrays of arrays are refused). Duplicate keys:
 * the last one wins. Strings come out as UTF-8 (escapes decoded; raw bytes
 * are copied as they are, so the caller still validates UTF-8 if it must).
 * Failure: -1 with *why naming the problem (malformed, a wanted key of a
 * type the field does not accept), -2 when a wanted string does not fit
 * its buffer. */
#ifndef EKB_JSONL_H
#define EKB_JSONL_H

#include <stddef.h>

enum { JSONL_STR = 1, JSONL_NUM = 2, JSONL_BOOL = 4, JSONL_NULL = 8, JSONL_STRS = 16 /* array of strings */ };

struct jsonl_field {
    const char *key; /* in */
    unsigned accept; /* in: the JSONL_* types this field may have */
    char *out;       /* in: a string (NUL-terminated), or an array's strings one after another, each NUL-terminated */
    size_t cap;      /* in: bytes of out */
    /* out (reset by jsonl_object) */
    int found;
    unsigned type;   /* the JSONL_* type it had */
    size_t len;      /* JSONL_STR: its bytes; JSONL_STRS: the bytes used in out */
    unsigned n;      /* JSONL_STRS: the number of strings */
    int b;           /* JSONL_BOOL: its value */
};

int jsonl_object(const char *s, size_t n, struct jsonl_field *f, int nf, const char **why);

/* A facts TSV line `subject<TAB>predicate<TAB>object` (no newline): each
 * field copied NUL-terminated into out[i] (cap bytes each). -1 with *why
 * when there are not exactly three fields or one is cap bytes or longer. */
int jsonl_tsv3(const char *l, size_t n, char *const out[3], size_t cap, const char **why);
/* The next string of a JSONL_STRS field: *at starts at 0; NULL after the last. */
const char *jsonl_next(const struct jsonl_field *f, size_t *at);

#endif
