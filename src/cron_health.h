/*
 * cron_health.h: whether pg_cron's settings can run crm's jobs
 * (crm.cron_setup_problems(), crm.schedule_jobs()' warnings).
 */
#ifndef CRM_CRON_HEALTH_H
#define CRM_CRON_HEALTH_H

/*
 * One WARNING, with a hint naming the setting, for each reason pg_cron's
 * settings cannot run the jobs, and one for each job whose latest run
 * failed (where crm.job_health() can see it).
 */
extern void crm_warn_cron_health(void);

#endif							/* CRM_CRON_HEALTH_H */
