/*
 * actor.h: the person behind a call (crm.actor, crm.current_actor()).
 */
#ifndef CRM_ACTOR_H
#define CRM_ACTOR_H

extern void crm_actor_init(void);

/* crm.current_actor(): crm.actor when set, else the role the session acts as */
extern char *crm_actor_name(void);

#endif							/* CRM_ACTOR_H */
