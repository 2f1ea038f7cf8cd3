-- The business time zone: local payload times are read in the channel's
-- zone, else crm.business_time_zone(), never in the session's TimeZone;
-- every day, week and month bucket of the reports is the business zone's.
-- The same payloads and the same data give the same rows under UTC,
-- Asia/Shanghai and America/New_York.
TRUNCATE crm.lead, crm.lead_quarantine, crm.match_review, crm.merge_history,
         crm.contact_point, crm.contact, crm.account, crm.customer_code,
         crm.assignment_rule, crm.rep, crm.team, crm.settings CASCADE;
SET timezone = 'Asia/Shanghai';
\pset null '∅'

\i sql/include/outcome.psql

------------------------------------------------------------------------
-- The setting: one row at most, Asia/Shanghai without one
------------------------------------------------------------------------
SELECT crm.business_time_zone();
SELECT crm.set_business_time_zone('Europe/Berlin');
SELECT crm.business_time_zone(), count(*) AS rows FROM crm.settings;
SELECT crm.set_business_time_zone('Asia/Shanghai');
SELECT crm.business_time_zone(), count(*) AS rows FROM crm.settings;
-- only names from pg_timezone_names: not abbreviations, POSIX offsets or
-- another spelling
SELECT crm.set_business_time_zone('asia/shanghai');
SELECT crm.set_business_time_zone('UTC+8');
SELECT v AS zone, r.*
  FROM unnest(ARRAY['CST', 'UTC+8', '+08', 'Mars/Olympus', '', 'Etc/GMT-8', 'UTC']) v,
       LATERAL pg_temp.outcome(format('SELECT crm.set_business_time_zone(%L)', v)) r;
SELECT crm.set_business_time_zone(NULL);
SELECT r.* FROM pg_temp.outcome($$INSERT INTO crm.settings (singleton, time_zone) VALUES (false, 'UTC')$$) r;
DELETE FROM crm.settings;
SELECT crm.business_time_zone();

------------------------------------------------------------------------
-- Payload times: the same payload, the same instant, whatever the session
------------------------------------------------------------------------
INSERT INTO crm.channel (code, source_label, field_map, time_zone) VALUES
    ('tz_berlin', '柏林展会', '{"external_id": "id", "person_name": "name", "created_at": "at"}', 'Europe/Berlin'),
    ('tz_default', '默认', '{"external_id": "id", "person_name": "name", "created_at": "at"}', NULL);
-- a channel's zone is checked as the business zone is
SELECT r.* FROM pg_temp.outcome($$INSERT INTO crm.channel (code, source_label, field_map, time_zone)
                                  VALUES ('tz_bad', 'x', '{"person_name": "n"}', 'JST')$$) r;
SELECT r.* FROM pg_temp.outcome($$UPDATE crm.channel SET time_zone = 'Europe/berlin' WHERE code = 'tz_berlin'$$) r;

CREATE TEMP TABLE seen (session_zone text, channel text, payload_time text, created_at timestamptz, fields_time text);
-- The payload through crm.ingest and crm.lead_fields in a session of each
-- zone.
CREATE FUNCTION pg_temp.ingest_everywhere(n integer, chan text, t text) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    zone text;
    lead bigint;
BEGIN
    FOREACH zone IN ARRAY ARRAY['UTC', 'Asia/Shanghai', 'America/New_York'] LOOP
        PERFORM set_config('TimeZone', zone, true);
        SELECT i.lead_id INTO lead
          FROM crm.ingest(chan, jsonb_build_object('id', zone || '-' || n, 'name', '时区' || n, 'at', t)) i;
        INSERT INTO seen
        SELECT zone, chan, t, l.created_at,
               crm.lead_fields(chan, jsonb_build_object('id', 'x', 'name', 'x', 'at', t)) ->> 'created_at'
          FROM crm.lead l WHERE l.id = lead;
    END LOOP;
