/*
 * subtransaction.h: a step that may fail alone.
 */
#ifndef CRM_SUBTRANSACTION_H
#define CRM_SUBTRANSACTION_H

#include "postgres.h"

typedef void (*CrmStep) (void *arg);

/*
 * Run step(arg) in a subtransaction: NULL when it succeeded and its work
 * is kept, else the error it raised (copied into the caller's memory
 * context), its work undone.  The caller's memory context and resource
 * owner are current again either way.
 */
extern ErrorData *crm_try_step(CrmStep step, void *arg);

#endif							/* CRM_SUBTRANSACTION_H */
