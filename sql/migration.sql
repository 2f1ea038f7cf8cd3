-- Migration of existing data (crm.import_begin, crm.import_row,
-- crm.import_check, CALL crm.import_commit): rows are matched as leads are,
-- bad rows rejected with their reason and retried once fixed, owners told
-- once per chunk, progress visible, and a row fed twice is never imported
-- twice.
TRUNCATE crm.lead, crm.lead_quarantine, crm.lead_quarantine_release, crm.match_review,
         crm.merge_history, crm.contact_point, crm.contact, crm.account, crm.customer_code,
         crm.import_row, crm.import_batch CASCADE;
-- batch and row numbers from 1: messages name them; the other sequences
-- are put back at the end, for the suites after this one
TRUNCATE crm.import_row, crm.import_batch RESTART IDENTITY;
CREATE TEMP TABLE sequences_before AS
SELECT format('%I.%I', schemaname, sequencename) AS name, start_value, last_value
  FROM pg_sequences WHERE schemaname = 'crm';
SET timezone = 'Asia/Shanghai';
\pset null '∅'
-- errors without the PL/pgSQL line numbers they pass through
\set SHOW_CONTEXT never
INSERT INTO crm.team (code, name) VALUES ('mig', '迁移测试组') ON CONFLICT DO NOTHING;
INSERT INTO crm.rep (login, name, team) VALUES ('mig_hz', '杭州客户经理', 'mig'), ('mig_sh', '上海客户经理', 'mig')
    ON CONFLICT DO NOTHING;

-- GB/T 2260 ships as data, with its source and date
SELECT count(*) > 3000 AS many_codes, count(DISTINCT source) AS sources, min(source_date) = max(source_date) AS one_date,
       bool_and(shipped) AS shipped
  FROM crm.region_code;
SELECT level, count(*) > 0 AS present FROM crm.region_code GROUP BY level ORDER BY level;
SELECT code, name, level, parent FROM crm.region_code WHERE code IN ('330000', '330100', '330106', '110101') ORDER BY code;

-- Bad calls: a clear error, nothing written
SELECT crm.import_begin('customers', 'x');
SELECT crm.import_begin(NULL, 'x');
INSERT INTO crm.import_row (batch_id, payload) VALUES (999999, '{}');
CALL crm.import_commit(999999);
SELECT * FROM crm.import_check(999999);
SELECT count(*) AS batches FROM crm.import_batch;

-- Contacts: a messy export
SELECT crm.import_begin('contacts', '老系统客户表.xlsx') AS b \gset
CALL crm.import_commit(:b, 0);
INSERT INTO crm.import_row (batch_id, payload) VALUES
 (:b, '{"person_name": "张伟", "company_name": "杭州海康威视数字技术股份有限公司", "phone": "138 0013 8000",
        "owner": "mig_hz", "created_at": "2019-03-01", "region_code": "330106"}'),
 (:b, '{"person_name": "张伟 先生", "company_name": "海康威视数字技术（杭州）有限公司", "phone": "+86 13800138000",
        "email": "ZW@hik.com", "owner": "mig_hz"}'),
 (:b, '{"person_name": "李娜", "phone": "13912345678", "region_code": "339999", "owner": "mig_sh"}'),
 (:b, '[1, 2]'),
 (:b, '{"company_name": "无人公司", "owner": "mig_sh"}'),
 (:b, '{"person_name": "王五", "phone": "13700001111", "created_at": "2099-01-01"}'),
 (:b, '{"person_name": "赵六", "phone": "13700002222", "created_at": "上周三"}'),
 (:b, '{"person_name": "钱七", "phone": "13700003333", "owner": "nobody"}'),
 (:b, '{"person_name": "孙八", "phone": "12345", "email": "sun@@x", "uscc": "91330100MA2CFLXC4X", "owner": "mig_sh"}');

-- the health check, before anything is stored
SELECT section, item, rows, rate, detail - 'examples' AS detail
  FROM crm.import_check(:b, 2) WHERE section NOT IN ('sample', 'region') ORDER BY section, item;
SELECT item, detail -> 'examples' AS examples FROM crm.import_check(:b) WHERE section = 'invalid' ORDER BY item;
SELECT item AS row_no, detail -> 'fields' ->> 'person_name' AS name, detail ->> 'status' AS status
  FROM crm.import_check(:b, 2) WHERE section = 'sample';
SELECT rows AS codes_known, detail ? 'source' AS has_source, detail ? 'date' AS has_date
  FROM crm.import_check(:b, 0) WHERE section = 'region';
