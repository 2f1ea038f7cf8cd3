/*
 * ingest_batch.c: matching and storing prepared leads, many at a time.
 *
 * One statement per kind of read or write for the whole batch, instead of
 * about ten statements per lead: at bulk sizes the per-statement work of
 * the executor (start-up, constraint expressions, plans) is what costs.
 *
 * The batch must mean what ingesting its leads one after another means,
 * and leads of one batch may be the same person.  So it goes in waves.
 * Each wave reads what every pending lead's keys find, then walks the
 * leads in order; a lead that shares a blocking key (crm_match_blocking_keys,
 * the keys every lookup is by), a candidate contact or a candidate account
 * with an earlier pending lead waits for the next wave, and the others are
 * decided and written together.  Leads that share
 * nothing cannot see each other's writes, so their order does not matter;
 * leads that do are taken in order, one wave apart.  Most batches need
 * a few waves.  With a quarantine (crm.lead_inbox), a lead whose write
 * fails is set aside alone, as its own crm.ingest call would have failed.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "assignment.h"
#include "code_registry.h"
#include "customer_code.h"
#include "import.h"
#include "ingest_batch.h"
#include "lead_fields.h"
#include "quote.h"
#include "score.h"
#include "spi_plan.h"
#include "subtransaction.h"

/* Everything the batch learns and decides about one lead. */
typedef struct BatchLead
{
	Lead	   *lead;
	int64		stored_id;		/* a reviewer's merge: the stored lead */
	int64		forced_contact; /* ... and the contact it merges into */
	bool		done;
	bool		waits;			/* for a later wave */
	/* what the wave read */
	bool		existing;		/* its channel and external id are stored */
	char	   *resend_conflict;	/* ... with these fields different, or NULL */
	bool		common_name;	/* more holders than a rare name has */
	AccountMatch accounts;
	Candidate  *cands;
	int			n_cands;
	/* ids kept for it, drawn in the statement's order whatever its wave */
	int64		kept_account_id;
	int64		kept_contact_id;
	int64		kept_lead_id;
	/* where it goes */
	MatchDecision match;
	int64		account_id;
	const char *account_outcome;
	char	   *account_owner;
	bool		creates_account;
	bool		reviews_account;	/* several fit: a person chooses */
	bool		fills_uscc;
	bool		creates_contact;
	int64		contact_id;
	char	   *account_code;	/* of the account it creates */
	char	   *customer_code;
	char	   *owner;
	/* a merge: the contact's new values, and what changed */
	bool		updates_contact;
	char	   *merged_name;
	char	   *merged_title;
	char	   *merged_openid;
	int64		merged_account_id;
	StringInfoData changes;
	StringInfoData added_points;
	bool		scored;
	LeadScore	score;
	const char *waiting_reason; /* scored, and no assignment rule holds */
	IngestResult result;
} BatchLead;

/* The rules a batch is decided by: read once per batch, not per lead. */
typedef struct BatchRules
{
	const ScoreModel *model;	/* NULL: not scored on ingest */
	const MatchWeights *weights;
	AssignmentRules *assignment;	/* with model: what a scored lead meets */
} BatchRules;

struct IngestBatch
{
	MemoryContext cxt;
	BatchLead **leads;
	int			n;
	int			cap;
};

/* ---------------------------------------------------------------------
 * Batch bookkeeping
 * --------------------------------------------------------------------- */

IngestBatch *
crm_batch_create(MemoryContext parent)
{
	IngestBatch *b = MemoryContextAllocZero(parent, sizeof(IngestBatch));

	b->cxt = AllocSetContextCreate(parent, "crm ingest batch", ALLOCSET_DEFAULT_SIZES);
	return b;
}

MemoryContext
crm_batch_context(IngestBatch *batch)
{
	return batch->cxt;
}

int
crm_batch_size(IngestBatch *batch)
{
	return batch->n;
}

static BatchLead *
append(IngestBatch *b, Lead *lead)
{
	BatchLead  *bl = MemoryContextAllocZero(b->cxt, sizeof(BatchLead));

	if (b->n == b->cap)
	{
		b->cap = Max(16, b->cap * 2);
		b->leads = b->leads
			? repalloc(b->leads, sizeof(BatchLead *) * b->cap)
			: MemoryContextAlloc(b->cxt, sizeof(BatchLead *) * b->cap);
	}
	bl->lead = lead;
	b->leads[b->n++] = bl;
	return bl;
}

void
crm_batch_add(IngestBatch *batch, Lead *lead)
{
	(void) append(batch, lead);
}

const Lead *
crm_batch_lead(IngestBatch *batch, int i)
{
	Assert(i >= 0 && i < batch->n);
	return batch->leads[i]->lead;
}

void
crm_batch_keep(IngestBatch *batch, const bool *keep)
{
	int			n = 0;

	for (int i = 0; i < batch->n; i++)
		if (keep[i])
			batch->leads[n++] = batch->leads[i];
	batch->n = n;
}

void
crm_batch_add_merge(IngestBatch *batch, Lead *lead, int64 lead_id, int64 contact_id)
{
	BatchLead  *bl = append(batch, lead);

	bl->stored_id = lead_id;
	bl->forced_contact = contact_id;
}

/* Column 1 of every batch statement's result: the index of the lead in its wave or batch. */
static int
row_index(uint64 row)
{
	int32		i;

	(void) crm_spi_int4(row, 1, &i);
	return i;
}

/* ---------------------------------------------------------------------
 * Reads
 * --------------------------------------------------------------------- */

/* Expands to x when cond is true (lead_fields.h's flags), to nothing when false. */
#define IF_true(x) x
#define IF_false(x)

/* One stored column a re-send is compared on: ", l.person_name" */
#define RESEND_COLUMN(name, kind, takes_number, no_constant, on_resend) \
	IF_##on_resend(", l." #name)

/*
 * Every lookup is a LATERAL subquery the planner may not flatten (OFFSET 0
 * or LIMIT): a nested loop of index probes, one per lead, whatever the
 * statistics were when the generic plan was made.  A join would be planned
 * as a scan of the whole table while it is small, and stay so as it grows.
 *
 * A stored lead of the same channel and external id, with the fields a
 * re-send is compared on (lead_fields.h: on_resend), read by name.  The
 * submission time a lead was stored with is its receipt time when the
 * channel reported none: that counts as none.
 */
CRM_KEPT_PLAN(existing_leads) = {
	"SELECT u.i, l.* FROM unnest($1::int4[], $2::text[], $3::text[], $4::text[])"
	"   u(i, channel, external_id, created_at)"
	" CROSS JOIN LATERAL (SELECT l.id, l.contact_id, l.account_id,"
	"     (SELECT k.code FROM crm.contact k WHERE k.id = l.contact_id) AS customer_code,"
	"     l.match_score, l.score, l.owner" CRM_LEAD_FIELDS(RESEND_COLUMN) ","
	"     NULLIF(l.created_at, l.received_at) IS DISTINCT FROM u.created_at::timestamptz"
	"       AS created_at_differs"
	"   FROM crm.lead l"
	"   WHERE l.channel = u.channel AND l.external_id = u.external_id OFFSET 0) l",
	4, {INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID}
};
CRM_KEPT_PLAN(accounts_by_uscc) = {
	"SELECT u.i, a.* FROM unnest($1::int4[], $2::text[]) u(i, uscc)"
	" CROSS JOIN LATERAL (SELECT " CRM_ACCOUNT_COLUMNS " FROM crm.account a"
	"   WHERE a.uscc = u.uscc AND a.merged_into IS NULL OFFSET 0) a",
	2, {INT4ARRAYOID, TEXTARRAYOID}
};
CRM_KEPT_PLAN(accounts_by_key) = {
	"SELECT u.i, a.* FROM unnest($1::int4[], $2::text[]) u(i, key)"
	" CROSS JOIN LATERAL (SELECT " CRM_ACCOUNT_COLUMNS " FROM crm.account a"
	"   WHERE a.name_key COLLATE \"C\" = u.key AND a.merged_into IS NULL"
	"   ORDER BY a.id LIMIT 51) a ORDER BY u.i",
	2, {INT4ARRAYOID, TEXTARRAYOID}
};
/* "康泰" finds "康泰医疗器械" and "康泰生物科技": keys starting with it */
CRM_KEPT_PLAN(accounts_by_key_prefix) = {
	"SELECT u.i, a.* FROM unnest($1::int4[], $2::text[]) u(i, key)"
	" CROSS JOIN LATERAL (SELECT " CRM_ACCOUNT_COLUMNS " FROM crm.account a"
	"   WHERE a.name_key COLLATE \"C\" >= u.key"
	"     AND a.name_key COLLATE \"C\" < u.key || chr(1114111) AND a.merged_into IS NULL"
	"   ORDER BY a.name_key COLLATE \"C\", a.id LIMIT 51) a ORDER BY u.i",
	2, {INT4ARRAYOID, TEXTARRAYOID}
};
CRM_KEPT_PLAN(contact_candidates) = {
	"WITH l AS (SELECT * FROM unnest($1::int4[], $2::text[], $3::text[], $4::text[])"
	"             AS l(i, phone, email, openid)),"
	"     found AS ("
	"  SELECT l.i, f.id FROM l CROSS JOIN LATERAL (SELECT p.contact_id AS id FROM crm.contact_point p"
	"    WHERE p.kind = 'phone' AND p.value = l.phone OFFSET 0) f"
	"  UNION SELECT l.i, f.id FROM l CROSS JOIN LATERAL (SELECT p.contact_id AS id FROM crm.contact_point p"
	"    WHERE p.kind = 'email' AND p.value = l.email OFFSET 0) f"
	"  UNION SELECT l.i, f.id FROM l CROSS JOIN LATERAL (SELECT k.id FROM crm.contact k"
	"    WHERE k.wechat_openid = l.openid AND k.merged_into IS NULL OFFSET 0) f"
	"  UNION SELECT la.i, f.id FROM unnest($5::int4[], $6::int8[], $7::text[]) la(i, account_id, pinyin)"
	"    CROSS JOIN LATERAL (SELECT k.id FROM crm.contact k WHERE k.name_pinyin = la.pinyin"
	"      AND k.account_id = la.account_id AND k.merged_into IS NULL OFFSET 0) f"
	"  UNION SELECT f.i, f.id FROM unnest($8::int4[], $9::int8[]) f(i, id))"
	" SELECT found.i, k.* FROM found CROSS JOIN LATERAL (SELECT " CRM_CANDIDATE_COLUMNS
	"   FROM crm.contact k WHERE k.id = found.id AND k.merged_into IS NULL OFFSET 0) k"
	"  ORDER BY found.i, k.id",
	9, {INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	INT4ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, INT4ARRAYOID, INT8ARRAYOID}
};

