-- bench/rep_screen_setup.sql: the world of bench/rep_screen_run.  1,000
-- reps in 5 teams on a round-the-clock calendar (bench_org.sql), 20,000
-- contacts with a primary phone at 2,000 accounts, the old crm.lead_sla
-- (grouped over every timer) under another name, and the timing helper.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
\set reps 1000
\ir bench_org.sql
INSERT INTO crm.account (name) SELECT '测试' || g || '号医疗器械有限公司' FROM generate_series(1, 2000) g;
INSERT INTO crm.contact (account_id, name) SELECT g % 2000 + 1, '客户' || g FROM generate_series(1, 20000) g;
INSERT INTO crm.contact_point (contact_id, kind, value, is_primary)
SELECT g, 'phone', '+86139' || lpad(g::text, 8, '0'), true FROM generate_series(1, 20000) g;

-- the view as it was before issue 15: every timer grouped by lead
CREATE VIEW bench_old_lead_sla AS
SELECT t.lead_id,
       bool_or(t.breached_at IS NOT NULL) AS red,
       count(*) FILTER (WHERE t.breached_at IS NOT NULL) AS breaches,
       min(t.due_at) FILTER (WHERE t.met_at IS NULL AND t.cancelled_at IS NULL) AS next_due_at,
       max(t.escalation) AS escalation
  FROM crm.sla_timer t
 GROUP BY t.lead_id;

-- n assigned leads (three timers each, started by crm's lead trigger),
-- spread over the reps; returns the open timers
CREATE FUNCTION bench_add_assigned(n integer, rep_login text DEFAULT NULL) RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO crm.lead (channel, source_label, payload, outcome, status, score, owner, team,
                          contact_id, account_id)
    SELECT 'website', '官网表单', '{}', 'new', 'assigned', g % 100, r.login, r.team, g % 20000 + 1, g % 2000 + 1
      FROM generate_series(1, n) g
      JOIN crm.rep r ON r.login = coalesce(rep_login, 'rep' || (g % 1000 + 1));
    SELECT count(*) FROM crm.sla_timer WHERE met_at IS NULL AND cancelled_at IS NULL;
$$;

-- runs a query (planned each time, as a client's) and gives the median
-- and the fastest of its runs after the first, in milliseconds: on a
-- shared machine the fastest is the query's own cost
CREATE FUNCTION bench_ms(query text, runs integer DEFAULT 21) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    times numeric[] := '{}';
BEGIN
    EXECUTE query;
    FOR i IN 1..runs LOOP
        t0 := clock_timestamp();
        EXECUTE query;
        times := times || extract(epoch FROM clock_timestamp() - t0) * 1000;
    END LOOP;
    RETURN (SELECT round(percentile_disc(0.5) WITHIN GROUP (ORDER BY x), 3) || ' (min ' || round(min(x), 3) || ')'
              FROM unnest(times) x);
END
$$;

-- crm.work_list as it was before crm.work_list_key (1.0, with the finite
-- no-deadline key for comparable keysets): a rep's open leads through
-- lead_open_owner_idx, each one's timers summed, then sorted
CREATE VIEW bench_old_work_list AS
SELECT l.id AS lead_id, l.owner, l.team, l.status AS state,
       coalesce((SELECT c.name FROM crm.contact c WHERE c.id = l.contact_id), l.person_name) AS customer_name,
       coalesce((SELECT a.name FROM crm.account a WHERE a.id = l.account_id), l.company_name) AS company_name,
       coalesce((SELECT p.value FROM crm.contact_point p
                  WHERE p.contact_id = l.contact_id AND p.kind = 'phone' AND p.is_primary), l.phone) AS phone,
       l.score, l.assigned_at,
       crm.next_milestone(l.id) AS next_milestone, s.next_due_at,
       coalesce(s.red, false) AS red, coalesce(s.escalation, 0) AS escalation,
       crm.escalation_level(s.escalation) AS level,
       coalesce(s.next_due_at, crm.work_list_no_deadline()) AS due_key
  FROM crm.lead l CROSS JOIN LATERAL crm.lead_timers(l.id) s
 WHERE l.status IN ('assigned', 'contacted');

-- The owner meets all three milestones of n of a rep's assigned leads, as
-- an application records them (one activity per statement): those leads
-- have no open deadline and sort last in the work list
CREATE FUNCTION bench_finish(rep_login text, n integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    lead bigint;
BEGIN
    FOR lead IN SELECT id FROM crm.lead WHERE owner = rep_login AND status = 'assigned' ORDER BY id LIMIT n LOOP
        INSERT INTO crm.lead_activity (lead_id, kind, actor) VALUES (lead, 'first_contact', rep_login);
        INSERT INTO crm.lead_activity (lead_id, kind, body, actor) VALUES (lead, 'needs_summary', '需要CT', rep_login);
        INSERT INTO crm.lead_activity (lead_id, kind, next_step, next_step_at, actor)
        VALUES (lead, 'follow_up_plan', '报价', now() + interval '2 days', rep_login);
    END LOOP;
END
$$;

-- The write paths the work list's keys add to, timed in milliseconds and
-- rolled back: n first contacts ('meet'), or n leads handed to another rep
-- of the same team ('reassign'), one statement each as an application
-- writes them, over the leads of reps 1-990
CREATE FUNCTION bench_writes(kind text, n integer) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
    owners text[];
    t0 timestamptz;
    ms numeric;
BEGIN
    SELECT array_agg(id ORDER BY id), array_agg(owner ORDER BY id) INTO ids, owners
      FROM (SELECT id, owner FROM crm.lead
             WHERE status = 'assigned' AND owner <> 'rep1000' AND substr(owner, 4)::integer <= 990
             ORDER BY id LIMIT n) l;
    BEGIN
        t0 := clock_timestamp();
        FOR i IN 1..cardinality(ids) LOOP
            IF kind = 'meet' THEN
                INSERT INTO crm.lead_activity (lead_id, kind, actor) VALUES (ids[i], 'first_contact', owners[i]);
            ELSE
                UPDATE crm.lead SET owner = 'rep' || (substr(owners[i], 4)::integer + 5) WHERE id = ids[i];
            END IF;
        END LOOP;
        ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
        RAISE EXCEPTION 'rolled back' USING ERRCODE = 'assert_failure';
    EXCEPTION WHEN assert_failure THEN
        NULL;
    END;
    RETURN round(ms, 1);
END
$$;

-- "Before": crm.work_list_update() made a no-op, as if the keys did not
-- exist (true), or its own body back (false)
CREATE TABLE bench_saved_update (def text);
INSERT INTO bench_saved_update SELECT pg_get_functiondef('crm.work_list_update(bigint[])'::regprocedure);
CREATE FUNCTION bench_keys_off(off boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF off THEN
        CREATE OR REPLACE FUNCTION crm.work_list_update(leads bigint[]) RETURNS void
            LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS 'BEGIN END';
    ELSE
        EXECUTE (SELECT def FROM bench_saved_update);
    END IF;
END
$$;
