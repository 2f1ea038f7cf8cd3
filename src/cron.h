/*
 * cron.h: crm's pg_cron jobs (crm.schedule_jobs(), crm.unschedule_jobs()).
 */
#ifndef CRM_CRON_H
#define CRM_CRON_H

#include "postgres.h"

/*
 * Entry point of the short-lived background worker that writes the jobs
 * into the cron database when crm lives in another one.  The postmaster
 * finds it by name (bgw_function_name), so it must stay exported.
 */
extern PGDLLEXPORT void crm_cron_worker_main(Datum main_arg);

#endif							/* CRM_CRON_H */
