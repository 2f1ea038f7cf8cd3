/*
 * match_weight.c: the m/u weights of lead matching, kept as data.
 *
 * crm.match_weight holds, for each field and each level the comparison
 * code of match.c can find, m (how often one person's two records show
 * that level) and u (how often two people's do).  A steward's row
 * (shipped = false) replaces the shipped one of its field and level.
 * Disagreement takes what the weighed levels leave.  The weights are read
 * once per backend and kept until the table changes (table_cache.c); the
 * statement trigger that says so first checks the table as the loader
 * reads it, so a change that could not be scored is refused.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "match_weight.h"
#include "quote.h"
#include "spi_plan.h"
#include "table_cache.h"

const char *const crm_match_field_names[N_MATCH_FIELDS] = {
	"phone", "email", "wechat_openid", "name", "account"
};

const char *const crm_match_level_names[N_MATCH_LEVELS] = {
	"unknown", "agree", "partial", "disagree"
};

/* The levels crm.match_weight weighs, per field; the others are derived. */
static const bool weighed[N_MATCH_FIELDS][N_MATCH_LEVELS] = {
	[F_PHONE] = {[LEVEL_AGREE] = true},
	[F_EMAIL] = {[LEVEL_AGREE] = true},
	[F_OPENID] = {[LEVEL_AGREE] = true},
	[F_NAME] = {[LEVEL_AGREE] = true, [LEVEL_PARTIAL] = true},
	[F_ACCOUNT] = {[LEVEL_AGREE] = true, [LEVEL_PARTIAL] = true},
};

/* A steward's row replaces the shipped one of its field and level. */
CRM_KEPT_PLAN(effective_weights) = {
	"SELECT w.field, w.level, w.m, w.u, NOT w.shipped FROM crm.match_weight w"
	" WHERE NOT w.shipped OR NOT EXISTS (SELECT FROM crm.match_weight o"
	"   WHERE NOT o.shipped AND o.field = w.field AND o.level = w.level)",
	0, {InvalidOid}
};

static int
index_of(const char *name, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

/* The levels of field f the table weighs, for a message. */
static char *
weighed_levels(MatchField f)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int l = 0; l < N_MATCH_LEVELS; l++)
		if (weighed[f][l])
			appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", crm_match_level_names[l]);
	return buf.data;
}

static MatchField
field_of(const char *name)
{
	int			f = index_of(name, crm_match_field_names, N_MATCH_FIELDS);

	if (f < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("crm.match_weight: unknown field %s", crm_quote_value(name)),
				 errdetail("Leads are compared on phone, email, wechat_openid, name and account.")));
	return (MatchField) f;
}

static MatchLevel
level_of(MatchField f, const char *name)
{
	int			l = index_of(name, crm_match_level_names, N_MATCH_LEVELS);

	if (l < 0 || !weighed[f][l])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("crm.match_weight: field %s has no weighed level %s",
						crm_match_field_names[f], crm_quote_value(name)),
				 errdetail("%s is weighed at: %s.", crm_match_field_names[f], weighed_levels(f)),
				 errhint("disagree takes what the others leave, (1 - sum of m) / (1 - sum of u); unknown counts 0.")));
	return (MatchLevel) l;
}

static void
set_weight(MatchWeights *w, bool seen[N_MATCH_FIELDS][N_MATCH_LEVELS], MatchField f,
		   MatchLevel l, double m, double u, bool steward)
{
	w->m[f][l] = m;
	w->u[f][l] = u;
	w->steward[f][l] = steward;
	seen[f][l] = true;
}

static void
read_row(MatchWeights *w, bool seen[N_MATCH_FIELDS][N_MATCH_LEVELS], uint64 row)
{
	MatchField	f = field_of(crm_spi_text(row, 1));
	MatchLevel	l = level_of(f, crm_spi_text(row, 2));
	bool		isnull;

	set_weight(w, seen, f, l, DatumGetFloat8(crm_spi_datum(row, 3, &isnull)),
			   DatumGetFloat8(crm_spi_datum(row, 4, &isnull)), crm_spi_bool(row, 5));
}

/* A disagreement needs something left: each field's m and u below 1 in sum. */
static void
derive_disagreement(MatchWeights *w, MatchField f)
{
	double		m = 1,
				u = 1;

	for (int l = LEVEL_AGREE; l < LEVEL_DISAGREE; l++)
	{
		m -= w->m[f][l];
		u -= w->u[f][l];
	}
	if (m <= 0 || u <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("crm.match_weight: the %s of field %s's levels add up to 1 or more",
						m <= 0 ? "m" : "u", crm_match_field_names[f]),
				 errdetail("m: %g in all, u: %g in all; disagreement takes what is left.", 1 - m, 1 - u),
				 errhint("Lower the %s of one of its levels.", m <= 0 ? "m" : "u")));
	w->m[f][LEVEL_DISAGREE] = m;
	w->u[f][LEVEL_DISAGREE] = u;
}

static void
require_weighed(bool seen[N_MATCH_FIELDS][N_MATCH_LEVELS], MatchField f)
{
	for (int l = 0; l < N_MATCH_LEVELS; l++)
		if (weighed[f][l] && !seen[f][l])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("crm.match_weight has no weight for field %s at level %s",
							crm_match_field_names[f], crm_match_level_names[l]),
					 errhint("The shipped rows stay: a row of your own (shipped = false) replaces one.")));
}

