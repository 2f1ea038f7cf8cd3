-- A rep's screen and a lookup (issue 15): crm.lead_sla reads only the
-- timers of the leads a query selects, crm.work_list pages by keyset,
-- crm.find_customer finds a customer by any usual spelling.  The tables
-- hold enough rows (3,000 leads, 9,000 timers, 2,000 contacts and accounts) and are
-- analysed, so that the plans checked here are those of a real database.
-- In a database of its own: the ids and counts below do not depend on
-- the other tests, nor theirs on this one.
SELECT current_database() AS home \gset
CREATE DATABASE crm_rep_screen;
\c crm_rep_screen
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
\pset null '∅'
INSERT INTO crm.calendar (code, name) VALUES ('screen_always', 'always open');
INSERT INTO crm.calendar_hours (calendar, isodow, opens, closes)
SELECT 'screen_always', d, '00:00', '24:00' FROM generate_series(1, 7) d;
INSERT INTO crm.team (code, name, manager, director, calendar)
VALUES ('screen', 'screen team', 'mgr', 'dir', 'screen_always');
INSERT INTO crm.rep (login, name, team)
SELECT 'rep' || lpad(r::text, 2, '0'), 'rep ' || r, 'screen' FROM generate_series(1, 30) r;
INSERT INTO crm.account (name) SELECT '屏幕' || g || '号医疗器械有限公司' FROM generate_series(1, 2000) g;
INSERT INTO crm.contact (account_id, name) SELECT g, '客户' || g FROM generate_series(1, 2000) g;
INSERT INTO crm.contact_point (contact_id, kind, value, is_primary)
SELECT g, 'phone', '+86139' || lpad(g::text, 8, '0'), true FROM generate_series(1, 2000) g;
-- 100 assigned leads per rep, in one statement: every lead's timers start
-- at the same moment, so leads tie on their deadlines
INSERT INTO crm.lead (channel, source_label, payload, outcome, status, score, owner, team,
                      contact_id, account_id, person_name)
SELECT 'website', '官网表单', '{}', 'new', 'assigned', g % 100, 'rep' || lpad((g % 30 + 1)::text, 2, '0'),
       'screen', CASE WHEN g % 10 <> 0 THEN g % 2000 + 1 END, CASE WHEN g % 10 <> 0 THEN g % 2000 + 1 END,
       '线索' || g
  FROM generate_series(1, 3000) g;
SELECT count(*) AS timers FROM crm.sla_timer;

-- Make rep07's list varied.  Some leads have their first contact met (the
-- next deadline is the needs summary), some everything met (no open
-- deadline), and some first contacts are overdue: by ten minutes (the
-- sweep breaches them, the owner is told), an hour (the manager too) or
-- three hours (the director too).
WITH rep07 AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM crm.lead WHERE owner = 'rep07')
UPDATE crm.sla_timer t SET met_at = now()
  FROM rep07 r
 WHERE t.lead_id = r.id AND (r.n % 4 = 1 AND t.milestone = 'first_contact' OR r.n % 4 = 2);
WITH overdue AS (
    UPDATE crm.sla_timer t
       SET due_at = now() - CASE WHEN r.n <= 12 THEN interval '10 minutes' WHEN r.n <= 24 THEN '1 hour' ELSE '3 hours' END
      FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM crm.lead WHERE owner = 'rep07') r
     WHERE t.lead_id = r.id AND r.n % 4 = 3 AND r.n <= 40 AND t.milestone = 'first_contact'
    RETURNING t.id, t.due_at)
UPDATE crm.sla_wakeup w SET fire_at = o.due_at FROM overdue o WHERE w.timer_id = o.id;
SELECT (crm.run_timeouts()).timers_fired AS breached, (crm.run_timeouts()).timers_fired AS to_manager;
SELECT (crm.run_timeouts()).timers_fired AS to_director;
VACUUM ANALYZE crm.lead, crm.sla_timer, crm.contact, crm.contact_point, crm.account;

