-- scripts/dump-restore-busy-1.1.sql: the rows of tables added since 1.0,
-- for scripts/dump-restore-test.sh, which runs it after
-- dump-restore-busy.sql (that file holds the 1.0 surface only, as
-- scripts/upgrade-test.sh loads it into a 1.0 catalog; its last check
-- wants rows in every table).  Tables that crm fills from the 1.0 surface
-- (crm.work_list_key, from the leads) need nothing here.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

-- the role whose pg_cron jobs run crm here, as crm.schedule_jobs() records
-- it (this cluster's pg_cron lives in another database)
INSERT INTO crm.job_registration (registered_by, registered_at) VALUES (current_user, '2026-11-20 09:00+08');
