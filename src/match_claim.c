/*
 * match_claim.c: imports running side by side claim their leads' keys.
 *
 * A bulk statement holds every matching lock (ingest.c) from its first
 * batch to its commit, so two imports would match one chunk at a time.
 * An import chunk that claims (crm.import_claims) instead locks the keys
 * of each batch of leads crm.lead_inbox is about to match: a row lock on
 * one of CLAIM_BUCKETS rows of crm.match_claim per key, held to the
 * chunk's commit (row locks live in the tuples, so any number of them
 * costs no lock-table space).  A lead whose keys another chunk holds is
 * left out of the batch, its import row pending for a later chunk; the
 * others are matched and stored at once, in share mode of the matching
 * locks: single ingests and bulk statements still wait for the chunk, and
 * two chunks never decide on one key together.  The keys are those of the
 * leads as prepared for the batch, so what is claimed is what is matched.
 *
 * Nobody waits while holding a claim: claims are taken with SKIP LOCKED,
 * in a subtransaction that lets them all go again when no lead got every
 * one of its keys.  Only a chunk that holds no claim yet waits then, in
 * bucket order, for its first lead's keys: so claims cannot deadlock.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "ingest.h"
#include "match_claim.h"
#include "spi_plan.h"

/* The rows of crm.match_claim (install/19_migration.sql makes as many). */
#define CLAIM_BUCKETS 262144

/* The buckets this transaction claimed, and which (sub)transaction that is. */
static HTAB *held = NULL;
static LocalTransactionId held_lxid = InvalidLocalTransactionId;
static SubTransactionId held_subxid = InvalidSubTransactionId;

CRM_KEPT_PLAN(claim_free) = {
	"SELECT c.bucket FROM crm.match_claim c WHERE c.bucket OPERATOR(pg_catalog.=) ANY ($1)"
	" FOR UPDATE SKIP LOCKED",
	1, {INT4ARRAYOID}
};
CRM_KEPT_PLAN(claim_waiting) = {
	"SELECT c.bucket FROM crm.match_claim c WHERE c.bucket OPERATOR(pg_catalog.=) ANY ($1)"
	" ORDER BY c.bucket FOR UPDATE",
	1, {INT4ARRAYOID}
};

/*
 * A row's buckets: how many, in out (at most CRM_MAX_BLOCKING_KEYS).  Not
 * its external id's: a lead claimed here is an import row, whose
 * import_ref names its batch and row, and one call at a time commits a
 * batch (crm.import_chunk locks it), so no other chunk can hold it.
 *
 * Its name whole, even with an organisation: two spellings of one stored
 * organisation ("海纳" by its short name, a credit code, the full name)
 * lead to the same account by different keys, and namesakes there must
 * not be matched side by side.
 *
 * The short-name lookup of a company key ("康泰" finds "康泰医疗器械")
 * needs no claim of its own for an account two chunks create: only the
 * shorter key's lead can find the longer one's, never the other way round,
 * so two such leads side by side end as if the shorter had come first.
 */
static int
lead_buckets(const Lead *lead, int32 *out)
{
	BlockingKey keys[CRM_MAX_BLOCKING_KEYS];
	int			n = crm_match_blocking_keys(lead, keys),
				m = 0;

	for (int i = 0; i < n; i++)
		if (keys[i].kind != BLOCKING_EXTERNAL_ID)
			out[m++] = (int32) (crm_ingest_key_hash(&keys[i]) % CLAIM_BUCKETS);
	return m;
}

typedef struct ClaimRow
{
	int32		buckets[CRM_MAX_BLOCKING_KEYS];
	int			n;
	bool		claimed;
} ClaimRow;

static bool
claims_held(void)
{
	return held != NULL && held_lxid == MyProc->lxid && held_subxid == GetCurrentSubTransactionId();
}

/* Whether an earlier batch of the transaction claimed the bucket. */
static bool
already_held(int32 bucket)
{
	return claims_held() && hash_search(held, &bucket, HASH_FIND, NULL) != NULL;
}

