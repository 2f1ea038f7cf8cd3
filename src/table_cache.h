/*
 * table_cache.h: rules kept as data, held in memory per backend until
 * their tables change.
 *
 * A cache names the crm tables it is read from and a loader.  A statement
 * trigger on each table (crm_table_cache_changed) sends a relcache
 * invalidation of the table, delivered to this backend at once and to the
 * others at commit; the cache is then stale and the next get reads the
 * tables again.  The score model and the match weights are kept this way.
 */
#ifndef CRM_TABLE_CACHE_H
#define CRM_TABLE_CACHE_H

#include "postgres.h"

#include "commands/trigger.h"
#include "nodes/pg_list.h"

#define CRM_TABLE_CACHE_MAX_TABLES 6

typedef struct CrmTableCache
{
	const char *name;			/* its memory context's identifier */
	const char *tables[CRM_TABLE_CACHE_MAX_TABLES]; /* in schema crm; NULL ends */
	void	   *(*load) (void); /* under SPI, in the cache's memory context */
	/* state */
	void	   *current;
	MemoryContext cxt;
	bool		outlives_xact;
	Oid			oids[CRM_TABLE_CACHE_MAX_TABLES];
} CrmTableCache;

/* From _PG_init (through the module's init): watch the cache's tables. */
extern void crm_table_cache_register(CrmTableCache *cache);

/*
 * What the tables hold now, loaded if need be; needs SPI_connect.  Valid
 * until the end of the transaction, even if the tables change meanwhile.
 */
extern void *crm_table_cache_get(CrmTableCache *cache);

/*
 * While loading: whether every table of the cache exists.  A database whose
 * crm is older than this library (between installing a new package and
 * ALTER EXTENSION crm UPDATE) may lack a new one; what is loaded then
 * serves the transaction only.
 */
extern bool crm_table_cache_tables_exist(const CrmTableCache *cache);

/* The body of a statement trigger on a cached table: every backend reloads. */
extern void crm_table_cache_changed(FunctionCallInfo fcinfo, const char *trigger_name);

#endif							/* CRM_TABLE_CACHE_H */
