-- Lead ingestion: every shipped channel, the matching cases and hard
-- negatives, idempotent re-delivery, bad payloads, verified values.
-- Start from no customers, whatever earlier suites left behind
TRUNCATE crm.lead, crm.lead_quarantine, crm.match_review, crm.merge_history,
         crm.contact_point, crm.contact, crm.account, crm.customer_code,
         crm.assignment_rule, crm.rep, crm.team CASCADE;
SET timezone = 'Asia/Shanghai';
\pset null '∅'

-- The reps: a known customer's lead goes back to its owner
INSERT INTO crm.team (code, name) VALUES ('east', '华东销售');
INSERT INTO crm.rep (login, name, team) VALUES ('rep_hz', '杭州销售', 'east'), ('rep_sh', '上海销售', 'east');
INSERT INTO crm.assignment_rule (code, position, name, to_customer_owner, team)
VALUES ('customers_first', 1, '老客户回原负责人', true, 'east');

-- Known customers: an account with a credit code and a contact on it
INSERT INTO crm.account (name, uscc, region_code, owner)
VALUES ('杭州康泰医疗器械有限公司', '91110000600037341L', '330100', 'rep_hz'),
       ('上海康泰医疗器械有限公司', NULL, '310100', 'rep_sh');
SELECT crm.norm_uscc('91110000600037341L') IS NOT NULL AS fixture_uscc_valid;
INSERT INTO crm.contact (account_id, name, title, owner)
SELECT id, '王伟', '设备科主任', 'rep_hz' FROM crm.account WHERE region_code = '330100';
INSERT INTO crm.contact_point (contact_id, kind, value, is_primary, verified)
SELECT id, 'phone', '13800138000', true, true FROM crm.contact;
INSERT INTO crm.contact_point (contact_id, kind, value, is_primary)
SELECT id, 'email', 'wangwei@kangtai.cn', true FROM crm.contact;

CREATE VIEW lead_view AS
SELECT l.external_id, l.outcome, l.account_outcome, k.name AS contact, a.name AS account,
       round(l.match_score::numeric, 1) AS score, l.owner, l.warnings
  FROM crm.lead l LEFT JOIN crm.contact k ON k.id = l.contact_id
  LEFT JOIN crm.account a ON a.id = l.account_id;

-- Repeat visitors, spelled differently
-- second phone number, traditional characters, bracketed region
SELECT outcome, owner FROM crm.ingest('website', '{"id": "w1", "name": "王偉（先生）",
  "company": "康泰医疗器械（杭州）有限公司", "phone": "+86 139-0013-9000",
  "submitted_at": "2026-11-20T09:00:00+08:00"}');
-- homophone typo, full-width phone digits, short company name
SELECT outcome FROM crm.ingest('jinshuju_form', '{"form": "Xy7a9b", "entry": {"serial_number": 318,
  "field_1": "王玮", "field_2": "１３８ ００１３ ８０００", "field_4": "康泰",
  "created_at": "2026-11-20T02:00:00Z"}}');
-- phone and e-mail both match: the profile is updated, no new record
SELECT outcome FROM crm.ingest('trade_show', '{"row_id": "CMEF-A-0042", "姓名": "王伟",
  "单位": "杭州康泰医疗器械有限公司", "职务": "设备科科长", "手机": "13800138000",
  "邮箱": "WangWei@KangTai.cn", "签到时间": "2026-11-20 09:30"}');
-- WeChat: nickname and openid, phone known
SELECT outcome FROM crm.ingest('wechat_menu', '{"ToUserName": "gh_3a8f0c1e2b4d",
  "FromUserName": "oX7Yd5s2KqLm9PqR3tUvW8xYz0Ab", "CreateTime": 1795136400, "MsgType": "event",
  "Event": "CLICK", "EventKey": "MENU_DEMO", "MsgId": "24593120017", "nickname": "王伟",
  "phone": "13900139000"}');
-- the openid alone now finds him, whatever the nickname
SELECT outcome FROM crm.ingest('wechat_menu', '{"FromUserName": "oX7Yd5s2KqLm9PqR3tUvW8xYz0Ab",
  "CreateTime": 1795140000, "MsgId": "24593120099", "nickname": "🌊浪花"}');

