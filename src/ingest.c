/*
 * ingest.c: crm.ingest(channel, payload), one lead in.
 *
 * A lead is mapped through its channel's field map and normalised
 * (crm_ingest_prepare, which writes nothing, so the bulk path can
 * quarantine a bad row), then matched and stored (crm_ingest_store):
 * the account its credit code or company name finds, the contact the
 * match decides on, the profile filled from the lead, the lead row, and a
 * review entry or merge history as the outcome requires.
 *
 * Two sessions ingesting one new person must end with one contact, so the
 * lead's blocking keys are locked before anything is looked up: advisory
 * locks on hash buckets of the keys, taken in bucket order and held to
 * commit.  In READ COMMITTED each lookup then sees what the other session
 * committed.
 */
#include "postgres.h"

#include <ctype.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "checkcode.h"
#include "company.h"
#include "email.h"
#include "ingest.h"
#include "ingest_map.h"
#include "normalize.h"
#include "person.h"
#include "phone.h"
#include "pinyin.h"
#include "spi_plan.h"

PG_FUNCTION_INFO_V1(crm_ingest);
PG_FUNCTION_INFO_V1(crm_merge_lead);

/* Advisory lock space of the matching locks: (0x43524D "CRM", bucket). */
#define MATCH_LOCK_CLASS 0x43524D
#define MATCH_LOCK_BUCKETS 1024
#define MAX_LOCK_KEYS 8

/* external_id and wechat_openid are indexed; real ones are far shorter. */
#define MAX_IDENTIFIER_BYTES 256

static CrmPlan channel_by_code = {
	"SELECT field_map, source_label FROM crm.channel WHERE code = $1",
	1, {TEXTOID}
};

/* ---------------------------------------------------------------------
 * Preparing a lead: map, check, normalise
 * --------------------------------------------------------------------- */

/*
 * Channels the statement under way has read, when it is a bulk one: a
 * COPY of a million leads reads its channel once, not a million times.
 * The cache belongs to one statement of one transaction.
 */
typedef struct CachedChannel
{
	char	   *code;
	char	   *source_label;
	Jsonb	   *map;
} CachedChannel;

static MemoryContext channel_cache_cxt = NULL;
static List *channel_cache = NIL;
static LocalTransactionId channel_cache_lxid = InvalidLocalTransactionId;
static TimestampTz channel_cache_stmt = 0;

void
crm_ingest_cache_channels(void)
{
	if (channel_cache_cxt == NULL)
		channel_cache_cxt = AllocSetContextCreate(TopMemoryContext, "crm channel cache",
												  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(channel_cache_cxt);
	channel_cache = NIL;
	channel_cache_lxid = MyProc->lxid;
	channel_cache_stmt = GetCurrentStatementStartTimestamp();
}

static bool
caching_channels(void)
{
	return channel_cache_cxt != NULL && channel_cache_lxid == MyProc->lxid &&
		channel_cache_stmt == GetCurrentStatementStartTimestamp();
}

static CachedChannel *
cached_channel(const char *channel)
{
	ListCell   *lc;

	foreach(lc, channel_cache)
	{
		CachedChannel *c = lfirst(lc);

		if (strcmp(c->code, channel) == 0)
			return c;
	}
	return NULL;
}

static Jsonb *
read_channel(const char *channel, char **source_label)
{
	Datum		arg = CStringGetTextDatum(channel);
	bool		isnull;

	if (crm_plan_run(&channel_by_code, &arg, NULL, 1, SPI_OK_SELECT) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("unknown lead channel \"%s\"", channel),
				 errhint("Channels are listed in crm.channel.")));
	*source_label = crm_spi_text(0, 2);
	return DatumGetJsonbPCopy(crm_spi_datum(0, 1, &isnull));
}

