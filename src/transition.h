/*
 * transition.h: which state changes are allowed, as rows kept in memory.
 *
 * A set of allowed (from, to) pairs, each under an optional scope (a
 * pipeline, say: one set of stages per pipeline), read by a kept SPI plan
 * the caller declares and kept until its tables change (table_cache.h).
 * The lead lifecycle (lead_state.c) has a single, unscoped set.
 *
 * A user declares:
 *
 *	CRM_KEPT_PLAN(stage_rows) = {"SELECT pipeline_id::text, from_stage, to_stage FROM ...", 0, {InvalidOid}};
 *	static void *load_stages(void);
 *	static CrmTransitionCache stages = {
 *		{"crm pipeline stages", {"stage_transition"}, load_stages}, &stage_rows, NULL
 *	};
 *	static void *load_stages(void) { return crm_transitions_load(&stages); }
 *
 * registers stages.cache from its module's init, puts a statement trigger
 * running crm.transitions_changed() on the table, and asks
 * crm_transition_allowed(&stages, pipeline, from, to).
 */
#ifndef CRM_TRANSITION_H
#define CRM_TRANSITION_H

#include "postgres.h"

#include "spi_plan.h"
#include "table_cache.h"

/*
 * The plan returns one row per allowed change: (scope text, from text,
 * to text), scope NULL when unscoped; a scope of another type is given as
 * text (pipeline_id::text).  Until the cache's tables exist (a database not
 * yet updated to this library's version), rows_before_tables is read
 * instead, if given, for the transaction only.
 */
typedef struct CrmTransitionCache
{
	CrmTableCache cache;
	CrmPlan    *rows;
	CrmPlan    *rows_before_tables;
} CrmTransitionCache;

/* The loader of t->cache: reads t's plan (connects to SPI itself). */
extern void *crm_transitions_load(CrmTransitionCache *t);

/* Whether from may go to to, under scope (NULL: unscoped). */
extern bool crm_transition_allowed(CrmTransitionCache *t, const char *scope,
								   const char *from, const char *to);

/*
 * Where from may go under scope, for a message: "a", "b" or "c", quoted and
 * in byte order; NULL when nowhere.
 */
extern char *crm_transition_next_states(CrmTransitionCache *t, const char *scope,
										const char *from);

#endif							/* CRM_TRANSITION_H */
