/*
 * code_registry.c: the customer-code registry is written only through crm.
 *
 * A code registered by hand for a serial the sequence has not reached yet
 * would make the insert that draws that serial fail; a merged_into forged
 * into a cycle would leave an issued code resolving to nothing.  So the
 * registry takes rows only from crm's C code that issues codes (one at a
 * time and in bulk), merges only as the mirror of a merge of the records
 * themselves (crm.record_code_merge), and rows from a restore.
 *
 * crm's writers set a backend-local flag around their own statement; the
 * guard is a statement trigger, so a bulk insert of codes pays for one
 * check, not one per row.  The flag is cleared however the statement ends.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"

#include "code_registry.h"
#include "guards.h"

PG_FUNCTION_INFO_V1(crm_guard_code_registry);
PG_FUNCTION_INFO_V1(crm_record_code_merge);

/* crm's own statement on the registry is running */
static bool registry_writer = false;

/* The registry row of a record's code takes the code its record was merged into. */
CRM_KEPT_PLAN(mirror_merge) = {
	"UPDATE crm.customer_code c"
	"   SET merged_into = r.target, merged_at = CASE WHEN r.target IS NOT NULL THEN now() END"
	"  FROM (SELECT d.code, k.code FROM crm.contact d LEFT JOIN crm.contact k ON k.id = d.merged_into"
	"         WHERE $1 = 'contact' AND d.id = $2"
	"        UNION ALL"
	"        SELECT d.code, k.code FROM crm.account d LEFT JOIN crm.account k ON k.id = d.merged_into"
	"         WHERE $1 = 'account' AND d.id = $2) r(code, target)"
	" WHERE c.code = r.code"
	" RETURNING c.code, c.merged_into",
	2, {TEXTOID, INT8OID}
};
/* Locked, so that two merges committing at once cannot close a cycle. */
CRM_KEPT_PLAN(merged_into_of) = {
	"SELECT merged_into FROM crm.customer_code WHERE code = $1 FOR SHARE",
	1, {TEXTOID}
};

uint64
crm_registry_run(CrmPlan *plan, Datum *values, int expected)
{
	bool		was_writer = registry_writer;
	volatile uint64 processed = 0;

	registry_writer = true;
	PG_TRY();
	{
		processed = crm_plan_run(plan, values, NULL, 0, expected);
	}
	PG_FINALLY();
	{
		registry_writer = was_writer;
	}
	PG_END_TRY();
	return processed;
}

/*
 * Trigger crm.guard_code_registry(), BEFORE INSERT OR UPDATE OR DELETE FOR
 * EACH STATEMENT on crm.customer_code.
 */
Datum
crm_guard_code_registry(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.guard_code_registry() must be a BEFORE STATEMENT trigger")));
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
				 errmsg("customer codes cannot be deleted"),
				 errdetail("The registry keeps every code ever issued, so that none is reused.")));
	if (registry_writer || (TRIGGER_FIRED_BY_INSERT(td->tg_event) && crm_restoring()))
		return PointerGetDatum(NULL);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("crm.customer_code is written by crm only"),
			 errdetail("Codes are registered as crm issues them, and merges as crm merges the records; a code and its kind never change."),
			 errhint("Leave the code column out and a code is issued; merge with crm.merge_contacts() or crm.merge_accounts().")));
	PG_RETURN_NULL();			/* not reached */
}

/* Refuses a merge of code into target that would close a cycle. */
static void
check_chain(const char *code, const char *target)
{
	List	   *seen = list_make1((char *) code);
	char	   *at = pstrdup(target);

	while (at != NULL)
	{
		Datum		arg = CStringGetTextDatum(at);
		ListCell   *lc;

		foreach(lc, seen)
			if (strcmp(lfirst(lc), at) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
						 errmsg("customer code \"%s\" cannot be merged into \"%s\": the merges would form a cycle",
								code, target),
						 errdetail("Following merged_into from %s comes back to %s, and crm.resolve_code() would find no surviving code.",
								   target, at)));
		seen = lappend(seen, at);
		if (crm_plan_run(&merged_into_of, &arg, NULL, 0, SPI_OK_SELECT) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("customer code \"%s\" cannot be merged into \"%s\", which was never issued",
							code, at)));
		at = crm_spi_text(0, 1);
	}
}

/*
 * crm.record_code_merge(entity text, id bigint): the registry row of a
 * contact's or an account's code takes the code of the record it was merged
 * into, or none when it was unmerged.
 */
Datum
crm_record_code_merge(PG_FUNCTION_ARGS)
{
	char	   *entity = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Datum		args[2] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)};
	MemoryContext caller = CurrentMemoryContext;
	char	   *code;
	char	   *target;

	if (strcmp(entity, "contact") != 0 && strcmp(entity, "account") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown entity \"%s\"", entity),
				 errhint("Use 'contact' or 'account'.")));
	SPI_connect();
	if (crm_registry_run(&mirror_merge, args, SPI_OK_UPDATE_RETURNING) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("%s " INT64_FORMAT " does not exist", entity, PG_GETARG_INT64(1))));
	MemoryContextSwitchTo(caller);
	code = crm_spi_text(0, 1);
	target = crm_spi_text(0, 2);
	if (target != NULL)
		check_chain(code, target);
	SPI_finish();
	PG_RETURN_VOID();
}
