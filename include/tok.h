/* tok.h: tokenizers built from a GGUF vocabulary.
 *
 * Owns: the vocabulary tables (a string->id hash in the caller's arena
 * region; token strings point into the mapped GGUF). Kinds: "llama"
 * SentencePiece with byte fallback (tok_spm.c). WordPiece, SentencePiece
 * unigram and GPT-2 BPE come with the encoders and larger decoders.
 *
 * Invariants: ids returned are < n_vocab; encoding never allocates.
 * Failure: EKB_ETOOBIG when text is over EKB_TOK_MAX_TEXT bytes or the ids
 * do not fit in max; EKB_ECORRUPT / EKB_EUNSUPP when the GGUF vocabulary is
 * malformed or of another kind; EKB_ENOMEM when the region is too small. */
#ifndef EKB_TOK_H
#define EKB_TOK_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "gguf.h"

/* llama.cpp token types */
enum tok_type { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_USER = 4, TOK_UNUSED = 5, TOK_BYTE = 6 };

struct tok {
    uint32_t n_vocab;
    const char **str;     /* token strings (not NUL-terminated) */
    uint32_t *len;
    /* scores (f32) and types (i32) point into GGUF metadata, which is not
     * aligned: read them with tok_score()/tok_ttype(), never directly */
    const unsigned char *scores; /* may be NULL: all 0 */
    const unsigned char *types;  /* may be NULL: all normal */
    uint32_t *hash;       /* open addressing: id + 1, 0 = empty */
    uint32_t hsize;       /* power of two */
    int32_t byte_id[256]; /* <0xXX> tokens, -1 if absent */
    int32_t bos, eos, unk;
    int add_bos, add_eos, add_space_prefix;
    /* merge scratch (EKB_TOK_MAX_TEXT + prefix symbols), allocated at load */
    uint32_t *sym_start, *sym_len;
    int32_t *sym_next;
    char *buf;
};

/* Builds a llama SentencePiece tokenizer from tokenizer.ggml.* (model "llama"). */
int tok_spm_load(struct tok *t, struct arena_region *r, const struct gguf *g, char *err, size_t errlen);
/* Encodes text into ids (BOS/EOS per the vocabulary's flags when add_special). */
int tok_spm_encode(const struct tok *t, const char *text, size_t len, int add_special, int32_t *ids,
                   size_t max, size_t *n);
/* Appends the bytes of one token to out (at most cap); returns the bytes it
 * would take. first: strip the SentencePiece space prefix. Control tokens
 * give nothing. */
size_t tok_spm_piece(const struct tok *t, int32_t id, int first, char *out, size_t cap);
float tok_score(const struct tok *t, int32_t id);
int32_t tok_ttype(const struct tok *t, int32_t id);
/* id of an exact token string, or -1 */
int32_t tok_lookup(const struct tok *t, const char *s, size_t len);

/* ---- BERT WordPiece (uncased), tok_wordpiece.c ----
 * Normaliser as HF BertNormalizer (clean text, CJK spacing, NFD + drop
 * nonspacing marks, lower-case; tables in tok_unicode.c), BertPreTokenizer
 * (split on whitespace, punctuation isolated), greedy longest-match WordPiece
 * with "##" continuations, [UNK] for words over 100 characters or with no
 * match. Vocabulary from vocab.txt bytes or a llama.cpp BERT GGUF
 * (phantom-space form: converted back to "##" form at load). */
struct tok_wp {
    uint32_t n_vocab;
    char *pool;        /* token strings, "##" form */
    uint32_t *off, *len;
    uint32_t *hash, hsize;
    int32_t unk, cls, sep, pad;
    char *norm;        /* scratch: normalised text */
    char *piece;       /* scratch: "##" + a candidate */
    uint32_t *word_cp; /* scratch: character starts of a word */
};

int tok_wp_load_vocab(struct tok_wp *t, struct arena_region *r, const char *vocab_txt, size_t len, char *err,
                      size_t errlen);
int tok_wp_load_gguf(struct tok_wp *t, struct arena_region *r, const struct gguf *g, char *err, size_t errlen);
/* add_special: [CLS] ... [SEP]. Text over EKB_TOK_MAX_TEXT bytes or more ids
 * than max: EKB_ETOOBIG (callers truncate to the model's length themselves). */
int tok_wp_encode(const struct tok_wp *t, const char *text, size_t len, int add_special, int32_t *ids, size_t max,
                  size_t *n);
int32_t tok_wp_lookup(const struct tok_wp *t, const char *s, size_t len);

#endif
