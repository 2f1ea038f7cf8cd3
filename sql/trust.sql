-- What a restore, a role and a forged row cannot do: restores derive
-- nothing twice, only crm's install script marks rows shipped, and the
-- customer-code registry is written by crm only, without cycles.  (The
-- restore itself, end to end: scripts/dump-restore-test.sh.)
--
-- One transaction, rolled back at the end; each refused statement rolls
-- back to its own savepoint.  The sequences it draws from stay advanced,
-- so this suite runs last.
SET timezone = 'Asia/Shanghai';
\pset null '∅'
\set ON_ERROR_ROLLBACK on
\set SHOW_CONTEXT never
BEGIN;

------------------------------------------------------------------------
-- Shipped rows: pg_dump leaves them out, so only crm's script marks one
------------------------------------------------------------------------
INSERT INTO crm.channel (code, source_label, field_map, shipped)
VALUES ('forged', '伪造', '{"person_name": "name"}', true);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO crm.channel (code, source_label, field_map) VALUES ('mine', '我的', '{"person_name": "name"}');
UPDATE crm.channel SET shipped = true WHERE code = 'mine';
\echo :LAST_ERROR_SQLSTATE
SELECT code, shipped FROM crm.channel WHERE code IN ('forged', 'mine');
\set VERBOSITY terse
INSERT INTO crm.calendar (code, name, shipped) VALUES ('forged', '伪造', true);
INSERT INTO crm.calendar_hours (calendar, isodow, opens, closes, shipped) VALUES ('cn_standard', 6, '09:00', '12:00', true);
INSERT INTO crm.sla_policy (code, name, shipped) VALUES ('forged', '伪造', true);
INSERT INTO crm.sla_policy (code, name) VALUES ('mine', '我的');
INSERT INTO crm.sla_step (policy, milestone, within, shipped) VALUES ('mine', 'first_contact', '1 hour', true);
INSERT INTO crm.score_rule (factor, pattern, points, shipped) VALUES ('title', '伪造', 1, true);
\set VERBOSITY default
-- every table with a shipped column has the guard
SELECT c.relname,
       EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid
                  AND t.tgfoid = 'crm.guard_shipped_mark'::regproc) AS guarded
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'r' AND a.attname = 'shipped'
 ORDER BY 1;

------------------------------------------------------------------------
-- The customer-code registry: written by crm only, even for a superuser
------------------------------------------------------------------------
SELECT current_setting('is_superuser') AS superuser, crm.restoring() AS restoring;
-- a code for a serial the sequence has not reached yet would make the
-- insert that draws it fail
INSERT INTO crm.customer_code (code, kind)
VALUES (crm.customer_code_from_serial((SELECT last_value + 1 FROM crm.customer_code_seq)), 'contact');
\echo :LAST_ERROR_SQLSTATE
COPY crm.customer_code (code, kind) FROM stdin;
2222222X	contact
\.
\echo :LAST_ERROR_SQLSTATE
INSERT INTO crm.contact (name) VALUES ('甲'), ('乙');
UPDATE crm.customer_code SET merged_at = now();
\echo :LAST_ERROR_SQLSTATE
DELETE FROM crm.customer_code WHERE code IN (SELECT code FROM crm.contact WHERE name = '甲');
\echo :LAST_ERROR_SQLSTATE
-- crm's own paths write it: codes issued one by one (above) and in bulk
INSERT INTO crm.lead_inbox VALUES ('website', '{"name": "丙", "phone": "13911112222", "submitted_at": "2026-11-20"}');
SELECT count(*) AS registered FROM crm.customer_code c
  JOIN crm.contact k ON k.code = c.code AND c.kind = 'contact' WHERE k.name IN ('甲', '乙', '丙');

-- merges: resolve_code follows a chain longer than any depth limit
INSERT INTO crm.contact (name) SELECT '链' || n FROM generate_series(1, 80) n;
DO $$
DECLARE
    ids bigint[] := ARRAY(SELECT id FROM crm.contact WHERE name LIKE '链%' ORDER BY id);
BEGIN
    FOR i IN 1 .. cardinality(ids) - 1 LOOP
        PERFORM crm.merge_contacts(ids[i + 1], ids[i]);
    END LOOP;
END
$$;
SELECT crm.resolve_code(first.code) = last.code AS first_resolves_to_last,
       crm.resolve_code(last.code) = last.code AS last_is_itself
  FROM (SELECT code FROM crm.contact WHERE name LIKE '链%' ORDER BY id LIMIT 1) first,
       (SELECT code FROM crm.contact WHERE name LIKE '链%' ORDER BY id DESC LIMIT 1) last;
-- a cycle cannot be made: not by hand, nor by forging the records' merges
-- and asking crm to record them
SELECT crm.merge_contacts((SELECT id FROM crm.contact WHERE name = '甲'),
                          (SELECT id FROM crm.contact WHERE name = '乙')) IS NOT NULL AS merged;
UPDATE crm.customer_code SET merged_into = (SELECT code FROM crm.contact WHERE name = '乙')
 WHERE code = (SELECT code FROM crm.contact WHERE name = '甲');
\echo :LAST_ERROR_SQLSTATE
UPDATE crm.contact SET merged_into = (SELECT id FROM crm.contact WHERE name = '乙') WHERE name = '甲';
DO $$
DECLARE
    a text := (SELECT code FROM crm.contact WHERE name = '甲');
    b text := (SELECT code FROM crm.contact WHERE name = '乙');
    detail text;
