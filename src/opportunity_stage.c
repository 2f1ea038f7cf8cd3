/*
 * opportunity_stage.c: an opportunity's stage, enforced on every write.
 *
 * crm.opportunity's BEFORE INSERT OR UPDATE row trigger starts a new
 * opportunity in its pipeline's first stage, lets a stage change through
 * only when crm.stage_transition allows it, and sets the columns that
 * follow the stage (status, stage_entered_at, closed_at).  It runs no
 * statement for a stage change: the action package, the history and the
 * dwell limits are the statement triggers' (src/stage_change.c), once for
 * all the rows of a statement.
 *
 * The stage rules (stages, their requirements and dwell limits) and
 * the allowed moves (src/transition.c, scoped by pipeline) are read once
 * per backend and kept until a change to their tables commits
 * (src/table_cache.c; crm.stage_rules_changed() is their trigger).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "guards.h"
#include "opportunity_stage.h"
#include "quote.h"
#include "spi_plan.h"
#include "table_cache.h"
#include "transition.h"

const char *const crm_stage_fields[CRM_STAGE_FIELDS] = {"amount", "expected_close", "owner", "lead_id", "quote_sent_at"};

typedef struct PipelineInfo
{
	char		code[CRM_STAGE_KEY_LEN];
	const char *first;
	const char *won;
	const char *lost;
	int32		first_position;
} PipelineInfo;

typedef struct StageRules
{
	HTAB	   *stages;
	HTAB	   *pipelines;
} StageRules;

/* ---------------------------------------------------------------------
 * The rules kept across calls
 * --------------------------------------------------------------------- */

CRM_KEPT_PLAN(stage_rows) = {
	"SELECT s.pipeline, s.stage, s.position, s.kind, s.enforcement = 'enforce',"
	"  (SELECT coalesce(sum(1 << (array_position(ARRAY['amount', 'expected_close', 'owner', 'lead_id',"
	"                                                   'quote_sent_at'], f) - 1)), 0)"
	"     FROM unnest(s.required_fields) f)::int4,"
	"  EXISTS (SELECT FROM crm.countdown_rule c WHERE c.pipeline = s.pipeline AND c.stage = s.stage),"
	/* the requirements, with the words of a refusal (StageRequirement) */
	"  q.kinds, q.content_types, q.missing, q.how"
	" FROM crm.pipeline_stage s"
	" LEFT JOIN LATERAL ("
	"  SELECT array_agg(r.kind ORDER BY r.kind) AS kinds,"
	"    array_agg(r.content_types::text ORDER BY r.kind) AS content_types,"
	"    array_agg(k.label || ' (' || r.kind || ': ' || array_to_string(r.content_types, ', ') || ')'"
	"              ORDER BY r.kind) AS missing,"
	"    array_agg(k.label || ': ' || k.how || '.' ORDER BY r.kind) AS how"
	"   FROM crm.stage_requirement r JOIN crm.evidence_kind k ON k.code = r.kind"
	"  WHERE r.pipeline = s.pipeline AND r.stage = s.stage) q ON true"
	" ORDER BY s.pipeline, s.position",
	0, {InvalidOid}
};
/* The moves allowed, per pipeline (transition.h) */
CRM_KEPT_PLAN(stage_transition_rows) = {
	"SELECT t.pipeline, t.from_stage, t.to_stage FROM crm.stage_transition t",
	0, {InvalidOid}
};
static void *load_stage_transitions(void);
static CrmTransitionCache stage_transitions = {
	{"crm stage transitions", {"stage_transition"}, load_stage_transitions}, &stage_transition_rows, NULL
};

static void *
load_stage_transitions(void)
{
	return crm_transitions_load(&stage_transitions);
}

static void
stage_key(char *key, const char *pipeline, const char *stage)
{
	snprintf(key, CRM_STAGE_KEY_LEN, "%s\x1f%s", pipeline, stage);
}

/* A text[] column of a result row: its elements (none when NULL). */
static char **
text_elements(uint64 row, int col, int *n)
{
	bool		isnull;
	Datum		d = crm_spi_datum(row, col, &isnull);
	Datum	   *elems;
	char	  **texts;

	*n = 0;
	if (isnull)
		return NULL;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, n);
	texts = palloc(*n * sizeof(char *));
	for (int i = 0; i < *n; i++)
		texts[i] = TextDatumGetCString(elems[i]);
	return texts;
}

