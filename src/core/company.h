/*
 * company.h: the company-name matching key.
 */
#ifndef CRM_COMPANY_H
#define CRM_COMPANY_H

#include "core.h"

/* Longer input is not an organisation's name. */
#define CRM_COMPANY_NAME_MAX_BYTES 2048

/*
 * The core name two spellings of one organisation share: NFKC, case fold,
 * traditional to simplified, bracketed notes, legal forms and branch
 * suffixes removed, and a leading region removed unless the region is part
 * of what identifies the organisation (hospitals, schools, banks, public
 * bodies).  NULL when nothing is left.
 */
extern char *crm_norm_company_name(const char *s, size_t len);

/*
 * The region at the head of a company name or in brackets within it
 * (crm_alloc'd), or NULL when it names none.
 */
extern char *crm_company_region(const char *s, size_t len);

#endif							/* CRM_COMPANY_H */
