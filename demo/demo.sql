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
\echo '== The sales floor: teams, reps, assignment rules =='
INSERT INTO crm.team (code, name, manager, director) VALUES
    ('east', '华东销售部', 'zhou.mgr', 'chen.dir'),
    ('key', '大客户部', 'wu.mgr', 'chen.dir');
INSERT INTO crm.rep (login, name, team, daily_capacity) VALUES
    ('liu.yang', '刘洋', 'east', 30), ('sun.li', '孙丽', 'east', 30), ('ma.jun', '马骏', 'east', 30),
    ('he.jing', '何静', 'key', 15), ('guo.tao', '郭涛', 'key', 15);
INSERT INTO crm.assignment_rule (code, position, name, to_customer_owner, product_lines, min_score, region_prefixes, team, strategy)
VALUES ('known_customers', 10, '老客户回原负责人', true, NULL, NULL, NULL, 'east', 'round_robin'),
       ('hot_imaging', 20, '影像设备高分线索给大客户部', false, '{imaging}', 60, NULL, 'key', 'least_loaded'),
       ('everyone_else', 30, '其余线索华东轮转', false, NULL, NULL, NULL, 'east', 'round_robin');
SELECT position, code, name, team, strategy FROM crm.assignment_rule ORDER BY position;

\echo
\echo '== Leads from every channel find their customer =='
SELECT l.channel, coalesce(l.payload->>'name', l.payload->>'姓名', l.payload->>'customer_name') AS lead,
       r.outcome, round(r.match_score::numeric, 1) AS match, r.customer_code, r.lead_score, r.owner
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
  FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id JOIN crm.contact k ON k.id = r.candidate_id
 WHERE r.entity = 'contact';

\echo
\echo '== A new person at "海纳": two organisations go by that name, a reviewer chooses =='
INSERT INTO crm.account (name, region_code) VALUES ('上海海纳机械制造有限公司', '310100');
SELECT outcome, account_id FROM crm.ingest('website', '{"id": "w-9002", "name": "陈静", "company": "海纳",
  "phone": "13600136000", "submitted_at": "2026-11-20T11:00:00+08:00"}');
SELECT l.person_name AS lead, l.company_name AS said, o.name AS offered, o.region_code
  FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id
  CROSS JOIN LATERAL unnest(crm.offered_accounts(r)) WITH ORDINALITY u(account_id, n)
  JOIN crm.account o ON o.id = u.account_id
 WHERE r.entity = 'account' ORDER BY u.n;
SELECT crm.review_accept(r.id, account_id => (SELECT id FROM crm.account WHERE name = '宁波海纳机械制造有限公司'))
  FROM crm.match_review r WHERE r.entity = 'account';
SELECT l.person_name AS lead, a.name AS account, k.account_id = a.id AS contact_too
  FROM crm.lead l JOIN crm.account a ON a.id = l.account_id JOIN crm.contact k ON k.id = l.contact_id
 WHERE l.external_id = 'w-9002';

\echo
\echo '== Every lead is scored, explained and assigned at once =='
SELECT l.external_id, l.status, l.score, l.score_factors->'rules'->0->>'pattern' AS top_rule,
       l.owner, l.team, l.waiting_reason
  FROM crm.lead l ORDER BY l.id;

\echo
\echo '== Four weeks of history: two weeks before go-live, two after =='
-- Before: 42% of leads waited over 72 hours for an owner.  After: minutes.
-- The closed ones teach the predictive score.
INSERT INTO crm.lead (channel, source_label, payload, outcome, status, score, owner, team,
                      title, company_name, email, created_at, assigned_at, first_response_at)
SELECT c.code, c.source_label, '{}', 'new',
       CASE WHEN g % 11 < (CASE c.code WHEN 'hotline_400' THEN 6 WHEN 'trade_show' THEN 5 ELSE 2 END)
            THEN 'qualified' ELSE 'disqualified' END,
       40 + g % 50, (ARRAY['liu.yang', 'sun.li', 'ma.jun'])[g % 3 + 1], 'east',
       (ARRAY['设备科主任', '采购经理', '工程师', NULL])[g % 4 + 1],
       CASE WHEN g % 5 > 0 THEN '客户' || g || '有限公司' END,
       CASE WHEN g % 3 = 0 THEN 'c' || g || '@example.cn' END,
       t.created, t.created + t.wait, t.created + t.wait + interval '20 minutes'
  FROM generate_series(1, 1400) g
  JOIN crm.channel c ON c.code = (ARRAY['baidu_sem', 'wechat_menu', 'jinshuju_form', 'trade_show',
                                        'hotline_400', 'website'])[g % 6 + 1]
 CROSS JOIN LATERAL (SELECT now() - interval '28 days' + (g * interval '28 days' / 1400) AS created) d
 CROSS JOIN LATERAL (SELECT d.created,
        CASE WHEN d.created < now() - interval '14 days'
             THEN CASE WHEN g % 100 < 42 THEN interval '80 hours' ELSE interval '5 hours' END
             ELSE CASE WHEN g % 100 < 2 THEN interval '30 hours' ELSE interval '4 minutes' END
        END AS wait) t;
SELECT feature, won, lost FROM crm.win_stats
 WHERE feature IN ('*', 'channel=hotline_400', 'channel=wechat_menu') ORDER BY feature;
SELECT outcome, lead_score, owner
  FROM crm.ingest('hotline_400', '{"call_id": "C-6001", "caller": "13600136000", "customer_name": "钱进",
                   "customer_company": "温州瑞康医疗器械有限公司", "call_start": "2026-11-23 09:15"}');
SELECT round(win_probability::numeric, 2) AS win_probability,
       jsonb_path_query_array(score_factors, '$.predictive[*].factor') AS predictive_factors
  FROM crm.lead WHERE external_id = 'C-6001';

\echo
\echo '== An SLA breach: the sweep flags the lead, tells the owner, escalates =='
UPDATE crm.sla_timer t SET due_at = now() - interval '1 hour'
  FROM crm.lead l WHERE l.id = t.lead_id AND l.external_id = 'C-6001' AND t.milestone = 'first_contact';
UPDATE crm.sla_wakeup w SET fire_at = t.due_at
  FROM crm.sla_timer t JOIN crm.lead l ON l.id = t.lead_id
 WHERE t.id = w.timer_id AND l.external_id = 'C-6001' AND t.milestone = 'first_contact';
SELECT * FROM crm.run_timeouts();
SELECT topic, recipient, payload->>'level' AS level, payload->'leads' AS leads FROM crm.outbox ORDER BY id;
SELECT l.external_id, s.red, s.breaches FROM crm.lead_sla s JOIN crm.lead l ON l.id = s.lead_id WHERE s.red;

\echo
\echo '== Penetration rates, by week =='
SELECT period_start, metric, numerator, denominator, rate, target, meets_target
  FROM crm.penetration_rates WHERE grain = 'week' ORDER BY period_start, metric;