static Jsonb *
channel_map(const char *channel, char **source_label)
{
	CachedChannel *c;
	MemoryContext old;

	if (!caching_channels())
		return read_channel(channel, source_label);
	if ((c = cached_channel(channel)) == NULL)
	{
		Jsonb	   *map = read_channel(channel, source_label);

		old = MemoryContextSwitchTo(channel_cache_cxt);
		c = palloc(sizeof(CachedChannel));
		c->code = pstrdup(channel);
		c->source_label = pstrdup(*source_label);
		c->map = DatumGetJsonbPCopy(JsonbPGetDatum(map));
		channel_cache = lappend(channel_cache, c);
		MemoryContextSwitchTo(old);
	}
	*source_label = c->source_label;
	return c->map;
}

static char *
field(Jsonb *fields, const char *name)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&fields->root, name, strlen(name), NULL);

	return v ? pnstrdup(v->val.string.val, v->val.string.len) : NULL;
}

/* Six digits under a real province-level division, as crm.region_code_is_valid. */
static bool
region_code_is_valid(const char *code)
{
	static const char *const provinces =
		" 11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46"
		" 50 51 52 53 54 61 62 63 64 65 71 81 82 ";
	char		province[5] = {' ', code[0], code[1], ' ', '\0'};

	return strlen(code) == 6 && strspn(code, "0123456789") == 6 &&
		strstr(provinces, province) != NULL;
}

/* The key of a field, or NULL with a warning when the value is unusable. */
static char *
key_of(Lead *lead, CoreNormalizer normalizer, const char *value, const char *what)
{
	char	   *key;

	if (value == NULL)
		return NULL;
	key = crm_normalize_bytes(normalizer, value, strlen(value));
	if (key == NULL)
		lead->warnings = lappend(lead->warnings,
								 psprintf("%s \"%s\" is not usable", what, value));
	return key;
}

static void
normalise_lead(Lead *lead, Jsonb *fields)
{
	lead->phone = key_of(lead, crm_norm_phone, field(fields, "phone"), "phone");
	lead->email = key_of(lead, crm_norm_email, field(fields, "email"), "email");
	lead->uscc = key_of(lead, crm_norm_uscc, field(fields, "uscc"), "credit code");
	lead->name_key = key_of(lead, crm_norm_person_name, lead->person_name, "person name");
	if (lead->name_key)
		lead->name_pinyin = crm_normalize_bytes(crm_pinyin, lead->name_key, strlen(lead->name_key));
	lead->company_key = key_of(lead, crm_norm_company_name, lead->company_name, "company name");
	if (lead->company_name)
		lead->company_region = crm_normalize_bytes(crm_company_region, lead->company_name,
												   strlen(lead->company_name));
	if (lead->region_code && !region_code_is_valid(lead->region_code))
	{
		lead->warnings = lappend(lead->warnings,
								 psprintf("region code \"%s\" is not a GB/T 2260 code", lead->region_code));
		lead->region_code = NULL;
	}
}

/* Identifiers are compared as given, so blanks around them are noise. */
static char *
trimmed(char *s)
{
	char	   *end;

	if (s == NULL)
		return NULL;
	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return *s ? s : NULL;
}

static void
require_short(const char *name, const char *value)
{
	if (value && strlen(value) > MAX_IDENTIFIER_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("lead field \"%s\" is too long", name),
				 errdetail("It has %zu bytes; identifiers may have at most %d.",
						   strlen(value), MAX_IDENTIFIER_BYTES)));
}

/* After normalisation something must still say who this is. */
static void
require_usable_identity(const Lead *lead)
{
	StringInfoData why;
	ListCell   *lc;

	if (lead->phone || lead->email || lead->wechat_openid || lead->name_key)
		return;
	initStringInfo(&why);
	foreach(lc, lead->warnings)
		appendStringInfo(&why, "%s%s", why.len ? "; " : "", (char *) lfirst(lc));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("lead payload identifies nobody"),
			 errdetail("No phone, e-mail, openid or person name in it is usable: %s.", why.data)));
}

