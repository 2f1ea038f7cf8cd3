-- Bulk ingestion through crm.lead_inbox, the review queue, merge and
-- unmerge of contacts and accounts, and the scan for stored duplicates.
-- Start from no customers, whatever earlier suites left behind
TRUNCATE crm.lead, crm.lead_quarantine, crm.match_review, crm.merge_history,
         crm.contact_point, crm.contact, crm.account, crm.customer_code CASCADE;
SET timezone = 'Asia/Shanghai';
\pset null '∅'

-- One statement: good rows are ingested, duplicates inside it find each
-- other, bad rows are quarantined with their reason and counted.
INSERT INTO crm.lead_inbox (channel, payload) VALUES
  ('website', '{"id": "b1", "name": "赵磊", "company": "苏州精诚精密仪器有限公司", "phone": "13600136000", "submitted_at": "2026-11-20 09:00"}'),
  ('website', '[1, 2]'),
  ('website', '{"id": "b2", "name": "趙磊", "company": "精诚精密仪器（苏州）有限公司", "phone": "136-0013-6000", "email": "zhaolei@jc.cn", "submitted_at": "2026-11-20 09:05"}'),
  ('weibo', '{"name": "张伟"}'),
  ('website', NULL),
  ('hotline_400', '{"call_id": "h1", "caller": "0512 6666 8888", "customer_name": "赵磊", "customer_company": "精诚精密仪器", "call_start": "2026-11-20 10:00"}'),
  ('website', '{"id": "b3", "name": "钱芳", "company": "苏州精诚精密仪器有限公司", "email": "ZHAOLEI@JC.CN", "submitted_at": "2026-11-20 11:00"}'),
  ('website', '{"id": "b1", "name": "赵磊", "phone": "13600136000", "submitted_at": "2026-11-20 09:00"}');
SELECT ingested, quarantined, duplicates, batch_id IS NOT NULL AS batched FROM crm.lead_inbox_counts();
SELECT count(*) AS inbox_rows FROM crm.lead_inbox;
SELECT channel, sqlstate, reason, detail FROM crm.lead_quarantine ORDER BY id;
SELECT l.external_id, l.outcome, k.name AS contact, a.name AS account
  FROM crm.lead l LEFT JOIN crm.contact k ON k.id = l.contact_id
  LEFT JOIN crm.account a ON a.id = l.account_id ORDER BY l.id;
SELECT count(*) AS accounts FROM crm.account;

-- COPY works the same way
COPY crm.lead_inbox (channel, payload) FROM stdin;
website	{"id": "c1", "name": "孙丽", "phone": "13300133000", "submitted_at": "2026-11-20"}
website	{"id": "c2", "name": "孫麗（女士）", "phone": "+86 133 0013 3000", "submitted_at": "2026-11-20"}
website	{"id": "c3"}
\.
SELECT ingested, quarantined, duplicates, batch_id IS NOT NULL AS batched FROM crm.lead_inbox_counts();
SELECT count(DISTINCT contact_id) AS contacts_for_c1_c2 FROM crm.lead WHERE external_id IN ('c1', 'c2');

-- Review queue: the lead 钱芳 shares 赵磊's e-mail but not his name
SELECT r.id AS review_id, l.external_id, k.name AS candidate, r.red, r.status
  FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id
  JOIN crm.contact k ON k.id = r.candidate_id ORDER BY r.id;
-- no: she gets her own contact, with her e-mail
SELECT crm.review_reject(id) FROM crm.match_review WHERE status = 'open';
SELECT l.outcome, k.name FROM crm.lead l JOIN crm.contact k ON k.id = l.contact_id
 WHERE l.external_id = 'b3';
\set VERBOSITY terse
SELECT crm.review_reject(id) FROM crm.match_review;
\set VERBOSITY default
SELECT crm.review_accept(424242);

-- A review accepted: the lead is merged, its phone added
INSERT INTO crm.lead_inbox VALUES ('website',
  '{"id": "b4", "name": "赵雷", "company": "苏州精诚精密仪器有限公司", "phone": "13900001111", "submitted_at": "2026-11-21"}');
