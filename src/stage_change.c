/*
 * stage_change.c: what the stage changes of a statement leave behind,
 * written once per statement.
 *
 * crm.opportunity's AFTER INSERT and AFTER UPDATE statement triggers read
 * the statement's rows from its transition tables.  For each row whose
 * stage changed (every new one), after the row trigger
 * (src/opportunity_stage.c) let the move through crm.stage_transition:
 *
 * - a forward move or a win needs the stage's action package: every
 *   evidence kind of crm.stage_requirement attached since the current
 *   stage was entered, and every required field set.  A stage in enforce
 *   mode refuses an incomplete move (23514, the DETAIL lists what is
 *   missing); in warn mode the move goes through unverified.
 * - the change is written to crm.stage_history with the attachments it
 *   relied on (locked FOR KEY SHARE while it commits;
 *   crm.attachment_relied_on() keeps them after);
 * - the dwell limits of the stages left are cancelled (every countdown
 *   when the deal closes), those of the stages entered started.  The
 *   deadline on the team calendar is left to the next sweep: it takes
 *   milliseconds.
 *
 * Each of these is one statement over arrays of all the statement's rows:
 * a statement per row cost several times the work it did (issue 18).  The
 * arrays are unnested side by side in a select list (in step, as they
 * have the same length), which streams them; unnest() in FROM would copy
 * each into a tuplestore first.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "guards.h"
#include "opportunity_stage.h"
#include "quote.h"
#include "spi_plan.h"
#include "stage_history.h"

/* One row of the statement whose stage changed. */
typedef struct StageChange
{
	int64		id;
	const char *pipeline;
	const StageInfo *from;		/* NULL: created */
	const StageInfo *to;
	const char *direction;
	const char *owner;
	const char *team;
	Datum		since;			/* stage_entered_at before the move */
	int32		unset_fields;	/* bits over crm_stage_fields: NULL in the row */
	int			first_requirement;	/* where its requirements' evidence is (Evidence) */
	const char *reason;			/* why not verified; NULL: verified */
	const char *evidence;		/* the attachments relied on, an int8[] literal; NULL: none */
} StageChange;

typedef struct StageChanges
{
	StageChange *rows;
	int			n;
	int			allocated;
} StageChanges;

/* ---------------------------------------------------------------------
 * The statement's rows, from its transition tables
 * --------------------------------------------------------------------- */

typedef struct TransitionRows
{
	Tuplestorestate *store;		/* NULL: no such table (OLD on INSERT) */
	TupleTableSlot *slot;
} TransitionRows;

/* A read pointer of our own, from the start, as a scan in SQL takes one. */
static void
open_rows(TransitionRows *r, Tuplestorestate *store, TupleDesc desc)
{
	r->store = store;
	r->slot = NULL;
	if (store == NULL)
		return;
	tuplestore_select_read_pointer(store, tuplestore_alloc_read_pointer(store, EXEC_FLAG_REWIND));
	tuplestore_rescan(store);
	r->slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
}

static bool
next_row(TransitionRows *r)
{
	return r->store != NULL && tuplestore_gettupleslot(r->store, true, false, r->slot);
}

static void
close_rows(TransitionRows *r)
{
	if (r->slot != NULL)
		ExecDropSingleTupleTableSlot(r->slot);	/* it pins the relation's descriptor */
}

static Datum
value(TupleTableSlot *slot, const char *name, bool *isnull)
{
	int			attnum = SPI_fnumber(slot->tts_tupleDescriptor, name);

	if (attnum <= 0)
		elog(ERROR, "crm.opportunity has no column %s", name);
	return slot_getattr(slot, attnum, isnull);
}

