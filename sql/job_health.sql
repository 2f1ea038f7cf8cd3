-- crm's own pg_cron jobs: crm.job_health(), the job_failing alarm, and the
-- warnings of crm.schedule_jobs().  The test cluster runs pg_cron's jobs in
-- background workers, with this database as cron.database_name.

-- without pg_cron in this database nothing is known, and the checks do nothing
SELECT job_name, period, scheduled, status FROM crm.job_health();
SELECT crm.check_job_alarms() AS job_alarms;
CREATE EXTENSION IF NOT EXISTS pg_cron;
SELECT job_name, scheduled, status FROM crm.job_health();

-- pg_cron's settings: this cluster's work; the libpq connection pg_cron
-- makes without background workers must reach a socket this server has
SELECT count(*) AS problems FROM crm.cron_setup_problems();
SELECT setting, problem, hint FROM crm.cron_setup_problems(false, '/nonexistent');
-- the default cron.host (localhost) fails here one way or the other: no
-- TCP, or a password rule in pg_hba.conf with no password file
SELECT count(*) > 0 AS localhost_fails, bool_and(hint LIKE 'Set cron.use_background_workers = on%') AS hint_names_it
  FROM crm.cron_setup_problems(false, 'localhost');

-- pg_cron must not run them during the test, whose runs are simulated: in
-- the same transaction, before its launcher sees them, they get a
-- schedule that does not fire soon
BEGIN;
SELECT crm.schedule_jobs() AS created;
UPDATE cron.job SET schedule = '0 0 1 1 *' WHERE jobname LIKE 'crm\_%';
COMMIT;
SELECT job_name, scheduled, active, status FROM crm.job_health();

-- runs as pg_cron records them; one that could not connect has no times
CREATE FUNCTION pg_temp.run(job text, ok boolean, at timestamptz) RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO cron.job_run_details (jobid, database, username, command, status, return_message, start_time, end_time)
    SELECT j.jobid, j.database, j.username, j.command, CASE WHEN ok THEN 'succeeded' ELSE 'failed' END,
           CASE WHEN ok THEN 'SELECT 1' ELSE 'connection failed' END, at, at
      FROM cron.job j WHERE j.jobname = job
$$;
SELECT pg_temp.run('crm_run_timeouts', true, now() - interval '3 minutes');
SELECT pg_temp.run('crm_rescore_decayed', true, now() - interval '20 minutes');
SELECT job_name, status, failures_since_success FROM crm.job_health();

-- the sweep fails once: not yet two periods
SELECT pg_temp.run('crm_run_timeouts', false, NULL);
SELECT job_name, status, failures_since_success, last_failure_message FROM crm.job_health();
SELECT alarms_open FROM crm.run_timeouts();
SELECT count(*) AS job_alarms FROM crm.alarm WHERE kind = 'job_failing';

-- and again: two periods without success raise the alarm, notified once
-- to the operations channel, whoever runs the check (here the hourly job's)
SELECT pg_temp.run('crm_run_timeouts', false, NULL);
SELECT job_name, status, failures_since_success FROM crm.job_health();
SELECT crm.check_job_alarms() AS job_alarms;
SELECT crm.check_job_alarms() AS job_alarms_again;
SELECT kind, subject, detail->>'failures' AS failures, detail->>'last_failure_message' AS message,
       (detail->>'last_success')::timestamptz < now() - interval '2 minutes' AS last_success_old,
       detail->>'period' AS period
  FROM crm.alarm WHERE kind = 'job_failing';
SELECT recipient, payload->>'kind' AS kind, payload->>'subject' AS subject, payload->>'failures' AS failures
  FROM crm.outbox WHERE topic = 'alarm';

-- schedule_jobs puts the schedules right (2), and warns about the failures
BEGIN;
\set VERBOSITY terse
SELECT crm.schedule_jobs() AS put_right;
\set VERBOSITY default
UPDATE cron.job SET schedule = '0 0 1 1 *' WHERE jobname LIKE 'crm\_%';
COMMIT;

-- a success clears it
SELECT pg_temp.run('crm_run_timeouts', true, now());
SELECT job_name, status FROM crm.job_health();
SELECT alarms_open FROM crm.run_timeouts();
SELECT subject, cleared_at IS NOT NULL AS cleared FROM crm.alarm WHERE kind = 'job_failing';

-- a role that may not read pg_cron's history: unknown, and no error
CREATE ROLE crm_job_watcher;
GRANT USAGE ON SCHEMA crm TO crm_job_watcher;
REVOKE USAGE ON SCHEMA cron FROM crm_job_watcher;
SET ROLE crm_job_watcher;
SELECT job_name, status FROM crm.job_health();
RESET ROLE;
DROP OWNED BY crm_job_watcher;
DROP ROLE crm_job_watcher;

-- a look-alike cron schema in a database without pg_cron is not read
CREATE DATABASE crm_fake_cron;
\c crm_fake_cron
CREATE EXTENSION crm CASCADE;
CREATE SCHEMA cron;
CREATE TABLE cron.job (jobid bigint, jobname text, database text, active boolean);
CREATE TABLE cron.job_run_details (jobid bigint, runid bigint, status text, return_message text,
                                   start_time timestamptz, end_time timestamptz);
SELECT job_name, status FROM crm.job_health();
SELECT crm.check_job_alarms() AS job_alarms;
\c contrib_regression
DROP DATABASE crm_fake_cron;

SELECT crm.unschedule_jobs() AS removed;
DELETE FROM cron.job_run_details;   -- pg_cron stays: its launcher would not see it re-created
TRUNCATE crm.alarm, crm.outbox;