END
$$;
SELECT pg_temp.ingest_everywhere(1, 'tz_default', '2026-11-20 10:05');
SELECT pg_temp.ingest_everywhere(2, 'tz_berlin', '2026-11-20 10:05');
SELECT pg_temp.ingest_everywhere(3, 'tz_default', '2026-11-20T10:05:00-05:00');
SELECT pg_temp.ingest_everywhere(4, 'tz_berlin', '2026-11-20 10:05 Asia/Tokyo');
SELECT pg_temp.ingest_everywhere(5, 'tz_berlin', '1763604300');
SELECT pg_temp.ingest_everywhere(6, 'tz_berlin', '1763604300000');
SELECT pg_temp.ingest_everywhere(7, 'tz_default', '2026年11月20日 09:30');
SET timezone = 'UTC';
-- one instant per payload, one text per payload: the lead's zone's offset
SELECT channel, payload_time, count(DISTINCT created_at) AS instants, min(created_at) AS created_at_utc,
       count(DISTINCT fields_time) AS texts, min(fields_time) AS lead_fields_time
  FROM seen GROUP BY channel, payload_time ORDER BY min(created_at), channel;
-- the bulk path reads them the same way
SET timezone = 'America/New_York';
INSERT INTO crm.lead_inbox (channel, payload) VALUES
    ('tz_default', '{"id": "inbox-1", "name": "收件一", "at": "2026-11-20 10:05"}'),
    ('tz_berlin', '{"id": "inbox-2", "name": "收件二", "at": "2026-11-20 10:05"}');
SET timezone = 'UTC';
SELECT external_id, created_at FROM crm.lead WHERE external_id LIKE 'inbox-%' ORDER BY external_id;
-- crm.map_payload reads local times in the business zone, or the zone given
SELECT crm.map_payload('{"person_name": "n", "created_at": "t"}', '{"n": "x", "t": "2026-11-20 10:05"}') ->> 'created_at' AS business,
       crm.map_payload('{"person_name": "n", "created_at": "t"}', '{"n": "x", "t": "2026-11-20 10:05"}', 'America/New_York') ->> 'created_at' AS new_york;
SELECT crm.map_payload('{"person_name": "n"}', '{"n": "x"}', 'Mars/Olympus');
-- a new business zone moves the channels that follow it, not the others
SELECT crm.set_business_time_zone('Europe/London');
SELECT c.code, crm.lead_fields(c.code, '{"id": "x", "name": "x", "at": "2026-11-20 10:05"}') ->> 'created_at' AS created_at
  FROM crm.channel c WHERE c.code LIKE 'tz_%' ORDER BY 1;
DELETE FROM crm.settings;
-- the floor of the lead time window without a zone is read in the lead's
-- zone too: 2000-01-01 00:00 in Shanghai, whatever the session
SET timezone = 'UTC';
SELECT r.* FROM pg_temp.outcome($$SELECT crm.lead_fields('tz_default', '{"id": "x", "name": "x", "at": "2000-01-01 00:00:00"}')$$) r;
SELECT r.* FROM pg_temp.outcome($$SELECT crm.lead_fields('tz_default', '{"id": "x", "name": "x", "at": "1999-12-31 23:59:59"}')$$) r;
SET timezone = 'Asia/Shanghai';

------------------------------------------------------------------------
-- 年月日, epoch numbers, and what is refused
------------------------------------------------------------------------
SELECT v AS payload_time, r.accepted, r.state, r.error,
       CASE WHEN r.accepted THEN crm.lead_fields('tz_default', jsonb_build_object('id', 'x', 'name', 'x', 'at', v)) ->> 'created_at' END AS created_at
  FROM unnest(ARRAY['2026年11月20日 09:30', '2026年11月20日09:30:15', '2026年11月20日', '2026年1月2号',
                    '2026年11月20日 9时30分', '2026年11月20日 9点', '2026年11月20日 9时5分7秒',
                    '2026年11月20日 09:30+01', '2026年11月20日 下午3点', '2026年13月20日', '26年11月20日',
                    '2026年11月20日 9点半',
                    '1763604300', '1763604300000', '999999999', '94665600', '17636043000', '176360430000',
                    '20261120', '1763604300.5', '-1763604300']) v,
       LATERAL pg_temp.outcome(format('SELECT crm.lead_fields(%L, %L)', 'tz_default',
                                      jsonb_build_object('id', 'x', 'name', 'x', 'at', v))) r;
-- the whole error: the detail names the zone the time was read in
\set VERBOSITY default
SELECT crm.lead_fields('tz_berlin', '{"id": "x", "name": "x", "at": "2026年11月20日 下午3点"}');
\set VERBOSITY terse

------------------------------------------------------------------------
-- Payload time forms: a closed set, read the same whatever DateStyle and
-- timezone_abbreviations say; every other form refused (22007)
------------------------------------------------------------------------
CREATE TEMP TABLE reading (payload_time text, date_style text, abbreviations text, state text, created_at text);
CREATE FUNCTION pg_temp.read_everywhere(t text) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    style text;
    abbreviations text;
