-- bench/opportunity_setup.sql: data and helpers for bench/opportunity_run
-- (issue 18).  Functions only; the run script calls them.
SET client_min_messages = warning;

-- 20 teams of 10 reps, 1,000 accounts
CREATE FUNCTION bench_org() RETURNS void LANGUAGE sql BEGIN ATOMIC
    INSERT INTO crm.team (code, name, manager, director)
    SELECT 't' || lpad(t::text, 2, '0'), 'team ' || t, 'mgr' || t, 'dir' FROM generate_series(1, 20) t;
    INSERT INTO crm.rep (login, name, team)
    SELECT 'r' || r, 'rep ' || r, 't' || lpad((1 + r % 20)::text, 2, '0') FROM generate_series(0, 199) r;
    INSERT INTO crm.account (name) SELECT '杭州测试' || a || '号医疗器械有限公司' FROM generate_series(1, 1000) a;
END;

-- n opportunities of medical_devices in 需求确认, through the trigger, each
-- with the three attachments 方案确认 needs (stored, checked as added, by
-- the director of every team).  Their stage entered a day ago: only crm
-- sets stage_entered_at, so with the triggers off.
CREATE FUNCTION bench_movable(n integer) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('crm.actor', 'dir', true);
    INSERT INTO crm.opportunity (account_id, pipeline, title, owner)
    SELECT (SELECT min(id) FROM crm.account) + i % 1000, 'medical_devices', 'deal ' || i, 'r' || (i % 200)
      FROM generate_series(1, n) i;
    SET LOCAL session_replication_role = replica;
    UPDATE crm.opportunity SET stage_entered_at = stage_entered_at - interval '1 day';
    SET LOCAL session_replication_role = origin;
    INSERT INTO crm.attachment (opportunity_id, kind, file_name, content)
    SELECT o.id, k.kind, k.kind || '.bin', k.head || convert_to(o.id::text, 'UTF8')
      FROM crm.opportunity o,
           (VALUES ('config_sheet', convert_to('%PDF-1.7 config ', 'UTF8')),
                   ('signature_scan', '\xffd8ffe000104a464946'::bytea),
                   ('cost_approval', '\x89504e470d0a1a0a'::bytea)) k(kind, head);
    RETURN (SELECT count(*) FROM crm.opportunity);
END
$$;

-- n opportunities from first moved 需求确认 -> 方案确认 one at a time, a
-- transaction each (the single moves of bench/opportunity_run)
CREATE PROCEDURE bench_single_moves(first bigint, n integer) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 0 .. n - 1 LOOP
        UPDATE crm.opportunity SET stage = '方案确认' WHERE id = first + i;
        COMMIT;
    END LOOP;
END
$$;