-- True when the plan of the query reads sla_timer through its lead index
-- and reads no table whole.  With sequential scans discouraged: at 3,000
-- leads a hash join over the whole of crm.lead costs about what probing
-- its primary key does, and which one the planner took changed from run
-- to run; what is checked is that every table has an index path (a table
-- without one is still read whole, and shows here).
CREATE FUNCTION pg_temp.plan_uses_indexes(query text) RETURNS TABLE (timers_by_lead boolean, seq_scans text)
    LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    plan text := '';
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        plan := plan || line || E'\n';
    END LOOP;
    RETURN QUERY SELECT plan LIKE '%Index Scan using sla_timer_lead_idx on sla_timer%',
                        coalesce(string_agg(m[1], ', '), 'none')
                   FROM regexp_matches(plan, 'Seq Scan on (\w+)', 'g') m;
END
$$;

------------------------------------------------------------------------
-- crm.lead_sla: per lead, through the indexes
------------------------------------------------------------------------
-- a rep's page of five, and a lookup of some leads
SELECT * FROM pg_temp.plan_uses_indexes($$
    SELECT l.id, s.red, s.next_due_at FROM crm.lead l JOIN crm.lead_sla s ON s.lead_id = l.id
     WHERE l.owner = 'rep07' AND l.status IN ('assigned', 'contacted')
     ORDER BY s.next_due_at, l.id LIMIT 5$$);
SELECT * FROM pg_temp.plan_uses_indexes($$
    SELECT * FROM crm.lead_sla WHERE lead_id = ANY ('{7,77,777}')$$);

-- the same rows as the grouping over every timer gave, one per lead with timers
CREATE TEMP VIEW grouped_sla AS
SELECT t.lead_id,
       bool_or(t.breached_at IS NOT NULL) AS red,
       count(*) FILTER (WHERE t.breached_at IS NOT NULL) AS breaches,
       min(t.due_at) FILTER (WHERE t.met_at IS NULL AND t.cancelled_at IS NULL) AS next_due_at,
       max(t.escalation) AS escalation
  FROM crm.sla_timer t
 GROUP BY t.lead_id;
INSERT INTO crm.lead (channel, source_label, payload, outcome) VALUES ('website', '官网表单', '{}', 'new');
SELECT (SELECT count(*) FROM crm.lead_sla) AS sla_rows,
       (SELECT count(*) FROM (SELECT lead_id, red, breaches, next_due_at, escalation FROM crm.lead_sla
                              EXCEPT SELECT * FROM grouped_sla) d) AS not_grouped,
       (SELECT count(*) FROM (SELECT * FROM grouped_sla EXCEPT
                              SELECT lead_id, red, breaches, next_due_at, escalation FROM crm.lead_sla) d) AS missing;

-- level is written as the outbox writes it: each escalated lead's highest
-- level in the sla_breach and sla_escalation messages is its level here
SELECT s.escalation, s.level, count(*) AS leads,
       count(*) FILTER (WHERE s.level = m.level) AS as_in_outbox
  FROM crm.lead_sla s
  LEFT JOIN (SELECT DISTINCT ON ((x->>'lead_id')::bigint) (x->>'lead_id')::bigint AS lead_id, o.payload->>'level' AS level
               FROM crm.outbox o CROSS JOIN jsonb_array_elements(o.payload->'leads') x
              WHERE o.topic IN ('sla_breach', 'sla_escalation')
              ORDER BY (x->>'lead_id')::bigint, o.id DESC) m ON m.lead_id = s.lead_id
 GROUP BY 1, 2 ORDER BY 1;
SELECT s.next_milestone, count(*) FROM crm.lead_sla s JOIN crm.lead l ON l.id = s.lead_id
 WHERE l.owner = 'rep07' GROUP BY 1 ORDER BY 1;

