/*
 * ingest.c: crm.ingest(channel, payload), one lead in.
 *
 * A lead is mapped through its channel's field map and normalised
 * (crm_ingest_prepare, which writes nothing, so the bulk path can
 * quarantine a bad row), then matched and stored (crm_batch_flush):
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
#include "import.h"
#include "ingest.h"
#include "ingest_batch.h"
#include "ingest_map.h"
#include "lead_time.h"
#include "normalize.h"
#include "person.h"
#include "phone.h"
#include "pinyin.h"
#include "quote.h"
#include "spi_plan.h"
#include "subtransaction.h"
#include "utf8.h"

PG_FUNCTION_INFO_V1(crm_ingest);
PG_FUNCTION_INFO_V1(crm_lead_check);
PG_FUNCTION_INFO_V1(crm_merge_lead);

/* Advisory lock space of the matching locks: (0x43524D "CRM", bucket). */
#define MATCH_LOCK_CLASS 0x43524D
#define MATCH_LOCK_BUCKETS 1024

/* external_id and wechat_openid are indexed; real ones are far shorter. */
#define MAX_IDENTIFIER_BYTES 256
/* Names, titles, product lines and region codes: stored, matched and shown. */
#define MAX_NAME_BYTES 1024

/* The zone the channel's local times are read in: its own, else the business zone. */
CRM_KEPT_PLAN(channel_by_code) = {
	"SELECT field_map, source_label, coalesce(time_zone, crm.business_time_zone())"
	" FROM crm.channel WHERE code = $1",
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
	pg_tz	   *zone;
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
read_channel(const char *channel, char **source_label, pg_tz **zone)
{
	Datum		arg = CStringGetTextDatum(channel);
	bool		isnull;

	if (crm_plan_run(&channel_by_code, &arg, NULL, 1, SPI_OK_SELECT) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("unknown lead channel %s", crm_quote_value(channel)),
				 errhint("Channels are listed in crm.channel.")));
	*source_label = crm_spi_text(0, 2);
	*zone = crm_time_zone(crm_spi_text(0, 3));
	return DatumGetJsonbPCopy(crm_spi_datum(0, 1, &isnull));
}

static Jsonb *
channel_map(const char *channel, char **source_label, pg_tz **zone)
{
	CachedChannel *c;
	MemoryContext old;

	if (!caching_channels())
		return read_channel(channel, source_label, zone);
	/* read outside the cache: an unknown channel leaves nothing in it */
	if ((c = cached_channel(channel)) == NULL)
	{
		Jsonb	   *map = read_channel(channel, source_label, zone);

		old = MemoryContextSwitchTo(channel_cache_cxt);
		c = palloc(sizeof(CachedChannel));
		c->code = pstrdup(channel);
		c->source_label = pstrdup(*source_label);
		c->map = DatumGetJsonbPCopy(JsonbPGetDatum(map));
		c->zone = *zone;			/* pg_tzset's zones live as long as the backend */
		channel_cache = lappend(channel_cache, c);
		MemoryContextSwitchTo(old);
	}
	*source_label = c->source_label;
	*zone = c->zone;
	return c->map;
}

static char *
field(Jsonb *fields, const char *name)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&fields->root, name, strlen(name), NULL);

	return v ? pnstrdup(v->val.string.val, v->val.string.len) : NULL;
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
								 psprintf("%s %s is not usable", what, crm_quote_value(value)));
	return key;
}

static void
normalise_lead(Lead *lead, Jsonb *fields)
{
	lead->phone = key_of(lead, crm_norm_phone, lead->phone, "phone");
	lead->email = key_of(lead, crm_norm_email, lead->email, "email");
	lead->uscc = key_of(lead, crm_norm_uscc, lead->uscc, "credit code");
	lead->name_key = key_of(lead, crm_norm_person_name, lead->person_name, "person name");
	if (lead->name_key)
		lead->name_pinyin = crm_normalize_bytes(crm_pinyin, lead->name_key, strlen(lead->name_key));
	lead->company_key = key_of(lead, crm_norm_company_name, lead->company_name, "company name");
	if (lead->company_name)
		lead->company_region = crm_normalize_bytes(crm_company_region, lead->company_name,
												   strlen(lead->company_name));
	if (lead->region_code &&
		!crm_region_code_is_valid(lead->region_code, strlen(lead->region_code)))
	{
		lead->warnings = lappend(lead->warnings,
								 psprintf("region code %s is not a GB/T 2260 code",
										  crm_quote_value(lead->region_code)));
		lead->region_code = NULL;
	}
}

