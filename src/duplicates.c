/*
 * duplicates.c: stored records that may be one customer, compared as
 * ingestion compares a lead with its candidates.
 *
 * crm.scan_duplicates() finds pairs by the blocking keys (a shared phone
 * or e-mail, one name at one organisation, one company key) and asks
 * these functions how they compare: contacts field by field with the
 * match weights in force (match.c, match_weight.c), organisations by
 * region as a lead's company is placed among its candidate accounts.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "checkcode.h"
#include "match.h"
#include "quote.h"
#include "spi_plan.h"

/* Pairs read per statement */
#define PAIRS_PER_READ 1000

/* Both contacts of each pair, unless either was merged since. */
CRM_KEPT_PLAN(contact_pairs) = {
	"SELECT a.*, b.* FROM unnest($1::int8[], $2::int8[]) p(keep, other)"
	" CROSS JOIN LATERAL (SELECT " CRM_CANDIDATE_COLUMNS " FROM crm.contact k"
	"   WHERE k.id = p.keep AND k.merged_into IS NULL OFFSET 0) a"
	" CROSS JOIN LATERAL (SELECT " CRM_CANDIDATE_COLUMNS " FROM crm.contact k"
	"   WHERE k.id = p.other AND k.merged_into IS NULL OFFSET 0) b",
	2, {INT8ARRAYOID, INT8ARRAYOID}
};

static Datum
pair_evidence(const MatchWeights *w, const MatchLevel cmp[N_MATCH_FIELDS], double score)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	crm_match_append_levels(&buf, w, cmp);
	appendStringInfo(&buf, "\"score\": %.2f}", score);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

static void
put_pair(ReturnSetInfo *rsinfo, const MatchWeights *w, const Candidate *a, const Candidate *b)
{
	MatchLevel	cmp[N_MATCH_FIELDS];
	double		score;
	Datum		v[6];
	bool		n[6] = {false};

	crm_match_compare_contacts(a, b, cmp);
	score = crm_match_score(w, cmp);
	v[0] = Int64GetDatum(a->id);
	v[1] = Int64GetDatum(b->id);
	v[2] = Float4GetDatum((float4) score);
	v[3] = CStringGetTextDatum(crm_match_outcome_name(crm_match_outcome_of(score)));
	v[4] = BoolGetDatum(crm_match_levels_share_identifier(cmp));
	v[5] = pair_evidence(w, cmp, score);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
}

/* Pairs [from, to) of the arrays. */
static void
compare_some(ReturnSetInfo *rsinfo, const MatchWeights *w, Datum *keep, Datum *other,
			 int from, int to)
{
	CrmColumn	c[2] = CRM_COLUMNS(CRM_COL(INT8OID), CRM_COL(INT8OID));
	CandidateColumns a_cols,
				b_cols;
	uint64		rows;

	for (int i = from; i < to; i++)
	{
		crm_put(&c[0], keep[i], false);
		crm_put(&c[1], other[i], false);
	}
	rows = crm_run_columns(&contact_pairs, c, SPI_OK_SELECT);
	if (rows > 0)
		(void) crm_match_candidate_columns(crm_match_candidate_columns(1, &a_cols), &b_cols);
	for (uint64 r = 0; r < rows; r++)
	{
		Candidate	a,
					b;

		crm_match_read_candidate(r, &a_cols, &a);
		crm_match_read_candidate(r, &b_cols, &b);
		put_pair(rsinfo, w, &a, &b);
	}
}

static int
int8_elements(ArrayType *a, Datum **elems)
{
	bool	   *nulls;
	int			n;

	deconstruct_array(a, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("contact ids may not be null")));
	return n;
}

PG_FUNCTION_INFO_V1(crm_compare_contacts);

/*
 * crm.compare_contacts(keep bigint[], other bigint[]) -> setof (keep,
 * other, score, outcome, shares_identifier, evidence): each pair of
 * stored contacts scored as a lead is scored against a candidate.
 */
Datum
crm_compare_contacts(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum	   *keep,
			   *other;
	int			n = int8_elements(PG_GETARG_ARRAYTYPE_P(0), &keep);
	MemoryContext per_read,
				caller;
	const MatchWeights *w;

	if (int8_elements(PG_GETARG_ARRAYTYPE_P(1), &other) != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("keep and other must have as many contact ids")));
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	w = crm_match_weights();
	per_read = AllocSetContextCreate(CurrentMemoryContext, "crm pairs", ALLOCSET_DEFAULT_SIZES);
	caller = MemoryContextSwitchTo(per_read);
	for (int from = 0; from < n; from += PAIRS_PER_READ)
	{
		compare_some(rsinfo, w, keep, other, from, Min(n, from + PAIRS_PER_READ));
		SPI_freetuptable(SPI_tuptable);
		MemoryContextReset(per_read);
	}
	MemoryContextSwitchTo(caller);
	SPI_finish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(crm_compare_regions);

static const char *
text_arg(FunctionCallInfo fcinfo, int i)
{
	return PG_ARGISNULL(i) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(i));
}

static const char *
region_code_arg(FunctionCallInfo fcinfo, int i)
{
	const char *code = text_arg(fcinfo, i);

	if (code && !crm_region_code_is_valid(code, strlen(code)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("region code %s is not a GB/T 2260 code", crm_quote_value(code)),
				 errhint("A region code has six digits, as crm.account.region_code.")));
	return code;
}

/*
 * crm.compare_regions(region_code, name_region, other_region_code,
 * other_name_region) -> 'same', 'other' or 'unknown': as ingestion places
 * a lead's company among its candidate accounts.
 */
Datum
crm_compare_regions(PG_FUNCTION_ARGS)
{
	MatchRegion r = crm_match_compare_places(region_code_arg(fcinfo, 0), text_arg(fcinfo, 1),
											 region_code_arg(fcinfo, 2), text_arg(fcinfo, 3));

	PG_RETURN_TEXT_P(cstring_to_text(crm_match_region_names[r]));
}
