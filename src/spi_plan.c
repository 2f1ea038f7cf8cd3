/*
 * spi_plan.c: prepared SPI plans kept for the life of the backend.
 *
 * Plans are prepared, revalidated and executed with search_path pinned to
 * pg_catalog, so that no caller's schema can capture a function, an
 * operator or a type in them.  Pinning at preparation alone is not enough:
 * the plan cache re-analyses a statement whenever the current search_path
 * differs from the one it was analysed under, and would do so under the
 * caller's.
 *
 * Every statement here looks rows up by key, a few per lead, so it runs
 * with plans of index probes: sequential scans, bitmap scans, hash and
 * merge joins are disabled while it is planned.  A generic plan is kept for
 * the session, so it must not depend on how full the tables were when it
 * was made (a fresh CRM, the first batch of a large COPY): while crm plans
 * its statements, the planner hooks below show it every table as large
 * (FAKE_ROWS rows), with no column statistics.  Then the most selective
 * index wins (a unique one estimates one row a probe), where on an empty
 * table any index costs next to nothing, and a whole partial index, read
 * for its order, could tie with the probe and win.  The plans are thus the
 * same on an empty and on a full database, and after ANALYZE.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "optimizer/plancat.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/plancache.h"
#include "utils/resowner.h"
#include "utils/selfuncs.h"

#include "spi_plan.h"

static const char *const probe_only[] = {
	"enable_seqscan", "enable_bitmapscan", "enable_hashjoin", "enable_mergejoin",
	/*
	 * A scan these settings disable still costs 1e10 where nothing else
	 * will do (a small table read whole); without this, that cost would
	 * put the plan over jit_above_cost, and JIT compiling (100 ms) would
	 * run at every execution.
	 */
	"jit",
};

/*
 * The size every table has while crm plans: large enough that reading one
 * whole always costs more than probing it, whatever it really holds.
 */
#define FAKE_ROWS 1.0e7
#define FAKE_ROWS_PER_PAGE 50
#define FAKE_INDEX_ENTRIES_PER_PAGE 200
#define FAKE_BTREE_HEIGHT 3

/* True only while plan_generic builds one of our plans. */
static bool planning_kept_plan = false;

static get_relation_info_hook_type prev_relation_info_hook = NULL;
static get_relation_stats_hook_type prev_relation_stats_hook = NULL;
static get_index_stats_hook_type prev_index_stats_hook = NULL;

static void
large_relation_info(PlannerInfo *root, Oid relid, bool inhparent, RelOptInfo *rel)
{
	ListCell   *lc;

	if (prev_relation_info_hook)
		prev_relation_info_hook(root, relid, inhparent, rel);
	if (!planning_kept_plan)
		return;
	rel->tuples = FAKE_ROWS;
	rel->pages = (BlockNumber) (FAKE_ROWS / FAKE_ROWS_PER_PAGE);
	rel->allvisfrac = 0;
	foreach(lc, rel->indexlist)
	{
		IndexOptInfo *index = lfirst(lc);

		index->tuples = FAKE_ROWS;
		index->pages = (BlockNumber) (FAKE_ROWS / FAKE_INDEX_ENTRIES_PER_PAGE);
		if (index->tree_height >= 0)	/* known for btree only */
			index->tree_height = FAKE_BTREE_HEIGHT;
	}
}

/*
 * No column statistics: the planner's defaults instead (1/rows for a
 * column with a unique index, a fixed fraction otherwise), so that ANALYZE
 * cannot change a kept plan either.
 */
static bool
no_relation_stats(PlannerInfo *root, RangeTblEntry *rte, AttrNumber attnum,
				  VariableStatData *vardata)
{
	if (planning_kept_plan)
		return true;
	return prev_relation_stats_hook && prev_relation_stats_hook(root, rte, attnum, vardata);
}

static bool
no_index_stats(PlannerInfo *root, Oid indexOid, AttrNumber indexattnum,
			   VariableStatData *vardata)
{
	if (planning_kept_plan)
		return true;
	return prev_index_stats_hook && prev_index_stats_hook(root, indexOid, indexattnum, vardata);
}