/*
 * A lead that names no organisation has no account to find its name at;
 * a rare name (three holders at most) is then worth a reviewer's look.
 */
#define RARE_NAME_HOLDERS 3

CRM_KEPT_PLAN(namesakes) = {
	"SELECT l.i, " CRM_CANDIDATE_COLUMNS
	"  FROM unnest($1::int4[], $2::text[]) l(i, pinyin)"
	" CROSS JOIN LATERAL (SELECT * FROM crm.contact k"
	"   WHERE k.name_pinyin = l.pinyin AND k.merged_into IS NULL LIMIT 4) k"
	" ORDER BY l.i, k.id",
	2, {INT4ARRAYOID, TEXTARRAYOID}
};

/*
 * The lead fields a re-send must repeat to be a duplicate: what crm stores
 * of a lead and matches it by, the phone, e-mail and credit code
 * normalised (lead_fields.h: on_resend).  Payload keys the field map does
 * not read (a delivery timestamp, a signature) do not count, nor do values
 * crm could not use.  The columns of existing_leads' result they are in:
 */
typedef struct ResendColumns
{
	int			field[CRM_N_LEAD_FIELDS];	/* 0: not compared */
	int			created_at_differs;
} ResendColumns;

static void
resend_columns(ResendColumns *cols)
{
	for (int f = 0; f < CRM_N_LEAD_FIELDS; f++)
		cols->field[f] = crm_lead_fields[f].on_resend ? crm_spi_column(crm_lead_fields[f].name, 1) : 0;
	cols->created_at_differs = crm_spi_column("created_at_differs", 1);
}

/* The fields in which stored lead row r differs from the re-send, or NULL. */
static char *
resend_conflict(const Lead *lead, uint64 r, const ResendColumns *cols)
{
	StringInfoData differ;

	initStringInfo(&differ);
	for (int f = 0; f < CRM_N_LEAD_FIELDS; f++)
	{
		const char *value = crm_lead_value(lead, &crm_lead_fields[f]);
		char	   *stored;

		if (cols->field[f] == 0)
			continue;
		stored = crm_spi_text(r, cols->field[f]);
		if ((stored == NULL) != (value == NULL) || (stored && strcmp(stored, value) != 0))
			appendStringInfo(&differ, "%s%s", differ.len ? ", " : "", crm_lead_fields[f].name);
	}
	if (crm_spi_bool(r, cols->created_at_differs))
		appendStringInfo(&differ, "%screated_at", differ.len ? ", " : "");
	return differ.len ? differ.data : NULL;
}

/* existing_leads' columns that are not lead fields, read by name */
enum
{
	E_ID, E_CONTACT_ID, E_ACCOUNT_ID, E_CUSTOMER_CODE, E_MATCH_SCORE, E_SCORE, E_OWNER, N_EXISTING
};
static const char *const existing_columns[N_EXISTING] = {
	[E_ID] = "id", [E_CONTACT_ID] = "contact_id", [E_ACCOUNT_ID] = "account_id",
	[E_CUSTOMER_CODE] = "customer_code", [E_MATCH_SCORE] = "match_score", [E_SCORE] = "score",
	[E_OWNER] = "owner"
};

/* What a re-sent lead's result says: the stored lead as it is now. */
static void
read_existing_rows(BatchLead **wave, uint64 rows)
{
	ResendColumns resend;
	int			col[N_EXISTING];

	crm_spi_columns(existing_columns, N_EXISTING, col);
	resend_columns(&resend);
	for (uint64 r = 0; r < rows; r++)
	{
		BatchLead  *bl = wave[row_index(r)];
		IngestResult *res = &bl->result;
		bool		isnull;
		Datum		d;

		bl->existing = true;
		bl->resend_conflict = resend_conflict(bl->lead, r, &resend);
		(void) crm_spi_int8(r, col[E_ID], &res->lead_id);
		(void) crm_spi_int8(r, col[E_CONTACT_ID], &res->contact_id);
		(void) crm_spi_int8(r, col[E_ACCOUNT_ID], &res->account_id);
		res->customer_code = crm_spi_text(r, col[E_CUSTOMER_CODE]);
		res->outcome = "duplicate";
		d = crm_spi_datum(r, col[E_MATCH_SCORE], &isnull);
		res->has_match_score = !isnull;
		res->match_score = isnull ? 0 : DatumGetFloat4(d);
		res->has_lead_score = crm_spi_int4(r, col[E_SCORE], &res->lead_score);
		res->owner = crm_spi_text(r, col[E_OWNER]);
	}
}

static void
read_existing(BatchLead **wave, int n)
{
	CrmColumn		c[4] = CRM_COLUMNS(CRM_COL(INT4OID), CRM_COL(TEXTOID), CRM_COL(TEXTOID),
								   CRM_COL(TEXTOID));
	uint64		rows;

	for (int i = 0; i < n; i++)
	{
		wave[i]->existing = false;
		if (wave[i]->lead->external_id && wave[i]->stored_id == 0)
		{
			crm_put(&c[0], Int32GetDatum(i), false);
			crm_put_text(&c[1], wave[i]->lead->channel);
			crm_put_text(&c[2], wave[i]->lead->external_id);
			crm_put_text(&c[3], wave[i]->lead->created_at);
		}
	}
	if (c[0].state == NULL)
		return;
	rows = crm_run_columns(&existing_leads, c, SPI_OK_SELECT);
	if (rows > 0)
		read_existing_rows(wave, rows);
}

/* Append the accounts of result rows to the leads they belong to. */
static void
collect_accounts(BatchLead **wave, uint64 rows)
{
	AccountColumns cols;

	if (rows > 0)
		(void) crm_match_account_columns(2, &cols);
	for (uint64 r = 0; r < rows; r++)
	{
		AccountMatch *m = &wave[row_index(r)]->accounts;

		if (m->accounts == NULL)
			m->accounts = palloc0(sizeof(Account) * (CRM_MATCH_MAX_CANDIDATES + 1));
		if (m->n <= CRM_MATCH_MAX_CANDIDATES)
			crm_match_read_account(r, &cols, &m->accounts[m->n++]);
	}
}

/* Leads whose key has not found an account yet, to look up with plan. */
static void
lookup_keys(BatchLead **wave, int n, CrmPlan *plan, bool prefix_only)
{
	CrmColumn		c[2] = CRM_COLUMNS(CRM_COL(INT4OID), CRM_COL(TEXTOID));

	for (int i = 0; i < n; i++)
	{
		const Lead *lead = wave[i]->lead;

		if (lead->company_key == NULL || wave[i]->accounts.n > 0 ||
			(prefix_only && pg_mbstrlen(lead->company_key) < 2))
			continue;
		crm_put(&c[0], Int32GetDatum(i), false);
		crm_put_text(&c[1], lead->company_key);
	}
	if (c[0].state)
		collect_accounts(wave, crm_run_columns(plan, c, SPI_OK_SELECT));
}

/*
 * The accounts each lead's organisation may be: the one its credit code
 * names, else those with its company key, else those whose key starts
 * with it (a short name).
 */
static void
read_accounts(BatchLead **wave, int n)
{
	CrmColumn		c[2] = CRM_COLUMNS(CRM_COL(INT4OID), CRM_COL(TEXTOID));

	for (int i = 0; i < n; i++)
	{
		memset(&wave[i]->accounts, 0, sizeof(AccountMatch));
		wave[i]->accounts.resolved = -1;
		if (wave[i]->lead->uscc)
		{
			crm_put(&c[0], Int32GetDatum(i), false);
			crm_put_text(&c[1], wave[i]->lead->uscc);
		}
	}
	if (c[0].state)
		collect_accounts(wave, crm_run_columns(&accounts_by_uscc, c, SPI_OK_SELECT));
	for (int i = 0; i < n; i++)
		if (wave[i]->accounts.n == 1)
			wave[i]->accounts.resolved = 0;
	lookup_keys(wave, n, &accounts_by_key, false);
	lookup_keys(wave, n, &accounts_by_key_prefix, true);
	for (int i = 0; i < n; i++)
		if (wave[i]->accounts.resolved < 0)
			crm_match_resolve_accounts(wave[i]->lead, &wave[i]->accounts);
}

