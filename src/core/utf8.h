/*
 * utf8.h: small UTF-8 helpers for the normalisation core.
 *
 * Input reaching the core from PostgreSQL is valid UTF-8, but the fuzz
 * harness feeds arbitrary bytes, so every decoder here is defensive.
 */
#ifndef CRM_UTF8_H
#define CRM_UTF8_H

#include "core.h"

/* Code point returned for an ill-formed sequence (one byte is consumed). */
#define CRM_UTF8_INVALID 0xFFFFFFFFu

/*
 * Decode one code point at s[*pos] (s has len bytes), advance *pos past it.
 * Returns CRM_UTF8_INVALID for ill-formed input.
 */
extern uint32_t crm_utf8_next(const char *s, size_t len, size_t *pos);

/* Encode cp into out (at least 4 bytes); returns the number of bytes. */
extern int	crm_utf8_put(uint32_t cp, char *out);

/*
 * Fold the full-width forms of ASCII (U+FF01..U+FF5E) and the ideographic
 * space (U+3000) to ASCII, as NFKC would; other code points are unchanged.
 */
extern uint32_t crm_fold_fullwidth(uint32_t cp);

/* Unicode White_Space, plus zero-width space and BOM, which users paste. */
extern bool crm_is_space(uint32_t cp);

/*
 * Remove the C0 and C1 control characters and DEL from s (len bytes) in
 * place, the line breaks and tabs among them becoming a space; returns the
 * new length.  Ill-formed bytes are kept, for the decoders after it.
 */
extern size_t crm_drop_controls(char *s, size_t len);

/* Narrow [*start, *end) of s past leading and trailing crm_is_space(). */
extern void crm_trim_spaces(const char *s, size_t *start, size_t *end);

/*
 * Copy s into a new NUL-terminated ASCII string with full-width forms
 * folded and leading/trailing spaces trimmed.  Returns NULL if a code point
 * remains outside ASCII after folding, or if the input is ill-formed.
 * *out_len receives the length.
 */
extern char *crm_fold_to_ascii(const char *s, size_t len, size_t *out_len);

#endif							/* CRM_UTF8_H */
