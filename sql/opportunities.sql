-- Opportunities: pipelines as data, stage changes the database validates
-- against their transitions and action packages, evidence checked by its
-- bytes, and the history of every change.
-- In a database of its own: the leads, accounts and codes it adds do not
-- shift the ids the other tests print.
\set regression_database :DBNAME
CREATE DATABASE crm_opportunities;
\c crm_opportunities
SET client_min_messages = warning;
CREATE EXTENSION crm;
RESET client_min_messages;
\set calendar opp_always
\i sql/include/sales_org.psql
INSERT INTO crm.team (code, name, manager, calendar) VALUES ('west', '华西销售', 'mgr_west', :'calendar');
INSERT INTO crm.rep (login, name, team) VALUES ('zoe', '赵', 'west');
SET crm.actor = 'ann';

------------------------------------------------------------------------
-- The shipped pipelines
------------------------------------------------------------------------
SELECT p.code, p.industry,
       string_agg(s.stage, ' → ' ORDER BY s.position) FILTER (WHERE s.kind = 'open') AS stages,
       string_agg(s.stage || ':' || s.kind, ' ' ORDER BY s.position) FILTER (WHERE s.kind <> 'open') AS closing
  FROM crm.pipeline p JOIN crm.pipeline_stage s ON s.pipeline = p.code
 GROUP BY p.code, p.industry ORDER BY p.code;
-- cross-border logistics confirms the SLA before the price
SELECT a.position < b.position AS sla_before_price
  FROM crm.pipeline_stage a, crm.pipeline_stage b
 WHERE a.pipeline = 'cross_border_logistics' AND a.stage = '物流SLA确认'
   AND b.pipeline = 'cross_border_logistics' AND b.stage = '价格确认';
-- moves out of two medical-devices stages: forward (over the skippable
-- tender), back, won from the last, lost from any
SELECT t.from_stage, string_agg(t.to_stage, ', ' ORDER BY s.position) AS to_stages
  FROM crm.stage_transition t JOIN crm.pipeline_stage s ON s.pipeline = t.pipeline AND s.stage = t.to_stage
 WHERE t.pipeline = 'medical_devices' AND t.from_stage IN ('方案确认', '交付验收')
 GROUP BY t.from_stage ORDER BY 1;
-- every open stage after the first has an action package
SELECT s.pipeline, s.stage FROM crm.pipeline_stage s
 WHERE s.kind = 'open' AND s.position > 1
   AND NOT EXISTS (SELECT FROM crm.stage_requirement r WHERE r.pipeline = s.pipeline AND r.stage = s.stage);