static Candidate *
candidate_by_id(BatchLead *bl, int64 id)
{
	for (int i = 0; i < bl->n_cands; i++)
		if (bl->cands[i].id == id)
			return &bl->cands[i];
	return NULL;
}

/* Read result row r as a candidate of bl, unless bl has it or has enough. */
static void
add_candidate(BatchLead *bl, uint64 r, const CandidateColumns *cols)
{
	Candidate	cand;

	if (bl->n_cands >= CRM_MATCH_MAX_CANDIDATES)
		return;
	crm_match_read_candidate(r, cols, &cand);
	if (candidate_by_id(bl, cand.id))
		return;
	if (bl->cands == NULL)
		bl->cands = palloc(sizeof(Candidate) * CRM_MATCH_MAX_CANDIDATES);
	bl->cands[bl->n_cands++] = cand;
}

static void
collect_candidates(BatchLead **wave, uint64 rows)
{
	CandidateColumns cols;

	if (rows > 0)
		(void) crm_match_candidate_columns(2, &cols);
	for (uint64 r = 0; r < rows; r++)
		add_candidate(wave[row_index(r)], r, &cols);
}

/* Add the holders of a rare name to the candidates of leads without an organisation. */
static void
read_rare_namesakes(BatchLead **wave, int n)
{
	CrmColumn		c[2] = CRM_COLUMNS(CRM_COL(INT4OID), CRM_COL(TEXTOID));
	CandidateColumns cols;
	uint64		rows;

	for (int i = 0; i < n; i++)
	{
		const Lead *lead = wave[i]->lead;

		if (lead->name_pinyin && lead->company_key == NULL && lead->uscc == NULL)
		{
			crm_put(&c[0], Int32GetDatum(i), false);
			crm_put_text(&c[1], lead->name_pinyin);
		}
	}
	if (c[0].state == NULL)
		return;
	rows = crm_run_columns(&namesakes, c, SPI_OK_SELECT);
	if (rows > 0)
		(void) crm_match_candidate_columns(2, &cols);
	for (uint64 r = 0, next; r < rows; r = next)
	{
		int			i = row_index(r);
		BatchLead  *bl = wave[i];

		for (next = r; next < rows && row_index(next) == i; next++)
			;
		bl->common_name = next - r > RARE_NAME_HOLDERS;
		for (uint64 k = r; !bl->common_name && k < next; k++)
			add_candidate(bl, k, &cols);
	}
}

/*
 * The stored contacts each lead's phone, e-mail or openid finds, those
 * with its name's pinyin at one of its candidate accounts, and the
 * contact a reviewer chose.
 */
static void
read_candidates(BatchLead **wave, int n)
{
	CrmColumn		c[9] = CRM_COLUMNS(CRM_COL(INT4OID), CRM_COL(TEXTOID), CRM_COL(TEXTOID), CRM_COL(TEXTOID),
							   CRM_COL(INT4OID), CRM_COL(INT8OID), CRM_COL(TEXTOID), CRM_COL(INT4OID),
							   CRM_COL(INT8OID));

	for (int i = 0; i < n; i++)
	{
		BatchLead  *bl = wave[i];
		const Lead *lead = bl->lead;

		bl->cands = NULL;
		bl->n_cands = 0;
		crm_put(&c[0], Int32GetDatum(i), false);
		crm_put_text(&c[1], lead->phone);
		crm_put_text(&c[2], lead->email);
		crm_put_text(&c[3], lead->wechat_openid);
		/* one row per candidate account, not joined to the leads' rows: with
		 * hash joins off, that join would compare every pair */
		for (int a = 0; lead->name_pinyin && a < bl->accounts.n; a++)
		{
			crm_put(&c[4], Int32GetDatum(i), false);
			crm_put_int8(&c[5], bl->accounts.accounts[a].id, false);
			crm_put_text(&c[6], lead->name_pinyin);
		}
		if (bl->forced_contact)
		{
			crm_put(&c[7], Int32GetDatum(i), false);
			crm_put_int8(&c[8], bl->forced_contact, false);
		}
	}
	collect_candidates(wave, crm_run_columns(&contact_candidates, c, SPI_OK_SELECT));
	read_rare_namesakes(wave, n);
}

int
crm_batch_find(Lead *lead, AccountMatch *accounts, Candidate **cands)
{
	BatchLead  *bl = palloc0(sizeof(BatchLead));

	bl->lead = lead;
	read_accounts(&bl, 1);
	read_candidates(&bl, 1);
	*accounts = bl->accounts;
	*cands = bl->cands;
	return bl->n_cands;
}

/* ---------------------------------------------------------------------
 * Waves: which leads may be decided together
 * --------------------------------------------------------------------- */

typedef struct Claims
{
	HTAB	   *keys;			/* of uint64 hashes; a collision only delays */
	bool		clash;
} Claims;

/* Whether an earlier lead claimed the key; enter: claim it now. */
static bool
seen(Claims *cl, char kind, const char *s, size_t len, bool enter)
{
	uint64		h = hash_bytes_extended((const unsigned char *) s, len, (uint64) kind);
	bool		found;

	(void) hash_search(cl->keys, &h, enter ? HASH_ENTER : HASH_FIND, &found);
	return found;
}

static void
claim(Claims *cl, char kind, const char *s)
{
	if (s && seen(cl, kind, s, strlen(s), true))
		cl->clash = true;
}

static void
claim_id(Claims *cl, char kind, int64 id)
{
	if (seen(cl, kind, (const char *) &id, sizeof(id), true))
		cl->clash = true;
}

/*
 * A company key clashes with any earlier key it starts or that starts
 * it, since the short-name lookup of one finds the account of the other.
 */
static void
claim_company(Claims *cl, const char *key)
{
	size_t		len;

	if (key == NULL)
		return;
	len = strlen(key);
	if (seen(cl, 'P', key, len, false))
		cl->clash = true;		/* an earlier key starts with this one */
	for (size_t k = 1; k <= len; k++)
	{
		if (k < len && (key[k] & 0xC0) == 0x80)
			continue;			/* key[0..k) would end inside a character */
		if (seen(cl, 'c', key, k, k == len))
			cl->clash = true;	/* this one starts with an earlier key */
		if (k < len)
			(void) seen(cl, 'P', key, k, true);
	}
}

/* enter: claim it; otherwise only whether an earlier lead did */
static bool
seen_name_at(Claims *cl, const char *pinyin, int64 account_id, bool enter)
{
	char	   *key = psprintf("%s/" INT64_FORMAT, pinyin, account_id);

	return seen(cl, 'N', key, strlen(key), enter);
}

/*
 * A shared name matters only where a later lead's lookup by name could find
 * the contact an earlier one makes or names: a lead without an organisation
 * looks its name up everywhere, if the name is rare (the rare namesakes: a
 * common name has more holders than that already, and more holders change
 * nothing), any other lead only at its candidate accounts.  So namesakes
 * at different organisations, common in a customer list, are decided in
 * the same wave.
 */
static void
claim_name(Claims *cl, const BatchLead *bl, const char *pinyin)
{
	bool		anywhere = bl->lead->company_key == NULL && bl->lead->uscc == NULL &&
		!bl->common_name;
	size_t		len = strlen(pinyin);

	/*
	 * Each way round: a lead looking everywhere sees what any earlier
	 * namesake writes, and its own lookup must not see a later one's.
	 */
	if (seen(cl, 'n', pinyin, len, true) && anywhere)
		cl->clash = true;
	if (seen(cl, 'a', pinyin, len, anywhere))
		cl->clash = true;
	/* all looked up before any is claimed: the lead may name an account twice */
	for (int enter = 0; enter <= 1; enter++)
	{
		for (int i = 0; i < bl->accounts.n; i++)
			if (seen_name_at(cl, pinyin, bl->accounts.accounts[i].id, enter) && !enter)
				cl->clash = true;
		for (int i = 0; i < bl->n_cands; i++)
			if (bl->cands[i].account_id != 0 &&
				seen_name_at(cl, pinyin, bl->cands[i].account_id, enter) && !enter)
				cl->clash = true;
	}
}

/*
 * Whether the lead shares a blocking key, a candidate contact or a
 * candidate account with an earlier lead of the wave (a reviewer's merge:
 * the stored lead).
 */
static bool
clashes_with_earlier(Claims *cl, const BatchLead *bl)
{
	BlockingKey keys[CRM_MAX_BLOCKING_KEYS];
	int			n = crm_match_blocking_keys(bl->lead, keys);

	cl->clash = false;
	for (int i = 0; i < n; i++)
	{
		if (keys[i].kind == BLOCKING_COMPANY)
			claim_company(cl, keys[i].value);
		else if (keys[i].kind == BLOCKING_NAME)
			claim_name(cl, bl, keys[i].value);
		else
			claim(cl, keys[i].kind, keys[i].value);
	}
	for (int i = 0; i < bl->n_cands; i++)
		claim_id(cl, 'C', bl->cands[i].id);
	for (int i = 0; i < bl->accounts.n; i++)
		claim_id(cl, 'A', bl->accounts.accounts[i].id);
	if (bl->forced_contact)
		claim_id(cl, 'L', bl->stored_id);
	return cl->clash;
}

