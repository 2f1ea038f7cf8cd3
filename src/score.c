/*
 * score.c: lead scores.
 *
 * Two scores, both explained.  The rule score adds up points that sales
 * managers keep as data in crm.score_rule.  The win probability is naive
 * Bayes over a few features, with counts crm.win_stats keeps up to date in
 * the transaction that closes each lead, so the model never lags behind
 * and no nightly rebuild can lose a close.  Ingestion scores every lead
 * before it is stored, from a model kept in memory until its tables change.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "score.h"
#include "spi_plan.h"
#include "table_cache.h"

bool		crm_score_on_ingest = true;

/* Fewer closed leads than this teach nothing: no probability is given. */
#define MIN_CLOSED_LEADS 20
#define TOP_FACTORS 3

typedef enum RuleFactor
{
	FACTOR_CHANNEL, FACTOR_PRODUCT_LINE, FACTOR_REGION, FACTOR_TITLE, FACTOR_FIELD, N_FACTORS
} RuleFactor;

static const char *const factor_names[N_FACTORS] = {
	"channel", "product_line", "region", "title", "field"
};

typedef struct ScoreRule
{
	RuleFactor	factor;
	char	   *pattern;
	int32		points;
} ScoreRule;

typedef struct WinStat
{
	char	   *feature;		/* "name=value" */
	int64		won;
	int64		lost;
	int			values_of_name; /* distinct values seen of this feature name */
} WinStat;

struct ScoreModel
{
	ScoreRule  *rules;
	int			n_rules;
	WinStat    *stats;			/* sorted by feature */
	int			n_stats;
	int64		won;			/* all closed leads */
	int64		lost;
};

/* A contribution to a score, for the explanation. */
typedef struct Factor
{
	const char *what;
	const char *value;
	double		weight;
} Factor;

/* ---------------------------------------------------------------------
 * Loading the model
 * --------------------------------------------------------------------- */

/* A rule of the user's own replaces the shipped rule it shadows. */
CRM_KEPT_PLAN(model_rows) = {
	"SELECT * FROM (SELECT 'r' AS kind, r.factor || '=' || r.pattern AS key, r.points::int8 AS a,"
	"   0::int8 AS b FROM crm.score_rule r"
	"  WHERE r.factor <> 'event' AND (NOT r.shipped OR NOT EXISTS (SELECT FROM crm.score_rule u"
	"    WHERE NOT u.shipped AND u.factor = r.factor AND u.pattern = r.pattern))"
	"  UNION ALL SELECT 'w', w.feature, w.won, w.lost FROM crm.win_stats w) m"
	" ORDER BY m.kind, m.key COLLATE \"C\"",
	0, {InvalidOid}
};

static RuleFactor
factor_of(const char *name, size_t len)
{
	for (int f = 0; f < N_FACTORS; f++)
		if (strlen(factor_names[f]) == len && strncmp(factor_names[f], name, len) == 0)
			return (RuleFactor) f;
	elog(ERROR, "unknown score rule factor \"%.*s\"", (int) len, name);
}

static void
add_rule(ScoreModel *m, const char *key, int64 points)
{
	const char *eq = strchr(key, '=');
	ScoreRule  *r = &m->rules[m->n_rules++];

	r->factor = factor_of(key, eq - key);
	r->pattern = pstrdup(eq + 1);
	r->points = (int32) points;
}

static void
add_stat(ScoreModel *m, const char *feature, int64 won, int64 lost)
{
	WinStat    *s;

	if (strcmp(feature, "*") == 0)
	{
		m->won = won;
		m->lost = lost;
		return;
	}
	s = &m->stats[m->n_stats++];
	s->feature = pstrdup(feature);
	s->won = won;
	s->lost = lost;
}

static size_t
name_length(const char *feature)
{
	return strcspn(feature, "=");
}

/* Stats are sorted, so the values of one feature name are adjacent. */
static void
count_values_per_name(ScoreModel *m)
{
	for (int i = 0; i < m->n_stats;)
	{
		size_t		len = name_length(m->stats[i].feature);
		int			j = i;

		while (j < m->n_stats && name_length(m->stats[j].feature) == len &&
			   strncmp(m->stats[j].feature, m->stats[i].feature, len) == 0)
			j++;
		for (int k = i; k < j; k++)
			m->stats[k].values_of_name = j - i;
		i = j;
	}
}

