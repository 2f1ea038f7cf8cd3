/*
 * lead_state.h: the lead lifecycle's trigger, and the transitions it keeps.
 */
#ifndef CRM_LEAD_STATE_H
#define CRM_LEAD_STATE_H

/* Watches crm.lead_transition for changes (from _PG_init). */
extern void crm_lead_state_init(void);

#endif							/* CRM_LEAD_STATE_H */