/* Identifiers are compared as given, so blanks around them are noise. */
static char *
trimmed(char *s)
{
	size_t		start = 0;
	size_t		end;

	if (s == NULL)
		return NULL;
	end = strlen(s);
	crm_trim_spaces(s, &start, &end);
	s[end] = '\0';
	return end > start ? s + start : NULL;
}

static void
require_short(const char *name, const char *value, size_t max_bytes)
{
	if (value && strlen(value) > max_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("lead field \"%s\" is too long", name),
				 errdetail("It has %zu bytes; it may have at most %zu.",
						   strlen(value), max_bytes)));
}

/*
 * After normalisation something must still say who this is.  An openid of
 * blanks counts as none, as an empty one does, without a warning.
 */
static void
require_usable_identity(const Lead *lead, Jsonb *fields)
{
	StringInfoData why;
	ListCell   *lc;

	if (lead->phone || lead->email || lead->wechat_openid || lead->name_key)
		return;
	initStringInfo(&why);
	foreach(lc, lead->warnings)
		appendStringInfo(&why, "%s%s", why.len ? "; " : "", (char *) lfirst(lc));
	if (field(fields, "wechat_openid"))
		appendStringInfo(&why, "%sthe wechat openid is blank", why.len ? "; " : "");
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("lead payload identifies nobody"),
			 errdetail("No phone, e-mail, openid or person name in it is usable: %s.", why.data)));
}

/* A field's value as the field map gave it, read as its kind says. */
static char *
mapped_value(Jsonb *fields, const LeadFieldInfo *f)
{
	char	   *value = field(fields, f->name);

	switch (f->kind)
	{
		case LEAD_IDENTIFIER:
			value = trimmed(value);
			require_short(f->name, value, MAX_IDENTIFIER_BYTES);
			break;
		case LEAD_NAME:
			/* a control character in a name is an export's debris, never meant */
			if (value)
				value[crm_drop_controls(value, strlen(value))] = '\0';
			require_short(f->name, value, MAX_NAME_BYTES);
			break;
		case LEAD_TEXT:
		case LEAD_KEY:
		case LEAD_TIME:
			break;
	}
	return value;
}

void
crm_ingest_require_input(bool has_channel, bool has_payload)
{
	if (!has_channel || !has_payload)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lead %s is null", has_channel ? "payload" : "channel"),
				 errhint("A lead needs a channel of crm.channel and a JSON object payload.")));
}

/* The lead's fields as mapped: checked and normalised. */
static void
read_fields(Lead *lead, Jsonb *fields)
{
	for (int f = 0; f < CRM_N_LEAD_FIELDS; f++)
		crm_lead_value(lead, &crm_lead_fields[f]) = mapped_value(fields, &crm_lead_fields[f]);
	normalise_lead(lead, fields);
	require_usable_identity(lead, fields);
}

Lead *
crm_ingest_prepare(const char *channel, Jsonb *payload)
{
	Lead	   *lead = palloc0(sizeof(Lead));
	char	   *source_label;
	pg_tz	   *zone;
	Jsonb	   *map = channel_map(channel, &source_label, &zone);
	List	   *map_warnings = NIL;
	Jsonb	   *fields = crm_map_lead(map, payload, zone, &map_warnings);

	lead->channel = pstrdup(channel);
	lead->source_label = source_label;
	lead->payload = payload;
	read_fields(lead, fields);
	crm_import_require_own_ref(lead);
	/* after the identity check, whose detail lists unusable values only */
	lead->warnings = list_concat(map_warnings, lead->warnings);
	return lead;
}