/* Each field's disagreement and every level's weight, once all are read. */
static void
derive_weights(MatchWeights *w, bool seen[N_MATCH_FIELDS][N_MATCH_LEVELS])
{
	for (int f = 0; f < N_MATCH_FIELDS; f++)
	{
		require_weighed(seen, (MatchField) f);
		derive_disagreement(w, (MatchField) f);
		for (int l = LEVEL_AGREE; l < N_MATCH_LEVELS; l++)
			if (w->u[f][l] > 0)
				w->weight[f][l] = log2(w->m[f][l] / w->u[f][l]);
	}
}

/* The table as it is now, checked; in the current memory context. */
static MatchWeights *
load_weights(void)
{
	uint64		rows = crm_plan_run(&effective_weights, NULL, NULL, 0, SPI_OK_SELECT);
	MatchWeights *w = palloc0(sizeof(MatchWeights));
	bool		seen[N_MATCH_FIELDS][N_MATCH_LEVELS] = {{false}};

	for (uint64 r = 0; r < rows; r++)
		read_row(w, seen, r);
	derive_weights(w, seen);
	return w;
}

/*
 * Release 1.0's weights, which it compiled in: a database not yet updated
 * from 1.0 (this library installed, ALTER EXTENSION crm UPDATE not yet
 * run) has no crm.match_weight, and matches as 1.0 did.  The update ships
 * the same figures as rows.
 */
static const struct
{
	MatchField	field;
	MatchLevel	level;
	double		m,
				u;
}			release_1_0_weights[] = {
	{F_PHONE, LEVEL_AGREE, 0.85, 1e-4},
	{F_EMAIL, LEVEL_AGREE, 0.90, 1e-4},
	{F_OPENID, LEVEL_AGREE, 0.99, 1e-9},
	{F_NAME, LEVEL_AGREE, 0.82, 0.002},
	{F_NAME, LEVEL_PARTIAL, 0.177, 0.005},
	{F_ACCOUNT, LEVEL_AGREE, 0.85, 0.01},
	{F_ACCOUNT, LEVEL_PARTIAL, 0.05, 0.01},
};

static MatchWeights *
release_weights(void)
{
	MatchWeights *w = palloc0(sizeof(MatchWeights));
	bool		seen[N_MATCH_FIELDS][N_MATCH_LEVELS] = {{false}};

	for (size_t i = 0; i < lengthof(release_1_0_weights); i++)
		set_weight(w, seen, release_1_0_weights[i].field, release_1_0_weights[i].level,
				   release_1_0_weights[i].m, release_1_0_weights[i].u, false);
	derive_weights(w, seen);
	return w;
}

static CrmTableCache weight_cache;

static void *
load_weights_cached(void)
{
	return crm_table_cache_tables_exist(&weight_cache) ? load_weights() : release_weights();
}

static CrmTableCache weight_cache = {
	"crm match weights", {"match_weight"}, load_weights_cached
};

const MatchWeights *
crm_match_weights(void)
{
	return crm_table_cache_get(&weight_cache);
}

void
crm_match_weight_init(void)
{
	crm_table_cache_register(&weight_cache);
}

PG_FUNCTION_INFO_V1(crm_match_weight_changed);

/*
 * Trigger: crm.match_weight changed.  The table must still give every
 * level a weight a match can use; then every backend reloads it.
 */
Datum
crm_match_weight_changed(PG_FUNCTION_ARGS)
{
	MemoryContext check = AllocSetContextCreate(CurrentMemoryContext, "crm match weight check",
												ALLOCSET_SMALL_SIZES);
	MemoryContext caller = MemoryContextSwitchTo(check);

	SPI_connect();
	(void) load_weights();
	SPI_finish();
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(check);
	crm_table_cache_changed(fcinfo, "crm.match_weight_changed()");
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(crm_match_weights_sql);

static const char *
origin_of(const MatchWeights *w, MatchField f, MatchLevel l)
{
	if (!weighed[f][l])
		return l == LEVEL_DISAGREE ? "derived" : "none";
	return w->steward[f][l] ? "steward" : "shipped";
}

/*
 * crm.match_weights() -> setof (field, level, m, u, weight, origin): what
 * a match adds up now, every level of every field.
 */
Datum
crm_match_weights_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const MatchWeights *w;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	w = crm_match_weights();
	SPI_finish();
	for (int f = 0; f < N_MATCH_FIELDS; f++)
		for (int l = LEVEL_AGREE; l <= N_MATCH_LEVELS; l++)
		{
			int			level = l % N_MATCH_LEVELS; /* unknown last */
			Datum		v[6];
			bool		n[6] = {false};

			v[0] = CStringGetTextDatum(crm_match_field_names[f]);
			v[1] = CStringGetTextDatum(crm_match_level_names[level]);
			if (level == LEVEL_PARTIAL && !weighed[f][level])
				continue;
			v[2] = Float8GetDatum(w->m[f][level]);
			v[3] = Float8GetDatum(w->u[f][level]);
			n[2] = n[3] = level == LEVEL_UNKNOWN;
			v[4] = Float8GetDatum(w->weight[f][level]);
			v[5] = CStringGetTextDatum(origin_of(w, (MatchField) f, (MatchLevel) level));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
		}
	return (Datum) 0;
}
