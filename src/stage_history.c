/*
 * stage_history.c: crm.stage_history is written by crm's stage-change
 * trigger only, and never rewritten.
 *
 * stage_upgrade_verified counts the history's rows, and an attachment a
 * row relied on cannot be deleted: a history the application could write
 * would let it forge both.  crm's triggers run as the caller, so the
 * application role keeps INSERT on the table; the guard is the table's own
 * trigger, crm.stage_history_guard():
 *
 * - a row is inserted only while crm's statement runs
 *   (crm_stage_history_write sets a flag of this backend around it);
 * - no row is updated;
 * - a row is deleted only with its opportunity (ON DELETE CASCADE: the
 *   opportunity is gone when the cascade reaches the row);
 * - the history is truncated only with the opportunities (TRUNCATE
 *   crm.opportunity CASCADE): checked after the statement, when every
 *   table it truncated is empty.
 *
 * A restore (crm_restoring()) loads the rows as they were.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"

#include "guards.h"
#include "stage_history.h"

static bool crm_writing_history = false;

void
crm_stage_history_write(CrmPlan *plan, CrmColumn *cols, int expected)
{
	bool		was = crm_writing_history;

	crm_writing_history = true;
	PG_TRY();
	{
		crm_run_columns(plan, cols, expected);
	}
	PG_FINALLY();
	{
		crm_writing_history = was;
	}
	PG_END_TRY();
}

CRM_KEPT_PLAN(opportunity_exists) = {
	"SELECT FROM crm.opportunity o WHERE o.id = $1",
	1, {INT8OID}
};

/* Runs a kept plan under SPI; whether it found a row. */
static bool
found(CrmPlan *plan, Datum *args)
{
	bool		any;

	SPI_connect();
	any = crm_plan_run(plan, args, NULL, 1, SPI_OK_SELECT) > 0;
	SPI_finish();
	return any;
}

/* After a TRUNCATE: whether it left opportunities (rare: planned each time) */
static bool
opportunities_left(void)
{
	bool		any;

	SPI_connect();
	if (SPI_execute("SELECT FROM crm.opportunity o LIMIT 1", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "crm: SPI_execute failed");
	any = SPI_processed > 0;
	SPI_finish();
	return any;
}

static void
refuse(const char *what, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("crm.stage_history cannot be %s: crm's stage-change trigger alone writes it", what),
			 errdetail("%s", detail),
			 errhint("Move the opportunity (UPDATE crm.opportunity SET stage = ..., or crm.request_stage()): "
					 "the change is recorded as it happens.")));
}

/* A row deleted while its opportunity is still there: not the cascade. */
static void
check_delete(TriggerData *td)
{
	bool		isnull;
	Datum		id = heap_getattr(td->tg_trigtuple, SPI_fnumber(td->tg_relation->rd_att, "opportunity_id"),
								  td->tg_relation->rd_att, &isnull);

	if (!isnull && found(&opportunity_exists, &id))
		refuse("deleted", psprintf("Opportunity %lld still exists; its history goes only with it.",
								   (long long) DatumGetInt64(id)));
}

PG_FUNCTION_INFO_V1(crm_stage_history_guard);

/*
 * BEFORE INSERT OR UPDATE OR DELETE FOR EACH ROW, and AFTER TRUNCATE FOR
 * EACH STATEMENT, ON crm.stage_history
 */
Datum
crm_stage_history_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.stage_history_guard() must run as a trigger on crm.stage_history")));
	if (crm_restoring())
		return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple);
	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
	{
		if (opportunities_left())
			refuse("truncated", "Opportunities remain; their history goes only with them "
				   "(TRUNCATE crm.opportunity CASCADE).");
		return PointerGetDatum(NULL);
	}
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		refuse("changed", "A stage change, once recorded, is a record: who moved the deal, when, "
			   "and what evidence backed it.");
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		check_delete(td);
		return PointerGetDatum(td->tg_trigtuple);
	}
	if (!crm_writing_history)
		refuse("written directly", "A row is added when a stage change goes through, never by an INSERT of its own.");
	return PointerGetDatum(td->tg_trigtuple);
}