------------------------------------------------------------------------
-- crm.work_list: keyset pages
------------------------------------------------------------------------
SELECT * FROM pg_temp.plan_uses_indexes($$
    SELECT * FROM crm.work_list WHERE owner = 'rep07' ORDER BY due_key, lead_id LIMIT 7$$);
SELECT * FROM pg_temp.plan_uses_indexes($$
    SELECT * FROM crm.work_list WHERE owner = 'rep07'
       AND (due_key, lead_id) > ('2026-11-20 10:00+08', 12345) ORDER BY due_key, lead_id LIMIT 7$$);

-- page through rep07's list, seven at a time, with the documented clause
CREATE TEMP TABLE paged (page integer, pos integer, lead_id bigint, due_key timestamptz);
DO $$
DECLARE
    page_no integer := 0;
    last_due timestamptz;
    last_id bigint;
BEGIN
    LOOP
        page_no := page_no + 1;
        INSERT INTO paged
        SELECT page_no, row_number() OVER (), w.lead_id, w.due_key
          FROM (SELECT * FROM crm.work_list
                 WHERE owner = 'rep07'
                   AND (last_id IS NULL OR (due_key, lead_id) > (last_due, last_id))
                 ORDER BY due_key, lead_id LIMIT 7) w;
        EXIT WHEN NOT FOUND;
        SELECT p.due_key, p.lead_id INTO last_due, last_id FROM paged p
         WHERE p.page = page_no ORDER BY p.pos DESC LIMIT 1;
    END LOOP;
END
$$;
-- every open lead of rep07 exactly once, in the order of one query over
-- the whole list; leads tie on their deadlines, and those with no open
-- deadline come last
WITH whole AS (SELECT lead_id, row_number() OVER (ORDER BY due_key, lead_id) AS n
                 FROM crm.work_list WHERE owner = 'rep07'),
     walked AS (SELECT lead_id, row_number() OVER (ORDER BY page, pos) AS n FROM paged)
SELECT (SELECT count(*) FROM paged) AS paged, (SELECT count(DISTINCT lead_id) FROM paged) AS distinct_leads,
       (SELECT count(*) FROM crm.lead WHERE owner = 'rep07' AND status IN ('assigned', 'contacted')) AS open_leads,
       (SELECT max(page) FROM paged) AS pages,
       (SELECT count(*) FROM whole FULL JOIN walked USING (n) WHERE whole.lead_id IS DISTINCT FROM walked.lead_id) AS out_of_order,
       (SELECT count(*) FROM (SELECT due_key FROM paged GROUP BY 1 HAVING count(*) > 7) t) AS keys_tied_across_pages;
SELECT state, next_milestone, red, escalation, level, due_key = 'infinity' AS no_deadline,
       count(*) AS leads, count(customer_name) AS named, count(phone) AS with_phone
  FROM crm.work_list WHERE owner = 'rep07'
 GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4;
-- a lead without a contact shows the name it gave
SELECT customer_name, company_name, phone FROM crm.work_list WHERE lead_id = 10;
SELECT lead_id, customer_name, company_name, phone FROM crm.work_list WHERE lead_id = 11;
-- leads leave the list when they close
UPDATE crm.lead SET status = 'contacted' WHERE id = 7;
UPDATE crm.lead SET status = 'disqualified' WHERE id = 7;
SELECT count(*) AS closed_listed FROM crm.work_list WHERE lead_id = 7;

------------------------------------------------------------------------
-- crm.find_customer
------------------------------------------------------------------------
INSERT INTO crm.account (name, uscc, owner) VALUES ('杭州海康威视数字技术股份有限公司', '91110000600037341L', 'rep01');
INSERT INTO crm.contact (account_id, name, owner)
SELECT id, '張偉（經理）', 'rep01' FROM crm.account WHERE uscc = '91110000600037341L';
INSERT INTO crm.contact (account_id, name) VALUES (NULL, '张伟');
SELECT max(id) - 1 AS zhang1, max(id) AS zhang2 FROM crm.contact \gset
SELECT code AS code1 FROM crm.contact WHERE id = :zhang1 \gset
SELECT code AS code2 FROM crm.contact WHERE id = :zhang2 \gset
INSERT INTO crm.contact_point (contact_id, kind, value, is_primary) VALUES
    (:zhang1, 'phone', '138 0013 8000', true), (:zhang2, 'email', 'ZS@Example.com', true);
