/*
 * match.h: finding the stored customer a lead belongs to.
 *
 * Candidates come from blocking keys (phone, e-mail, openid, credit code,
 * company key, and the name's pinyin at the candidate accounts); each is
 * scored Fellegi-Sunter style, a sum of log2(m/u) weights over the fields.
 */
#ifndef CRM_MATCH_H
#define CRM_MATCH_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "lead_fields.h"
#include "match_weight.h"

/*
 * A lead's fields as mapped (lead_fields.h: phone, email and uscc
 * normalised, NULL when absent or unusable; created_at as given, NULL:
 * now), with the keys the match needs.
 */
typedef struct Lead
{
	const char *channel;
	const char *source_label;
	Jsonb	   *payload;
	CRM_LEAD_FIELDS(CRM_LEAD_MEMBER)
	int64		account_id;		/* a stored lead's account, for a reviewer's merge */
	/* normalised; NULL when absent or unusable */
	char	   *name_key;
	char	   *name_pinyin;
	char	   *company_key;
	char	   *company_region;
	List	   *warnings;		/* of char *: values that could not be used */
} Lead;

typedef struct Account
{
	int64		id;
	char	   *code;
	char	   *name;
	char	   *uscc;
	char	   *region_code;
	char	   *owner;
	char	   *name_region;	/* crm.company_region(name) */
} Account;

/* The accounts a lead's organisation may be. */
typedef struct AccountMatch
{
	int			n;
	Account    *accounts;
	int			resolved;		/* index of the one it is, or -1 */
} AccountMatch;

typedef struct Candidate
{
	int64		id;
	char	   *code;
	int64		account_id;		/* 0: none */
	char	   *name;
	char	   *name_key;
	char	   *name_pinyin;
	char	   *title;
	char	   *wechat_openid;
	char	   *owner;
	List	   *phones;			/* of char * */
	List	   *emails;
	List	   *verified_fields;
	double		score;
	Jsonb	   *evidence;		/* built for the best candidate only */
} Candidate;

typedef enum MatchOutcome
{
	MATCH_NEW,
	MATCH_MERGED,
	MATCH_REVIEW
} MatchOutcome;

typedef struct MatchDecision
{
	MatchOutcome outcome;
	Candidate  *best;			/* NULL when no candidate was found */
	bool		has_score;
	double		score;
	const MatchWeights *weights;	/* it was scored with */
} MatchDecision;

/* More candidates than this for one key: the key is too common to block on. */
#define CRM_MATCH_MAX_CANDIDATES 50

/*
 * The columns of an account and of a candidate contact, selected in one
 * place and read by name: a statement selects CRM_ACCOUNT_COLUMNS or
 * CRM_CANDIDATE_COLUMNS (from crm.account a, crm.contact k) among its
 * own, and its result is read through AccountColumns or CandidateColumns,
 * resolved once per result.
 */
#define CRM_ACCOUNT_COLUMNS "a.id, a.code, a.name, a.uscc, a.region_code, a.owner, a.name_region"
#define CRM_CANDIDATE_COLUMNS \
	"k.id, k.code, k.account_id, k.name, k.name_key, k.name_pinyin, k.title," \
	" k.wechat_openid, k.owner, array_to_string(k.verified_fields, ' ') AS verified_fields," \
	" (SELECT string_agg(p.value, ' ') FROM crm.contact_point p" \
	"   WHERE p.contact_id = k.id AND p.kind = 'phone') AS phones," \
	" (SELECT string_agg(p.value, ' ') FROM crm.contact_point p" \
	"   WHERE p.contact_id = k.id AND p.kind = 'email') AS emails"

typedef struct AccountColumns
{
	int			id,
				code,
				name,
				uscc,
				region_code,
				owner,
				name_region;
} AccountColumns;

typedef struct CandidateColumns
{
	int			id,
				code,
				account_id,
				name,
				name_key,
				name_pinyin,
				title,
				wechat_openid,
				owner,
				verified_fields,
				phones,
				emails;
} CandidateColumns;

extern void crm_match_init(void);

/*
 * A key by which one lead's lookups can find what ingesting another lead
 * stores: its phone, e-mail, openid, credit code, company key (which also
 * finds by prefix: BLOCKING_COMPANY), name pinyin (candidates at an
 * account, and namesakes) and external id.  Every lookup of a lead's
 * candidates must be by one of these keys: the matching locks of
 * crm.ingest and the waves of a bulk ingest keep leads that share one
 * apart, and nothing else.
 */