-- Hard negatives
-- a namesake in the same city at another company: a new contact there
SELECT outcome FROM crm.ingest('baidu_sem', '{"clue_id": "BD-1", "name": "王伟",
  "mobile": "13500135000", "company": "杭州华信电子有限公司", "region_code": "330100",
  "solution_name": "监护设备推广", "commit_time": 1795136400}');
-- a new person at a known organisation: new contact, existing account and its owner
SELECT outcome, owner FROM crm.ingest('website', '{"id": "w2", "name": "李娜",
  "company": "杭州康泰医疗器械有限公司", "phone": "13700137000", "submitted_at": "2026-11-20"}');
-- a recycled phone number: same phone, another name and company: review, never a merge
SELECT outcome FROM crm.ingest('hotline_400', '{"call_id": "C-1", "caller": "138-0013-8000",
  "customer_name": "赵敏", "customer_company": "宁波海纳机械制造有限公司",
  "call_start": "2026-11-20 10:05:12"}');
-- the same company in another city is another account
SELECT outcome FROM crm.ingest('website', '{"id": "w3", "name": "陈杰",
  "company": "上海康泰医疗器械有限公司", "submitted_at": "2026-11-20"}');
-- a 400 call with only a number: a contact without a name
SELECT outcome FROM crm.ingest('hotline_400', '{"call_id": "C-2", "caller": "0571-8888 6666",
  "call_start": "2026-11-20 10:05:12"}');

SELECT * FROM lead_view ORDER BY external_id;

-- What the merges did: the profile filled and updated, one contact for 王伟
SELECT name, title, wechat_openid, account_id IS NOT NULL AS has_account
  FROM crm.contact ORDER BY id;
SELECT k.name, p.kind, p.value, p.is_primary, p.verified
  FROM crm.contact_point p JOIN crm.contact k ON k.id = p.contact_id ORDER BY p.id;
SELECT l.external_id, h.changes, jsonb_array_length(h.moved->'contact_point') AS points_added
  FROM crm.merge_history h JOIN crm.lead l ON l.id = h.lead_id ORDER BY h.id;
SELECT l.external_id, r.red, r.evidence->'name'->>'comparison' AS name,
       r.evidence->'phone'->>'comparison' AS phone, r.status
  FROM crm.match_review r JOIN crm.lead l ON l.id = r.lead_id ORDER BY r.id;

-- A webhook delivered twice is one lead: the stored one, outcome duplicate
-- (sql/resend.sql has the cases)
SELECT a.lead_id = l.id AS same_lead, a.contact_id = l.contact_id AS same_contact, a.outcome
  FROM crm.ingest('website', '{"id": "w2", "name": "李娜", "company": "杭州康泰医疗器械有限公司",
                   "phone": "13700137000", "submitted_at": "2026-11-20"}') a,
       crm.lead l
 WHERE l.external_id = 'w2';
SELECT count(*) AS leads_w2 FROM crm.lead WHERE external_id = 'w2';

-- A confirmed title is never replaced by a lead's
UPDATE crm.contact SET verified_fields = '{title}' WHERE name = '王伟' AND title IS NOT NULL;
SELECT outcome FROM crm.ingest('trade_show', '{"姓名": "王伟", "单位": "杭州康泰医疗器械有限公司",
  "职务": "实习生", "手机": "13800138000", "签到时间": "2026-11-21 09:30"}');
SELECT title FROM crm.contact WHERE name = '王伟' AND account_id IS NOT NULL ORDER BY id LIMIT 1;

-- Unusable values are kept as warnings; the lead is not lost
SELECT outcome FROM crm.ingest('website', '{"id": "w4", "name": "周杰", "phone": "12345",
  "email": "not-an-address", "credit_code": "91110000600037341X", "submitted_at": "2026-11-20"}');
SELECT warnings FROM crm.lead WHERE external_id = 'w4';

