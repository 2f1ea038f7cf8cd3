/*
 * import.h: the migration (crm.import_commit): its settings, and what a
 * lead of its channel carries besides the lead fields.
 */
#ifndef CRM_IMPORT_H
#define CRM_IMPORT_H

#include "match.h"

extern void crm_import_init(void);

/*
 * Whether the lead carries a customer of the old system: channel
 * migration.  A contact or account it creates keeps the old system's
 * creation time and owner; unscored, it is a migrated customer's lead
 * (crm.lead_is_migrated_customer), stored closed.
 */
extern bool crm_import_carries_customer(const Lead *lead);

/* The owner the old system gave the lead's customer (payload key "owner"), or NULL. */
extern char *crm_import_owner(const Lead *lead);

/*
 * Refuse (42501) a lead of the migration channel whose external id names
 * an import row ("batch:row") unless crm.import_commit stores it: another
 * writer could otherwise take a row's place before it is imported.
 */
extern void crm_import_require_own_ref(const Lead *lead);

/* Whether crm.import_step() is running a chunk (import_guard.c). */
extern bool crm_import_writing(void);

/*
 * Whether the import chunk under way stores its leads under claims of
 * their keys (match_claim.c) rather than the matching locks whole, as
 * crm.import_claims says: decided once per chunk.
 */
extern bool crm_import_claims_keys(void);

#endif							/* CRM_IMPORT_H */
