/*
 * ingest.h: one lead in, matched to its customer and stored.
 */
#ifndef CRM_INGEST_H
#define CRM_INGEST_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "match.h"

/*
 * Parse, check and normalise a payload from a channel, without writing
 * anything: every error a bad payload can cause is raised here.
 */
extern Lead *crm_ingest_prepare(const char *channel, Jsonb *payload);

/*
 * crm_ingest_prepare in a subtransaction that writes nothing: the lead, or
 * NULL with *error saying why.  raw: a text payload, parsed first into
 * *payload (22P02 when it is not JSON); else *payload is the payload.
 */
extern Lead *crm_ingest_try_prepare(const char *channel, Jsonb **payload, const char *raw,
									ErrorData **error);

/*
 * A stored lead as crm_ingest_prepare made it (its stored fields read and
 * normalised again), and the contact it is on now (0: none).
 */
extern Lead *crm_ingest_stored_lead(int64 lead_id, int64 *contact_id);

/* Refuse a lead without a channel or a payload (22004). */
extern void crm_ingest_require_input(bool has_channel, bool has_payload);

/*
 * Take every matching lock of this transaction at once, so that a bulk
 * statement takes no further locks per row (and cannot deadlock with
 * single ingests, which take theirs in the same order).
 */
extern void crm_ingest_lock_all(void);

/* The hash a blocking key is locked by. */
extern uint32 crm_ingest_key_hash(const BlockingKey *key);

/*
 * Every bucket of the matching locks in share mode: single ingests and
 * bulk statements wait, imports claiming their keys (match_claim.c) do not.
 */
extern void crm_ingest_lock_all_shared(void);

/*
 * From now to the end of the current statement, read each channel once:
 * for bulk statements, whose rows would otherwise each read theirs.
 */
extern void crm_ingest_cache_channels(void);

#endif							/* CRM_INGEST_H */
