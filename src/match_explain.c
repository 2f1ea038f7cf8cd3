/*
 * match_explain.c: crm.explain_match(lead_id), what a reviewer asks of a
 * match: which stored contacts a lead's keys find now, and how each field
 * compares, with the weights in force, against the thresholds.
 *
 * The lead is read back as ingestion prepared it, its candidates are
 * found as a batch finds them, and each is compared and scored by the
 * same code (match.c) as a lead being ingested.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "ingest.h"
#include "ingest_batch.h"
#include "match.h"

typedef struct Explained
{
	const Candidate *cand;
	MatchLevel	cmp[N_MATCH_FIELDS];
	double		score;
} Explained;

static int
by_score_desc(const void *a, const void *b)
{
	const Explained *x = a;
	const Explained *y = b;

	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return (x->cand->id > y->cand->id) - (x->cand->id < y->cand->id);
}

/* One row per field of the candidate. */
static void
put_candidate(ReturnSetInfo *rsinfo, const MatchWeights *w, const Explained *e, int64 contact_id)
{
	const char *outcome = crm_match_outcome_name(crm_match_outcome_of(e->score));

	for (int f = 0; f < N_MATCH_FIELDS; f++)
	{
		Datum		v[9];
		bool		n[9] = {false};

		v[0] = Int64GetDatum(e->cand->id);
		v[1] = CStringGetTextDatum(e->cand->code);
		n[2] = e->cand->name == NULL;
		v[2] = n[2] ? (Datum) 0 : CStringGetTextDatum(e->cand->name);
		v[3] = BoolGetDatum(e->cand->id == contact_id);
		v[4] = CStringGetTextDatum(crm_match_field_names[f]);
		v[5] = CStringGetTextDatum(crm_match_level_names[e->cmp[f]]);
		v[6] = Float8GetDatum(w->weight[f][e->cmp[f]]);
		v[7] = Float8GetDatum(e->score);
		v[8] = CStringGetTextDatum(outcome);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
	}
}

PG_FUNCTION_INFO_V1(crm_explain_match);

/*
 * crm.explain_match(lead_id bigint) -> setof (contact_id, customer_code,
 * name, lead_contact, field, level, weight, score, outcome), best
 * candidate first.
 */
Datum
crm_explain_match(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const MatchWeights *w;
	Lead	   *lead;
	int64		contact_id = 0;
	AccountMatch accounts;
	Candidate  *cands;
	Explained  *e;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	w = crm_match_weights();
	lead = crm_ingest_stored_lead(PG_GETARG_INT64(0), &contact_id);
	n = crm_batch_find(lead, &accounts, &cands);
	e = palloc(sizeof(Explained) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		e[i].cand = &cands[i];
		crm_match_compare(lead, &accounts, &cands[i], e[i].cmp);
		e[i].score = crm_match_score(w, e[i].cmp);
	}
	qsort(e, n, sizeof(Explained), by_score_desc);
	for (int i = 0; i < n; i++)
		put_candidate(rsinfo, w, &e[i], contact_id);
	SPI_finish();
	return (Datum) 0;
}
