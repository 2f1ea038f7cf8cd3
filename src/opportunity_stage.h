/*
 * opportunity_stage.h: an opportunity's stage changes, validated on every
 * write (crm.opportunity's trigger), against the stage rules kept as data
 * (pipelines, stages, transitions, requirements) and cached per backend.
 */
#ifndef CRM_OPPORTUNITY_STAGE_H
#define CRM_OPPORTUNITY_STAGE_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"

/* The opportunity columns a stage may require (pipeline_stage.required_fields). */
#define CRM_STAGE_FIELDS 5
extern const char *const crm_stage_fields[CRM_STAGE_FIELDS];

/* Keys: pipeline codes are at most 63 bytes, stage names 120 (CHECKs). */
#define CRM_STAGE_KEY_LEN 192

/* An evidence kind a stage needs (crm.stage_requirement), in kind order. */
typedef struct StageRequirement
{
	const char *kind;
	const char *content_types;	/* those the stage accepts, as a text[] literal */
	const char *missing;		/* "label (kind: types)": the DETAIL of a refusal */
	const char *how;			/* "label: how.": its HINT */
} StageRequirement;

/* A stage of a pipeline, as the cached rules hold it. */
typedef struct StageInfo
{
	char		key[CRM_STAGE_KEY_LEN]; /* pipeline \x1f stage */
	const char *stage;
	int32		position;
	char		kind;			/* 'o'pen, 'w'on, 'l'ost */
	bool		enforce;
	int			n_requirements;
	const StageRequirement *requirements;
	bool		has_dwell_limit;	/* a crm.countdown_rule starts when it is entered */
	int32		required_fields;	/* bits over crm_stage_fields */
} StageInfo;

/*
 * The stage of a pipeline in the rules as stored now (needs SPI_connect;
 * valid until the end of the transaction); an unknown one is an error.
 */
extern const StageInfo *crm_stage_known(const char *pipeline, const char *stage);

/* created (from NULL), forward, back, won, lost or reopened */
extern const char *crm_stage_direction(const StageInfo *from, const StageInfo *to);

/* Registers the cache's invalidation callbacks (from _PG_init). */
extern void crm_opportunity_stage_init(void);

/* Column name of a row of crm.opportunity (an error when there is none). */
extern Datum crm_opportunity_column(TupleDesc desc, HeapTuple tuple, const char *name, bool *isnull);
extern char *crm_opportunity_text(TupleDesc desc, HeapTuple tuple, const char *name);

#endif							/* CRM_OPPORTUNITY_STAGE_H */
