-- scripts/dump-restore-busy.sql: a busy crm database for
-- scripts/dump-restore-test.sh.  Every table gets rows, and the SLA state is
-- in the middle of things: timers open, met, breached and escalated, leads
-- waiting for a rep, alarms open, messages pending, delivered and failed.
-- scripts/upgrade-test.sh loads it into a crm 1.0 catalog, so it uses only
-- the 1.0 surface; data for later areas goes into a file of its own.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET timezone = 'Asia/Shanghai';

-- a business time zone of our own (the same offset as the default, so that
-- nothing below moves): pg_dump keeps the row, CREATE EXTENSION adds none
SELECT crm.set_business_time_zone('Asia/Hong_Kong');

-- calendars: one of our own, always open, and a holiday on the shipped one
INSERT INTO crm.calendar (code, name) VALUES ('always', '全天候');
INSERT INTO crm.calendar_hours (calendar, isodow, opens, closes)
SELECT 'always', d, '00:00', '24:00' FROM generate_series(1, 7) d;
INSERT INTO crm.calendar_day (calendar, day, kind, note) VALUES
    ('cn_standard', '2030-10-01', 'holiday', '国庆'), ('always', '2030-10-02', 'holiday', '国庆');

-- a policy that sends an unanswered lead to another rep
INSERT INTO crm.sla_policy (code, name, reassign_on_breach) VALUES ('strict', '严格', true);
INSERT INTO crm.sla_step (policy, milestone, within) VALUES ('strict', 'first_contact', '5 minutes');

INSERT INTO crm.team (code, name, manager, director, calendar, sla_policy) VALUES
    ('east', '华东销售', 'mgr_east', 'dir_sales', 'always', 'standard'),
    ('key', '大客户部', 'mgr_key', 'dir_sales', 'always', 'strict'),
    ('south', '华南销售', 'mgr_south', 'dir_sales', 'always', 'standard');
INSERT INTO crm.rep (login, name, team, daily_capacity) VALUES
    ('ann', '安娜', 'east', NULL), ('bob', '鲍勃', 'east', NULL), ('cai', '蔡青', 'east', 40),
    ('kim', '金敏', 'key', NULL), ('lee', '李立', 'key', NULL),
    ('sun', '孙南', 'south', NULL);
-- the south team's only rep is away: its leads wait in state scored
INSERT INTO crm.rep_absence (rep, during, reason)
VALUES ('sun', daterange(current_date - 1, current_date + 30), '产假');

INSERT INTO crm.assignment_rule (code, position, name, to_customer_owner, team) VALUES
    ('known_customers', 10, '老客户回原负责人', true, 'east');
INSERT INTO crm.assignment_rule (code, position, name, product_lines, min_score, team, strategy) VALUES
    ('hot_imaging', 20, '影像设备高分线索', '{imaging}', 50, 'key', 'least_loaded');
INSERT INTO crm.assignment_rule (code, position, name, region_prefixes, team) VALUES
    ('east_china', 30, '华东', '{31,32,33}', 'east'),
    ('south_china', 40, '华南', '{44,45,46}', 'south');

INSERT INTO crm.score_rule (factor, pattern, points, half_life) VALUES
    ('title', '院长', 40, NULL), ('channel', 'expo_app', 7, NULL), ('product_line', 'imaging', 25, NULL),
    ('event', 'webinar', 5, '3 days');

-- a channel of our own: a trade-show mini program
INSERT INTO crm.channel (code, source_label, description, time_zone, field_map)
SELECT 'expo_app', '展会小程序', 'WeChat mini program at the booth', 'Asia/Urumqi',
       jsonb_build_object('external_id', 'ref', 'person_name', 'who') || jsonb_object_agg(
           f, jsonb_build_object('path', '$.' || k, 'default', NULL))
  FROM (VALUES ('phone', 'mobile'), ('email', 'mail'), ('company_name', 'org'), ('region_code', 'area'),
               ('product_line', 'line'), ('title', 'role')) m(f, k);

