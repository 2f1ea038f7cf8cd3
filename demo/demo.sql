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

\echo
\echo '== Leads from every channel find their customer =='
SELECT l.channel, coalesce(l.payload->>'name', l.payload->>'姓名', l.payload->>'customer_name') AS lead,
       r.outcome, round(r.match_score::numeric, 1) AS score, r.customer_code, r.owner
  FROM (VALUES
    ('website', '{"id": "w-9001", "name": "张伟（先生）", "company": "海康威视数字技术（杭州）有限公司",
                  "phone": "139 0013 9000", "submitted_at": "2026-11-20T09:00:00+08:00"}'::jsonb),
    ('trade_show', '{"row_id": "CMEF-A-0042", "姓名": "張偉", "单位": "海康威视", "手机": "13800138000",
                     "邮箱": "ZhangWei@Hikvision.com", "签到时间": "2026-11-20 09:30"}'),
    ('hotline_400', '{"call_id": "C-5532", "caller": "138-0013-8000", "customer_name": "赵敏",
                      "customer_company": "宁波海纳机械制造有限公司", "call_start": "2026-11-20 10:05"}'),
    ('baidu_sem', '{"clue_id": "BD-77", "name": "李娜", "mobile": "13700137000",
                    "company": "杭州海康威视数字技术股份有限公司", "commit_time": 1795136400}')
  ) AS l(channel, payload),
  LATERAL crm.ingest(l.channel, l.payload) r;

\echo
\echo '== A COPY with a bad row: the good rows go in, the bad one waits in quarantine =='
INSERT INTO crm.lead_inbox VALUES
  ('jinshuju_form', '{"entry": {"serial_number": 318, "field_1": "王芳", "field_2": "13500135000",
                               "field_4": "上海联影医疗科技股份有限公司", "created_at": "2026-11-20T02:00:00Z"}}'),
  ('jinshuju_form', '{"entry": {"serial_number": 319, "field_1": "王 芳", "field_2": "135-0013-5000",
                               "field_3": "wangfang@united-imaging.com", "created_at": "2026-11-20T02:05:00Z"}}'),
  ('website', '["not", "an", "object"]');
SELECT * FROM crm.lead_inbox_counts();
SELECT reason, detail FROM crm.lead_quarantine;

\echo
\echo '== The review queue: a phone now used by someone else =='
SELECT l.person_name AS lead, k.name AS candidate, r.red,
       r.evidence->'name'->>'comparison' AS name, r.evidence->'phone'->>'comparison' AS phone
  FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id JOIN crm.contact k ON k.id = r.candidate_id;
