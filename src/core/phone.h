/*
 * phone.h: the phone number key.
 */
#ifndef CRM_PHONE_H
#define CRM_PHONE_H

#include "core.h"

/*
 * E.164 form ("+8613800138000"), or NULL when the input is not a possible
 * number.  Mainland numbers (the default without an international prefix)
 * are checked against the numbering plan: allocated mobile prefixes, area
 * codes, local number lengths, 400/800 service numbers.  Numbers written
 * with another country code ("+852 ...", "001 ...") are kept as written.
 * Extensions are dropped.  The result is NUL-terminated, from crm_alloc.
 */
extern char *crm_norm_phone(const char *s, size_t len);

#endif							/* CRM_PHONE_H */