BEGIN
    FOREACH style IN ARRAY ARRAY['ISO, MDY', 'ISO, DMY', 'SQL, DMY', 'German'] LOOP
        FOREACH abbreviations IN ARRAY ARRAY['Default', 'Australia', 'India'] LOOP
            PERFORM set_config('DateStyle', style, true);
            PERFORM set_config('timezone_abbreviations', abbreviations, true);
            BEGIN
                INSERT INTO reading VALUES (t, style, abbreviations, NULL,
                    crm.lead_fields('tz_default', jsonb_build_object('id', 'x', 'name', 'x', 'at', t)) ->> 'created_at');
            EXCEPTION WHEN OTHERS THEN
                INSERT INTO reading VALUES (t, style, abbreviations, SQLSTATE, NULL);
            END;
        END LOOP;
    END LOOP;
END
$$;
SELECT count(*) AS payloads
  FROM unnest(ARRAY[
    -- accepted: ISO 8601 / RFC 3339, the year first with - / or ., 年月日
    -- (full-width too), epochs; white space around any of them
    '2026-11-20T09:30:00+08:00', '2026-11-20T01:30:00Z', '2026-11-20t01:30:00z', '2026-11-20T09:30:00+0800',
    '2026-11-20T09:30:00+08', '2026-11-20T09:30:00.25+08:00', '2026-11-20 09:30:00,5 +08:00',
    '2026-11-20 09:30', '2026/11/20 09:30', '2026.11.20 09:30:15', '2026/1/2', '2026-11-20 9:30', '20261120',
    '2026-11-20 10:30 Asia/Tokyo', '2026-11-20 09:30 Etc/GMT-8', '2026-11-20 01:30 UTC',
    '２０２６年１１月２０日 ９：３０', '２０２６年１１月５日', '２０２６－１１－２０　０９：３０', '２０２６年１１月２０日 ９时３０分',
    ' 1763604300 ', E'\t1763604300000\n', ' 2026-11-20 09:30 ', '　2026年11月20日 09:30　',
    -- refused: month- or day-first, abbreviations, POSIX offsets, Julian
    -- days, days of the year, words, a POSIX rule behind a zone name
    '05/11/2026 10:00', '11/05/2026', '05.11.2026', '05-11-2026', '26-11-20',
    '2026-11-20 10:00 EST', '2026-11-20 10:00 CST', '2026-11-20 10:00 IST', '2026-11-20 10:00 UTC+8',
    '2026-11-20 10:00 GMT-8', '2026-11-20 10:00 Asia/Tokyo+8', '2026-11-20 10:00 Mars/Olympus',
    'J2461380', '2026-324', '2026-11-20 10:00 PM', 'Nov 20 2026', '20 November 2026 10:00', '2026-11-20 10:00:00 +8',
    '2026-11-20T', '2026/11-20', '1763604300.5', '-1763604300', '1 763 604 300',
    -- refused as out of range (22008)
    '2026-11-31', '2026-02-29', '2026-11-20 24:00', '2026-11-20 10:60', '2026-11-20 10:00+16:00', '２０２６年１３月５日'
  ]) v, LATERAL pg_temp.read_everywhere(v) r;
-- one outcome per payload: the same instant, or the same SQLSTATE, under
-- all twelve settings
SELECT to_json(payload_time) AS payload, count(DISTINCT coalesce(created_at, state)) AS outcomes, min(state) AS state,
       min(created_at) AS created_at
  FROM reading GROUP BY payload_time ORDER BY min(state) NULLS FIRST, min(created_at), payload_time;
-- the whole error: the accepted forms, and why the others are refused
\set VERBOSITY default
SELECT crm.lead_fields('tz_default', '{"id": "x", "name": "x", "at": "2026-11-20 10:00 CST"}');
\set VERBOSITY terse
-- the floor is read the same way
SET crm.lead_time_floor = '01/02/2000';
SET crm.lead_time_floor = '2000/01/02';
SHOW crm.lead_time_floor;
RESET crm.lead_time_floor;

