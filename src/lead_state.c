/*
 * lead_state.c: the lead lifecycle, enforced on every update.
 *
 * Leads move new -> scored -> assigned -> contacted -> qualified or
 * disqualified, along the changes crm.lead_transition allows: rows a data
 * steward may add to or override, kept in memory until they change
 * (transition.h).  Any other change (a closed lead sent back to "new", a
 * lead contacted before anyone owned it) is refused here, for every
 * client, so no state can be entered that no step leaves.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "lead_state.h"
#include "quote.h"
#include "transition.h"

/* The changes in force: crm.lead_transition with the steward's rows applied. */
CRM_KEPT_PLAN(lead_transition_rows) = {
	"SELECT NULL::text, t.from_state, t.to_state FROM crm.lead_transition_allowed t",
	0, {InvalidOid}
};

/*
 * Release 1.0's transitions, compiled in: for a database whose crm is
 * still 1.0 (between installing this library and ALTER EXTENSION crm
 * UPDATE, which creates crm.lead_transition with these rows).
 */
CRM_KEPT_PLAN(lead_transition_rows_1_0) = {
	"SELECT NULL::text, v.from_state, v.to_state FROM (VALUES"
	" ('new', 'scored'), ('new', 'assigned'), ('new', 'disqualified'),"
	" ('scored', 'assigned'), ('scored', 'disqualified'),"
	" ('assigned', 'contacted'), ('assigned', 'scored'), ('assigned', 'disqualified'),"
	" ('contacted', 'qualified'), ('contacted', 'disqualified'),"
	" ('qualified', 'contacted'),"
	" ('disqualified', 'contacted'), ('disqualified', 'scored')) v(from_state, to_state)",
	0, {InvalidOid}
};

static void *load_lead_transitions(void);

static CrmTransitionCache lead_transitions = {
	{"crm lead transitions", {"lead_transition"}, load_lead_transitions},
	&lead_transition_rows, &lead_transition_rows_1_0
};

static void *
load_lead_transitions(void)
{
	return crm_transitions_load(&lead_transitions);
}

void
crm_lead_state_init(void)
{
	crm_table_cache_register(&lead_transitions.cache);
}

static bool
is_closed(const char *status)
{
	return strcmp(status, "qualified") == 0 || strcmp(status, "disqualified") == 0;
}

static char *
text_column(HeapTuple tuple, TupleDesc desc, int attnum)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, attnum, desc, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static void
refuse(const char *from, const char *to)
{
	char	   *next = crm_transition_next_states(&lead_transitions, NULL, from);

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("a lead cannot go from state %s to %s", crm_quote_value(from), crm_quote_value(to)),
			 next ? errdetail("From %s a lead may go to %s.", crm_quote_value(from), next)
			 : errdetail("No change out of %s is allowed.", crm_quote_value(from)),
			 errhint("The changes allowed are listed in crm.lead_transition_allowed; "
					 "a data steward changes them in crm.lead_transition.")));
}

PG_FUNCTION_INFO_V1(crm_lead_before_update);

/* BEFORE UPDATE ON crm.lead FOR EACH ROW */
Datum
crm_lead_before_update(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	int			cols[2];
	Datum		values[2];
	bool		nulls[2] = {false, false};
	char	   *from;
	char	   *to;
	int			status_col;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || !TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.lead_before_update() must run as a BEFORE UPDATE row trigger")));
	desc = td->tg_relation->rd_att;
	status_col = SPI_fnumber(desc, "status");
	from = text_column(td->tg_trigtuple, desc, status_col);
	to = text_column(td->tg_newtuple, desc, status_col);
	if (from == NULL || to == NULL || strcmp(from, to) == 0)
		return PointerGetDatum(td->tg_newtuple);
	if (!crm_transition_allowed(&lead_transitions, NULL, from, to))
		refuse(from, to);

	cols[0] = SPI_fnumber(desc, "status_changed_at");
	values[0] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	cols[1] = SPI_fnumber(desc, "closed_at");
	values[1] = values[0];
	nulls[1] = !is_closed(to);
	return PointerGetDatum(heap_modify_tuple_by_cols(td->tg_newtuple, desc, 2, cols, values, nulls));
}
