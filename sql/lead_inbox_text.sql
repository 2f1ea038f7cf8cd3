-- crm.lead_inbox_text: a COPY whose lines are not all JSON.  Into
-- crm.lead_inbox (jsonb) one broken line fails the whole COPY, before crm
-- sees a row; into crm.lead_inbox_text the broken line is quarantined
-- (22P02) with the line as it came, the others are ingested, and the line
-- is replayed by crm.retry_quarantined once it is fixed.
-- In a database of its own: the ids below do not depend on the other
-- tests, nor theirs on this one.
SELECT current_database() AS home \gset
CREATE DATABASE crm_inbox_text;
\c crm_inbox_text
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
SET timezone = 'Asia/Shanghai';

-- the jsonb inbox: the whole COPY fails, nothing is ingested nor quarantined
\set VERBOSITY terse
COPY crm.lead_inbox (channel, payload) FROM stdin;
website	{"id": "j1", "name": "李明", "phone": "13500000011", "submitted_at": "2026-11-20"}
website	{"id": "j2", "name": "钱多多", "phone": "13500000012", "submitted_at": "2026-11-20"
website	{"id": "j3", "name": "孙亮", "phone": "13500000013", "submitted_at": "2026-11-20"}
\.
\set VERBOSITY default
SELECT (SELECT count(*) FROM crm.lead) AS leads, (SELECT count(*) FROM crm.lead_quarantine) AS quarantined;

-- the text inbox: the good lines land, the broken one (a missing brace)
-- and a payload that is no object's text wait in the quarantine as they came
RESET client_min_messages;
COPY crm.lead_inbox_text (channel, payload) FROM stdin;
website	{"id": "j1", "name": "李明", "phone": "13500000011", "submitted_at": "2026-11-20"}
website	{"id": "j2", "name": "钱多多", "phone": "13500000012", "submitted_at": "2026-11-20"
website	{"id": "j3", "name": "孙亮", "phone": "13500000013", "submitted_at": "2026-11-20"}
website	\N
nowhere	{"id": "j4", "name": "周红", "phone": "13500000014", "submitted_at": "2026-11-20"}
\.
SELECT ingested, quarantined, duplicates, batch_id IS NOT NULL AS batched FROM crm.lead_inbox_counts();
SELECT external_id, person_name FROM crm.lead ORDER BY external_id;
SELECT channel, payload IS NOT NULL AS parsed, raw_payload, sqlstate, reason, detail, fix_by
  FROM crm.lead_quarantine ORDER BY id;
-- INSERT is taken the same way
INSERT INTO crm.lead_inbox_text (channel, payload)
VALUES ('website', '{"id": "j5", "name": "吴刚", "phone": "13500000015", "submitted_at": "2026-11-20"}'),
       ('website', 'not json at all');
SELECT ingested, quarantined FROM crm.lead_inbox_counts();

-- replayed while still broken: quarantined again with the same reason
SELECT * FROM crm.retry_quarantined(ids => ARRAY(SELECT id FROM crm.lead_quarantine WHERE raw_payload IS NOT NULL));
SELECT raw_payload IS NOT NULL AS raw_kept, sqlstate, retries FROM crm.lead_quarantine
 WHERE raw_payload IS NOT NULL ORDER BY id;
-- the steward fixes the line where it waits, and the replay ingests it
UPDATE crm.lead_quarantine SET raw_payload = raw_payload || '}' WHERE raw_payload LIKE '{"id": "j2"%';
SELECT * FROM crm.retry_quarantined(ids => ARRAY(SELECT id FROM crm.lead_quarantine WHERE raw_payload LIKE '{"id": "j2"%'));
SELECT l.external_id, l.person_name, r.outcome FROM crm.lead_quarantine_release r JOIN crm.lead l ON l.id = r.lead_id;
SELECT count(*) AS still_quarantined FROM crm.lead_quarantine;
-- the inbox keeps nothing
SELECT count(*) AS kept FROM crm.lead_inbox_text;
\c :home
DROP DATABASE crm_inbox_text;
