/*
 * guards.c: telling a restore from ordinary writes, keeping the
 * "shipped" mark for crm's own rows, and keeping records unchanged.
 *
 * A restore loads rows that crm derived in the source database: open-lead
 * counts, daily loads, SLA timers and their wake-ups, scores, learned
 * counts.  The triggers that derive them must stand aside while it runs,
 * or every derived row would be made twice and every deadline would move
 * to the time of the restore.  pg_dump's output, custom and plain alike,
 * sets check_function_bodies = off, the setting PostgreSQL documents for
 * loading a dump; crm can only be restored by a superuser (superuser =
 * true in crm.control).  Both together are a restore: an application role
 * that turns the setting off still has everything derived.
 *
 * Rows marked shipped come back with CREATE EXTENSION, not with pg_dump
 * (it keeps only the rows users add), so a user row marked shipped would
 * be lost in the next restore, with every row that refers to it.  Only
 * crm's own script may mark a row shipped.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/rel.h"

#include "guards.h"

PG_FUNCTION_INFO_V1(crm_restoring_sql);
PG_FUNCTION_INFO_V1(crm_guard_shipped_mark);

bool
crm_restoring(void)
{
	return !check_function_bodies && superuser();
}

/* crm.restoring() -> boolean */
Datum
crm_restoring_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(crm_restoring());
}

/* CREATE EXTENSION crm or ALTER EXTENSION crm UPDATE is running its script. */
static bool
in_own_script(void)
{
	return creating_extension &&
		CurrentExtensionObject == get_extension_oid("crm", true);
}

/*
 * Trigger crm.guard_shipped_mark(), BEFORE INSERT OR UPDATE OF shipped FOR
 * EACH ROW WHEN (NEW.shipped): refuses the mark outside crm's own script.
 */
Datum
crm_guard_shipped_mark(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	crm_require_write_row_trigger(fcinfo, "crm.guard_shipped_mark()");
	if (!in_own_script())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only crm's install script can mark a row of crm.%s shipped",
						RelationGetRelationName(td->tg_relation)),
				 errdetail("Shipped rows come back with CREATE EXTENSION and are left out of pg_dump, so a row marked here would be lost in a restore."),
				 errhint("Leave shipped out: your rows are shipped = false, and pg_dump keeps them.")));
	return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple);
}

void
crm_check_record_unchanged(TriggerData *td, const char *noun, const char *mutable)
{
	TupleDesc	desc = td->tg_relation->rd_att;

	for (int i = 1; i <= desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i - 1);
		bool		old_null;
		bool		new_null;
		Datum		o;
		Datum		n;

		if (att->attisdropped || strcmp(NameStr(att->attname), mutable) == 0)
			continue;
		o = heap_getattr(td->tg_trigtuple, i, desc, &old_null);
		n = heap_getattr(td->tg_newtuple, i, desc, &new_null);
		if (old_null != new_null || (!old_null && !datumIsEqual(o, n, att->attbyval, att->attlen)))
			ereport(ERROR,
					(errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
					 errmsg("%s %s cannot change: it is a record", noun, NameStr(att->attname)),
					 errhint("Add a new %s; only %s may be corrected.", noun, mutable)));
	}
}

void
crm_require_write_row_trigger(FunctionCallInfo fcinfo, const char *function)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || TRIGGER_FIRED_BY_DELETE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must run as a BEFORE INSERT OR UPDATE row trigger", function)));
}
