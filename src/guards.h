/*
 * guards.h: who is writing — a restore, or crm's own install script.
 */
#ifndef CRM_GUARDS_H
#define CRM_GUARDS_H

/*
 * A restore is under way in this session: a superuser with
 * check_function_bodies off, as pg_dump's output (every format) sets it.
 */
extern bool crm_restoring(void);

#endif							/* CRM_GUARDS_H */