-- shipped rows are read-only
DELETE FROM crm.pipeline_stage WHERE pipeline = 'saas' AND stage = '成功案例对标';
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- Content types by their bytes
------------------------------------------------------------------------
CREATE TEMP TABLE f (name text PRIMARY KEY, bytes bytea);
INSERT INTO f VALUES
  ('pdf', convert_to('%PDF-1.7 配置单 瑞安 CT', 'UTF8')),
  ('pdf_signed', convert_to('%PDF-1.4 客户签字 瑞安', 'UTF8')),
  ('pdf_tender', convert_to('%PDF-1.4 招标文件', 'UTF8')),
  ('pdf_other', convert_to('%PDF-1.4 另一份配置单', 'UTF8')),
  ('png', '\x89504e470d0a1a0a0000000d49484452'::bytea || convert_to('成本审批', 'UTF8')),
  ('jpeg', '\xffd8ffe000104a464946'::bytea),
  ('renamed', convert_to('just text, named .pdf', 'UTF8')),
  ('empty', ''::bytea),
  ('docx', decode('UEsDBBQAAAAIAGKhhl2axphxygAAADoBAAATAAAAW0NvbnRlbnRfVHlwZXNdLnhtbH1QzU7DMAx+lShX1LrjgBBquwODI3AYD2AlbhfR2FGSjfH2uAztwIGj/f3a/fYcF3OiXILwYDdtZw2xEx94Huz7/rm5t9ux338lKkapXAZ7qDU9ABR3oIillUSsyCQ5YtUxz5DQfeBMcNt1d+CEK3Ft6uphx35HEx6Xap7Our7EqtyaxwtvjRosprQEh1VhWFEY+1dtmYMn84a5vmBUFnxK9uDFHaMq2/9tTuz/dG1kmoKjq351S1kclaLnx6W9IhED3/z2gJ9njN9QSwMEFAAAAAgAYqGGXd1ahg0PAAAADQAAABEAAAB3b3JkL2RvY3VtZW50LnhtbLMpt0rJTy7NTc0r0bcDAFBLAQIUAxQAAAAIAGKhhl2axphxygAAADoBAAATAAAAAAAAAAAAAACAAQAAAABbQ29udGVudF9UeXBlc10ueG1sUEsBAhQDFAAAAAgAYqGGXd1ahg0PAAAADQAAABEAAAAAAAAAAAAAAIAB+wAAAHdvcmQvZG9jdW1lbnQueG1sUEsFBgAAAAACAAIAgAAAADkBAAAAAA==', 'base64')),
  ('xlsx', decode('UEsDBBQAAAAAAGKhhl0hE0TUMgEAADIBAAATAAAAW0NvbnRlbnRfVHlwZXNdLnhtbDw/eG1sIHZlcnNpb249IjEuMCIgZW5jb2Rpbmc9IlVURi04Ij8+PFR5cGVzIHhtbG5zPSJodHRwOi8vc2NoZW1hcy5vcGVueG1sZm9ybWF0cy5vcmcvcGFja2FnZS8yMDA2L2NvbnRlbnQtdHlwZXMiPjxEZWZhdWx0IEV4dGVuc2lvbj0ieG1sIiBDb250ZW50VHlwZT0iYXBwbGljYXRpb24veG1sIi8+PE92ZXJyaWRlIFBhcnROYW1lPSIveGwvd29ya2Jvb2sueG1sIiBDb250ZW50VHlwZT0iYXBwbGljYXRpb24vdm5kLm9wZW54bWxmb3JtYXRzLW9mZmljZWRvY3VtZW50LnNwcmVhZHNoZWV0bWwuc2hlZXQubWFpbit4bWwiLz48L1R5cGVzPlBLAwQUAAAAAABioYZdzp6YEwsAAAALAAAADwAAAHhsL3dvcmtib29rLnhtbDx3b3JrYm9vay8+UEsBAhQDFAAAAAAAYqGGXSETRNQyAQAAMgEAABMAAAAAAAAAAAAAAIABAAAAAFtDb250ZW50X1R5cGVzXS54bWxQSwECFAMUAAAAAABioYZdzp6YEwsAAAALAAAADwAAAAAAAAAAAAAAgAFjAQAAeGwvd29ya2Jvb2sueG1sUEsFBgAAAAACAAIAfgAAAJsBAAAAAA==', 'base64')),
  ('ofd', decode('UEsDBBQAAAAIAGKhhl0XaTEeDAAAAAoAAAAHAAAAT0ZELnhtbLPJT0ux8ndz0bcDAFBLAwQUAAAACABioYZdP94aBwYAAAAEAAAAEgAAAERvY18wL0RvY3VtZW50LnhtbLNJ0bcDAFBLAQIUAxQAAAAIAGKhhl0XaTEeDAAAAAoAAAAHAAAAAAAAAAAAAACAAQAAAABPRkQueG1sUEsBAhQDFAAAAAgAYqGGXT/eGgcGAAAABAAAABIAAAAAAAAAAAAAAIABMQAAAERvY18wL0RvY3VtZW50LnhtbFBLBQYAAAAAAgACAHUAAABnAAAAAAA=', 'base64')),
  ('zip', decode('UEsDBBQAAAAIAGKhhl2GphA2BwAAAAUAAAAKAAAAcmVhZG1lLnR4dMtIzcnJBwBQSwECFAMUAAAACABioYZdhqYQNgcAAAAFAAAACgAAAAAAAAAAAAAAgAEAAAAAcmVhZG1lLnR4dFBLBQYAAAAAAQABADgAAAAvAAAAAAA=', 'base64'));
-- a ZIP cut short, and one whose directory points past its end, are no type
INSERT INTO f SELECT 'zip_cut', substr(bytes, 1, 300) FROM f WHERE name = 'docx';
INSERT INTO f SELECT 'zip_bad_offset', overlay(bytes placing '\xffffff7f'::bytea from length(bytes) - 5) FROM f WHERE name = 'docx';
SELECT name, crm.evidence_content_type(bytes) FROM f ORDER BY name;
SELECT crm.evidence_content_types() @> ARRAY['application/pdf', 'image/png', 'image/jpeg', 'application/ofd'] AS recognised;