typedef struct BlockingKey
{
	char		kind;
	const char *value;
} BlockingKey;

#define BLOCKING_COMPANY 'c'
#define BLOCKING_NAME 'n'
#define BLOCKING_EXTERNAL_ID 'x'
#define CRM_MAX_BLOCKING_KEYS 7

/* The lead's blocking keys, into keys[CRM_MAX_BLOCKING_KEYS]; how many. */
extern int	crm_match_blocking_keys(const Lead *lead, BlockingKey *keys);

/*
 * Where the last SPI result has an account's or a candidate's columns,
 * the first of each name from column from on; returns the column after
 * the last of them (where a second set may start).
 */
extern int	crm_match_account_columns(int from, AccountColumns *cols);
extern int	crm_match_candidate_columns(int from, CandidateColumns *cols);

/* An account or a candidate from row of the last SPI result. */
extern void crm_match_read_account(uint64 row, const AccountColumns *cols, Account *a);
extern void crm_match_read_candidate(uint64 row, const CandidateColumns *cols, Candidate *c);

/*
 * Of the accounts a lead's credit code or company name found, drop those
 * whose credit code contradicts the lead's, and single out the one it is.
 */
extern void crm_match_resolve_accounts(const Lead *lead, AccountMatch *m);

/*
 * For a lead whose organisation is one of m's several accounts, none
 * singled out: the index of the account a reviewer is offered first, and
 * the evidence naming it and the others ("alternatives").
 */
extern int	crm_match_account_review(const Lead *lead, const AccountMatch *m, Jsonb **evidence);

/* Score the candidates with the weights w and decide: merged, review or new. */
extern MatchDecision crm_match_decide(const MatchWeights *w, const Lead *lead,
									  const AccountMatch *accounts, Candidate *cands, int n);

/* Two places, each a region code and the region its name gives (either NULL). */
typedef enum MatchRegion
{
	REGION_UNKNOWN,				/* one side names no region */
	REGION_SAME,
	REGION_OTHER
} MatchRegion;

/* "unknown", "same", "other" */
extern const char *const crm_match_region_names[];

/*
 * By region code when both have one (the same province for a province's
 * code, else the same city), else by the regions their names give.
 */
extern MatchRegion crm_match_compare_places(const char *code_a, const char *name_region_a,
											const char *code_b, const char *name_region_b);

/* Each field's level of agreement between a lead and a candidate. */
extern void crm_match_compare(const Lead *lead, const AccountMatch *accounts,
							  const Candidate *c, MatchLevel cmp[N_MATCH_FIELDS]);

/* ... and between two stored contacts, by the same rules. */
extern void crm_match_compare_contacts(const Candidate *a, const Candidate *b,
									   MatchLevel cmp[N_MATCH_FIELDS]);

/* The sum of the levels' weights. */
extern double crm_match_score(const MatchWeights *w, const MatchLevel cmp[N_MATCH_FIELDS]);

/* What a score alone gives against the thresholds (no runner-up rule). */
extern MatchOutcome crm_match_outcome_of(double score);

/* "field": {"comparison": level, "weight": w}, for each field, into buf. */
extern void crm_match_append_levels(StringInfo buf, const MatchWeights *w,
									const MatchLevel cmp[N_MATCH_FIELDS]);

/* Phone, e-mail or openid agree. */
extern bool crm_match_levels_share_identifier(const MatchLevel cmp[N_MATCH_FIELDS]);

/* Whether value is one of the strings in values. */
extern bool crm_match_in_list(const char *value, List *values);

/* Phone, e-mail or openid coincide: a strong sign of one customer. */
extern bool crm_match_shares_identifier(const Lead *lead, const Candidate *c);

/*
 * The per-field comparison and weight that scored the candidate, and the
 * other candidates above the review threshold; with account_review, also
 * the account review the lead's organisation calls for if it is rejected.
 */
extern Jsonb *crm_match_evidence(const MatchWeights *w, const Lead *lead,
								 const AccountMatch *accounts,
								 const Candidate *cand, const Candidate *cands, int n,
								 bool account_review);

extern const char *crm_match_outcome_name(MatchOutcome outcome);

#endif							/* CRM_MATCH_H */
