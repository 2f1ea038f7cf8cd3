/*
 * opportunity_access.h: who may add to an opportunity's record (evidence,
 * activities): its owner, a rep of its team, the team's manager or
 * director.
 */
#ifndef CRM_OPPORTUNITY_ACCESS_H
#define CRM_OPPORTUNITY_ACCESS_H

#include "postgres.h"

#include "datatype/timestamp.h"

typedef struct OpportunityAccess
{
	bool		allowed;
	const char *owner;			/* NULL: none */
	const char *team;			/* NULL: none */
	TimestampTz created_at;
} OpportunityAccess;

/*
 * Whether actor may add to opportunity id (needs SPI_connect); false when
 * there is no such opportunity (the caller's foreign key says so).
 */
extern bool crm_opportunity_access(int64 id, const char *actor, OpportunityAccess *access);

/* The DETAIL of a refusal: "actor may not <what> opportunity id (owner ..., team ...)." */
extern char *crm_opportunity_access_refused(const OpportunityAccess *access, int64 id, const char *actor,
											const char *what);

#endif							/* CRM_OPPORTUNITY_ACCESS_H */