------------------------------------------------------------------------
-- An opportunity starts in its pipeline's first stage
------------------------------------------------------------------------
INSERT INTO crm.account (name) VALUES ('杭州瑞安医疗器械有限公司') RETURNING id AS acct, code AS acct_code \gset
INSERT INTO crm.opportunity (account_id, pipeline, title, owner)
VALUES (:acct, 'medical_devices', '瑞安 CT 采购', 'ann') RETURNING id AS o1 \gset
SELECT stage, status, customer_code = :'acct_code' AS code_of_account, team, closed_at FROM crm.opportunity WHERE id = :o1;
-- not in a later stage, not with another account's code, not in another pipeline
INSERT INTO crm.opportunity (account_id, pipeline, title, stage) VALUES (:acct, 'medical_devices', 'x', '合同签署');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO crm.account (name) VALUES ('宁波海纳机械有限公司') RETURNING id AS acct2, code AS acct2_code \gset
\set VERBOSITY sqlstate
INSERT INTO crm.opportunity (account_id, customer_code, pipeline, title) VALUES (:acct, :'acct2_code', 'saas', 'x');
\set VERBOSITY default
UPDATE crm.opportunity SET pipeline = 'saas' WHERE id = :o1;
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- Transitions, and the action package of an enforce stage
------------------------------------------------------------------------
-- not an allowed move: DETAIL lists the allowed ones
UPDATE crm.opportunity SET stage = '合同签署' WHERE id = :o1;
\echo :LAST_ERROR_SQLSTATE
-- no stage of that name
UPDATE crm.opportunity SET stage = '签约' WHERE id = :o1;
\echo :LAST_ERROR_SQLSTATE
-- evidence added before the current stage was entered does not count for
-- the next but one: the tender document comes too early
INSERT INTO crm.attachment (opportunity_id, kind, file_name, content)
SELECT :o1, 'tender_doc', '招标文件.pdf', bytes FROM f WHERE name = 'pdf_tender';
-- nothing attached for 方案确认: refused, DETAIL lists all three, HINT says how
UPDATE crm.opportunity SET stage = '方案确认' WHERE id = :o1;
\echo :LAST_ERROR_SQLSTATE
-- the configuration sheet alone: two missing
INSERT INTO crm.attachment (opportunity_id, kind, file_name, content)
SELECT :o1, 'config_sheet', '配置单.pdf', bytes FROM f WHERE name = 'pdf'
RETURNING kind, content_type, size, sha256 = sha256(content) AS sha256_of_content, added_by;
UPDATE crm.opportunity SET stage = '方案确认' WHERE id = :o1;
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- Attachments refused, each naming its check; nothing stored
------------------------------------------------------------------------
-- a text file named .pdf
INSERT INTO crm.attachment (opportunity_id, kind, file_name, content)
SELECT :o1, 'config_sheet', 'fake.pdf', bytes FROM f WHERE name = 'renamed';
\echo :LAST_ERROR_SQLSTATE
-- a PNG where the kind takes PDF only
INSERT INTO crm.attachment (opportunity_id, kind, file_name, content)
SELECT :o1, 'config_sheet', 'config.png', bytes FROM f WHERE name = 'png';
\echo :LAST_ERROR_SQLSTATE
-- a declared type the bytes contradict
INSERT INTO crm.attachment (opportunity_id, kind, file_name, content, content_type)
SELECT :o1, 'signature_scan', 'sig.pdf', bytes, 'application/pdf' FROM f WHERE name = 'jpeg';
\echo :LAST_ERROR_SQLSTATE
-- empty
INSERT INTO crm.attachment (opportunity_id, kind, file_name, content)
SELECT :o1, 'config_sheet', 'empty.pdf', bytes FROM f WHERE name = 'empty';
\echo :LAST_ERROR_SQLSTATE
-- over its kind's size limit
INSERT INTO crm.evidence_kind (code, label, content_types, max_size, how)
VALUES ('tiny_note', '小便签', '{application/pdf}', 10, 'a note under 10 bytes');
INSERT INTO crm.attachment (opportunity_id, kind, file_name, content)
SELECT :o1, 'tiny_note', 'note.pdf', bytes FROM f WHERE name = 'pdf';
\echo :LAST_ERROR_SQLSTATE
-- a hash that is not the content's
INSERT INTO crm.attachment (opportunity_id, kind, file_name, content, sha256)
SELECT :o1, 'config_sheet', 'c.pdf', bytes, sha256('other') FROM f WHERE name = 'pdf';
\echo :LAST_ERROR_SQLSTATE
-- by a rep of another team
SET crm.actor = 'zoe';
INSERT INTO crm.attachment (opportunity_id, kind, file_name, content)
SELECT :o1, 'signature_scan', 'sig.jpg', bytes FROM f WHERE name = 'jpeg';
\echo :LAST_ERROR_SQLSTATE
-- the team's manager may
SET crm.actor = 'mgr_east';
INSERT INTO crm.attachment (opportunity_id, kind, file_name, content)
SELECT :o1, 'signature_scan', '客户签字.jpg', bytes FROM f WHERE name = 'jpeg'
RETURNING content_type, added_by;
SET crm.actor = 'ann';
-- referenced content: all four of url, size, sha256, content_type
INSERT INTO crm.attachment (opportunity_id, kind, file_name, url, size)
VALUES (:o1, 'cost_approval', 'approval.png', 'https://files.example.cn/a.png', 1000);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO crm.attachment (opportunity_id, kind, file_name, url, size, sha256, content_type)
VALUES (:o1, 'cost_approval', 'approval.png', 'files/a.png', 1000, sha256('approval'), 'image/png');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO crm.attachment (opportunity_id, kind, file_name, url, size, sha256, content_type)
VALUES (:o1, 'cost_approval', 'approval.png', 'https://files.example.cn/a.png', 1000, '\x01', 'image/png');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO crm.attachment (opportunity_id, kind, file_name, url, size, sha256, content_type)
VALUES (:o1, 'cost_approval', 'approval.docx', 'https://files.example.cn/a.docx', 1000, sha256('approval'),
        'application/vnd.openxmlformats-officedocument.wordprocessingml.document');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO crm.attachment (opportunity_id, kind, file_name, url, size, sha256, content_type)
