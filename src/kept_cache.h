/*
 * kept_cache.h: rows of crm's tables kept in memory across calls, until a
 * committed change to those tables.
 *
 * The score model, the lead lifecycle's transitions and every other set of
 * rules a hot path reads are rows a manager or a data steward may change.
 * Reading them at every call would cost a query per lead; reading them
 * once per session would miss the change.  A kept cache is loaded on first
 * use and dropped when a statement trigger on one of its tables (a C
 * function calling crm_kept_cache_changed) sends a relcache invalidation of
 * the table: at commit to every backend, and at once to the changing one.
 */
#ifndef CRM_KEPT_CACHE_H
#define CRM_KEPT_CACHE_H

#include "postgres.h"

#include "fmgr.h"

#define CRM_KEPT_CACHE_TABLES 4

typedef struct CrmKeptCache CrmKeptCache;

/*
 * Reads the tables into a value of the loader's own; called with SPI
 * connected and the cache's memory context current, so everything it
 * allocates lives as long as the value.
 */
typedef void *(*CrmKeptCacheLoad) (CrmKeptCache *cache);

struct CrmKeptCache
{
	const char *name;			/* its memory context's identifier */
	/* tables in schema crm whose change drops the value; NULL-terminated */
	const char *tables[CRM_KEPT_CACHE_TABLES + 1];
	CrmKeptCacheLoad load;

	/* kept_cache.c's own */
	void	   *value;
	MemoryContext cxt;
	bool		outlives_xact;
	bool		tables_exist;
	bool		registered;
	Oid			table_oids[CRM_KEPT_CACHE_TABLES];
	CrmKeptCache *next;
};

/* A cache of crm tables: CRM_KEPT_CACHE("name", load, "table", ...) */
#define CRM_KEPT_CACHE(name, load, ...) {name, {__VA_ARGS__, NULL}, load}

/*
 * The value as the tables hold it now (loading it if need be; SPI is
 * connected for the loader).  Valid until the end of the transaction: a
 * caller may keep using it after a change drops it from the cache.
 */
extern void *crm_kept_cache_get(CrmKeptCache *cache);

/*
 * While loading: whether every table of the cache exists.  A database
 * whose crm is older than this library (between installing a new package
 * and ALTER EXTENSION crm UPDATE) may lack a new one; what is loaded then
 * is kept for the transaction only.
 */
extern bool crm_kept_cache_tables_exist(const CrmKeptCache *cache);

/*
 * For a statement trigger on a cache's table: every backend drops what it
 * keeps of the table (at commit; this one at once).
 */
extern Datum crm_kept_cache_changed(FunctionCallInfo fcinfo, const char *trigger_name);

/* Registers the invalidation and transaction callbacks (from _PG_init). */
extern void crm_kept_cache_init(void);

#endif							/* CRM_KEPT_CACHE_H */
