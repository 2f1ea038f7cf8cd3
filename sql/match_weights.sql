-- Match weights as data (crm.match_weight): a data steward changes one,
-- single calls and bulk ingestion both use it at once; changes that
-- could not be scored are refused.  In a database of its own, so that
-- its rows do not shift the other tests' ids.
\set regression_database :DBNAME
CREATE DATABASE crm_match_weights;
\c crm_match_weights
SET client_min_messages = warning;
CREATE EXTENSION crm;
RESET client_min_messages;
SET timezone = 'Asia/Shanghai';
\pset null '∅'
\i sql/include/outcome.psql

-- What a match adds up: the shipped weights (README's table is checked
-- against these by scripts/readme-test.sh)
SELECT field, level, m, u, round(weight::numeric, 2) AS weight, origin FROM crm.match_weights();

-- A stored person at an organisation
INSERT INTO crm.account (name, region_code) VALUES ('杭州明远医疗器械有限公司', '330100');
INSERT INTO crm.contact (account_id, name)
SELECT id, '李娜' FROM crm.account WHERE name = '杭州明远医疗器械有限公司';
INSERT INTO crm.contact_point (contact_id, kind, value)
SELECT id, 'phone', '+8613900001111' FROM crm.contact WHERE name = '李娜';

CREATE VIEW weights_view AS
SELECT l.external_id, l.outcome, round(l.match_score::numeric, 2) AS score,
       r.evidence -> 'phone' AS phone
  FROM crm.lead l LEFT JOIN crm.match_review r ON r.lead_id = l.id AND r.entity = 'contact';

-- The same name at the same organisation with a second phone: merged
-- with the shipped weights (-2.74 + 8.68 + 6.41 = 12.35)
SELECT outcome, round(match_score::numeric, 2) AS score FROM crm.ingest('website', '{"id": "mw1", "name": "李娜",
  "company": "杭州明远医疗器械有限公司", "phone": "13900002222", "submitted_at": "2026-11-20"}');

-- The steward holds that people rarely keep two numbers: m of a phone
-- that agrees goes up, so one that does not costs more
INSERT INTO crm.match_weight (field, level, m, u, note)
VALUES ('phone', 'agree', 0.95, 1e-4, 'our customers give one mobile number');
SELECT field, level, m, u, round(weight::numeric, 2) AS weight, origin
  FROM crm.match_weights() WHERE field = 'phone';

-- ... in force at once for a single call and for a bulk statement alike
SELECT outcome, round(match_score::numeric, 2) AS score FROM crm.ingest('website', '{"id": "mw2", "name": "李娜",
  "company": "杭州明远医疗器械有限公司", "phone": "13900003333", "submitted_at": "2026-11-20"}');
INSERT INTO crm.lead_inbox (channel, payload) VALUES ('website', '{"id": "mw3", "name": "李娜",
  "company": "杭州明远医疗器械有限公司", "phone": "13900004444", "submitted_at": "2026-11-20"}');
SELECT * FROM weights_view WHERE external_id IN ('mw2', 'mw3') ORDER BY external_id;

-- A steward's row can be changed and deleted; the shipped one comes back
UPDATE crm.match_weight SET m = 0.9 WHERE field = 'phone' AND NOT shipped;
SELECT round(weight::numeric, 2) AS phone_disagree FROM crm.match_weights()
 WHERE field = 'phone' AND level = 'disagree';
DELETE FROM crm.match_weight WHERE NOT shipped;
SELECT outcome, round(match_score::numeric, 2) AS score FROM crm.ingest('website', '{"id": "mw4", "name": "李娜",
  "company": "杭州明远医疗器械有限公司", "phone": "13900005555", "submitted_at": "2026-11-20"}');

-- Refused: m or u outside (0, 1), a field or level the match does not
-- compare, levels leaving nothing to disagreement, shipped rows
SELECT s AS statement, o.state, o.error
  FROM unnest(ARRAY[
    $$INSERT INTO crm.match_weight (field, level, m, u) VALUES ('phone', 'agree', 0, 1e-4)$$,
    $$INSERT INTO crm.match_weight (field, level, m, u) VALUES ('phone', 'agree', 1, 1e-4)$$,
    $$INSERT INTO crm.match_weight (field, level, m, u) VALUES ('phone', 'agree', 0.9, 0)$$,
    $$INSERT INTO crm.match_weight (field, level, m, u) VALUES ('phone', 'agree', 0.9, 1.5)$$,
    $$INSERT INTO crm.match_weight (field, level, m, u) VALUES ('phone', 'agree', 'NaN', 1e-4)$$,
    $$INSERT INTO crm.match_weight (field, level, m, u) VALUES ('fax', 'agree', 0.9, 1e-4)$$,
    $$INSERT INTO crm.match_weight (field, level, m, u) VALUES ('phone', 'partial', 0.1, 1e-4)$$,
    $$INSERT INTO crm.match_weight (field, level, m, u) VALUES ('name', 'disagree', 0.01, 0.9)$$,
    $$INSERT INTO crm.match_weight (field, level, m, u) VALUES ('name', 'partial', 0.2, 0.005)$$,
    $$INSERT INTO crm.match_weight (field, level, m, u) VALUES ('account', 'agree', 0.5, 0.995)$$,
    $$UPDATE crm.match_weight SET m = 0.8 WHERE field = 'email'$$,
    $$DELETE FROM crm.match_weight WHERE field = 'email'$$,
    $$TRUNCATE crm.match_weight$$,
    $$INSERT INTO crm.match_weight (field, level, m, u, shipped) VALUES ('email', 'agree', 0.8, 1e-4, true)$$
  ]) s, pg_temp.outcome(s) o;
SELECT count(*) AS rows, bool_and(shipped) AS all_shipped FROM crm.match_weight;

\c :regression_database
DROP DATABASE crm_match_weights;
