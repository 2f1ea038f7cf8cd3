/*
 * customer_code.c: issuing customer codes and guarding the code columns.
 *
 * Every account and contact insert issues a code through the column
 * default and checks it in a trigger, so both are in C with kept plans:
 * as SQL and PL/pgSQL they were re-planned on every row.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "spi_plan.h"

PG_FUNCTION_INFO_V1(crm_issue_customer_code);
PG_FUNCTION_INFO_V1(crm_guard_customer_code);

static CrmPlan issue_code = {
	"INSERT INTO crm.customer_code (code, kind)"
	" VALUES (crm.customer_code_from_serial(nextval('crm.customer_code_seq')), $1)"
	" RETURNING code",
	1, {TEXTOID}
};
static CrmPlan code_issued_for = {
	"SELECT 1 FROM crm.customer_code WHERE code = $1 AND kind = $2",
	2, {TEXTOID, TEXTOID}
};

/* crm.issue_customer_code(kind text) -> text: a new registered code. */
Datum
crm_issue_customer_code(PG_FUNCTION_ARGS)
{
	Datum		kind = PG_GETARG_DATUM(0);
	MemoryContext caller = CurrentMemoryContext;
	text	   *code;

	SPI_connect();
	(void) crm_plan_run(&issue_code, &kind, NULL, 0, SPI_OK_INSERT_RETURNING);
	MemoryContextSwitchTo(caller);
	code = cstring_to_text(crm_spi_text(0, 1));
	SPI_finish();
	PG_RETURN_TEXT_P(code);
}

static char *
code_of(TriggerData *td, HeapTuple tuple)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);

	return SPI_getvalue(tuple, desc, SPI_fnumber(desc, "code"));
}

/*
 * Trigger crm.guard_customer_code(kind): a new row's code must have been
 * issued for its kind, and a code never changes.
 */
Datum
crm_guard_customer_code(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *table;
	char	   *code;
	Datum		args[2];

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || td->tg_trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.guard_customer_code() must be a BEFORE ROW trigger with the kind as argument")));
	table = RelationGetRelationName(td->tg_relation);
	code = code_of(td, td->tg_trigtuple);
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		char	   *new_code = code_of(td, td->tg_newtuple);

		if (new_code == NULL || strcmp(code, new_code) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
					 errmsg("customer code \"%s\" cannot be changed", code),
					 errdetail("Service and ERP records refer to customers by code."),
					 errhint("Merge the records instead; crm.resolve_code() follows merges.")));
		return PointerGetDatum(td->tg_newtuple);
	}
	if (code == NULL)
		return PointerGetDatum(td->tg_trigtuple);	/* NOT NULL says so */
	args[0] = CStringGetTextDatum(code);
	args[1] = CStringGetTextDatum(td->tg_trigger->tgargs[0]);
	SPI_connect();
	if (crm_plan_run(&code_issued_for, args, NULL, 1, SPI_OK_SELECT) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("customer code \"%s\" was not issued for crm.%s", code, table),
				 errdetail("Codes come from crm.issue_customer_code() and are never reused."),
				 errhint("Leave the code column out and one is issued.")));
	SPI_finish();
	return PointerGetDatum(td->tg_trigtuple);
}