Lead *
crm_ingest_prepare(const char *channel, Jsonb *payload)
{
	Lead	   *lead = palloc0(sizeof(Lead));
	char	   *source_label;
	Jsonb	   *map = channel_map(channel, &source_label);
	Jsonb	   *fields = crm_map_lead(map, payload);

	lead->channel = pstrdup(channel);
	lead->source_label = source_label;
	lead->payload = payload;
	lead->external_id = trimmed(field(fields, "external_id"));
	lead->person_name = field(fields, "person_name");
	lead->company_name = field(fields, "company_name");
	lead->region_code = field(fields, "region_code");
	lead->title = field(fields, "title");
	lead->product_line = field(fields, "product_line");
	lead->wechat_openid = trimmed(field(fields, "wechat_openid"));
	require_short("external_id", lead->external_id);
	require_short("wechat_openid", lead->wechat_openid);
	lead->notes = field(fields, "notes");
	lead->created_at = field(fields, "created_at");
	normalise_lead(lead, fields);
	require_usable_identity(lead);
	return lead;
}

/* ---------------------------------------------------------------------
 * Matching locks
 * --------------------------------------------------------------------- */

static LocalTransactionId all_locked_lxid = InvalidLocalTransactionId;
static SubTransactionId all_locked_subxid = InvalidSubTransactionId;

static void
lock_bucket(uint32 bucket)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, MATCH_LOCK_CLASS, bucket, 2);
	if (LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL)
		return;
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	/* our snapshot predates what the other session stored: retry afresh */
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize lead ingestion due to a concurrent ingest of the same customer"),
				 errhint("Retry the transaction.")));
}

static bool
holding_all_buckets(void)
{
	return all_locked_lxid == MyProc->lxid &&
		all_locked_subxid == GetCurrentSubTransactionId();
}

void
crm_ingest_lock_all(void)
{
	if (holding_all_buckets())
		return;
	for (uint32 b = 0; b < MATCH_LOCK_BUCKETS; b++)
		lock_bucket(b);
	all_locked_lxid = MyProc->lxid;
	all_locked_subxid = GetCurrentSubTransactionId();
}

static uint32
bucket_of(char kind, const char *key)
{
	uint32		h = hash_bytes((const unsigned char *) key, strlen(key));

	return hash_combine(h, (uint32) kind) % MATCH_LOCK_BUCKETS;
}

static int
compare_uint32(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a;
	uint32		y = *(const uint32 *) b;

	return (x > y) - (x < y);
}

static void
lock_keys(const Lead *lead)
{
	uint32		buckets[MAX_LOCK_KEYS];
	int			n = 0;

	if (holding_all_buckets())
		return;
#define ADD_KEY(kind, key) do { if (key) buckets[n++] = bucket_of(kind, key); } while (0)
	ADD_KEY('p', lead->phone);
	ADD_KEY('e', lead->email);
	ADD_KEY('w', lead->wechat_openid);
	ADD_KEY('u', lead->uscc);
	ADD_KEY('c', lead->company_key);
	ADD_KEY('n', lead->name_pinyin);
	ADD_KEY('x', lead->external_id);
#undef ADD_KEY
	qsort(buckets, n, sizeof(uint32), compare_uint32);
	for (int i = 0; i < n; i++)
		if (i == 0 || buckets[i] != buckets[i - 1])
			lock_bucket(buckets[i]);
}

/* ---------------------------------------------------------------------
 * Storing
 * --------------------------------------------------------------------- */