static const char *
text_value(TupleTableSlot *slot, const char *name)
{
	bool		isnull;
	Datum		d = value(slot, name, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static StageChange *
add_change(StageChanges *c)
{
	if (c->n == c->allocated)
	{
		c->allocated = c->allocated ? 2 * c->allocated : 16;
		c->rows = c->rows ? repalloc(c->rows, c->allocated * sizeof(StageChange))
			: palloc(c->allocated * sizeof(StageChange));
	}
	return memset(&c->rows[c->n++], 0, sizeof(StageChange));
}

/* The row as stored now (new), and before the statement (old: NULL on INSERT) */
static void
note_change(StageChanges *c, TupleTableSlot *new, TupleTableSlot *old)
{
	const char *stage = text_value(new, "stage");
	const char *old_stage = old ? text_value(old, "stage") : NULL;
	StageChange *ch;
	bool		isnull;

	if (old != NULL && strcmp(stage, old_stage) == 0)
		return;
	ch = add_change(c);
	ch->id = DatumGetInt64(value(new, "id", &isnull));
	ch->pipeline = text_value(new, "pipeline");
	ch->from = old ? crm_stage_known(ch->pipeline, old_stage) : NULL;
	ch->to = crm_stage_known(ch->pipeline, stage);
	ch->direction = crm_stage_direction(ch->from, ch->to);
	ch->owner = text_value(new, "owner");
	ch->team = text_value(new, "team");
	if (old != NULL)
		ch->since = value(old, "stage_entered_at", &isnull);
	for (int i = 0; i < CRM_STAGE_FIELDS; i++)
	{
		value(new, crm_stage_fields[i], &isnull);
		if (isnull)
			ch->unset_fields |= 1 << i;
	}
}

static void
read_changes(StageChanges *c, TriggerData *td)
{
	TupleDesc	desc = td->tg_relation->rd_att;
	TransitionRows new;
	TransitionRows old;

	open_rows(&new, td->tg_newtable, desc);
	open_rows(&old, TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_oldtable : NULL, desc);
	/* the old and the new version of a row are stored together, in step */
	while (next_row(&new))
	{
		if (old.store != NULL && !next_row(&old))
			elog(ERROR, "crm: the transition tables of crm.opportunity are not in step");
		note_change(c, new.slot, old.store ? old.slot : NULL);
	}
	close_rows(&new);
	close_rows(&old);
}

/* ---------------------------------------------------------------------
 * The action package
 * --------------------------------------------------------------------- */

/*
 * Per requirement given (n: its place in the arrays), the newest
 * attachment that meets it, locked FOR KEY SHARE until the end of the
 * transaction (a deletion under way makes this wait, and the attachment is
 * then skipped; a deletion after this waits, and then finds it in the
 * history), or NULL.  The requirements themselves come from the cached
 * rules: the statement reads nothing else.
 */
CRM_KEPT_PLAN(stage_evidence) = {
	"SELECT x.n, (SELECT a.id FROM crm.attachment a"
	"   WHERE a.opportunity_id = x.id AND a.kind = x.kind AND a.content_type = ANY (x.content_types)"
	"     AND a.added_at >= x.since ORDER BY a.added_at DESC, a.id DESC LIMIT 1 FOR KEY SHARE)"
	" FROM (SELECT unnest($1::int4[]) AS n, unnest($2::int8[]) AS id, unnest($3::text[]) AS kind,"
	"              unnest($4::text[])::text[] AS content_types, unnest($5::timestamptz[]) AS since) x",
	5, {INT4ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID}
};

/* What the lookup found: per requirement of every checked row, from the row's first_requirement on. */
typedef struct Evidence
{
	int64	   *found;
	bool	   *met;
} Evidence;

static bool
checked(const StageChange *ch)
{
	return strcmp(ch->direction, "forward") == 0 || strcmp(ch->direction, "won") == 0;
}

typedef struct Missing
{
	StringInfoData what;		/* the DETAIL of a refusal */
	StringInfoData how;			/* its HINT */
} Missing;

static void
missing_what(const StageChange *ch, const bool *met, Missing *m)
{
	initStringInfo(&m->what);
	initStringInfo(&m->how);
	for (int i = 0; i < ch->to->n_requirements; i++)
	{
		if (met[i])
			continue;
		appendStringInfo(&m->what, "%s%s", m->what.len ? "; " : "", ch->to->requirements[i].missing);
		appendStringInfo(&m->how, "%s%s", m->how.len ? " " : "", ch->to->requirements[i].how);
	}
	for (int i = 0; i < CRM_STAGE_FIELDS; i++)
	{
		if (!(ch->to->required_fields & ch->unset_fields & (1 << i)))
			continue;
		appendStringInfo(&m->what, "%sthe field %s", m->what.len ? "; " : "", crm_stage_fields[i]);
		appendStringInfo(&m->how, "%sSet %s with UPDATE crm.opportunity.", m->how.len ? " " : "",
						 crm_stage_fields[i]);
	}
}

/* The attachments relied on as an int8[] literal for the history; NULL when none. */
static const char *
evidence_literal(const int64 *found, const bool *met, int n)
{
	char	   *s = palloc(n * (MAXINT8LEN + 1) + 3);
	int			len = 0;

	for (int i = 0; i < n; i++)
		if (met[i])
			len += sprintf(s + len, "%c" INT64_FORMAT, len ? ',' : '{', found[i]);
	if (len == 0)
		return NULL;
	strcpy(s + len, "}");
	return s;
}

/* The verdict on one checked row, given what the lookup found for its requirements. */
static void
judge(StageChange *ch, const int64 *found, const bool *met)
{
	bool		complete = (ch->to->required_fields & ch->unset_fields) == 0;
	Missing		m;

	if (ch->to->n_requirements == 0 && ch->to->required_fields == 0)
	{
		ch->reason = "the stage has no action package";
		return;
	}
	for (int i = 0; i < ch->to->n_requirements; i++)
		complete = complete && met[i];
	ch->evidence = evidence_literal(found, met, ch->to->n_requirements);
	if (complete)
		return;					/* verified */
	missing_what(ch, met, &m);
	if (ch->to->enforce)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("opportunity %lld cannot enter stage %s: its action package is incomplete",
						(long long) ch->id, crm_quote_value(ch->to->stage)),
				 errdetail("Missing: %s. Evidence counts when attached after the current stage %s was entered "
						   "(crm.opportunity.stage_entered_at).", m.what.data, crm_quote_value(ch->from->stage)),
				 errhint("Attach evidence with INSERT INTO crm.attachment (opportunity_id, kind, file_name, content) "
						 "VALUES (%lld, kind, file name, file bytes). %s", (long long) ch->id, m.how.data)));
	ch->reason = psprintf("missing: %s", m.what.data);
}