/* Mark the leads of the wave that must wait for an earlier one. */
static void
mark_waiting(BatchLead **wave, int n)
{
	HASHCTL		ctl = {.keysize = sizeof(uint64), .entrysize = sizeof(uint64),
	.hcxt = CurrentMemoryContext};
	Claims		cl = {hash_create("crm wave claims", n * 8 + 16, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT), false};

	for (int i = 0; i < n; i++)
		wave[i]->waits = clashes_with_earlier(&cl, wave[i]);
}

/* ---------------------------------------------------------------------
 * Decisions: where each lead goes
 * --------------------------------------------------------------------- */

/* How many of an ambiguous company's organisations a warning names */
#define AMBIGUOUS_CODES_SHOWN 5

/*
 * A company name that fits several organisations, none of which its region
 * or exact name singles out, leaves the lead without one.  Its warnings say
 * so, with their codes, and where a person chooses.
 */
static void
warn_ambiguous_company(BatchLead *bl)
{
	const AccountMatch *m = &bl->accounts;
	StringInfoData codes;

	initStringInfo(&codes);
	for (int i = 0; i < Min(m->n, AMBIGUOUS_CODES_SHOWN); i++)
		appendStringInfo(&codes, "%s%s", i ? ", " : "", m->accounts[i].code);
	if (m->n > AMBIGUOUS_CODES_SHOWN)
		appendStringInfoString(&codes, ", ...");
	bl->lead->warnings =
		lappend(bl->lead->warnings,
				psprintf("company name %s fits %s%d stored organisations (%s); none was chosen%s",
						 crm_quote_value(bl->lead->company_name), m->n > CRM_MATCH_MAX_CANDIDATES ? "more than " : "",
						 Min(m->n, CRM_MATCH_MAX_CANDIDATES), codes.data,
						 bl->reviews_account ? ", a reviewer chooses in crm.match_review" : ""));
}

/*
 * The lead's organisation: the account it resolves to (its missing credit
 * code filled in), a new account when the name finds none, or none when
 * it finds several and nothing singles one out.  A reviewer then chooses
 * among them, unless the name is too common to list them: at once for a
 * new contact, or a stored one without an organisation; for a lead in
 * contact review, if that review is rejected.
 */
static void
place_account(BatchLead *bl)
{
	AccountMatch *m = &bl->accounts;

	if (m->resolved >= 0)
	{
		Account    *a = &m->accounts[m->resolved];

		bl->account_id = a->id;
		bl->account_outcome = "matched";
		bl->account_owner = a->owner;
		bl->fills_uscc = bl->lead->uscc && a->uscc == NULL;
	}
	else if (m->n == 0 && bl->lead->company_key)
	{
		bl->creates_account = true;
		bl->account_outcome = "new";
	}
	else if (m->n > 1)
	{
		bl->reviews_account = m->n <= CRM_MATCH_MAX_CANDIDATES;
		warn_ambiguous_company(bl);
	}
}

/*
 * Attach the lead to the stored contact the match chose.  A merged lead's
 * organisation is the one it plainly names, else the contact's: a company
 * name that finds nothing is then more likely a spelling than a new
 * employer.  A lead under review keeps its own, in case it is rejected.
 */
static void
attach_to_candidate(BatchLead *bl)
{
	Candidate  *c = bl->match.best;

	if (bl->match.outcome == MATCH_MERGED && bl->accounts.resolved < 0 && c->account_id)
	{
		bl->account_id = c->account_id;
		bl->account_outcome = "matched";
	}
	else
		place_account(bl);
	bl->contact_id = c->id;
	bl->customer_code = c->code;
	bl->owner = c->owner ? c->owner : bl->account_owner;
}

/*
 * A reviewer's merge: the contact is given.  As in attach_to_candidate, the
 * lead keeps the organisation it named, and one that named none takes the
 * contact's.
 */
static void
force_merge(BatchLead *bl)
{
	bl->match.outcome = MATCH_MERGED;
	bl->match.best = candidate_by_id(bl, bl->forced_contact);
	if (bl->match.best == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("contact " INT64_FORMAT " does not exist or was merged", bl->forced_contact),
				 errhint("crm.resolve_code() gives the contact a merged code lives on in.")));
	bl->contact_id = bl->forced_contact;
	bl->account_id = bl->lead->account_id ? bl->lead->account_id : bl->match.best->account_id;
	bl->customer_code = bl->match.best->code;
	bl->owner = bl->match.best->owner;
}

/*
 * What a customer of the old system keeps when a lead of the migration
 * creates it: the owner its row gives (a new contact's own, whatever its
 * account's), and its creation time (NULL: none, and so now).
 */
static char *
old_system_owner(const Lead *lead)
{
	return crm_import_carries_customer(lead) ? crm_import_owner(lead) : NULL;
}

static const char *
old_system_created_at(const Lead *lead)
{
	return crm_import_carries_customer(lead) ? lead->created_at : NULL;
}

static void
decide(BatchLead *bl, const MatchWeights *weights)
{
	initStringInfo(&bl->changes);
	initStringInfo(&bl->added_points);
	if (bl->forced_contact)
	{
		force_merge(bl);
		return;
	}
	bl->match = crm_match_decide(weights, bl->lead, &bl->accounts, bl->cands, bl->n_cands);
	if (bl->match.outcome != MATCH_NEW)
	{
		attach_to_candidate(bl);
		return;
	}
	place_account(bl);
	bl->creates_contact = true;
	/* the old system's owner of this very customer, before its account's */
	bl->owner = old_system_owner(bl->lead);
	if (bl->owner == NULL)
		bl->owner = bl->account_owner;
}

/*
 * The name a new contact is shown by: for a Han name its key, which has
 * lost the "(先生)" and the traditional forms; a Latin name as the lead
 * spelled it, since the key is case-folded.
 */
static char *
display_name(const Lead *lead)
{
	if (lead->name_key == NULL)
		return NULL;
	for (const char *c = lead->name_key; *c; c++)
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z'))
			return lead->person_name;
	return lead->name_key;
}

static void
note_change(BatchLead *bl, const char *field_name, const char *old, const char *new)
{
	if (bl->changes.len)
		appendStringInfoString(&bl->changes, ", ");
	appendStringInfo(&bl->changes, "{\"field\": \"%s\", \"old\": ", field_name);
	if (old)
		escape_json(&bl->changes, old);
	else
		appendStringInfoString(&bl->changes, "null");
	appendStringInfoString(&bl->changes, ", \"new\": ");
	escape_json(&bl->changes, new);
	appendStringInfoChar(&bl->changes, '}');
}

/*
 * A text field takes the lead's value when it is empty, or when replace
 * is allowed and it differs; a confirmed field never changes.
 */
static char *
merged_value(BatchLead *bl, const char *field_name, char *stored, char *offered, bool replace)
{
	if (offered == NULL || crm_match_in_list(field_name, bl->match.best->verified_fields) ||
		(stored && (!replace || strcmp(stored, offered) == 0)))
		return stored;
	note_change(bl, field_name, stored, offered);
	return offered;
}

/* No live contact holds the openid: any holder was found as a candidate. */
static bool
openid_is_free(const BatchLead *bl)
{
	for (int i = 0; i < bl->n_cands; i++)
		if (bl->cands[i].wechat_openid &&
			strcmp(bl->cands[i].wechat_openid, bl->lead->wechat_openid) == 0)
			return false;
	return true;
}

/* What a merge changes on the contact: empty fields filled, never a confirmed one. */
static void
plan_merge(BatchLead *bl)
{
	Candidate  *c = bl->match.best;
	const Lead *lead = bl->lead;

	bl->merged_name = merged_value(bl, "name", c->name, display_name(lead), false);
	bl->merged_title = merged_value(bl, "title", c->title, lead->title, true);
	bl->merged_openid = merged_value(bl, "wechat_openid", c->wechat_openid,
									 lead->wechat_openid && openid_is_free(bl)
									 ? lead->wechat_openid : NULL, false);
	bl->merged_account_id = c->account_id;
	if (c->account_id == 0 && bl->account_id && !crm_match_in_list("account_id", c->verified_fields))
	{
		bl->merged_account_id = bl->account_id;
		note_change(bl, "account_id", NULL, psprintf(INT64_FORMAT, bl->account_id));
	}
	bl->updates_contact = bl->changes.len > 0;
}

/* ---------------------------------------------------------------------
 * Writes: one statement per table for the whole wave
 * --------------------------------------------------------------------- */

