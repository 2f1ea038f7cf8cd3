/*
 * cpstring.h: in-place edits of folded code point strings, shared by the
 * person-name and company-name keys.  Each returns the new length.
 */
#ifndef CRM_CPSTRING_H
#define CRM_CPSTRING_H

#include "core.h"

#define CRM_MIDDLE_DOT 0x00B7

/* How a cleaner treats one code point. */
typedef enum CrmCharAction
{
	CRM_KEEP,					/* keep as it is */
	CRM_SEPARATE,				/* becomes a space */
	CRM_DROP					/* vanishes */
} CrmCharAction;

/* Remove bracketed notes, nested or not, and unmatched closing brackets. */
extern size_t crm_drop_bracketed(uint32_t *s, size_t n);

/*
 * Apply classify() to every code point, in place.  Combining marks survive
 * only after a letter, so a lone mark cannot leak into a key.
 */
extern size_t crm_clean_chars(uint32_t *s, size_t n,
							  CrmCharAction (*classify) (uint32_t *cp));

/* Squeeze runs of spaces to one and trim both ends. */
extern size_t crm_collapse_spaces(uint32_t *s, size_t n);

/* Remove spaces next to a Han character or a middle dot. */
extern size_t crm_squeeze_han_spaces(uint32_t *s, size_t n);

/* Trim trailing spaces. */
extern size_t crm_rtrim(const uint32_t *s, size_t n);

/* Number of Han characters and letters/digits of other scripts. */
extern size_t crm_count_letters(const uint32_t *s, size_t n);

/* Classification common to both keys: spaces, symbols, controls, marks. */
extern CrmCharAction crm_classify_common(uint32_t cp);

#endif							/* CRM_CPSTRING_H */