BEGIN
    PERFORM crm.record_code_merge('contact', id) FROM crm.contact WHERE name = '甲';
EXCEPTION WHEN OTHERS THEN
    -- the codes depend on how many earlier suites issued: named instead
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RAISE NOTICE 'refused (%): %', SQLSTATE,
                 replace(replace(SQLERRM || E'\n' || detail, a, '<甲>'), b, '<乙>');
END
$$;
UPDATE crm.contact SET merged_into = NULL WHERE name = '甲';
SELECT crm.resolve_code(code) = (SELECT code FROM crm.contact WHERE name = '甲') AS still_resolves
  FROM crm.contact WHERE name = '乙';
SELECT crm.record_code_merge('person', 1);
SELECT crm.record_code_merge('contact', -1);

------------------------------------------------------------------------
-- A restore derives nothing: the derived rows come from the dump
------------------------------------------------------------------------
INSERT INTO crm.team (code, name) VALUES ('trust', '信任');
INSERT INTO crm.rep (login, name, team) VALUES ('tina', '缇娜', 'trust');
CREATE FUNCTION pg_temp.derived(OUT open_leads integer, OUT day_loads bigint, OUT timers bigint,
                                OUT wakeups bigint, OUT contacted bigint, OUT scored bigint)
    LANGUAGE sql
RETURN (SELECT ROW(r.open_leads,
                   (SELECT count(*) FROM crm.rep_day_load d WHERE d.rep = r.login),
                   (SELECT count(*) FROM crm.sla_timer t WHERE t.owner = r.login),
                   (SELECT count(*) FROM crm.sla_wakeup w JOIN crm.sla_timer t ON t.id = w.timer_id
                     WHERE t.owner = r.login),
                   (SELECT count(*) FROM crm.lead l WHERE l.team = 'trust' AND l.status = 'contacted'),
                   (SELECT count(*) FROM crm.lead l WHERE l.team = 'trust' AND l.scored_at IS NOT NULL))
          FROM crm.rep r WHERE r.login = 'tina');
CREATE FUNCTION pg_temp.restore_rows(lead_code text) RETURNS void LANGUAGE sql
BEGIN ATOMIC
    INSERT INTO crm.lead (channel, source_label, external_id, payload, outcome, status, owner, team, assigned_at)
    VALUES ('website', '官网表单', lead_code, '{}', 'new', 'assigned', 'tina', 'trust', now());
    INSERT INTO crm.lead_activity (lead_id, kind, actor)
    SELECT id, 'first_contact', 'tina' FROM crm.lead WHERE external_id = lead_code;
    INSERT INTO crm.lead_event (lead_id, kind)
    SELECT id, 'demo_booked' FROM crm.lead WHERE external_id = lead_code;
END;
-- ordinary writes derive: a count, a load, three timers, a first contact, a score
SELECT FROM pg_temp.restore_rows('ordinary');
SELECT * FROM pg_temp.derived();
-- as pg_dump's output sets it
SET check_function_bodies = off;
SELECT crm.restoring() AS restoring;
SELECT FROM pg_temp.restore_rows('restored');
SELECT * FROM pg_temp.derived();
-- a restore may register codes, and a contact may point at a code listed later
SELECT crm.customer_code_from_serial(50000000001) AS dropped_code,
       crm.customer_code_from_serial(50000000002) AS kept_code \gset
INSERT INTO crm.customer_code (code, kind, merged_into, merged_at)
VALUES (:'dropped_code', 'contact', :'kept_code', now()), (:'kept_code', 'contact', NULL, NULL);
SELECT crm.resolve_code(:'dropped_code') = :'kept_code' AS restored_merge;
DELETE FROM crm.customer_code WHERE code = :'dropped_code';
\echo :LAST_ERROR_SQLSTATE
-- a calendar is still rebuilt: its ledger is not in the dump
INSERT INTO crm.calendar (code, name) VALUES ('restored', '恢复');
INSERT INTO crm.calendar_hours (calendar, isodow, opens, closes) VALUES ('restored', 1, '09:00', '17:00');
SELECT count(*) > 0 AS ledger_built FROM crm.calendar_window WHERE calendar = 'restored';
RESET check_function_bodies;

-- an application role that turns the setting off still derives, and may
-- not write the registry
CREATE ROLE crm_trust_app;
GRANT USAGE ON SCHEMA crm TO crm_trust_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA crm TO crm_trust_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA crm TO crm_trust_app;
GRANT EXECUTE ON FUNCTION crm.work_list_update(bigint[]) TO crm_trust_app;
SET ROLE crm_trust_app;
SET check_function_bodies = off;
SELECT crm.restoring() AS restoring;
SELECT FROM pg_temp.restore_rows('app');
SELECT * FROM pg_temp.derived();
INSERT INTO crm.customer_code (code, kind) VALUES (crm.customer_code_from_serial(50000000003), 'contact');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO crm.channel (code, source_label, field_map, shipped)
VALUES ('forged', '伪造', '{"person_name": "name"}', true);
\echo :LAST_ERROR_SQLSTATE
RESET check_function_bodies;
RESET ROLE;

ROLLBACK;