-- The board's world: n opportunities (2 % of those open blocked by a fired
-- countdown, 1 % by a dwell limit, 0.5 % by a refused change; 10 % of
-- timers met or cancelled besides), h history rows.  Loaded with triggers
-- off (session_replication_role = replica): the data of a busy year, not
-- the cost of writing it.  Then the way the deals get blocked, with
-- triggers on: the sweep fires the due timers, the refused changes are
-- recorded.
CREATE FUNCTION bench_board_world(n integer, h bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    first_account bigint := (SELECT min(id) FROM crm.account);
BEGIN
    SET LOCAL session_replication_role = replica;
    INSERT INTO crm.opportunity (account_id, customer_code, pipeline, stage, title, owner, team, status,
                                 lost_reason, stage_entered_at, created_at, closed_at)
    SELECT a.id, a.code, s.pipeline, s.stage, 'deal ' || i, 'r' || (i % 200), 't' || lpad((1 + (i % 200) % 20)::text, 2, '0'),
           CASE s.kind WHEN 'won' THEN 'won' WHEN 'lost' THEN 'lost' ELSE 'open' END,
           CASE s.kind WHEN 'lost' THEN 'price' END,
           now() - (i % 1000) * interval '1 hour', now() - interval '400 days',
           CASE WHEN s.kind <> 'open' THEN now() - (i % 1000) * interval '1 hour' END
      FROM generate_series(1, n) i
      JOIN crm.account a ON a.id = first_account + i % 1000
      CROSS JOIN LATERAL (SELECT ps.pipeline, ps.stage, ps.kind FROM crm.pipeline_stage ps
                           WHERE ps.pipeline = (ARRAY['medical_devices', 'education', 'saas', 'cross_border_logistics'])[1 + i % 4]
                           ORDER BY ps.position OFFSET (i / 4) % (5 + i % 4) LIMIT 1) s;
    INSERT INTO crm.stage_history (opportunity_id, pipeline, from_stage, to_stage, direction, verified, unverified_reason,
                                   owner, team, changed_by, changed_at, client_addr, application_name)
    SELECT o.id, o.pipeline, '需求确认', o.stage, CASE WHEN j % 5 = 0 THEN 'back' ELSE 'forward' END,
           j % 7 <> 0, CASE WHEN j % 7 = 0 THEN 'missing: bench' END,
           o.owner, o.team, o.owner, now() - (j % 9000) * interval '1 hour', '10.0.0.1', 'bench'
      FROM generate_series(1, h) j JOIN crm.opportunity o ON o.id = (SELECT min(id) FROM crm.opportunity) + j % n;
    INSERT INTO crm.opportunity_timer (opportunity_id, rule, dwell, stage, waits_for, team, started_at, due_at,
                                       met_at, fired_at, cancelled_at)
    SELECT o.id, CASE WHEN k = 1 THEN 'quote_feedback' ELSE 'medical_solution_demo' END, k = 2, o.stage,
           CASE WHEN k = 1 THEN 'customer_feedback' ELSE 'demo_notes' END, o.team,
           now() - interval '10 days', now() - (o.id % 500) * interval '1 hour',
           CASE WHEN k = 3 THEN now() END, CASE WHEN k > 2 THEN now() - (o.id % 500) * interval '1 hour' + interval '1 minute' END,
           CASE WHEN k = 4 THEN now() END
      FROM crm.opportunity o
      CROSS JOIN LATERAL (SELECT CASE WHEN o.id % 100 < 2 THEN 1 WHEN o.id % 100 = 2 THEN 2
                                      WHEN o.id % 100 BETWEEN 3 AND 7 THEN 3
                                      WHEN o.id % 100 BETWEEN 8 AND 12 THEN 4 END) x(k)
     WHERE o.status = 'open' AND x.k IS NOT NULL;
    SET LOCAL session_replication_role = origin;
    PERFORM crm.fire_opportunity_timers(n);
    INSERT INTO crm.stage_request (opportunity_id, to_stage, missing, requested_by, requested_at)
    SELECT o.id, '合同签署', 'missing: contract', o.owner, o.stage_entered_at + interval '1 hour'
      FROM crm.opportunity o WHERE o.status = 'open' AND o.id % 200 = 13;
END
$$;

-- n stored attachments of size bytes each, as one statement.  checked:
-- through crm's checks; otherwise the trigger is off (the caller disables
-- it) and what it would fill is given, so the difference is the checks.
CREATE FUNCTION bench_attach(opportunity bigint, n integer, size integer, checked boolean) RETURNS bigint LANGUAGE sql BEGIN ATOMIC
    SELECT set_config('crm.actor', (SELECT o.owner FROM crm.opportunity o WHERE o.id = opportunity), true);
    INSERT INTO crm.attachment (opportunity_id, kind, file_name, content, content_type, size, sha256)
    SELECT opportunity, 'signature_scan', 'scan' || i || '.pdf', c.content,
           CASE WHEN NOT checked THEN 'application/pdf' END, CASE WHEN NOT checked THEN length(c.content) END,
           CASE WHEN NOT checked THEN '\x00'::bytea END
      FROM generate_series(1, n) i,
           (SELECT decode(string_agg(md5(g::text), ''), 'hex') AS body FROM generate_series(1, size / 16) g) b,
           LATERAL (SELECT convert_to('%PDF-1.7 ' || i || ' ', 'UTF8') || b.body AS content) c;
    SELECT count(*) FROM crm.attachment WHERE opportunity_id = opportunity;
END;
