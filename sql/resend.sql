-- Re-sent webhooks, refused input, and the quarantine's batches and replay.
-- A re-send (same channel and external id) with the same lead fields is a
-- duplicate: nothing is stored and the stored lead comes back; other lead
-- fields under a known id are refused (23505), in bulk quarantined.
TRUNCATE crm.lead, crm.lead_quarantine, crm.lead_quarantine_release, crm.match_review,
         crm.merge_history, crm.contact_point, crm.contact, crm.account, crm.customer_code CASCADE;
SET timezone = 'Asia/Shanghai';
\pset null '∅'
-- lead ids from here on do not depend on the suites before (errors name
-- them); the sequences are put back at the end, for the suites after this one
CREATE TEMP TABLE sequences_before AS
SELECT format('%I.%I', schemaname, sequencename) AS name, start_value, last_value
  FROM pg_sequences WHERE schemaname = 'crm';
SELECT setval('crm.lead_id_seq', 900000) AS lead_ids_after;

-- crm.ingest_result: the new attributes come last, so positional readers keep working
SELECT attnum, attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute
 WHERE attrelid = 'crm.ingest_result'::regclass AND attnum > 0 ORDER BY attnum;

SELECT lead_id AS first_lead, contact_id AS first_contact, outcome, status AS first_status
  FROM crm.ingest('website', '{"id": "r-1", "name": "张伟", "company": "杭州瑞安医疗器械有限公司",
                  "phone": "13800138000", "submitted_at": "2026-11-20 09:00"}') \gset
SELECT :'outcome' AS outcome;
-- status and waiting_reason are the stored lead's, after scoring and assignment
SELECT l.status = :'first_status' AS status_is_stored, l.status
  FROM crm.lead l WHERE l.id = :first_lead;
SELECT count(*) AS leads, (SELECT count(*) FROM crm.contact) AS contacts FROM crm.lead;

-- The same lead again, as a sender retries it: the phone spelled another way
-- (the stored phone is normalised), a delivery time and a signature the
-- field map does not read
SELECT r.lead_id = :first_lead AS same_lead, r.contact_id = :first_contact AS same_contact,
       r.outcome, r.status IS NOT DISTINCT FROM l.status AS status_is_stored,
       r.waiting_reason IS NOT DISTINCT FROM l.waiting_reason AS waiting_reason_is_stored,
       r.owner IS NOT DISTINCT FROM l.owner AS owner_is_stored
  FROM crm.ingest('website', '{"id": "r-1", "name": "张伟", "company": "杭州瑞安医疗器械有限公司",
                  "phone": "+86 138-0013-8000", "submitted_at": "2026-11-20T09:00:00+08:00",
                  "delivered_at": "2026-11-20 09:05", "signature": "abc123"}') r,
       crm.lead l WHERE l.id = :first_lead;
-- nothing was stored, nothing changed
SELECT count(*) AS leads, (SELECT count(*) FROM crm.contact) AS contacts,
       (SELECT outcome FROM crm.lead WHERE id = :first_lead) AS stored_outcome FROM crm.lead;