SELECT l.outcome, r.evidence->'name'->>'comparison' AS name
  FROM crm.lead l JOIN crm.match_review r ON r.lead_id = l.id WHERE l.external_id = 'b4';
SELECT crm.review_accept(r.id) FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id
 WHERE l.external_id = 'b4';
SELECT l.outcome, array_agg(p.value ORDER BY p.id) AS phones
  FROM crm.lead l JOIN crm.contact_point p ON p.contact_id = l.contact_id AND p.kind = 'phone'
 WHERE l.external_id = 'b4' GROUP BY l.outcome;

-- Unmerging that lead merge: the phone it added goes, it gets its own contact
SELECT crm.unmerge(h.id) FROM crm.merge_history h JOIN crm.lead l ON l.id = h.lead_id
 WHERE l.external_id = 'b4';
SELECT l.outcome, k.name, (SELECT array_agg(value) FROM crm.contact_point p WHERE p.contact_id = k.id) AS points
  FROM crm.lead l JOIN crm.contact k ON k.id = l.contact_id WHERE l.external_id = 'b4';
\set VERBOSITY terse
SELECT crm.unmerge(h.id) FROM crm.merge_history h JOIN crm.lead l ON l.id = h.lead_id
 WHERE l.external_id = 'b4';
\set VERBOSITY default

-- A name two stored people at two organisations share, and nothing else
-- to go on: the review offers both, and the reviewer attaches the lead to
-- the other one, whose organisation the lead then takes
INSERT INTO crm.account (name, region_code) VALUES ('杭州欧阳医疗器械有限公司', '330100'),
                                                 ('宁波欧阳机电有限公司', '330200');
INSERT INTO crm.contact (name, account_id)
SELECT '欧阳娜', id FROM crm.account WHERE name IN ('杭州欧阳医疗器械有限公司', '宁波欧阳机电有限公司');
INSERT INTO crm.lead_inbox VALUES ('website',
  '{"id": "b5", "name": "欧阳娜", "phone": "13700007777", "submitted_at": "2026-11-21"}');
SELECT r.id AS review_id, r.candidate_id AS provisional,
       (r.evidence->'alternatives'->0->>'contact_id')::bigint AS alternative
  FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id WHERE l.external_id = 'b5' \gset
SELECT l.outcome, l.contact_id = :provisional AS on_provisional, l.account_id AS account,
       jsonb_array_length(r.evidence->'alternatives') AS alternatives,
       (SELECT name FROM crm.contact WHERE id = :alternative) AS alternative_name
  FROM crm.lead l JOIN crm.match_review r ON r.lead_id = l.id WHERE l.external_id = 'b5';
-- a contact the review does not offer is refused, and nothing changes
DO $$
BEGIN
    PERFORM crm.review_accept(r.id, (SELECT min(id) FROM crm.contact WHERE name = '赵磊'))
       FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id WHERE l.external_id = 'b5';
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE NOTICE 'refused: %', regexp_replace(SQLERRM, '[0-9]+', 'N', 'g');
END
$$;
SELECT crm.review_accept(:review_id, :alternative);
SELECT l.outcome, l.contact_id = :alternative AS on_chosen, l.account_outcome,
       l.account_id = (SELECT account_id FROM crm.contact WHERE id = :alternative) AS on_chosen_account, r.status,
       r.candidate_id = :alternative AS review_names_chosen,
       (r.evidence->>'provisional_candidate')::bigint = :provisional AS provisional_kept,
       (SELECT array_agg(p.value) FROM crm.contact_point p WHERE p.contact_id = :alternative) AS chosen_phones,
       (SELECT count(*) FROM crm.contact_point p WHERE p.contact_id = :provisional) AS provisional_points
  FROM crm.lead l JOIN crm.match_review r ON r.lead_id = l.id WHERE l.external_id = 'b5';
\set VERBOSITY terse
SELECT crm.review_accept(NULL);
\set VERBOSITY default

