/*
 * lead_inbox.c: bulk ingestion through INSERT or COPY into crm.lead_inbox.
 *
 * A BEFORE ROW trigger prepares each row (maps and normalises it) and
 * queues it in a batch, returning NULL, so the inbox stays empty and no
 * after-trigger event is queued per row; every BATCH_SIZE rows, and at the
 * end of the statement, the batch is matched and stored with the meaning
 * of crm.ingest row after row (ingest_batch.c).  Memory stays that of one
 * batch.  A row that cannot be ingested (bad payload, unknown channel) is
 * caught in a subtransaction that writes nothing, so it costs no
 * subtransaction id, and goes to crm.lead_quarantine with its reason; the
 * good rows of the statement are ingested.  So does a lead whose write
 * fails (a constraint, a user's trigger): each wave is written in a
 * subtransaction, and a failed one again in halves until the lead at
 * fault is found.  The statement takes every matching lock before its
 * first batch is matched, and holds them to the end of the transaction, so
 * rows need none of their own; preparing the first batch needs no lock, so
 * it overlaps with another session's statement.  An import chunk that
 * claims keys (crm.import_claims) claims each batch's instead, and leaves
 * out the leads whose keys another chunk holds (match_claim.c).
 *
 * crm.lead_inbox_text takes the payload as text, so that a line that is
 * not JSON fails alone: PostgreSQL would refuse it while reading the COPY
 * into crm.lead_inbox's jsonb column, and the whole statement with it.
 * Here it is parsed in the row's subtransaction, and a line that does not
 * parse is quarantined as it came (raw_payload), to be fixed and replayed.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "ingest.h"
#include "import.h"
#include "ingest_batch.h"
#include "match_claim.h"
#include "spi_plan.h"

/* Rows matched and stored together: big enough that per-statement costs vanish. */
#define BATCH_SIZE 1000

PG_FUNCTION_INFO_V1(crm_lead_inbox_ingest);
PG_FUNCTION_INFO_V1(crm_lead_inbox_statement);
PG_FUNCTION_INFO_V1(crm_lead_inbox_counts);

typedef struct InboxCounts
{
	int64		ingested;
	int64		quarantined;
	int64		duplicates;
	int64		batch_id;		/* of its quarantined rows; 0: none yet */
} InboxCounts;

static InboxCounts current;		/* the statement under way */
static InboxCounts last;		/* the last one that finished */
static IngestBatch *batch = NULL;	/* rows prepared, not yet stored */

CRM_KEPT_PLAN(insert_quarantine) = {
	"INSERT INTO crm.lead_quarantine (batch_id, channel, payload, sqlstate, reason, detail, context)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7)",
	7, {INT8OID, TEXTOID, JSONBOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID}
};
/*
 * A line of crm.lead_inbox_text that is not JSON.  A statement of its own:
 * this library also serves a 1.0 catalog until ALTER EXTENSION crm UPDATE,
 * whose quarantine has no raw_payload (and which has no text inbox).
 */
CRM_KEPT_PLAN(insert_quarantine_raw) = {
	"INSERT INTO crm.lead_quarantine (batch_id, channel, payload, sqlstate, reason, detail, context, raw_payload)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
	8, {INT8OID, TEXTOID, JSONBOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID}
};
CRM_KEPT_PLAN(next_batch_id) = {
	"SELECT nextval('crm.lead_quarantine_batch_seq')", 0, {InvalidOid}
};

static Datum
opt_text(const char *s, char *null)
{
	*null = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/* The statement's batch id, drawn when it quarantines its first row. */
static int64
batch_id(void)
{
	if (current.batch_id == 0)
	{
		(void) crm_plan_run(&next_batch_id, NULL, NULL, 1, SPI_OK_SELECT);
		(void) crm_spi_int8(0, 1, &current.batch_id);
	}
	return current.batch_id;
}

/* raw: the text payload that did not parse, else NULL */
static void
quarantine(const char *channel, Jsonb *payload, const char *raw, const ErrorData *e)
{
	Datum		args[8];
	char		nulls[8] = {' '};

	args[0] = Int64GetDatum(batch_id());
	args[1] = opt_text(channel, &nulls[1]);
	args[2] = PointerGetDatum(payload);
	nulls[2] = payload ? ' ' : 'n';
	args[3] = opt_text(unpack_sql_state(e->sqlerrcode), &nulls[3]);
	args[4] = opt_text(e->message, &nulls[4]);
	args[5] = opt_text(e->detail ? e->detail : e->hint, &nulls[5]);
	args[6] = opt_text(e->context, &nulls[6]);
	args[7] = opt_text(raw, &nulls[7]);
	(void) crm_plan_run(raw ? &insert_quarantine_raw : &insert_quarantine, args, nulls, 0, SPI_OK_INSERT);
	current.quarantined++;
}

/*
 * The prepared lead, or NULL when the row went to quarantine.  raw: a text
 * payload, parsed here (payload is then NULL).
 */
static Lead *
prepare_or_quarantine(const char *channel, Jsonb *payload, const char *raw)
{
	ErrorData  *e;
	Lead	   *lead = crm_ingest_try_prepare(channel, &payload, raw, &e);

	if (lead == NULL)
		quarantine(channel, payload, payload ? NULL : raw, e);
	return lead;
}

static void
require_trigger(FunctionCallInfo fcinfo, bool row)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BY_INSERT(td->tg_event) ||
		(TRIGGER_FIRED_FOR_ROW(td->tg_event) != 0) != row ||
		(row && !TRIGGER_FIRED_BEFORE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must be fired %s INSERT", row ? "crm.lead_inbox_ingest()" : "crm.lead_inbox_statement()",
						row ? "BEFORE, FOR EACH ROW, on" : "FOR EACH STATEMENT, on")));
}