VALUES (:o1, 'cost_approval', 'approval.png', 'https://files.example.cn/a.png', 20000000, sha256('approval'), 'image/png');
\echo :LAST_ERROR_SQLSTATE
SELECT kind, file_name, content_type FROM crm.attachment WHERE opportunity_id = :o1 ORDER BY id;

------------------------------------------------------------------------
-- The package complete: the move goes through, verified
------------------------------------------------------------------------
INSERT INTO crm.attachment (opportunity_id, kind, file_name, url, size, sha256, content_type)
VALUES (:o1, 'cost_approval', '成本审批.png', 'https://files.example.cn/a.png', 1000, sha256('approval'), 'image/png')
RETURNING id AS approval \gset
SET application_name = 'crm-regress';
UPDATE crm.opportunity SET stage = '方案确认' WHERE id = :o1 RETURNING stage, status;
SELECT from_stage, to_stage, direction, verified, unverified_reason, owner, team, changed_by,
       changed_at = (SELECT CASE h.direction WHEN 'created' THEN o.created_at ELSE o.stage_entered_at END
                       FROM crm.opportunity o WHERE o.id = h.opportunity_id) AS at_entry, application_name,
       (SELECT string_agg(a.kind, ', ' ORDER BY a.kind) FROM crm.attachment a WHERE a.id = ANY (h.evidence)) AS evidence
  FROM crm.stage_history h WHERE opportunity_id = :o1 ORDER BY id;
-- evidence a stage change relied on is a record: not deleted, not changed
DELETE FROM crm.attachment WHERE id = :approval;
\echo :LAST_ERROR_SQLSTATE
UPDATE crm.attachment SET kind = 'screenshot' WHERE id = :approval;
\echo :LAST_ERROR_SQLSTATE
UPDATE crm.attachment SET file_name = '成本审批-终版.png' WHERE id = :approval RETURNING file_name;
-- the same signature scan on another deal: refused
INSERT INTO crm.opportunity (account_id, pipeline, title, owner) VALUES (:acct2, 'medical_devices', '海纳 监护仪', 'ann')
RETURNING id AS o2 \gset
INSERT INTO crm.attachment (opportunity_id, kind, file_name, content)
SELECT :o2, 'signature_scan', 'copy.jpg', bytes FROM f WHERE name = 'jpeg';
\echo :LAST_ERROR_SQLSTATE
-- ... the same configuration sheet may be (not unique to a deal)
INSERT INTO crm.attachment (opportunity_id, kind, file_name, content)
SELECT :o2, 'config_sheet', '配置单.pdf', bytes FROM f WHERE name = 'pdf' RETURNING kind;

-- the tender document was attached before 方案确认 was entered; and the
-- stage wants amount and expected_close
UPDATE crm.opportunity SET stage = '招标/比价' WHERE id = :o1;
\echo :LAST_ERROR_SQLSTATE
-- skipping the skippable tender is allowed, with the contract
INSERT INTO crm.attachment (opportunity_id, kind, file_name, content)
SELECT :o1, 'contract', '合同.docx', bytes FROM f WHERE name = 'docx' RETURNING content_type;
UPDATE crm.opportunity SET stage = '合同签署', amount = 2370000, expected_close = '2027-03-31' WHERE id = :o1
RETURNING stage, status;

------------------------------------------------------------------------
-- Back, lost with a reason, won by status
------------------------------------------------------------------------
UPDATE crm.opportunity SET stage = '方案确认' WHERE id = :o1 RETURNING stage;
UPDATE crm.opportunity SET status = 'lost' WHERE id = :o1;
\echo :LAST_ERROR_SQLSTATE
UPDATE crm.opportunity SET status = 'lost', lost_reason = 'whim' WHERE id = :o1;
\echo :LAST_ERROR_SQLSTATE
UPDATE crm.opportunity SET status = 'lost', lost_reason = 'competitor', lost_note = '客户转向竞品' WHERE id = :o1
RETURNING stage, status, lost_reason, closed_at IS NOT NULL AS closed;
-- a lost deal stays lost (no transition out of 输单 in the shipped pipelines)
UPDATE crm.opportunity SET stage = '需求确认' WHERE id = :o1;
\echo :LAST_ERROR_SQLSTATE
UPDATE crm.opportunity SET status = 'open' WHERE id = :o1;
\echo :LAST_ERROR_SQLSTATE
SELECT from_stage, to_stage, direction, verified, unverified_reason
  FROM crm.stage_history WHERE opportunity_id = :o1 ORDER BY id;