CRM_KEPT_PLAN(next_account_ids) = {
	"SELECT nextval('crm.account_id_seq') FROM generate_series(1, $1)", 1, {INT4OID}
};
CRM_KEPT_PLAN(next_contact_ids) = {
	"SELECT nextval('crm.contact_id_seq') FROM generate_series(1, $1)", 1, {INT4OID}
};
CRM_KEPT_PLAN(next_lead_ids) = {
	"SELECT nextval('crm.lead_id_seq') FROM generate_series(1, $1)", 1, {INT4OID}
};
/*
 * Codes for new rows, drawn together rather than by each row's default,
 * and registered with the rows: a write retried after a failure registers
 * the same codes again.
 */
CRM_KEPT_PLAN(draw_codes) = {
	"SELECT crm.customer_code_from_serial(nextval('crm.customer_code_seq'))"
	"  FROM generate_series(1, $1)",
	1, {INT4OID}
};
CRM_KEPT_PLAN(register_codes) = {
	"INSERT INTO crm.customer_code (code, kind) SELECT * FROM unnest($1::text[], $2::text[])",
	2, {TEXTARRAYOID, TEXTARRAYOID}
};
CRM_KEPT_PLAN(insert_accounts) = {
	"INSERT INTO crm.account (id, code, name, uscc, region_code, owner, created_at)"
	" SELECT u.id, u.code, u.name, u.uscc, u.region_code, u.owner,"
	"        coalesce(u.created_at::timestamptz, now())"
	"   FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])"
	"        u(id, code, name, uscc, region_code, owner, created_at)",
	7, {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID}
};
CRM_KEPT_PLAN(fill_usccs) = {
	"UPDATE crm.account a SET uscc = u.uscc FROM unnest($1::int8[], $2::text[]) u(id, uscc)"
	" WHERE a.id = u.id AND a.uscc IS NULL",
	2, {INT8ARRAYOID, TEXTARRAYOID}
};
CRM_KEPT_PLAN(insert_contacts) = {
	"INSERT INTO crm.contact (id, code, account_id, name, title, wechat_openid, owner, created_at)"
	" SELECT u.id, u.code, u.account_id, u.name, u.title, u.openid, u.owner,"
	"        coalesce(u.created_at::timestamptz, now())"
	"   FROM unnest($1::int8[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[],"
	"               $7::text[], $8::text[]) u(id, code, account_id, name, title, openid, owner, created_at)",
	8, {INT8ARRAYOID, TEXTARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID}
};
CRM_KEPT_PLAN(update_contacts) = {
	"UPDATE crm.contact c SET name = u.name, title = u.title, account_id = u.account_id,"
	"       wechat_openid = u.openid"
	"  FROM unnest($1::int8[], $2::text[], $3::text[], $4::int8[], $5::text[])"
	"       u(id, name, title, account_id, openid)"
	" WHERE c.id = u.id",
	5, {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID, TEXTARRAYOID}
};
/* a new contact's points are its primary ones; a merge's are extra */
CRM_KEPT_PLAN(insert_points) = {
	"INSERT INTO crm.contact_point (contact_id, kind, value, is_primary)"
	" SELECT u.contact_id, u.kind, u.value,"
	"        u.is_new OR NOT EXISTS (SELECT 1 FROM crm.contact_point p"
	"                  WHERE p.contact_id = u.contact_id AND p.kind = u.kind AND p.is_primary)"
	"   FROM unnest($1::int8[], $2::text[], $3::text[], $4::bool[]) u(contact_id, kind, value, is_new)"
	" ON CONFLICT DO NOTHING RETURNING id, contact_id",
	4, {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, BOOLARRAYOID}
};
/*
 * Storing leads: one array parameter per column of crm.lead it fills.  The
 * lead fields' columns come from lead_fields.h, so the statement is built
 * once, when crm is loaded (crm_ingest_batch_init).
 */
CRM_KEPT_PLAN(insert_leads) = {NULL, 0, {InvalidOid}};

typedef struct StoredColumn
{
	const char *name;
	Oid			type;			/* of one value */
	Oid			array_type;		/* of the parameter */
	const char *sql_type;
	const char *value;			/* what is stored, NULL: u.<name> as given */
} StoredColumn;

enum
{
	LEAD_COL_ID, LEAD_COL_CHANNEL, LEAD_COL_SOURCE_LABEL, LEAD_COL_FIELDS,
	LEAD_COL_WARNINGS = LEAD_COL_FIELDS + CRM_N_LEAD_FIELDS,
	LEAD_COL_PAYLOAD, LEAD_COL_CONTACT_ID, LEAD_COL_ACCOUNT_ID, LEAD_COL_OUTCOME,
	LEAD_COL_ACCOUNT_OUTCOME, LEAD_COL_MATCH_SCORE, LEAD_COL_SCORE, LEAD_COL_WIN_PROBABILITY,
	LEAD_COL_SCORE_FACTORS, LEAD_COL_STATUS, LEAD_COL_WAITING_REASON, N_LEAD_COLS
};
StaticAssertDecl(N_LEAD_COLS <= CRM_PLAN_MAX_ARGS, "crm.lead takes too many parameters");

#define INT8_COL(name) {name, INT8OID, INT8ARRAYOID, "int8", NULL}
#define TEXT_COL(name) {name, TEXTOID, TEXTARRAYOID, "text", NULL}
#define JSONB_COL(name) {name, JSONBOID, JSONBARRAYOID, "jsonb", NULL}
#define FLOAT4_COL(name) {name, FLOAT4OID, FLOAT4ARRAYOID, "float4", NULL}

/* The lead fields' entries are filled in from crm_lead_fields. */
static StoredColumn lead_columns[N_LEAD_COLS] = {
	[LEAD_COL_ID] = INT8_COL("id"),
	[LEAD_COL_CHANNEL] = TEXT_COL("channel"),
	[LEAD_COL_SOURCE_LABEL] = TEXT_COL("source_label"),
	[LEAD_COL_WARNINGS] = {"warnings", TEXTOID, TEXTARRAYOID, "text", "coalesce(u.warnings::text[], '{}')"},
	[LEAD_COL_PAYLOAD] = JSONB_COL("payload"),
	[LEAD_COL_CONTACT_ID] = INT8_COL("contact_id"),
	[LEAD_COL_ACCOUNT_ID] = INT8_COL("account_id"),
	[LEAD_COL_OUTCOME] = TEXT_COL("outcome"),
	[LEAD_COL_ACCOUNT_OUTCOME] = TEXT_COL("account_outcome"),
	[LEAD_COL_MATCH_SCORE] = FLOAT4_COL("match_score"),
	[LEAD_COL_SCORE] = {"score", INT4OID, INT4ARRAYOID, "int4", NULL},
	[LEAD_COL_WIN_PROBABILITY] = FLOAT4_COL("win_probability"),
	[LEAD_COL_SCORE_FACTORS] = JSONB_COL("score_factors"),
	[LEAD_COL_STATUS] = TEXT_COL("status"),
	[LEAD_COL_WAITING_REASON] = TEXT_COL("waiting_reason"),
};

/* What is stored of a lead field: a submission time defaults to now. */
static const char *
field_value(const LeadFieldInfo *f)
{
	return f->kind == LEAD_TIME ? psprintf("coalesce(u.%s::timestamptz, now())", f->name) : NULL;
}

void
crm_ingest_batch_init(void)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	StringInfoData names,
				values,
				params;

	initStringInfo(&names);
	initStringInfo(&values);
	initStringInfo(&params);
	for (int f = 0; f < CRM_N_LEAD_FIELDS; f++)
		lead_columns[LEAD_COL_FIELDS + f] = (StoredColumn) {crm_lead_fields[f].name, TEXTOID,
			TEXTARRAYOID, "text", field_value(&crm_lead_fields[f])};
	for (int i = 0; i < N_LEAD_COLS; i++)
	{
		const StoredColumn *c = &lead_columns[i];
		const char *sep = i ? ", " : "";

		appendStringInfo(&names, "%s%s", sep, c->name);
		if (c->value)
			appendStringInfo(&values, "%s%s", sep, c->value);
		else
			appendStringInfo(&values, "%su.%s", sep, c->name);
		appendStringInfo(&params, "%s$%d::%s[]", sep, i + 1, c->sql_type);
		insert_leads.argtypes[i] = c->array_type;
	}
	insert_leads.nargs = N_LEAD_COLS;
	insert_leads.sql = psprintf("INSERT INTO crm.lead (%s, scored_at, closed_at)"
								" SELECT %s, CASE WHEN u.score IS NOT NULL THEN now() END,"
								"  CASE WHEN u.status = 'disqualified' THEN now() END"
								" FROM unnest(%s) u(%s)", names.data, values.data, params.data, names.data);
	MemoryContextSwitchTo(old);
}

CRM_KEPT_PLAN(attach_leads) = {
	"UPDATE crm.lead l SET contact_id = u.contact_id, outcome = 'merged', account_id = u.account_id,"
	"  account_outcome = CASE WHEN l.account_id IS NULL AND u.account_id IS NOT NULL THEN 'matched'"
	"                         ELSE l.account_outcome END"
	"  FROM unnest($1::int8[], $2::int8[], $3::int8[]) u(id, contact_id, account_id) WHERE l.id = u.id",
	3, {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID}
};
CRM_KEPT_PLAN(insert_reviews) = {
	"INSERT INTO crm.match_review (entity, lead_id, candidate_id, score, evidence, red)"
	" SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::float4[], $5::jsonb[], $6::bool[])",
	6, {TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID, FLOAT4ARRAYOID, JSONBARRAYOID, BOOLARRAYOID}
};
CRM_KEPT_PLAN(insert_histories) = {
	"INSERT INTO crm.merge_history (entity, kept_id, lead_id, changes, moved)"
	" SELECT 'contact', * FROM unnest($1::int8[], $2::int8[], $3::jsonb[], $4::jsonb[])",
	4, {INT8ARRAYOID, INT8ARRAYOID, JSONBARRAYOID, JSONBARRAYOID}
};

