/*
 * assignment.c: crm.assign_leads(), handing waiting leads to reps.
 *
 * Rules are tried in order; the first that holds names a team, and the
 * team's strategy names the rep.  Capacities and turns are counts other
 * sessions change too, so the teams involved are locked first and the
 * counts read after: two sessions assigning into one team take turns, and
 * the second sees what the first committed.  Everything else is decided
 * in memory and written back with one statement per table, so a bulk call
 * costs a fixed number of statements, not some per lead.  The lead
 * triggers then keep open-lead counts, daily loads and SLA timers.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "assignment.h"
#include "spi_plan.h"

typedef struct Rule
{
	char	   *code;
	char	   *team;
	bool		least_loaded;
	bool		to_customer_owner;
	Datum	   *channels;		/* NULL: any */
	int			n_channels;
	Datum	   *region_prefixes;
	int			n_region_prefixes;
	Datum	   *product_lines;
	int			n_product_lines;
	bool		has_min_score;
	int32		min_score;
	bool		has_max_score;
	int32		max_score;
	bool		fired;
} Rule;

typedef struct Rep
{
	char	   *login;
	char	   *team;
	bool		active_and_present;
	bool		has_capacity;
	int32		capacity;
	int32		assigned_today;
	int32		open_leads;
	int64		rotation;
	bool		took;			/* got a lead in this call */
} Rep;

typedef struct WaitingLead
{
	int64		id;
	char	   *channel;
	char	   *region_code;
	char	   *product_line;
	bool		has_score;
	int32		score;
	bool		assigned;		/* already, and rerouted if its rule changed */
	char	   *owner;
	char	   *rule;
	char	   *previous_owner;
	char	   *waiting_reason;
	char	   *customer_owner;
	/* the decision */
	Rule	   *decided;
	Rep		   *rep;
	char	   *reason;
} WaitingLead;

typedef struct Assignment
{
	Rule	   *rules;
	int			n_rules;
	WaitingLead *leads;
	int			n_leads;
	Rep		   *reps;
	int			n_reps;
} Assignment;

/* ---------------------------------------------------------------------
 * Reads
 * --------------------------------------------------------------------- */

CRM_KEPT_PLAN(active_rules) = {
	"SELECT code, team, strategy = 'least_loaded', to_customer_owner, channels, region_prefixes,"
	"  product_lines, min_score, max_score FROM crm.assignment_rule WHERE active ORDER BY position",
	0, {InvalidOid}
};

/* SKIP LOCKED: a lead another session is assigning is that session's. */
CRM_KEPT_PLAN(waiting_leads) = {
	"SELECT l.id, l.channel, l.region_code, l.product_line, l.score, l.status = 'assigned' AS assigned,"
	"  l.owner, l.assignment_rule, l.previous_owner, l.waiting_reason,"
	"  coalesce((SELECT k.owner FROM crm.contact k WHERE k.id = l.contact_id),"
	"           (SELECT a.owner FROM crm.account a WHERE a.id = l.account_id)) AS customer_owner"
	" FROM crm.lead l WHERE l.id = ANY ($1)"
	"  AND (l.status = 'scored' OR ($2 AND l.status = 'assigned' AND l.first_response_at IS NULL))"
	" ORDER BY l.created_at, l.id FOR UPDATE OF l SKIP LOCKED",
	2, {INT8ARRAYOID, BOOLOID}
};

/* waiting_leads' columns, read by name */
enum
{
	W_ID, W_CHANNEL, W_REGION_CODE, W_PRODUCT_LINE, W_SCORE, W_ASSIGNED, W_OWNER, W_RULE,
	W_PREVIOUS_OWNER, W_WAITING_REASON, W_CUSTOMER_OWNER, N_WAITING
};
static const char *const waiting_columns[N_WAITING] = {
	[W_ID] = "id", [W_CHANNEL] = "channel", [W_REGION_CODE] = "region_code",
	[W_PRODUCT_LINE] = "product_line", [W_SCORE] = "score", [W_ASSIGNED] = "assigned",
	[W_OWNER] = "owner", [W_RULE] = "assignment_rule", [W_PREVIOUS_OWNER] = "previous_owner",
	[W_WAITING_REASON] = "waiting_reason", [W_CUSTOMER_OWNER] = "customer_owner"
};

