------------------------------------------------------------------------------
-- The timer sweep and the jobs that run it
------------------------------------------------------------------------------

-- The sweep's parts, each its own function: a minute with nothing due
-- compiles and plans only what it runs (pg_cron runs each sweep in a fresh
-- backend).

-- 1. SLA timers that are due: breach (owner), then manager, then director.
-- A wake-up whose timer was met, cancelled or already moved on is dropped
-- without firing.  Each wake-up row is deleted once, so a timer fires once
-- even if two of these run at once.
CREATE FUNCTION crm.fire_due_timers(max_timers integer, OUT timers_fired integer, OUT to_reroute bigint[])
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    WITH due AS (
        DELETE FROM crm.sla_wakeup w
         WHERE w.ctid = ANY (ARRAY(SELECT n.ctid FROM crm.sla_wakeup n
                                    WHERE n.fire_at <= pg_catalog.now()
                                    ORDER BY n.fire_at LIMIT max_timers))
        RETURNING w.timer_id, w.level
    ), fired AS (
        UPDATE crm.sla_timer t
           SET escalation = d.level,
               breached_at = coalesce(t.breached_at, pg_catalog.now())
          FROM due d, crm.team tm
         WHERE t.id = d.timer_id AND t.escalation = d.level - 1
           AND t.met_at IS NULL AND t.cancelled_at IS NULL
           AND tm.code = t.team
        RETURNING t.id, t.lead_id, t.milestone, t.owner, t.team, t.due_at, t.escalation AS level,
                  tm.manager, tm.director, tm.sla_policy
    ), queued AS (
        INSERT INTO crm.sla_wakeup (fire_at, timer_id, level)
        SELECT f.due_at + e.after, f.id, f.level + 1
          FROM fired f JOIN crm.sla_step st ON st.policy = f.sla_policy AND st.milestone = f.milestone
         CROSS JOIN LATERAL (SELECT CASE f.level WHEN 1 THEN st.escalate_manager_after
                                                 WHEN 2 THEN st.escalate_director_after END) e(after)
         WHERE e.after IS NOT NULL
    ), notified AS (
        -- one message per recipient and level, listing the leads: a bot
        -- that posted one message per lead would be throttled, and a rep
        -- reads one list better than thirty pings
        INSERT INTO crm.outbox (topic, recipient, payload)
        SELECT CASE f.level WHEN 1 THEN 'sla_breach' ELSE 'sla_escalation' END,
               CASE f.level WHEN 1 THEN f.owner WHEN 2 THEN f.manager ELSE f.director END,
               jsonb_build_object('level', crm.escalation_level(f.level), 'team', f.team,
                                  'leads', jsonb_agg(jsonb_build_object('lead_id', f.lead_id, 'milestone', f.milestone,
                                                                        'owner', f.owner, 'due_at', f.due_at)
                                                     ORDER BY f.due_at, f.lead_id))
          FROM fired f
         GROUP BY f.level, 2, f.team
        RETURNING 1
    )
    SELECT count(*)::integer,
           array_agg(f.lead_id) FILTER (WHERE f.level = 1 AND f.milestone = 'first_contact' AND p.reassign_on_breach)
      INTO timers_fired, to_reroute
      FROM fired f JOIN crm.sla_policy p ON p.code = f.sla_policy;
END
$$;
COMMENT ON FUNCTION crm.fire_due_timers(integer) IS
'Internal to crm.run_timeouts(): fires up to max_timers due SLA timers (breach, manager, director; one outbox message per recipient and level) and returns how many fired and the leads the policy sends to another rep';

-- 3. Alarms: leads stranded past their state's timeout, and rules idle
-- while their leads wait; returns how many alarms are open.
CREATE FUNCTION crm.check_alarms() RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    subjects text[];
    details jsonb[];
    recipients text[];
    alarms_open integer;
