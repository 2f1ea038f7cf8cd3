-- Lead times: special values, BC dates and times outside the window
-- (crm.lead_time_floor, crm.lead_time_max_ahead) are refused by
-- crm.ingest and quarantined by crm.lead_inbox; crm.lead holds direct
-- writes to a finite time; and the reports stay bounded whatever is stored.
TRUNCATE crm.lead, crm.lead_quarantine, crm.match_review, crm.merge_history,
         crm.contact_point, crm.contact, crm.account, crm.customer_code CASCADE;
SET timezone = 'Asia/Shanghai';
\pset null '∅'

-- A submission time through crm.ingest: accepted, or the error's SQLSTATE
-- and message.
CREATE FUNCTION pg_temp.ingest_at(submitted text, OUT accepted boolean, OUT state text, OUT error text)
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM crm.ingest('website', jsonb_build_object('name', '钟时', 'phone', '13100131000',
                                                     'submitted_at', submitted));
    accepted := true;
EXCEPTION WHEN OTHERS THEN
    accepted := false; state := SQLSTATE; error := SQLERRM;
END
$$;
\i sql/include/outcome.psql

------------------------------------------------------------------------
-- crm.ingest: every special value and edge, one at a time
------------------------------------------------------------------------
SELECT v AS submitted_at, r.*
  FROM unnest(ARRAY['-infinity', 'infinity', 'epoch', 'now', 'today', 'yesterday', 'tomorrow',
                    'Yesterday 10:00', '2026-11-20 allballs', '0044-03-15 BC', '99999-01-01',
                    '300000-01-01', '1999-12-31 23:59:59.999999', '946655999', '2026-13-45',
                    'garbage', '2000-01-01 00:00:00', '946656000', '2026-11-20T01:00:00Z']) v,
       LATERAL pg_temp.ingest_at(v) r;

-- The whole error: the field and value, the window, the settings
\set VERBOSITY default
SELECT crm.ingest('website', '{"name": "钟时", "submitted_at": "-infinity"}');
SELECT crm.ingest('website', '{"name": "钟时", "submitted_at": "0044-03-15 BC"}');
SELECT crm.ingest('website', '{"name": "钟时", "submitted_at": "2026-11-20 25:00"}');