static CrmPlan lead_by_external_id = {
	"SELECT l.id, l.contact_id, l.account_id, k.code, l.outcome, l.match_score, l.score, l.owner"
	"  FROM crm.lead l LEFT JOIN crm.contact k ON k.id = l.contact_id"
	" WHERE l.channel = $1 AND l.external_id = $2",
	2, {TEXTOID, TEXTOID}
};
static CrmPlan insert_account = {
	"INSERT INTO crm.account (name, uscc, region_code) VALUES ($1, $2, $3) RETURNING id",
	3, {TEXTOID, TEXTOID, TEXTOID}
};
static CrmPlan fill_account_uscc = {
	"UPDATE crm.account SET uscc = $2 WHERE id = $1 AND uscc IS NULL",
	2, {INT8OID, TEXTOID}
};
/* A new contact with its phone and e-mail, in one statement. */
static CrmPlan insert_contact = {
	"WITH k AS (INSERT INTO crm.contact (account_id, name, title, wechat_openid, owner)"
	"           VALUES ($1, $2, $3, $4, $5) RETURNING id, code),"
	"     p AS (INSERT INTO crm.contact_point (contact_id, kind, value, is_primary)"
	"           SELECT k.id, v.kind, v.value, true"
	"             FROM k, (VALUES ('phone', $6), ('email', $7)) v(kind, value)"
	"            WHERE v.value IS NOT NULL)"
	" SELECT id, code FROM k",
	7, {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID}
};
static CrmPlan update_contact = {
	"UPDATE crm.contact SET name = $2, title = $3, account_id = $4, wechat_openid = $5 WHERE id = $1",
	5, {INT8OID, TEXTOID, TEXTOID, INT8OID, TEXTOID}
};
static CrmPlan contact_by_openid = {
	"SELECT 1 FROM crm.contact WHERE wechat_openid = $1 AND merged_into IS NULL",
	1, {TEXTOID}
};
/* The lead's phone and e-mail on a stored contact, unless it has them. */
static CrmPlan add_contact_points = {
	"INSERT INTO crm.contact_point (contact_id, kind, value, is_primary)"
	" SELECT $1, v.kind, v.value,"
	"        NOT EXISTS (SELECT 1 FROM crm.contact_point p"
	"                     WHERE p.contact_id = $1 AND p.kind = v.kind AND p.is_primary)"
	"   FROM (VALUES ('phone', $2), ('email', $3)) v(kind, value) WHERE v.value IS NOT NULL"
	" ON CONFLICT DO NOTHING RETURNING id",
	3, {INT8OID, TEXTOID, TEXTOID}
};
static CrmPlan insert_lead = {
	"INSERT INTO crm.lead (channel, source_label, external_id, person_name, company_name,"
	"  phone, email, uscc, region_code, title, product_line, wechat_openid, notes, warnings,"
	"  payload, contact_id, account_id, outcome, account_outcome, match_score, owner, created_at)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,"
	"  $19, $20, $21, coalesce($22::timestamptz, now())) RETURNING id",
	22, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID, JSONBOID, INT8OID, INT8OID, TEXTOID,
	TEXTOID, FLOAT4OID, TEXTOID, TEXTOID}
};
static CrmPlan insert_review = {
	"INSERT INTO crm.match_review (entity, lead_id, candidate_id, score, evidence, red)"
	" VALUES ('contact', $1, $2, $3, $4, $5)",
	5, {INT8OID, INT8OID, FLOAT4OID, JSONBOID, BOOLOID}
};
static CrmPlan insert_history = {
	"INSERT INTO crm.merge_history (entity, kept_id, lead_id, changes, moved)"
	" VALUES ('contact', $1, $2, $3, $4)",
	4, {INT8OID, INT8OID, JSONBOID, JSONBOID}
};

/* Where the lead ends up, and what the merge changed. */
typedef struct Placement
{
	MatchDecision match;
	AccountMatch accounts;
	int64		account_id;
	const char *account_outcome;
	char	   *account_owner;
	int64		contact_id;
	char	   *customer_code;
	char	   *owner;
	StringInfoData changes;		/* JSON array elements, comma-separated */
	StringInfoData added_points;	/* ids, comma-separated */
} Placement;

