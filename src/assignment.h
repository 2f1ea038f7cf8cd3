/*
 * assignment.h: what assignment will make of a lead, asked before the
 * lead is stored.
 */
#ifndef CRM_ASSIGNMENT_H
#define CRM_ASSIGNMENT_H

#include "postgres.h"

typedef struct AssignmentRules AssignmentRules;

/* The active assignment rules, read now. */
extern AssignmentRules *crm_assignment_rules(void);

/*
 * Why a lead scored with these values waits for want of a rule ("no
 * assignment rule is active", "no assignment rule matches"), or NULL
 * when a rule holds for it and assignment chooses the rep.  Ingestion
 * stores a new lead with this reason, so that crm.assign_leads, which
 * finds the same unless the rules changed meanwhile, has nothing to
 * write.  customer_owner: its contact's owner, else its account's.
 */
extern const char *crm_assignment_unruled(AssignmentRules *rules, const char *channel,
										  const char *region_code, const char *product_line,
										  int32 score, const char *customer_owner);

#endif							/* CRM_ASSIGNMENT_H */
