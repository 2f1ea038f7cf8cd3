/*
 * unicode.h: ICU-backed folding shared by the name and pinyin keys.
 *
 * Transliterators are opened once per process, on first use, and their
 * per-character results are cached: ICU's Traditional-Simplified and
 * Han-Latin rules are costly to run, but the set of Han characters a
 * backend meets is small.
 */
#ifndef CRM_UNICODE_H
#define CRM_UNICODE_H

#include "core.h"

/*
 * Decode UTF-8, apply NFKC_Casefold and map traditional Han characters to
 * simplified ones, one character at a time so both sides of a comparison
 * fold alike.  Returns a crm_alloc'd code point array and its length, or
 * NULL for ill-formed input or an ICU failure (then crm_core_error is set).
 */
extern uint32_t *crm_fold_text(const char *s, size_t len, size_t *n_out);

/*
 * Fold s (as crm_fold_text does) and hand the code points to key(), which
 * may edit them in place; NULL when s is longer than max_bytes or cannot be
 * folded.  The shared frame of the name keys.
 */
extern char *crm_key_of_folded(const char *s, size_t len, size_t max_bytes,
							   char *(*key) (uint32_t *cps, size_t n));

/* Encode code points as NUL-terminated UTF-8 (crm_alloc'd). */
extern char *crm_encode_utf8(const uint32_t *cps, size_t n);

/* Han ideograph (CJK unified, extensions and compatibility blocks, 〇). */
extern bool crm_is_han(uint32_t cp);

/* Letters and digits of any script other than Han, after folding. */
extern bool crm_is_alnum(uint32_t cp);

/* Combining marks (Mn, Mc, Me): they belong to the letter before them. */
extern bool crm_is_mark(uint32_t cp);

/*
 * Toneless lower-case pinyin of one Han character (ü written as v), from
 * ICU Han-Latin then Latin-ASCII; NULL when ICU has no reading or failed.
 * The string is owned by the cache and lives as long as the process.
 */
extern const char *crm_han_reading(uint32_t cp);

#endif							/* CRM_UNICODE_H */