-- known customers with owners
INSERT INTO crm.account (name, uscc, region_code, owner) VALUES
    ('杭州康泰医疗器械有限公司', '91110000600037341L', '330100', 'ann'),
    ('宁波海纳机械制造有限公司', NULL, '330200', 'bob');
INSERT INTO crm.contact (account_id, name, title, owner)
SELECT id, '王伟', '设备科主任', owner FROM crm.account WHERE region_code = '330100';
INSERT INTO crm.contact_point (contact_id, kind, value, is_primary, verified)
SELECT id, 'phone', '13800138000', true, true FROM crm.contact;

-- leads one by one ...
SELECT count(*) FROM generate_series(1, 60) n,
       crm.ingest('expo_app', jsonb_build_object(
           'ref', 'one-' || n,
           'who', (ARRAY['张伟', '王芳', '李娜', '刘洋', '陈静', '杨磊'])[1 + n % 6] || n % 17,
           'mobile', '1390000' || lpad((n % 45)::text, 4, '0'),
           'org', (ARRAY['苏州精诚精密仪器有限公司', '精诚精密仪器（苏州）有限公司', '广州康宁医院',
                             '深圳迈瑞生物医疗电子股份有限公司', NULL])[1 + n % 5],
           'area', (ARRAY['320500', '330100', '440100', '310000'])[1 + n % 4],
           'line', CASE WHEN n % 7 = 0 THEN 'imaging' END,
           'role', (ARRAY['院长', '采购经理', '工程师', NULL])[1 + n % 4]));
-- ... and in bulk, with duplicates inside the statement and bad rows
INSERT INTO crm.lead_inbox (channel, payload)
SELECT 'expo_app', jsonb_build_object(
           'ref', 'bulk-' || n,
           'who', (ARRAY['赵磊', '趙磊', '钱芳', '孙丽', '孫麗（女士）'])[1 + n % 5],
           'mobile', CASE WHEN n % 3 > 0 THEN '1360000' || lpad((n % 30)::text, 4, '0') END,
           'mail', CASE WHEN n % 4 = 0 THEN 'buyer' || n % 9 || '@jc.cn' END,
           'org', (ARRAY['苏州精诚精密仪器有限公司', '杭州康泰医疗器械有限公司', NULL])[1 + n % 3],
           'area', (ARRAY['320500', '330100', '440300'])[1 + n % 3])
  FROM generate_series(1, 120) n
UNION ALL
VALUES ('expo_app', '[1, 2]'::jsonb), ('weibo', '{"name": "张伟"}'), ('expo_app', '{"ref": "x"}');
-- the unknown channel set up, and its quarantined row replayed
INSERT INTO crm.channel (code, source_label, field_map) VALUES ('weibo', '微博', '{"person_name": "name"}');
SELECT retried, ingested FROM crm.retry_quarantined(channel => 'weibo');

-- reviews decided both ways, stored duplicates merged, one merge undone
SELECT count(*) FROM (SELECT crm.review_accept(id) FROM crm.match_review
                       WHERE status = 'open' AND lead_id IS NOT NULL AND entity = 'contact'
                       ORDER BY id LIMIT 3) a;
SELECT count(*) FROM (SELECT crm.review_reject(id) FROM crm.match_review
                       WHERE status = 'open' AND lead_id IS NOT NULL AND entity = 'contact'
                       ORDER BY id LIMIT 3) r;
SELECT crm.scan_duplicates() > 0 AS pairs_found;
SELECT crm.merge_duplicates('contact') > 0 AS contacts_merged;
SELECT crm.merge_duplicates('account', false) >= 0 AS accounts_merged;
SELECT crm.unmerge(min(id)) FROM crm.merge_history WHERE dropped_id IS NOT NULL AND undone_at IS NULL;