/* Looks up the evidence of every requirement of every checked row, at once. */
static Evidence
find_evidence(StageChanges *c)
{
	CrmColumn	args[5] = CRM_COLUMNS(CRM_COL(INT4OID), CRM_COL(INT8OID), CRM_COL(TEXTOID), CRM_COL(TEXTOID),
									  CRM_COL(TIMESTAMPTZOID));
	int			total = 0;
	Evidence	e;
	uint64		rows = 0;

	crm_columns_in_current_context(args, lengthof(args));	/* ours: deleted when the trigger returns */
	for (int i = 0; i < c->n; i++)
	{
		StageChange *ch = &c->rows[i];

		ch->first_requirement = total;
		if (!checked(ch))
			continue;
		for (int r = 0; r < ch->to->n_requirements; r++)
		{
			crm_put(&args[0], Int32GetDatum(total++), false);
			crm_put_int8(&args[1], ch->id, false);
			crm_put_text(&args[2], ch->to->requirements[r].kind);
			crm_put_text(&args[3], ch->to->requirements[r].content_types);
			crm_put(&args[4], ch->since, false);
		}
	}
	e.found = palloc0(Max(total, 1) * sizeof(int64));
	e.met = palloc0(Max(total, 1) * sizeof(bool));
	if (total > 0)
		rows = crm_run_columns(&stage_evidence, args, SPI_OK_SELECT);
	for (uint64 row = 0; row < rows; row++)
	{
		int32		n;

		crm_spi_int4(row, 1, &n);
		e.met[n] = crm_spi_int8(row, 2, &e.found[n]);
	}
	return e;
}

