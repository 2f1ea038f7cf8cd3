-- Opportunity guards: what an application role with README's grants cannot
-- forge or break.  The history is crm's alone; the times evidence and
-- countdowns count from are crm's; one bad timer does not stop the sweep;
-- a pipeline in use keeps its opportunities movable; team, customer code,
-- amount and dates hold together; activities and attachments are recorded
-- by who acts, as they happened; stage requests ask for real stages.
-- In a database of its own: its rows do not shift the other tests' ids.
\set regression_database :DBNAME
CREATE DATABASE crm_opportunity_guards;
\c crm_opportunity_guards
SET client_min_messages = warning;
CREATE EXTENSION crm;
RESET client_min_messages;
\set calendar guard_always
\i sql/include/sales_org.psql
INSERT INTO crm.team (code, name, manager, director, calendar) VALUES ('west', '华西销售', 'mgr_west', 'dir_sales', :'calendar');
INSERT INTO crm.rep (login, name, team) VALUES ('zoe', '赵', 'west');
INSERT INTO crm.account (name) VALUES ('杭州瑞安医疗器械有限公司') RETURNING id AS acct, code AS acct_code \gset
INSERT INTO crm.account (name) VALUES ('宁波海纳机械有限公司') RETURNING id AS acct2, code AS acct2_code \gset
INSERT INTO crm.contact (account_id, name) VALUES (:acct, '孙多多') RETURNING code AS contact_code \gset
SELECT crm.copy_pipeline('medical_devices', 'acme_med');
UPDATE crm.pipeline_stage SET enforcement = 'warn' WHERE pipeline = 'acme_med';

-- the application role, granted as README's "Grants for application roles" says
CREATE ROLE crm_guard_app;
GRANT USAGE ON SCHEMA crm TO crm_guard_app;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA crm TO crm_guard_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA crm TO crm_guard_app;
GRANT DELETE ON crm.lead_quarantine, crm.contact_point TO crm_guard_app;
REVOKE INSERT, UPDATE ON crm.settings FROM crm_guard_app;
SET ROLE crm_guard_app;
SET crm.actor = 'ann';

-- o1 moves with its package (verified); o2, in a warn copy, without (unverified)
INSERT INTO crm.opportunity (account_id, pipeline, title, owner)
VALUES (:acct, 'medical_devices', '瑞安 CT', 'ann') RETURNING id AS o1 \gset
INSERT INTO crm.attachment (opportunity_id, kind, file_name, content) VALUES
  (:o1, 'config_sheet', '配置单.pdf', convert_to('%PDF-1.7 配置单', 'UTF8')),
  (:o1, 'signature_scan', '签字页.jpg', '\xffd8ffe000104a464946'::bytea),
  (:o1, 'cost_approval', '成本审批.png', '\x89504e470d0a1a0a'::bytea);
UPDATE crm.opportunity SET stage = '方案确认' WHERE id = :o1;
INSERT INTO crm.opportunity (account_id, pipeline, title, owner)
VALUES (:acct2, 'acme_med', '海纳 DR', 'bob') RETURNING id AS o2 \gset
UPDATE crm.opportunity SET stage = '方案确认' WHERE id = :o2;
SELECT opportunity_id = :o1 AS o1, direction, verified, changed_by, cardinality(evidence) AS evidence
  FROM crm.stage_history ORDER BY id;
SELECT team, rep, numerator AS verified, denominator AS forward
  FROM crm.stage_upgrade_rates WHERE grain = 'month' ORDER BY team, rep NULLS LAST;

------------------------------------------------------------------------
-- 1. The stage history is crm's: append-only, written by its trigger
------------------------------------------------------------------------
UPDATE crm.stage_history SET verified = true, unverified_reason = NULL WHERE opportunity_id = :o2;
\echo :LAST_ERROR_SQLSTATE
UPDATE crm.stage_history SET changed_by = 'mgr_east' WHERE opportunity_id = :o2;
\echo :LAST_ERROR_SQLSTATE
UPDATE crm.stage_history SET evidence = NULL WHERE opportunity_id = :o1;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO crm.stage_history (opportunity_id, pipeline, from_stage, to_stage, direction, verified, changed_by, changed_at)
VALUES (:o2, 'acme_med', '方案确认', '招标/比价', 'forward', true, 'bob', now());
\echo :LAST_ERROR_SQLSTATE
-- nothing changed: the metric, and the evidence o1's move relied on
SELECT team, rep, numerator AS verified, denominator AS forward
  FROM crm.stage_upgrade_rates WHERE grain = 'month' ORDER BY team, rep NULLS LAST;
