/*
 * email.h: the e-mail address key.
 */
#ifndef CRM_EMAIL_H
#define CRM_EMAIL_H

#include "core.h"

/*
 * Trimmed, full-width folded (＠, ．, and the ideographic full stop 。 that
 * Chinese input methods produce), lower-cased; "mailto:" and
 * "Name <address>" unwrapped.  NULL when it is not a plain ASCII address
 * (dot-atom local part, host name domain).  The result is NUL-terminated,
 * from crm_alloc.
 */
extern char *crm_norm_email(const char *s, size_t len);

#endif							/* CRM_EMAIL_H */
