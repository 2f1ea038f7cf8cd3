/*
 * transition.c: allowed state changes, read from a table and kept.
 *
 * The pairs are sorted by (scope, from, to) in byte order, so the changes
 * out of one state are adjacent and a lookup is a binary search.  Byte
 * order rather than the database's collation: a lookup is an equality,
 * and messages list states the same way on every server.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"

#include "quote.h"
#include "transition.h"

typedef struct Transition
{
	const char *scope;			/* NULL: unscoped */
	const char *from;
	const char *to;
} Transition;

typedef struct Transitions
{
	Transition *pairs;
	int			n;
} Transitions;

static int
compare_scope(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

/* Orders by scope and from only: a search by them finds every to. */
static int
compare_origin(const Transition *a, const Transition *b)
{
	int			c = compare_scope(a->scope, b->scope);

	return c != 0 ? c : strcmp(a->from, b->from);
}

static int
compare_pairs(const void *pa, const void *pb)
{
	const Transition *a = pa;
	const Transition *b = pb;
	int			c = compare_origin(a, b);

	return c != 0 ? c : strcmp(a->to, b->to);
}

static void
read_pairs(CrmPlan *plan, Transitions *t)
{
	uint64		rows = crm_plan_run(plan, NULL, NULL, 0, SPI_OK_SELECT);

	t->pairs = palloc(sizeof(Transition) * Max(rows, 1));
	for (uint64 r = 0; r < rows; r++)
	{
		Transition *p = &t->pairs[t->n];

		p->scope = crm_spi_text(r, 1);
		p->from = crm_spi_text(r, 2);
		p->to = crm_spi_text(r, 3);
		if (p->from != NULL && p->to != NULL)
			t->n++;
	}
}

void *
crm_transitions_load(CrmTransitionCache *tc)
{
	MemoryContext cxt = CurrentMemoryContext;
	CrmPlan    *plan = crm_table_cache_tables_exist(&tc->cache) ? tc->rows : tc->rows_before_tables;
	Transitions *t = palloc0(sizeof(Transitions));

	if (plan == NULL)
		elog(ERROR, "crm: the tables of %s do not exist", tc->cache.name);
	/* SPI_connect switches to its own context; what is read is the cache's */
	SPI_connect();
	MemoryContextSwitchTo(cxt);
	read_pairs(plan, t);
	SPI_finish();
	qsort(t->pairs, t->n, sizeof(Transition), compare_pairs);
	return t;
}

PG_FUNCTION_INFO_V1(crm_transitions_changed);

/* Trigger crm.transitions_changed(): every backend reads the table again. */
Datum
crm_transitions_changed(PG_FUNCTION_ARGS)
{
	crm_table_cache_changed(fcinfo, "crm.transitions_changed()");
	return PointerGetDatum(NULL);
}

/* The first pair out of (scope, from), or NULL. */
static const Transition *
first_out_of(const Transitions *t, const char *scope, const char *from)
{
	Transition	key = {scope, from, NULL};
	int			lo = 0,
				hi = t->n;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (compare_origin(&t->pairs[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->n && compare_origin(&t->pairs[lo], &key) == 0 ? &t->pairs[lo] : NULL;
}

static bool
same_origin(const Transitions *t, const Transition *p, const Transition *first)
{
	return p < t->pairs + t->n && compare_origin(p, first) == 0;
}

bool
crm_transition_allowed(CrmTransitionCache *tc, const char *scope,
					   const char *from, const char *to)
{
	const Transitions *t = crm_table_cache_get(&tc->cache);
	const Transition *first = first_out_of(t, scope, from);

	for (const Transition *p = first; p && same_origin(t, p, first); p++)
		if (strcmp(p->to, to) == 0)
			return true;
	return false;
}

char *
crm_transition_next_states(CrmTransitionCache *tc, const char *scope, const char *from)
{
	const Transitions *t = crm_table_cache_get(&tc->cache);
	const Transition *first = first_out_of(t, scope, from);
	StringInfoData list;

	if (first == NULL)
		return NULL;
	initStringInfo(&list);
	for (const Transition *p = first; same_origin(t, p, first); p++)
	{
		if (p != first)
			appendStringInfoString(&list, same_origin(t, p + 1, first) ? ", " : " or ");
		appendStringInfoString(&list, crm_quote_value(p->to));
	}
	return list.data;
}