SELECT count(*) AS sample_rows FROM crm.import_check(:b, 0) WHERE section = 'sample';
SELECT * FROM crm.import_check(:b, -1);
SELECT count(*) AS nothing_stored_yet FROM crm.contact;
SELECT phase, chunk, rows_total, rows_done, rows_rejected, rows_pending FROM crm.import_progress WHERE batch_id = :b;

-- inside a transaction block the commit cannot commit its chunks
BEGIN;
CALL crm.import_commit(:b);
ROLLBACK;

CALL crm.import_commit(:b, 4);
SELECT row_no - (SELECT min(row_no) FROM crm.import_row WHERE batch_id = :b) + 1 AS n, status, outcome, chunk,
       customer_code IS NOT NULL AS coded, reason, detail
  FROM crm.import_row WHERE batch_id = :b ORDER BY row_no;
-- the two spellings of 张伟 are one contact; the owner and the old creation date came along
SELECT k.name, k.owner, CASE WHEN k.created_at < now() - interval '1 day' THEN k.created_at::date::text ELSE 'now' END AS created,
       a.name AS account, a.owner AS account_owner, a.region_code,
       (SELECT count(*) FROM crm.contact_point p WHERE p.contact_id = k.id) AS points
  FROM crm.contact k LEFT JOIN crm.account a ON a.id = k.account_id ORDER BY k.id;
-- the leads that carried them are closed, never assigned, not learnt from
SELECT channel, status, owner, score, count(*) FROM crm.lead GROUP BY 1, 2, 3, 4;
SELECT count(*) AS learnt_from_migration FROM crm.win_stats WHERE feature = 'channel=migration';
SELECT count(*) AS penetration_periods FROM crm.penetration_rates;
SELECT count(*) AS timers FROM crm.sla_timer t JOIN crm.lead l ON l.id = t.lead_id WHERE l.channel = 'migration';
-- each owner is told once per chunk, with the codes
SELECT o.recipient, o.payload ->> 'message' AS message, (o.payload ->> 'chunk')::int AS chunk,
       (o.payload ->> 'customers')::int AS customers,
       (SELECT array_agg(DISTINCT i.customer_code ORDER BY i.customer_code) FROM crm.import_row i
         WHERE i.batch_id = :b AND i.chunk = (o.payload ->> 'chunk')::int AND i.status = 'imported'
           AND i.payload ->> 'owner' = o.recipient) = ARRAY(SELECT jsonb_array_elements_text(o.payload -> 'codes'))
       AS codes_are_theirs
  FROM crm.outbox o WHERE o.topic = 'import_arrived' ORDER BY o.id;
SELECT phase, pid, chunk, rows_total, rows_done, rows_rejected, rows_pending, rate > 0 AS has_rate, eta
  FROM crm.import_progress WHERE batch_id = :b;

-- committed: again is an error (its detail gives the time, its customer code)
\set VERBOSITY terse
CALL crm.import_commit(:b);
-- an imported row is history
UPDATE crm.import_row SET payload = '{"person_name": "改名"}'
 WHERE batch_id = :b AND status = 'imported' AND payload ->> 'person_name' = '李娜';
\set VERBOSITY default
-- a rejected row, fixed, goes again; the batch counts it pending
UPDATE crm.import_row SET payload = jsonb_set(payload, '{owner}', '"mig_sh"')
 WHERE batch_id = :b AND payload ->> 'owner' = 'nobody';
UPDATE crm.import_row SET payload = jsonb_set(payload, '{created_at}', '"2021-06-01"')
 WHERE batch_id = :b AND payload ->> 'person_name' = '王五';
SELECT status, reason FROM crm.import_row WHERE batch_id = :b AND payload ->> 'person_name' IN ('钱七', '王五') ORDER BY row_no;
SELECT phase, rows_rejected, rows_pending FROM crm.import_progress WHERE batch_id = :b;
CALL crm.import_commit(:b);
SELECT payload ->> 'person_name' AS name, status, outcome, chunk FROM crm.import_row
 WHERE batch_id = :b AND payload ->> 'person_name' IN ('钱七', '王五') ORDER BY row_no;
SELECT phase, chunk, rows_done, rows_rejected, rows_pending FROM crm.import_progress WHERE batch_id = :b;

-- A row fed twice (a crash between the chunk's leads and its bookkeeping
-- cannot happen, both are one transaction; this forces it, and only crm
-- writes the bookkeeping, so it takes a superuser with triggers off) is a
-- re-send: the same lead, no second contact
SELECT count(*) AS leads_before, (SELECT count(*) FROM crm.contact) AS contacts_before FROM crm.lead \gset
SET session_replication_role = replica;
UPDATE crm.import_row SET status = 'pending', outcome = NULL, lead_id = NULL, contact_id = NULL, account_id = NULL,
                          customer_code = NULL
 WHERE batch_id = :b AND payload ->> 'person_name' = '李娜';