static void
load_requirements(StageInfo *s, uint64 row)
{
	int			n;
	char	  **kinds = text_elements(row, 8, &n);
	char	  **types = text_elements(row, 9, &n);
	char	  **missing = text_elements(row, 10, &n);
	char	  **how = text_elements(row, 11, &n);
	StageRequirement *r = palloc(Max(n, 1) * sizeof(StageRequirement));

	for (int i = 0; i < n; i++)
		r[i] = (StageRequirement) {kinds[i], types[i], missing[i], how[i]};
	s->n_requirements = n;
	s->requirements = r;
}

static HTAB *
rules_hash(const char *name, Size keysize, Size entrysize)
{
	HASHCTL		ctl = {.keysize = keysize,.entrysize = entrysize,.hcxt = CurrentMemoryContext};

	return hash_create(name, 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

static void
load_stage(StageRules *rules, uint64 row)
{
	char	   *pipeline = crm_spi_text(row, 1);
	char	   *stage = crm_spi_text(row, 2);
	char		key[CRM_STAGE_KEY_LEN];
	StageInfo  *s;
	PipelineInfo *p;
	bool		found;

	stage_key(key, pipeline, stage);
	s = hash_search(rules->stages, key, HASH_ENTER, &found);
	s->stage = stage;
	crm_spi_int4(row, 3, &s->position);
	s->kind = crm_spi_text(row, 4)[0];
	s->enforce = crm_spi_bool(row, 5);
	crm_spi_int4(row, 6, &s->required_fields);
	s->has_dwell_limit = crm_spi_bool(row, 7);
	load_requirements(s, row);
	p = hash_search(rules->pipelines, pipeline, HASH_ENTER, &found);
	if (!found)
		p->first = p->won = p->lost = NULL;
	if (s->kind == 'o' && p->first == NULL)
		p->first = stage;		/* rows come in position order */
	else if (s->kind == 'w')
		p->won = stage;
	else if (s->kind == 'l')
		p->lost = stage;
}

/* Loads the rules, under SPI, into the cache's memory context. */
static void *
load_rules(void)
{
	StageRules *rules = palloc(sizeof(StageRules));
	uint64		n;

	rules->stages = rules_hash("crm stages", CRM_STAGE_KEY_LEN, sizeof(StageInfo));
	rules->pipelines = rules_hash("crm pipelines", CRM_STAGE_KEY_LEN, sizeof(PipelineInfo));
	n = crm_plan_run(&stage_rows, NULL, NULL, 0, SPI_OK_SELECT);
	for (uint64 i = 0; i < n; i++)
		load_stage(rules, i);
	return rules;
}

/* Kept per backend until a change to any of these tables (src/table_cache.c). */
static CrmTableCache rules_cache = {
	"crm stage rules",
	{"pipeline", "pipeline_stage", "stage_requirement", "evidence_kind", "countdown_rule"},
	load_rules
};

/* The rules as stored now; needs SPI_connect.  Valid until the end of the transaction. */
static const StageRules *
stage_rules(void)
{
	return crm_table_cache_get(&rules_cache);
}

static const StageInfo *
find_stage(const StageRules *rules, const char *pipeline, const char *stage)
{
	char		key[CRM_STAGE_KEY_LEN];

	stage_key(key, pipeline, stage);
	return hash_search(rules->stages, key, HASH_FIND, NULL);
}

void
crm_opportunity_stage_init(void)
{
	crm_table_cache_register(&rules_cache);
	crm_table_cache_register(&stage_transitions.cache);
}

PG_FUNCTION_INFO_V1(crm_stage_rules_changed);

/* Trigger: the stage rules changed; every backend reloads them. */
Datum
crm_stage_rules_changed(PG_FUNCTION_ARGS)
{
	crm_table_cache_changed(fcinfo, "crm.stage_rules_changed()");
	return PointerGetDatum(NULL);
}

/* ---------------------------------------------------------------------
 * One write of an opportunity
 * --------------------------------------------------------------------- */

#define MAX_SET_COLUMNS 10

typedef struct OpportunityWrite
{
	TriggerData *td;
	TupleDesc	desc;
	HeapTuple	old;			/* NULL on INSERT */
	HeapTuple	new;
	int64		id;
	const char *pipeline;
	const StageInfo *to;		/* the stage entered; NULL: none */
	int			nset;
	int			cols[MAX_SET_COLUMNS];
	Datum		values[MAX_SET_COLUMNS];
	bool		nulls[MAX_SET_COLUMNS];
} OpportunityWrite;

Datum
crm_opportunity_column(TupleDesc desc, HeapTuple tuple, const char *name, bool *isnull)
{
	int			attnum = SPI_fnumber(desc, name);

	if (attnum <= 0)
		elog(ERROR, "crm.opportunity has no column %s", name);
	return heap_getattr(tuple, attnum, desc, isnull);
}

char *
crm_opportunity_text(TupleDesc desc, HeapTuple tuple, const char *name)
{
	bool		isnull;
	Datum		d = crm_opportunity_column(desc, tuple, name, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static Datum
column(const OpportunityWrite *w, HeapTuple tuple, const char *name, bool *isnull)
{
	return crm_opportunity_column(w->desc, tuple, name, isnull);
}

static char *
text_column(const OpportunityWrite *w, HeapTuple tuple, const char *name)
{
	return crm_opportunity_text(w->desc, tuple, name);
}

static void
set_column(OpportunityWrite *w, const char *name, Datum value, bool isnull)
{
	Assert(w->nset < MAX_SET_COLUMNS);
	w->cols[w->nset] = SPI_fnumber(w->desc, name);
	w->values[w->nset] = value;
	w->nulls[w->nset] = isnull;
	w->nset++;
}

static void
set_text(OpportunityWrite *w, const char *name, const char *value)
{
	set_column(w, name, value ? CStringGetTextDatum(value) : (Datum) 0, value == NULL);
}

static bool
text_changed(const OpportunityWrite *w, const char *name)
{
	char	   *a = text_column(w, w->old, name);
	char	   *b = text_column(w, w->new, name);

	return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

const StageInfo *
crm_stage_known(const char *pipeline, const char *stage)
{
	const StageInfo *s = find_stage(stage_rules(), pipeline, stage);

	if (s == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("pipeline %s has no stage %s", crm_quote_value(pipeline), crm_quote_value(stage)),
				 errhint("Its stages are in crm.pipeline_stage.")));
	return s;
}

static const PipelineInfo *
known_pipeline(const StageRules *rules, const char *pipeline)
{
	const PipelineInfo *p = hash_search(rules->pipelines, pipeline, HASH_FIND, NULL);

	if (p == NULL || p->first == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("pipeline %s has no open stage", crm_quote_value(pipeline)),
				 errhint("Pipelines and their stages are in crm.pipeline and crm.pipeline_stage.")));
	return p;
}

const char *
crm_stage_direction(const StageInfo *from, const StageInfo *to)
{
	if (from == NULL)
		return "created";
	if (to->kind == 'w')
		return "won";
	if (to->kind == 'l')
		return "lost";
	if (from->kind != 'o')
		return "reopened";
	return to->position > from->position ? "forward" : "back";
}

/* ---------------------------------------------------------------------
 * INSERT and UPDATE
 * --------------------------------------------------------------------- */

static void
enter_stage(OpportunityWrite *w)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	const char *status = w->to->kind == 'w' ? "won" : w->to->kind == 'l' ? "lost" : "open";

	set_text(w, "stage", w->to->stage);
	set_text(w, "status", status);
	set_column(w, "stage_entered_at", TimestampTzGetDatum(now), false);
	set_column(w, "closed_at", TimestampTzGetDatum(now), w->to->kind == 'o');
	if (w->to->kind != 'l')
		set_column(w, "lost_reason", (Datum) 0, true);
}

static void
start_opportunity(OpportunityWrite *w, const StageRules *rules)
{
	const PipelineInfo *p = known_pipeline(rules, w->pipeline);
	char	   *stage = text_column(w, w->new, "stage");

	if (stage != NULL && strcmp(stage, p->first) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
				 errmsg("a new opportunity starts in the first stage of its pipeline, %s, not %s",
						crm_quote_value(p->first), crm_quote_value(stage)),
				 errhint("Leave stage out, then move it with UPDATE crm.opportunity SET stage = ...")));
	w->to = crm_stage_known(w->pipeline, p->first);
	enter_stage(w);
}

/* status set to won or lost without a stage: that stage of the pipeline */
static const char *
stage_for_status(OpportunityWrite *w, const StageRules *rules, const char *stage)
{
	const PipelineInfo *p;
	char	   *old_status = text_column(w, w->old, "status");
	char	   *status = text_column(w, w->new, "status");

	if (status == NULL || strcmp(status, old_status) == 0)
		return stage;
	p = known_pipeline(rules, w->pipeline);
	if (strcmp(status, "won") == 0 && p->won)
		return p->won;
	if (strcmp(status, "lost") == 0 && p->lost)
		return p->lost;
	ereport(ERROR,
			(errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
			 errmsg("opportunity %lld cannot go from status %s to %s by itself", (long long) w->id,
					crm_quote_value(old_status), crm_quote_value(status)),
			 errhint("Move it to a stage with UPDATE crm.opportunity SET stage = ...; the status follows.")));
	return NULL;				/* not reached */
}

static void
check_lost_reason(OpportunityWrite *w)
{
	bool		isnull;

	column(w, w->new, "lost_reason", &isnull);
	if (w->to->kind == 'l' && isnull)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("opportunity %lld cannot be lost without a reason", (long long) w->id),
				 errhint("SET status = 'lost', lost_reason = ... with a code of crm.lost_reason "
						 "(price, competitor, budget_cut, no_decision ...).")));
}