/* The next n values of a sequence, for rows whose ids others refer to. */
static int64 *
next_ids(CrmPlan *plan, int n)
{
	Datum		arg = Int32GetDatum(n);
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1));

	if (n == 0)
		return ids;
	(void) crm_plan_run(plan, &arg, NULL, 0, SPI_OK_SELECT);
	for (int i = 0; i < n; i++)
		(void) crm_spi_int8(i, 1, &ids[i]);
	return ids;
}

static Jsonb *
json_of(const char *text)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

static char **
draw_codes_for(int n)
{
	Datum		arg = Int32GetDatum(n);
	char	  **codes = palloc(sizeof(char *) * Max(n, 1));

	if (n == 0)
		return codes;
	(void) crm_plan_run(&draw_codes, &arg, NULL, 0, SPI_OK_SELECT);
	for (int i = 0; i < n; i++)
		codes[i] = crm_spi_text(i, 1);
	return codes;
}

/*
 * The ids and codes of the rows the wave's leads create, and what each
 * merge changes: all a write needs, so that writing again after a failure
 * writes the same.
 */
static void
plan_writes(BatchLead **wave, int n)
{
	int			accounts = 0,
				contacts = 0;
	char	  **codes;

	for (int i = 0; i < n; i++)
	{
		accounts += wave[i]->creates_account;
		contacts += wave[i]->creates_contact;
	}
	codes = draw_codes_for(accounts + contacts);
	contacts = 0;
	for (int i = 0, a = 0; i < n; i++)
	{
		BatchLead  *bl = wave[i];

		if (bl->creates_account)
		{
			bl->account_id = bl->kept_account_id;
			bl->account_code = codes[a++];
		}
		if (bl->creates_contact)
		{
			bl->contact_id = bl->kept_contact_id;
			bl->customer_code = codes[accounts + contacts++];
		}
		bl->result.lead_id = bl->stored_id ? bl->stored_id : bl->kept_lead_id;
		if (bl->match.outcome == MATCH_MERGED)
			plan_merge(bl);
	}
}

static void
put_code(CrmColumn *c, const char *code, const char *kind)
{
	crm_put_text(&c[0], code);
	crm_put_text(&c[1], kind);
}

/* The registry rows of the codes of the wave's new accounts and contacts. */
static void
write_codes(BatchLead **wave, int n)
{
	CrmColumn		c[2] = CRM_COLUMNS(CRM_COL(TEXTOID), CRM_COL(TEXTOID));
	Datum		args[2];

	for (int i = 0; i < n; i++)
	{
		if (wave[i]->creates_account)
			put_code(c, wave[i]->account_code, "account");
		if (wave[i]->creates_contact)
			put_code(c, wave[i]->customer_code, "contact");
	}
	if (c[0].state == NULL)
		return;
	crm_columns_as_args(&register_codes, c, args);
	(void) crm_registry_run(&register_codes, args, SPI_OK_INSERT);
	for (int i = 0; i < n; i++)
	{
		if (wave[i]->creates_account)
			crm_code_issued(wave[i]->account_code, "account");
		if (wave[i]->creates_contact)
			crm_code_issued(wave[i]->customer_code, "contact");
	}
}

static void
write_accounts(BatchLead **wave, int n)
{
	CrmColumn		c[7] = CRM_COLUMNS(CRM_COL(INT8OID), CRM_COL(TEXTOID), CRM_COL(TEXTOID), CRM_COL(TEXTOID),
							   CRM_COL(TEXTOID), CRM_COL(TEXTOID), CRM_COL(TEXTOID));
	CrmColumn		f[2] = CRM_COLUMNS(CRM_COL(INT8OID), CRM_COL(TEXTOID));

	for (int i = 0; i < n; i++)
	{
		BatchLead  *bl = wave[i];

		if (bl->creates_account)
		{
			crm_put_int8(&c[0], bl->account_id, false);
			crm_put_text(&c[1], bl->account_code);
			crm_put_text(&c[2], bl->lead->company_name);
			crm_put_text(&c[3], bl->lead->uscc);
			crm_put_text(&c[4], bl->lead->region_code);
			crm_put_text(&c[5], old_system_owner(bl->lead));
			crm_put_text(&c[6], old_system_created_at(bl->lead));
		}
		else if (bl->fills_uscc)
		{
			crm_put_int8(&f[0], bl->account_id, false);
			crm_put_text(&f[1], bl->lead->uscc);
		}
	}
	if (c[0].state)
		(void) crm_run_columns(&insert_accounts, c, SPI_OK_INSERT);
	if (f[0].state)
		(void) crm_run_columns(&fill_usccs, f, SPI_OK_UPDATE);
}

/* The lead of the wave whose contact has this id (one per wave). */
static BatchLead *
lead_of_contact(BatchLead **wave, int n, int64 contact_id)
{
	for (int i = 0; i < n; i++)
		if (wave[i]->contact_id == contact_id)
			return wave[i];
	return NULL;
}

static void
write_contacts(BatchLead **wave, int n)
{
	CrmColumn		c[8] = CRM_COLUMNS(CRM_COL(INT8OID), CRM_COL(TEXTOID), CRM_COL(INT8OID), CRM_COL(TEXTOID),
							   CRM_COL(TEXTOID), CRM_COL(TEXTOID), CRM_COL(TEXTOID), CRM_COL(TEXTOID));

	for (int i = 0; i < n; i++)
	{
		BatchLead  *bl = wave[i];

		if (!bl->creates_contact)
			continue;
		crm_put_int8(&c[0], bl->contact_id, false);
		crm_put_text(&c[1], bl->customer_code);
		crm_put_int8(&c[2], bl->account_id, bl->account_id == 0);
		crm_put_text(&c[3], display_name(bl->lead));
		crm_put_text(&c[4], bl->lead->title);
		crm_put_text(&c[5], bl->lead->wechat_openid);
		crm_put_text(&c[6], bl->owner);
		crm_put_text(&c[7], old_system_created_at(bl->lead));
	}
	if (c[0].state)
		(void) crm_run_columns(&insert_contacts, c, SPI_OK_INSERT);
}

static void
write_merges(BatchLead **wave, int n)
{
	CrmColumn		c[5] = CRM_COLUMNS(CRM_COL(INT8OID), CRM_COL(TEXTOID), CRM_COL(TEXTOID), CRM_COL(INT8OID),
							   CRM_COL(TEXTOID));

	for (int i = 0; i < n; i++)
	{
		BatchLead  *bl = wave[i];

		if (bl->match.outcome != MATCH_MERGED || !bl->updates_contact)
			continue;
		crm_put_int8(&c[0], bl->contact_id, false);
		crm_put_text(&c[1], bl->merged_name);
		crm_put_text(&c[2], bl->merged_title);
		crm_put_int8(&c[3], bl->merged_account_id, bl->merged_account_id == 0);
		crm_put_text(&c[4], bl->merged_openid);
	}
	if (c[0].state)
		(void) crm_run_columns(&update_contacts, c, SPI_OK_UPDATE);
}

static void
put_point(CrmColumn *c, const BatchLead *bl, const char *kind, const char *value)
{
	if (value == NULL)
		return;
	crm_put_int8(&c[0], bl->contact_id, false);
	crm_put_text(&c[1], kind);
	crm_put_text(&c[2], value);
	crm_put(&c[3], BoolGetDatum(bl->creates_contact), false);
}

/* New contacts' phones and e-mails, and those a merge adds. */
static void
write_points(BatchLead **wave, int n)
{
	CrmColumn		c[4] = CRM_COLUMNS(CRM_COL(INT8OID), CRM_COL(TEXTOID), CRM_COL(TEXTOID), CRM_COL(BOOLOID));
	uint64		rows;

	for (int i = 0; i < n; i++)
	{
		BatchLead  *bl = wave[i];

		resetStringInfo(&bl->added_points);
		if (bl->creates_contact || bl->match.outcome == MATCH_MERGED)
		{
			put_point(c, bl, "phone", bl->lead->phone);
			put_point(c, bl, "email", bl->lead->email);
		}
	}
	if (c[0].state == NULL)
		return;
	rows = crm_run_columns(&insert_points, c, SPI_OK_INSERT_RETURNING);
	for (uint64 r = 0; r < rows; r++)
	{
		int64		id,
					contact_id;
		BatchLead  *bl;

		(void) crm_spi_int8(r, 1, &id);
		(void) crm_spi_int8(r, 2, &contact_id);
		bl = lead_of_contact(wave, n, contact_id);
		if (bl->match.outcome == MATCH_MERGED)
			appendStringInfo(&bl->added_points, "%s" INT64_FORMAT,
							 bl->added_points.len ? ", " : "", id);
	}
}

