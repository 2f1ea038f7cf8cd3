-- Migration, what a user of README's grants cannot do and what the
-- commit must not get wrong: the import's bookkeeping is written by crm
-- only; a row's owner goes to its own new contact; an inactive rep owns
-- nothing new; crm's SECURITY DEFINER functions are not PUBLIC's.
TRUNCATE crm.import_row, crm.import_batch RESTART IDENTITY;
CREATE TEMP TABLE sequences_before AS
SELECT format('%I.%I', schemaname, sequencename) AS name, start_value, last_value
  FROM pg_sequences WHERE schemaname = 'crm';
SET timezone = 'Asia/Shanghai';
\pset null '∅'
\set SHOW_CONTEXT never
INSERT INTO crm.team (code, name) VALUES ('guard_kam', '大客户部');
INSERT INTO crm.rep (login, name, team) VALUES ('wang.kam', '王经理', 'guard_kam'), ('li.kam', '李经理', 'guard_kam');
INSERT INTO crm.rep (login, name, team, active) VALUES ('gone.kam', '离职经理', 'guard_kam', false);

-- alice, of the application role README grants
CREATE ROLE crm_guard_app;
GRANT USAGE ON SCHEMA crm TO crm_guard_app;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA crm TO crm_guard_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA crm TO crm_guard_app;
GRANT DELETE ON crm.lead_quarantine, crm.contact_point TO crm_guard_app;
GRANT EXECUTE ON FUNCTION crm.work_list_update(bigint[]) TO crm_guard_app;
CREATE ROLE crm_guard_alice IN ROLE crm_guard_app;
CREATE ROLE crm_guard_bi;
GRANT USAGE ON SCHEMA crm TO crm_guard_bi;
GRANT SELECT ON ALL TABLES IN SCHEMA crm TO crm_guard_bi;

------------------------------------------------------------------------
-- The bookkeeping: a user loads rows and fixes rejected ones, crm writes
-- what became of them
------------------------------------------------------------------------
SET ROLE crm_guard_alice;
SELECT crm.import_begin('contacts', '顺序测试') AS b \gset
-- the owner of each new contact is its own row's, the account takes the
-- first owner given (one row per chunk: the rows meet what earlier chunks stored)
INSERT INTO crm.import_row (batch_id, payload) VALUES
 (:b, '{"person_name": "顺序一", "phone": "13644440001", "company_name": "湖州顺序测试有限公司"}'),
 (:b, '{"person_name": "顺序二", "phone": "13644440002", "company_name": "湖州顺序测试有限公司", "owner": "wang.kam"}'),
 (:b, '{"person_name": "顺序三", "phone": "13644440003", "company_name": "湖州顺序测试有限公司", "owner": "li.kam"}'),
 (:b, '{"person_name": "顺序四", "phone": "13644440004", "company_name": "湖州顺序测试有限公司"}'),
 (:b, '{"person_name": "离职客户", "phone": "13644440005", "owner": "gone.kam"}');
SELECT item AS reason, rows, detail FROM crm.import_check(:b) WHERE section = 'reject';
CALL crm.import_commit(:b, 1);
SELECT i.row_no, i.status, i.reason, k.name, k.owner, a.name AS account, a.owner AS account_owner
  FROM crm.import_row i LEFT JOIN crm.contact k ON k.id = i.contact_id LEFT JOIN crm.account a ON a.id = i.account_id
 WHERE i.batch_id = :b ORDER BY i.row_no;
-- each owner hears of their own customers
SELECT o.recipient, (o.payload ->> 'chunk')::int AS chunk,
       (SELECT k.name FROM crm.contact k WHERE k.code = o.payload -> 'codes' ->> 0) AS customer
  FROM crm.outbox o WHERE o.topic = 'import_arrived' AND (o.payload ->> 'batch_id')::bigint = :b ORDER BY o.id;

-- one chunk: the rows at a new company take their own owners too
SELECT crm.import_begin('contacts', '同一批') AS b2 \gset
INSERT INTO crm.import_row (batch_id, payload) VALUES
 (:b2, '{"person_name": "同批一", "phone": "13644441001", "company_name": "嘉兴同批测试有限公司", "owner": "wang.kam"}'),
 (:b2, '{"person_name": "同批二", "phone": "13644441002", "company_name": "嘉兴同批测试有限公司", "owner": "li.kam"}'),
 (:b2, '{"person_name": "同批三", "phone": "13644441003", "company_name": "湖州顺序测试有限公司", "owner": "li.kam"}');