/* Every forward move and win against its stage's package: refused, or verified or not. */
static void
check_packages(StageChanges *c)
{
	Evidence	e = find_evidence(c);

	for (int i = 0; i < c->n; i++)
	{
		StageChange *ch = &c->rows[i];

		if (ch->from == NULL)
			ch->reason = "created in its first stage";
		else if (!checked(ch))
			ch->reason = psprintf("%s: not a stage upgrade, not checked", ch->direction);
		else
			judge(ch, e.found + ch->first_requirement, e.met + ch->first_requirement);
	}
}

/* ---------------------------------------------------------------------
 * The history and the dwell limits
 * --------------------------------------------------------------------- */

/* who, when and from where: the same for every row, evaluated once */
CRM_KEPT_PLAN(insert_history) = {
	"INSERT INTO crm.stage_history (opportunity_id, pipeline, from_stage, to_stage, direction, verified,"
	"  unverified_reason, owner, team, evidence, changed_by, changed_at, client_addr, application_name)"
	" SELECT x.id, x.pipeline, x.from_stage, x.to_stage, x.direction, x.reason IS NULL, x.reason,"
	"        x.owner, x.team, x.evidence::int8[], s.actor, now(), s.addr, s.app"
	" FROM (SELECT unnest($1::int8[]) AS id, unnest($2::text[]) AS pipeline, unnest($3::text[]) AS from_stage,"
	"              unnest($4::text[]) AS to_stage, unnest($5::text[]) AS direction, unnest($6::text[]) AS reason,"
	"              unnest($7::text[]) AS owner, unnest($8::text[]) AS team, unnest($9::text[]) AS evidence) x,"
	"      (SELECT crm.current_actor() AS actor, inet_client_addr() AS addr,"
	"              current_setting('application_name') AS app) s",
	9, {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID}
};

static void
record_history(StageChanges *c)
{
	CrmColumn	args[9] = CRM_COLUMNS(CRM_COL(INT8OID), CRM_COL(TEXTOID), CRM_COL(TEXTOID), CRM_COL(TEXTOID),
									  CRM_COL(TEXTOID), CRM_COL(TEXTOID), CRM_COL(TEXTOID), CRM_COL(TEXTOID),
									  CRM_COL(TEXTOID));

	crm_columns_in_current_context(args, lengthof(args));
	for (int i = 0; i < c->n; i++)
	{
		StageChange *ch = &c->rows[i];

		crm_put_int8(&args[0], ch->id, false);
		crm_put_text(&args[1], ch->pipeline);
		crm_put_text(&args[2], ch->from ? ch->from->stage : NULL);
		crm_put_text(&args[3], ch->to->stage);
		crm_put_text(&args[4], ch->direction);
		crm_put_text(&args[5], ch->reason);
		crm_put_text(&args[6], ch->owner);
		crm_put_text(&args[7], ch->team);
		crm_put_text(&args[8], ch->evidence);
	}
	crm_stage_history_write(&insert_history, args, SPI_OK_INSERT);
}

/*
 * The timers run only for the rows that need them, as separate statements:
 * a single move, the commonest write, pays for no statement it does not
 * need.
 */
