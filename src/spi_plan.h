/*
 * spi_plan.h: prepared SPI plans kept for the life of the backend.
 */
#ifndef CRM_SPI_PLAN_H
#define CRM_SPI_PLAN_H

#include "postgres.h"

#include "executor/spi.h"
#include "utils/array.h"

#define CRM_PLAN_MAX_ARGS 32

/* The search_path crm's statements run under, as its SQL functions' SET clauses give it. */
#define CRM_PINNED_SEARCH_PATH "pg_catalog, pg_temp"

/*
 * Pin search_path to CRM_PINNED_SEARCH_PATH until crm_unpin_search_path
 * (or the end of the (sub)transaction, on error); a no-op where it is
 * pinned already.
 */
extern int	crm_pin_search_path(void);
extern void crm_unpin_search_path(int nest);

/* One statement on a hot path: prepared on first use, then reused. */
typedef struct CrmPlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[CRM_PLAN_MAX_ARGS];
	SPIPlanPtr	plan;
} CrmPlan;

/*
 * Every CrmPlan is declared with CRM_KEPT_PLAN(name) = {sql, nargs, {types}};
 * which also lists it, under its name, in the linker section crm_kept_plans:
 * crm.kept_plans() reads them all from there, so no plan escapes its test.
 */
typedef struct CrmKeptPlan
{
	const char *name;
	CrmPlan    *plan;
} CrmKeptPlan;

#define CRM_KEPT_PLAN(var) \
	static CrmPlan var; \
	static const CrmKeptPlan var##_kept = {#var, &var}; \
	static const CrmKeptPlan *const var##_entry \
		__attribute__((used, section("crm_kept_plans"))) = &var##_kept; \
	static CrmPlan var

/* The kept plans, in no particular order: *count of them. */
extern const CrmKeptPlan *const *crm_kept_plans(int *count);

/*
 * The generic plan of a kept plan (preparing it first if need be), built
 * as crm_plan_run builds it; release it with ReleaseCachedPlan.
 */
extern CachedPlan *crm_plan_generic(CrmPlan *plan);

/* Installs the planner hooks that plan kept statements (from _PG_init). */
extern void crm_spi_plan_init(void);

/*
 * Execute a kept plan (preparing it first if need be) with values and
 * nulls as SPI_execute_plan takes them; returns the number of rows
 * processed, and raises an error unless the result code is expected.
 * The caller's memory context is current again afterwards.
 */
extern uint64 crm_plan_run(CrmPlan *plan, Datum *values, const char *nulls,
						   long tcount, int expected);

/*
 * Column n (1-based) of result row i, as text (NULL when null), or as an
 * integer (0 and false when null) or a boolean (false when null).
 */
extern char *crm_spi_text(uint64 row, int col);

/*
 * The number (1-based) of the first column of the last result named name,
 * from column from on: results are read by name, resolved once per result.
 */
extern int	crm_spi_column(const char *name, int from);

/* cols[i]: the number of the last result's column names[i] (crm_spi_column from 1). */
extern void crm_spi_columns(const char *const *names, int n, int *cols);
extern bool crm_spi_int8(uint64 row, int col, int64 *out);
extern bool crm_spi_int4(uint64 row, int col, int32 *out);
extern bool crm_spi_bool(uint64 row, int col);
extern Datum crm_spi_datum(uint64 row, int col, bool *isnull);

/*
 * One array parameter of a batch statement: values are appended row by
 * row, and the statement gets them all at once through unnest().
 */
typedef struct CrmColumn
{
	Oid			type;
	ArrayBuildState *state;
} CrmColumn;

#define CRM_COLUMNS(...) {__VA_ARGS__}
#define CRM_COL(t) {t, NULL}

extern void crm_put(CrmColumn *c, Datum value, bool isnull);

/*
 * Let n columns build their arrays in the current memory context rather
 * than in a context each (which frees a batch's copies once its array is
 * made): cheaper for a few rows, for a context that ends with the batch.
 */
extern void crm_columns_in_current_context(CrmColumn *cols, int n);
extern void crm_put_text(CrmColumn *c, const char *s);
extern void crm_put_int8(CrmColumn *c, int64 v, bool isnull);

/* Run a batch statement whose parameters are the columns' arrays. */
extern uint64 crm_run_columns(CrmPlan *plan, CrmColumn *cols, int expected);
/* The columns' arrays as a plan's arguments, for a runner of one's own. */
extern void crm_columns_as_args(const CrmPlan *plan, CrmColumn *cols, Datum *values);

#endif							/* CRM_SPI_PLAN_H */
