/*
 * opportunity_stage.h: an opportunity's stage changes, validated on every
 * write (crm.opportunity's trigger), against the stage rules kept as data
 * (pipelines, stages, transitions, requirements) and cached per backend.
 */
#ifndef CRM_OPPORTUNITY_STAGE_H
#define CRM_OPPORTUNITY_STAGE_H

/* Registers the cache's invalidation callbacks (from _PG_init). */
extern void crm_opportunity_stage_init(void);

#endif							/* CRM_OPPORTUNITY_STAGE_H */