static Datum
opt_text(const char *s, char *null)
{
	*null = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

static Datum
opt_int8(int64 v, char *null)
{
	*null = v ? ' ' : 'n';
	return Int64GetDatum(v);
}

static bool
in_list(const char *value, List *values)
{
	ListCell   *lc;

	if (value)
		foreach(lc, values)
			if (strcmp(value, lfirst(lc)) == 0)
				return true;
	return false;
}

static bool
existing_lead(const Lead *lead, IngestResult *r)
{
	Datum		args[2];
	bool		isnull;
	Datum		d;

	if (lead->external_id == NULL)
		return false;
	args[0] = CStringGetTextDatum(lead->channel);
	args[1] = CStringGetTextDatum(lead->external_id);
	if (crm_plan_run(&lead_by_external_id, args, NULL, 1, SPI_OK_SELECT) == 0)
		return false;
	(void) crm_spi_int8(0, 1, &r->lead_id);
	(void) crm_spi_int8(0, 2, &r->contact_id);
	(void) crm_spi_int8(0, 3, &r->account_id);
	r->customer_code = crm_spi_text(0, 4);
	r->outcome = crm_spi_text(0, 5);
	d = crm_spi_datum(0, 6, &isnull);
	r->has_match_score = !isnull;
	r->match_score = isnull ? 0 : DatumGetFloat4(d);
	d = crm_spi_datum(0, 7, &isnull);
	r->has_lead_score = !isnull;
	r->lead_score = isnull ? 0 : DatumGetInt32(d);
	r->owner = crm_spi_text(0, 8);
	return true;
}

static int64
create_account(const Lead *lead)
{
	Datum		args[3];
	char		nulls[3];
	int64		id;

	args[0] = CStringGetTextDatum(lead->company_name);
	args[1] = opt_text(lead->uscc, &nulls[1]);
	args[2] = opt_text(lead->region_code, &nulls[2]);
	nulls[0] = ' ';
	(void) crm_plan_run(&insert_account, args, nulls, 0, SPI_OK_INSERT_RETURNING);
	(void) crm_spi_int8(0, 1, &id);
	return id;
}

/*
 * The lead's organisation: the account it resolves to (its missing
 * credit code filled in), a new account when the name finds none, or none
 * when it finds several and nothing singles one out.
 */
static void
place_account(const Lead *lead, Placement *p)
{
	AccountMatch *m = &p->accounts;

	if (m->resolved >= 0)
	{
		Account    *a = &m->accounts[m->resolved];

		p->account_id = a->id;
		p->account_outcome = "matched";
		p->account_owner = a->owner;
		if (lead->uscc && a->uscc == NULL)
		{
			Datum		args[2] = {Int64GetDatum(a->id), CStringGetTextDatum(lead->uscc)};

			(void) crm_plan_run(&fill_account_uscc, args, NULL, 0, SPI_OK_UPDATE);
		}
	}
	else if (m->n == 0 && lead->company_key)
	{
		p->account_id = create_account(lead);
		p->account_outcome = "new";
	}
}

static void
add_points(const Lead *lead, Placement *p)
{
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	uint64		added;

	if (lead->phone == NULL && lead->email == NULL)
		return;
	args[0] = Int64GetDatum(p->contact_id);
	args[1] = opt_text(lead->phone, &nulls[1]);
	args[2] = opt_text(lead->email, &nulls[2]);
	added = crm_plan_run(&add_contact_points, args, nulls, 0, SPI_OK_INSERT_RETURNING);
	for (uint64 i = 0; i < added; i++)
	{
		int64		id;

		(void) crm_spi_int8(i, 1, &id);
		appendStringInfo(&p->added_points, "%s" INT64_FORMAT,
						 p->added_points.len ? ", " : "", id);
	}
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
		if (isalpha((unsigned char) *c))
			return lead->person_name;
	return lead->name_key;
}

static void
create_contact(const Lead *lead, Placement *p)
{
	Datum		args[7];
	char		nulls[7];

	p->owner = p->account_owner;
	args[0] = opt_int8(p->account_id, &nulls[0]);
	args[1] = opt_text(display_name(lead), &nulls[1]);
	args[2] = opt_text(lead->title, &nulls[2]);
	args[3] = opt_text(lead->wechat_openid, &nulls[3]);
	args[4] = opt_text(p->owner, &nulls[4]);
	args[5] = opt_text(lead->phone, &nulls[5]);
	args[6] = opt_text(lead->email, &nulls[6]);
	(void) crm_plan_run(&insert_contact, args, nulls, 0, SPI_OK_SELECT);
	(void) crm_spi_int8(0, 1, &p->contact_id);
	p->customer_code = crm_spi_text(0, 2);
}


static void
note_change(Placement *p, const char *field_name, const char *old, const char *new)
{
	if (p->changes.len)
		appendStringInfoString(&p->changes, ", ");
	appendStringInfo(&p->changes, "{\"field\": \"%s\", \"old\": ", field_name);
	if (old)
		escape_json(&p->changes, old);
	else
		appendStringInfoString(&p->changes, "null");
	appendStringInfoString(&p->changes, ", \"new\": ");
	escape_json(&p->changes, new);
	appendStringInfoChar(&p->changes, '}');
}

/*
 * A text field takes the lead's value when it is empty, or when replace
 * is allowed and it differs; a confirmed field never changes.
 */
static char *
merged_value(Placement *p, const Candidate *c, const char *field_name,
			 char *stored, char *offered, bool replace)
{
	if (offered == NULL || in_list(field_name, c->verified_fields) ||
		(stored && (!replace || strcmp(stored, offered) == 0)))
		return stored;
	note_change(p, field_name, stored, offered);
	return offered;
}

/* No live contact holds the openid yet: it is unique among them. */
static bool
openid_is_free(const char *openid)
{
	Datum		arg;

	if (openid == NULL)
		return false;
	arg = CStringGetTextDatum(openid);
	return crm_plan_run(&contact_by_openid, &arg, NULL, 1, SPI_OK_SELECT) == 0;
}

static void
merge_into_contact(const Lead *lead, Placement *p)
{
	Candidate  *c = p->match.best;
	Datum		args[5];
	char		nulls[5];
	char	   *name = merged_value(p, c, "name", c->name, display_name(lead), false);
	char	   *title = merged_value(p, c, "title", c->title, lead->title, true);
	char	   *openid = merged_value(p, c, "wechat_openid", c->wechat_openid,
									  c->wechat_openid == NULL && openid_is_free(lead->wechat_openid)
									  ? lead->wechat_openid : NULL, false);
	int64		account_id = c->account_id;

	if (account_id == 0 && p->account_id && !in_list("account_id", c->verified_fields))
	{
		account_id = p->account_id;
		note_change(p, "account_id", NULL, psprintf(INT64_FORMAT, account_id));
	}
	if (p->changes.len)
	{
		args[0] = Int64GetDatum(c->id);
		args[1] = opt_text(name, &nulls[1]);
		args[2] = opt_text(title, &nulls[2]);
		args[3] = opt_int8(account_id, &nulls[3]);
		args[4] = opt_text(openid, &nulls[4]);
		nulls[0] = ' ';
		(void) crm_plan_run(&update_contact, args, nulls, 0, SPI_OK_UPDATE);
	}
	add_points(lead, p);
}

/*
 * Attach the lead to the stored contact the match chose.  A merged lead's
 * organisation is the one it plainly names, else the contact's: a company
 * name that finds nothing is then more likely a spelling than a new
 * employer.  A lead under review keeps its own, in case it is rejected.
 */
static void
attach_to_candidate(const Lead *lead, Placement *p)
{
	Candidate  *c = p->match.best;

	if (p->match.outcome == MATCH_MERGED && p->accounts.resolved < 0 && c->account_id)
	{
		p->account_id = c->account_id;
		p->account_outcome = "matched";
	}
	else
		place_account(lead, p);
	p->contact_id = c->id;
	p->customer_code = c->code;
	p->owner = c->owner ? c->owner : p->account_owner;
	if (p->match.outcome == MATCH_MERGED)
		merge_into_contact(lead, p);
}

static Datum
warnings_array(const Lead *lead, char *null)
{
	ArrayBuildState *astate = NULL;
	ListCell   *lc;

	*null = ' ';
	foreach(lc, lead->warnings)
		astate = accumArrayResult(astate, CStringGetTextDatum(lfirst(lc)), false,
								  TEXTOID, CurrentMemoryContext);
	if (astate == NULL)
		return PointerGetDatum(construct_empty_array(TEXTOID));
	return makeArrayResult(astate, CurrentMemoryContext);
}

static int64
store_lead(const Lead *lead, const Placement *p)
{
	Datum		a[22];
	char		n[22];
	int64		id;

	a[0] = opt_text(lead->channel, &n[0]);
	a[1] = opt_text(lead->source_label, &n[1]);
	a[2] = opt_text(lead->external_id, &n[2]);
	a[3] = opt_text(lead->person_name, &n[3]);
	a[4] = opt_text(lead->company_name, &n[4]);
	a[5] = opt_text(lead->phone, &n[5]);
	a[6] = opt_text(lead->email, &n[6]);
	a[7] = opt_text(lead->uscc, &n[7]);
	a[8] = opt_text(lead->region_code, &n[8]);
	a[9] = opt_text(lead->title, &n[9]);
	a[10] = opt_text(lead->product_line, &n[10]);
	a[11] = opt_text(lead->wechat_openid, &n[11]);
	a[12] = opt_text(lead->notes, &n[12]);
	a[13] = warnings_array(lead, &n[13]);
	a[14] = JsonbPGetDatum(lead->payload);
	n[14] = ' ';
	a[15] = opt_int8(p->contact_id, &n[15]);
	a[16] = opt_int8(p->account_id, &n[16]);
	a[17] = opt_text(crm_match_outcome_name(p->match.outcome), &n[17]);
	a[18] = opt_text(p->account_outcome, &n[18]);
	a[19] = Float4GetDatum((float4) p->match.score);
	n[19] = p->match.has_score ? ' ' : 'n';
	a[20] = opt_text(p->owner, &n[20]);
	a[21] = opt_text(lead->created_at, &n[21]);
	(void) crm_plan_run(&insert_lead, a, n, 0, SPI_OK_INSERT_RETURNING);
	(void) crm_spi_int8(0, 1, &id);
	return id;
}

static Jsonb *
json_of(const char *text)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

/* Phone, e-mail or openid coincide: a strong sign of one customer. */
static bool
shares_identifier(const Lead *lead, const Candidate *c)
{
	return in_list(lead->phone, c->phones) || in_list(lead->email, c->emails) ||
		(lead->wechat_openid && c->wechat_openid &&
		 strcmp(lead->wechat_openid, c->wechat_openid) == 0);
}

static void
record_outcome(const Lead *lead, Placement *p, int64 lead_id)
{
	if (p->match.outcome == MATCH_REVIEW)
	{
		Candidate  *c = p->match.best;
		Datum		args[5] = {Int64GetDatum(lead_id), Int64GetDatum(c->id),
			Float4GetDatum((float4) c->score),
			JsonbPGetDatum(crm_match_evidence(lead, &p->accounts, c)),
		BoolGetDatum(shares_identifier(lead, c))};

		(void) crm_plan_run(&insert_review, args, NULL, 0, SPI_OK_INSERT);
	}
	else if (p->match.outcome == MATCH_MERGED && (p->changes.len || p->added_points.len))
	{
		Datum		args[4] = {Int64GetDatum(p->contact_id), Int64GetDatum(lead_id),
			JsonbPGetDatum(json_of(psprintf("[%s]", p->changes.data))),
		JsonbPGetDatum(json_of(psprintf("{\"contact_point\": [%s]}", p->added_points.data)))};

		(void) crm_plan_run(&insert_history, args, NULL, 0, SPI_OK_INSERT);
	}
}

IngestResult
crm_ingest_store(Lead *lead)
{
	IngestResult r = {0};
	Placement	p = {0};

	lock_keys(lead);
	if (existing_lead(lead, &r))
		return r;
	initStringInfo(&p.changes);
	initStringInfo(&p.added_points);
	p.accounts = crm_match_accounts(lead);
	p.match = crm_match_contact(lead, &p.accounts);
	if (p.match.outcome == MATCH_NEW)
	{
		place_account(lead, &p);
		create_contact(lead, &p);
	}
	else
		attach_to_candidate(lead, &p);
	r.lead_id = store_lead(lead, &p);
	record_outcome(lead, &p, r.lead_id);
	r.contact_id = p.contact_id;
	r.account_id = p.account_id;
	r.customer_code = p.customer_code;
	r.outcome = crm_match_outcome_name(p.match.outcome);
	r.has_match_score = p.match.has_score;
	r.match_score = p.match.score;
	r.owner = p.owner;
	return r;
}

/* ---------------------------------------------------------------------
 * crm.ingest(channel text, payload jsonb) -> crm.ingest_result
 * --------------------------------------------------------------------- */

static HeapTuple
result_tuple(TupleDesc desc, const IngestResult *r)
{
	Datum		v[8];
	bool		n[8] = {false};

	v[0] = Int64GetDatum(r->lead_id);
	v[1] = Int64GetDatum(r->contact_id);
	n[1] = r->contact_id == 0;
	v[2] = Int64GetDatum(r->account_id);
	n[2] = r->account_id == 0;
	n[3] = r->customer_code == NULL;
	v[3] = n[3] ? (Datum) 0 : CStringGetTextDatum(r->customer_code);
	v[4] = CStringGetTextDatum(r->outcome);
	v[5] = Float4GetDatum((float4) r->match_score);
	n[5] = !r->has_match_score;
	v[6] = Int32GetDatum(r->lead_score);
	n[6] = !r->has_lead_score;
	n[7] = r->owner == NULL;
	v[7] = n[7] ? (Datum) 0 : CStringGetTextDatum(r->owner);
	return heap_form_tuple(desc, v, n);
}

Datum
crm_ingest(PG_FUNCTION_ARGS)
{
	char	   *channel = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Jsonb	   *payload = PG_GETARG_JSONB_P(1);
	MemoryContext caller = CurrentMemoryContext;
	TupleDesc	desc;
	IngestResult r;
	HeapTuple	tuple;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "crm.ingest must return a composite type");
	desc = BlessTupleDesc(desc);
	SPI_connect();
	r = crm_ingest_store(crm_ingest_prepare(channel, payload));
	MemoryContextSwitchTo(caller);
	tuple = result_tuple(desc, &r);
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}