SELECT count(*) AS relied_on FROM crm.stage_history WHERE opportunity_id = :o1 AND evidence IS NOT NULL;
RESET ROLE;
-- not even the owner deletes it or truncates it while opportunities remain ...
\set VERBOSITY terse
DELETE FROM crm.stage_history WHERE opportunity_id = :o1;
TRUNCATE crm.stage_history;
\set VERBOSITY default
-- ... but it goes with its opportunity
INSERT INTO crm.opportunity (account_id, pipeline, title, owner)
VALUES (:acct2, 'medical_devices', '临时', 'ann') RETURNING id AS o_gone \gset
DELETE FROM crm.opportunity WHERE id = :o_gone;
SELECT count(*) AS history_left FROM crm.stage_history WHERE opportunity_id = :o_gone;
SET ROLE crm_guard_app;

------------------------------------------------------------------------
-- 2. The times evidence and countdowns count from are crm's (428C9)
------------------------------------------------------------------------
UPDATE crm.opportunity SET stage_entered_at = now() - interval '3 years' WHERE id = :o1;
UPDATE crm.opportunity SET created_at = '2020-01-01' WHERE id = :o1;
\echo :LAST_ERROR_SQLSTATE
UPDATE crm.opportunity SET closed_at = now() WHERE id = :o1;
\echo :LAST_ERROR_SQLSTATE
UPDATE crm.opportunity SET stage_entered_at = 'infinity' WHERE id = :o1;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO crm.opportunity (account_id, pipeline, title, created_at) VALUES (:acct, 'medical_devices', 'x', '2020-01-01');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO crm.opportunity (account_id, pipeline, title, stage_entered_at) VALUES (:acct, 'medical_devices', 'x', '-infinity');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO crm.opportunity (account_id, pipeline, title, closed_at) VALUES (:acct, 'medical_devices', 'x', now());
\echo :LAST_ERROR_SQLSTATE
-- an attachment is added now: one dated back would count for a stage entered since
INSERT INTO crm.attachment (opportunity_id, kind, file_name, content, added_at)
VALUES (:o1, 'tender_doc', '招标.pdf', convert_to('%PDF-1.4 招标', 'UTF8'), '2020-01-01 00:00+08');
\echo :LAST_ERROR_SQLSTATE
-- the other columns change as before; crm's times stay
UPDATE crm.opportunity SET title = '瑞安 CT（加急）', stage_entered_at = stage_entered_at WHERE id = :o1
RETURNING title, stage_entered_at = created_at AS entered_when_created;

------------------------------------------------------------------------
-- 3. quote_sent_at: a moment, not after now; NULL withdraws the quote
------------------------------------------------------------------------
UPDATE crm.opportunity SET quote_sent_at = 'infinity' WHERE id = :o1;
UPDATE crm.opportunity SET quote_sent_at = '-infinity' WHERE id = :o1;
\echo :LAST_ERROR_SQLSTATE
UPDATE crm.opportunity SET quote_sent_at = '2999-01-01 00:00+08' WHERE id = :o1;
UPDATE crm.opportunity SET quote_sent_at = now() WHERE id = :o1;
SELECT rule, cancelled_at IS NULL AS running FROM crm.opportunity_timer WHERE opportunity_id = :o1 AND NOT dwell;
UPDATE crm.opportunity SET quote_sent_at = NULL WHERE id = :o1;
SELECT rule, cancelled_at IS NULL AS running FROM crm.opportunity_timer WHERE opportunity_id = :o1 AND NOT dwell;
-- a timer written with a start no clock counts from (the role may insert
-- into crm.opportunity_timer) is skipped and reported; the rest of the
-- sweep goes on: o2's countdown gets its deadline
INSERT INTO crm.opportunity_timer (opportunity_id, rule, stage, waits_for, team, started_at)
VALUES (:o1, 'quote_feedback', '方案确认', 'customer_feedback', 'east', 'infinity');
UPDATE crm.opportunity SET quote_sent_at = now() WHERE id = :o2;
SELECT timers_fired FROM crm.run_timeouts();
SELECT opportunity_id = :o1 AS o1, started_at = 'infinity' AS infinite, due_at IS NOT NULL AS scheduled,
       cancelled_at IS NOT NULL AS cancelled, skipped
  FROM crm.opportunity_timer WHERE rule = 'quote_feedback' ORDER BY id;
