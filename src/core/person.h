/*
 * person.h: the person-name matching key.
 */
#ifndef CRM_PERSON_H
#define CRM_PERSON_H

#include "core.h"

/* Longer input is not a person's name. */
#define CRM_PERSON_NAME_MAX_BYTES 1024

/*
 * NFKC, case fold, traditional to simplified, bracketed notes and trailing
 * honorifics or titles removed, inner spaces of Han names removed, Latin
 * names with single spaces.  NULL when nothing name-like is left.
 */
extern char *crm_norm_person_name(const char *s, size_t len);

#endif							/* CRM_PERSON_H */