RESET session_replication_role;
CALL crm.import_commit(:b);
SELECT status, outcome, customer_code IS NOT NULL AS coded FROM crm.import_row
 WHERE batch_id = :b AND payload ->> 'person_name' = '李娜';
SELECT count(*) - :leads_before AS new_leads, (SELECT count(*) FROM crm.contact) - :contacts_before AS new_contacts
  FROM crm.lead;

-- Against what is stored: a second batch meets the first one's customers,
-- and an ambiguous person waits in the review queue as a lead would
SELECT crm.import_begin('contacts', '第二批') AS b2 \gset
INSERT INTO crm.import_row (batch_id, payload) VALUES
 (:b2, '{"person_name": "张伟", "phone": "13800138000", "title": "采购经理"}'),
 (:b2, '{"person_name": "张伟", "company_name": "杭州海康威视数字技术股份有限公司", "email": "zhangwei2@hik.com"}'),
 (:b2, '{"person_name": "李娜", "phone": "13912345678"}');
SELECT item, rows FROM crm.import_check(:b2) WHERE section = 'duplicate_stored' ORDER BY item;
CALL crm.import_commit(:b2);
SELECT payload ->> 'person_name' AS name, status, outcome FROM crm.import_row WHERE batch_id = :b2 ORDER BY row_no;
SELECT r.entity, r.status, l.channel FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id
 WHERE l.id IN (SELECT lead_id FROM crm.import_row WHERE batch_id = :b2);
-- the owners of the customers rows merged into hear of it too
SELECT count(*) AS messages FROM crm.outbox WHERE topic = 'import_arrived' AND (payload ->> 'batch_id')::bigint = :b2;

-- Two colleagues of one name, at one organisation, with different phones:
-- a lead would be merged (name and organisation outweigh a different
-- phone); an import, which nobody watches, asks for more evidence
-- (crm.import_merge_threshold) and sends the second to review
SELECT crm.import_begin('contacts', '同名同事') AS b6 \gset
INSERT INTO crm.import_row (batch_id, payload) VALUES
 (:b6, '{"person_name": "周密", "company_name": "宁波甬江医疗器械有限公司", "phone": "13512340001"}'),
 (:b6, '{"person_name": "周密", "company_name": "宁波甬江医疗器械有限公司", "phone": "13512340002"}'),
 (:b6, '{"person_name": "周密", "company_name": "宁波甬江医疗器械有限公司", "phone": "135 1234 0001", "title": "科长"}');
CALL crm.import_commit(:b6);
SELECT payload ->> 'phone' AS phone, outcome FROM crm.import_row WHERE batch_id = :b6 ORDER BY row_no;
SELECT current_setting('crm.match_merge_threshold') AS lead_threshold, current_setting('crm.import_merge_threshold') AS import_threshold;
BEGIN;
SELECT outcome FROM crm.ingest('website', '{"id": "same-name", "name": "周密", "company": "宁波甬江医疗器械有限公司",
                                            "phone": "13512340003", "submitted_at": "2026-11-20"}');
ROLLBACK;

-- Accounts alone: credit code first, then the company key in its region
SELECT crm.import_begin('accounts', '客户单位') AS b3 \gset
INSERT INTO crm.import_row (batch_id, payload) VALUES
 (:b3, '{"company_name": "宁波海纳机械有限公司", "uscc": "91330100MA2CFLXC0D", "owner": "mig_hz", "region_code": "330200"}'),
 (:b3, '{"company_name": "宁波海纳机械股份有限公司", "owner": "mig_sh"}'),
 (:b3, '{"company_name": "海纳机械", "uscc": "91330100MA2CFLXC0D"}'),
 (:b3, '{"company_name": "海康威视数字技术有限公司"}'),
 (:b3, '{"company_name": "新公司", "uscc": "123"}'),
 (:b3, '{"person_name": "只有人"}'),
 (:b3, '{"company_name": "温州新起点医疗有限公司", "region_code": "999999", "created_at": "2018-05-04"}'),
 (:b3, '{"uscc": "91330100MA2CFLXC0D", "owner": "mig_sh"}');
INSERT INTO crm.account (name) VALUES ('上海联影医疗科技股份有限公司'), ('上海联影医疗科技有限公司');
INSERT INTO crm.import_row (batch_id, payload) VALUES (:b3, '{"company_name": "联影医疗科技"}'),
 (:b3, '{"company_name": "（杭州）有限公司"}');