static ScoreModel *
load_model(void)
{
	uint64		rows = crm_plan_run(&model_rows, NULL, NULL, 0, SPI_OK_SELECT);
	ScoreModel *m = palloc0(sizeof(ScoreModel));

	m->rules = palloc(sizeof(ScoreRule) * Max(rows, 1));
	m->stats = palloc(sizeof(WinStat) * Max(rows, 1));
	for (uint64 r = 0; r < rows; r++)
	{
		char	   *kind = crm_spi_text(r, 1);
		char	   *key = crm_spi_text(r, 2);
		int64		a,
					b;

		(void) crm_spi_int8(r, 3, &a);
		(void) crm_spi_int8(r, 4, &b);
		if (kind[0] == 'r')
			add_rule(m, key, a);
		else
			add_stat(m, key, a, b);
	}
	count_values_per_name(m);
	return m;
}

/* ---------------------------------------------------------------------
 * The model kept across calls
 *
 * A single crm.ingest would otherwise read every rule and count again.
 * The trigger crm.score_model_changed() on both tables tells every
 * backend to read them again (src/table_cache.c).
 * --------------------------------------------------------------------- */

static void *
load_model_cached(void)
{
	return load_model();
}

static CrmTableCache model_cache = {
	"crm score model", {"score_rule", "win_stats"}, load_model_cached
};

const ScoreModel *
crm_score_model(void)
{
	return crm_table_cache_get(&model_cache);
}

void
crm_score_init(void)
{
	DefineCustomBoolVariable("crm.score_on_ingest",
							 "Whether ingestion scores each lead before storing it.",
							 "Off leaves leads in state new for the minute sweep to score and "
							 "assign: for a bulk import that must go as fast as possible.",
							 &crm_score_on_ingest, true, PGC_USERSET, 0, NULL, NULL, NULL);
	crm_table_cache_register(&model_cache);
}

PG_FUNCTION_INFO_V1(crm_score_model_changed);

/* Trigger: the rules or the counts changed; every backend reloads the model. */
Datum
crm_score_model_changed(PG_FUNCTION_ARGS)
{
	crm_table_cache_changed(fcinfo, "crm.score_model_changed()");
	return PointerGetDatum(NULL);
}

/* ---------------------------------------------------------------------
 * Rule score
 * --------------------------------------------------------------------- */

static bool
field_present(const ScoreInput *in, const char *field)
{
	static const char *const names[] = {
		"person_name", "company_name", "phone", "email", "uscc",
		"region_code", "title", "product_line", "wechat_openid"
	};
	const bool	present[] = {
		in->has_person_name, in->has_company_name, in->has_phone, in->has_email, in->has_uscc,
		in->region_code != NULL, in->title != NULL, in->product_line != NULL, in->has_wechat_openid
	};

	for (size_t i = 0; i < lengthof(names); i++)
		if (strcmp(names[i], field) == 0)
			return present[i];
	return false;
}

/* Region rules are code prefixes: the most specific one that holds wins. */
static bool
rule_holds(const ScoreRule *r, const ScoreInput *in)
{
	switch (r->factor)
	{
		case FACTOR_CHANNEL:
			return in->channel && strcmp(in->channel, r->pattern) == 0;
		case FACTOR_PRODUCT_LINE:
			return in->product_line && strcmp(in->product_line, r->pattern) == 0;
		case FACTOR_REGION:
			return in->region_code && strncmp(in->region_code, r->pattern, strlen(r->pattern)) == 0;
		case FACTOR_TITLE:
			return in->title && strstr(in->title, r->pattern) != NULL;
		case FACTOR_FIELD:
			return field_present(in, r->pattern);
		default:
			return false;
	}
}

static bool
better(const ScoreRule *r, const ScoreRule *best)
{
	if (best == NULL)
		return true;
	if (r->factor == FACTOR_REGION)
		return strlen(r->pattern) > strlen(best->pattern);
	return r->points > best->points;
}

/* Adds the points of the rules that count; returns how many factors. */
static int
rule_points(const ScoreModel *m, const ScoreInput *in, Factor *factors, double *sum)
{
	const ScoreRule *best[N_FACTORS] = {NULL};
	int			n = 0;

	for (int i = 0; i < m->n_rules; i++)
	{
		const ScoreRule *r = &m->rules[i];

		if (!rule_holds(r, in))
			continue;
		if (r->factor == FACTOR_FIELD)
			factors[n++] = (Factor) {"field", r->pattern, r->points};
		else if (better(r, best[r->factor]))
			best[r->factor] = r;
	}
	for (int f = 0; f < N_FACTORS; f++)
		if (best[f])
			factors[n++] = (Factor) {factor_names[f], best[f]->pattern, best[f]->points};
	if (in->event_points != 0)
		factors[n++] = (Factor) {"event", NULL, in->event_points};
	*sum = 0;
	for (int i = 0; i < n; i++)
		*sum += factors[i].weight;
	return n;
}

