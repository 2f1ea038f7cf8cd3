/*
 * table_cache.c: rules kept as data, held in memory per backend until
 * their tables change.
 *
 * The trigger on each table sends a relcache invalidation of the table at
 * commit (and to this backend at once); the callback below then marks the
 * caches that read it stale.  The message goes out after the commit is
 * visible, so the reload, under a new snapshot, sees it.  A
 * transaction-snapshot transaction (REPEATABLE READ, SERIALIZABLE) may
 * read older rows than the committed ones: what it loads serves that
 * transaction only.
 *
 * A stale value is not freed at once: a caller may still be using it (a
 * batch flush whose trigger re-scored a lead).  Its memory goes at the
 * end of the transaction.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "table_cache.h"

static List *caches = NIL;		/* of CrmTableCache *, in TopMemoryContext */
static List *stale_cxts = NIL;	/* in TopMemoryContext */

static void
retire(CrmTableCache *c)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	if (c->cxt != NULL)
		stale_cxts = lappend(stale_cxts, c->cxt);
	MemoryContextSwitchTo(old);
	c->current = NULL;
	c->cxt = NULL;
}

static bool
reads_table(const CrmTableCache *c, Oid relid)
{
	for (int i = 0; i < CRM_TABLE_CACHE_MAX_TABLES && c->tables[i]; i++)
		if (relid == c->oids[i])
			return true;
	return false;
}

static void
table_invalidated(Datum arg, Oid relid)
{
	ListCell   *lc;

	foreach(lc, caches)
	{
		CrmTableCache *c = lfirst(lc);

		if (c->current != NULL && (relid == InvalidOid || reads_table(c, relid)))
			retire(c);
	}
}

static void
free_stale(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	foreach(lc, caches)
	{
		CrmTableCache *c = lfirst(lc);

		if (c->current != NULL && !c->outlives_xact)
			retire(c);
	}
	foreach(lc, stale_cxts)
		MemoryContextDelete((MemoryContext) lfirst(lc));
	list_free(stale_cxts);
	stale_cxts = NIL;
}

void
crm_table_cache_register(CrmTableCache *cache)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	if (caches == NIL)
	{
		CacheRegisterRelcacheCallback(table_invalidated, (Datum) 0);
		RegisterXactCallback(free_stale, NULL);
	}
	caches = lappend(caches, cache);
	MemoryContextSwitchTo(old);
}

void *
crm_table_cache_get(CrmTableCache *c)
{
	MemoryContext caller;
	MemoryContext cxt;
	void	   *value;
	Oid			crm_schema;

	AcceptInvalidationMessages();
	if (c->current != NULL)
		return c->current;
	crm_schema = get_namespace_oid("crm", false);
	for (int i = 0; i < CRM_TABLE_CACHE_MAX_TABLES && c->tables[i]; i++)
		c->oids[i] = get_relname_relid(c->tables[i], crm_schema);
	/* under the caller's context until loaded: an error frees it with the rest */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "crm table cache", ALLOCSET_SMALL_SIZES);
	MemoryContextSetIdentifier(cxt, c->name);
	caller = MemoryContextSwitchTo(cxt);
	value = c->load();
	MemoryContextSwitchTo(caller);
	MemoryContextSetParent(cxt, TopMemoryContext);
	c->current = value;
	c->cxt = cxt;
	c->outlives_xact = crm_table_cache_tables_exist(c) && !IsolationUsesXactSnapshot();
	return value;
}

bool
crm_table_cache_tables_exist(const CrmTableCache *c)
{
	for (int i = 0; i < CRM_TABLE_CACHE_MAX_TABLES && c->tables[i]; i++)
		if (!OidIsValid(c->oids[i]))
			return false;
	return true;
}

void
crm_table_cache_changed(FunctionCallInfo fcinfo, const char *trigger_name)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must be called as a trigger", trigger_name)));
	CacheInvalidateRelcache(trigdata->tg_relation);
}