CALL crm.import_commit(:b2);
SELECT k.name, k.owner, a.name AS account, a.owner AS account_owner
  FROM crm.import_row i JOIN crm.contact k ON k.id = i.contact_id JOIN crm.account a ON a.id = i.account_id
 WHERE i.batch_id = :b2 ORDER BY i.row_no;

-- what alice may not write: a batch's target, progress and counters; a
-- row's status, codes and reason, on UPDATE as on INSERT or COPY
UPDATE crm.import_batch SET target = 'leads', committed_at = NULL, rows_imported = 999 WHERE id = :b;
UPDATE crm.import_batch SET pid = pg_backend_pid() WHERE id = :b;
UPDATE crm.import_row SET customer_code = 'XXXX' WHERE batch_id = :b AND status = 'imported';
UPDATE crm.import_row SET status = 'pending' WHERE batch_id = :b AND status = 'imported';
UPDATE crm.import_row SET batch_id = :b2 WHERE batch_id = :b AND status = 'rejected';
\set VERBOSITY terse
INSERT INTO crm.import_batch (target, committed_at) VALUES ('contacts', now());
INSERT INTO crm.import_row (batch_id, payload, status, reason, customer_code)
VALUES (:b, '{"person_name": "伪造"}', 'imported', NULL, 'XXXX');
COPY crm.import_row (batch_id, payload, status, reason) FROM stdin;
1	{"person_name": "伪造"}	rejected	x
\.
\set VERBOSITY default
-- what alice may: a label, a new row, a rejected row's payload
UPDATE crm.import_batch SET label = '顺序测试（已核对）' WHERE id = :b;
INSERT INTO crm.import_row (batch_id, payload) VALUES (:b, '{"person_name": "顺序五", "phone": "13644440006"}');
UPDATE crm.import_row SET payload = payload || '{"owner": "li.kam"}' WHERE batch_id = :b AND status = 'rejected';
SELECT status, count(*) FROM crm.import_row WHERE batch_id = :b GROUP BY status ORDER BY status;
-- the progress counts the rows themselves
SELECT label, target, phase, rows_total, rows_done, rows_rejected, rows_pending FROM crm.import_progress WHERE batch_id = :b;
CALL crm.import_commit(:b);
SELECT label, target, phase, rows_total, rows_done, rows_rejected, rows_pending FROM crm.import_progress WHERE batch_id = :b;
-- the chunk called by itself, not as crm.import_commit runs it, writes nothing
INSERT INTO crm.import_row (batch_id, payload) VALUES (:b, '{"person_name": "顺序六", "phone": "13644440007"}');
SELECT crm.import_chunk(:b, 10, true);
CALL crm.import_commit(:b);
SELECT phase, rows_total, rows_done, rows_pending FROM crm.import_progress WHERE batch_id = :b;
RESET ROLE;

------------------------------------------------------------------------
-- The health check foretells every rejection of the commit, with the
-- same reason: the lead path's own checks (lengths, the time window,
-- nobody identified, with the keys it did not read), an account's credit
-- code and the stored accounts it fits
------------------------------------------------------------------------
INSERT INTO crm.account (name) VALUES ('上海联影医疗科技股份有限公司'), ('上海联影医疗科技有限公司');
SELECT crm.import_begin('contacts', '体检') AS c \gset
INSERT INTO crm.import_row (batch_id, payload) VALUES
 (:c, jsonb_build_object('person_name', repeat('长', 342), 'phone', '13644442001')),
 (:c, jsonb_build_object('person_name', '标题', 'phone', '13644442002', 'title', repeat('t', 1025))),
 (:c, jsonb_build_object('person_name', '公司', 'phone', '13644442003', 'company_name', repeat('公', 342))),
 (:c, jsonb_build_object('person_name', '微信', 'wechat_openid', repeat('o', 257))),
 -- in the lead time window (a day ahead), but a migrated record is in the past
 (:c, jsonb_build_object('person_name', '明天', 'phone', '13644442005',
                         'created_at', to_char(now() + interval '20 hours', 'YYYY-MM-DD"T"HH24:MI:SSOF'))),
 (:c, '{"person_name": "古老", "phone": "13644442006", "created_at": "1999-12-31"}'),
 -- an Excel sheet's own headers
 (:c, '{"姓名": "张三", "电话": "13644442007"}'),
 (:c, '{"Person_Name": "李四", "PHONE": "13644442008"}'),
 (:c, '[1, 2]'), (:c, '"一行字"'), (:c, '42'),
 -- imported, with what a person should know: an organisation that fits two
 (:c, '{"person_name": "歧义", "phone": "13644442012", "company_name": "联影医疗科技"}'),
 -- control characters in names go; a tab or line break is a space
 (:c, E'{"person_name": "控\\u0001制\\u001f符\\u007f", "phone": "13644442013", "company_name": "湖州\\u0085顺序测试有限公司"}'),
 (:c, E'{"person_name": "Ann\\u0001\\tLee", "phone": "13644442014", "title": "CEO\\u009f"}');
