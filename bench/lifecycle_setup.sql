-- bench/lifecycle_setup.sql: the world of bench/lifecycle_run: 100 reps in
-- 5 teams on a round-the-clock calendar (bench_org.sql), and helpers the
-- runner calls between measurements.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
\set reps 100
\ir bench_org.sql

-- Leads already assigned: the lead trigger starts three timers for each.
CREATE FUNCTION bench_add_assigned(n integer) RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO crm.lead (channel, source_label, payload, outcome, status, score, owner, team)
    SELECT 'website', '官网表单', '{}', 'new', 'assigned', 50, r.login, r.team
      FROM generate_series(1, n) g JOIN crm.rep r ON r.login = 'rep' || (g % 100 + 1);
    SELECT count(*) FROM crm.sla_wakeup;
$$;
-- n first-contact deadlines passed a minute ago
CREATE FUNCTION bench_make_due(n integer) RETURNS void LANGUAGE sql AS $$
    WITH moved AS (
        UPDATE crm.sla_timer SET due_at = now() - interval '1 minute'
         WHERE id IN (SELECT id FROM crm.sla_timer WHERE milestone = 'first_contact' AND met_at IS NULL
                       ORDER BY id LIMIT n)
        RETURNING id, due_at
    )
    UPDATE crm.sla_wakeup w SET fire_at = m.due_at FROM moved m WHERE w.timer_id = m.id;
$$;
CREATE FUNCTION bench_clear_due() RETURNS void LANGUAGE sql AS $$
    WITH moved AS (
        UPDATE crm.sla_timer SET due_at = started_at + interval '15 minutes'
         WHERE milestone = 'first_contact' AND due_at < now()
        RETURNING id, due_at
    )
    UPDATE crm.sla_wakeup w SET fire_at = m.due_at FROM moved m WHERE w.timer_id = m.id;
$$;
-- 10,000 leads waiting in state scored, with scores spread over five
-- score bands: one round-robin rule per team and band
CREATE FUNCTION bench_waiting_leads() RETURNS void LANGUAGE sql AS $$
    INSERT INTO crm.assignment_rule (code, position, name, team, min_score, max_score, active)
    SELECT 'rule' || t, t, 'rule ' || t, 'team' || t, (t - 1) * 20, t * 20 - 1, false FROM generate_series(1, 5) t;
    INSERT INTO crm.lead (channel, source_label, payload, outcome, status, score)
    SELECT 'website', '官网表单', '{}', 'new', 'scored', g % 100 FROM generate_series(1, 10000) g;
    UPDATE crm.assignment_rule SET active = true;
$$;