SELECT recipient, payload->>'rule' AS rule, payload->>'started_at' AS started_at, payload->>'error' AS error
  FROM crm.outbox WHERE topic = 'opportunity_countdown_skipped' ORDER BY recipient;
SELECT timers_fired FROM crm.run_timeouts();

------------------------------------------------------------------------
-- 4. A pipeline in use keeps its opportunities movable and closable
------------------------------------------------------------------------
-- o2 is open in acme_med's 方案确认 (the role has no DELETE: the admin's)
RESET ROLE;
DELETE FROM crm.pipeline_stage WHERE pipeline = 'acme_med' AND stage = '赢单';
DELETE FROM crm.pipeline_stage WHERE pipeline = 'acme_med' AND kind = 'lost';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM crm.stage_transition WHERE pipeline = 'acme_med' AND from_stage = '方案确认';
SET ROLE crm_guard_app;
UPDATE crm.pipeline_stage SET kind = 'open', position = 99 WHERE pipeline = 'acme_med' AND stage = '输单';
UPDATE crm.pipeline_stage SET position = 99 WHERE pipeline = 'acme_med' AND stage = '方案确认';
-- a stage nobody is in may move; the moves out of an occupied stage may be
-- replaced, the new one first
UPDATE crm.pipeline_stage SET position = 99 WHERE pipeline = 'acme_med' AND stage = '交付验收' RETURNING stage, position;
RESET ROLE;
DELETE FROM crm.stage_transition WHERE pipeline = 'acme_med' AND from_stage = '方案确认' AND to_stage <> '输单'
RETURNING to_stage;
-- nor be taken away by an UPDATE
DELETE FROM crm.stage_transition WHERE pipeline = 'acme_med' AND from_stage = '交付验收' AND to_stage = '输单';
SET ROLE crm_guard_app;
UPDATE crm.stage_transition SET from_stage = '交付验收' WHERE pipeline = 'acme_med' AND from_stage = '方案确认';
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS moves_out FROM crm.stage_transition WHERE pipeline = 'acme_med' AND from_stage = '方案确认';

------------------------------------------------------------------------
-- 5. team follows the owner, customer_code the account; amount and
-- expected_close are values
------------------------------------------------------------------------
UPDATE crm.opportunity SET team = 'west' WHERE id = :o1;
INSERT INTO crm.opportunity (account_id, pipeline, title, owner, team) VALUES (:acct, 'medical_devices', 'x', 'ann', 'west');
\echo :LAST_ERROR_SQLSTATE
UPDATE crm.opportunity SET owner = 'zoe' WHERE id = :o1 RETURNING owner, team;
UPDATE crm.opportunity SET owner = 'ann', team = 'east' WHERE id = :o1 RETURNING owner, team;
-- (codes are drawn at random: the errors without their text)
\set VERBOSITY sqlstate
UPDATE crm.opportunity SET customer_code = :'contact_code' WHERE id = :o1;
UPDATE crm.opportunity SET customer_code = :'acct2_code' WHERE id = :o1;
\set VERBOSITY default
UPDATE crm.opportunity SET account_id = :acct2 WHERE id = :o1
RETURNING customer_code = :'acct2_code' AS code_of_new_account;
UPDATE crm.opportunity SET account_id = :acct, customer_code = :'acct_code' WHERE id = :o1
RETURNING customer_code = :'acct_code' AS code_of_account;
\set VERBOSITY terse
UPDATE crm.opportunity SET amount = 'NaN' WHERE id = :o1;
UPDATE crm.opportunity SET expected_close = '-infinity' WHERE id = :o1;
UPDATE crm.opportunity SET expected_close = 'infinity' WHERE id = :o1;
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default