SELECT regexp_replace(item, '"\d{4}-\d\d-\d\dT[0-9:+]+"', 'TOMORROW') AS reason, rows,
       detail -> 'row_nos' AS row_nos, detail -> 'details' AS details
  FROM crm.import_check(:c) WHERE section = 'reject' ORDER BY detail ->> 'row_nos';
CREATE TEMP TABLE foretold AS
SELECT item AS reason, jsonb_array_elements_text(detail -> 'row_nos')::bigint AS row_no
  FROM crm.import_check(:c) WHERE section = 'reject';
CALL crm.import_commit(:c);
-- what the check said is what the commit did, row by row
SELECT i.row_no, i.status, i.reason IS NOT DISTINCT FROM f.reason AS foretold,
       regexp_replace(i.detail, '\m[0-9A-Z]{8}\M', 'CODE', 'g') AS detail
  FROM crm.import_row i LEFT JOIN foretold f USING (row_no) WHERE i.batch_id = :c ORDER BY i.row_no;
SELECT k.name, k.title, a.name AS account
  FROM crm.import_row i JOIN crm.contact k ON k.id = i.contact_id LEFT JOIN crm.account a ON a.id = k.account_id
 WHERE i.batch_id = :c ORDER BY i.row_no;
-- the setting that moves the floor is named
SET crm.lead_time_floor = '2001-01-01';
UPDATE crm.import_row SET payload = payload || '{"created_at": "2000-06-01"}' WHERE batch_id = :c AND payload ->> 'person_name' = '古老';
CALL crm.import_commit(:c);
SELECT reason, detail FROM crm.import_row WHERE batch_id = :c AND payload ->> 'person_name' = '古老';
RESET crm.lead_time_floor;

-- accounts: a credit code that fails its check, an organisation two
-- stored accounts fit, a credit code nobody has with no name
SELECT crm.import_begin('accounts', '单位体检') AS d \gset
INSERT INTO crm.import_row (batch_id, payload) VALUES
 (:d, '{"company_name": "新公司", "uscc": "123"}'),
 (:d, '{"company_name": "联影医疗科技"}'),
 (:d, '{"uscc": "91330100MA2CFLXC0D"}'),
 (:d, '{"名称": "无名单位"}');
SELECT item AS reason, rows, detail -> 'row_nos' AS row_nos,
       regexp_replace(detail ->> 'details', '[0-9A-Z]{8}', 'CODE', 'g') AS details
  FROM crm.import_check(:d) WHERE section = 'reject' ORDER BY detail ->> 'row_nos';
TRUNCATE foretold;
INSERT INTO foretold SELECT item, jsonb_array_elements_text(detail -> 'row_nos')::bigint
  FROM crm.import_check(:d) WHERE section = 'reject';
CALL crm.import_commit(:d);
SELECT i.row_no, i.status, i.reason IS NOT DISTINCT FROM f.reason AS foretold
  FROM crm.import_row i LEFT JOIN foretold f USING (row_no) WHERE i.batch_id = :d ORDER BY i.row_no;

-- a row in review is no customer yet: no code claimed, the review named
SELECT crm.import_begin('contacts', '同名') AS e \gset
INSERT INTO crm.import_row (batch_id, payload) VALUES
 (:e, '{"person_name": "周密", "company_name": "宁波甬江医疗器械有限公司", "phone": "13644443001"}'),
 (:e, '{"person_name": "周密", "company_name": "宁波甬江医疗器械有限公司", "phone": "13644443002", "owner": "li.kam"}');