/* ---------------------------------------------------------------------
 * Predictive score
 * --------------------------------------------------------------------- */

/*
 * Seniority classes, first match wins: a purchasing director buys.  Fixed
 * in code rather than read from the rules, so that a lead's features stay
 * the same between its close and a reopen, and the counts stay exact.
 */
static const char *
title_class(const char *title)
{
	static const struct
	{
		const char *class;
		const char *words[8];
	}			classes[] = {
		{"purchasing", {"采购", NULL}},
		{"executive", {"院长", "总经理", "董事长", "总裁", "副总", "校长", "CEO", NULL}},
		{"head", {"总监", "主任", "部长", "科长", "处长", "负责人", NULL}},
		{"manager", {"经理", "主管", NULL}},
		{"engineer", {"工程师", "技术", NULL}},
	};

	if (title == NULL)
		return "none";
	for (size_t c = 0; c < lengthof(classes); c++)
		for (int w = 0; classes[c].words[w]; w++)
			if (strstr(title, classes[c].words[w]))
				return classes[c].class;
	return "other";
}

#define N_FEATURES 7

static void
lead_features(const ScoreInput *in, char **out)
{
	out[0] = psprintf("channel=%s", in->channel ? in->channel : "none");
	out[1] = psprintf("product_line=%s", in->product_line ? in->product_line : "none");
	out[2] = psprintf("province=%.2s", in->region_code ? in->region_code : "none");
	out[3] = psprintf("title=%s", title_class(in->title));
	out[4] = psprintf("email=%s", in->has_email ? "yes" : "no");
	out[5] = psprintf("company=%s", in->has_company_name ? "yes" : "no");
	out[6] = psprintf("customer=%s", in->known_customer ? "known" : "new");
}

static int
compare_stat(const void *key, const void *elem)
{
	return strcmp((const char *) key, ((const WinStat *) elem)->feature);
}

/* Distinct values of a feature name seen so far, one more for the unseen. */
static int
value_slots(const ScoreModel *m, const char *feature, const WinStat *s)
{
	size_t		len = name_length(feature);

	if (s)
		return s->values_of_name + 1;
	for (int i = 0; i < m->n_stats; i++)
		if (name_length(m->stats[i].feature) == len &&
			strncmp(m->stats[i].feature, feature, len) == 0)
			return m->stats[i].values_of_name + 1;
	return 2;
}

/* Log odds of winning a feature adds, Laplace-smoothed. */
static double
feature_weight(const ScoreModel *m, const char *feature)
{
	const WinStat *s = bsearch(feature, m->stats, m->n_stats, sizeof(WinStat), compare_stat);
	int			slots = value_slots(m, feature, s);
	double		won = s ? s->won : 0;
	double		lost = s ? s->lost : 0;

	return log((won + 1) / (m->won + slots)) - log((lost + 1) / (m->lost + slots));
}

static bool
win_probability(const ScoreModel *m, const ScoreInput *in, Factor *factors, double *p)
{
	char	   *features[N_FEATURES];
	double		log_odds;

	if (m->won + m->lost < MIN_CLOSED_LEADS)
		return false;
	lead_features(in, features);
	log_odds = log((m->won + 1.0) / (m->lost + 1.0));
	for (int i = 0; i < N_FEATURES; i++)
	{
		factors[i] = (Factor) {features[i], NULL, feature_weight(m, features[i])};
		log_odds += factors[i].weight;
	}
	*p = 1.0 / (1.0 + exp(-log_odds));
	return true;
}

/* ---------------------------------------------------------------------
 * Explanation and the whole score
 * --------------------------------------------------------------------- */

static int
by_weight_desc(const void *a, const void *b)
{
	double		wa = fabs(((const Factor *) a)->weight);
	double		wb = fabs(((const Factor *) b)->weight);

	return (wa < wb) - (wa > wb);
}

static void
append_top(StringInfo buf, const char *key, Factor *factors, int n)
{
	qsort(factors, n, sizeof(Factor), by_weight_desc);
	appendStringInfo(buf, "\"%s\": [", key);
	for (int i = 0; i < Min(n, TOP_FACTORS); i++)
	{
		appendStringInfoString(buf, i ? ", {\"factor\": " : "{\"factor\": ");
		escape_json(buf, factors[i].what);
		if (factors[i].value)
		{
			appendStringInfoString(buf, ", \"pattern\": ");
			escape_json(buf, factors[i].value);
		}
		appendStringInfo(buf, ", \"weight\": %.3f}", factors[i].weight);
	}
	appendStringInfoChar(buf, ']');
}