/*
 * The lead's warnings as a text[] literal, NULL when it has none (most
 * leads): the statement casts it, with no subquery per row.
 */
static char *
warnings_literal(const Lead *lead)
{
	StringInfoData buf;
	ListCell   *lc;

	if (lead->warnings == NIL)
		return NULL;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	foreach(lc, lead->warnings)
	{
		if (buf.len > 1)
			appendStringInfoChar(&buf, ',');
		appendStringInfoChar(&buf, '"');
		for (const char *p = lfirst(lc); *p; p++)
		{
			if (*p == '"' || *p == '\\')
				appendStringInfoChar(&buf, '\\');
			appendStringInfoChar(&buf, *p);
		}
		appendStringInfoChar(&buf, '"');
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* The state a new lead is stored in: a migrated customer's lead is closed. */
static const char *
stored_status(const BatchLead *bl)
{
	if (bl->scored)
		return "scored";
	return crm_import_carries_customer(bl->lead) ? "disqualified" : "new";
}

static void
put_lead(CrmColumn *c, BatchLead *bl)
{
	const Lead *lead = bl->lead;

	crm_put_int8(&c[LEAD_COL_ID], bl->result.lead_id, false);
	crm_put_text(&c[LEAD_COL_CHANNEL], lead->channel);
	crm_put_text(&c[LEAD_COL_SOURCE_LABEL], lead->source_label);
	for (int f = 0; f < CRM_N_LEAD_FIELDS; f++)
		crm_put_text(&c[LEAD_COL_FIELDS + f], crm_lead_value(lead, &crm_lead_fields[f]));
	crm_put_text(&c[LEAD_COL_WARNINGS], warnings_literal(lead));
	crm_put(&c[LEAD_COL_PAYLOAD], JsonbPGetDatum(lead->payload), false);
	crm_put_int8(&c[LEAD_COL_CONTACT_ID], bl->contact_id, bl->contact_id == 0);
	crm_put_int8(&c[LEAD_COL_ACCOUNT_ID], bl->account_id, bl->account_id == 0);
	crm_put_text(&c[LEAD_COL_OUTCOME], crm_match_outcome_name(bl->match.outcome));
	crm_put_text(&c[LEAD_COL_ACCOUNT_OUTCOME], bl->account_outcome);
	crm_put(&c[LEAD_COL_MATCH_SCORE], Float4GetDatum((float4) bl->match.score), !bl->match.has_score);
	crm_put(&c[LEAD_COL_SCORE], Int32GetDatum(bl->score.score), !bl->scored);
	crm_put(&c[LEAD_COL_WIN_PROBABILITY], Float4GetDatum(bl->score.win_probability),
			!bl->score.has_probability);
	crm_put(&c[LEAD_COL_SCORE_FACTORS],
			bl->scored ? JsonbPGetDatum(json_of(bl->score.factors_json)) : (Datum) 0, !bl->scored);
	crm_put_text(&c[LEAD_COL_STATUS], stored_status(bl));
	crm_put_text(&c[LEAD_COL_WAITING_REASON], bl->waiting_reason);
}

static void
write_leads(BatchLead **wave, int n)
{
	CrmColumn	c[N_LEAD_COLS];
	CrmColumn	a[3] = CRM_COLUMNS(CRM_COL(INT8OID), CRM_COL(INT8OID), CRM_COL(INT8OID));

	for (int i = 0; i < N_LEAD_COLS; i++)
		c[i] = (CrmColumn) {lead_columns[i].type, NULL};
	for (int i = 0; i < n; i++)
	{
		BatchLead  *bl = wave[i];

		if (bl->stored_id == 0)
			put_lead(c, bl);
		else
		{
			crm_put_int8(&a[0], bl->stored_id, false);
			crm_put_int8(&a[1], bl->contact_id, false);
			crm_put_int8(&a[2], bl->account_id, bl->account_id == 0);
		}
	}
	if (c[0].state)
		(void) crm_run_columns(&insert_leads, c, SPI_OK_INSERT);
	if (a[0].state)
		(void) crm_run_columns(&attach_leads, a, SPI_OK_UPDATE);
}

/* A review of which stored contact, or which organisation, the lead is. */
static void
put_review(CrmColumn *r, const BatchLead *bl)
{
	const Candidate *c = bl->match.best;

	crm_put_int8(&r[1], bl->result.lead_id, false);
	if (bl->match.outcome == MATCH_REVIEW)
	{
		crm_put_text(&r[0], "contact");
		crm_put_int8(&r[2], c->id, false);
		crm_put(&r[3], Float4GetDatum((float4) c->score), false);
		crm_put(&r[4], JsonbPGetDatum(crm_match_evidence(bl->match.weights, bl->lead, &bl->accounts,
														 c, bl->cands, bl->n_cands,
														 bl->reviews_account)), false);
		crm_put(&r[5], BoolGetDatum(crm_match_shares_identifier(bl->lead, c)), false);
	}
	else
	{
		Jsonb	   *evidence;
		int			first = crm_match_account_review(bl->lead, &bl->accounts, &evidence);

		crm_put_text(&r[0], "account");
		crm_put_int8(&r[2], bl->accounts.accounts[first].id, false);
		crm_put(&r[3], (Datum) 0, true);
		crm_put(&r[4], JsonbPGetDatum(evidence), false);
		crm_put(&r[5], BoolGetDatum(false), false);
	}
}

/* The review queue entries and merge histories the outcomes call for. */
static void
write_outcomes(BatchLead **wave, int n)
{
	CrmColumn		r[6] = CRM_COLUMNS(CRM_COL(TEXTOID), CRM_COL(INT8OID), CRM_COL(INT8OID), CRM_COL(FLOAT4OID),
							   CRM_COL(JSONBOID), CRM_COL(BOOLOID));
	CrmColumn		h[4] = CRM_COLUMNS(CRM_COL(INT8OID), CRM_COL(INT8OID), CRM_COL(JSONBOID), CRM_COL(JSONBOID));

	for (int i = 0; i < n; i++)
	{
		BatchLead  *bl = wave[i];

		if (bl->match.outcome == MATCH_REVIEW || bl->reviews_account)
			put_review(r, bl);
		if (bl->match.outcome == MATCH_MERGED && (bl->changes.len || bl->added_points.len))
		{
			crm_put_int8(&h[0], bl->contact_id, false);
			crm_put_int8(&h[1], bl->result.lead_id, false);
			crm_put(&h[2], JsonbPGetDatum(json_of(psprintf("[%s]", bl->changes.data))), false);
			crm_put(&h[3], JsonbPGetDatum(json_of(psprintf("{\"contact_point\": [%s]}",
														bl->added_points.data))), false);
		}
	}
	if (r[0].state)
		(void) crm_run_columns(&insert_reviews, r, SPI_OK_INSERT);
	if (h[0].state)
		(void) crm_run_columns(&insert_histories, h, SPI_OK_INSERT);
}

/* The score a lead is stored with: its customer is known by now. */
static void
score(BatchLead *bl, const ScoreModel *model)
{
	const Lead *lead = bl->lead;
	ScoreInput	in = {
		.channel = lead->channel,
		.product_line = lead->product_line,
		.region_code = lead->region_code,
		.title = lead->title,
		.has_person_name = lead->person_name != NULL,
		.has_company_name = lead->company_name != NULL,
		.has_phone = lead->phone != NULL,
		.has_email = lead->email != NULL,
		.has_uscc = lead->uscc != NULL,
		.has_wechat_openid = lead->wechat_openid != NULL,
		.known_customer = crm_score_known_customer(crm_match_outcome_name(bl->match.outcome),
												   bl->account_outcome),
	};

	crm_score_lead(model, &in, &bl->score);
	bl->scored = true;
}

/*
 * Why the scored lead will wait in assignment, if for want of a rule:
 * stored with it, the lead trigger's assignment finds it there and
 * writes the lead no second time.  Its customer's owner: its contact's,
 * else its account's.
 */
static void
foresee_assignment(BatchLead *bl, AssignmentRules *rules)
{
	const Lead *lead = bl->lead;

	bl->waiting_reason = crm_assignment_unruled(rules, lead->channel, lead->region_code,
												lead->product_line, bl->score.score,
												bl->owner ? bl->owner : bl->account_owner);
}

static void
fill_result(BatchLead *bl)
{
	IngestResult *r = &bl->result;

	r->contact_id = bl->contact_id;
	r->account_id = bl->account_id;
	r->customer_code = bl->customer_code;
	r->outcome = crm_match_outcome_name(bl->match.outcome);
	r->has_match_score = bl->match.has_score;
	r->match_score = bl->match.score;
	r->has_lead_score = bl->scored;
	r->lead_score = bl->score.score;
}

/* ---------------------------------------------------------------------
 * Flush
 * --------------------------------------------------------------------- */

static void
write_wave(BatchLead **wave, int n)
{
	write_codes(wave, n);
	write_accounts(wave, n);
	write_merges(wave, n);
	write_contacts(wave, n);
	write_points(wave, n);
	write_leads(wave, n);
	write_outcomes(wave, n);
}

/*
 * Whether an error writing a lead is the lead's own: its data broke a
 * constraint, a trigger refused it.  A cancel, a shutdown, a deadlock or
 * serialization failure, exhausted resources or an internal error is not,
 * and ends the statement.
 */
static bool
lead_at_fault(int sqlerrcode)
{
	switch (ERRCODE_TO_CATEGORY(sqlerrcode))
	{
		case ERRCODE_TRANSACTION_ROLLBACK:
		case ERRCODE_INSUFFICIENT_RESOURCES:
		case ERRCODE_PROGRAM_LIMIT_EXCEEDED:
		case ERRCODE_OPERATOR_INTERVENTION:
		case ERRCODE_SYSTEM_ERROR:
		case ERRCODE_INTERNAL_ERROR:
			return false;
		default:
			return true;
	}
}

typedef struct WaveWrite
{
	BatchLead **leads;
	int			n;
} WaveWrite;

static void
write_wave_step(void *arg)
{
	WaveWrite  *w = arg;

	write_wave(w->leads, w->n);
}

/* Write the leads in a subtransaction; the error, or NULL when they landed. */
static ErrorData *
try_write(BatchLead **leads, int n)
{
	WaveWrite	w = {leads, n};

	return crm_try_step(write_wave_step, &w);
}

/*
 * Write the leads, and when that fails, each half again, down to the lead
 * at fault, which goes to quarantine.  The leads of a wave do not see each
 * other, so writing some without the others writes what they decided.
 */
static void
write_or_quarantine(BatchLead **leads, int n, CrmBatchQuarantine quarantine)
{
	ErrorData  *error;

	if (n == 0 || (error = try_write(leads, n)) == NULL)
		return;
	if (!lead_at_fault(error->sqlerrcode))
		ReThrowError(error);
	if (n == 1)
	{
		quarantine(leads[0]->lead, error);
		return;
	}
	write_or_quarantine(leads, n / 2, quarantine);
	write_or_quarantine(leads + n / 2, n - n / 2, quarantine);
}

/*
 * A re-send whose lead fields differ from the stored lead's: a second lead
 * under one key of (channel, external_id), as the unique index would
 * refuse it.
 */
static void
raise_resend_conflict(const BatchLead *bl)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("lead %s of channel %s was ingested before with different values",
					crm_quote_value(bl->lead->external_id), crm_quote_value(bl->lead->channel)),
			 errdetail("Fields that differ from stored lead " INT64_FORMAT ": %s.",
					   bl->result.lead_id, bl->resend_conflict),
			 errhint("A re-send must repeat the lead it was first sent with; a different lead needs an external id of its own.")));
}

