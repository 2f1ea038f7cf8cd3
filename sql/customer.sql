-- The customer core: accounts, contacts, contact points and customer codes.

\set VERBOSITY default

INSERT INTO crm.account (name, uscc, region_code, owner)
VALUES ('杭州海康威视数字技术股份有限公司', '９１１１００００６０００３７３４１ｌ', '330100', 'li.lei')
RETURNING name, name_key, uscc, region_code, crm.customer_code_is_valid(code) AS code_valid;

-- A credit code is stored canonical and unique; a bad one is refused with the reason
INSERT INTO crm.account (name, uscc) VALUES ('海康威视（杭州）有限公司', '91110000600037341L');
INSERT INTO crm.account (name, uscc) VALUES ('某某科技有限公司', '91110000600037341X');
-- (terse: a CHECK violation's detail shows the row, with its timestamps)
\set VERBOSITY terse
INSERT INTO crm.account (name, region_code) VALUES ('某某科技有限公司', '990100');
INSERT INTO crm.account (name) VALUES ('有限公司');
INSERT INTO crm.account (name, owner) VALUES ('某某科技有限公司', '  ');
\set VERBOSITY default

INSERT INTO crm.contact (account_id, name, title, owner)
SELECT id, '張偉（經理）', '采购经理', 'li.lei' FROM crm.account
RETURNING name, name_key, name_pinyin, title;
\set VERBOSITY terse
INSERT INTO crm.contact (name) VALUES ('(先生)');
\set VERBOSITY default

-- Contact points are stored normalised; the same number twice is one row
INSERT INTO crm.contact_point (contact_id, kind, value, is_primary)
SELECT id, 'phone', '138 0013 8000', true FROM crm.contact;
INSERT INTO crm.contact_point (contact_id, kind, value)
SELECT id, 'phone', '0571-8888 6666 转 8021' FROM crm.contact;
INSERT INTO crm.contact_point (contact_id, kind, value)
SELECT id, 'email', ' Zhang.Wei@HikVision.COM ' FROM crm.contact;
SELECT kind, value, is_primary FROM crm.contact_point ORDER BY id;

INSERT INTO crm.contact_point (contact_id, kind, value)
SELECT id, 'phone', '+86-138-0013-8000' FROM crm.contact;
INSERT INTO crm.contact_point (contact_id, kind, value)
SELECT id, 'phone', '12345' FROM crm.contact;
INSERT INTO crm.contact_point (contact_id, kind, value)
SELECT id, 'email', 'not an address' FROM crm.contact;
\set VERBOSITY terse
INSERT INTO crm.contact_point (contact_id, kind, value)
SELECT id, 'wechat', 'wxid_123' FROM crm.contact;
UPDATE crm.contact_point SET value = '１３９ ００１３ ９０００' WHERE value = '+8613800138000'
RETURNING value;
-- the CHECK constraint holds even if the trigger is bypassed
ALTER TABLE crm.contact_point DISABLE TRIGGER contact_point_normalize;
INSERT INTO crm.contact_point (contact_id, kind, value)
SELECT id, 'phone', '139 0013 9000' FROM crm.contact;
\set VERBOSITY default
ALTER TABLE crm.contact_point ENABLE TRIGGER contact_point_normalize;
-- a second primary phone is refused
INSERT INTO crm.contact_point (contact_id, kind, value, is_primary)
SELECT id, 'phone', '13700137000', true FROM crm.contact;

-- Customer codes: registered, unique across accounts and contacts, never changed
SELECT kind, count(*) FROM crm.customer_code GROUP BY kind ORDER BY kind;
SELECT (SELECT count(*) FROM crm.customer_code)
     = (SELECT count(DISTINCT code) FROM (SELECT code FROM crm.account UNION ALL
                                         SELECT code FROM crm.contact) c) AS registry_matches;
UPDATE crm.contact SET code = crm.customer_code_from_serial(999);
UPDATE crm.contact SET code = code, title = '采购总监' RETURNING title;
-- updated_at follows every change, even one that tries to set it
UPDATE crm.contact SET title = '采购总监', updated_at = '2000-01-01'
RETURNING updated_at > created_at AS touched, updated_at > '2020-01-01' AS not_backdated;
INSERT INTO crm.contact (code, name) SELECT code, '李四' FROM crm.account;
INSERT INTO crm.contact (code, name) VALUES (crm.customer_code_from_serial(424242), '李四');
-- The registry is written by crm only, so its code and kind never change:
-- the guard trusts a code this transaction issued for a kind without
-- looking it up again.
UPDATE crm.customer_code SET kind = 'account' WHERE code = (SELECT min(code) FROM crm.contact);
UPDATE crm.customer_code SET code = 'X' || code WHERE code = (SELECT min(code) FROM crm.account);
-- What the guard remembers of this transaction's codes proves nothing more
-- than the registry.  These transactions roll back, and the sequences they
-- advance are set back after them, so later tests' ids and codes stay as
-- they were.
SELECT (SELECT last_value FROM crm.customer_code_seq) AS code_serial,
       (SELECT last_value FROM crm.contact_id_seq) AS contact_serial,
       (SELECT last_value FROM crm.account_id_seq) AS account_serial \gset
BEGIN;
SELECT crm.issue_customer_code('contact') AS fresh_code \gset
INSERT INTO crm.contact (code, name) VALUES (:'fresh_code', '王五') RETURNING code = :'fresh_code' AS took_it;
SAVEPOINT used;
INSERT INTO crm.contact (code, name) VALUES (:'fresh_code', '赵六');                 -- used already
ROLLBACK TO used;
SELECT crm.issue_customer_code('contact') AS contact_code \gset
INSERT INTO crm.account (code, name) VALUES (:'contact_code', '某某科技有限公司');   -- issued for a contact
ROLLBACK;
BEGIN;
SAVEPOINT before_code;
SELECT crm.issue_customer_code('contact') AS lost_code \gset
ROLLBACK TO before_code;
INSERT INTO crm.contact (code, name) VALUES (:'lost_code', '王五');                  -- its issue was rolled back
ROLLBACK;
SELECT setval('crm.customer_code_seq', :code_serial) IS NOT NULL
   AND setval('crm.contact_id_seq', :contact_serial) IS NOT NULL
   AND setval('crm.account_id_seq', :account_serial) IS NOT NULL AS sequences_restored;

-- resolve_code tolerates case and spaces (merges: sql/trust.sql)
INSERT INTO crm.contact (name) VALUES ('张伟'), ('張偉');
SELECT crm.resolve_code(lower(' ' || (SELECT code FROM crm.contact WHERE name = '張偉') || ' '))
     = (SELECT code FROM crm.contact WHERE name = '張偉') AS unmerged_is_itself,
       crm.resolve_code('ZZZZZZZZ') AS never_issued;

-- registry rows are never deleted
DELETE FROM crm.customer_code WHERE code = (SELECT code FROM crm.contact WHERE name = '张伟');

-- Deleting a contact takes its contact points; its code is never reissued
DELETE FROM crm.contact WHERE name = '张伟' RETURNING name;
SELECT count(*) AS still_registered FROM crm.customer_code c
 WHERE NOT EXISTS (SELECT 1 FROM crm.contact t WHERE t.code = c.code)
   AND NOT EXISTS (SELECT 1 FROM crm.account a WHERE a.code = c.code);

-- pg_dump keeps the data of every table
SELECT c.relname
  FROM pg_extension e, unnest(e.extconfig) AS cfg(oid) JOIN pg_class c ON c.oid = cfg.oid
 WHERE e.extname = 'crm' ORDER BY 1;