------------------------------------------------------------------------
-- A customer's own pipeline: warn mode, transitions changed at once
------------------------------------------------------------------------
SELECT crm.copy_pipeline('cross_border_logistics', 'acme_logistics', 'ACME 跨境');
UPDATE crm.pipeline_stage SET enforcement = 'warn' WHERE pipeline = 'acme_logistics' AND stage = '线路方案';
INSERT INTO crm.opportunity (account_id, pipeline, title, owner) VALUES (:acct2, 'acme_logistics', '海纳 欧洲专线', 'bob')
RETURNING id AS o3, stage \gset
SELECT :'stage' AS first_stage;
UPDATE crm.opportunity SET stage = '线路方案' WHERE id = :o3 RETURNING stage;
SELECT direction, verified, unverified_reason FROM crm.stage_history WHERE opportunity_id = :o3 ORDER BY id;
-- a skip the pipeline does not allow, then allowed: the cache sees it at once
UPDATE crm.opportunity SET stage = '价格确认' WHERE id = :o3;
\echo :LAST_ERROR_SQLSTATE
UPDATE crm.pipeline_stage SET enforcement = 'warn' WHERE pipeline = 'acme_logistics' AND stage = '价格确认';
INSERT INTO crm.stage_transition (pipeline, from_stage, to_stage) VALUES ('acme_logistics', '线路方案', '价格确认');
UPDATE crm.opportunity SET stage = '价格确认' WHERE id = :o3 RETURNING stage;
SELECT direction, verified, unverified_reason FROM crm.stage_history WHERE opportunity_id = :o3 ORDER BY id DESC LIMIT 1;
-- a stage opportunities are in cannot go, nor be renamed; an empty one can
DELETE FROM crm.pipeline_stage WHERE pipeline = 'acme_logistics' AND stage = '价格确认';
\echo :LAST_ERROR_SQLSTATE
UPDATE crm.pipeline_stage SET stage = '报价确认' WHERE pipeline = 'acme_logistics' AND stage = '价格确认';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM crm.pipeline_stage WHERE pipeline = 'acme_logistics' AND stage = '首票发运' RETURNING stage;
DELETE FROM crm.pipeline WHERE code = 'acme_logistics';
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- A refused change remembered: crm.request_stage
------------------------------------------------------------------------
SELECT * FROM crm.request_stage(:o2, '方案确认');
SELECT to_stage, requested_by, missing FROM crm.stage_request WHERE opportunity_id = :o2;
SELECT * FROM crm.request_stage(:o2, '合同签署');

------------------------------------------------------------------------
-- A qualified lead converts, once
------------------------------------------------------------------------
INSERT INTO crm.lead (channel, source_label, payload, outcome, status, owner, team, account_id, company_name, product_line)
VALUES ('website', 'website', '{"n": 1}', 'new', 'qualified', 'bob', 'east', :acct2, '宁波海纳', '监护仪')
RETURNING id AS lead1 \gset
SELECT crm.convert_lead(:lead1, 'saas') AS o4 \gset
SELECT pipeline, stage, title, owner, team, lead_id = :lead1 AS from_lead, account_id = :acct2 AS on_account
  FROM crm.opportunity WHERE id = :o4;
SELECT crm.convert_lead(:lead1, 'saas');
INSERT INTO crm.lead (channel, source_label, payload, outcome, status, account_id)
VALUES ('website', 'website', '{"n": 2}', 'new', 'new', :acct2) RETURNING id AS lead2 \gset
SELECT crm.convert_lead(:lead2, 'saas');
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------
-- Countdowns and dwell limits, on the team's calendar
------------------------------------------------------------------------
SELECT code, starts_on, pipeline, stage, within, clock, waits_for, notify FROM crm.countdown_rule ORDER BY code;
INSERT INTO crm.opportunity (account_id, pipeline, title, owner) VALUES (:acct, 'medical_devices', '瑞安 超声', 'ann')
RETURNING id AS o5 \gset
-- the quote is sent: 72 hours for the customer's feedback (the always-open
-- calendar makes them wall-clock hours)
UPDATE crm.opportunity SET quote_sent_at = now() WHERE id = :o5;
-- its deadline on the calendar is the sweep's to compute; not due, it fires nothing
SELECT rule, due_at IS NULL AS unscheduled FROM crm.opportunity_timer WHERE opportunity_id = :o5;
SELECT timers_fired FROM crm.run_timeouts();
SELECT rule, dwell, waits_for, team, due_at - started_at AS within, fired_at, met_at
  FROM crm.opportunity_timer WHERE opportunity_id = :o5;
-- run out: fired once; the owner and the director are told; the deal is blocked
UPDATE crm.opportunity_timer SET due_at = now() - interval '1 hour' WHERE opportunity_id = :o5;
SELECT timers_fired FROM crm.run_timeouts();
SELECT timers_fired FROM crm.run_timeouts();
SELECT recipient, payload->>'rule' AS rule, payload->>'waits_for' AS waits_for,
       payload->'opportunities'->0->>'title' AS title
  FROM crm.outbox WHERE topic = 'opportunity_countdown' ORDER BY recipient;
SELECT reason, waits_for, stage, blocked_for >= interval '1 hour' AS an_hour FROM crm.blocked_opportunity
 WHERE opportunity_id = :o5;