#define MAX_RULE_FACTORS 16

void
crm_score_lead(const ScoreModel *m, const ScoreInput *in, LeadScore *out)
{
	Factor		rules[MAX_RULE_FACTORS];
	Factor		predictive[N_FEATURES];
	int			n_rules;
	double		sum;
	double		p = 0;
	StringInfoData buf;

	n_rules = rule_points(m, in, rules, &sum);
	out->score = (int32) Max(0, Min(100, rint(sum)));
	out->has_probability = win_probability(m, in, predictive, &p);
	out->win_probability = (float4) p;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	append_top(&buf, "rules", rules, n_rules);
	appendStringInfoString(&buf, ", ");
	append_top(&buf, "predictive", predictive, out->has_probability ? N_FEATURES : 0);
	appendStringInfoChar(&buf, '}');
	out->factors_json = buf.data;
}

/* ---------------------------------------------------------------------
 * SQL: scoring a stored lead
 * --------------------------------------------------------------------- */

static char *
lead_text(HeapTupleHeader lead, const char *column)
{
	bool		isnull;
	Datum		d = GetAttributeByName(lead, column, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static bool
lead_has(HeapTupleHeader lead, const char *column)
{
	bool		isnull;

	(void) GetAttributeByName(lead, column, &isnull);
	return !isnull;
}

bool
crm_score_known_customer(const char *outcome, const char *account_outcome)
{
	return (outcome && strcmp(outcome, "new") != 0) ||
		(account_outcome && strcmp(account_outcome, "matched") == 0);
}

static void
input_of_stored_lead(HeapTupleHeader lead, double event_points, ScoreInput *in)
{
	in->channel = lead_text(lead, "channel");
	in->product_line = lead_text(lead, "product_line");
	in->region_code = lead_text(lead, "region_code");
	in->title = lead_text(lead, "title");
	in->has_person_name = lead_has(lead, "person_name");
	in->has_company_name = lead_has(lead, "company_name");
	in->has_phone = lead_has(lead, "phone");
	in->has_email = lead_has(lead, "email");
	in->has_uscc = lead_has(lead, "uscc");
	in->has_wechat_openid = lead_has(lead, "wechat_openid");
	in->known_customer = crm_score_known_customer(lead_text(lead, "outcome"),
												  lead_text(lead, "account_outcome"));
	in->event_points = event_points;
}

static const ScoreModel *
model_for_call(void)
{
	const ScoreModel *model;

	SPI_connect();
	model = crm_score_model();
	SPI_finish();
	return model;
}

PG_FUNCTION_INFO_V1(crm_lead_features);

Datum
crm_lead_features(PG_FUNCTION_ARGS)
{
	ScoreInput	in;
	char	   *features[N_FEATURES];
	Datum		elems[N_FEATURES];

	input_of_stored_lead(PG_GETARG_HEAPTUPLEHEADER(0), 0, &in);
	lead_features(&in, features);
	for (int i = 0; i < N_FEATURES; i++)
		elems[i] = CStringGetTextDatum(features[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, N_FEATURES, TEXTOID, -1, false, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(crm_lead_score);

/* Far beyond what any sum of decayed events reaches, and than 0-100 can show. */
#define MAX_EVENT_POINTS 1000000

Datum
crm_lead_score(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	ScoreInput	in;
	LeadScore	score;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	float4		event_points = PG_GETARG_FLOAT4(1);

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "crm.lead_score must return a record");
	if (isnan(event_points) || isinf(event_points))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event_points must be a finite number, not %s",
						float8out_internal(event_points)),
				 errhint("crm.event_points() gives a lead's points.")));
	if (fabsf(event_points) > MAX_EVENT_POINTS)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("event_points %s is out of range", float8out_internal(event_points)),
				 errdetail("It may be between %d and %d: a score saturates at 0 and 100 long before.",
						   -MAX_EVENT_POINTS, MAX_EVENT_POINTS),
				 errhint("crm.event_points() gives a lead's points.")));
	input_of_stored_lead(PG_GETARG_HEAPTUPLEHEADER(0), event_points, &in);
	crm_score_lead(model_for_call(), &in, &score);
	values[0] = Int32GetDatum(score.score);
	values[1] = Float4GetDatum(score.win_probability);
	nulls[1] = !score.has_probability;
	values[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(score.factors_json));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
