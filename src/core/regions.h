/*
 * regions.h: Chinese province and city names, the prefixes that registered
 * company names carry and short names drop.
 */
#ifndef CRM_REGIONS_H
#define CRM_REGIONS_H

#include "core.h"

/* Region names without 省/市/自治区. */
extern const char *const crm_region_han[];
extern const int crm_n_region_han;

/* The same regions as English company names spell them. */
extern const char *const crm_region_latin[];
extern const int crm_n_region_latin;

/* Administrative suffixes that may follow a region name. */
extern const char *const crm_region_suffixes[];
extern const int crm_n_region_suffixes;

#endif							/* CRM_REGIONS_H */
