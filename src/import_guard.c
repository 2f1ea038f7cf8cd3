/*
 * import_guard.c: a migration's bookkeeping is written by crm only.
 *
 * crm_app may INSERT and UPDATE crm.import_batch and crm.import_row (README's
 * grants), and must: a batch is opened, its rows loaded (COPY) and a
 * rejected row's payload fixed by the application.  But what a row became
 * (status, outcome, the ids and customer code, reason and detail, chunk)
 * and a batch's target and progress are the commit's record of what it
 * did: a row set back to pending would be imported twice, a row set to
 * imported never, and a batch's target switched from contacts to leads
 * would send a migrated customer to a rep as a new lead.  So the columns a
 * user writes are named on the trigger, and every other column is written
 * only while crm.import_step() runs crm.import_chunk(), or by a restore.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/datum.h"
#include "utils/rel.h"

#include "guards.h"
#include "import.h"

PG_FUNCTION_INFO_V1(crm_import_step);
PG_FUNCTION_INFO_V1(crm_guard_import_bookkeeping);

/* crm.import_step() is running a chunk of the commit */
static bool import_writer = false;

bool
crm_import_writing(void)
{
	return import_writer;
}

/* crm.import_step(batch bigint, size integer, starting boolean) -> boolean */
Datum
crm_import_step(PG_FUNCTION_ARGS)
{
	Datum		args[3] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1), PG_GETARG_DATUM(2)};
	Oid			types[3] = {INT8OID, INT4OID, BOOLOID};
	char		nulls[3] = {PG_ARGISNULL(0) ? 'n' : ' ', PG_ARGISNULL(1) ? 'n' : ' ',
	PG_ARGISNULL(2) ? 'n' : ' '};
	bool		was_writer = import_writer;
	volatile bool more = false;
	bool		isnull;

	/* the procedure's first COMMIT would fail with a bare 2D000 */
	if (!PG_ARGISNULL(2) && PG_GETARG_BOOL(2) && IsTransactionBlock())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("crm.import_commit cannot run inside a transaction block"),
				 errdetail("It commits each chunk of rows in a transaction of its own."),
				 errhint("CALL it on its own, after COMMIT or ROLLBACK, with autocommit on (the client's default; psycopg2: connection.autocommit = True).")));
	SPI_connect();
	import_writer = true;
	PG_TRY();
	{
		/* once per chunk: no hot path, so no kept plan */
		if (SPI_execute_with_args("SELECT crm.import_chunk($1, $2, $3)", 3, types, args, nulls,
								  false, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "crm.import_chunk() returned no row");
		more = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) && !isnull;
	}
	PG_FINALLY();
	{
		import_writer = was_writer;
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_BOOL(more);
}

/* Whether a user may write the column: it is among the trigger's arguments. */
static bool
user_column(Trigger *trigger, const char *name)
{
	for (int i = 0; i < trigger->tgnargs; i++)
		if (strcmp(trigger->tgargs[i], name) == 0)
			return true;
	return false;
}

/* The columns an update changes that are not the user's, comma-separated; "" when none. */
static char *
bookkeeping_changed(TriggerData *td)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	StringInfoData changed;

	initStringInfo(&changed);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		old_null,
					new_null;
		Datum		old_value = heap_getattr(td->tg_trigtuple, i + 1, desc, &old_null);
		Datum		new_value = heap_getattr(td->tg_newtuple, i + 1, desc, &new_null);

		if (att->attisdropped || user_column(td->tg_trigger, NameStr(att->attname)))
			continue;
		if (old_null != new_null ||
			(!old_null && !datum_image_eq(old_value, new_value, att->attbyval, att->attlen)))
			appendStringInfo(&changed, "%s%s", changed.len ? ", " : "", NameStr(att->attname));
	}
	return changed.data;
}

/* The trigger's arguments, the columns a user writes, comma-separated. */
static char *
user_columns(Trigger *trigger)
{
	StringInfoData names;

	initStringInfo(&names);
	for (int i = 0; i < trigger->tgnargs; i++)
		appendStringInfo(&names, "%s%s", i ? ", " : "", trigger->tgargs[i]);
	return names.data;
}

/*
 * Trigger crm.guard_import_bookkeeping(user columns...), BEFORE INSERT OR
 * UPDATE FOR EACH ROW on crm.import_batch and crm.import_row.  An update
 * may change the user's columns only; an insert fires it (WHEN) only when
 * it gives a value to crm's columns.
 */
Datum
crm_guard_import_bookkeeping(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	bool		update;
	char	   *changed;

	crm_require_write_row_trigger(fcinfo, "crm.guard_import_bookkeeping()");
	update = TRIGGER_FIRED_BY_UPDATE(td->tg_event);
	if (import_writer || crm_restoring())
		return PointerGetDatum(update ? td->tg_newtuple : td->tg_trigtuple);
	changed = update ? bookkeeping_changed(td) : NULL;
	if (update && changed[0] == '\0')
		return PointerGetDatum(td->tg_newtuple);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("crm.%s is the import's bookkeeping, written by crm only",
					RelationGetRelationName(td->tg_relation)),
			 update ?
			 errdetail("The statement changes %s; a user changes %s only.", changed, user_columns(td->tg_trigger)) :
			 errdetail("A new row gives %s only; crm.import_commit writes the rest.", user_columns(td->tg_trigger)),
			 errhint("crm.import_begin(target, label) opens a batch, INSERT or COPY crm.import_row (batch_id, payload) loads it, "
					 "UPDATE crm.import_row SET payload = ... fixes a rejected row, CALL crm.import_commit(batch) imports.")));
	PG_RETURN_NULL();			/* not reached */
}