-- A new person whose short company name fits several organisations: the
-- lead's new contact goes on none of them, and a review of its organisation
-- offers them all, one in the lead's province first.  上海 is not offered:
-- the lead's region rules it out.
INSERT INTO crm.account (name, region_code, owner) VALUES
  ('博远教育科技有限公司', NULL, NULL), ('杭州博远教育科技有限公司', '330100', NULL),
  ('宁波博远教育科技有限公司', '330200', 'wang.fang'), ('上海博远教育科技有限公司', '310100', NULL);
SELECT id AS hz FROM crm.account WHERE name = '杭州博远教育科技有限公司' \gset
SELECT id AS nb FROM crm.account WHERE name = '宁波博远教育科技有限公司' \gset
SELECT id AS sh FROM crm.account WHERE name = '上海博远教育科技有限公司' \gset
SELECT outcome, account_id FROM crm.ingest('baidu_sem', '{"clue_id": "BD-b6", "name": "陶然",
  "mobile": "13700008888", "company": "博远", "region_code": "330000", "commit_time": 1795136400}');
SELECT r.id AS account_review FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id
 WHERE l.external_id = 'BD-b6' \gset
SELECT r.entity, r.candidate_id = :hz AS candidate_in_province, r.evidence->'candidate'->>'region' AS region,
       jsonb_path_query_array(r.evidence, '$.alternatives[*].name') AS alternatives,
       jsonb_path_query_array(r.evidence, '$.alternatives[*].region') AS their_regions,
       jsonb_path_query_array(r.evidence, '$.alternatives[*].region_code') AS their_codes,
       jsonb_path_query_array(r.evidence, '$.alternatives[*].owner') AS their_owners
  FROM crm.match_review r WHERE r.id = :account_review;
-- a contact, an organisation it does not offer, and a contact review given
-- an organisation are refused, and nothing changes
DO $$
DECLARE
    r bigint := (SELECT r.id FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id
                  WHERE l.external_id = 'BD-b6');
BEGIN
    BEGIN
        PERFORM crm.review_accept(r, contact_id => 1);
    EXCEPTION WHEN invalid_parameter_value THEN
        RAISE NOTICE 'refused: %', regexp_replace(SQLERRM, '[0-9]+', 'N', 'g');
    END;
    BEGIN
        PERFORM crm.review_accept(r, account_id => (SELECT id FROM crm.account WHERE name = '上海博远教育科技有限公司'));
    EXCEPTION WHEN invalid_parameter_value THEN
        RAISE NOTICE 'refused: %', regexp_replace(SQLERRM, '[0-9]+', 'N', 'g');
    END;
END
$$;
INSERT INTO crm.lead_inbox VALUES ('website',
  '{"id": "b6c", "name": "孙芳", "email": "zhaolei@jc.cn", "submitted_at": "2026-11-21"}');
DO $$
BEGIN
    PERFORM crm.review_accept(r.id, account_id => 1)
       FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id WHERE l.external_id = 'b6c';
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE NOTICE 'refused: %', regexp_replace(SQLERRM, '[0-9]+', 'N', 'g');
END
$$;
SELECT l.external_id, r.entity, r.status, l.account_id FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id
 WHERE l.external_id IN ('BD-b6', 'b6c') ORDER BY 1;
-- the reviewer chooses 宁波: the lead and its contact go there, and the
-- contact, which had no owner, takes the organisation's
SELECT crm.review_accept(:account_review, account_id => :nb);
SELECT l.account_id = :nb AS lead_on_chosen, l.account_outcome, k.account_id = :nb AS contact_on_chosen,
       k.owner AS contact_owner,
       r.status, r.candidate_id = :nb AS review_names_chosen,
       (r.evidence->>'provisional_candidate')::bigint = :hz AS first_offer_kept
  FROM crm.lead l JOIN crm.contact k ON k.id = l.contact_id JOIN crm.match_review r ON r.lead_id = l.id
 WHERE l.external_id = 'BD-b6';

-- Offered organisations merged since: accepting one places the lead on the
-- organisation it was merged into
SELECT outcome FROM crm.ingest('baidu_sem', '{"clue_id": "BD-b7", "name": "韦华",
  "mobile": "13700008889", "company": "博远", "region_code": "330000", "commit_time": 1795136400}');
SELECT crm.merge_accounts(keep => :hz, drop => :nb) IS NOT NULL AS merged;
SELECT crm.review_accept(r.id, account_id => :nb)
  FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id WHERE l.external_id = 'BD-b7';
