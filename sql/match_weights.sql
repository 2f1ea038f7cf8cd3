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

-- What a reviewer sees: each candidate's fields, levels and weights in
-- force, the score and what it gives against the thresholds
SELECT name, lead_contact, field, level, round(weight::numeric, 2) AS weight,
       round(score::numeric, 2) AS score, outcome
  FROM crm.explain_match((SELECT id FROM crm.lead WHERE external_id = 'mw2'));

-- A steward's row can be changed and deleted; the shipped one comes back
UPDATE crm.match_weight SET m = 0.9 WHERE field = 'phone' AND NOT shipped;
SELECT round(weight::numeric, 2) AS phone_disagree FROM crm.match_weights()
 WHERE field = 'phone' AND level = 'disagree';
DELETE FROM crm.match_weight WHERE NOT shipped;
SELECT outcome, round(match_score::numeric, 2) AS score FROM crm.ingest('website', '{"id": "mw4", "name": "李娜",
  "company": "杭州明远医疗器械有限公司", "phone": "13900005555", "submitted_at": "2026-11-20"}');

-- ... and with the shipped weights again, the same lead would merge
SELECT DISTINCT round(score::numeric, 2) AS score, outcome
  FROM crm.explain_match((SELECT id FROM crm.lead WHERE external_id = 'mw2'));
SELECT crm.explain_match(424242);

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

-- crm.scan_duplicates() compares as ingestion does.  Organisations: by
-- region division (330106, a district of Hangzhou, is in 330100), else by
-- the region their names give
SELECT a, b, crm.compare_regions(a, NULL, b, NULL) AS by_code
  FROM (VALUES ('330100', '330106'), ('330000', '330106'), ('330100', '310100')) v(a, b);
SELECT crm.compare_regions(NULL, '杭州', '330106', NULL) AS one_code,
       crm.compare_regions(NULL, '杭州', NULL, '杭州') AS by_name,
       crm.compare_regions(NULL, '杭州', NULL, '上海') AS other_name;
SELECT crm.compare_regions('3301', NULL, NULL, NULL);
INSERT INTO crm.account (name, region_code) VALUES
    ('明远医疗器械有限公司', '330106'),      -- Xihu district: the Hangzhou one
    ('明远医疗器械股份有限公司', '310100');  -- Shanghai: another company
-- a lead from Xihu district finds the Hangzhou organisations, not Shanghai's
SELECT outcome FROM crm.ingest('baidu_sem', '{"clue_id": "mw5", "name": "周涛", "company": "明远医疗器械",
  "region_code": "330106", "mobile": "13900006666", "commit_time": "2026-11-20 10:00:00"}');
SELECT l.account_id, cardinality(l.warnings) AS warnings, (SELECT array_agg(a.name ORDER BY a.id) FROM unnest(crm.offered_accounts(r)) o
                                    JOIN crm.account a ON a.id = o) AS offered
  FROM crm.lead l JOIN crm.match_review r ON r.lead_id = l.id WHERE l.external_id = 'mw5';

-- Contacts: each pair scored with the weights in force, queued from the
-- review threshold on, red when it shares an identifier and would merge
INSERT INTO crm.contact (name, account_id)
SELECT v.name, (SELECT id FROM crm.account WHERE name = v.account)
  FROM (VALUES ('高峰', '杭州明远医疗器械有限公司'), ('高峰（先生）', NULL), ('钱伟', '明远医疗器械股份有限公司'),
               ('孙丽', '杭州明远医疗器械有限公司'), ('孙丽', '杭州明远医疗器械有限公司')) v(name, account);
INSERT INTO crm.contact_point (contact_id, kind, value)
SELECT id, 'phone', '+8613911112222' FROM crm.contact WHERE name LIKE '高峰%' OR name = '钱伟';
INSERT INTO crm.contact_point (contact_id, kind, value)
SELECT k.id, 'email', v.email FROM crm.contact k
  JOIN (VALUES ('高峰', 'gaofeng@a.cn'), ('钱伟', 'qianwei@b.cn')) v(name, email) ON v.name = k.name;
SELECT crm.scan_duplicates() AS queued;
SELECT r.entity, coalesce(k1.name, a1.name) AS one, coalesce(k2.name, a2.name) AS other, r.red,
       round(r.score::numeric, 2) AS score, r.evidence -> 'shared' AS shared,
       coalesce(r.evidence #>> '{name,comparison}', r.evidence ->> 'region') AS name_or_region
  FROM crm.match_review r
  LEFT JOIN crm.contact k1 ON r.entity = 'contact' AND k1.id = r.candidate_id
  LEFT JOIN crm.contact k2 ON r.entity = 'contact' AND k2.id = r.other_id
  LEFT JOIN crm.account a1 ON r.entity = 'account' AND a1.id = r.candidate_id
  LEFT JOIN crm.account a2 ON r.entity = 'account' AND a2.id = r.other_id
 WHERE r.other_id IS NOT NULL ORDER BY r.entity, r.score DESC NULLS LAST, one, other;
-- 钱伟 shares 高峰's phone, but not his name, his e-mail nor his
-- organisation: scored below the review threshold, not queued
SELECT round(score::numeric, 2) AS score, outcome, shares_identifier
  FROM crm.compare_contacts(ARRAY(SELECT id FROM crm.contact WHERE name = '高峰'),
                            ARRAY(SELECT id FROM crm.contact WHERE name = '钱伟'));

\c :regression_database
DROP DATABASE crm_match_weights;