-- owners at work: first contacts (met), summaries, notes
INSERT INTO crm.lead_activity (lead_id, kind, body, actor)
SELECT id, 'first_contact', '电话沟通', owner FROM crm.lead WHERE status = 'assigned' AND id % 3 = 0;
INSERT INTO crm.lead_activity (lead_id, kind, body, actor)
SELECT id, 'needs_summary', '关注 CT 配置', owner FROM crm.lead WHERE status = 'contacted' AND id % 2 = 0;
INSERT INTO crm.lead_activity (lead_id, kind, body) SELECT id, 'note', '备注' FROM crm.lead WHERE id % 11 = 0;
-- behaviour events re-score their leads
INSERT INTO crm.lead_event (lead_id, kind, detail)
SELECT id, (ARRAY['page_view', 'doc_download', 'webinar'])[1 + id % 3], '{"model": "CT-128"}'
  FROM crm.lead WHERE id % 5 = 0;
-- closed leads teach the predictive score
UPDATE crm.lead SET status = CASE WHEN id % 2 = 0 THEN 'qualified' ELSE 'disqualified' END
 WHERE status = 'contacted' AND id % 4 < 2;

-- deadlines pass: breaches, then the manager and the director for some;
-- the key team's policy hands unanswered leads to another rep.  Left
-- pending: wake-ups of every level, for the sweep after the restore.
UPDATE crm.sla_timer SET due_at = now() - interval '20 minutes' WHERE id % 2 = 0;
UPDATE crm.sla_wakeup w SET fire_at = t.due_at FROM crm.sla_timer t WHERE t.id = w.timer_id AND t.id % 2 = 0;
SELECT timers_fired > 0 AS breached FROM crm.run_timeouts();
UPDATE crm.sla_wakeup SET fire_at = now() - interval '1 minute' WHERE level = 2 AND timer_id % 4 = 0;
SELECT timers_fired > 0 AS escalated FROM crm.run_timeouts();
UPDATE crm.sla_wakeup SET fire_at = now() - interval '1 minute' WHERE level = 3 AND timer_id % 8 = 0;
SELECT timers_fired > 0 AS escalated_again FROM crm.run_timeouts();

-- leads left unscored, and leads stranded long enough to raise alarms
SET crm.score_on_ingest = off;
SELECT count(*) FROM generate_series(1, 5) n,
       crm.ingest('expo_app', jsonb_build_object('ref', 'late-' || n, 'who', '周洁' || n,
                                                 'mobile', '1391234' || lpad(n::text, 4, '0'), 'area', '440100'));
RESET crm.score_on_ingest;
UPDATE crm.lead SET status_changed_at = now() - interval '4 hours' WHERE status = 'scored' AND id % 2 = 0;
UPDATE crm.assignment_rule SET last_fired_at = now() - interval '3 hours' WHERE code = 'south_china';
SELECT alarms_open > 0 AS alarms FROM crm.run_timeouts(1);

-- the relays: some messages delivered, one failed
SELECT count(*) FROM crm.outbox_claim('relay-1', 5);
SELECT crm.outbox_ack(min(id), 'relay-1') FROM crm.outbox WHERE claimed_by = 'relay-1';
SELECT crm.outbox_nack(max(id), 'relay-1', 'webhook 502') FROM crm.outbox WHERE claimed_by = 'relay-1';

-- from here on the key team answers to the standard policy, so that the
-- next sweep, compared across the restore, hands no lead to another rep
UPDATE crm.team SET sla_policy = 'standard' WHERE code = 'key';

-- a migration batch, committed: a contact, a merge, a rejected row (1.1;
-- the upgrade test fills a 1.0 database with this file, which has none)
DO $$
DECLARE
    batch bigint;
BEGIN
    IF to_regclass('crm.import_batch') IS NULL THEN
        RETURN;
    END IF;
    batch := crm.import_begin('contacts', 'busy');
    INSERT INTO crm.import_row (batch_id, payload) VALUES
        (batch, '{"person_name": "迁移客户", "phone": "13609990001", "company_name": "宁波迁移样本有限公司"}'),
        (batch, '{"person_name": "迁移客户", "phone": "136 0999 0001", "email": "qy@sample.cn"}'),
        (batch, '{"company_name": "只有单位"}');
    COMMIT;
    CALL crm.import_commit(batch, 2);
END
$$;
