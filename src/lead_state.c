/*
 * lead_state.c: the lead lifecycle, enforced on every update.
 *
 * Leads move new -> scored -> assigned -> contacted -> qualified or
 * disqualified.  A change the lifecycle does not know (a closed lead sent
 * back to "new", a lead contacted before anyone owned it) is refused here,
 * for every client, so no state can be entered that no step leaves.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "quote.h"

typedef struct Transition
{
	const char *from;
	const char *to;				/* space-separated */
} Transition;

static const Transition transitions[] = {
	{"new", "scored assigned disqualified"},
	{"scored", "assigned disqualified"},
	{"assigned", "contacted scored disqualified"},
	{"contacted", "qualified disqualified"},
	{"qualified", "contacted"},
	{"disqualified", "contacted scored"},
};

static const char *
next_states(const char *from)
{
	for (size_t i = 0; i < lengthof(transitions); i++)
		if (strcmp(transitions[i].from, from) == 0)
			return transitions[i].to;
	return "";
}

static bool
allowed(const char *from, const char *to)
{
	const char *next = next_states(from);
	size_t		len = strlen(to);

	for (const char *p = strstr(next, to); p; p = strstr(p + 1, to))
		if ((p == next || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0'))
			return true;
	return false;
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
	if (!allowed(from, to))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a lead cannot go from state %s to %s", crm_quote_value(from), crm_quote_value(to)),
				 errdetail("From %s a lead may go to: %s.", crm_quote_value(from),
						   *next_states(from) ? next_states(from) : "nothing"),
				 errhint("States are described in crm.lead_state.")));

	cols[0] = SPI_fnumber(desc, "status_changed_at");
	values[0] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	cols[1] = SPI_fnumber(desc, "closed_at");
	values[1] = values[0];
	nulls[1] = !is_closed(to);
	return PointerGetDatum(heap_modify_tuple_by_cols(td->tg_newtuple, desc, 2, cols, values, nulls));
}
