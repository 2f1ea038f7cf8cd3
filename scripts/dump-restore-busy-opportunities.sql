-- scripts/dump-restore-busy-opportunities.sql: opportunities (1.1) in the
-- busy database of scripts/dump-restore-test.sh, after
-- scripts/dump-restore-busy.sql (its teams, reps and accounts): a pipeline
-- of our own, evidence kinds and lost reasons of our own, deals moved with
-- evidence, in warn mode, refused and remembered, lost.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET timezone = 'Asia/Shanghai';

SELECT crm.copy_pipeline('cross_border_logistics', 'own_logistics', '自营跨境线路');
UPDATE crm.pipeline_stage SET enforcement = 'warn' WHERE pipeline = 'own_logistics' AND stage = '线路方案';
INSERT INTO crm.lost_reason (code, label) VALUES ('merger', '客户被并购');
INSERT INTO crm.evidence_kind (code, label, content_types, max_size, unique_to_deal, how)
VALUES ('customs_filing', '报关备案', '{application/pdf,application/ofd}', 10485760, true, 'the customs filing receipt');
INSERT INTO crm.stage_requirement (pipeline, stage, kind, content_types)
VALUES ('own_logistics', '合同签署', 'customs_filing', '{application/pdf}');
INSERT INTO crm.countdown_rule (code, starts_on, pipeline, stage, within, clock, waits_for, notify)
VALUES ('own_route_review', 'stage_entered', 'own_logistics', '线路方案', '24 hours', 'working', 'meeting', '{manager}');

SET crm.actor = 'ann';
INSERT INTO crm.opportunity (account_id, pipeline, title, owner, amount)
SELECT a.id, p.pipeline, a.name || ' ' || p.pipeline, 'ann', 100000
  FROM (SELECT id, name FROM crm.account ORDER BY id LIMIT 2) a,
       (VALUES ('medical_devices'), ('own_logistics')) p(pipeline);

-- one deal moved with its evidence (stored and referenced)
INSERT INTO crm.attachment (opportunity_id, kind, file_name, content)
SELECT o.id, e.kind, e.kind || '.bin', e.content
  FROM (SELECT id FROM crm.opportunity WHERE pipeline = 'medical_devices' ORDER BY id LIMIT 1) o,
       (VALUES ('config_sheet', convert_to('%PDF-1.7 busy config', 'UTF8')),
               ('signature_scan', '\xffd8ffe0000000b1'::bytea)) e(kind, content);
INSERT INTO crm.attachment (opportunity_id, kind, file_name, url, size, sha256, content_type)
SELECT id, 'cost_approval', 'approval.png', 'https://files.example.cn/busy.png', 2048, sha256('busy approval'), 'image/png'
  FROM crm.opportunity WHERE pipeline = 'medical_devices' ORDER BY id LIMIT 1;
UPDATE crm.opportunity SET stage = '方案确认'
 WHERE id = (SELECT id FROM crm.opportunity WHERE pipeline = 'medical_devices' ORDER BY id LIMIT 1);

-- one moved unverified (warn), one refused and remembered, one lost
UPDATE crm.opportunity SET stage = '线路方案' WHERE pipeline = 'own_logistics';
SELECT moved FROM crm.request_stage((SELECT max(id) FROM crm.opportunity WHERE pipeline = 'medical_devices'), '方案确认');
UPDATE crm.opportunity SET status = 'lost', lost_reason = 'merger'
 WHERE id = (SELECT max(id) FROM crm.opportunity WHERE pipeline = 'own_logistics');

-- a quote sent and answered, one sent and waiting; dwell limits running
UPDATE crm.opportunity SET quote_sent_at = now() - interval '1 hour' WHERE status = 'open';
INSERT INTO crm.opportunity_activity (opportunity_id, kind, body)
SELECT min(id), 'customer_feedback', '客户回复报价' FROM crm.opportunity WHERE status = 'open';
RESET crm.actor;