-- the customer answers: met, no longer blocked
INSERT INTO crm.opportunity_activity (opportunity_id, kind, body) VALUES (:o5, 'customer_feedback', '价格可接受');
SELECT met_at IS NOT NULL AS met, fired_at IS NOT NULL AS fired FROM crm.opportunity_timer WHERE opportunity_id = :o5;
SELECT count(*) AS still_blocked FROM crm.blocked_opportunity WHERE opportunity_id = :o5;

-- a dwell limit of our own pipeline's 方案确认: 72 working hours for the
-- demonstration notes; the rules cache sees the new rule at once
SELECT crm.copy_pipeline('medical_devices', 'acme_med');
UPDATE crm.pipeline_stage SET enforcement = 'warn' WHERE pipeline = 'acme_med';
INSERT INTO crm.countdown_rule (code, starts_on, pipeline, stage, within, clock, waits_for, notify)
VALUES ('acme_demo', 'stage_entered', 'acme_med', '方案确认', '72 hours', 'working', 'demo_notes', '{manager}');
INSERT INTO crm.opportunity (account_id, pipeline, title, owner) VALUES (:acct2, 'acme_med', '海纳 DR', 'bob')
RETURNING id AS o6 \gset
UPDATE crm.opportunity SET stage = '方案确认' WHERE id = :o6;
SELECT timers_fired FROM crm.run_timeouts();
SELECT rule, dwell, stage, waits_for, due_at - started_at AS within, cancelled_at FROM crm.opportunity_timer WHERE opportunity_id = :o6;
-- left and entered again: the first is cancelled, a second starts
UPDATE crm.opportunity SET stage = '需求确认' WHERE id = :o6;
UPDATE crm.opportunity SET stage = '方案确认' WHERE id = :o6;
SELECT rule, cancelled_at IS NOT NULL AS cancelled FROM crm.opportunity_timer WHERE opportunity_id = :o6 ORDER BY id;
-- past its limit: the manager's to-do list
UPDATE crm.opportunity_timer SET due_at = now() - interval '2 hours' WHERE opportunity_id = :o6 AND cancelled_at IS NULL;
SELECT timers_fired FROM crm.run_timeouts();
SELECT recipient, payload->>'rule' AS rule FROM crm.outbox
 WHERE topic = 'opportunity_countdown' AND payload->>'rule' = 'acme_demo';

------------------------------------------------------------------------
-- The board
------------------------------------------------------------------------
SELECT o.title, b.reason, b.team, b.owner, b.stage, b.waits_for
  FROM crm.blocked_opportunity b JOIN crm.opportunity o ON o.id = b.opportunity_id ORDER BY o.id, b.reason;
SELECT team, blocked, avg_blocked_for > interval '0' AS blocked_a_while FROM crm.blocked_by_team ORDER BY team;
SELECT pipeline, stage, blocked, rank FROM crm.blocking_stages ORDER BY rank, pipeline, stage;
-- demonstration notes arrive as evidence: met, unblocked
INSERT INTO crm.attachment (opportunity_id, kind, file_name, content)
SELECT :o6, 'demo_notes', '演示记录.docx', bytes FROM f WHERE name = 'docx';
SELECT count(*) AS still_blocked FROM crm.blocked_opportunity WHERE opportunity_id = :o6;
-- a deal that closes cancels its countdowns
UPDATE crm.opportunity SET quote_sent_at = now() WHERE id = :o6;
UPDATE crm.opportunity SET status = 'lost', lost_reason = 'price' WHERE id = :o6;
SELECT count(*) AS open_timers FROM crm.opportunity_timer
 WHERE opportunity_id = :o6 AND met_at IS NULL AND cancelled_at IS NULL;

------------------------------------------------------------------------
-- stage_upgrade_verified: forward moves backed by evidence, over all
------------------------------------------------------------------------
SELECT h.verified, count(*) FROM crm.stage_history h WHERE h.direction = 'forward' GROUP BY 1 ORDER BY 1;
SELECT sum(numerator) AS numerator, sum(denominator) AS denominator
  FROM crm.penetration_rates WHERE grain = 'month' AND metric = 'stage_upgrade_verified';
SELECT metric, count(*) > 0 AS every_day FROM crm.penetration_rates WHERE grain = 'day' GROUP BY 1 ORDER BY 1;
SELECT team, rep, sum(numerator) AS numerator, sum(denominator) AS denominator
  FROM crm.stage_upgrade_rates WHERE grain = 'month' GROUP BY 1, 2 ORDER BY 1, 2 NULLS LAST;

------------------------------------------------------------------------
-- Several rows in one statement: checked and written once per statement
------------------------------------------------------------------------
-- three deals in one INSERT: a history row each
INSERT INTO crm.opportunity (account_id, pipeline, title, owner)
SELECT :acct2, 'medical_devices', '海纳 批量 ' || n, 'bob' FROM generate_series(1, 3) n;
SELECT o.title, h.direction, h.to_stage, h.verified, h.unverified_reason
  FROM crm.stage_history h JOIN crm.opportunity o ON o.id = h.opportunity_id
 WHERE o.title LIKE '海纳 批量%' ORDER BY o.title, h.id;