SELECT item, rows FROM crm.import_check(:b3) WHERE section = 'reject' ORDER BY item;
CALL crm.import_commit(:b3, 3);
SELECT payload ->> 'company_name' AS company, status, outcome, chunk, reason,
       regexp_replace(detail, '[0-9A-Z]{8}', 'CODE', 'g') AS detail
  FROM crm.import_row WHERE batch_id = :b3 ORDER BY row_no;
SELECT a.name, a.uscc, a.owner, a.region_code,
       CASE WHEN a.created_at < now() - interval '1 day' THEN a.created_at::date::text ELSE 'now' END AS created
  FROM crm.account a
 WHERE a.id IN (SELECT account_id FROM crm.import_row WHERE batch_id = :b3) ORDER BY a.id;
SELECT recipient, payload ->> 'message' AS message, payload ->> 'chunk' AS chunk
  FROM crm.outbox WHERE topic = 'import_arrived' AND (payload ->> 'batch_id')::bigint = :b3 ORDER BY id;

-- Leads: ingested as leads, scored and sent on as any lead
SELECT crm.import_begin('leads', '展会线索') AS b4 \gset
INSERT INTO crm.import_row (batch_id, payload) VALUES
 (:b4, '{"person_name": "周九", "phone": "13600001234", "product_line": "imaging", "created_at": "2026-11-30 10:00"}');
CALL crm.import_commit(:b4);
SELECT i.status, i.outcome, l.channel, l.status <> 'new' AS scored, l.score IS NOT NULL AS has_score
  FROM crm.import_row i JOIN crm.lead l ON l.id = i.lead_id WHERE i.batch_id = :b4;

-- An empty batch commits to nothing
SELECT crm.import_begin('leads') AS b5 \gset
CALL crm.import_commit(:b5);
SELECT phase, rows_total FROM crm.import_progress WHERE batch_id = :b5;
SELECT batch_id = :b AS first, phase, rows_total, rows_done, rows_rejected FROM crm.import_progress ORDER BY batch_id;

-- A newer code list adds its codes; a file that does not say where it is
-- from, or a malformed line, is refused
SELECT current_setting('data_directory') || '/crm_region_codes_test.tsv' AS codes_file \gset
-- (one line per row: CSV quotes none of them)
COPY (SELECT unnest(ARRAY['# source: test list', '# date: 2024-01-01', E'330106\t西湖区\tcounty\t330100',
                          E'330199\t测试新区\tcounty\t330100'])) TO :'codes_file' (FORMAT csv);
SELECT * FROM crm.region_code_refresh(:'codes_file');
SELECT code, source, source_date, shipped FROM crm.region_code WHERE code IN ('330106', '330199') ORDER BY code;
SELECT * FROM crm.region_code_refresh(:'codes_file');
COPY (SELECT E'330107\t拱墅区\tcounty\t330100') TO :'codes_file' (FORMAT csv);
-- (errors name the file: shown with the data directory replaced)
CREATE FUNCTION pg_temp.refresh_error(file text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM crm.region_code_refresh(file);
    RETURN 'loaded';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || replace(SQLERRM, current_setting('data_directory'), '$PGDATA');
END $$;
SELECT pg_temp.refresh_error(:'codes_file');
COPY (SELECT unnest(ARRAY['# source: x', '# date: 2024-01-01', E'33010\t短\tcounty\t330100'])) TO :'codes_file' (FORMAT csv);
SELECT pg_temp.refresh_error(:'codes_file');
SELECT * FROM crm.region_code_refresh('/nonexistent/crm_region_codes.tsv');
SELECT crm.shipped_data_path('../../etc/passwd');
DELETE FROM crm.region_code WHERE code = '330106';
TRUNCATE crm.region_code;
DELETE FROM crm.region_code WHERE code = '330199';

-- leave nothing behind: the batches, their customers and messages, the
-- reps made here, the sequences
TRUNCATE crm.lead, crm.lead_quarantine, crm.lead_quarantine_release, crm.match_review,
         crm.merge_history, crm.contact_point, crm.contact, crm.account, crm.customer_code,
         crm.import_row, crm.import_batch CASCADE;
DELETE FROM crm.outbox WHERE topic = 'import_arrived';
DELETE FROM crm.rep WHERE login IN ('mig_hz', 'mig_sh');
DELETE FROM crm.team WHERE code = 'mig';
SELECT count(setval(name, coalesce(last_value, start_value), last_value IS NOT NULL)) > 0 AS sequences_restored
  FROM sequences_before;
