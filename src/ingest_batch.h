/*
 * ingest_batch.h: matching and storing prepared leads, many at a time.
 */
#ifndef CRM_INGEST_BATCH_H
#define CRM_INGEST_BATCH_H

#include "postgres.h"

#include "match.h"

typedef struct IngestResult
{
	int64		lead_id;
	int64		contact_id;		/* 0: none */
	int64		account_id;		/* 0: none */
	char	   *customer_code;
	const char *outcome;
	bool		has_match_score;
	double		match_score;
	bool		has_lead_score;
	int32		lead_score;
	char	   *owner;
	char	   *status;
	char	   *waiting_reason;
} IngestResult;

typedef struct IngestBatch IngestBatch;

/* Builds the statement that stores leads (from _PG_init). */
extern void crm_ingest_batch_init(void);

/* An empty batch whose work lives in a child context of parent. */
extern IngestBatch *crm_batch_create(MemoryContext parent);

/* The context a lead must be prepared in to be added to the batch. */
extern MemoryContext crm_batch_context(IngestBatch *batch);

extern int	crm_batch_size(IngestBatch *batch);

/* Queue a lead for ingestion. */
extern void crm_batch_add(IngestBatch *batch, Lead *lead);

/* The i-th queued lead (0 <= i < crm_batch_size). */
extern const Lead *crm_batch_lead(IngestBatch *batch, int i);

/* Keep the queued leads i with keep[i], in their order; forget the others. */
extern void crm_batch_keep(IngestBatch *batch, const bool *keep);

/*
 * Queue a reviewer's decision: stored lead lead_id merges into contact
 * contact_id as if ingestion had decided so.
 */
extern void crm_batch_add_merge(IngestBatch *batch, Lead *lead, int64 lead_id,
								int64 contact_id);

/* Takes a lead that could not be written, and the error that said why. */
typedef void (*CrmBatchQuarantine) (const Lead *lead, ErrorData *error);

/*
 * Match and store every queued lead, with the meaning of ingesting them
 * one after another in the order queued; must run inside SPI_connect.
 * The result of lead i (in queue order) is left in results[i] when
 * results is not NULL.  A lead whose channel and external id are stored
 * already is a re-send: with the same lead fields it stores nothing and
 * its result is the stored lead, outcome "duplicate"; with others it is
 * refused (23505).  With quarantine, a refused re-send and a lead whose
 * write fails for a reason of its own (a constraint, a trigger) are
 * handed to it, unwritten, and the others are stored; without, the error
 * ends the flush.  The batch is then empty again.  Returns how many leads
 * were duplicates.
 */
extern int	crm_batch_flush(IngestBatch *batch, IngestResult *results,
							CrmBatchQuarantine quarantine);

/* Forget the queued leads without storing them. */
extern void crm_batch_discard(IngestBatch *batch);

/*
 * The accounts and candidate contacts the lead's keys find now, read as a
 * batch reads them (crm.explain_match); how many candidates.
 */
extern int	crm_batch_find(Lead *lead, AccountMatch *accounts, Candidate **cands);

#endif							/* CRM_INGEST_BATCH_H */