-- the package of 方案确认 for the first two (unique kinds: a file of their own each)
INSERT INTO crm.attachment (opportunity_id, kind, file_name, content)
SELECT o.id, k.kind, k.kind || '.bin', k.head || convert_to(o.title, 'UTF8')
  FROM crm.opportunity o,
       (VALUES ('config_sheet', convert_to('%PDF-1.7 ', 'UTF8')),
               ('signature_scan', '\xffd8ffe000104a464946'::bytea),
               ('cost_approval', '\x89504e470d0a1a0a'::bytea)) k(kind, head)
 WHERE o.title IN ('海纳 批量 1', '海纳 批量 2');
-- one statement moves all three: the third has nothing, the statement is
-- refused, naming it; nothing is written
UPDATE crm.opportunity SET stage = '方案确认' WHERE title LIKE '海纳 批量%';
SELECT count(*) AS moves FROM crm.stage_history h JOIN crm.opportunity o ON o.id = h.opportunity_id
 WHERE o.title LIKE '海纳 批量%' AND h.direction <> 'created';
-- the two with their package move, the third only changes its title:
-- history rows, evidence locked and listed, dwell limits for the two
UPDATE crm.opportunity SET stage = CASE WHEN title = '海纳 批量 3' THEN stage ELSE '方案确认' END,
       title = title || '（已报）'
 WHERE title LIKE '海纳 批量%';
SELECT o.title, o.stage, h.direction, h.verified, cardinality(h.evidence) AS evidence, h.changed_by,
       (SELECT count(*) FROM crm.opportunity_timer t WHERE t.opportunity_id = o.id AND t.dwell
           AND t.cancelled_at IS NULL) AS dwell_limits
  FROM crm.opportunity o LEFT JOIN crm.stage_history h ON h.opportunity_id = o.id AND h.direction <> 'created'
 WHERE o.title LIKE '海纳 批量%' ORDER BY o.title;
-- both back in one statement: their dwell limits cancelled, not checked
UPDATE crm.opportunity SET stage = '需求确认' WHERE title LIKE '海纳 批量%' AND stage = '方案确认';
SELECT o.title, h.direction, h.verified, h.unverified_reason,
       (SELECT count(*) FROM crm.opportunity_timer t WHERE t.opportunity_id = o.id AND t.cancelled_at IS NULL) AS running
  FROM crm.opportunity o JOIN crm.stage_history h ON h.opportunity_id = o.id AND h.direction = 'back'
 WHERE o.title LIKE '海纳 批量%' ORDER BY o.title;