------------------------------------------------------------------------
-- Reports: days, weeks and months of the business zone
------------------------------------------------------------------------
TRUNCATE crm.lead CASCADE;
INSERT INTO crm.team (code, name, calendar) VALUES ('tz_team', '时区组', 'cn_standard');
INSERT INTO crm.rep (login, name, team) VALUES ('tz_rep', '时区', 'tz_team');
-- each lead sits near midnight of a day, a week or a month: in UTC or New
-- York it would fall on the other side
INSERT INTO crm.lead (channel, source_label, external_id, person_name, payload, outcome, status, owner, team,
                      created_at, assigned_at, first_response_at)
VALUES
    ('tz_default', '默认', 'r1', '甲', '{}', 'new', 'contacted', 'tz_rep', 'tz_team',
     '2026-11-20 07:30+08', '2026-11-20 08:00+08', '2026-11-20 09:10+08'),
    ('tz_default', '默认', 'r2', '乙', '{}', 'new', 'contacted', 'tz_rep', 'tz_team',
     '2026-11-20 12:30+08', '2026-11-22 10:00+08', '2026-11-23 09:40+08'),
    ('tz_default', '默认', 'r3', '丙', '{}', 'new', 'contacted', 'tz_rep', 'tz_team',
     '2026-11-23 05:00+08', '2026-11-23 06:00+08', '2026-11-23 09:30+08'),
    ('tz_default', '默认', 'r4', '丁', '{}', 'new', 'contacted', 'tz_rep', 'tz_team',
     '2026-12-01 06:00+08', '2026-12-01 09:00+08', '2026-12-01 09:20+08');
-- a breach counts in the week of its deadline: Monday 07:00 in Shanghai
INSERT INTO crm.sla_timer (lead_id, milestone, owner, team, started_at, due_at, breached_at, escalation)
SELECT id, 'first_contact', 'tz_rep', 'tz_team', assigned_at, '2026-11-23 07:00+08', '2026-11-23 07:00+08', 1
  FROM crm.lead WHERE external_id = 'r2';

-- Both reports, read in a session of each zone, all in one statement: now()
-- is the same for every zone.
CREATE TEMP TABLE report (view text, zone text, r jsonb);
CREATE FUNCTION pg_temp.read_reports(zone text) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('TimeZone', zone, true);
    INSERT INTO report SELECT 'penetration_rates', zone, to_jsonb(p) FROM crm.penetration_rates p;
    INSERT INTO report SELECT 'lead_timeliness', zone, to_jsonb(t) FROM crm.lead_timeliness t;
END
$$;
SELECT count(pg_temp.read_reports(z)) FROM unnest(ARRAY['UTC', 'Asia/Shanghai', 'America/New_York']) z;
-- every session sees the rows Shanghai sees, no more, no fewer
SELECT a.view, a.zone,
       count(*) FILTER (WHERE NOT EXISTS (SELECT FROM report b WHERE b.view = a.view AND b.zone = 'Asia/Shanghai' AND b.r = a.r)) AS rows_shanghai_lacks,
       (SELECT count(*) FROM report b WHERE b.view = a.view AND b.zone = 'Asia/Shanghai'
           AND NOT EXISTS (SELECT FROM report c WHERE c.view = a.view AND c.zone = a.zone AND c.r = b.r)) AS rows_it_lacks
  FROM report a GROUP BY a.view, a.zone ORDER BY 1, 2;
-- and those rows put each lead in its Shanghai day, week and month
SELECT r ->> 'grain' AS grain, r ->> 'period_start' AS period_start, r ->> 'numerator' AS numerator,
       r ->> 'denominator' AS denominator, r ->> 'rate' AS rate
  FROM report
 WHERE view = 'penetration_rates' AND zone = 'America/New_York' AND r ->> 'metric' = 'lead_assigned_24h'
   AND (r ->> 'denominator')::int > 0
 ORDER BY array_position(ARRAY['day', 'week', 'month'], r ->> 'grain'), r ->> 'period_start';
SELECT r ->> 'week_start' AS week_start, r ->> 'rep' AS rep, r ->> 'leads' AS leads, r ->> 'contacted' AS contacted,
       r ->> 'median_response' AS median_response, r ->> 'breaches' AS breaches
  FROM report WHERE view = 'lead_timeliness' AND zone = 'UTC' ORDER BY 1;
-- another business zone re-buckets at once: in London, r1 is on 19 November
SELECT crm.set_business_time_zone('Europe/London');
SELECT period_start, numerator, denominator FROM crm.penetration_rates
 WHERE grain = 'day' AND metric = 'lead_assigned_24h' AND denominator > 0 ORDER BY 1;
DELETE FROM crm.settings;