static void
move_opportunity(OpportunityWrite *w, const StageRules *rules)
{
	char	   *from = text_column(w, w->old, "stage");
	const char *to = stage_for_status(w, rules, text_column(w, w->new, "stage"));

	if (text_changed(w, "pipeline"))
		ereport(ERROR,
				(errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
				 errmsg("opportunity %lld cannot change pipeline", (long long) w->id),
				 errhint("Close it as lost and open a new one in the other pipeline.")));
	if (to == NULL || strcmp(from, to) == 0)
		return;
	(void) crm_stage_known(w->pipeline, from);	/* an unknown stage named so, not as a move refused */
	w->to = crm_stage_known(w->pipeline, to);
	if (!crm_transition_allowed(&stage_transitions, w->pipeline, from, to))
	{
		char	   *next = crm_transition_next_states(&stage_transitions, w->pipeline, from);

		ereport(ERROR,
				(errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
				 errmsg("opportunity %lld cannot move from stage %s to %s", (long long) w->id,
						crm_quote_value(from), crm_quote_value(to)),
				 errdetail("From %s pipeline %s allows: %s.", crm_quote_value(from), crm_quote_value(w->pipeline),
						   next ? next : "no move"),
				 errhint("The allowed moves are in crm.stage_transition.")));
	}
	check_lost_reason(w);
	enter_stage(w);
}

