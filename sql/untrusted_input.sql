-- Input that used to make messages unreadable or wrong: a 20 MB value
-- quoted in full, a blank openid, NaN event points.
\i sql/include/untrusted_setup.psql

------------------------------------------------------------------------
-- Quoted values are cut after 200 characters, on a character boundary,
-- with an ellipsis and the length in bytes
------------------------------------------------------------------------
SELECT crm.quote_value('13900139000') AS short,
       crm.quote_value(repeat('王', 200)) = '"' || repeat('王', 200) || '"' AS two_hundred_whole,
       crm.quote_value(repeat('王', 201)) = '"' || repeat('王', 200) || '…" (603 bytes)' AS cut_on_a_character;

CREATE TEMP TABLE big AS SELECT repeat('9', 20 * 1024 * 1024) AS v;
-- a warning stored on the lead
SELECT (crm.ingest('website', jsonb_build_object('id', 'big-1', 'name', '钟大', 'phone', v,
                                                       'submitted_at', '2026-11-20'))).outcome FROM big;
SELECT length(w) AS warning_length, left(w, 20) AS starts, right(w, 45) AS ends
  FROM crm.lead l, unnest(l.warnings) w WHERE l.external_id = 'big-1';
-- errors from crm.ingest and the quarantine's reason
SELECT label, r.state, length(r.error) AS error_length, length(r.detail) AS detail_length
  FROM big, LATERAL (VALUES
        ('unusable phone, nobody else', format('SELECT crm.ingest(%L, %L)', 'website',
                                               jsonb_build_object('phone', v, 'name', ' ', 'submitted_at', '2026-11-20'))),
        ('unreadable time', format('SELECT crm.ingest(%L, %L)', 'website',
                                   jsonb_build_object('name', '钟大', 'submitted_at', v))),
        ('unknown channel', format('SELECT crm.ingest(%L, %L)', v, '{}')),
        ('unknown channel, lead_fields', format('SELECT crm.lead_fields(%L, %L)', v, '{}')),
        ('bad contact point', format('INSERT INTO crm.contact_point (contact_id, kind, value) VALUES ((SELECT min(id) FROM crm.contact), %L, %L)',
                                     'email', v))) t(label, statement),
       LATERAL pg_temp.outcome(t.statement) r;
INSERT INTO crm.lead_inbox (channel, payload)
SELECT 'website', jsonb_build_object('name', '钟大', 'submitted_at', v) FROM big
UNION ALL SELECT v, '{"name": "钟大"}' FROM big;
SELECT sqlstate, length(reason) AS reason_length, left(reason, 45) AS starts, right(reason, 25) AS ends
  FROM crm.lead_quarantine ORDER BY id;

------------------------------------------------------------------------
-- A blank openid counts as none, and the detail says so
------------------------------------------------------------------------
\set VERBOSITY default
SELECT crm.ingest('wechat_menu', '{"MsgId": "blank-1", "FromUserName": "   ", "CreateTime": 1795136400}');
SELECT crm.ingest('wechat_menu', '{"MsgId": "blank-2", "FromUserName": "  ", "phone": "12", "CreateTime": 1795136400}');
-- with something usable beside it, the lead is taken without an openid or a warning
SELECT (crm.ingest('wechat_menu', '{"MsgId": "blank-3", "FromUserName": " ", "phone": "13900139000",
                                    "CreateTime": 1795136400}')).outcome;
SELECT wechat_openid, warnings FROM crm.lead WHERE external_id = 'blank-3';

------------------------------------------------------------------------
-- crm.lead_score: event points must be a finite number, and within a
-- million of zero (a 0-100 score saturates long before)
------------------------------------------------------------------------
SELECT v AS event_points, r.accepted, r.state, r.error
  FROM unnest(ARRAY['NaN', 'Infinity', '-Infinity', '12.5', '-1e30', '1e6', '1000001']::real[]) v,
       LATERAL pg_temp.outcome(format('SELECT crm.lead_score(l, %L) FROM crm.lead l WHERE external_id = %L',
                                      v, 'blank-3')) r;
SELECT s.score, s.factors -> 'rules' -> 0 AS top_rule
  FROM crm.lead l, crm.lead_score(l, 12.5) s WHERE l.external_id = 'blank-3';

------------------------------------------------------------------------
-- Names and titles are at most 1 KB: a 60 MB company name is refused,
-- and quarantined in bulk, rather than stored on a new account
------------------------------------------------------------------------
SELECT label, r.state, r.error, r.detail
  FROM (VALUES ('company_name', jsonb_build_object('id', 'long-1', 'name', '王五', 'phone', '13900139001',
                                                   'company', repeat('有限公司', 5000000), 'submitted_at', '2026-11-20')),
               ('person_name', jsonb_build_object('id', 'long-2', 'name', repeat('王', 342), 'phone', '13900139002',
                                                  'submitted_at', '2026-11-20')),
               ('title', jsonb_build_object('id', 'long-3', 'name', '王六', 'phone', '13900139003',
                                            'title', repeat('x', 1025), 'submitted_at', '2026-11-20')))
       AS t(label, payload),
       LATERAL pg_temp.outcome(format('SELECT crm.ingest(%L, %L)', 'website', payload)) r;
-- 1 KB exactly is taken
SELECT (crm.ingest('website', jsonb_build_object('id', 'long-4', 'name', '王七', 'phone', '13900139004',
                                                 'title', repeat('x', 1024), 'submitted_at', '2026-11-20'))).outcome;
INSERT INTO crm.lead_inbox (channel, payload)
VALUES ('website', jsonb_build_object('id', 'long-5', 'name', '王八', 'phone', '13900139005',
                                      'company', repeat('有限公司', 100), 'submitted_at', '2026-11-20'));
SELECT sqlstate, reason FROM crm.lead_quarantine WHERE payload->>'id' = 'long-5';
