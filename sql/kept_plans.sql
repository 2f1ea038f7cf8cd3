-- Kept plans: every statement crm keeps planned for a session probes its
-- tables by key, however full they were when it was planned.  Built first
-- here on the empty tables of a fresh crm, where a plan made on the real
-- (tiny) sizes could read a whole table or index at every call, and kept
-- so as the tables grow.  In a database of its own, so that its tables
-- are empty and its rows do not shift the other tests' ids.
\set regression_database :DBNAME
CREATE DATABASE crm_kept_plans;
\c crm_kept_plans
SET client_min_messages = warning;
CREATE EXTENSION crm;
RESET client_min_messages;

-- The only scans allowed to read a whole table (or index), and why.
CREATE TEMP TABLE whole_read_allowed (plan text, relation regclass, reason text);
INSERT INTO whole_read_allowed VALUES
  ('active_rules', 'crm.assignment_rule',
   'assignment reads every active rule in order, once per statement; a company has a few dozen'),
  ('lock_teams', 'crm.team',
   'the teams of a statement''s leads and reps, locked in code order; a company has a few dozen'),
  ('lead_transition_rows', 'crm.lead_transition',
   'the lead transitions are loaded whole into memory, once per session and after a change'),
  ('model_rows', 'crm.score_rule',
   'the scoring model is loaded whole into memory, once per session and after a change'),
  ('model_rows', 'crm.win_stats',
   'the scoring model is loaded whole into memory, once per session and after a change'),
  ('stage_rows', 'crm.pipeline_stage',
   'the stage rules are loaded whole into memory, once per session and after a change'),
  ('stage_transition_rows', 'crm.stage_transition',
   'the stage rules are loaded whole into memory, once per session and after a change'),
  ('effective_weights', 'crm.match_weight',
   'the match weights are loaded whole into memory, once per session and after a change');

CREATE TEMP TABLE on_empty AS SELECT plan, relation, access, index_condition FROM crm.kept_plans();

-- Scans without an index condition that the list above does not allow:
-- none.
SELECT p.plan, p.relation, p.access
  FROM on_empty p
 WHERE p.relation IS NOT NULL AND p.index_condition IS NULL
   AND NOT EXISTS (SELECT FROM whole_read_allowed w
                    WHERE w.plan = p.plan AND w.relation = p.relation)
 ORDER BY 1, 2, 3;

-- Each allowed exception is still needed (an unused one would hide a
-- future regression of the same scan).
SELECT w.plan, w.relation
  FROM whole_read_allowed w
 WHERE NOT EXISTS (SELECT FROM on_empty p
                    WHERE p.plan = w.plan AND p.relation = w.relation AND p.index_condition IS NULL);

-- Every kept plan and what it reads, for review when a plan changes.
SELECT plan, relation, access, index_condition
  FROM on_empty ORDER BY plan, relation::text COLLATE "C", access COLLATE "C", index_condition;

-- Tables that hold data, analysed: the plans kept in this session are
-- invalidated, and planned again under the same assumptions, so nothing
-- changes.
INSERT INTO crm.lead_inbox (channel, payload)
SELECT 'website', jsonb_build_object(
         'id', 'kp-' || n,
         'name', (ARRAY['王伟', '李娜', '张敏', '刘洋'])[1 + n % 4] || n % 50,
         'company', '杭州' || (ARRAY['康泰', '瑞达', '华信'])[1 + n % 3] || n / 3 || '医疗器械有限公司',
         'phone', '139' || lpad((n * 7919 % 100000000)::text, 8, '0'),
         'email', 'u' || n || '@corp.cn',
         'submitted_at', '2026-11-20T09:00:00+08:00')
  FROM generate_series(1, 3000) n;
SELECT ingested, quarantined FROM crm.lead_inbox_counts();
ANALYZE crm.account, crm.contact, crm.contact_point, crm.lead;
SELECT plan, relation, access, index_condition FROM crm.kept_plans() EXCEPT ALL SELECT * FROM on_empty;
SELECT * FROM on_empty EXCEPT ALL SELECT plan, relation, access, index_condition FROM crm.kept_plans();

-- DDL invalidates them too: planned again, the same.
ALTER TABLE crm.account SET (fillfactor = 90);
ALTER TABLE crm.contact SET (fillfactor = 90);
SELECT plan, relation, access, index_condition FROM crm.kept_plans() EXCEPT ALL SELECT * FROM on_empty;
ALTER TABLE crm.account RESET (fillfactor);
ALTER TABLE crm.contact RESET (fillfactor);

-- A new session plans them on the full tables: the same again.
CREATE TABLE on_empty_kept AS SELECT * FROM on_empty;
\c crm_kept_plans
SELECT plan, relation, access, index_condition FROM crm.kept_plans() EXCEPT ALL SELECT * FROM on_empty_kept;
SELECT * FROM on_empty_kept EXCEPT ALL SELECT plan, relation, access, index_condition FROM crm.kept_plans();
\c :regression_database
DROP DATABASE crm_kept_plans;