static HeapTuple
write_opportunity(TriggerData *td)
{
	OpportunityWrite w = {.td = td,.desc = td->tg_relation->rd_att};
	const StageRules *rules = stage_rules();
	bool		isnull;

	w.old = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_trigtuple : NULL;
	w.new = w.old ? td->tg_newtuple : td->tg_trigtuple;
	w.pipeline = text_column(&w, w.new, "pipeline");
	if (w.pipeline == NULL)
		return w.new;			/* NOT NULL says so */
	w.id = DatumGetInt64(column(&w, w.new, "id", &isnull));
	if (w.old == NULL)
		start_opportunity(&w, rules);
	else
		move_opportunity(&w, rules);
	return w.nset ? heap_modify_tuple_by_cols(w.new, w.desc, w.nset, w.cols, w.values, w.nulls) : w.new;
}

PG_FUNCTION_INFO_V1(crm_opportunity_before_write);

/* BEFORE INSERT OR UPDATE ON crm.opportunity FOR EACH ROW */
Datum
crm_opportunity_before_write(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext cxt;
	HeapTuple	result;

	crm_require_write_row_trigger(fcinfo, "crm.opportunity_before_write()");
	if (crm_restoring())		/* the history comes from the dump too */
		return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple);
	cxt = AllocSetContextCreate(caller, "crm opportunity write", ALLOCSET_SMALL_SIZES);
	MemoryContextSwitchTo(cxt);
	SPI_connect();
	MemoryContextSwitchTo(cxt);
	result = write_opportunity(td);
	SPI_finish();
	/* the new tuple outlives this call: copy it out of the short-lived context */
	MemoryContextSwitchTo(caller);
	result = heap_copytuple(result);
	MemoryContextDelete(cxt);
	return PointerGetDatum(result);
}