/*
 * The conflict as an error for the quarantine: nothing was written.  It is
 * caught without a subtransaction, since between PG_TRY and the throw
 * nothing takes a lock, a buffer or any other resource.
 */
static void
quarantine_resend_conflict(const BatchLead *bl, CrmBatchQuarantine quarantine)
{
	MemoryContext cxt = CurrentMemoryContext;
	ErrorData  *volatile error = NULL;

	PG_TRY();
	{
		raise_resend_conflict(bl);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		error = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
	quarantine(bl->lead, error);
}

/*
 * Decide and store the leads of the wave that need not wait.  Returns how
 * many were duplicates.
 */
static int
settle_wave(BatchLead **wave, int n, const BatchRules *rules, CrmBatchQuarantine quarantine)
{
	BatchLead **ready = palloc(sizeof(BatchLead *) * n);
	int			m = 0,
				duplicates = 0;

	for (int i = 0; i < n; i++)
	{
		if (wave[i]->waits)
			continue;
		wave[i]->done = true;
		if (wave[i]->existing && wave[i]->resend_conflict == NULL)
			duplicates++;
		else if (wave[i]->existing && quarantine == NULL)
			raise_resend_conflict(wave[i]);
		else if (wave[i]->existing)
			quarantine_resend_conflict(wave[i], quarantine);
		if (wave[i]->existing)
			continue;
		decide(wave[i], rules->weights);
		if (rules->model && wave[i]->stored_id == 0)
		{
			score(wave[i], rules->model);
			foresee_assignment(wave[i], rules->assignment);
		}
		ready[m++] = wave[i];
	}
	plan_writes(ready, m);
	if (quarantine)
		write_or_quarantine(ready, m, quarantine);
	else
		write_wave(ready, m);
	for (int i = 0; i < m; i++)
		fill_result(ready[i]);
	return duplicates;
}

void
crm_batch_discard(IngestBatch *b)
{
	MemoryContextReset(b->cxt);
	b->leads = NULL;
	b->n = b->cap = 0;
}

/*
 * Owners, states and waiting reasons as they are after the statements that
 * stored the leads: the lead triggers have scored and assigned them by
 * then.  A duplicate's are its stored lead's, as it is now.
 */
CRM_KEPT_PLAN(lead_owners) = {
	"SELECT u.i, l.owner, l.status, l.waiting_reason FROM unnest($1::int4[], $2::int8[]) u(i, id)"
	" CROSS JOIN LATERAL (SELECT l.owner, l.status, l.waiting_reason FROM crm.lead l"
	"   WHERE l.id = u.id OFFSET 0) l",
	2, {INT4ARRAYOID, INT8ARRAYOID}
};

static void
read_owners(IngestBatch *b)
{
	CrmColumn		c[2] = CRM_COLUMNS(CRM_COL(INT4OID), CRM_COL(INT8OID));
	uint64		rows;
	int			owner,
				status,
				waiting_reason;

	if (b->n == 0)
		return;
	for (int i = 0; i < b->n; i++)
	{
		crm_put(&c[0], Int32GetDatum(i), false);
		crm_put_int8(&c[1], b->leads[i]->result.lead_id, false);
	}
	rows = crm_run_columns(&lead_owners, c, SPI_OK_SELECT);
	if (rows == 0)
		return;
	owner = crm_spi_column("owner", 1);
	status = crm_spi_column("status", 1);
	waiting_reason = crm_spi_column("waiting_reason", 1);
	for (uint64 r = 0; r < rows; r++)
	{
		IngestResult *res = &b->leads[row_index(r)]->result;

		res->owner = crm_spi_text(r, owner);
		res->status = crm_spi_text(r, status);
		res->waiting_reason = crm_spi_text(r, waiting_reason);
	}
}

/*
 * The leads of the wave that are not re-sends, into fresh: only they are
 * matched, since a re-send writes nothing.  A re-send keeps no candidates
 * from an earlier wave, where it waited for the lead it repeats.
 */
static int
not_stored(BatchLead **wave, int n, BatchLead **fresh)
{
	int			m = 0;

	for (int i = 0; i < n; i++)
	{
		BatchLead  *bl = wave[i];

		if (!bl->existing)
		{
			fresh[m++] = bl;
			continue;
		}
		memset(&bl->accounts, 0, sizeof(AccountMatch));
		bl->accounts.resolved = -1;
		bl->cands = NULL;
		bl->n_cands = 0;
	}
	return m;
}

/*
 * Ids for whatever each new lead may create, drawn in the statement's
 * order: waves may take leads out of order, and where scores tie, the
 * older contact or account wins, as one call after another would have it.
 * The ids a lead does not use are gaps, as a sequence leaves anyway.
 */
static void
keep_ids(IngestBatch *b)
{
	int			new_leads = 0,
				with_company = 0;
	int64	   *account_ids,
			   *contact_ids,
			   *lead_ids;

	for (int i = 0; i < b->n; i++)
	{
		new_leads += b->leads[i]->stored_id == 0;
		with_company += b->leads[i]->lead->company_key != NULL;
	}
	account_ids = next_ids(&next_account_ids, with_company);
	contact_ids = next_ids(&next_contact_ids, b->n);
	lead_ids = next_ids(&next_lead_ids, new_leads);
	for (int i = 0, a = 0, l = 0; i < b->n; i++)
	{
		BatchLead  *bl = b->leads[i];

		if (bl->lead->company_key != NULL)
			bl->kept_account_id = account_ids[a++];
		bl->kept_contact_id = contact_ids[i];
		if (bl->stored_id == 0)
			bl->kept_lead_id = lead_ids[l++];
	}
}

int
crm_batch_flush(IngestBatch *b, IngestResult *results, CrmBatchQuarantine quarantine)
{
	BatchLead **wave = palloc(sizeof(BatchLead *) * Max(b->n, 1));
	BatchLead **fresh = palloc(sizeof(BatchLead *) * Max(b->n, 1));
	BatchRules	rules = {crm_score_on_ingest ? crm_score_model() : NULL, crm_match_weights(),
	crm_score_on_ingest ? crm_assignment_rules() : NULL};
	int			duplicates = 0;

	keep_ids(b);
	for (;;)
	{
		int			n = 0,
					m;

		for (int i = 0; i < b->n; i++)
			if (!b->leads[i]->done)
				wave[n++] = b->leads[i];
		if (n == 0)
			break;
		read_existing(wave, n);
		if ((m = not_stored(wave, n, fresh)) > 0)
		{
			read_accounts(fresh, m);
			read_candidates(fresh, m);
		}
		mark_waiting(wave, n);
		duplicates += settle_wave(wave, n, &rules, quarantine);
	}
	if (results)
		read_owners(b);
	for (int i = 0; results && i < b->n; i++)
		results[i] = b->leads[i]->result;
	crm_batch_discard(b);
	return duplicates;
}