-- Bad payloads: an error that names the field and why, nothing stored
SELECT count(*) AS leads_before FROM crm.lead \gset
SELECT crm.ingest('website', '[1, 2]');
SELECT crm.ingest('website', '{"name": "", "company": "某公司", "submitted_at": "2026-11-20"}');
SELECT crm.ingest('website', '{"name": "(先生)", "phone": "123", "submitted_at": "2026-11-20"}');
SELECT crm.ingest('website', '{"name": {"first": "伟"}, "submitted_at": "2026-11-20"}');
SELECT crm.ingest('jinshuju_form', '{"entry": {"serial_number": 1, "created_at": "2026-11-20"}}');
SELECT crm.ingest('weibo', '{"name": "张伟"}');
SELECT crm.ingest('website', jsonb_build_object('id', repeat('x', 300), 'name', '张伟',
                                                'submitted_at', '2026-11-20'));
SELECT count(*) = :leads_before AS nothing_stored FROM crm.lead;
SELECT count(*) AS contacts FROM crm.contact;

-- The thresholds are GUCs, and must stay ordered
SHOW crm.match_merge_threshold;
SET crm.match_review_threshold = 20;
SELECT crm.ingest('website', '{"name": "王伟", "phone": "13800138000", "submitted_at": "2026-11-20"}');
RESET crm.match_review_threshold;
SET crm.no_such_setting = 1;
-- with a very high merge threshold the strongest match waits for review
SET crm.match_merge_threshold = 60;
SELECT outcome FROM crm.ingest('website', '{"name": "王伟", "phone": "13800138000",
  "email": "wangwei@kangtai.cn", "submitted_at": "2026-11-20"}');
RESET crm.match_merge_threshold;

-- A company name that fits several organisations, none of which the lead's
-- region or exact name singles out: no account is guessed, the lead's
-- warnings name them by code, and a review asks a person to choose
SELECT outcome FROM crm.ingest('website', '{"id": "w5", "name": "孙丽",
  "company": "康泰", "phone": "13600136000", "submitted_at": "2026-11-20"}');
-- with a region, the same short name is one of them: no warning
SELECT outcome FROM crm.ingest('baidu_sem', '{"clue_id": "BD-2", "name": "钱勇",
  "mobile": "13600136001", "company": "康泰", "region_code": "330100", "commit_time": 1795136400}');
INSERT INTO crm.account (name, region_code)
SELECT city || '瑞达医疗科技有限公司', code
  FROM (VALUES ('南京', '320100'), ('苏州', '320500'), ('无锡', '320200'), ('常州', '320400'),
               ('扬州', '321000'), ('徐州', '320300')) c (city, code);
SELECT outcome FROM crm.ingest('website', '{"id": "w6", "name": "周敏",
  "company": "瑞达", "phone": "13600136002", "submitted_at": "2026-11-20"}');
-- the codes listed are those organisations' (at most five, then "...")
SELECT l.external_id, l.outcome, l.account_outcome, a.name AS account,
       regexp_replace(w, '\(.*\)', '(codes)') AS warning,
       (SELECT count(*) FROM unnest(string_to_array(substring(w FROM '\((.*)\)'), ', ')) listed
         JOIN crm.account o ON o.code = listed
        WHERE o.name_key = crm.norm_company_name(l.company_name || '医疗器械')
           OR o.name_key = crm.norm_company_name(l.company_name || '医疗科技')) AS codes_listed
  FROM crm.lead l LEFT JOIN crm.account a ON a.id = l.account_id
  LEFT JOIN LATERAL unnest(l.warnings) w ON true
 WHERE l.external_id IN ('w5', 'BD-2', 'w6') ORDER BY l.external_id;
-- the review of the lead's organisation offers every one the name fits,
-- scores nothing and claims no shared identifier (sql/review.sql decides them)
SELECT l.external_id, r.entity, r.status, r.score, r.red, r.evidence->>'company_name' AS company,
       (r.evidence->>'organisations')::int AS organisations, cardinality(crm.offered_accounts(r)) AS offered,
       (SELECT count(*) FROM crm.account a
         WHERE a.id = ANY (crm.offered_accounts(r)) AND position(l.company_name IN a.name) > 0) AS offered_with_the_name
  FROM crm.lead l JOIN crm.match_review r ON r.lead_id = l.id
 WHERE l.external_id IN ('w5', 'BD-2', 'w6') ORDER BY l.external_id;
