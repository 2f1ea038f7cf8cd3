/*
 * opportunity_guard.c: the columns of an opportunity its writer does not
 * choose.
 *
 * crm.opportunity's BEFORE INSERT OR UPDATE row trigger
 * crm.opportunity_guard() runs before the stage trigger
 * (src/opportunity_stage.c), by name.  Evidence counts from
 * stage_entered_at and countdowns from quote_sent_at, so a writer that
 * could move them could make old files count or hold a countdown back:
 *
 * - created_at, stage_entered_at and closed_at are crm's: a new row leaves
 *   them to their defaults, an update leaves them as they are (428C9, as
 *   PostgreSQL refuses a value for a generated column); the stage trigger
 *   sets them when the stage changes;
 * - quote_sent_at is a moment, not infinity (22007), and not after now
 *   (22008);
 * - team is the owner's team: taken from the owner when the owner is set
 *   or changes, refused when it names another (23503);
 * - customer_code is the account's: taken from account_id, again when
 *   account_id changes; one that is not the account's is refused (23503).
 *
 * A restore (crm_restoring()) loads the rows as they were.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "guards.h"
#include "opportunity_stage.h"
#include "quote.h"
#include "spi_plan.h"

#define GUARD_SET_COLUMNS 2

typedef struct GuardedRow
{
	TupleDesc	desc;
	HeapTuple	old;			/* NULL on INSERT */
	HeapTuple	new;
	int64		id;
	int			nset;
	int			cols[GUARD_SET_COLUMNS];
	Datum		values[GUARD_SET_COLUMNS];
	bool		nulls[GUARD_SET_COLUMNS];
} GuardedRow;

/* On INSERT: given at all; on UPDATE: set to another value. */
static bool
given(const GuardedRow *r, const char *name)
{
	Form_pg_attribute att = TupleDescAttr(r->desc, SPI_fnumber(r->desc, name) - 1);
	bool		old_null = true;
	bool		new_null;
	Datum		n = crm_opportunity_column(r->desc, r->new, name, &new_null);
	Datum		o = r->old ? crm_opportunity_column(r->desc, r->old, name, &old_null) : (Datum) 0;

	if (r->old == NULL)
		return !new_null;
	return old_null != new_null || (!new_null && !datumIsEqual(o, n, att->attbyval, att->attlen));
}

static void
set_text(GuardedRow *r, const char *name, const char *value)
{
	Assert(r->nset < GUARD_SET_COLUMNS);
	r->cols[r->nset] = SPI_fnumber(r->desc, name);
	r->values[r->nset] = value ? CStringGetTextDatum(value) : (Datum) 0;
	r->nulls[r->nset] = value == NULL;
	r->nset++;
}

/* ---------------------------------------------------------------------
 * crm's times
 * --------------------------------------------------------------------- */

static const struct
{
	const char *column;
	const char *meaning;
}			crm_times[] = {
	{"created_at", "when the opportunity was created"},
	{"stage_entered_at", "when its current stage was entered: evidence for the next stage counts from it"},
	{"closed_at", "when it was won or lost"},
};

/* A new row's time as crm sets it: now (the default), or closed_at NULL. */
static bool
left_to_crm(const GuardedRow *r, const char *column)
{
	bool		isnull;
	Datum		d = crm_opportunity_column(r->desc, r->new, column, &isnull);

	if (strcmp(column, "closed_at") == 0 || isnull)
		return isnull;
	return DatumGetTimestampTz(d) == GetCurrentTransactionStartTimestamp();
}

static void
check_crm_times(const GuardedRow *r)
{
	for (int i = 0; i < (int) lengthof(crm_times); i++)
	{
		const char *column = crm_times[i].column;

		if (r->old ? !given(r, column) : left_to_crm(r, column))
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_GENERATED_ALWAYS),
				 errmsg("column %s of crm.opportunity is set by crm", column),
				 errdetail("It records %s.", crm_times[i].meaning),
				 errhint("Leave it out: crm sets it when the opportunity is created, changes stage or closes.")));
	}
}

/* ---------------------------------------------------------------------
 * quote_sent_at
 * --------------------------------------------------------------------- */

static void
check_quote_sent(const GuardedRow *r)
{
	bool		isnull;
	TimestampTz t = DatumGetTimestampTz(crm_opportunity_column(r->desc, r->new, "quote_sent_at", &isnull));

	if (isnull || !given(r, "quote_sent_at"))
		return;
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("quote_sent_at of opportunity %lld cannot be %s", (long long) r->id, timestamptz_to_str(t)),
				 errdetail("It starts the customer-feedback countdown, which counts from a moment."),
				 errhint("Set it to when the quote went out (now() when it goes out now), or NULL to withdraw it.")));
	if (t > GetCurrentTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("quote_sent_at of opportunity %lld is in the future: %s", (long long) r->id,
						timestamptz_to_str(t)),
				 errdetail("A quote is marked sent once it went out; a later time would hold its countdown back."),
				 errhint("Set it when the quote goes out, to now().")));
}

