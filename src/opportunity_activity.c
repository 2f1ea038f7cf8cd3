/*
 * opportunity_activity.c: an activity on a deal is a record of who did
 * what and when, and it meets the countdowns waiting for it.
 *
 * crm.opportunity_activity's BEFORE INSERT OR UPDATE row trigger
 * crm.opportunity_activity_before_write():
 *
 * - actor is crm.current_actor() (another is refused, 42501), who has
 *   access to the opportunity as for evidence (src/opportunity_access.c;
 *   42501);
 * - at lies between the opportunity's creation and now (22008): an
 *   activity recorded late may be dated back, and then meets only the
 *   countdowns started before it (crm.countdown_met());
 * - once stored, only body may change (23000).
 *
 * A restore (crm_restoring()) loads the rows as they were.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "actor.h"
#include "guards.h"
#include "opportunity_access.h"
#include "quote.h"

static Datum
get(TriggerData *td, const char *name, bool *isnull)
{
	TupleDesc	desc = td->tg_relation->rd_att;

	return heap_getattr(td->tg_trigtuple, SPI_fnumber(desc, name), desc, isnull);
}

/* actor is who records it, with access to the opportunity; returns its creation time */
static bool
check_actor(int64 id, const char *actor, TimestampTz *created_at)
{
	char	   *current = crm_actor_name();
	OpportunityAccess access;

	if (strcmp(actor, current) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("activity refused: actor %s is not who records it", crm_quote_value(actor)),
				 errdetail("The actor is %s (crm.current_actor()).", crm_quote_value(current)),
				 errhint("Leave actor out (SET crm.actor to who records it).")));
	if (!crm_opportunity_access(id, actor, &access))
		return false;			/* the foreign key says so */
	if (!access.allowed)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("activity refused: %s has no access to opportunity %lld", crm_quote_value(actor),
						(long long) id),
				 errdetail_internal("%s", crm_opportunity_access_refused(&access, id, actor, "record activities of")),
				 errhint("Activities are recorded by the opportunity's owner, a rep of its team, or the team's "
						 "manager or director (SET crm.actor to who records it).")));
	*created_at = access.created_at;
	return true;
}

/* at: not before the deal existed, not after now */
static void
check_at(int64 id, TimestampTz at, TimestampTz created_at)
{
	const char *problem = at > GetCurrentTimestamp() ? "is in the future"
		: at < created_at ? "is before the opportunity was created" : NULL;

	if (problem == NULL)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
			 errmsg("activity of opportunity %lld refused: at %s %s", (long long) id,
					pstrdup(timestamptz_to_str(at)), problem),
			 errdetail("Opportunity %lld was created at %s.", (long long) id,
					   pstrdup(timestamptz_to_str(created_at))),
			 errhint("Leave at out for now; an activity recorded late may be dated back to when it happened "
					 "(it then meets only the countdowns started before it).")));
}

static void
check_new(TriggerData *td)
{
	bool		id_null;
	bool		actor_null;
	bool		at_null;
	int64		id = DatumGetInt64(get(td, "opportunity_id", &id_null));
	Datum		actor = get(td, "actor", &actor_null);
	TimestampTz at = DatumGetTimestampTz(get(td, "at", &at_null));
	TimestampTz created_at;
	bool		known;

	if (id_null || actor_null || at_null)
		return;					/* NOT NULL says so */
	SPI_connect();
	known = check_actor(id, TextDatumGetCString(actor), &created_at);
	SPI_finish();
	if (known)
		check_at(id, at, created_at);
}

PG_FUNCTION_INFO_V1(crm_opportunity_activity_before_write);

/* BEFORE INSERT OR UPDATE ON crm.opportunity_activity FOR EACH ROW */
Datum
crm_opportunity_activity_before_write(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	crm_require_write_row_trigger(fcinfo, "crm.opportunity_activity_before_write()");
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		crm_check_record_unchanged(td, "activity", "body");
		return PointerGetDatum(td->tg_newtuple);
	}
	if (!crm_restoring())
		check_new(td);
	return PointerGetDatum(td->tg_trigtuple);
}