------------------------------------------------------------------------
-- The board's kept state: crm.opportunity.blocked_since follows every
-- way a reason starts or ends (drifted: deals where it differs from their
-- reasons, expected 0)
------------------------------------------------------------------------
\set drifted 'SELECT count(*) AS drifted FROM crm.opportunity o WHERE o.blocked_since IS DISTINCT FROM crm.opportunity_blocked_since(o)'
INSERT INTO crm.opportunity (account_id, pipeline, title, owner) VALUES (:acct, 'acme_med', '瑞安 CT', 'ann')
RETURNING id AS o7 \gset
UPDATE crm.opportunity SET stage = '方案确认' WHERE id = :o7;
UPDATE crm.opportunity SET quote_sent_at = now() WHERE id = :o7;
SELECT timers_fired FROM crm.run_timeouts();
-- fired: the dwell limit 3 hours ago, the countdown 1 hour ago; blocked since the earlier
UPDATE crm.opportunity_timer SET due_at = now() - interval '3 hours' WHERE opportunity_id = :o7 AND dwell;
UPDATE crm.opportunity_timer SET due_at = now() - interval '1 hour' WHERE opportunity_id = :o7 AND NOT dwell AND cancelled_at IS NULL;
SELECT timers_fired FROM crm.run_timeouts();
SELECT date_trunc('minute', now() - blocked_since) AS blocked_for FROM crm.opportunity WHERE id = :o7;
SELECT reason, team, stage, waits_for, date_trunc('minute', blocked_for) AS blocked_for FROM crm.blocked_opportunity WHERE opportunity_id = :o7 ORDER BY reason;
:drifted;
-- handed to a rep of another team: the board counts it there
UPDATE crm.opportunity SET owner = 'zoe' WHERE id = :o7;
SELECT team, blocked, date_trunc('hour', longest_blocked_for) AS longest_blocked_for FROM crm.blocked_by_team ORDER BY team;
-- its stage left: the dwell limit is cancelled, the countdown still
-- blocks it, in the stage it is in now
UPDATE crm.opportunity SET stage = '需求确认' WHERE id = :o7;
SELECT reason, team, stage, date_trunc('minute', blocked_for) AS blocked_for FROM crm.blocked_opportunity WHERE opportunity_id = :o7;
SELECT pipeline, stage, blocked, rank FROM crm.blocking_stages ORDER BY rank, pipeline, stage;
:drifted;
-- the quote sent again supersedes the countdown that fired: not blocked
UPDATE crm.opportunity SET quote_sent_at = now() WHERE id = :o7;
SELECT blocked_since IS NULL AS unblocked FROM crm.opportunity WHERE id = :o7;
-- a refused change blocks it; a later move resolves it
SELECT moved FROM crm.request_stage(:o7, '合同签署');
SELECT reason, stage, blocked_for < interval '1 minute' AS just_now FROM crm.blocked_opportunity WHERE opportunity_id = :o7;
UPDATE crm.opportunity SET stage = '方案确认' WHERE id = :o7;
SELECT count(*) AS still_blocked FROM crm.blocked_opportunity WHERE opportunity_id = :o7;
:drifted;
-- refused again, then the request deleted
SELECT moved FROM crm.request_stage(:o7, '交付验收');
SELECT blocked_since IS NOT NULL AS blocked FROM crm.opportunity WHERE id = :o7;
DELETE FROM crm.stage_request WHERE opportunity_id = :o7;
SELECT blocked_since IS NULL AS unblocked FROM crm.opportunity WHERE id = :o7;
-- the dwell limit of 方案确认 fires again, and is met by the demonstration notes
SELECT timers_fired FROM crm.run_timeouts();
UPDATE crm.opportunity_timer SET due_at = now() - interval '1 hour' WHERE opportunity_id = :o7 AND dwell AND cancelled_at IS NULL;
SELECT timers_fired FROM crm.run_timeouts();
SELECT reason FROM crm.blocked_opportunity WHERE opportunity_id = :o7;
-- (recorded by its owner: an activity needs access to the deal)
SET crm.actor = 'zoe';
INSERT INTO crm.opportunity_activity (opportunity_id, kind, body) VALUES (:o7, 'demo_notes', '演示完成');
SET crm.actor = 'ann';
SELECT blocked_since IS NULL AS unblocked FROM crm.opportunity WHERE id = :o7;
-- the deal closes: its fired countdown and its refused change no longer count
UPDATE crm.opportunity_timer SET due_at = now() - interval '1 hour' WHERE opportunity_id = :o7 AND NOT dwell AND cancelled_at IS NULL;
SELECT timers_fired FROM crm.run_timeouts();
SELECT moved FROM crm.request_stage(:o7, '交付验收');
SELECT count(*) AS reasons FROM crm.blocked_opportunity WHERE opportunity_id = :o7;
UPDATE crm.opportunity SET status = 'lost', lost_reason = 'price' WHERE id = :o7;
SELECT blocked_since IS NULL AS unblocked FROM crm.opportunity WHERE id = :o7;
:drifted;
-- a rule deleted takes its fired timers along; a table emptied, its reasons
INSERT INTO crm.opportunity (account_id, pipeline, title, owner) VALUES (:acct, 'acme_med', '瑞安 MR', 'ann')
RETURNING id AS o8 \gset
UPDATE crm.opportunity SET stage = '方案确认' WHERE id = :o8;
SELECT timers_fired FROM crm.run_timeouts();
UPDATE crm.opportunity_timer SET due_at = now() - interval '1 hour' WHERE opportunity_id = :o8;
SELECT timers_fired FROM crm.run_timeouts();
SELECT moved FROM crm.request_stage(:o8, '交付验收');
SELECT reason FROM crm.blocked_opportunity WHERE opportunity_id = :o8 ORDER BY reason;
DELETE FROM crm.countdown_rule WHERE code = 'acme_demo';
SELECT reason FROM crm.blocked_opportunity WHERE opportunity_id = :o8;
:drifted;
TRUNCATE crm.stage_request;
SELECT count(*) AS blocked FROM crm.opportunity WHERE blocked_since IS NOT NULL;
:drifted;

-- the words of a refusal come from the evidence kinds, kept with the stage
-- rules (read again by the INSERT): a kind relabelled afterwards shows at once
INSERT INTO crm.evidence_kind (code, label, content_types, max_size, how)
VALUES ('site_photo', '现场照片', '{image/jpeg}', 1048576, 'a photo of the site');
INSERT INTO crm.stage_requirement (pipeline, stage, kind, content_types) VALUES ('acme_med', '方案确认', 'site_photo', '{image/jpeg}');
INSERT INTO crm.opportunity (account_id, pipeline, title, owner) VALUES (:acct2, 'acme_med', '海纳 标签', 'bob')
RETURNING id AS o9 \gset
UPDATE crm.evidence_kind SET label = '现场实拍' WHERE code = 'site_photo';
UPDATE crm.opportunity SET stage = '方案确认' WHERE id = :o9;
SELECT verified, unverified_reason FROM crm.stage_history WHERE opportunity_id = :o9 AND direction = 'forward';

\c :regression_database
DROP DATABASE crm_opportunities;
