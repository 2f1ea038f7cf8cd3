-- pg_cron on a live cluster: crm.schedule_jobs() registers the sweep, and
-- the sweep really fires a breach without anyone calling it.  The test
-- cluster preloads pg_cron with this database as cron.database_name.
SET client_min_messages = warning;   -- sql/job_health.sql may have created it
CREATE EXTENSION IF NOT EXISTS pg_cron;
RESET client_min_messages;
SELECT crm.schedule_jobs() AS created;
SELECT crm.schedule_jobs() AS created_again;
SELECT jobname, schedule, command, database = current_database() AS here, username = current_user AS as_me, active
  FROM cron.job ORDER BY jobname;

-- The registering role is recorded; a second role is refused before it
-- reaches pg_cron, whose row security would hide these jobs from it and
-- let it register a second set (each job would run twice)
SELECT registered_by = current_user AS registered_by_me FROM crm.job_registration;
CREATE ROLE crm_second_scheduler;
GRANT USAGE ON SCHEMA crm TO crm_second_scheduler;
GRANT SELECT, INSERT, UPDATE, DELETE ON crm.job_registration TO crm_second_scheduler;
CREATE FUNCTION pg_temp.refusal(statement text, OUT state text, OUT message text, OUT hint text)
    LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    state := 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    -- the owner is whoever runs the suite
    message := replace(message, session_user, '<owner>');
    hint := replace(hint, session_user, '<owner>');
END
$$;
SET ROLE crm_second_scheduler;
SELECT * FROM pg_temp.refusal('SELECT crm.schedule_jobs()');
SELECT * FROM pg_temp.refusal('SELECT crm.unschedule_jobs()');
RESET ROLE;
SELECT count(*) AS jobs, count(DISTINCT username) AS roles FROM cron.job;
-- once the owner has unscheduled, the role may take the jobs over: it
-- passes the claim and goes on to pg_cron (here it lacks pg_cron's grants)
SELECT crm.unschedule_jobs() AS handed_over;
SELECT count(*) AS registrations FROM crm.job_registration;
SET ROLE crm_second_scheduler;
SELECT state, message FROM pg_temp.refusal('SELECT crm.schedule_jobs()');
RESET ROLE;
SELECT count(*) AS registrations_after_failure FROM crm.job_registration;
-- a registration whose role was dropped is taken over
INSERT INTO crm.job_registration (registered_by) VALUES ('crm_second_scheduler');
REVOKE ALL ON crm.job_registration FROM crm_second_scheduler;
REVOKE ALL ON SCHEMA crm FROM crm_second_scheduler;
DROP ROLE crm_second_scheduler;
SELECT crm.schedule_jobs() AS created_again_by_me;
SELECT registered_by = current_user AS registered_by_me FROM crm.job_registration;

-- a lead whose first contact is overdue
TRUNCATE crm.lead, crm.assignment_rule, crm.rep, crm.team, crm.outbox CASCADE;
INSERT INTO crm.calendar (code, name) VALUES ('cron_always', '全天候');
INSERT INTO crm.calendar_hours (calendar, isodow, opens, closes)
SELECT 'cron_always', d, '00:00', '24:00' FROM generate_series(1, 7) d;
INSERT INTO crm.team (code, name, manager, calendar) VALUES ('night', '夜班', 'mgr_night', 'cron_always');
INSERT INTO crm.rep (login, name, team) VALUES ('owl', '夜猫子', 'night');
INSERT INTO crm.assignment_rule (code, position, name, team) VALUES ('all', 1, '全部', 'night');
SELECT owner FROM crm.ingest('website', '{"id": "cron-1", "name": "赵敏", "phone": "13700000001", "submitted_at": "2026-11-23T08:00:00+08:00"}');
UPDATE crm.sla_timer SET due_at = now() - interval '1 minute' WHERE milestone = 'first_contact';
UPDATE crm.sla_wakeup w SET fire_at = t.due_at FROM crm.sla_timer t
 WHERE t.id = w.timer_id AND t.milestone = 'first_contact';

-- pg_cron starts the sweep at the next minute; wait for its breach
DO $$
BEGIN
    FOR i IN 1..150 LOOP
        EXIT WHEN EXISTS (SELECT FROM crm.sla_timer WHERE breached_at IS NOT NULL);
        PERFORM pg_sleep(0.5);
    END LOOP;
END
$$;
SELECT s.red, s.escalation, o.recipient, o.payload->'leads'->0->>'milestone' AS milestone
  FROM crm.lead l JOIN crm.lead_sla s ON s.lead_id = l.id
  JOIN crm.outbox o ON o.topic = 'sla_breach' AND (o.payload->'leads'->0->>'lead_id')::bigint = l.id;
-- pg_cron records the run's end a moment after its transaction committed
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        EXIT WHEN (SELECT d.status FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                    WHERE j.jobname = 'crm_run_timeouts' ORDER BY d.runid LIMIT 1) IN ('succeeded', 'failed');
        PERFORM pg_sleep(0.1);
    END LOOP;
END
$$;
SELECT status FROM cron.job_run_details d JOIN cron.job j USING (jobid)
 WHERE j.jobname = 'crm_run_timeouts' ORDER BY d.runid LIMIT 1;

SELECT crm.unschedule_jobs() AS removed;
SELECT count(*) AS jobs_left FROM cron.job;
SELECT crm.unschedule_jobs() AS removed_again;
TRUNCATE crm.lead, crm.assignment_rule, crm.rep, crm.team, crm.outbox CASCADE;
DELETE FROM crm.calendar WHERE code = 'cron_always';

-- crm in another database than cron.database_name: the jobs are written
-- into the cron database by a background worker, named for their database
CREATE DATABASE crm_jobs_elsewhere;
\c crm_jobs_elsewhere
CREATE EXTENSION crm CASCADE;
SELECT crm.schedule_jobs() AS created, crm.schedule_jobs() AS created_again;
\c contrib_regression
SELECT jobname, database, command FROM cron.job ORDER BY jobname;
\c crm_jobs_elsewhere
SELECT crm.unschedule_jobs() AS removed;
\c contrib_regression
SELECT count(*) AS jobs_left FROM cron.job;
DROP DATABASE crm_jobs_elsewhere;
