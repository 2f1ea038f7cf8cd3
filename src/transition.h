/*
 * transition.h: which state changes are allowed, as rows kept in memory.
 *
 * A set of allowed (from, to) pairs, each under an optional scope (a
 * pipeline, say: one set of stages per pipeline), read by a kept SPI plan
 * the caller declares and kept until its tables change (kept_cache.h).
 * The lead lifecycle (lead_state.c) has a single, unscoped set.
 */
#ifndef CRM_TRANSITION_H
#define CRM_TRANSITION_H

#include "postgres.h"

#include "kept_cache.h"
#include "spi_plan.h"

/*
 * The plan returns one row per allowed change: (scope text, from text,
 * to text), scope NULL when unscoped; a scope of another type is given as
 * text (pipeline_id::text).  Until its tables exist (a database not yet
 * updated to this library's version), rows_before_tables is read instead,
 * if given, and kept for the transaction only.
 */
typedef struct CrmTransitionCache
{
	CrmKeptCache kept;			/* first: the loader gets this */
	CrmPlan    *rows;
	CrmPlan    *rows_before_tables;
} CrmTransitionCache;

/*
 * CRM_TRANSITION_CACHE("name", &rows_plan, &older_plan or NULL, "table", ...):
 * the tables are those whose change the cache must see (in schema crm),
 * each with a statement trigger running a function that calls
 * crm_kept_cache_changed.
 */
#define CRM_TRANSITION_CACHE(name, rows, rows_before_tables, ...) \
	{CRM_KEPT_CACHE(name, crm_transitions_load, __VA_ARGS__), rows, rows_before_tables}

extern void *crm_transitions_load(CrmKeptCache *cache);

/* Whether from may go to to, under scope (NULL: unscoped). */
extern bool crm_transition_allowed(CrmTransitionCache *cache, const char *scope,
								   const char *from, const char *to);

/*
 * Where from may go under scope, for a message: "a", "b" or "c", quoted and
 * in byte order; NULL when nowhere.
 */
extern char *crm_transition_next_states(CrmTransitionCache *cache, const char *scope,
										const char *from);

#endif							/* CRM_TRANSITION_H */
