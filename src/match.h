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

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "lead_fields.h"

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
} MatchDecision;

/* More candidates than this for one key: the key is too common to block on. */
#define CRM_MATCH_MAX_CANDIDATES 50

/* The columns crm_match_read_account and crm_match_read_candidate read. */
#define CRM_ACCOUNT_COLUMNS "a.id, a.code, a.name, a.uscc, a.region_code, a.owner, a.name_region"
#define CRM_CANDIDATE_COLUMNS \
	"k.id, k.code, k.account_id, k.name, k.name_key, k.name_pinyin, k.title," \
	" k.wechat_openid, k.owner, array_to_string(k.verified_fields, ' ')," \
	" (SELECT string_agg(p.value, ' ') FROM crm.contact_point p" \
	"   WHERE p.contact_id = k.id AND p.kind = 'phone')," \
	" (SELECT string_agg(p.value, ' ') FROM crm.contact_point p" \
	"   WHERE p.contact_id = k.id AND p.kind = 'email')"

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
#define CRM_MAX_BLOCKING_KEYS 7

/* The lead's blocking keys, into keys[CRM_MAX_BLOCKING_KEYS]; how many. */
extern int	crm_match_blocking_keys(const Lead *lead, BlockingKey *keys);

/* An account or a candidate from SPI result row, its columns from col on. */
extern void crm_match_read_account(uint64 row, int col, Account *a);
extern void crm_match_read_candidate(uint64 row, int col, Candidate *c);

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

/* Score the candidates and decide: merged, review or new. */
extern MatchDecision crm_match_decide(const Lead *lead, const AccountMatch *accounts,
									  Candidate *cands, int n);

/* Whether value is one of the strings in values. */
extern bool crm_match_in_list(const char *value, List *values);

/* Phone, e-mail or openid coincide: a strong sign of one customer. */
extern bool crm_match_shares_identifier(const Lead *lead, const Candidate *c);

/*
 * The per-field comparison and weight that scored the candidate, and the
 * other candidates above the review threshold; with account_review, also
 * the account review the lead's organisation calls for if it is rejected.
 */
extern Jsonb *crm_match_evidence(const Lead *lead, const AccountMatch *accounts,
								 const Candidate *cand, const Candidate *cands, int n,
								 bool account_review);

extern const char *crm_match_outcome_name(MatchOutcome outcome);

#endif							/* CRM_MATCH_H */
