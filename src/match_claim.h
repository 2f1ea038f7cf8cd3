/*
 * match_claim.h: imports running side by side claim their leads' keys.
 */
#ifndef CRM_MATCH_CLAIM_H
#define CRM_MATCH_CLAIM_H

#include "postgres.h"

#include "match.h"

/* Whether this (sub)transaction claimed keys with crm.match_claim(). */
extern bool crm_match_claims_held(void);

/* Claim, waiting, whatever keys of a lead this transaction has not claimed. */
extern void crm_match_require_claimed(const Lead *lead);

#endif							/* CRM_MATCH_CLAIM_H */