CALL crm.import_commit(:e);
SELECT i.row_no, i.status, i.outcome, i.customer_code IS NOT NULL AS coded, i.contact_id IS NOT NULL AS has_contact,
       regexp_replace(i.detail, '(id [0-9]+|[0-9A-Z]{8}|crm.lead [0-9]+)', 'N', 'g') AS detail
  FROM crm.import_row i WHERE i.batch_id = :e ORDER BY i.row_no;
SELECT count(*) AS told_li FROM crm.outbox
 WHERE topic = 'import_arrived' AND recipient = 'li.kam' AND (payload ->> 'batch_id')::bigint = :e;

-- bad calls
CALL crm.import_commit(NULL);
SELECT * FROM crm.import_check(NULL);
BEGIN;
CALL crm.import_commit(:e);
ROLLBACK;

------------------------------------------------------------------------
-- An import row's place cannot be taken before it is imported: a lead of
-- channel migration whose import_ref reads "batch:row" is crm.import_commit's
-- alone (42501); the row then imports as itself
------------------------------------------------------------------------
-- the next row number is guessable (rows are numbered as they arrive)
SELECT last_value + 1 AS next_row FROM crm.import_row_row_no_seq \gset
SET ROLE crm_guard_alice;
SELECT crm.import_begin('contacts', 'squatted') AS sq \gset
\set next_ref :sq ':' :next_row
INSERT INTO crm.lead_inbox (channel, payload)
VALUES ('migration', jsonb_build_object('person_name', '冒名者', 'phone', '13611111111', 'import_ref', :'next_ref')),
       ('migration', jsonb_build_object('person_name', '自家', 'phone', '13611111112', 'import_ref', 'own:1'));
SELECT q.sqlstate, q.reason, q.detail FROM crm.lead_quarantine q WHERE q.payload ->> 'person_name' = '冒名者';
SELECT l.external_id, l.person_name FROM crm.lead l WHERE l.channel = 'migration' AND l.external_id = 'own:1';
SELECT * FROM crm.ingest('migration', jsonb_build_object('person_name', '冒名者', 'phone', '13611111111',
                                                         'import_ref', :'next_ref'));
INSERT INTO crm.import_row (batch_id, payload)
VALUES (:sq, jsonb_build_object('person_name', '真客户', 'phone', '13611111113'));
CALL crm.import_commit(:sq);
SELECT i.batch_id || ':' || i.row_no = :'next_ref' AS the_squatted_row, i.status, i.outcome, l.person_name
  FROM crm.import_row i JOIN crm.lead l ON l.id = i.lead_id WHERE i.batch_id = :sq;
RESET ROLE;

------------------------------------------------------------------------
-- SECURITY DEFINER functions run as crm's owner: none is PUBLIC's
------------------------------------------------------------------------
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public,
       has_function_privilege('crm_guard_app', p.oid, 'EXECUTE') AS app,
       has_function_privilege('crm_guard_bi', p.oid, 'EXECUTE') AS bi
  FROM pg_proc p WHERE p.pronamespace = 'crm'::regnamespace AND p.prosecdef ORDER BY 1;
SET ROLE crm_guard_bi;
SELECT crm.work_list_update(ARRAY(SELECT id FROM crm.lead));
RESET ROLE;

-- leave nothing behind
SET client_min_messages = warning;
TRUNCATE crm.lead, crm.lead_quarantine, crm.lead_quarantine_release, crm.match_review,
         crm.merge_history, crm.contact_point, crm.contact, crm.account, crm.customer_code,
         crm.import_row, crm.import_batch CASCADE;
DELETE FROM crm.outbox WHERE topic = 'import_arrived';
DELETE FROM crm.rep WHERE team = 'guard_kam';
DELETE FROM crm.team WHERE code = 'guard_kam';
DROP OWNED BY crm_guard_app, crm_guard_alice, crm_guard_bi;
DROP ROLE crm_guard_alice, crm_guard_app, crm_guard_bi;
RESET client_min_messages;
SELECT count(setval(name, coalesce(last_value, start_value), last_value IS NOT NULL)) > 0 AS sequences_restored
  FROM sequences_before;