/* A stored lead's fields, as its field map gave them (normalised values are again). */
CRM_KEPT_PLAN(stored_fields) = {
	"SELECT channel, jsonb_strip_nulls(jsonb_build_object('external_id', external_id,"
	"   'person_name', person_name, 'company_name', company_name, 'phone', phone, 'email', email,"
	"   'uscc', uscc, 'region_code', region_code, 'title', title, 'product_line', product_line,"
	"   'wechat_openid', wechat_openid)), contact_id"
	" FROM crm.lead WHERE id = $1",
	1, {INT8OID}
};

Lead *
crm_ingest_stored_lead(int64 lead_id, int64 *contact_id)
{
	Datum		arg = Int64GetDatum(lead_id);
	Lead	   *lead = palloc0(sizeof(Lead));
	bool		isnull;

	if (crm_plan_run(&stored_fields, &arg, NULL, 1, SPI_OK_SELECT) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("lead " INT64_FORMAT " does not exist", lead_id)));
	lead->channel = crm_spi_text(0, 1);
	(void) crm_spi_int8(0, 3, contact_id);
	read_fields(lead, DatumGetJsonbPCopy(crm_spi_datum(0, 2, &isnull)));
	return lead;
}

/* A text payload as JSON; 22P02 when it is not. */
static Jsonb *
parse_payload(const char *raw)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(raw)));
}

typedef struct Preparation
{
	const char *channel;
	Jsonb	  **payload;
	const char *raw;
	Lead	   *lead;
} Preparation;

static void
prepare_step(void *arg)
{
	Preparation *p = arg;

	if (p->raw != NULL)
		*p->payload = parse_payload(p->raw);
	crm_ingest_require_input(p->channel != NULL, *p->payload != NULL);
	p->lead = crm_ingest_prepare(p->channel, *p->payload);
}

Lead *
crm_ingest_try_prepare(const char *channel, Jsonb **payload, const char *raw, ErrorData **error)
{
	Preparation p = {channel, payload, raw, NULL};

	*error = crm_try_step(prepare_step, &p);
	return *error ? NULL : p.lead;
}

/* ---------------------------------------------------------------------
 * Matching locks
 * --------------------------------------------------------------------- */

static LocalTransactionId all_locked_lxid = InvalidLocalTransactionId;
static SubTransactionId all_locked_subxid = InvalidSubTransactionId;

static void
lock_bucket(uint32 bucket, LOCKMODE mode)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, MATCH_LOCK_CLASS, bucket, 2);
	if (LockAcquire(&tag, mode, false, true) != LOCKACQUIRE_NOT_AVAIL)
		return;
	(void) LockAcquire(&tag, mode, false, false);
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
		lock_bucket(b, ExclusiveLock);
	all_locked_lxid = MyProc->lxid;
	all_locked_subxid = GetCurrentSubTransactionId();
}

void
crm_ingest_lock_all_shared(void)
{
	for (uint32 b = 0; b < MATCH_LOCK_BUCKETS; b++)
		lock_bucket(b, ShareLock);
}

uint32
crm_ingest_key_hash(const BlockingKey *key)
{
	uint32		h = hash_bytes((const unsigned char *) key->value, strlen(key->value));

	return hash_combine(h, (uint32) key->kind);
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
	BlockingKey keys[CRM_MAX_BLOCKING_KEYS];
	uint32		buckets[CRM_MAX_BLOCKING_KEYS];
	int			n;

	if (holding_all_buckets())
		return;
	n = crm_match_blocking_keys(lead, keys);
	for (int i = 0; i < n; i++)
		buckets[i] = crm_ingest_key_hash(&keys[i]) % MATCH_LOCK_BUCKETS;
	qsort(buckets, n, sizeof(uint32), compare_uint32);
	for (int i = 0; i < n; i++)
		if (i == 0 || buckets[i] != buckets[i - 1])
			lock_bucket(buckets[i], ExclusiveLock);
}

