-- Who may meet a lead's milestones, and when: the lead's owner (an active
-- rep), its team's manager or director; never a typo, another rep, or a
-- time before the assignment or in the future.  Notes are anyone's.
\set calendar ms_always
\i sql/include/sales_org.psql
SET datestyle = 'ISO';
INSERT INTO crm.team (code, name, manager, director, calendar) VALUES
    ('key', '大客户部', 'mgr_key', 'dir_sales', 'ms_always');
INSERT INTO crm.rep (login, name, team) VALUES ('kim', '金敏', 'key');
INSERT INTO crm.assignment_rule (code, position, name, channels, team) VALUES
    ('web', 10, '官网', '{website}', 'east');
SELECT owner FROM crm.ingest('website', '{"id": "m1", "name": "孔明", "phone": "13905720001", "submitted_at": "2025-06-02"}');
SELECT owner FROM crm.ingest('website', '{"id": "m2", "name": "庞统", "phone": "13905720002", "submitted_at": "2025-06-02"}');
SELECT id AS m1 FROM crm.lead WHERE external_id = 'm1' \gset
SELECT id AS m2 FROM crm.lead WHERE external_id = 'm2' \gset
-- the assignment lies a minute back, so that "now" is after it
UPDATE crm.lead SET assigned_at = assigned_at - interval '1 minute';

