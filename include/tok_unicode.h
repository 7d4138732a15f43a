/* tok_unicode.h: Unicode character classes and the BERT fold (NFD, drop
 * nonspacing marks, lower-case) for tok_wordpiece.c. The tables are
 * generated (tools/gen-unicode.py -> src/tok_unicode.c). */
#ifndef EKB_TOK_UNICODE_H
#define EKB_TOK_UNICODE_H

#include <stddef.h>
#include <stdint.h>

int uni_is_control(uint32_t cp); /* category C*, except TAB, LF, CR */
int uni_is_space(uint32_t cp);   /* Zs, TAB, LF, CR */
int uni_is_punct(uint32_t cp);   /* P*, and ASCII symbols */
int uni_is_letter(uint32_t cp);  /* L* (GPT-2 pre-tokenizer \p{L}) */
int uni_is_number(uint32_t cp);  /* N* (\p{N}) */
/* UTF-8 of the folded form in *out (may be empty), or (size_t)-1 when cp
 * folds to itself. */
size_t uni_fold(uint32_t cp, const char **out);

/* UTF-8 of NFKC(cp) for the single code point (may be longer), or
 * (size_t)-1 when cp is unchanged. Applied per code point, this equals
 * full NFKC except where a base character and following combining marks
 * compose (e.g. "e" U+0301 stays two code points, NFKC gives one). */
size_t uni_nfkc(uint32_t cp, const char **out);

#endif