BEGIN
    -- leads still stranded past their state's timeout ...
    SELECT coalesce(array_agg(s.state ORDER BY s.state), '{}'),
           coalesce(array_agg(jsonb_build_object('leads', w.leads, 'oldest', w.oldest,
                                                 'timeout', s.timeout, 'waits_for', s.description)
                              ORDER BY s.state), '{}'),
           coalesce(array_agg(NULL::text), '{}')
      INTO subjects, details, recipients
      FROM crm.lead_state s
     CROSS JOIN LATERAL (SELECT count(*) AS leads, min(l.status_changed_at) AS oldest FROM crm.lead l
                          -- the IN list lets the planner use the partial index
                          WHERE l.status IN ('new', 'scored') AND l.status = s.state
                            AND l.status_changed_at < pg_catalog.now() - s.timeout) w
     WHERE s.waits_on = 'machine' AND w.leads > 0;
    alarms_open := crm.sync_alarms('stranded_leads', subjects, details, recipients);

    -- ... and rules that have not fired for too long while their leads wait
    SELECT coalesce(array_agg(r.code ORDER BY r.code), '{}'),
           coalesce(array_agg(jsonb_build_object('leads', w.leads, 'team', r.team, 'last_fired_at', r.last_fired_at,
                                                 'idle_alarm_after', r.idle_alarm_after)
                              ORDER BY r.code), '{}'),
           coalesce(array_agg(t.manager ORDER BY r.code), '{}')
      INTO subjects, details, recipients
      FROM crm.assignment_rule r JOIN crm.team t ON t.code = r.team
     CROSS JOIN LATERAL (SELECT count(*) AS leads FROM crm.lead l
                          WHERE l.status = 'scored' AND l.assignment_rule = r.code) w
     WHERE r.active AND coalesce(r.last_fired_at, r.created_at) < pg_catalog.now() - r.idle_alarm_after
       AND w.leads > 0;
    alarms_open := alarms_open + crm.sync_alarms('rule_idle', subjects, details, recipients);
    RETURN alarms_open;
END
$$;
COMMENT ON FUNCTION crm.check_alarms() IS
'Internal to crm.run_timeouts(): raises, refreshes or clears the stranded_leads and rule_idle alarms, and returns how many are open';

-- @since 1.1
-- 1.1: opportunity countdowns and dwell limits (crm.fire_opportunity_timers)
CREATE OR REPLACE FUNCTION crm.run_timeouts(max_timers integer DEFAULT 20000,
                                 OUT timers_fired integer, OUT leads_retried integer, OUT alarms_open integer)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    to_reroute bigint[];
    waiting bigint[];
    any_waiting boolean;