/* The buckets the rows want and the transaction does not hold yet, as an int4[]. */
static Datum
wanted(const ClaimRow *rows, int nrows)
{
	ArrayBuildState *a = initArrayResult(INT4OID, CurrentMemoryContext, false);

	for (int r = 0; r < nrows; r++)
		for (int k = 0; k < rows[r].n; k++)
			if (!already_held(rows[r].buckets[k]))
				accumArrayResult(a, Int32GetDatum(rows[r].buckets[k]), false, INT4OID, CurrentMemoryContext);
	return makeArrayResult(a, CurrentMemoryContext);
}

/* Lock what plan finds of buckets; the set it got (a hash of int32). */
static HTAB *
take(CrmPlan *plan, Datum buckets, MemoryContext cxt)
{
	HASHCTL		ctl = {.keysize = sizeof(int32), .entrysize = sizeof(int32), .hcxt = cxt};
	HTAB	   *got = hash_create("crm claims", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	uint64		n = crm_plan_run(plan, &buckets, NULL, 0, SPI_OK_SELECT);

	for (uint64 i = 0; i < n; i++)
	{
		int32		b;

		(void) crm_spi_int4(i, 1, &b);
		(void) hash_search(got, &b, HASH_ENTER, NULL);
	}
	return got;
}

/* Whether the transaction holds each of the row's buckets, got now or before. */
static bool
row_claimed(const ClaimRow *row, HTAB *got)
{
	for (int k = 0; k < row->n; k++)
		if (!hash_search(got, &row->buckets[k], HASH_FIND, NULL) && !already_held(row->buckets[k]))
			return false;
	return true;
}

/* Add the buckets got to those this transaction holds. */
static void
remember(HTAB *got)
{
	HASH_SEQ_STATUS seq;
	int32	   *b;

	if (!claims_held())
	{
		held = got;
		held_lxid = MyProc->lxid;
		held_subxid = GetCurrentSubTransactionId();
		return;
	}
	hash_seq_init(&seq, got);
	while ((b = hash_seq_search(&seq)) != NULL)
		(void) hash_search(held, b, HASH_ENTER, NULL);
}

/*
 * Claim what is free of the rows' keys: kept when some row got all of its
 * own (the rows that did are marked), else let go at once, so that a
 * chunk that must wait holds nothing new.  Whether any row got its keys.
 */
static bool
claim_free_rows(ClaimRow *rows, int nrows)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	HTAB	   *got;
	bool		any = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	got = take(&claim_free, wanted(rows, nrows), TopTransactionContext);
	for (int r = 0; r < nrows; r++)
		any |= rows[r].claimed = row_claimed(&rows[r], got);
	if (any)
		ReleaseCurrentSubTransaction();
	else
		RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	if (any)
		remember(got);
	return any;
}

/* No row got its keys: wait, holding no claim, for the first row's. */
static void
wait_for_first(ClaimRow *rows, int nrows)
{
	for (int r = 0; r < nrows; r++)
		if (rows[r].n > 0)
		{
			hash_destroy(take(&claim_waiting, wanted(&rows[r], 1), CurrentMemoryContext));
			return;
		}
}

/*
 * A first batch none of whose leads can be claimed waits for its first
 * lead's keys, so that every chunk imports something.
 */
void
crm_match_claim_batch(IngestBatch *batch)
{
	int			n = crm_batch_size(batch);
	ClaimRow   *rows = palloc0(sizeof(ClaimRow) * Max(n, 1));
	bool	   *keep = palloc(sizeof(bool) * Max(n, 1));

	if (!claims_held())
		crm_ingest_lock_all_shared();
	for (int r = 0; r < n; r++)
		rows[r].n = lead_buckets(crm_batch_lead(batch, r), rows[r].buckets);
	if (!claim_free_rows(rows, n) && !claims_held())
	{
		wait_for_first(rows, n);
		(void) claim_free_rows(rows, n);
	}
	for (int r = 0; r < n; r++)
		keep[r] = rows[r].claimed || rows[r].n == 0;
	crm_batch_keep(batch, keep);
}