void
crm_spi_plan_init(void)
{
	prev_relation_info_hook = get_relation_info_hook;
	get_relation_info_hook = large_relation_info;
	prev_relation_stats_hook = get_relation_stats_hook;
	get_relation_stats_hook = no_relation_stats;
	prev_index_stats_hook = get_index_stats_hook;
	get_index_stats_hook = no_index_stats;
}

/* The linker's bounds of the section CRM_KEPT_PLAN fills. */
extern const CrmKeptPlan *const __start_crm_kept_plans[];
extern const CrmKeptPlan *const __stop_crm_kept_plans[];

const CrmKeptPlan *const *
crm_kept_plans(int *count)
{
	*count = __stop_crm_kept_plans - __start_crm_kept_plans;
	return __start_crm_kept_plans;
}

/* A plan not declared with CRM_KEPT_PLAN would escape crm.kept_plans(). */
static void
check_declared_kept(const CrmPlan *plan)
{
	int			count;
	const CrmKeptPlan *const *kept = crm_kept_plans(&count);

	for (int i = 0; i < count; i++)
		if (kept[i]->plan == plan)
			return;
	elog(ERROR, "crm: a plan not declared with CRM_KEPT_PLAN: %s", plan->sql);
}

/* Settings for planning one of our statements; undo with AtEOXact_GUC. */
static int
index_probe_planning(void)
{
	int			nest = NewGUCNestLevel();

	for (size_t i = 0; i < lengthof(probe_only); i++)
		(void) set_config_option(probe_only[i], "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/*
 * Pin search_path for the statements that follow, unless it is pinned
 * already (inside crm's own functions, whose SET clause pins the same
 * path): returns the GUC nest level to undo with crm_unpin_search_path, or -1.
 * An error unwinds the nest level with the (sub)transaction.
 */
int
crm_pin_search_path(void)
{
	int			nest;

	if (namespace_search_path != NULL &&
		strcmp(namespace_search_path, CRM_PINNED_SEARCH_PATH) == 0)
		return -1;
	nest = NewGUCNestLevel();
	(void) set_config_option("search_path", CRM_PINNED_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

void
crm_unpin_search_path(int nest)
{
	if (nest >= 0)
		AtEOXact_GUC(true, nest);
}

/*
 * SPI_prepare parses and analyses only.  The planner settings apply where
 * the plan is built (plan_generic_if_needed).
 */
static SPIPlanPtr
prepare_pinned(const CrmPlan *plan)
{
	int			nest;
	SPIPlanPtr	prepared;

	check_declared_kept(plan);
	nest = crm_pin_search_path();
	/* a generic plan: custom plans would be re-planned on every row */
	prepared = SPI_prepare_cursor(plan->sql, plan->nargs, (Oid *) plan->argtypes,
								  CURSOR_OPT_GENERIC_PLAN);
	crm_unpin_search_path(nest);
	if (prepared == NULL)
		elog(ERROR, "crm: SPI_prepare failed (%s) for: %s",
			 SPI_result_code_string(SPI_result), plan->sql);
	if (SPI_keepplan(prepared) != 0)
		elog(ERROR, "crm: SPI_keepplan failed");
	return prepared;
}

/*
 * The generic plan is built at first execution, not at SPI_prepare, and
 * again after DDL or ANALYZE invalidate it.  Build it here, under the
 * index-probe settings and the planner hooks, so that only our statement
 * is planned with them: inside SPI_execute_plan they would also shape the
 * plans of whatever our statement's triggers run, which PL/pgSQL then
 * keeps for the session.
 */
static CachedPlan *
plan_generic(SPIPlanPtr prepared)
{
	CachedPlan *volatile generic;
	int			nest = index_probe_planning();

	planning_kept_plan = true;
	PG_TRY();
	{
		generic = SPI_plan_get_cached_plan(prepared);
	}
	PG_FINALLY();
	{
		planning_kept_plan = false;
	}
	PG_END_TRY();
	AtEOXact_GUC(true, nest);
	if (generic == NULL)
		elog(ERROR, "crm: no generic plan for a single-statement SPI plan");
	return generic;
}

static void
plan_generic_if_needed(SPIPlanPtr prepared)
{
	CachedPlanSource *source = linitial(SPI_plan_get_plan_sources(prepared));

	if (source->is_valid && source->gplan != NULL && source->gplan->is_valid)
		return;
	ReleaseCachedPlan(plan_generic(prepared), CurrentResourceOwner);
}

CachedPlan *
crm_plan_generic(CrmPlan *plan)
{
	CachedPlan *generic;
	int			nest;

	if (plan->plan == NULL)
		plan->plan = prepare_pinned(plan);
	/* revalidation may re-analyse the statement, as in crm_plan_run */
	nest = crm_pin_search_path();
	AcceptInvalidationMessages();
	generic = plan_generic(plan->plan);
	crm_unpin_search_path(nest);
	return generic;
}

uint64
crm_plan_run(CrmPlan *plan, Datum *values, const char *nulls,
			 long tcount, int expected)
{
	MemoryContext caller = CurrentMemoryContext;
	int			rc;
	int			nest;

	if (plan->plan == NULL)
		plan->plan = prepare_pinned(plan);
	/* revalidation may re-analyse the statement: under the pinned path too */
	nest = crm_pin_search_path();
	AcceptInvalidationMessages();
	plan_generic_if_needed(plan->plan);
	rc = SPI_execute_plan(plan->plan, values, nulls, false, tcount);
	crm_unpin_search_path(nest);
	/* SPI leaves us in its procedure context; what we read is the caller's */
	MemoryContextSwitchTo(caller);
	if (rc != expected)
		elog(ERROR, "crm: SPI_execute_plan returned %s for: %s",
			 SPI_result_code_string(rc), plan->sql);
	return SPI_processed;
}

Datum
crm_spi_datum(uint64 row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

int
crm_spi_column(const char *name, int from)
{
	TupleDesc	desc = SPI_tuptable->tupdesc;

	for (int col = from; col <= desc->natts; col++)
		if (strcmp(NameStr(TupleDescAttr(desc, col - 1)->attname), name) == 0)
			return col;
	elog(ERROR, "crm: no column \"%s\" from column %d of the result", name, from);
}

void
crm_spi_columns(const char *const *names, int n, int *cols)
{
	for (int i = 0; i < n; i++)
		cols[i] = crm_spi_column(names[i], 1);
}

char *
crm_spi_text(uint64 row, int col)
{
	bool		isnull;
	Datum		d = crm_spi_datum(row, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

bool
crm_spi_int8(uint64 row, int col, int64 *out)
{
	bool		isnull;
	Datum		d = crm_spi_datum(row, col, &isnull);

	*out = isnull ? 0 : DatumGetInt64(d);
	return !isnull;
}

bool
crm_spi_int4(uint64 row, int col, int32 *out)
{
	bool		isnull;
	Datum		d = crm_spi_datum(row, col, &isnull);

	*out = isnull ? 0 : DatumGetInt32(d);
	return !isnull;
}

bool
crm_spi_bool(uint64 row, int col)
{
	bool		isnull;
	Datum		d = crm_spi_datum(row, col, &isnull);

	return !isnull && DatumGetBool(d);
}

void
crm_put(CrmColumn *c, Datum value, bool isnull)
{
	c->state = accumArrayResult(c->state, value, isnull, c->type, CurrentMemoryContext);
}

void
crm_columns_in_current_context(CrmColumn *cols, int n)
{
	for (int i = 0; i < n; i++)
		cols[i].state = initArrayResult(cols[i].type, CurrentMemoryContext, false);
}

void
crm_put_text(CrmColumn *c, const char *s)
{
	crm_put(c, s ? CStringGetTextDatum(s) : (Datum) 0, s == NULL);
}

void
crm_put_int8(CrmColumn *c, int64 v, bool isnull)
{
	crm_put(c, Int64GetDatum(v), isnull);
}

static Datum
column_array(CrmColumn *c)
{
	if (c->state == NULL)
		return PointerGetDatum(construct_empty_array(c->type));
	return makeArrayResult(c->state, CurrentMemoryContext);
}

void
crm_columns_as_args(const CrmPlan *plan, CrmColumn *cols, Datum *values)
{
	for (int i = 0; i < plan->nargs; i++)
		values[i] = column_array(&cols[i]);
}

uint64
crm_run_columns(CrmPlan *plan, CrmColumn *cols, int expected)
{
	Datum		values[CRM_PLAN_MAX_ARGS];

	crm_columns_as_args(plan, cols, values);
	return crm_plan_run(plan, values, NULL, 0, expected);
}
