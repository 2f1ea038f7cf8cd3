/*
 * match.c: finding the stored customer a lead belongs to.
 *
 * Blocking: a lead's candidates are the contacts that share its phone,
 * e-mail or WeChat openid, or whose name has its pinyin at one of the
 * accounts its credit code or company name finds.  Scoring: each candidate
 * gets the sum over fields of log2(m/u) for the level of agreement found
 * (Fellegi-Sunter), where m is how often one person's two records show that
 * level and u how often two people's do.  Two GUCs cut the score into
 * merged / review / new.  README.md explains the weights.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "company.h"
#include "match.h"
#include "match_weight.h"
#include "normalize.h"
#include "spi_plan.h"

#define MAX_CANDIDATES CRM_MATCH_MAX_CANDIDATES

static double merge_threshold = 12.0;
static double review_threshold = 0.0;

void
crm_match_init(void)
{
	DefineCustomRealVariable("crm.match_merge_threshold",
							 "Score from which a lead is merged into its best candidate contact.",
							 "A sum of log2(m/u) weights; see crm's README.",
							 &merge_threshold, 12.0, -100.0, 100.0,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("crm.match_review_threshold",
							 "Score from which a lead that is not merged goes to crm.match_review.",
							 "Below it the lead gets a new contact.",
							 &review_threshold, 0.0, -100.0, 100.0,
							 PGC_USERSET, 0, NULL, NULL, NULL);
}

const char *
crm_match_outcome_name(MatchOutcome outcome)
{
	return outcome == MATCH_MERGED ? "merged" : outcome == MATCH_REVIEW ? "review" : "new";
}

/* ---------------------------------------------------------------------
 * Accounts
 * --------------------------------------------------------------------- */

int
crm_match_blocking_keys(const Lead *lead, BlockingKey *keys)
{
	int			n = 0;

#define KEY(k, v) do { if (v) keys[n++] = (BlockingKey) {(k), (v)}; } while (0)
	KEY('p', lead->phone);
	KEY('e', lead->email);
	KEY('w', lead->wechat_openid);
	KEY('u', lead->uscc);
	KEY(BLOCKING_COMPANY, lead->company_key);
	KEY(BLOCKING_NAME, lead->name_pinyin);	/* a name filled in on a merge, too */
	KEY(BLOCKING_EXTERNAL_ID, lead->external_id);
#undef KEY
	return n;
}

