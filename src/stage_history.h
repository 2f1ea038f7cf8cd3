/*
 * stage_history.h: crm.stage_history, written by crm's stage-change
 * trigger only, and never rewritten.
 */
#ifndef CRM_STAGE_HISTORY_H
#define CRM_STAGE_HISTORY_H

#include "spi_plan.h"

/*
 * Runs a batch statement that writes crm.stage_history: the table's guard
 * lets the rows in while it runs, and no other insert.
 */
extern void crm_stage_history_write(CrmPlan *plan, CrmColumn *cols, int expected);

#endif							/* CRM_STAGE_HISTORY_H */
