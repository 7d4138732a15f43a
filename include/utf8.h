/* utf8.h: the one UTF-8 library (decode, encode, validate, cut at a
 * character boundary).
 *
 * Owns: nothing; pure functions over caller bytes. "Well formed" is the
 * Unicode definition: no overlong forms, no surrogates (U+D800..U+DFFF),
 * nothing above U+10FFFF, no truncated sequence.
 * Failure: none; invalid input is reported through return values. */
#ifndef EKB_UTF8_H
#define EKB_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* 1 for a continuation byte (10xxxxxx). */
static inline int utf8_is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

/* The length a lead byte announces (1..4; 1 for a byte that leads nothing). */
size_t utf8_seq_len(unsigned char lead);

/* The well-formed sequence at s (n > 0 bytes left): its length (1..4) and
 * code point in *cp; 0 (and *cp = UINT32_MAX) when it is not one. */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* Lenient decoding for tokenizers: the code point at s (n > 0 bytes left),
 * or U+FFFD with *adv = 1 for a bad lead byte, a bad continuation or a
 * truncated sequence; a complete but overlong / surrogate / out-of-range
 * sequence is consumed whole (*adv = its length) as one U+FFFD. */
uint32_t utf8_next(const unsigned char *s, size_t n, size_t *adv);

/* Writes cp (<= 0x10FFFF) at o; returns 1..4 bytes. */
size_t utf8_put(char *o, uint32_t cp);

/* 1 when s[0..n) is well formed and holds no NUL byte; else 0 with
 * *bad_at (may be NULL) the offset of the first bad sequence. */
int utf8_valid(const char *s, size_t n, size_t *bad_at);

/* The largest length <= max (and <= n) that ends on a character boundary
 * of s[0..n). */
size_t utf8_cut(const char *s, size_t n, size_t max);

/* Copies the NUL-terminated src (NULL: "") into dst[0..cap), cut at a
 * character boundary when it does not fit; returns the bytes copied. */
size_t utf8_copy(char *dst, size_t cap, const char *src);

/* The length of s[0..n) without a possibly incomplete last character (a
 * lead byte with fewer continuation bytes after it than it announces), for
 * text read in pieces. */
size_t utf8_complete(const char *s, size_t n);

#endif