CRM_KEPT_PLAN(lock_teams) = {
	"SELECT t.code FROM crm.team t"
	" WHERE t.code = ANY ($1) OR t.code IN (SELECT r.team FROM crm.rep r WHERE r.login = ANY ($2))"
	" ORDER BY t.code FOR NO KEY UPDATE",
	2, {TEXTARRAYOID, TEXTARRAYOID}
};

/* Read after the team locks: the counts are what the last holder left. */
CRM_KEPT_PLAN(team_reps) = {
	"SELECT r.login, r.team, r.active AND crm.rep_is_present(r.login, d.day), r.daily_capacity,"
	"  coalesce((SELECT dl.assigned FROM crm.rep_day_load dl WHERE dl.rep = r.login AND dl.day = d.day), 0),"
	"  r.open_leads, r.rotation"
	" FROM crm.rep r JOIN crm.team t ON t.code = r.team JOIN crm.calendar c ON c.code = t.calendar"
	" CROSS JOIN LATERAL (SELECT (now() AT TIME ZONE c.time_zone)::date AS day) d"
	" WHERE t.code = ANY ($1) ORDER BY r.login",
	1, {TEXTARRAYOID}
};

/* A text[] condition; NULL (no condition) gives NULL. */
static Datum *
spi_text_array(uint64 row, int col, int *n)
{
	bool		isnull;
	Datum		d = crm_spi_datum(row, col, &isnull);
	Datum	   *elems;

	*n = 0;
	if (isnull)
		return NULL;
	deconstruct_array(DatumGetArrayTypePCopy(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, NULL, n);
	return elems;
}

static void
read_rules(Assignment *a)
{
	uint64		rows = crm_plan_run(&active_rules, NULL, NULL, 0, SPI_OK_SELECT);

	a->rules = palloc0(sizeof(Rule) * Max(rows, 1));
	a->n_rules = (int) rows;
	for (uint64 r = 0; r < rows; r++)
	{
		Rule	   *rule = &a->rules[r];

		rule->code = crm_spi_text(r, 1);
		rule->team = crm_spi_text(r, 2);
		rule->least_loaded = crm_spi_bool(r, 3);
		rule->to_customer_owner = crm_spi_bool(r, 4);
		rule->channels = spi_text_array(r, 5, &rule->n_channels);
		rule->region_prefixes = spi_text_array(r, 6, &rule->n_region_prefixes);
		rule->product_lines = spi_text_array(r, 7, &rule->n_product_lines);
		rule->has_min_score = crm_spi_int4(r, 8, &rule->min_score);
		rule->has_max_score = crm_spi_int4(r, 9, &rule->max_score);
	}
}

static void
read_leads(Assignment *a, ArrayType *ids, bool reroute)
{
	Datum		args[2] = {PointerGetDatum(ids), BoolGetDatum(reroute)};
	uint64		rows = crm_plan_run(&waiting_leads, args, NULL, 0, SPI_OK_SELECT);
	int			col[N_WAITING];

	crm_spi_columns(waiting_columns, N_WAITING, col);
	a->leads = palloc0(sizeof(WaitingLead) * Max(rows, 1));
	a->n_leads = (int) rows;
	for (uint64 r = 0; r < rows; r++)
	{
		WaitingLead *l = &a->leads[r];

		(void) crm_spi_int8(r, col[W_ID], &l->id);
		l->channel = crm_spi_text(r, col[W_CHANNEL]);
		l->region_code = crm_spi_text(r, col[W_REGION_CODE]);
		l->product_line = crm_spi_text(r, col[W_PRODUCT_LINE]);
		l->has_score = crm_spi_int4(r, col[W_SCORE], &l->score);
		l->assigned = crm_spi_bool(r, col[W_ASSIGNED]);
		l->owner = crm_spi_text(r, col[W_OWNER]);
		l->rule = crm_spi_text(r, col[W_RULE]);
		l->previous_owner = crm_spi_text(r, col[W_PREVIOUS_OWNER]);
		l->waiting_reason = crm_spi_text(r, col[W_WAITING_REASON]);
		l->customer_owner = crm_spi_text(r, col[W_CUSTOMER_OWNER]);
	}
}

/* ---------------------------------------------------------------------
 * Rules
 * --------------------------------------------------------------------- */

static bool
in_list(const char *value, Datum *list, int n, bool prefix)
{
	if (list == NULL)
		return true;
	if (value == NULL)
		return false;
	for (int i = 0; i < n; i++)
	{
		char	   *item = TextDatumGetCString(list[i]);

		if (prefix ? strncmp(value, item, strlen(item)) == 0 : strcmp(value, item) == 0)
			return true;
	}
	return false;
}

static bool
same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/*
 * The customer is known only through this lead: the lead is being
 * rerouted, its owner owns the customer, and it was not routed there as a
 * known customer's lead.  Its assignment gave the customer that owner
 * (crm.customers_follow_leads), so that owner cannot hold the lead back.
 */
static bool
known_through_lead(const Assignment *a, const WaitingLead *l)
{
	if (!l->assigned || !same(l->customer_owner, l->owner))
		return false;
	for (int i = 0; i < a->n_rules; i++)
		if (same(a->rules[i].code, l->rule))
			return !a->rules[i].to_customer_owner;
	return true;
}

static bool
rule_holds(const Assignment *a, const Rule *r, const WaitingLead *l)
{
	if ((r->has_min_score || r->has_max_score) && !l->has_score)
		return false;
	/* a rule for known customers holds for leads whose customer has an owner */
	if (r->to_customer_owner && (l->customer_owner == NULL || known_through_lead(a, l)))
		return false;
	return in_list(l->channel, r->channels, r->n_channels, false) &&
		in_list(l->region_code, r->region_prefixes, r->n_region_prefixes, true) &&
		in_list(l->product_line, r->product_lines, r->n_product_lines, false) &&
		(!r->has_min_score || l->score >= r->min_score) &&
		(!r->has_max_score || l->score <= r->max_score);
}

/* A lead being rerouted whose rule is still the one keeps its owner. */
static bool
keeps_owner(const WaitingLead *l)
{
	return l->assigned && l->rule && l->decided && strcmp(l->rule, l->decided->code) == 0;
}

/* The first rule that holds for the lead, or NULL. */
static Rule *
first_rule(Assignment *a, const WaitingLead *l)
{
	for (int r = 0; r < a->n_rules; r++)
		if (rule_holds(a, &a->rules[r], l))
			return &a->rules[r];
	return NULL;
}

static void
decide_rules(Assignment *a)
{
	for (int i = 0; i < a->n_leads; i++)
		a->leads[i].decided = first_rule(a, &a->leads[i]);
}

/* Why a lead no rule holds for waits. */
static char *
unruled_reason(const Assignment *a)
{
	return a->n_rules == 0 ? "no assignment rule is active" : "no assignment rule matches";
}

/* ---------------------------------------------------------------------
 * Reps, read under the team locks
 * --------------------------------------------------------------------- */

static void
lock_and_read_reps(Assignment *a)
{
	CrmColumn	teams[1] = CRM_COLUMNS(CRM_COL(TEXTOID));
	/* the rules' teams, and the customer owners whose teams count too */
	CrmColumn	wanted[2] = CRM_COLUMNS(CRM_COL(TEXTOID), CRM_COL(TEXTOID));
	uint64		rows;

	for (int i = 0; i < a->n_leads; i++)
	{
		Rule	   *r = a->leads[i].decided;

		if (r == NULL || keeps_owner(&a->leads[i]))
			continue;
		crm_put_text(&wanted[0], r->team);
		if (r->to_customer_owner && a->leads[i].customer_owner)
			crm_put_text(&wanted[1], a->leads[i].customer_owner);
	}
	rows = crm_run_columns(&lock_teams, wanted, SPI_OK_SELECT);
	for (uint64 r = 0; r < rows; r++)
		crm_put_text(&teams[0], crm_spi_text(r, 1));
	rows = crm_run_columns(&team_reps, teams, SPI_OK_SELECT);
	a->reps = palloc0(sizeof(Rep) * Max(rows, 1));
	a->n_reps = (int) rows;
	for (uint64 r = 0; r < rows; r++)
	{
		Rep		   *rep = &a->reps[r];

		rep->login = crm_spi_text(r, 1);
		rep->team = crm_spi_text(r, 2);
		rep->active_and_present = crm_spi_bool(r, 3);
		rep->has_capacity = crm_spi_int4(r, 4, &rep->capacity);
		(void) crm_spi_int4(r, 5, &rep->assigned_today);
		(void) crm_spi_int4(r, 6, &rep->open_leads);
		(void) crm_spi_int8(r, 7, &rep->rotation);
	}
}

static bool
available(const Rep *rep)
{
	return rep->active_and_present && (!rep->has_capacity || rep->assigned_today < rep->capacity);
}

static Rep *
rep_named(Assignment *a, const char *login)
{
	for (int i = 0; login && i < a->n_reps; i++)
		if (strcmp(a->reps[i].login, login) == 0)
			return &a->reps[i];
	return NULL;
}

/* Whether rep comes before best under the strategy: lower load, then turn. */
static bool
before(const Rep *rep, const Rep *best, bool least_loaded)
{
	if (best == NULL)
		return true;
	if (least_loaded && rep->open_leads != best->open_leads)
		return rep->open_leads < best->open_leads;
	if (rep->rotation != best->rotation)
		return rep->rotation < best->rotation;
	return strcmp(rep->login, best->login) < 0;
}

/* The team's next rep; one the lead was taken from only if none else. */
static Rep *
pick(Assignment *a, const Rule *rule, const char *avoid)
{
	Rep		   *best = NULL;
	Rep		   *avoided = NULL;

	for (int i = 0; i < a->n_reps; i++)
	{
		Rep		   *rep = &a->reps[i];

		if (strcmp(rep->team, rule->team) != 0 || !available(rep))
			continue;
		if (avoid && strcmp(rep->login, avoid) == 0)
			avoided = rep;
		else if (before(rep, best, rule->least_loaded))
			best = rep;
	}
	return best ? best : avoided;
}

/* The rep takes a lead: its turn moves past everyone else's in the team. */
static void
take(Assignment *a, Rep *rep)
{
	int64		last = rep->rotation;

	for (int i = 0; i < a->n_reps; i++)
		if (strcmp(a->reps[i].team, rep->team) == 0)
			last = Max(last, a->reps[i].rotation);
	rep->rotation = last + 1;
	rep->assigned_today++;
	rep->open_leads++;
	rep->took = true;
}

static void
decide_rep(Assignment *a, WaitingLead *l)
{
	Rule	   *rule = l->decided;
	Rep		   *owner = rule->to_customer_owner ? rep_named(a, l->customer_owner) : NULL;

	/* a lead taken back from its customer's owner goes to the team */
	if (owner && (!available(owner) || (l->previous_owner && strcmp(owner->login, l->previous_owner) == 0)))
		owner = NULL;
	l->rep = owner ? owner : pick(a, rule, l->previous_owner);
	if (l->rep == NULL)
	{
		l->reason = psprintf("no rep of team %s is available (inactive, absent or at daily capacity)",
							 rule->team);
		return;
	}
	rule->fired = true;
	if (!(l->owner && strcmp(l->owner, l->rep->login) == 0))
		take(a, l->rep);
}

static void
decide_reps(Assignment *a)
{
	for (int i = 0; i < a->n_leads; i++)
	{
		WaitingLead *l = &a->leads[i];

		if (l->decided == NULL)
			l->reason = unruled_reason(a);
		else if (keeps_owner(l))
			continue;
		else
			decide_rep(a, l);
	}
}

/* ---------------------------------------------------------------------
 * Writes
 * --------------------------------------------------------------------- */

/* A new owner starts a new clock; a rerouted lead that stays keeps it. */
CRM_KEPT_PLAN(assign_leads) = {
	"UPDATE crm.lead l SET status = 'assigned', owner = u.owner, team = u.team,"
	"  assignment_rule = u.rule, waiting_reason = NULL,"
	"  assigned_at = CASE WHEN l.owner = u.owner THEN l.assigned_at ELSE now() END,"
	"  previous_owner = CASE WHEN l.owner <> u.owner THEN l.owner ELSE l.previous_owner END"
	" FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[]) u(id, owner, team, rule)"
	" WHERE l.id = u.id",
	4, {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID}
};
CRM_KEPT_PLAN(note_waiting) = {
	"UPDATE crm.lead l SET waiting_reason = u.reason, assignment_rule = u.rule"
	" FROM unnest($1::int8[], $2::text[], $3::text[]) u(id, reason, rule) WHERE l.id = u.id",
	3, {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID}
};
/*
 * With no active rule, the leads only learn why they wait: those that
 * know it already (ingestion stored it with them) are neither locked nor
 * written again.
 */
CRM_KEPT_PLAN(note_unruled) = {
	"UPDATE crm.lead l SET waiting_reason = $2, assignment_rule = NULL"
	" FROM (SELECT w.id FROM crm.lead w WHERE w.id = ANY ($1) AND w.status = 'scored'"
	"         AND (w.waiting_reason IS DISTINCT FROM $2 OR w.assignment_rule IS NOT NULL)"
	"       ORDER BY w.created_at, w.id FOR UPDATE OF w SKIP LOCKED) u"
	" WHERE l.id = u.id",
	2, {INT8ARRAYOID, TEXTOID}
};
CRM_KEPT_PLAN(advance_turns) = {
	"UPDATE crm.rep r SET rotation = u.rotation, last_assigned_at = now()"
	" FROM unnest($1::text[], $2::int8[]) u(login, rotation) WHERE r.login = u.login",
	2, {TEXTARRAYOID, INT8ARRAYOID}
};
CRM_KEPT_PLAN(rules_fired) = {
	"UPDATE crm.assignment_rule SET last_fired_at = now() WHERE code = ANY ($1)",
	1, {TEXTARRAYOID}
};

/* Returns how many leads got an owner. */
static int
write_leads(Assignment *a)
{
	CrmColumn	got[4] = CRM_COLUMNS(CRM_COL(INT8OID), CRM_COL(TEXTOID), CRM_COL(TEXTOID), CRM_COL(TEXTOID));
	CrmColumn	wait[3] = CRM_COLUMNS(CRM_COL(INT8OID), CRM_COL(TEXTOID), CRM_COL(TEXTOID));
	int			assigned = 0;

	for (int i = 0; i < a->n_leads; i++)
	{
		WaitingLead *l = &a->leads[i];
		const char *rule = l->decided ? l->decided->code : NULL;

		if (l->rep)
		{
			crm_put_int8(&got[0], l->id, false);
			crm_put_text(&got[1], l->rep->login);
			crm_put_text(&got[2], l->rep->team);
			crm_put_text(&got[3], rule);
			assigned += !same(l->owner, l->rep->login);
		}
		else if (l->reason && !l->assigned && !(same(l->waiting_reason, l->reason) && same(l->rule, rule)))
		{
			crm_put_int8(&wait[0], l->id, false);
			crm_put_text(&wait[1], l->reason);
			crm_put_text(&wait[2], rule);
		}
	}
	if (got[0].state)
		(void) crm_run_columns(&assign_leads, got, SPI_OK_UPDATE);
	if (wait[0].state)
		(void) crm_run_columns(&note_waiting, wait, SPI_OK_UPDATE);
	return assigned;
}

static void
write_turns(Assignment *a)
{
	CrmColumn	turns[2] = CRM_COLUMNS(CRM_COL(TEXTOID), CRM_COL(INT8OID));
	CrmColumn	fired[1] = CRM_COLUMNS(CRM_COL(TEXTOID));

	for (int i = 0; i < a->n_reps; i++)
		if (a->reps[i].took)
		{
			crm_put_text(&turns[0], a->reps[i].login);
			crm_put_int8(&turns[1], a->reps[i].rotation, false);
		}
	for (int i = 0; i < a->n_rules; i++)
		if (a->rules[i].fired)
			crm_put_text(&fired[0], a->rules[i].code);
	if (turns[0].state)
		(void) crm_run_columns(&advance_turns, turns, SPI_OK_UPDATE);
	if (fired[0].state)
		(void) crm_run_columns(&rules_fired, fired, SPI_OK_UPDATE);
}

/* ---------------------------------------------------------------------
 * Asked by ingestion, before a lead is stored
 * --------------------------------------------------------------------- */

struct AssignmentRules
{
	Assignment	a;				/* its rules only */
};

AssignmentRules *
crm_assignment_rules(void)
{
	AssignmentRules *rules = palloc0(sizeof(AssignmentRules));

	read_rules(&rules->a);
	return rules;
}

const char *
crm_assignment_unruled(AssignmentRules *rules, const char *channel, const char *region_code,
					   const char *product_line, int32 score, const char *customer_owner)
{
	WaitingLead l = {
		.channel = unconstify(char *, channel),
		.region_code = unconstify(char *, region_code),
		.product_line = unconstify(char *, product_line),
		.has_score = true,
		.score = score,
		.customer_owner = unconstify(char *, customer_owner),
	};

	return first_rule(&rules->a, &l) ? NULL : unruled_reason(&rules->a);
}

/* ---------------------------------------------------------------------
 * SQL
 * --------------------------------------------------------------------- */

static int
assign(ArrayType *ids, bool reroute)
{
	Assignment	a = {0};

	read_rules(&a);
	/* no active rule routes nothing */
	if (a.n_rules == 0)
	{
		Datum		args[2] = {PointerGetDatum(ids), CStringGetTextDatum(unruled_reason(&a))};

		(void) crm_plan_run(&note_unruled, args, NULL, 0, SPI_OK_UPDATE);
		return 0;
	}
	read_leads(&a, ids, reroute);
	if (a.n_leads == 0)
		return 0;
	decide_rules(&a);
	lock_and_read_reps(&a);
	decide_reps(&a);
	/* turns first: the lead trigger then updates the same rep rows */
	write_turns(&a);
	return write_leads(&a);
}

PG_FUNCTION_INFO_V1(crm_assign_leads);

Datum
crm_assign_leads(PG_FUNCTION_ARGS)
{
	ArrayType  *ids = PG_GETARG_ARRAYTYPE_P(0);
	bool		reroute = PG_GETARG_BOOL(1);
	MemoryContext work;
	MemoryContext caller = CurrentMemoryContext;
	int			assigned = 0;

	if (ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids)) == 0)
		PG_RETURN_INT32(0);
	work = AllocSetContextCreate(CurrentMemoryContext, "crm assignment", ALLOCSET_DEFAULT_SIZES);
	SPI_connect();
	MemoryContextSwitchTo(work);
	assigned = assign(ids, reroute);
	SPI_finish();
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(work);
	PG_RETURN_INT32(assigned);
}
