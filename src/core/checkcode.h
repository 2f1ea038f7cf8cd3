/*
 * checkcode.h: codes with a check character: the unified social credit
 * code, the resident identity number, and crm's own customer codes.
 *
 * The validators take the text as users enter it: surrounding spaces are
 * trimmed, full-width forms folded and lower case accepted.  Any bytes are
 * safe input; they need not be NUL-terminated.
 */
#ifndef CRM_CHECKCODE_H
#define CRM_CHECKCODE_H

#include "core.h"

/*
 * GB 32100-2015 unified social credit code: 18 characters over
 * 0-9A-Z without I, O, S, V and Z, ending in a MOD 31 check character.
 */
extern bool crm_uscc_is_valid(const char *s, size_t len);

/*
 * The canonical form of a valid unified social credit code (trimmed,
 * full-width folded, upper case, 18 characters) in memory from crm_alloc,
 * or NULL if the code is invalid.
 */
extern char *crm_norm_uscc(const char *s, size_t len);

/*
 * GB 11643-1999 18-character resident identity number: 17 digits and a
 * MOD 11-2 check character [0-9X] (lower-case x accepted).  The first two
 * digits must be a province code and digits 7-14 a real date from
 * 1890-01-01 to 2099-12-31.
 */
extern bool crm_resident_id_is_valid(const char *s, size_t len);

/* Six digits whose first two are a GB/T 2260 province-level division. */
extern bool crm_region_code_is_valid(const char *s, size_t len);

/*
 * Customer codes: 8 characters over the 34-character alphabet 0-9A-Z
 * without I and O; the 8th is an ISO 7064 MOD 35,34 check character.
 */
#define CRM_CUSTOMER_CODE_LEN 8
/* 34^7, the number of distinct codes */
#define CRM_CUSTOMER_CODE_SPACE 52523350144LL

extern bool crm_customer_code_is_valid(const char *s, size_t len);

/*
 * Encode serial n (0 <= n < CRM_CUSTOMER_CODE_SPACE) into out
 * (NUL-terminated); returns false, with out set to "", if n is out of
 * range.  The serial is first scrambled by a fixed bijection of [0, 34^7),
 * so consecutive serials do not give neighbouring codes while distinct
 * serials always give distinct codes.
 */
extern bool crm_customer_code_encode(int64_t n,
									 char out[CRM_CUSTOMER_CODE_LEN + 1]);

#endif							/* CRM_CHECKCODE_H */