ANALYZE crm.contact, crm.contact_point, crm.account;
SELECT pg_stat_force_next_flush();
SELECT pg_sleep(0.1);
SELECT pg_stat_clear_snapshot();
CREATE TEMP TABLE scans_before AS
SELECT relname, seq_scan, idx_scan FROM pg_stat_user_tables
 WHERE relid IN ('crm.contact'::regclass, 'crm.contact_point'::regclass, 'crm.account'::regclass);

-- a phone in its usual spellings
SELECT kind, id = :zhang1 AS is_zhang1, name, account_name, owner, matched_by FROM crm.find_customer('138 0013 8000');
SELECT kind, id = :zhang1 AS is_zhang1, matched_by FROM crm.find_customer('+86-138-0013-8000');
SELECT kind, id = :zhang1 AS is_zhang1, matched_by FROM crm.find_customer('０086 13800138000');
-- an e-mail in any case
SELECT kind, id = :zhang2 AS is_zhang2, name, account_id, matched_by FROM crm.find_customer('zs@EXAMPLE.COM');
SELECT kind, id = :zhang2 AS is_zhang2, matched_by FROM crm.find_customer(' Zs@example.com ');
-- a credit code, lower-case and full-width
SELECT kind, name, owner, matched_by FROM crm.find_customer('91110000600037341l');
SELECT kind, name, matched_by FROM crm.find_customer('９１１１００００６０００３７３４１Ｌ');
-- a code, any case; a name (both spellings of 张伟), a company name
SELECT kind, id = :zhang1 AS is_zhang1, matched_by FROM crm.find_customer(lower(:'code1'));
SELECT kind, name, matched_by FROM crm.find_customer('張偉') ORDER BY id;
SELECT kind, name, matched_by FROM crm.find_customer('海康威视数字技术（杭州）有限公司');
-- none of these: no rows, no error; NULL too
SELECT count(*) AS none FROM crm.find_customer('');
SELECT count(*) AS none FROM crm.find_customer('   ');
SELECT count(*) AS none FROM crm.find_customer('no such customer 12345');
SELECT count(*) AS none FROM crm.find_customer('Y97JG0FX');
SELECT count(*) AS none FROM crm.find_customer(NULL);
SELECT count(*) AS none FROM crm.find_customer(repeat('x', 1000000));

-- indexed: none of these lookups read contact, contact_point or account whole
SELECT pg_stat_force_next_flush();
SELECT pg_sleep(0.1);
SELECT pg_stat_clear_snapshot();
SELECT s.relname, s.seq_scan - b.seq_scan AS seq_scans, s.idx_scan > b.idx_scan AS by_index
  FROM pg_stat_user_tables s JOIN scans_before b USING (relname)
 WHERE s.relid IN ('crm.contact'::regclass, 'crm.contact_point'::regclass, 'crm.account'::regclass)
 ORDER BY 1;

-- after a merge the dropped contact's code finds the survivor, and so do
-- its e-mail and phone; the merged record itself is never returned
SELECT crm.merge_contacts(:zhang1, :zhang2) IS NOT NULL AS merged;
SELECT kind, id = :zhang1 AS is_survivor, code = :'code1' AS survivor_code, matched_by
  FROM crm.find_customer(:'code2');
SELECT kind, id = :zhang1 AS is_survivor, matched_by FROM crm.find_customer('zs@example.com');

\c :home
DROP DATABASE crm_rep_screen;