-- what a statement was told: SQLSTATE, message, detail and hint, with
-- lead ids and times left out
CREATE FUNCTION try(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    msg text; detail text; hint text;
BEGIN
    EXECUTE statement;
    RETURN 'recorded';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ': ' || regexp_replace(regexp_replace(concat_ws(' | ', msg, nullif(detail, ''), nullif(hint, '')),
                                                             'lead [0-9]+', 'lead N', 'gi'),
                                              '[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]+\+08', 'T', 'g');
END
$$;
CREATE FUNCTION record(actor text, lead bigint, kind text, at timestamptz DEFAULT now()) RETURNS text
    LANGUAGE sql
RETURN try(format('INSERT INTO crm.lead_activity (lead_id, kind, body, next_step, next_step_at, actor, at)
                   VALUES (%s, %L, ''记录'', ''报价'', now() + interval ''1 day'', %L, %L)', lead, kind, actor, at));
CREATE VIEW progress AS
SELECT l.external_id, l.status, l.owner, l.first_response_at IS NOT NULL AS responded,
       (SELECT string_agg(t.milestone || ':' || t.owner || CASE WHEN t.met_at IS NOT NULL THEN ' met'
                                                               WHEN t.cancelled_at IS NOT NULL THEN ' cancelled'
                                                               ELSE ' open' END, ', ' ORDER BY t.id)
          FROM crm.sla_timer t WHERE t.lead_id = l.id) AS timers
  FROM crm.lead l ORDER BY l.id;
SELECT * FROM progress;

-- an actor no one knows: a typo
SELECT record('ann.wang', :m1, 'first_contact');
-- another rep of the team, and another team's manager
SELECT record('bob', :m1, 'first_contact');
SELECT record('mgr_key', :m1, 'first_contact');
-- back-dated before the assignment, and in the future
SELECT record('ann', :m1, 'first_contact', now() - interval '2 minutes');
SELECT record('ann', :m1, 'first_contact', now() + interval '1 hour');
-- one bad row refuses the whole statement
SELECT try(format('INSERT INTO crm.lead_activity (lead_id, kind, actor) VALUES (%s, %L, %L), (%s, %L, %L)',
                  :m1, 'first_contact', 'ann', :m2, 'first_contact', 'ann'));
SELECT * FROM progress;
-- the owner, at a time after the assignment
SELECT record('ann', :m1, 'first_contact', now() - interval '30 seconds');
-- the team's manager and director may record for the owner
SELECT record('mgr_east', :m1, 'needs_summary');
SELECT record('dir_sales', :m1, 'follow_up_plan');
SELECT * FROM progress;

-- an owner who left meets nothing any more
UPDATE crm.rep SET active = false WHERE login = 'bob';
SELECT record('bob', :m2, 'first_contact');
UPDATE crm.rep SET active = true WHERE login = 'bob';
-- a reassignment: the old owner's work no longer counts, the new owner's does
UPDATE crm.lead SET owner = 'ann', previous_owner = owner, assigned_at = now() - interval '1 minute' WHERE id = :m2;
SELECT record('bob', :m2, 'first_contact');
SELECT record('ann', :m2, 'first_contact');
SELECT * FROM progress;

-- notes are anyone's, on any lead, but not from the future; a minute of
-- clock skew is allowed
SELECT i.owner, l.status FROM crm.ingest('hotline_400', '{"call_id": "m3", "caller": "13905720003", "call_start": "2025-06-02 10:00"}') i
  JOIN crm.lead l ON l.id = i.lead_id;
SELECT record('service_desk', id, 'note') FROM crm.lead WHERE external_id = 'm3';
SELECT record('bob', :m1, 'note', now() - interval '1 year');
SELECT record('bob', :m1, 'note', clock_timestamp() + interval '30 seconds');
SELECT record('bob', :m1, 'note', clock_timestamp() + interval '2 minutes');
SELECT kind, actor FROM crm.lead_activity ORDER BY id;

-- times no one worked at: infinite, before 2000, a next step before the plan
SELECT regexp_replace(split_part(record('bob', :m1, 'note', '-infinity'), ' | ', 1), 'activity [0-9]+', 'activity N');
SELECT regexp_replace(split_part(record('bob', :m1, 'note', '1999-12-31 23:00+00'), ' | ', 1), 'activity [0-9]+', 'activity N');
SELECT regexp_replace(split_part(try(format('INSERT INTO crm.lead_activity (lead_id, kind, next_step, next_step_at, actor) VALUES (%s, %L, %L, %L, %L)',
                  :m1, 'note', '回访', '-infinity', 'bob')), ' | ', 1), 'activity [0-9]+', 'activity N');
SELECT regexp_replace(split_part(try(format('INSERT INTO crm.lead_activity (lead_id, kind, next_step, next_step_at, actor) VALUES (%s, %L, %L, %L, %L)',
                  :m1, 'note', '回访', '1900-01-01', 'bob')), ' | ', 1), 'activity [0-9]+', 'activity N');
-- an activity is a record: who did what and when cannot be rewritten (a
-- note turned into a first contact, a back-dated call, another actor) ...
SELECT regexp_replace(split_part(try(format('UPDATE crm.lead_activity SET kind = %L WHERE lead_id = %s AND kind = %L', 'first_contact', :m1, 'note')), ' | ', 1), 'activity [0-9]+', 'activity N');
SELECT regexp_replace(split_part(try(format('UPDATE crm.lead_activity SET at = at - interval %L WHERE lead_id = %s', '1 year', :m1)), ' | ', 1), 'activity [0-9]+', 'activity N');
SELECT regexp_replace(split_part(try(format('UPDATE crm.lead_activity SET actor = %L WHERE lead_id = %s', 'someone.else', :m1)), ' | ', 1), 'activity [0-9]+', 'activity N');
SELECT regexp_replace(split_part(try(format('UPDATE crm.lead_activity SET lead_id = %s WHERE lead_id = %s', :m2, :m1)), ' | ', 1), 'activity [0-9]+', 'activity N');
-- ... its text and next step can be corrected
SELECT regexp_replace(split_part(try(format('UPDATE crm.lead_activity SET body = %L, next_step_at = at + interval %L WHERE lead_id = %s AND kind = %L',
                  '记录（更正）', '2 days', :m1, 'follow_up_plan')), ' | ', 1), 'activity [0-9]+', 'activity N');
SELECT kind, actor, body FROM crm.lead_activity WHERE lead_id = :m1 ORDER BY id;
DROP VIEW progress;
DROP FUNCTION record(text, bigint, text, timestamptz);
DROP FUNCTION try(text);
