/*
 * match_weight.h: the fields a lead is compared on, their comparison
 * levels, and the m/u weights a data steward keeps in crm.match_weight.
 */
#ifndef CRM_MATCH_WEIGHT_H
#define CRM_MATCH_WEIGHT_H

#include "postgres.h"

typedef enum MatchField
{
	F_PHONE,
	F_EMAIL,
	F_OPENID,
	F_NAME,
	F_ACCOUNT,
	N_MATCH_FIELDS
} MatchField;

/*
 * How a field of a lead compares with a candidate's.  The table weighs
 * agree and partial; disagree takes what they leave, (1 - sum of m) /
 * (1 - sum of u); unknown (one side lacks the field) counts 0.
 */
typedef enum MatchLevel
{
	LEVEL_UNKNOWN,
	LEVEL_AGREE,
	LEVEL_PARTIAL,				/* same pinyin, or one of several accounts */
	LEVEL_DISAGREE,
	N_MATCH_LEVELS
} MatchLevel;

typedef struct MatchWeights
{
	double		m[N_MATCH_FIELDS][N_MATCH_LEVELS];
	double		u[N_MATCH_FIELDS][N_MATCH_LEVELS];
	double		weight[N_MATCH_FIELDS][N_MATCH_LEVELS]; /* log2(m/u) */
	bool		steward[N_MATCH_FIELDS][N_MATCH_LEVELS];	/* a row of the steward's */
} MatchWeights;

/* "phone", "email", "wechat_openid", "name", "account" */
extern const char *const crm_match_field_names[N_MATCH_FIELDS];
/* "unknown", "agree", "partial", "disagree" */
extern const char *const crm_match_level_names[N_MATCH_LEVELS];

extern void crm_match_weight_init(void);

/*
 * The effective weights (a steward's row over the shipped one), kept
 * across calls until crm.match_weight changes; needs SPI_connect.  Valid
 * until the end of the transaction: fetch them once per batch.
 */
extern const MatchWeights *crm_match_weights(void);

#endif							/* CRM_MATCH_WEIGHT_H */