/* ---------------------------------------------------------------------
 * team and customer_code, from the owner and the account
 * --------------------------------------------------------------------- */

CRM_KEPT_PLAN(rep_team) = {
	"SELECT r.team FROM crm.rep r WHERE r.login = $1",
	1, {TEXTOID}
};
CRM_KEPT_PLAN(account_code) = {
	"SELECT a.code, crm.resolve_code($2) FROM crm.account a WHERE a.id = $1",
	2, {INT8OID, TEXTOID}
};

/*
 * team from the owner when the owner is set or changes; a team given that
 * is not the owner's is refused (an owner of no team leaves it free).
 */
static void
set_team(GuardedRow *r)
{
	char	   *owner = crm_opportunity_text(r->desc, r->new, "owner");
	char	   *team = crm_opportunity_text(r->desc, r->new, "team");
	bool		team_given = given(r, "team");
	Datum		arg;
	char	   *owners;

	if (!given(r, "owner") && !team_given)
		return;
	if (owner == NULL)
	{
		if (r->old != NULL && !team_given)
			set_text(r, "team", NULL);
		return;
	}
	arg = CStringGetTextDatum(owner);
	if (crm_plan_run(&rep_team, &arg, NULL, 1, SPI_OK_SELECT) == 0)
		return;					/* the foreign key says so */
	owners = crm_spi_text(0, 1);
	if (!team_given)
		set_text(r, "team", owners);
	else if (owners != NULL && (team == NULL || strcmp(team, owners) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("team %s of opportunity %lld is not the team of its owner %s",
						team ? crm_quote_value(team) : "NULL", (long long) r->id, crm_quote_value(owner)),
				 errdetail("%s is in team %s.", crm_quote_value(owner), crm_quote_value(owners)),
				 errhint("Leave team out: it follows the owner. To hand the deal to another team, "
						 "give it an owner of that team.")));
}

/* customer_code from the account, or checked against it */
static void
set_customer_code(GuardedRow *r)
{
	bool		isnull;
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	bool		code_given = given(r, "customer_code");
	char	   *code = crm_opportunity_text(r->desc, r->new, "customer_code");
	char	   *accounts;
	char	   *resolved;

	if (!code_given && !given(r, "account_id"))
		return;
	args[0] = crm_opportunity_column(r->desc, r->new, "account_id", &isnull);
	if (isnull)
		return;					/* NOT NULL says so */
	args[1] = code ? CStringGetTextDatum(code) : (Datum) 0;
	nulls[1] = code ? ' ' : 'n';
	if (crm_plan_run(&account_code, args, nulls, 1, SPI_OK_SELECT) == 0)
		return;					/* the foreign key says so */
	accounts = crm_spi_text(0, 1);
	resolved = crm_spi_text(0, 2);
	if (!code_given)
		set_text(r, "customer_code", accounts);
	else if (resolved == NULL || strcmp(resolved, accounts) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("customer code %s is not the code of account %lld",
						crm_quote_value(code), (long long) DatumGetInt64(args[0])),
				 errdetail("The account's code is %s.", accounts),
				 errhint("Leave customer_code out: it is taken from account_id.")));
}

/* ---------------------------------------------------------------------
 * The trigger
 * --------------------------------------------------------------------- */

static HeapTuple
guarded(GuardedRow *r)
{
	bool		isnull;

	r->id = DatumGetInt64(crm_opportunity_column(r->desc, r->new, "id", &isnull));
	check_crm_times(r);
	check_quote_sent(r);
	/* a plain stage change looks nothing up */
	if (given(r, "owner") || given(r, "team") || given(r, "account_id") || given(r, "customer_code"))
	{
		MemoryContext cxt = CurrentMemoryContext;

		SPI_connect();
		/* what is read and set lives in the row's context, past SPI_finish */
		MemoryContextSwitchTo(cxt);
		set_team(r);
		set_customer_code(r);
		SPI_finish();
	}
	return r->nset ? heap_modify_tuple_by_cols(r->new, r->desc, r->nset, r->cols, r->values, r->nulls) : r->new;
}

PG_FUNCTION_INFO_V1(crm_opportunity_guard);

/* BEFORE INSERT OR UPDATE ON crm.opportunity FOR EACH ROW */
Datum
crm_opportunity_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	GuardedRow	r = {0};
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext cxt;
	HeapTuple	result;

	crm_require_write_row_trigger(fcinfo, "crm.opportunity_guard()");
	r.desc = td->tg_relation->rd_att;
	r.old = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_trigtuple : NULL;
	r.new = r.old ? td->tg_newtuple : td->tg_trigtuple;
	if (crm_restoring())
		return PointerGetDatum(r.new);
	cxt = AllocSetContextCreate(caller, "crm opportunity guard", ALLOCSET_SMALL_SIZES);
	MemoryContextSwitchTo(cxt);
	result = guarded(&r);
	/* a new tuple outlives this call: copy it out of the short-lived context */
	MemoryContextSwitchTo(caller);
	if (result != r.new)
		result = heap_copytuple(result);
	MemoryContextDelete(cxt);
	return PointerGetDatum(result);
}
