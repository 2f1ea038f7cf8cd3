/*
 * actor.h: the person behind a call (crm.actor, crm.current_actor()).
 */
#ifndef CRM_ACTOR_H
#define CRM_ACTOR_H

extern void crm_actor_init(void);

#endif							/* CRM_ACTOR_H */