/* cols->f: the column named f from column from on; last: the highest so far */
#define FIND_COLUMN(cols, f, from, last) \
	((cols)->f = crm_spi_column(#f, (from)), (last) = Max((last), (cols)->f))

int
crm_match_account_columns(int from, AccountColumns *cols)
{
	int			last = from;

	FIND_COLUMN(cols, id, from, last);
	FIND_COLUMN(cols, code, from, last);
	FIND_COLUMN(cols, name, from, last);
	FIND_COLUMN(cols, uscc, from, last);
	FIND_COLUMN(cols, region_code, from, last);
	FIND_COLUMN(cols, owner, from, last);
	FIND_COLUMN(cols, name_region, from, last);
	return last + 1;
}

void
crm_match_read_account(uint64 row, const AccountColumns *cols, Account *a)
{
	(void) crm_spi_int8(row, cols->id, &a->id);
	a->code = crm_spi_text(row, cols->code);
	a->name = crm_spi_text(row, cols->name);
	a->uscc = crm_spi_text(row, cols->uscc);
	a->region_code = crm_spi_text(row, cols->region_code);
	a->owner = crm_spi_text(row, cols->owner);
	a->name_region = crm_spi_text(row, cols->name_region);
}

/* A lead's credit code names another organisation than an account's. */
static bool
uscc_conflicts(const Lead *lead, const Account *a)
{
	return lead->uscc && a->uscc && strcmp(lead->uscc, a->uscc) != 0;
}

/* Division codes of one place: the province for a province-level code, else the city. */
static bool
same_division(const char *a, const char *b)
{
	bool		province = strcmp(a + 2, "0000") == 0 || strcmp(b + 2, "0000") == 0;

	return strncmp(a, b, province ? 2 : 4) == 0;
}

/*
 * Two places: by region code when both have one (the same division), else
 * by the region their names give; "上海康泰医疗器械" is not
 * "杭州康泰医疗器械", though their keys are one.
 */
MatchRegion
crm_match_compare_places(const char *code_a, const char *name_region_a,
						 const char *code_b, const char *name_region_b)
{
	if (code_a && code_b)
		return same_division(code_a, code_b) ? REGION_SAME : REGION_OTHER;
	if (name_region_a == NULL || name_region_b == NULL)
		return REGION_UNKNOWN;
	return strcmp(name_region_a, name_region_b) == 0 ? REGION_SAME : REGION_OTHER;
}

const char *const crm_match_region_names[] = {"unknown", "same", "other"};

/* The lead's region against the account's. */
static MatchRegion
compare_regions(const Lead *lead, const Account *a)
{
	return crm_match_compare_places(lead->region_code, lead->company_region,
									a->region_code, a->name_region);
}

static bool
region_agrees(const Lead *lead, const Account *a)
{
	return compare_regions(lead, a) == REGION_SAME;
}

/* Accounts the lead's credit code or region says it is not. */
static void
drop_conflicting(const Lead *lead, AccountMatch *m)
{
	int			kept = 0;

	for (int i = 0; i < m->n; i++)
		if (!uscc_conflicts(lead, &m->accounts[i]) &&
			compare_regions(lead, &m->accounts[i]) != REGION_OTHER)
			m->accounts[kept++] = m->accounts[i];
	m->n = kept;
}

/* The one account of several that the region or the exact name singles out. */
static int
single_out(const Lead *lead, const AccountMatch *m, bool (*fits) (const Lead *, const Account *))
{
	int			found = -1;

	for (int i = 0; i < m->n; i++)
		if (fits(lead, &m->accounts[i]))
		{
			if (found >= 0)
				return -1;
			found = i;
		}
	return found;
}

static bool
same_raw_name(const Lead *lead, const Account *a)
{
	return strcmp(lead->company_name, a->name) == 0;
}

static int
resolve_account(const Lead *lead, const AccountMatch *m)
{
	int			i;

	if (m->n == 1)
		return 0;
	if (m->n == 0 || m->n > MAX_CANDIDATES)
		return -1;
	i = single_out(lead, m, region_agrees);
	return i >= 0 ? i : single_out(lead, m, same_raw_name);
}

void
crm_match_resolve_accounts(const Lead *lead, AccountMatch *m)
{
	drop_conflicting(lead, m);
	m->resolved = resolve_account(lead, m);
}

static void
append_json_field(StringInfo buf, const char *field, const char *value)
{
	appendStringInfo(buf, ", \"%s\": ", field);
	if (value)
		escape_json(buf, value);
	else
		appendStringInfoString(buf, "null");
}

/* What a reviewer sees of an organisation: who it is, where, whose. */
static void
append_account_json(StringInfo buf, const Lead *lead, const Account *a)
{
	appendStringInfo(buf, "{\"account_id\": " INT64_FORMAT, a->id);
	append_json_field(buf, "code", a->code);
	append_json_field(buf, "name", a->name);
	append_json_field(buf, "region_code", a->region_code);
	append_json_field(buf, "owner", a->owner);
	appendStringInfo(buf, ", \"region\": \"%s\"}", crm_match_region_names[compare_regions(lead, a)]);
}

/*
 * A lead whose company name fits several organisations and singles none
 * out goes to a person with all of them.  The one offered first agrees
 * with the lead's region if any does; the others are its alternatives.
 */
static int
append_account_review(StringInfo buf, const Lead *lead, const AccountMatch *m)
{
	int			first = 0;
	const char *sep = "";

	for (int i = 0; i < m->n; i++)
		if (region_agrees(lead, &m->accounts[i]))
		{
			first = i;
			break;
		}
	appendStringInfoString(buf, "{\"company_name\": ");
	escape_json(buf, lead->company_name);
	appendStringInfo(buf, ", \"organisations\": %d, \"candidate\": ", m->n);
	append_account_json(buf, lead, &m->accounts[first]);
	appendStringInfoString(buf, ", \"alternatives\": [");
	for (int i = 0; i < m->n; i++)
		if (i != first)
		{
			appendStringInfoString(buf, sep);
			append_account_json(buf, lead, &m->accounts[i]);
			sep = ", ";
		}
	appendStringInfoString(buf, "]}");
	return first;
}

int
crm_match_account_review(const Lead *lead, const AccountMatch *m, Jsonb **evidence)
{
	StringInfoData buf;
	int			first;

	initStringInfo(&buf);
	first = append_account_review(&buf, lead, m);
	*evidence = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
	return first;
}

/* ---------------------------------------------------------------------
 * Contacts
 * --------------------------------------------------------------------- */

/* Space-separated words as a list; NULL gives NIL. */
static List *
split_words(char *s)
{
	List	   *words = NIL;
	char	   *save;

	if (s == NULL)
		return NIL;
	for (char *w = strtok_r(s, " ", &save); w; w = strtok_r(NULL, " ", &save))
		words = lappend(words, w);
	return words;
}

int
crm_match_candidate_columns(int from, CandidateColumns *cols)
{
	int			last = from;

	FIND_COLUMN(cols, id, from, last);
	FIND_COLUMN(cols, code, from, last);
	FIND_COLUMN(cols, account_id, from, last);
	FIND_COLUMN(cols, name, from, last);
	FIND_COLUMN(cols, name_key, from, last);
	FIND_COLUMN(cols, name_pinyin, from, last);
	FIND_COLUMN(cols, title, from, last);
	FIND_COLUMN(cols, wechat_openid, from, last);
	FIND_COLUMN(cols, owner, from, last);
	FIND_COLUMN(cols, verified_fields, from, last);
	FIND_COLUMN(cols, phones, from, last);
	FIND_COLUMN(cols, emails, from, last);
	return last + 1;
}

void
crm_match_read_candidate(uint64 row, const CandidateColumns *cols, Candidate *c)
{
	memset(c, 0, sizeof(*c));
	(void) crm_spi_int8(row, cols->id, &c->id);
	c->code = crm_spi_text(row, cols->code);
	(void) crm_spi_int8(row, cols->account_id, &c->account_id);
	c->name = crm_spi_text(row, cols->name);
	c->name_key = crm_spi_text(row, cols->name_key);
	c->name_pinyin = crm_spi_text(row, cols->name_pinyin);
	c->title = crm_spi_text(row, cols->title);
	c->wechat_openid = crm_spi_text(row, cols->wechat_openid);
	c->owner = crm_spi_text(row, cols->owner);
	c->verified_fields = split_words(crm_spi_text(row, cols->verified_fields));
	c->phones = split_words(crm_spi_text(row, cols->phones));
	c->emails = split_words(crm_spi_text(row, cols->emails));
}

/* ---------------------------------------------------------------------
 * Scoring
 * --------------------------------------------------------------------- */

bool
crm_match_in_list(const char *value, List *values)
{
	ListCell   *lc;

	if (value)
		foreach(lc, values)
			if (strcmp(value, lfirst(lc)) == 0)
				return true;
	return false;
}

/* A value against a list: agree if it is one of them. */
static MatchLevel
compare_with_list(const char *value, List *stored)
{
	if (value == NULL || stored == NIL)
		return LEVEL_UNKNOWN;
	return crm_match_in_list(value, stored) ? LEVEL_AGREE : LEVEL_DISAGREE;
}

/* Two lists: agree if they share a value. */
static MatchLevel
compare_lists(List *values, List *stored)
{
	ListCell   *lc;

	if (values == NIL || stored == NIL)
		return LEVEL_UNKNOWN;
	foreach(lc, values)
		if (crm_match_in_list(lfirst(lc), stored))
			return LEVEL_AGREE;
	return LEVEL_DISAGREE;
}

static MatchLevel
compare_values(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return LEVEL_UNKNOWN;
	return strcmp(a, b) == 0 ? LEVEL_AGREE : LEVEL_DISAGREE;
}

/* Names: the same key, else the same pinyin only. */
static MatchLevel
compare_names(const char *key_a, const char *pinyin_a, const char *key_b, const char *pinyin_b)
{
	if (key_a == NULL || key_b == NULL)
		return LEVEL_UNKNOWN;
	if (strcmp(key_a, key_b) == 0)
		return LEVEL_AGREE;
	if (pinyin_a && pinyin_b && strcmp(pinyin_a, pinyin_b) == 0)
		return LEVEL_PARTIAL;
	return LEVEL_DISAGREE;
}

/*
 * The lead's organisation against the candidate's: the account it
 * resolves to, or one of several it may be.
 */
static MatchLevel
compare_account(const Lead *lead, const AccountMatch *accounts, const Candidate *c)
{
	if (c->account_id == 0 || (lead->company_key == NULL && lead->uscc == NULL))
		return LEVEL_UNKNOWN;
	for (int i = 0; i < accounts->n; i++)
		if (accounts->accounts[i].id == c->account_id)
			return i == accounts->resolved ? LEVEL_AGREE : LEVEL_PARTIAL;
	return LEVEL_DISAGREE;
}

void
crm_match_compare(const Lead *lead, const AccountMatch *accounts, const Candidate *c,
				  MatchLevel cmp[N_MATCH_FIELDS])
{
	cmp[F_PHONE] = compare_with_list(lead->phone, c->phones);
	cmp[F_EMAIL] = compare_with_list(lead->email, c->emails);
	cmp[F_OPENID] = compare_values(lead->wechat_openid, c->wechat_openid);
	cmp[F_NAME] = compare_names(lead->name_key, lead->name_pinyin, c->name_key, c->name_pinyin);
	cmp[F_ACCOUNT] = compare_account(lead, accounts, c);
}

void
crm_match_compare_contacts(const Candidate *a, const Candidate *b, MatchLevel cmp[N_MATCH_FIELDS])
{
	cmp[F_PHONE] = compare_lists(a->phones, b->phones);
	cmp[F_EMAIL] = compare_lists(a->emails, b->emails);
	cmp[F_OPENID] = compare_values(a->wechat_openid, b->wechat_openid);
	cmp[F_NAME] = compare_names(a->name_key, a->name_pinyin, b->name_key, b->name_pinyin);
	cmp[F_ACCOUNT] = a->account_id == 0 || b->account_id == 0 ? LEVEL_UNKNOWN :
		a->account_id == b->account_id ? LEVEL_AGREE : LEVEL_DISAGREE;
}

bool
crm_match_shares_identifier(const Lead *lead, const Candidate *c)
{
	return compare_with_list(lead->phone, c->phones) == LEVEL_AGREE ||
		compare_with_list(lead->email, c->emails) == LEVEL_AGREE ||
		compare_values(lead->wechat_openid, c->wechat_openid) == LEVEL_AGREE;
}

bool
crm_match_levels_share_identifier(const MatchLevel cmp[N_MATCH_FIELDS])
{
	return cmp[F_PHONE] == LEVEL_AGREE || cmp[F_EMAIL] == LEVEL_AGREE ||
		cmp[F_OPENID] == LEVEL_AGREE;
}

double
crm_match_score(const MatchWeights *w, const MatchLevel cmp[N_MATCH_FIELDS])
{
	double		total = 0;

	for (int f = 0; f < N_MATCH_FIELDS; f++)
		total += w->weight[f][cmp[f]];
	return total;
}

static double
score(const MatchWeights *w, const Lead *lead, const AccountMatch *accounts, const Candidate *c)
{
	MatchLevel	cmp[N_MATCH_FIELDS];

	crm_match_compare(lead, accounts, c, cmp);
	return crm_match_score(w, cmp);
}

void
crm_match_append_levels(StringInfo buf, const MatchWeights *w, const MatchLevel cmp[N_MATCH_FIELDS])
{
	for (int f = 0; f < N_MATCH_FIELDS; f++)
		appendStringInfo(buf, "\"%s\": {\"comparison\": \"%s\", \"weight\": %.2f}, ",
						 crm_match_field_names[f], crm_match_level_names[cmp[f]], w->weight[f][cmp[f]]);
}

/*
 * Why the lead went to review with cand: each field's comparison and
 * weight, the score, and the other candidates that would have gone to
 * review on their own ("alternatives", best first), so that a reviewer
 * can attach the lead to one of them instead.  With account_review, the
 * lead's organisation is one of several accounts too: what an account
 * review would offer, kept for when the lead turns out to be a new person.
 */
Jsonb *
crm_match_evidence(const MatchWeights *w, const Lead *lead, const AccountMatch *accounts, const Candidate *cand,
				   const Candidate *cands, int n, bool account_review)
{
	MatchLevel	cmp[N_MATCH_FIELDS];
	StringInfoData buf;
	const char *sep = "";

	crm_match_compare(lead, accounts, cand, cmp);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	crm_match_append_levels(&buf, w, cmp);
	appendStringInfo(&buf, "\"score\": %.2f, \"alternatives\": [", cand->score);
	for (int i = 0; i < n; i++)
		if (&cands[i] != cand && cands[i].score >= review_threshold)
		{
			appendStringInfo(&buf, "%s{\"contact_id\": " INT64_FORMAT ", \"score\": %.2f}",
							 sep, cands[i].id, cands[i].score);
			sep = ", ";
		}
	appendStringInfoChar(&buf, ']');
	if (account_review)
	{
		appendStringInfoString(&buf, ", \"account_review\": ");
		(void) append_account_review(&buf, lead, accounts);
	}
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

static void
require_ordered_thresholds(void)
{
	if (review_threshold > merge_threshold)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("crm.match_review_threshold (%g) is above crm.match_merge_threshold (%g)",
						review_threshold, merge_threshold),
				 errhint("Leads scoring between the two go to review, so the review threshold must be the lower one.")));
}

MatchOutcome
crm_match_outcome_of(double score)
{
	require_ordered_thresholds();
	return score >= merge_threshold ? MATCH_MERGED :
		score >= review_threshold ? MATCH_REVIEW : MATCH_NEW;
}

MatchDecision
crm_match_decide(const MatchWeights *w, const Lead *lead, const AccountMatch *accounts,
				 Candidate *cands, int n)
{
	MatchDecision d = {MATCH_NEW, NULL, false, 0, w};
	double		runner_up = -INFINITY;

	require_ordered_thresholds();
	for (int i = 0; i < n; i++)
	{
		cands[i].score = score(w, lead, accounts, &cands[i]);
		if (d.best == NULL || cands[i].score > d.best->score)
		{
			if (d.best)
				runner_up = d.best->score;
			d.best = &cands[i];
		}
		else
			runner_up = Max(runner_up, cands[i].score);
	}
	if (d.best == NULL)
		return d;
	d.has_score = true;
	d.score = d.best->score;
	d.outcome = crm_match_outcome_of(d.score);
	/* two stored contacts both look like this person: a human decides */
	if (d.outcome == MATCH_MERGED && runner_up >= merge_threshold)
		d.outcome = MATCH_REVIEW;
	return d;
}
