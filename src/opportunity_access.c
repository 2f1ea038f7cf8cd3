/*
 * opportunity_access.c: who may add to an opportunity's record.
 *
 * Evidence (src/evidence.c) and activities (src/opportunity_activity.c)
 * meet countdowns and back stage changes, so both are added only by the
 * opportunity's owner, an active rep of its team, or the team's manager
 * or director, as crm.current_actor() names them.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "opportunity_access.h"
#include "quote.h"
#include "spi_plan.h"

CRM_KEPT_PLAN(opportunity_access) = {
	"SELECT $2 = o.owner OR $2 = t.manager OR $2 = t.director"
	"       OR EXISTS (SELECT FROM crm.rep r WHERE r.login = $2 AND r.team = o.team AND r.active),"
	"       o.owner, o.team, o.created_at"
	" FROM crm.opportunity o LEFT JOIN crm.team t ON t.code = o.team WHERE o.id = $1",
	2, {INT8OID, TEXTOID}
};

bool
crm_opportunity_access(int64 id, const char *actor, OpportunityAccess *access)
{
	Datum		args[2] = {Int64GetDatum(id), CStringGetTextDatum(actor)};
	bool		isnull;

	if (crm_plan_run(&opportunity_access, args, NULL, 1, SPI_OK_SELECT) == 0)
		return false;
	access->allowed = crm_spi_bool(0, 1);
	access->owner = crm_spi_text(0, 2);
	access->team = crm_spi_text(0, 3);
	access->created_at = DatumGetTimestampTz(crm_spi_datum(0, 4, &isnull));
	return true;
}

char *
crm_opportunity_access_refused(const OpportunityAccess *access, int64 id, const char *actor, const char *what)
{
	return psprintf("%s may not %s opportunity %lld (owner %s, team %s).", crm_quote_value(actor), what,
					(long long) id, access->owner ? crm_quote_value(access->owner) : "none",
					access->team ? crm_quote_value(access->team) : "none");
}