------------------------------------------------------------------------
-- 6. Activities: by who acts, with access, as they happened
------------------------------------------------------------------------
SET crm.actor = 'nobody.at.all';
INSERT INTO crm.opportunity_activity (opportunity_id, kind) VALUES (:o2, 'customer_feedback');
SET crm.actor = 'ann';
INSERT INTO crm.opportunity_activity (opportunity_id, kind, actor) VALUES (:o2, 'customer_feedback', 'bob');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS met FROM crm.opportunity_timer WHERE opportunity_id = :o2 AND met_at IS NOT NULL;
\set VERBOSITY terse
INSERT INTO crm.opportunity_activity (opportunity_id, kind, at) VALUES (:o2, 'call', '2999-01-01 00:00+08');
INSERT INTO crm.opportunity_activity (opportunity_id, kind, at) VALUES (:o2, 'call', '2020-01-01 00:00+08');
\set VERBOSITY default
-- one dated before the countdown started does not meet it; one after does
BEGIN;
INSERT INTO crm.opportunity (account_id, pipeline, title, owner)
VALUES (:acct, 'medical_devices', '瑞安 超声', 'ann') RETURNING id AS o4 \gset
UPDATE crm.opportunity SET quote_sent_at = clock_timestamp() WHERE id = :o4;
INSERT INTO crm.opportunity_activity (opportunity_id, kind, at) VALUES (:o4, 'customer_feedback', now());
SELECT met_at IS NULL AS still_waiting FROM crm.opportunity_timer WHERE opportunity_id = :o4;
INSERT INTO crm.opportunity_activity (opportunity_id, kind, at) VALUES (:o4, 'customer_feedback', clock_timestamp())
RETURNING id AS activity \gset
SELECT met_at IS NOT NULL AS met FROM crm.opportunity_timer WHERE opportunity_id = :o4;
COMMIT;
-- a record: only body may change
UPDATE crm.opportunity_activity SET actor = 'mgr_east' WHERE id = :activity;
\echo :LAST_ERROR_SQLSTATE
UPDATE crm.opportunity_activity SET body = '客户确认报价' WHERE id = :activity RETURNING kind, body, actor;

------------------------------------------------------------------------
-- 7. Attachments: added by who acts, from a file store
------------------------------------------------------------------------
INSERT INTO crm.attachment (opportunity_id, kind, file_name, content, added_by)
VALUES (:o2, 'screenshot', 'x.png', '\x89504e470d0a1a0a'::bytea, 'mgr_east');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO crm.attachment (opportunity_id, kind, file_name, url, size, sha256, content_type)
VALUES (:o2, 'screenshot', 'passwd.png', 'file:///etc/passwd', 100, sha256('x'), 'image/png');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO crm.attachment (opportunity_id, kind, file_name, url, size, sha256, content_type)
VALUES (:o2, 'screenshot', 'x.png', 'ftp://files.example.cn/x.png', 100, sha256('x'), 'image/png');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO crm.attachment (opportunity_id, kind, file_name, url, size, sha256, content_type)
VALUES (:o2, 'screenshot', 'x.png', 'S3://crm-files/x.png', 100, sha256('x'), 'image/png')
RETURNING url, added_by;

------------------------------------------------------------------------
-- 8. crm.request_stage() asks for a stage the pipeline has
------------------------------------------------------------------------
SELECT * FROM crm.request_stage(:o1, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM crm.request_stage(NULL, '合同签署');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM crm.request_stage(:o1, 'no such stage');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM crm.request_stage(-1, '合同签署');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS requests FROM crm.stage_request;
SELECT moved, missing IS NOT NULL AS says_what_is_missing FROM crm.request_stage(:o1, '合同签署');
-- what the board shows is what was asked: written directly, a request is
-- for a stage of the pipeline, by who acts, now; then it is a record
INSERT INTO crm.stage_request (opportunity_id, to_stage, missing) VALUES (:o1, 'no such stage', '');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO crm.stage_request (opportunity_id, to_stage, missing, requested_by) VALUES (:o1, '合同签署', '', 'mgr_east');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO crm.stage_request (opportunity_id, to_stage, missing, requested_at) VALUES (:o1, '合同签署', '', '2020-01-01');
\echo :LAST_ERROR_SQLSTATE
UPDATE crm.stage_request SET requested_at = now() - interval '30 days' WHERE opportunity_id = :o1;
\echo :LAST_ERROR_SQLSTATE
SELECT to_stage, requested_by FROM crm.stage_request ORDER BY id;

-- TRUNCATE crm.opportunity CASCADE takes the history along
RESET ROLE;
TRUNCATE crm.opportunity CASCADE;
SELECT count(*) AS history FROM crm.stage_history;

\c :regression_database
DROP DATABASE crm_opportunity_guards;
DROP ROLE crm_guard_app;
