/*
 * score.h: lead scores, from rules kept as data and from a naive Bayes
 * model learned from closed leads.
 */
#ifndef CRM_SCORE_H
#define CRM_SCORE_H

#include "postgres.h"

/* What scoring looks at; NULL text means the lead did not give it. */
typedef struct ScoreInput
{
	const char *channel;
	const char *product_line;
	const char *region_code;
	const char *title;
	bool		has_person_name;
	bool		has_company_name;
	bool		has_phone;
	bool		has_email;
	bool		has_uscc;
	bool		has_wechat_openid;
	bool		known_customer; /* its contact or account was found */
	double		event_points;
} ScoreInput;

typedef struct LeadScore
{
	int32		score;			/* 0-100 */
	bool		has_probability;
	float4		win_probability;
	char	   *factors_json;	/* {"rules": [...], "predictive": [...]} */
} LeadScore;

typedef struct ScoreModel ScoreModel;

/* Whether ingestion scores leads itself (crm.score_on_ingest). */
extern bool crm_score_on_ingest;

extern void crm_score_init(void);

/*
 * The rules and counts as stored now, kept across calls until they change;
 * needs SPI_connect.  Valid until the end of the transaction.
 */
extern const ScoreModel *crm_score_model(void);

extern void crm_score_lead(const ScoreModel *model, const ScoreInput *in, LeadScore *out);

/* A lead's customer is known: its contact or its organisation was found. */
extern bool crm_score_known_customer(const char *outcome, const char *account_outcome);

#endif							/* CRM_SCORE_H */
