/*
 * match_claim.c: imports running side by side claim their leads' keys.
 *
 * A bulk statement holds every matching lock (ingest.c) from its first
 * batch to its commit, so two imports would match one chunk at a time.
 * An import chunk instead claims the keys of its rows: a row lock on one
 * of CLAIM_BUCKETS rows of crm.match_claim per key, held to the chunk's
 * commit (row locks live in the tuples, so any number of them costs no
 * lock-table space).  A row whose keys another chunk holds now waits for a
 * later chunk, and the others are matched and stored at once, in share
 * mode of the matching locks: single ingests and bulk statements still
 * wait for the chunk, and two chunks never decide on one key together.
 *
 * Nobody waits while holding a claim: claims are taken with SKIP LOCKED,
 * in a subtransaction that lets them all go again when no row got every
 * one of its keys.  Only such a chunk waits, holding no claim, in bucket
 * order, for its first row's keys: so claims cannot deadlock.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "ingest.h"
#include "match_claim.h"
#include "spi_plan.h"

/* The rows of crm.match_claim (install/19_migration.sql makes as many). */
#define CLAIM_BUCKETS 262144

PG_FUNCTION_INFO_V1(crm_match_claim);

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

/* A row's buckets: n of them in out (at most CRM_MAX_BLOCKING_KEYS). */
static int
lead_buckets(const Lead *lead, int32 *out)
{
	BlockingKey keys[CRM_MAX_BLOCKING_KEYS];
	int			n = crm_match_blocking_keys(lead, keys);

	for (int i = 0; i < n; i++)
		out[i] = (int32) (crm_ingest_key_hash(&keys[i]) % CLAIM_BUCKETS);
	return n;
}

typedef struct ClaimRow
{
	int32		buckets[CRM_MAX_BLOCKING_KEYS];
	int			n;
	bool		claimed;
} ClaimRow;

/* The buckets the rows want, as an int4[]. */
static Datum
wanted(const ClaimRow *rows, int nrows)
{
	ArrayBuildState *a = initArrayResult(INT4OID, CurrentMemoryContext, false);

	for (int r = 0; r < nrows; r++)
		for (int k = 0; k < rows[r].n; k++)
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

static bool
row_within(const ClaimRow *row, HTAB *set)
{
	for (int k = 0; k < row->n; k++)
		if (!hash_search(set, &row->buckets[k], HASH_FIND, NULL))
			return false;
	return true;
}

/* Add the buckets got to those this transaction holds. */
static void
remember(HTAB *got)
{
	HASH_SEQ_STATUS seq;
	int32	   *b;

	if (!crm_match_claims_held())
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
 * chunk that must wait holds nothing.  Whether any row got its keys.
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
		any |= rows[r].claimed = row_within(&rows[r], got);
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

bool
crm_match_claims_held(void)
{
	return held != NULL && held_lxid == MyProc->lxid && held_subxid == GetCurrentSubTransactionId();
}

/*
 * A lead's keys may differ from those claimed for its payload (what its
 * preparation reads changed since): claim the missing ones now, waiting.
 * Two chunks waiting so for each other deadlock, and crm.import_commit
 * takes the undone chunk again.
 */
void
crm_match_require_claimed(const Lead *lead)
{
	ClaimRow	row;

	row.n = lead_buckets(lead, row.buckets);
	if (!row_within(&row, held))
		remember(take(&claim_waiting, wanted(&row, 1), TopTransactionContext));
}

/* The rows of payloads as leads of channel: their buckets (none for a bad row). */
static ClaimRow *
rows_of(const char *channel, ArrayType *payloads, int *nrows)
{
	Datum	   *values;
	bool	   *nulls;
	ClaimRow   *rows;

	deconstruct_array(payloads, JSONBOID, -1, false, TYPALIGN_INT, &values, &nulls, nrows);
	rows = palloc0(sizeof(ClaimRow) * Max(*nrows, 1));
	for (int r = 0; r < *nrows; r++)
	{
		Jsonb	   *payload = nulls[r] ? NULL : DatumGetJsonbP(values[r]);
		ErrorData  *e;
		Lead	   *lead = crm_ingest_try_prepare(channel, &payload, NULL, &e);

		/* a row that cannot be a lead goes to quarantine: it needs no key */
		if (lead != NULL)
			rows[r].n = lead_buckets(lead, rows[r].buckets);
	}
	return rows;
}

/*
 * crm.match_claim(channel text, payloads jsonb[]) -> boolean[]: which of
 * the payloads (leads of channel) this transaction may now store through
 * crm.lead_inbox, their keys claimed to its end; at least one when any.
 */
Datum
crm_match_claim(PG_FUNCTION_ARGS)
{
	char	   *channel;
	ClaimRow   *rows;
	int			nrows;
	Datum	   *result;

	channel = text_to_cstring(PG_GETARG_TEXT_PP(0));
	SPI_connect();
	crm_ingest_lock_all_shared();
	crm_ingest_cache_channels();
	rows = rows_of(channel, PG_GETARG_ARRAYTYPE_P(1), &nrows);
	if (!claim_free_rows(rows, nrows))
	{
		wait_for_first(rows, nrows);
		(void) claim_free_rows(rows, nrows);
	}
	SPI_finish();
	result = palloc(sizeof(Datum) * Max(nrows, 1));
	for (int r = 0; r < nrows; r++)
		result[r] = BoolGetDatum(rows[r].claimed || rows[r].n == 0);
	PG_RETURN_ARRAYTYPE_P(construct_array(result, nrows, BOOLOID, 1, true, TYPALIGN_CHAR));
}