/* A copy of a column of the row, or NULL. */
static void *
column(TriggerData *td, int attnum, bool jsonb)
{
	bool		isnull;
	Datum		d = heap_getattr(td->tg_trigtuple, attnum, td->tg_relation->rd_att, &isnull);

	if (isnull)
		return NULL;
	return jsonb ? (void *) DatumGetJsonbPCopy(d) : (void *) TextDatumGetCString(d);
}

/* Whether the inbox takes its payload as jsonb (crm.lead_inbox), else as text. */
static bool
payload_is_jsonb(TriggerData *td)
{
	return TupleDescAttr(td->tg_relation->rd_att, 1)->atttypid == JSONBOID;
}

/*
 * The row prepared as a lead, in a context of its own inside the batch:
 * kept until the batch is stored, or freed at once when the row goes to
 * quarantine, so that a COPY of bad rows does not grow the batch.
 */
static Lead *
prepare_row(TriggerData *td)
{
	MemoryContext row = AllocSetContextCreate(crm_batch_context(batch), "crm lead inbox row",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(row);
	bool		jsonb = payload_is_jsonb(td);
	Lead	   *lead = prepare_or_quarantine(column(td, 1, false), jsonb ? column(td, 2, true) : NULL,
											 jsonb ? NULL : column(td, 2, false));

	MemoryContextSwitchTo(old);
	if (lead == NULL)
		MemoryContextDelete(row);
	return lead;
}

/*
 * A statement starts afresh: nothing left from one that failed half-way,
 * whose queued rows were rolled back with it.
 */
static void
begin_statement(void)
{
	if (batch == NULL)
		batch = crm_batch_create(TopMemoryContext);
	crm_batch_discard(batch);
	memset(&current, 0, sizeof(current));
	crm_ingest_cache_channels();
}

/* A lead whose write failed (a constraint, a trigger): quarantined alone. */
static void
quarantine_lead(const Lead *lead, ErrorData *error)
{
	quarantine(lead->channel, lead->payload, NULL, error);
}

static void
flush_batch(void)
{
	int64		quarantined = current.quarantined;
	int64		duplicates;

	/* a lead left out for its claimed keys stays pending in its import */
	if (crm_batch_size(batch) > 0 && crm_import_claims_keys())
		crm_match_claim_batch(batch);
	else if (crm_batch_size(batch) > 0)
		crm_ingest_lock_all();
	current.ingested += crm_batch_size(batch);
	duplicates = crm_batch_flush(batch, NULL, quarantine_lead);
	current.duplicates += duplicates;
	current.ingested -= current.quarantined - quarantined + duplicates;
}

Datum
crm_lead_inbox_ingest(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Lead	   *lead;

	require_trigger(fcinfo, true);
	if (batch == NULL)
		begin_statement();
	SPI_connect();
	lead = prepare_row(td);
	if (lead)
		crm_batch_add(batch, lead);
	if (crm_batch_size(batch) >= BATCH_SIZE)
		flush_batch();
	SPI_finish();
	return PointerGetDatum(NULL);	/* the inbox keeps nothing */
}

/* BEFORE STATEMENT: start counting; AFTER STATEMENT: store the rest, report. */
Datum
crm_lead_inbox_statement(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	require_trigger(fcinfo, false);
	if (TRIGGER_FIRED_BEFORE(td->tg_event))
	{
		begin_statement();
		return PointerGetDatum(NULL);
	}
	SPI_connect();
	flush_batch();
	SPI_finish();
	last = current;
	if (last.quarantined > 0)
		ereport(WARNING,
				(errmsg("crm.%s: " INT64_FORMAT " rows ingested, " INT64_FORMAT " quarantined",
						RelationGetRelationName(td->tg_relation), last.ingested, last.quarantined),
				 errhint("The reasons are in crm.lead_quarantine, under the batch_id that crm.lead_inbox_counts() reports.")));
	return PointerGetDatum(NULL);
}

/* crm.lead_inbox_counts(): what the last statement of this session did. */
Datum
crm_lead_inbox_counts(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[4] = {Int64GetDatum(last.ingested), Int64GetDatum(last.quarantined),
	Int64GetDatum(last.duplicates), Int64GetDatum(last.batch_id)};
	bool		nulls[4] = {false, false, false, last.batch_id == 0};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "crm.lead_inbox_counts must return a composite type");
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