-- The same id with another body (王芳 instead of 张伟): refused, naming the fields
-- (its SQLSTATE echoed: verbose errors would show a C line number)
SELECT * FROM crm.ingest('website', '{"id": "r-1", "name": "王芳", "company": "杭州瑞安医疗器械有限公司",
                         "phone": "13800138000", "submitted_at": "2026-11-20 09:00"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM crm.ingest('website', '{"id": "r-1", "name": "张伟", "phone": "13800138000",
                         "email": "zw@ruian.cn", "submitted_at": "2026-11-20 10:00"}');
SELECT count(*) AS leads, string_agg(person_name, ',') AS names FROM crm.lead;

-- The submission time: a lead stored without one (this channel makes it
-- optional) was stored at its receipt time, which counts as none
INSERT INTO crm.channel (code, source_label, field_map)
VALUES ('resend_test', '重发测试', '{"external_id": "id", "person_name": "name",
        "created_at": {"path": "$.at", "default": null}}');
SELECT outcome FROM crm.ingest('resend_test', '{"id": "t-1", "name": "李娜"}');
SELECT outcome FROM crm.ingest('resend_test', '{"id": "t-1", "name": "李娜"}');
SELECT outcome FROM crm.ingest('resend_test', '{"id": "t-1", "name": "李娜", "at": "2026-11-20 09:00"}');
SELECT outcome FROM crm.ingest('resend_test', '{"id": "t-2", "name": "刘洋", "at": "2026-11-20 09:00"}');
SELECT outcome FROM crm.ingest('resend_test', '{"id": "t-2", "name": "刘洋"}');
SELECT outcome FROM crm.ingest('resend_test', '{"id": "t-2", "name": "刘洋", "at": "2026-11-20 01:00Z"}');

-- NULL or not an object: refused, never a row of NULLs
SELECT * FROM crm.ingest('website', NULL);
SELECT * FROM crm.ingest(NULL, '{"id": "n-1", "name": "赵敏", "submitted_at": "2026-11-20"}');
SELECT * FROM crm.ingest(NULL, NULL);
SELECT * FROM crm.ingest('website', '"张伟"');

-- Bulk, with the same meaning: a duplicate stores nothing and is counted,
-- another body under a known id is quarantined, and every row one
-- statement quarantined shares its batch id
INSERT INTO crm.lead_inbox (channel, payload) VALUES
  ('website', '{"id": "r-1", "name": "张伟", "company": "杭州瑞安医疗器械有限公司",
                "phone": "13800138000", "submitted_at": "2026-11-20 09:00", "delivered_at": "x"}'),
  ('website', '{"id": "r-1", "name": "王芳", "company": "杭州瑞安医疗器械有限公司",
                "phone": "13800138000", "submitted_at": "2026-11-20 09:00"}'),
  ('website', '{"id": "b-1", "name": "周杰", "phone": "13900139001", "submitted_at": "2026-11-20"}'),
  ('website', '{"id": "b-1", "name": "周杰", "phone": "13900139001", "submitted_at": "2026-11-20"}'),
  ('weibo', '{"uid": "w-1", "screen_name": "黄磊", "time": "2026-11-20 11:00"}'),
  ('weibo', '{"uid": "w-2", "screen_name": "杨静", "time": "2026-11-20 11:05"}'),
  ('resend_test', '{"id": "t-3"}'),
  ('website', NULL);
SELECT ingested, quarantined, duplicates, batch_id = (SELECT max(batch_id) FROM crm.lead_quarantine) AS batch_reported
  FROM crm.lead_inbox_counts();
SELECT batch_id AS first_batch FROM crm.lead_inbox_counts() \gset
SELECT id AS conflict_id FROM crm.lead_quarantine WHERE sqlstate = '23505' \gset
SELECT count(DISTINCT batch_id) AS batches, count(*) AS rows FROM crm.lead_quarantine;
SELECT channel, sqlstate, reason, detail, fix_by FROM crm.lead_quarantine ORDER BY id;
SELECT external_id, person_name FROM crm.lead WHERE external_id IN ('r-1', 'b-1') ORDER BY id;
-- a statement that quarantines nothing has no batch
INSERT INTO crm.lead_inbox VALUES ('website', '{"id": "b-1", "name": "周杰", "phone": "13900139001", "submitted_at": "2026-11-20"}');
SELECT * FROM crm.lead_inbox_counts();
-- the next statement's rows form another batch
INSERT INTO crm.lead_inbox VALUES ('weibo', '{"uid": "w-3", "screen_name": "孙丽", "time": "2026-11-20 12:00"}');
SELECT count(DISTINCT batch_id) AS batches FROM crm.lead_quarantine WHERE channel = 'weibo';

-- Who fixes what: the SQLSTATE and cause decide
SELECT s AS sqlstate, r AS reason, crm.quarantine_fix_by(s, r) AS fix_by
  FROM (VALUES ('42704', 'unknown lead channel "weibo"'),
               ('22023', 'payload has no value at name for lead field "person_name"'),
               ('22023', 'invalid field map entry for "phone"'),
               ('22023', 'lead payload identifies nobody'),
               ('22023', 'lead payload must be a JSON object'),
               ('22004', 'lead payload is null'),
               ('22001', 'lead field "company_name" is too long'),
               ('22007', 'lead field "created_at" is not a valid time: "x"'),
               ('23505', 'lead "r-1" of channel "website" was ingested before with different values'),
               ('23505', 'duplicate key value violates unique constraint "customer_code_pkey"'),
               ('23514', 'new row for relation "contact" violates check constraint "x"'),
               ('P0001', 'refused by a trigger')) v(s, r);

-- Replay after the channel is fixed: weibo set up, its rows ingest and
-- leave the quarantine; the others stay with their reason, counted
SELECT * FROM crm.retry_quarantined(channel => 'weibo');
INSERT INTO crm.channel (code, source_label, field_map)
VALUES ('weibo', '微博', '{"external_id": "uid", "person_name": "screen_name", "created_at": "time"}');
SELECT * FROM crm.retry_quarantined(batch_id => :first_batch);
SELECT l.external_id, l.person_name, r.outcome, r.batch_id = :first_batch AS from_batch
  FROM crm.lead_quarantine_release r JOIN crm.lead l ON l.id = r.lead_id ORDER BY r.quarantine_id;
SELECT channel, sqlstate, retries, retried_at IS NOT NULL AS retried, fix_by
  FROM crm.lead_quarantine ORDER BY id;
-- by ids: the conflicting re-send fails again, its reason kept
SELECT * FROM crm.retry_quarantined(ids => ARRAY[:conflict_id]::bigint[]);
SELECT retries, reason FROM crm.lead_quarantine WHERE id = :conflict_id;
-- a quarantined row whose lead was stored meanwhile comes back as a duplicate
INSERT INTO crm.channel (code, source_label, field_map)
VALUES ('late_test', '迟到', '{"external_id": "id", "person_name": "name"}');
INSERT INTO crm.lead_quarantine (batch_id, channel, payload, sqlstate, reason)
VALUES (nextval('crm.lead_quarantine_batch_seq'), 'late_test', '{"id": "l-1", "name": "吴磊"}', '42704',
        'unknown lead channel "late_test"');
SELECT outcome FROM crm.ingest('late_test', '{"id": "l-1", "name": "吴磊", "sent": 2}');
SELECT * FROM crm.retry_quarantined(channel => 'late_test');
SELECT r.outcome FROM crm.lead_quarantine_release r JOIN crm.lead l ON l.id = r.lead_id
 WHERE l.external_id = 'l-1';
SELECT count(*) AS left_in_quarantine FROM crm.lead_quarantine;

-- leave nothing behind: the channels made here, their leads, the sequences
TRUNCATE crm.lead, crm.lead_quarantine, crm.lead_quarantine_release, crm.match_review,
         crm.merge_history, crm.contact_point, crm.contact, crm.account, crm.customer_code CASCADE;
DELETE FROM crm.channel WHERE code IN ('resend_test', 'weibo', 'late_test');
SELECT count(setval(name, coalesce(last_value, start_value), last_value IS NOT NULL)) > 0 AS sequences_restored
  FROM sequences_before;