SELECT l.account_id = :hz AS lead_on_survivor, k.account_id = :hz AS contact_on_survivor
  FROM crm.lead l JOIN crm.contact k ON k.id = l.contact_id WHERE l.external_id = 'BD-b7';

-- A contact placed by hand before the review was decided: accepting another
-- organisation is refused, and the review stays open; rejecting it puts the
-- lead where its contact is, and makes no account
SELECT outcome FROM crm.ingest('website', '{"id": "b8", "name": "贺丹",
  "company": "博远", "phone": "13700008890", "submitted_at": "2026-11-21"}');
UPDATE crm.contact SET account_id = :sh
 WHERE id = (SELECT contact_id FROM crm.lead WHERE external_id = 'b8');
\set VERBOSITY terse
SELECT crm.review_accept(r.id) FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id
 WHERE l.external_id = 'b8';
\set VERBOSITY default
SELECT cardinality(crm.offered_accounts(r)) AS offered, r.status, l.account_id
  FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id WHERE l.external_id = 'b8';
SELECT count(*) AS accounts_before FROM crm.account \gset
SELECT crm.review_reject(r.id) FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id
 WHERE l.external_id = 'b8';
SELECT l.account_id = :sh AS lead_where_contact_is, r.status,
       (SELECT count(*) FROM crm.account) - :accounts_before AS accounts_made
  FROM crm.lead l JOIN crm.match_review r ON r.lead_id = l.id WHERE l.external_id = 'b8';

-- None of them: rejecting makes the organisation new, under the name the
-- lead gave, and that exact name finds it for the next lead
SELECT outcome FROM crm.ingest('website', '{"id": "b8n", "name": "贺敏",
  "company": "博远", "phone": "13700008892", "submitted_at": "2026-11-21"}');
SELECT crm.review_reject(r.id) FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id
 WHERE l.external_id = 'b8n';
SELECT a.name, a.region_code, l.account_outcome, k.account_id = a.id AS contact_on_it, r.status
  FROM crm.lead l JOIN crm.account a ON a.id = l.account_id JOIN crm.contact k ON k.id = l.contact_id
  JOIN crm.match_review r ON r.lead_id = l.id WHERE l.external_id = 'b8n';
SELECT outcome FROM crm.ingest('website', '{"id": "b9", "name": "顾晓", "company": "博远",
  "phone": "13700008891", "submitted_at": "2026-11-21"}');
SELECT a.name, l.account_outcome, EXISTS (SELECT FROM crm.match_review r WHERE r.lead_id = l.id) AS reviewed
  FROM crm.lead l JOIN crm.account a ON a.id = l.account_id WHERE l.external_id = 'b9';

-- A lead in contact review whose company name fits two organisations: its
-- organisation waits for the contact question.  Rejected, the lead is a new
-- person, and an account review of those organisations opens.
INSERT INTO crm.account (name, region_code) VALUES
  ('杭州天宇精密仪器有限公司', '330100'), ('苏州天宇精密仪器有限公司', '320500');
INSERT INTO crm.lead_inbox VALUES ('website',
  '{"id": "b10", "name": "冯娟", "company": "天宇", "email": "zhaolei@jc.cn", "submitted_at": "2026-11-21"}');
SELECT l.outcome, l.account_id, r.entity,
       jsonb_array_length(r.evidence->'account_review'->'alternatives') + 1 AS organisations_kept
  FROM crm.lead l JOIN crm.match_review r ON r.lead_id = l.id WHERE l.external_id = 'b10';
SELECT crm.review_reject(r.id) FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id
 WHERE l.external_id = 'b10';
SELECT l.outcome, r.entity, r.status,
       (SELECT array_agg(a.name ORDER BY a.id) FROM unnest(crm.offered_accounts(r)) o
          JOIN crm.account a ON a.id = o) AS offered
  FROM crm.lead l JOIN crm.match_review r ON r.lead_id = l.id WHERE l.external_id = 'b10' ORDER BY r.id;