BEGIN
    IF max_timers IS NULL OR max_timers < 1 THEN
        RAISE EXCEPTION 'max_timers must be positive, not %', coalesce(max_timers::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    timers_fired := 0; leads_retried := 0; alarms_open := 0;
    -- A second sweep started meanwhile has nothing to add: it returns at once.
    IF NOT pg_catalog.pg_try_advisory_xact_lock(x'43524d'::integer, 1) THEN
        RETURN;
    END IF;

    -- 1. due SLA timers (min() reads one end of the index whatever the
    -- statistics say)
    IF (SELECT min(w.fire_at) FROM crm.sla_wakeup w) <= pg_catalog.now() THEN
        SELECT f.timers_fired, f.to_reroute INTO timers_fired, to_reroute FROM crm.fire_due_timers(max_timers) f;
    END IF;
    -- opportunity countdowns and dwell limits, the same way
    IF (SELECT min(t.due_at) FROM crm.opportunity_timer t
         WHERE t.met_at IS NULL AND t.fired_at IS NULL AND t.cancelled_at IS NULL) <= pg_catalog.now()
       OR EXISTS (SELECT FROM crm.opportunity_timer t
                   WHERE t.due_at IS NULL AND t.met_at IS NULL AND t.cancelled_at IS NULL) THEN
        timers_fired := timers_fired + crm.fire_opportunity_timers(max_timers);
    END IF;
    -- the policy may send a lead nobody answered to another rep
    IF to_reroute IS NOT NULL THEN
        UPDATE crm.lead l SET status = 'scored', previous_owner = l.owner, owner = NULL
         WHERE l.id = ANY (to_reroute) AND l.status = 'assigned';
    END IF;

    -- 2. leads waiting on a machine step: score and assign them now
    waiting := ARRAY(SELECT l.id FROM crm.lead l WHERE l.status = 'new' ORDER BY l.status_changed_at LIMIT max_timers);
    any_waiting := cardinality(waiting) > 0;
    IF any_waiting THEN
        leads_retried := leads_retried + crm.rescore(waiting);
    END IF;
    waiting := ARRAY(SELECT l.id FROM crm.lead l WHERE l.status = 'scored' ORDER BY l.status_changed_at LIMIT max_timers);
    any_waiting := any_waiting OR cardinality(waiting) > 0;
    IF cardinality(waiting) > 0 THEN
        leads_retried := leads_retried + cardinality(waiting);
        PERFORM crm.assign_leads(waiting, false);
    END IF;

    -- 3. alarms.  With no lead waiting there is none to raise, and with none
    -- open none to clear: the usual minute ends here, and a fresh backend
    -- (each pg_cron run) does not load what the alarms read.
    -- crm's own jobs first: this one cannot report itself when it never
    -- runs, but it reports the others (crm.job_health())
    alarms_open := crm.check_job_alarms();
    IF NOT any_waiting
       AND NOT EXISTS (SELECT FROM crm.alarm a WHERE a.cleared_at IS NULL AND a.kind <> 'job_failing') THEN
        RETURN;
    END IF;
    alarms_open := alarms_open + crm.check_alarms();
END
$$;
COMMENT ON FUNCTION crm.run_timeouts(integer) IS
'The timer sweep, run every minute by pg_cron: fires due SLA timers (the lead turns red in crm.lead_sla; owner, then manager and director notified, one message per recipient; optionally reassigned) and due opportunity countdowns and dwell limits (crm.opportunity_timer; counted in timers_fired), scores and assigns leads waiting on those steps, and raises or clears the stranded_leads, rule_idle and job_failing alarms. A second concurrent call returns at once; each due timer fires once';
-- @end

CREATE INDEX lead_waiting_rule_idx ON crm.lead (assignment_rule) WHERE status = 'scored';

-- period: how often the schedule runs the job; crm.job_health() calls a
-- job failing when it has not succeeded for two of them.
CREATE FUNCTION crm.job_definitions(OUT job_name text, OUT schedule text, OUT command text, OUT period interval)
    RETURNS SETOF record
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    VALUES ('crm_run_timeouts', '* * * * *', 'SET statement_timeout = ''50s''; SELECT crm.run_timeouts()',
            interval '1 minute'),
           ('crm_rescore_decayed', '17 * * * *',
            'SET statement_timeout = ''10min''; SELECT crm.check_job_alarms(); SELECT crm.rescore_decayed()',
            interval '1 hour');
END;
COMMENT ON FUNCTION crm.job_definitions() IS
'The pg_cron jobs crm.schedule_jobs() registers: the minute sweep, and the hourly re-score that lets event points decay (and checks the sweep''s health); period is how often each runs';

-- Whether this session can read pg_cron's job history here: pg_cron keeps
-- it in cron.database_name only.  The tables must be pg_cron's own, not
-- look-alikes someone created in a schema named cron.
CREATE FUNCTION crm.cron_history_readable() RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT count(*) = 2 AND bool_and(pg_catalog.has_table_privilege(c.oid, 'SELECT')
                                     AND pg_catalog.has_schema_privilege(c.relnamespace, 'USAGE'))
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
                                 AND d.deptype = 'e'
      JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_cron'
     WHERE c.relnamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = 'cron')
       AND c.relname IN ('job', 'job_run_details');
END;
COMMENT ON FUNCTION crm.cron_history_readable() IS
'Whether pg_cron''s cron.job and cron.job_run_details are in this database and readable by the current role; crm.job_health() reads them only then';

