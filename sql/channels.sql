-- Lead channels: the shipped field maps on realistic payloads, and every
-- way a payload or a map can be wrong.
SET timezone = 'Asia/Shanghai';

SELECT code, source_label, shipped FROM crm.channel ORDER BY code;

-- Baidu SEM push: epoch seconds, solution name mapped to a product line
SELECT crm.lead_fields('baidu_sem', '{
  "clue_id": "BD20261120-00871", "name": "王伟", "mobile": "13800138000",
  "company": "杭州市第一人民医院", "region_code": "330100",
  "solution_name": "影像设备推广", "keyword": "CT 价格", "commit_time": 1795136400}');

-- WeChat menu click: nickname becomes the name, openid kept
SELECT crm.lead_fields('wechat_menu', '{
  "ToUserName": "gh_3a8f0c1e2b4d", "FromUserName": "oX7Yd5s2KqLm9PqR3tUvW8xYz0Ab",
  "CreateTime": 1795136400, "MsgType": "event", "Event": "CLICK",
  "EventKey": "MENU_DEMO", "MsgId": "24593120017", "nickname": "李娜🌸"}');

-- 金数据 webhook: nested entry, ISO time with zone
SELECT crm.lead_fields('jinshuju_form', '{
  "form": "Xy7a9b", "form_name": "设备试用申请",
  "entry": {"serial_number": 318, "field_1": "張偉", "field_2": "+86 139 0013 9000",
            "field_3": "Zhang.Wei@Example.com", "field_4": "浙江大学医学院附属第一医院",
            "field_5": "设备科主任", "field_6": "体外诊断",
            "created_at": "2026-11-20T01:00:00Z"}}');

-- Trade-show sheet: Chinese column names, local time
SELECT crm.lead_fields('trade_show', '{
  "row_id": "CMEF-A-0042", "姓名": "陈敏（女士）", "单位": "上海联影医疗科技股份有限公司",
  "职务": "采购经理", "手机": "１３７ ００１３ ７０００", "展会": "CMEF 2026 秋季",
  "签到时间": "2026-11-20 09:30"}');

-- 400 hotline: only a caller number
SELECT crm.lead_fields('hotline_400', '{
  "call_id": "C-20261120-5531", "caller": "0571-8888 6666",
  "call_start": "2026-11-20 10:05:12", "agent_notes": "咨询监护仪维保"}');

-- Website form, optional fields left out
SELECT crm.lead_fields('website', '{
  "id": 90211, "name": "Mr. David Chen", "email": "david.chen@example.com",
  "submitted_at": "2026-11-20T10:15:00+08:00"}');
-- epoch milliseconds, as some form tools send
SELECT crm.lead_fields('website', '{"name": "王芳", "phone": "13500135000", "submitted_at": 1795136400000}')
       ->> 'created_at' AS created_at;

-- Bad payloads: not an object, nobody identified, wrong types, missing paths,
-- bad times, unknown channel
SELECT crm.lead_fields('website', '[1, 2]');
SELECT crm.lead_fields('website', '"张伟"');
SELECT crm.lead_fields('website', '{"name": "", "company": "某公司", "submitted_at": "2026-11-20"}');
SELECT crm.lead_fields('website', '{"name": {"first": "伟"}, "submitted_at": "2026-11-20"}');
SELECT crm.lead_fields('website', '{"name": "张伟", "phone": ["138"], "submitted_at": "2026-11-20"}');
SELECT crm.lead_fields('website', '{"name": "张伟"}');
SELECT crm.lead_fields('jinshuju_form', '{"form": "Xy7a9b", "entry": {"serial_number": 1, "created_at": "2026-11-20"}}');
SELECT crm.lead_fields('website', '{"name": "张伟", "submitted_at": "yesterday afternoon"}');
SELECT crm.lead_fields('weibo', '{"name": "张伟"}');

-- Bad field maps are refused when the channel is saved
INSERT INTO crm.channel (code, source_label, field_map)
VALUES ('wechat_work', '企业微信', '{"person_name": "name", "mobile": "phone"}');
INSERT INTO crm.channel (code, source_label, field_map)
VALUES ('wechat_work', '企业微信', '{"person_name": "$.name[", "created_at": "ts"}');
INSERT INTO crm.channel (code, source_label, field_map)
VALUES ('wechat_work', '企业微信', '{"person_name": {"default": "x"}}');
INSERT INTO crm.channel (code, source_label, field_map)
VALUES ('wechat_work', '企业微信', '{"person_name": 42}');
INSERT INTO crm.channel (code, source_label, field_map)
VALUES ('wechat_work', '企业微信', '{"person_name": {"path": "$.name", "colour": "red"}}');
\set VERBOSITY terse
INSERT INTO crm.channel (code, source_label, field_map)
VALUES ('WeChat Work', '企业微信', '{"person_name": "name"}');
\set VERBOSITY default

-- A channel of one's own works at once; shipped channels are read-only
INSERT INTO crm.channel (code, source_label, field_map)
VALUES ('wechat_work', '企业微信', '{"person_name": "name", "phone": {"path": "$.mobile", "default": null}, "created_at": "ts"}');
SELECT crm.lead_fields('wechat_work', '{"name": "赵磊", "mobile": "13600136000", "ts": "2026-11-20 11:00"}');
UPDATE crm.channel SET source_label = '百度' WHERE code = 'baidu_sem';
DELETE FROM crm.channel WHERE code = 'website';
