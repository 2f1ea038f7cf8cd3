/*
 * kept_cache.c: rows of crm's tables kept in memory until they change.
 *
 * A statement trigger on each table calls crm_kept_cache_changed(), which
 * sends a relcache invalidation of the table at commit (and to this
 * backend at once); the callback below then drops every cache reading it.
 * The message goes out after the commit is visible, so the reload, under a
 * new snapshot, sees it.  A transaction-snapshot transaction (REPEATABLE
 * READ, SERIALIZABLE) may read older rows than the committed ones: what it
 * loads serves that transaction only.
 *
 * A dropped value is not freed at once: a caller may still be using it (a
 * batch flush whose trigger re-scored a lead).  Its memory goes at the end
 * of the transaction.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "kept_cache.h"

static CrmKeptCache *registered_caches = NULL;
static List *dropped_cxts = NIL;	/* in TopMemoryContext */

static void
drop_value(CrmKeptCache *cache)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	if (cache->cxt != NULL)
		dropped_cxts = lappend(dropped_cxts, cache->cxt);
	MemoryContextSwitchTo(old);
	cache->value = NULL;
	cache->cxt = NULL;
}

static bool
reads_table(const CrmKeptCache *cache, Oid relid)
{
	for (int i = 0; cache->tables[i] != NULL; i++)
		if (cache->table_oids[i] == relid)
			return true;
	return false;
}

static void
table_invalidated(Datum arg, Oid relid)
{
	for (CrmKeptCache *c = registered_caches; c != NULL; c = c->next)
		if (c->value != NULL && (relid == InvalidOid || reads_table(c, relid)))
			drop_value(c);
}

static void
free_dropped_values(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	for (CrmKeptCache *c = registered_caches; c != NULL; c = c->next)
		if (c->value != NULL && !c->outlives_xact)
			drop_value(c);
	foreach(lc, dropped_cxts)
		MemoryContextDelete((MemoryContext) lfirst(lc));
	list_free(dropped_cxts);
	dropped_cxts = NIL;
}

static void
find_tables(CrmKeptCache *cache)
{
	Oid			crm_schema = get_namespace_oid("crm", false);

	cache->tables_exist = true;
	for (int i = 0; cache->tables[i] != NULL; i++)
	{
		cache->table_oids[i] = get_relname_relid(cache->tables[i], crm_schema);
		cache->tables_exist &= OidIsValid(cache->table_oids[i]);
	}
	if (!cache->registered)
	{
		cache->next = registered_caches;
		registered_caches = cache;
		cache->registered = true;
	}
}

bool
crm_kept_cache_tables_exist(const CrmKeptCache *cache)
{
	return cache->tables_exist;
}

void *
crm_kept_cache_get(CrmKeptCache *cache)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext cxt;
	void	   *value;

	AcceptInvalidationMessages();
	if (cache->value != NULL)
		return cache->value;
	find_tables(cache);
	/* under the caller's context until loaded: an error frees it with the rest */
	cxt = AllocSetContextCreate(caller, "crm kept cache", ALLOCSET_SMALL_SIZES);
	MemoryContextSetIdentifier(cxt, cache->name);
	SPI_connect();
	MemoryContextSwitchTo(cxt);
	value = cache->load(cache);
	MemoryContextSwitchTo(caller);
	SPI_finish();
	MemoryContextSetParent(cxt, TopMemoryContext);
	cache->value = value;
	cache->cxt = cxt;
	cache->outlives_xact = cache->tables_exist && !IsolationUsesXactSnapshot();
	return value;
}

Datum
crm_kept_cache_changed(FunctionCallInfo fcinfo, const char *trigger_name)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must be called as a statement trigger", trigger_name)));
	CacheInvalidateRelcache(td->tg_relation);
	return PointerGetDatum(NULL);
}

void
crm_kept_cache_init(void)
{
	CacheRegisterRelcacheCallback(table_invalidated, (Datum) 0);
	RegisterXactCallback(free_dropped_values, NULL);
}

PG_FUNCTION_INFO_V1(crm_kept_rows_changed);

/* Trigger crm.kept_rows_changed(): rows kept in memory changed. */
Datum
crm_kept_rows_changed(PG_FUNCTION_ARGS)
{
	return crm_kept_cache_changed(fcinfo, "crm.kept_rows_changed()");
}