-- The rule-health check applied to crm itself: how each of its pg_cron
-- jobs has run lately.  The latest 1000 finished runs of each job count
-- (cron.job_run_details has no index on jobid and grows without bound).
-- pg_cron records a run that could not connect with no times at all, so
-- runs are ordered by runid, and last_failure may be NULL.
CREATE FUNCTION crm.job_health(OUT job_name text, OUT period interval, OUT scheduled boolean, OUT active boolean,
                               OUT last_success timestamptz, OUT last_failure timestamptz,
                               OUT last_failure_message text, OUT failures_since_success integer, OUT status text)
    RETURNS SETOF record
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT crm.cron_history_readable() THEN
        RETURN QUERY SELECT d.job_name, d.period, NULL::boolean, NULL::boolean, NULL::timestamptz, NULL::timestamptz,
                            NULL::text, NULL::integer, 'unknown'::text
                       FROM crm.job_definitions() d ORDER BY d.job_name;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT d.job_name, d.period, j.jobid IS NOT NULL, j.active, r.last_success, r.last_failure,
           r.last_failure_message, coalesce(r.failures, 0)::integer,
           CASE WHEN j.jobid IS NULL THEN 'not_scheduled'
                WHEN r.last_status IS NULL THEN 'never_run'
                WHEN r.last_status = 'succeeded' THEN 'ok'
                WHEN r.failures >= 2 AND coalesce(r.last_success < pg_catalog.now() - 2 * d.period, true) THEN 'failing'
                ELSE 'last_run_failed' END
      FROM crm.job_definitions() d
      LEFT JOIN cron.job j ON j.jobname = d.job_name AND j.database = pg_catalog.current_database()
      LEFT JOIN LATERAL (
          SELECT (array_agg(x.at ORDER BY x.runid DESC) FILTER (WHERE x.status = 'succeeded'))[1] AS last_success,
                 (array_agg(x.at ORDER BY x.runid DESC) FILTER (WHERE x.status = 'failed'))[1] AS last_failure,
                 (array_agg(x.return_message ORDER BY x.runid DESC) FILTER (WHERE x.status = 'failed'))[1]
                     AS last_failure_message,
                 count(*) FILTER (WHERE x.status = 'failed' AND x.runid > coalesce(x.last_success_run, 0)) AS failures,
                 (array_agg(x.status ORDER BY x.runid DESC))[1] AS last_status
            FROM (SELECT rd.runid, rd.status, rd.return_message, coalesce(rd.end_time, rd.start_time) AS at,
                         max(rd.runid) FILTER (WHERE rd.status = 'succeeded') OVER () AS last_success_run
                    FROM (SELECT run.* FROM cron.job_run_details run
                           WHERE run.jobid = j.jobid AND run.status IN ('succeeded', 'failed')
                           ORDER BY run.runid DESC LIMIT 1000) rd) x) r ON true
     ORDER BY d.job_name;
END
$$;
COMMENT ON FUNCTION crm.job_health() IS
'How each of crm''s pg_cron jobs ran lately, for monitoring: status ok (the latest run succeeded), last_run_failed, failing (the latest two or more runs failed and none succeeded for two periods: the job_failing alarm), never_run, not_scheduled, or unknown (pg_cron''s tables are not in this database or not readable by this role). Counts the latest 1000 finished runs of each job';

-- The job_failing alarm: raised by each of crm's jobs for the others (a
-- job that never runs cannot report itself); does nothing where pg_cron's
-- history cannot be read.  Returns how many are open.
CREATE FUNCTION crm.check_job_alarms() RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT crm.cron_history_readable() THEN
        RETURN (SELECT count(*) FROM crm.alarm a WHERE a.kind = 'job_failing' AND a.cleared_at IS NULL);
    END IF;
    -- to the operations channel: recipients NULL
    RETURN (SELECT crm.sync_alarms('job_failing', coalesce(array_agg(h.job_name ORDER BY h.job_name), '{}'),
                                   coalesce(array_agg(jsonb_build_object(
                                                'last_success', h.last_success, 'last_failure', h.last_failure,
                                                'last_failure_message', h.last_failure_message,
                                                'failures', h.failures_since_success, 'period', h.period)
                                            ORDER BY h.job_name), '{}'),
                                   coalesce(array_agg(NULL::text), '{}'))
              FROM crm.job_health() h WHERE h.status = 'failing');
END
$$;
COMMENT ON FUNCTION crm.check_job_alarms() IS
'Raises, refreshes or clears the job_failing alarms from crm.job_health() (each crm job runs it, so each reports the others); does nothing where pg_cron''s history is not readable; returns how many are open';