/* ---------------------------------------------------------------------
 * crm.ingest(channel text, payload jsonb) -> crm.ingest_result
 * --------------------------------------------------------------------- */

static HeapTuple
result_tuple(TupleDesc desc, const IngestResult *r)
{
	Datum		v[10];
	bool		n[10] = {false};

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
	n[8] = r->status == NULL;
	v[8] = n[8] ? (Datum) 0 : CStringGetTextDatum(r->status);
	n[9] = r->waiting_reason == NULL;
	v[9] = n[9] ? (Datum) 0 : CStringGetTextDatum(r->waiting_reason);
	return heap_form_tuple(desc, v, n);
}

/* Not STRICT: a NULL channel or payload is refused, not answered with NULLs. */
Datum
crm_ingest(PG_FUNCTION_ARGS)
{
	char	   *channel;
	Jsonb	   *payload;
	MemoryContext caller = CurrentMemoryContext;
	TupleDesc	desc;
	IngestBatch *batch;
	IngestResult r;
	HeapTuple	tuple;
	Lead	   *lead;

	crm_ingest_require_input(!PG_ARGISNULL(0), !PG_ARGISNULL(1));
	channel = text_to_cstring(PG_GETARG_TEXT_PP(0));
	payload = PG_GETARG_JSONB_P(1);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "crm.ingest must return a composite type");
	desc = BlessTupleDesc(desc);
	SPI_connect();
	batch = crm_batch_create(CurrentMemoryContext);
	lead = crm_ingest_prepare(channel, payload);
	lock_keys(lead);
	crm_batch_add(batch, lead);
	crm_batch_flush(batch, &r, NULL);
	MemoryContextSwitchTo(caller);
	tuple = result_tuple(desc, &r);
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}

/*
 * crm.lead_check(channel text, payload jsonb): raises what ingesting the
 * payload would raise, and stores nothing.  crm.import_check foretells the
 * commit's rejections with it, so that both say the same.
 */
Datum
crm_lead_check(PG_FUNCTION_ARGS)
{
	crm_ingest_require_input(!PG_ARGISNULL(0), !PG_ARGISNULL(1));
	SPI_connect();
	(void) crm_ingest_prepare(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_JSONB_P(1));
	SPI_finish();
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * crm.merge_lead(lead_id bigint, contact_id bigint): a reviewer's "yes"
 * --------------------------------------------------------------------- */

CRM_KEPT_PLAN(stored_lead) = {
	"SELECT person_name, crm.norm_person_name(person_name) AS name_key, title, wechat_openid,"
	"       phone, email, account_id FROM crm.lead WHERE id = $1 FOR UPDATE",
	1, {INT8OID}
};

/* The fields of a stored lead that a merge uses: the plan's columns, by name. */
static Lead *
load_lead(int64 lead_id)
{
	static const char *const fields[] = {"person_name", "title", "wechat_openid", "phone", "email"};
	Datum		arg = Int64GetDatum(lead_id);
	Lead	   *lead = palloc0(sizeof(Lead));

	if (crm_plan_run(&stored_lead, &arg, NULL, 1, SPI_OK_SELECT) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("lead " INT64_FORMAT " does not exist", lead_id)));
	for (size_t i = 0; i < lengthof(fields); i++)
		crm_lead_value(lead, crm_lead_field(fields[i])) = crm_spi_text(0, crm_spi_column(fields[i], 1));
	lead->name_key = crm_spi_text(0, crm_spi_column("name_key", 1));
	(void) crm_spi_int8(0, crm_spi_column("account_id", 1), &lead->account_id);
	return lead;
}

Datum
crm_merge_lead(PG_FUNCTION_ARGS)
{
	int64		lead_id = PG_GETARG_INT64(0);
	int64		contact_id = PG_GETARG_INT64(1);
	IngestBatch *batch;

	SPI_connect();
	batch = crm_batch_create(CurrentMemoryContext);
	crm_batch_add_merge(batch, load_lead(lead_id), lead_id, contact_id);
	crm_batch_flush(batch, NULL, NULL);
	SPI_finish();
	PG_RETURN_VOID();
}
