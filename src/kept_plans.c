/*
 * kept_plans.c: crm.kept_plans(), what the kept SPI plans read.
 *
 * For a DBA, and for the test that keeps every kept plan a probe by key:
 * each plan's generic plan is built as crm builds it (see spi_plan.c), and
 * every scan in it is reported with the index columns it has a condition
 * on.  A scan without one reads its whole table (or index) at every call.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "nodes/plannodes.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"

#include "spi_plan.h"

PG_FUNCTION_INFO_V1(crm_kept_plans_sql);

/* Where the rows of one kept plan go. */
typedef struct PlanRows
{
	ReturnSetInfo *rsinfo;
	const CrmKeptPlan *kept;
	PlannedStmt *stmt;
	int			scans;
} PlanRows;

/* relid and access NULL (InvalidOid) for a plan that reads no table */
static void
put_row(PlanRows *rows, Oid relid, const char *access, const char *condition)
{
	Datum		values[5];
	bool		nulls[5] = {false, false, relid == InvalidOid, access == NULL,
	condition == NULL};

	values[0] = CStringGetTextDatum(rows->kept->name);
	values[1] = CStringGetTextDatum(rows->kept->plan->sql);
	values[2] = ObjectIdGetDatum(relid);
	values[3] = access ? CStringGetTextDatum(access) : (Datum) 0;
	values[4] = condition ? CStringGetTextDatum(condition) : (Datum) 0;
	tuplestore_putvalues(rows->rsinfo->setResult, rows->rsinfo->setDesc, values, nulls);
}

/* The index column an index qualifier tests (its left side, or its arg). */
static Var *
qual_index_column(Node *qual)
{
	Node	   *key = NULL;

	if (IsA(qual, OpExpr))
		key = linitial(((OpExpr *) qual)->args);
	else if (IsA(qual, ScalarArrayOpExpr))
		key = linitial(((ScalarArrayOpExpr *) qual)->args);
	else if (IsA(qual, RowCompareExpr))
		key = linitial(((RowCompareExpr *) qual)->largs);
	else if (IsA(qual, NullTest))
		key = (Node *) ((NullTest *) qual)->arg;
	while (key && IsA(key, RelabelType))
		key = (Node *) ((RelabelType *) key)->arg;
	return key && IsA(key, Var) ? (Var *) key : NULL;
}

/* "a, b": the index columns the qualifiers test; NULL when none */
static char *
conditioned_columns(Oid indexid, List *indexqual)
{
	StringInfoData columns;
	List	   *seen = NIL;
	ListCell   *lc;

	initStringInfo(&columns);
	foreach(lc, indexqual)
	{
		Var		   *column = qual_index_column(lfirst(lc));
		int			attno = column ? column->varattno : 0;

		if (list_member_int(seen, attno))
			continue;
		seen = lappend_int(seen, attno);
		appendStringInfo(&columns, "%s%s", columns.len ? ", " : "",
						 attno > 0 ? get_attname(indexid, attno, false) : "?");
	}
	return columns.len ? columns.data : NULL;
}

static void
put_scan(PlanRows *rows, Scan *scan, const char *access, Oid indexid, List *indexqual)
{
	Oid			relid = rt_fetch(scan->scanrelid, rows->stmt->rtable)->relid;

	if (OidIsValid(indexid))
		access = psprintf("%s using %s", access, get_rel_name(indexid));
	put_row(rows, relid, access,
			OidIsValid(indexid) ? conditioned_columns(indexid, indexqual) : NULL);
	rows->scans++;
}

static void put_plan_scans(PlanRows *rows, Plan *plan);

static void
put_list_scans(PlanRows *rows, List *plans)
{
	ListCell   *lc;

	foreach(lc, plans)
		put_plan_scans(rows, lfirst(lc));
}

static void
put_plan_scans(PlanRows *rows, Plan *plan)
{
	if (plan == NULL)
		return;
	switch (nodeTag(plan))
	{
		case T_SeqScan:
			put_scan(rows, (Scan *) plan, "Seq Scan", InvalidOid, NIL);
			break;
		case T_SampleScan:
			put_scan(rows, (Scan *) plan, "Sample Scan", InvalidOid, NIL);
			break;
		case T_IndexScan:
			put_scan(rows, (Scan *) plan, "Index Scan", ((IndexScan *) plan)->indexid,
					 ((IndexScan *) plan)->indexqual);
			break;
		case T_IndexOnlyScan:
			put_scan(rows, (Scan *) plan, "Index Only Scan", ((IndexOnlyScan *) plan)->indexid,
					 ((IndexOnlyScan *) plan)->indexqual);
			break;
		case T_BitmapIndexScan:
			put_scan(rows, (Scan *) plan, "Bitmap Index Scan",
					 ((BitmapIndexScan *) plan)->indexid, ((BitmapIndexScan *) plan)->indexqual);
			break;
		case T_TidScan:
		case T_TidRangeScan:
			put_row(rows, rt_fetch(((Scan *) plan)->scanrelid, rows->stmt->rtable)->relid,
					"Tid Scan", "ctid");
			rows->scans++;
			break;
		case T_Append:
			put_list_scans(rows, ((Append *) plan)->appendplans);
			break;
		case T_MergeAppend:
			put_list_scans(rows, ((MergeAppend *) plan)->mergeplans);
			break;
		case T_BitmapAnd:
			put_list_scans(rows, ((BitmapAnd *) plan)->bitmapplans);
			break;
		case T_BitmapOr:
			put_list_scans(rows, ((BitmapOr *) plan)->bitmapplans);
			break;
		case T_SubqueryScan:
			put_plan_scans(rows, ((SubqueryScan *) plan)->subplan);
			break;
		case T_CustomScan:
			put_list_scans(rows, ((CustomScan *) plan)->custom_plans);
			break;
		default:
			break;
	}
	put_plan_scans(rows, plan->lefttree);
	put_plan_scans(rows, plan->righttree);
}

static int
kept_plan_name_cmp(const void *a, const void *b)
{
	return strcmp((*(const CrmKeptPlan *const *) a)->name,
				  (*(const CrmKeptPlan *const *) b)->name);
}

/*
 * crm.kept_plans(): a row per scan in the generic plan of each kept plan,
 * by plan name; one row without a relation for a plan that reads no table.
 */
Datum
crm_kept_plans_sql(PG_FUNCTION_ARGS)
{
	int			count;
	const CrmKeptPlan *const *kept = crm_kept_plans(&count);
	const CrmKeptPlan **sorted = palloc(sizeof(*sorted) * count);
	PlanRows	rows = {(ReturnSetInfo *) fcinfo->resultinfo};

	memcpy(sorted, kept, sizeof(*sorted) * count);
	qsort(sorted, count, sizeof(*sorted), kept_plan_name_cmp);
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	for (int i = 0; i < count; i++)
	{
		CachedPlan *generic = crm_plan_generic(sorted[i]->plan);
		ListCell   *lc;

		rows.kept = sorted[i];
		rows.scans = 0;
		foreach(lc, generic->stmt_list)
		{
			rows.stmt = lfirst_node(PlannedStmt, lc);
			put_plan_scans(&rows, rows.stmt->planTree);
			put_list_scans(&rows, rows.stmt->subplans);
		}
		if (rows.scans == 0)
			put_row(&rows, InvalidOid, NULL, NULL);
		ReleaseCachedPlan(generic, CurrentResourceOwner);
	}
	SPI_finish();
	return (Datum) 0;
}