SELECT crm.review_accept(r.id, account_id => (SELECT id FROM crm.account WHERE name = '苏州天宇精密仪器有限公司'))
  FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id
 WHERE l.external_id = 'b10' AND r.entity = 'account';
SELECT a.name, k.account_id = a.id AS contact_too
  FROM crm.lead l JOIN crm.account a ON a.id = l.account_id JOIN crm.contact k ON k.id = l.contact_id
 WHERE l.external_id = 'b10';

-- A stored person without an organisation, merged with a lead that names
-- an ambiguous one: the lead is merged, and an account review asks which
INSERT INTO crm.contact (name) VALUES ('蒋丽');
INSERT INTO crm.contact_point (contact_id, kind, value)
SELECT id, 'phone', '13700009999' FROM crm.contact WHERE name = '蒋丽';
SELECT outcome, account_id FROM crm.ingest('website', '{"id": "b11", "name": "蒋丽",
  "company": "天宇", "phone": "13700009999", "submitted_at": "2026-11-21"}');
SELECT r.entity, r.status, cardinality(crm.offered_accounts(r)) AS offered
  FROM crm.lead l JOIN crm.match_review r ON r.lead_id = l.id WHERE l.external_id = 'b11';

-- Duplicates already stored: two contacts share a phone (typed in by hand)
INSERT INTO crm.contact (name, title) VALUES ('周敏', '主任'), ('周敏（女士）', NULL), ('吴强', NULL);
INSERT INTO crm.contact_point (contact_id, kind, value)
SELECT id, 'phone', '13811112222' FROM crm.contact WHERE name IN ('周敏', '周敏（女士）');
INSERT INTO crm.contact_point (contact_id, kind, value)
SELECT id, 'email', 'zhoumin@example.com' FROM crm.contact WHERE name = '周敏（女士）';
INSERT INTO crm.account (name, region_code) VALUES ('苏州精诚精密仪器股份有限公司', '320500');
SELECT crm.scan_duplicates() AS pairs_queued;
SELECT crm.scan_duplicates() AS queued_again;
SELECT entity, name, red FROM crm.duplicate_clusters ORDER BY entity, cluster_id, member_id;

-- Bulk merge of the red clusters; codes stay resolvable
SELECT code AS zhou2_code FROM crm.contact WHERE name = '周敏（女士）' \gset
SELECT crm.merge_duplicates('contact') AS merged;
SELECT crm.resolve_code(:'zhou2_code') = code AS code_follows_merge FROM crm.contact WHERE name = '周敏';
SELECT k.name, p.kind, p.value, p.is_primary FROM crm.contact_point p
  JOIN crm.contact k ON k.id = p.contact_id WHERE k.name LIKE '周敏%' ORDER BY p.id;
SELECT crm.merge_duplicates('person');

-- ... and undone
SELECT crm.unmerge(max(id)) FROM crm.merge_history WHERE entity = 'contact';
SELECT crm.resolve_code(:'zhou2_code') = :'zhou2_code' AS code_is_its_own_again;
SELECT k.name, p.kind, p.value FROM crm.contact_point p
  JOIN crm.contact k ON k.id = p.contact_id WHERE k.name LIKE '周敏%' ORDER BY p.id;

-- Accounts: the unred pair is merged by hand, contacts follow, then undone
SELECT crm.merge_accounts(min(id), max(id)) AS merge_id
  FROM crm.account WHERE name LIKE '%精诚%' \gset
SELECT a.name, count(k.id) AS contacts FROM crm.account a LEFT JOIN crm.contact k ON k.account_id = a.id
 WHERE a.name LIKE '%精诚%' AND a.merged_into IS NULL GROUP BY a.name;
SELECT crm.merge_accounts(min(id), max(id)) FROM crm.account WHERE name LIKE '%精诚%';
SELECT crm.unmerge(:merge_id);
SELECT count(*) AS live_accounts FROM crm.account WHERE name LIKE '%精诚%' AND merged_into IS NULL;

-- Merging errors
SELECT crm.merge_contacts(id, id) FROM crm.contact LIMIT 1;
SELECT crm.merge_contacts(id, 999999) FROM crm.contact LIMIT 1;
SELECT crm.unmerge(999999);
