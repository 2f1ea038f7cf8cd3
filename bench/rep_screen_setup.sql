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
