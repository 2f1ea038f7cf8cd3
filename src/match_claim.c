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

/* A bucket claimed or wanted, and whether exclusively (else shared). */
typedef struct Claim
{
	int32		bucket;
	bool		exclusive;
} Claim;

/* The buckets this transaction claimed, and which (sub)transaction that is. */
static HTAB *held = NULL;
static LocalTransactionId held_lxid = InvalidLocalTransactionId;
static SubTransactionId held_subxid = InvalidSubTransactionId;

CRM_KEPT_PLAN(claim_free) = {
	"SELECT c.bucket FROM crm.match_claim c WHERE c.bucket OPERATOR(pg_catalog.=) ANY ($1)"
	" FOR UPDATE SKIP LOCKED",
	1, {INT4ARRAYOID}
};
CRM_KEPT_PLAN(claim_free_shared) = {
	"SELECT c.bucket FROM crm.match_claim c WHERE c.bucket OPERATOR(pg_catalog.=) ANY ($1)"
	" FOR SHARE SKIP LOCKED",
	1, {INT4ARRAYOID}
};
CRM_KEPT_PLAN(claim_waiting) = {
	"SELECT c.bucket FROM crm.match_claim c WHERE c.bucket OPERATOR(pg_catalog.=) ANY ($1)"
	" ORDER BY c.bucket FOR UPDATE",
	1, {INT4ARRAYOID}
};

typedef struct ClaimRow
{
	Claim		keys[CRM_MAX_BLOCKING_KEYS];
	int			n;
	bool		claimed;
} ClaimRow;

static Claim
claim_of(char kind, const char *value, bool exclusive)
{
	BlockingKey key = {kind, value};

	return (Claim) {(int32) (crm_ingest_key_hash(&key) % CLAIM_BUCKETS), exclusive};
}

/*
 * A row's buckets, how each must be claimed: row->n of them.
 *
 * Not its external id's: a lead claimed here is an import row, whose
 * import_ref names its batch and row, and one call at a time commits a
 * batch (crm.import_chunk locks it), so no other chunk can hold it.
 *
 * Its name shared when it has an organisation: it looks the name up only
 * at its candidate accounts, which its credit code and company key
 * (claimed exclusively) find, so namesakes at two organisations, common
 * in a customer list, are matched side by side, as ingest_batch.c decides
 * them in one wave.  A lead without one looks the name up everywhere:
 * exclusively, it waits for every namesake being stored.
 *
 * The short-name lookup of a company key ("康泰" finds "康泰医疗器械")
 * needs no claim of its own: only the shorter key's lead can find the
 * longer one's account, never the other way round, so two such leads side
 * by side end as if the shorter had come first.
 */
static void
lead_buckets(const Lead *lead, ClaimRow *row)
{
	BlockingKey keys[CRM_MAX_BLOCKING_KEYS];
	int			n = crm_match_blocking_keys(lead, keys);
	bool		organisation = lead->company_key != NULL || lead->uscc != NULL;

	row->n = 0;
	for (int i = 0; i < n; i++)
		if (keys[i].kind != BLOCKING_EXTERNAL_ID)
			row->keys[row->n++] = claim_of(keys[i].kind, keys[i].value,
										   !(keys[i].kind == BLOCKING_NAME && organisation));
}

static HTAB *
claim_set(MemoryContext cxt)
{
	HASHCTL		ctl = {.keysize = sizeof(int32), .entrysize = sizeof(Claim), .hcxt = cxt};

	return hash_create("crm claims", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* Enter the claim into set, exclusive if it is there either way. */
static void
add_claim(HTAB *set, Claim c)
{
	bool		found;
	Claim	   *entry = hash_search(set, &c.bucket, HASH_ENTER, &found);

	entry->exclusive = (found && entry->exclusive) || c.exclusive;
}

static bool
claims_held(void)
{
	return held != NULL && held_lxid == MyProc->lxid && held_subxid == GetCurrentSubTransactionId();
}

/* Whether set (or, with set NULL, this transaction) holds the claim c. */
static bool
covered(HTAB *set, Claim c)
{
	Claim	   *entry;

	if (set == NULL && !claims_held())
		return false;
	entry = hash_search(set ? set : held, &c.bucket, HASH_FIND, NULL);
	return entry != NULL && (entry->exclusive || !c.exclusive);
}

/*
 * The buckets of the rows' exclusive (or shared) claims that neither got
 * nor the transaction holds so, as an int4[] (a bucket may repeat).
 */
static Datum
to_claim(const ClaimRow *rows, int nrows, bool exclusive, HTAB *got)
{
	ArrayBuildState *a = initArrayResult(INT4OID, CurrentMemoryContext, false);

	for (int r = 0; r < nrows; r++)
		for (int k = 0; k < rows[r].n; k++)
		{
			Claim		c = rows[r].keys[k];

			if (c.exclusive == exclusive && !covered(got, c) && !covered(NULL, c))
				accumArrayResult(a, Int32GetDatum(c.bucket), false, INT4OID, CurrentMemoryContext);
		}
	return makeArrayResult(a, CurrentMemoryContext);
}

/* Lock what plan finds of buckets, entering each into got. */
static void
take(CrmPlan *plan, Datum buckets, bool exclusive, HTAB *got)
{
	uint64		n = crm_plan_run(plan, &buckets, NULL, 0, SPI_OK_SELECT);

	for (uint64 i = 0; i < n; i++)
	{
		Claim		c = {0, exclusive};

		(void) crm_spi_int4(i, 1, &c.bucket);
		add_claim(got, c);
	}
}

/* Whether the transaction holds each of the row's claims, got now or before. */
static bool
row_claimed(const ClaimRow *row, HTAB *got)
{
	for (int k = 0; k < row->n; k++)
		if (!covered(got, row->keys[k]) && !covered(NULL, row->keys[k]))
			return false;
	return true;
}

/* Add the claims got to those this transaction holds. */
static void
remember(HTAB *got)
{
	HASH_SEQ_STATUS seq;
	Claim	   *c;

	if (!claims_held())
	{
		held = got;
		held_lxid = MyProc->lxid;
		held_subxid = GetCurrentSubTransactionId();
		return;
	}
	hash_seq_init(&seq, got);
	while ((c = hash_seq_search(&seq)) != NULL)
		add_claim(held, *c);
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
	got = claim_set(TopTransactionContext);
	/* the exclusive first: a bucket one row wants so, another shared, may be free shared only */
	take(&claim_free, to_claim(rows, nrows, true, got), true, got);
	take(&claim_free_shared, to_claim(rows, nrows, false, got), false, got);
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

/* No row got its claims: wait, holding no claim, for the first row's, each exclusively. */
static void
wait_for_first(const ClaimRow *rows, int nrows)
{
	for (int r = 0; r < nrows; r++)
		if (rows[r].n > 0)
		{
			ClaimRow	whole = rows[r];
			HTAB	   *got = claim_set(CurrentMemoryContext);

			for (int k = 0; k < whole.n; k++)
				whole.keys[k].exclusive = true;
			take(&claim_waiting, to_claim(&whole, 1, true, got), true, got);
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
		lead_buckets(crm_batch_lead(batch, r), &rows[r]);
	if (!claim_free_rows(rows, n) && !claims_held())
	{
		wait_for_first(rows, n);
		(void) claim_free_rows(rows, n);
	}
	for (int r = 0; r < n; r++)
		keep[r] = rows[r].claimed || rows[r].n == 0;
	crm_batch_keep(batch, keep);
}
