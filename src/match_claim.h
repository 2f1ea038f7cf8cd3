/*
 * match_claim.h: imports running side by side claim their leads' keys.
 */
#ifndef CRM_MATCH_CLAIM_H
#define CRM_MATCH_CLAIM_H

#include "postgres.h"

#include "ingest_batch.h"

/*
 * Claim, to the end of the transaction, the keys of the batch's leads,
 * and leave out of the batch those whose keys another transaction holds.
 * Must run inside SPI_connect.
 */
extern void crm_match_claim_batch(IngestBatch *batch);

#endif							/* CRM_MATCH_CLAIM_H */
