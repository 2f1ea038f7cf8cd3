/*
 * phone.h: the phone number key.
 */
#ifndef CRM_PHONE_H
#define CRM_PHONE_H

#include "core.h"

/*
 * E.164 form ("+8613800138000"), or NULL when the input is not a possible
 * number.  Mainland numbers are checked against the numbering plan (mobile
 * prefixes, area codes, local number lengths); numbers written with another
 * country code are kept as they are.  Extensions are dropped.
 */
extern char *crm_norm_phone(const char *s, size_t len);

#endif							/* CRM_PHONE_H */