CREATE FUNCTION crm.schedule_jobs() RETURNS integer
    AS 'MODULE_PATHNAME', 'crm_schedule_jobs'
    LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION crm.cron_setup_problems(use_background_workers boolean DEFAULT NULL, host text DEFAULT NULL,
                                        OUT setting text, OUT problem text, OUT hint text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'crm_cron_setup_problems'
    LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION crm.cron_setup_problems(boolean, text) IS
'Why pg_cron''s settings cannot run crm''s jobs as the current role in this database, one row per reason (setting: the one to change; hint: how); no rows when they can or nobody can tell without connecting. use_background_workers and host: what to assume instead of cron.use_background_workers and cron.host. The pg_hba.conf rules are read only by roles allowed to (superusers). crm.schedule_jobs() warns with these';
CREATE FUNCTION crm.unschedule_jobs() RETURNS integer
    AS 'MODULE_PATHNAME', 'crm_unschedule_jobs'
    LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp;
-- @since 1.1
-- Which role registered this database's jobs.  pg_cron's row security
-- shows a role its own jobs only, so a second role calling
-- crm.schedule_jobs() would find none and register the work a second
-- time: every sweep would run twice.  crm keeps the owner itself and
-- refuses the others (crm.job_registration_claim()).
CREATE TABLE crm.job_registration (
    single        boolean PRIMARY KEY DEFAULT true CONSTRAINT job_registration_single CHECK (single),
    registered_by name NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.job_registration', '');
COMMENT ON TABLE crm.job_registration IS
'The role whose pg_cron jobs run crm in this database: crm.schedule_jobs() records it and refuses any other role (42501) until crm.unschedule_jobs() removes the jobs; at most one row';
COMMENT ON COLUMN crm.job_registration.single IS 'Always true: the table holds one row at most';
COMMENT ON COLUMN crm.job_registration.registered_by IS
'The role that called crm.schedule_jobs(): pg_cron runs the jobs as this role';
COMMENT ON COLUMN crm.job_registration.registered_at IS 'When that role first registered the jobs';

-- Called by crm.schedule_jobs() and crm.unschedule_jobs() before they touch
-- pg_cron, in the caller's transaction.  One at a time (an advisory lock):
-- two roles racing cannot both register.  A registration whose role was
-- dropped is taken over (its jobs could not run anyway); a superuser may
-- unschedule anyone's jobs (pg_cron shows it every role's).
CREATE FUNCTION crm.job_registration_claim(unscheduling boolean) RETURNS void
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    holder name;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(x'43524d'::integer, 2);
    SELECT r.registered_by INTO holder FROM crm.job_registration r;
    IF holder IS DISTINCT FROM current_user
       AND EXISTS (SELECT FROM pg_catalog.pg_roles o WHERE o.rolname = holder)
       AND NOT (unscheduling AND (SELECT u.rolsuper FROM pg_catalog.pg_roles u WHERE u.rolname = current_user)) THEN
        RAISE EXCEPTION 'crm''s pg_cron jobs in database "%" belong to role "%"', pg_catalog.current_database(), holder
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('Role "%s" registered them at %s. pg_cron shows each role only its own jobs, so %s would register a second set, and every job would run twice.',
                                             holder, (SELECT r.registered_at FROM crm.job_registration r),
                                             CASE WHEN unscheduling THEN 'this role could not remove them; it'
                                                  ELSE 'this role' END),
                  HINT = CASE WHEN unscheduling
                              THEN pg_catalog.format('Call crm.unschedule_jobs() as role "%s" or as a superuser.', holder)
                              ELSE pg_catalog.format('Call crm.schedule_jobs() as role "%s"; to hand the jobs to another role, have "%s" (or a superuser) call crm.unschedule_jobs() first.',
                                                     holder, holder) END;
    END IF;
    IF unscheduling THEN
        DELETE FROM crm.job_registration;
    ELSE
        INSERT INTO crm.job_registration AS r (registered_by) VALUES (current_user)
        ON CONFLICT (single) DO UPDATE SET registered_by = excluded.registered_by, registered_at = excluded.registered_at
         WHERE r.registered_by <> excluded.registered_by;
    END IF;
END
$$;
COMMENT ON FUNCTION crm.job_registration_claim(boolean) IS
'Internal to crm.schedule_jobs() and crm.unschedule_jobs(): records the calling role as the jobs'' owner (or forgets it when unscheduling), and refuses any other role with 42501 and a hint naming the owner; a dropped owner''s registration is taken over, and a superuser may unschedule';
COMMENT ON FUNCTION crm.schedule_jobs() IS
'Registers the pg_cron jobs crm.job_definitions() lists, to run in this database as the calling user (names start with crm_; outside cron.database_name they end in @<database>), and removes this database''s crm_ jobs it no longer lists or that belong to another role; returns how many jobs were created, changed or removed, so a second call returns 0. The role is recorded in crm.job_registration: another role is refused (42501) until crm.unschedule_jobs() removes the jobs. Needs pg_cron preloaded and installed in cron.database_name, and a superuser or a role granted USAGE on schema cron and EXECUTE on cron.schedule_in_database()';
COMMENT ON FUNCTION crm.unschedule_jobs() IS
'Removes this database''s crm_ pg_cron jobs and their owner''s record in crm.job_registration; returns how many jobs. Only the role that registered them, or a superuser, may (42501 otherwise)';
-- @end
