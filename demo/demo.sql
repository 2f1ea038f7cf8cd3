-- demo/demo.sql: what crm does, on a realistic handful of customers.
\set QUIET on
\pset footer off
\echo
\echo '== crm is installed =='
SELECT extname, extversion FROM pg_extension WHERE extname IN ('crm', 'pg_cron') ORDER BY 1;

\echo
\echo '== One customer, five spellings: the keys agree =='
SELECT raw_name, crm.norm_person_name(raw_name) AS name_key, crm.pinyin(crm.norm_person_name(raw_name)) AS pinyin,
       raw_phone, crm.norm_phone(raw_phone) AS phone
  FROM (VALUES ('张伟（先生）', '138 0013 8000'),
               ('張偉', '+86-138-0013-8000'),
               ('张伟经理', '０１３８００１３８０００'),
               ('张 伟', '0086 13800138000'),
               ('张伟😀', '8613800138000')) AS t(raw_name, raw_phone);

\echo
\echo '== Company names: registered, short, bracketed, English =='
SELECT raw, crm.norm_company_name(raw) AS core_name
  FROM (VALUES ('杭州海康威视数字技术股份有限公司'),
               ('海康威视数字技术（杭州）有限公司'),
               ('Hangzhou Hikvision Digital Technology Co., Ltd.'),
               ('杭州银行股份有限公司'),
               ('杭州市第一人民医院')) AS t(raw);

\echo
\echo '== Pinyin that reads right where it matters =='
SELECT w AS text, crm.pinyin(w) AS pinyin
  FROM unnest(ARRAY['长沙', '重庆', '单伟', '曾小贤', '解晓东', '区志明', '吕布']) AS w;

\echo
\echo '== Validators =='
SELECT crm.uscc_is_valid('91110000600037341L') AS uscc_ok,
       crm.uscc_is_valid('91110000600037341X') AS uscc_bad_check,
       crm.resident_id_is_valid('11010519491231002X') AS id_ok,
       crm.resident_id_is_valid('110105194902300020') AS id_feb_30;

\echo
\echo '== The customer core keeps bad rows out =='
INSERT INTO crm.account (name, uscc, region_code, owner)
VALUES ('杭州海康威视数字技术股份有限公司', '９１１１００００６０００３７３４１ｌ', '330100', 'li.lei')
RETURNING code, name_key, uscc;
INSERT INTO crm.contact (account_id, name, title, owner)
SELECT id, '張偉（經理）', '采购经理', 'li.lei' FROM crm.account
RETURNING code, name_key, name_pinyin;
INSERT INTO crm.contact_point (contact_id, kind, value, is_primary)
SELECT id, 'phone', '＋８６ １３８-００１３-８０００', true FROM crm.contact
RETURNING kind, value;
\set ON_ERROR_STOP 0
INSERT INTO crm.contact_point (contact_id, kind, value)
SELECT id, 'phone', '138-0013-800' FROM crm.contact;
INSERT INTO crm.account (name, uscc) VALUES ('某某科技有限公司', '91110000600037341X');
UPDATE crm.contact SET code = 'AAAAAAAA';
\set ON_ERROR_STOP 1

\echo
\echo '== Customer codes resolve =='
SELECT code, crm.customer_code_is_valid(code) AS valid, crm.resolve_code(lower(code)) AS resolved
  FROM crm.contact;

\echo
\echo '== A 400-hotline call and a WeChat menu click become lead fields =='
SET timezone = 'Asia/Shanghai';
SELECT key, value
  FROM jsonb_each_text(crm.lead_fields('hotline_400',
         '{"call_id": "C-20261120-5531", "caller": "0571-8888 6666",
           "call_start": "2026-11-20 10:05:12", "agent_notes": "咨询监护仪维保"}'));
SELECT key, value
  FROM jsonb_each_text(crm.lead_fields('wechat_menu',
         '{"FromUserName": "oX7Yd5s2KqLm9PqR3tUvW8xYz0Ab", "CreateTime": 1795136400,
           "MsgType": "event", "Event": "CLICK", "EventKey": "MENU_DEMO",
           "MsgId": "24593120017", "nickname": "李娜🌸"}'));
