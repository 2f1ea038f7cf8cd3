/*
 * guards.h: who is writing — a restore, or crm's own install script.
 */
#ifndef CRM_GUARDS_H
#define CRM_GUARDS_H

#include "fmgr.h"

/*
 * A restore is under way in this session: a superuser with
 * check_function_bodies off, as pg_dump's output (every format) sets it.
 */
extern bool crm_restoring(void);

/*
 * A row that is a record (an attachment, an activity): an UPDATE may
 * change column mutable only; any other change is refused (23000), naming
 * it.  For a BEFORE UPDATE row trigger.
 */
struct TriggerData;
extern void crm_check_record_unchanged(struct TriggerData *td, const char *noun, const char *mutable);

/* Refuse (39P01) a call of function other than as a BEFORE INSERT OR UPDATE row trigger. */
extern void crm_require_write_row_trigger(FunctionCallInfo fcinfo, const char *function);

#endif							/* CRM_GUARDS_H */