/* ---------------------------------------------------------------------
 * crm.merge_lead(lead_id bigint, contact_id bigint): a reviewer's "yes"
 * --------------------------------------------------------------------- */

static CrmPlan stored_lead = {
	"SELECT person_name, crm.norm_person_name(person_name), title, wechat_openid, phone, email,"
	"       account_id FROM crm.lead WHERE id = $1 FOR UPDATE",
	1, {INT8OID}
};
static CrmPlan attach_lead = {
	"UPDATE crm.lead SET contact_id = $2, outcome = 'merged' WHERE id = $1",
	2, {INT8OID, INT8OID}
};

/* The fields of a stored lead that a merge uses. */
static Lead *
load_lead(int64 lead_id, int64 *account_id)
{
	Datum		arg = Int64GetDatum(lead_id);
	Lead	   *lead = palloc0(sizeof(Lead));

	if (crm_plan_run(&stored_lead, &arg, NULL, 1, SPI_OK_SELECT) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("lead " INT64_FORMAT " does not exist", lead_id)));
	lead->person_name = crm_spi_text(0, 1);
	lead->name_key = crm_spi_text(0, 2);
	lead->title = crm_spi_text(0, 3);
	lead->wechat_openid = crm_spi_text(0, 4);
	lead->phone = crm_spi_text(0, 5);
	lead->email = crm_spi_text(0, 6);
	(void) crm_spi_int8(0, 7, account_id);
	return lead;
}

Datum
crm_merge_lead(PG_FUNCTION_ARGS)
{
	int64		lead_id = PG_GETARG_INT64(0);
	int64		contact_id = PG_GETARG_INT64(1);
	Candidate	contact;
	Placement	p = {0};
	Lead	   *lead;
	Datum		args[2] = {Int64GetDatum(lead_id), Int64GetDatum(contact_id)};

	SPI_connect();
	lead = load_lead(lead_id, &p.account_id);
	if (!crm_match_load_contact(contact_id, &contact))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("contact " INT64_FORMAT " does not exist or was merged", contact_id),
				 errhint("crm.resolve_code() gives the contact a merged code lives on in.")));
	initStringInfo(&p.changes);
	initStringInfo(&p.added_points);
	p.match.outcome = MATCH_MERGED;
	p.match.best = &contact;
	p.contact_id = contact_id;
	merge_into_contact(lead, &p);
	record_outcome(lead, &p, lead_id);
	(void) crm_plan_run(&attach_lead, args, NULL, 0, SPI_OK_UPDATE);
	SPI_finish();
	PG_RETURN_VOID();
}