-- Just inside and just outside the ceiling: now() plus a day, as text with
-- its offset and as epoch milliseconds
SELECT label, r.accepted, r.state
  FROM (VALUES ('a day ahead less a second', to_char(now() + interval '1 day' - interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS.USOF')),
               ('a day ahead exactly', to_char(now() + interval '1 day', 'YYYY-MM-DD"T"HH24:MI:SS.USOF')),
               ('a day ahead and a second', to_char(now() + interval '1 day 1 second', 'YYYY-MM-DD"T"HH24:MI:SS.USOF')),
               ('a day ahead less a second, epoch ms',
                (floor(extract(epoch FROM now() + interval '1 day') * 1000) - 1000)::bigint::text),
               ('a day ahead and a second, epoch ms',
                (floor(extract(epoch FROM now() + interval '1 day') * 1000) + 1000)::bigint::text)) t(label, v),
       LATERAL pg_temp.ingest_at(v) r;

------------------------------------------------------------------------
-- The settings move the window
------------------------------------------------------------------------
SHOW crm.lead_time_floor;
SHOW crm.lead_time_max_ahead;
SET crm.lead_time_floor = '1990-01-01';
SET crm.lead_time_max_ahead = '2d';
SELECT coalesce(label, v) AS submitted_at, r.*
  FROM (VALUES ('1999-12-31 23:59:59', NULL), ('1990-01-01', NULL), ('1989-12-31 23:59:59', NULL),
               (to_char(now() + interval '36 hours', 'YYYY-MM-DD"T"HH24:MI:SSOF'), 'now + 36 hours')) t(v, label),
       LATERAL pg_temp.ingest_at(v) r;
SET crm.lead_time_max_ahead = '36h';
SELECT crm.ingest('website', '{"name": "钟时", "submitted_at": "1989-12-31"}');
-- a floor without a zone is read in the lead's zone (here the business zone,
-- Asia/Shanghai), as lead times are, whatever the session's TimeZone
RESET crm.lead_time_floor;
SELECT (pg_temp.ingest_at('2000-01-01 00:00:00+08')).accepted AS midnight_shanghai_in_shanghai;
SET timezone = 'UTC';
SELECT (pg_temp.ingest_at('2000-01-01 00:00:00+08')).accepted AS midnight_shanghai_in_utc;
SET timezone = 'Asia/Shanghai';
-- settings that are not a window
SET crm.lead_time_floor = '1970-01-01';
SET crm.lead_time_floor = 'epoch';
SET crm.lead_time_floor = '2999-01-01';
SET crm.lead_time_floor = '01/02/2000 nonsense';
SET crm.lead_time_max_ahead = '1 day';
SET crm.lead_time_max_ahead = '400d';
SET crm.lead_time_max_ahead = '-1h';
SHOW crm.lead_time_floor;
RESET crm.lead_time_max_ahead;

------------------------------------------------------------------------
-- crm.lead_inbox: the same values are quarantined with their reason, the
-- good rows of the statement are ingested
------------------------------------------------------------------------
TRUNCATE crm.lead_quarantine;
INSERT INTO crm.lead_inbox (channel, payload)
SELECT 'website', jsonb_build_object('name', '钟时', 'phone', '13100131000', 'submitted_at', v)
  FROM unnest(ARRAY['-infinity', 'infinity', 'epoch', 'now', 'today', 'yesterday', 'tomorrow',
                    'Yesterday 10:00', '2026-11-20 allballs', '0044-03-15 BC', '99999-01-01',
                    '300000-01-01', '1999-12-31 23:59:59.999999', '946655999', '2026-13-45',
                    'garbage', '2000-01-01 00:00:00', '946656000', '2026-11-20T01:00:00Z']) v;
SELECT ingested, quarantined, duplicates, batch_id IS NOT NULL AS batched FROM crm.lead_inbox_counts();
SELECT payload ->> 'submitted_at' AS submitted_at, sqlstate, reason FROM crm.lead_quarantine ORDER BY id;
SELECT DISTINCT sqlstate, detail, context FROM crm.lead_quarantine ORDER BY sqlstate, detail;
SELECT created_at FROM crm.lead WHERE created_at < '2001-01-01' OR created_at = '2026-11-20 09:00+08' ORDER BY id;

------------------------------------------------------------------------
-- Direct writes to crm.lead: a CHECK keeps the time finite and after the
-- Unix epoch, a trigger keeps it below the moving ceiling
------------------------------------------------------------------------
SELECT v AS created_at, r.*
  FROM unnest(ARRAY['-infinity', 'infinity', 'epoch', '0044-03-15 BC', '4000-01-01', '2000-01-01']) v,
       LATERAL pg_temp.outcome(format(
           'INSERT INTO crm.lead (channel, source_label, payload, outcome, created_at) VALUES (%L, %L, %L, %L, %L)',
           'website', 'direct', '{}', 'new', v)) r;
SELECT r.* FROM pg_temp.outcome($$UPDATE crm.lead SET created_at = '-infinity' WHERE source_label = 'direct'$$) r;
SELECT r.* FROM pg_temp.outcome($$UPDATE crm.lead SET created_at = '2999-01-01' WHERE source_label = 'direct'$$) r;
-- an update that leaves the time alone, or moves it within bounds, is fine
UPDATE crm.lead SET created_at = created_at, notes = 'touched' WHERE source_label = 'direct';
UPDATE crm.lead SET created_at = '1999-06-01' WHERE source_label = 'direct';
SELECT created_at, notes FROM crm.lead WHERE source_label = 'direct';

------------------------------------------------------------------------
-- Reports stay bounded even with rows that got past the constraint (an old
-- dump, a write with the constraint and triggers off)
------------------------------------------------------------------------
INSERT INTO crm.team (code, name) VALUES ('lt_team', '时间组');
INSERT INTO crm.rep (login, name, team) VALUES ('lt_rep', '时间', 'lt_team');
BEGIN;
ALTER TABLE crm.lead DROP CONSTRAINT IF EXISTS lead_created_at_finite;
ALTER TABLE crm.lead DISABLE TRIGGER USER;
INSERT INTO crm.lead (channel, source_label, payload, outcome, created_at,
                      status, owner, team, assigned_at, first_response_at)
VALUES ('website', 'planted', '{}', 'new', '-infinity', 'new', NULL, NULL, NULL, NULL),
       ('website', 'planted', '{}', 'new', 'infinity', 'new', NULL, NULL, NULL, NULL),
       ('website', 'planted', '{}', 'new', '99999-01-01', 'new', NULL, NULL, NULL, NULL),
       ('website', 'planted', '{}', 'new', '2026-11-20', 'contacted', 'lt_rep', 'lt_team', '-infinity', 'infinity');
ALTER TABLE crm.lead ENABLE TRIGGER USER;
ALTER TABLE crm.lead ADD CONSTRAINT lead_created_at_finite
    CHECK (created_at > '1970-01-01 00:00:00+00' AND created_at < 'infinity') NOT VALID;
COMMIT;
-- bounded: an unbounded series would never end; a minute is room even
-- under valgrind (make valgrind-test), where the bounded one takes seconds
SET statement_timeout = '60s';
SELECT count(*) > 0 AS penetration_rates_finish FROM crm.penetration_rates;
SELECT grain, min(period_start) AS first_period, max(period_start) = date_trunc(grain, now())::date AS up_to_now
  FROM crm.penetration_rates GROUP BY grain ORDER BY grain;
SELECT week_start, rep, leads, contacted, median_response FROM crm.lead_timeliness WHERE rep = 'lt_rep';
RESET statement_timeout;
DELETE FROM crm.lead WHERE source_label = 'planted';
ALTER TABLE crm.lead VALIDATE CONSTRAINT lead_created_at_finite;

------------------------------------------------------------------------
-- Working time and calendars: infinite times are refused, ledgers bounded
------------------------------------------------------------------------
SELECT v AS t, r.*
  FROM unnest(ARRAY['-infinity', 'infinity']::timestamptz[]) v,
       LATERAL pg_temp.outcome(format('SELECT crm.add_working_time(%L, %L, %L)', 'cn_standard', v, '1 hour')) r;
SELECT crm.working_seconds_at('cn_standard', '-infinity') AS before_all,
       crm.working_seconds_at('cn_standard', 'infinity') = crm.working_seconds_at('cn_standard', '2041-01-01') AS whole_ledger;
SELECT label, r.*
  FROM (VALUES ('until infinity', '2020-01-01', 'infinity'), ('from -infinity', '-infinity', '2040-12-31'),
               ('two centuries', '1900-01-01', '2100-01-01'), ('a century', '1950-01-01', '2050-01-01')) t(label, f, u),
       LATERAL pg_temp.outcome(format('INSERT INTO crm.calendar (code, name, ledger_from, ledger_until) VALUES (%L, %L, %L, %L)',
                                      'lt_' || substr(md5(label), 1, 6), label, f, u)) r;
DELETE FROM crm.calendar WHERE code LIKE 'lt\_%';
DELETE FROM crm.rep WHERE login = 'lt_rep';
DELETE FROM crm.team WHERE code = 'lt_team';