CRM_KEPT_PLAN(cancel_timers) = {
	"UPDATE crm.opportunity_timer t SET cancelled_at = now()"
	" FROM (SELECT unnest($1::int8[]) AS id, unnest($2::bool[]) AS closing) x"
	" WHERE t.opportunity_id = x.id AND t.met_at IS NULL AND t.cancelled_at IS NULL AND (t.dwell OR x.closing)",
	2, {INT8ARRAYOID, BOOLARRAYOID}
};
CRM_KEPT_PLAN(start_dwell_limits) = {
	"INSERT INTO crm.opportunity_timer (opportunity_id, rule, dwell, stage, waits_for, team, started_at)"
	" SELECT x.id, r.code, true, r.stage, r.waits_for, x.team, now()"
	" FROM (SELECT unnest($1::int8[]) AS id, unnest($2::text[]) AS pipeline, unnest($3::text[]) AS stage,"
	"              unnest($4::text[]) AS team) x"
	" JOIN crm.countdown_rule r ON r.pipeline = x.pipeline AND r.stage = x.stage",
	4, {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID}
};

/* Leaving a stage with a dwell limit cancels it; closing the deal, every countdown. */
static void
cancel_timers_left(StageChanges *c)
{
	CrmColumn	args[2] = CRM_COLUMNS(CRM_COL(INT8OID), CRM_COL(BOOLOID));
	bool		any = false;

	for (int i = 0; i < c->n; i++)
	{
		StageChange *ch = &c->rows[i];
		bool		closing = ch->to->kind != 'o';

		if (ch->from == NULL || !(ch->from->has_dwell_limit || (closing && ch->from->kind == 'o')))
			continue;
		if (!any)
			crm_columns_in_current_context(args, lengthof(args));
		crm_put_int8(&args[0], ch->id, false);
		crm_put(&args[1], BoolGetDatum(closing), false);
		any = true;
	}
	if (any)
		crm_run_columns(&cancel_timers, args, SPI_OK_UPDATE);
}

/* after the cancelling, which would take along a timer started on a move between two dwell stages */
static void
start_timers_entered(StageChanges *c)
{
	CrmColumn	args[4] = CRM_COLUMNS(CRM_COL(INT8OID), CRM_COL(TEXTOID), CRM_COL(TEXTOID), CRM_COL(TEXTOID));
	bool		any = false;

	for (int i = 0; i < c->n; i++)
	{
		StageChange *ch = &c->rows[i];

		if (!ch->to->has_dwell_limit)
			continue;
		if (!any)
			crm_columns_in_current_context(args, lengthof(args));
		crm_put_int8(&args[0], ch->id, false);
		crm_put_text(&args[1], ch->pipeline);
		crm_put_text(&args[2], ch->to->stage);
		crm_put_text(&args[3], ch->team);
		any = true;
	}
	if (any)
		crm_run_columns(&start_dwell_limits, args, SPI_OK_INSERT);
}

/* ---------------------------------------------------------------------
 * The statement triggers
 * --------------------------------------------------------------------- */

static void
check_trigger_call(FunctionCallInfo fcinfo)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) || TRIGGER_FIRED_BY_DELETE(td->tg_event) ||
		td->tg_newtable == NULL || (TRIGGER_FIRED_BY_UPDATE(td->tg_event) && td->tg_oldtable == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.opportunity_stage_changed() must run as an AFTER INSERT or AFTER UPDATE statement "
						"trigger with its transition tables (REFERENCING NEW TABLE, and OLD TABLE on UPDATE)")));
}

static void
write_changes(TriggerData *td)
{
	StageChanges c = {0};

	read_changes(&c, td);
	if (c.n == 0)
		return;
	check_packages(&c);
	record_history(&c);
	cancel_timers_left(&c);
	start_timers_entered(&c);
}

PG_FUNCTION_INFO_V1(crm_opportunity_stage_changed);

/* AFTER INSERT, AFTER UPDATE ON crm.opportunity FOR EACH STATEMENT */
Datum
crm_opportunity_stage_changed(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext cxt;

	check_trigger_call(fcinfo);
	if (crm_restoring())		/* the history comes from the dump too */
		return PointerGetDatum(NULL);
	cxt = AllocSetContextCreate(caller, "crm stage changes", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);
	SPI_connect();
	MemoryContextSwitchTo(cxt);
	write_changes((TriggerData *) fcinfo->context);
	SPI_finish();
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(cxt);
	return PointerGetDatum(NULL);
}
