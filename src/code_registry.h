/*
 * code_registry.h: crm.customer_code is written only through crm.
 */
#ifndef CRM_CODE_REGISTRY_H
#define CRM_CODE_REGISTRY_H

#include "spi_plan.h"

/*
 * Runs a kept plan that writes crm.customer_code (crm_plan_run's
 * arguments, no nulls, no row limit): the registry's guard lets it through.
 */
extern uint64 crm_registry_run(CrmPlan *plan, Datum *values, int expected);

#endif							/* CRM_CODE_REGISTRY_H */
