-- SLA deadlines follow the team's calendar, and a later milestone is never
-- due before an earlier one.  The shipped SOP: first contact within 15
-- working minutes, a needs summary within 2 working hours, a follow-up plan
-- within 24 hours on the calendar clock.  Assigned on a Sunday morning,
-- the plan was due on Monday 07:42, before office hours and before the
-- first contact (09:15).
TRUNCATE crm.lead, crm.assignment_rule, crm.rep, crm.team CASCADE;
SET timezone = 'Asia/Shanghai';
\pset null '∅'

SELECT milestone, within, clock FROM crm.sla_step WHERE policy = 'standard' ORDER BY within;
INSERT INTO crm.team (code, name, calendar) VALUES ('office', '坐班组', 'cn_standard');

------------------------------------------------------------------------
-- Next working time: t when open, else the next opening
------------------------------------------------------------------------
SELECT t AS at, crm.next_working_time('cn_standard', t) AS next_working_time
  FROM unnest(ARRAY['2026-11-23 10:00+08', '2026-11-23 09:00+08', '2026-11-23 12:30+08', '2026-11-23 18:00+08',
                    '2026-11-21 15:00+08', '2026-11-22 07:42+08']::timestamptz[]) t;
SELECT crm.next_working_time('no_such_calendar', '2026-11-23 10:00+08');
SELECT crm.next_working_time('cn_standard', '2040-12-31 19:00+08');
-- Around openings and closings, to the microsecond: the ledger counts whole
-- seconds and its bound is rounded (1.1 compares it as a bigint, so that
-- the index finds the window); both functions agree with the windows
-- read plainly.  A closing time is not open; working time ends at one.
WITH t AS (
    SELECT b + d AS at
      FROM crm.calendar_window w
     CROSS JOIN unnest(ARRAY['-1 second', '-0.5 second', '-1 microsecond', '0', '1 microsecond', '0.5 second']::interval[]) d
     CROSS JOIN LATERAL (VALUES (w.opens), (w.closes)) b(b)
     WHERE w.calendar = 'cn_standard' AND w.opens >= '2026-11-20' AND w.opens < '2026-11-25'
)
SELECT count(*) AS instants,
       count(*) FILTER (WHERE crm.next_working_time('cn_standard', t.at)
                              IS DISTINCT FROM (SELECT min(greatest(w.opens, t.at)) FROM crm.calendar_window w
                                                 WHERE w.calendar = 'cn_standard' AND w.closes > t.at)) AS next_differs,
       count(*) FILTER (WHERE crm.add_working_time('cn_standard', t.at, '0.5 second')
                              IS DISTINCT FROM (SELECT greatest(w.opens + make_interval(secs => s.target - w.work_before), t.at)
                                                  FROM crm.calendar_window w,
                                                       (SELECT crm.working_seconds_at('cn_standard', t.at) + 0.5 AS target) s
                                                 WHERE w.calendar = 'cn_standard' AND w.work_after::numeric >= s.target
                                                 ORDER BY w.work_after LIMIT 1)) AS add_differs
  FROM t;

------------------------------------------------------------------------
-- The shipped SOP, assigned at awkward times
------------------------------------------------------------------------
-- Sunday 07:42: everything on Monday and after, in order
SELECT milestone, due_at FROM crm.sla_deadlines('office', '2026-11-22 07:42+08');
-- Friday 17:00: the plan's 24 hours end on Saturday, so it is due at the
-- next opening, but not before the needs summary
SELECT milestone, due_at FROM crm.sla_deadlines('office', '2026-11-20 17:00+08');
-- Tuesday 10:00: the calendar clock is plain 24 hours
SELECT milestone, due_at FROM crm.sla_deadlines('office', '2026-11-24 10:00+08');
-- Tuesday 19:30, after hours: the clock starts at the next opening
SELECT milestone, due_at FROM crm.sla_deadlines('office', '2026-11-24 19:30+08');

-- Every start over three weeks (every 37 minutes): each deadline lies in
-- working hours (a closing time included), and never before the previous
-- milestone's
WITH starts AS (
    SELECT g AS at FROM generate_series(timestamptz '2026-11-16 00:00+08', '2026-12-06 23:59+08', interval '37 minutes') g
), due AS (
    SELECT s.at, d.milestone, d.due_at,
           lag(d.due_at) OVER (PARTITION BY s.at ORDER BY array_position(ARRAY['first_contact', 'needs_summary', 'follow_up_plan'], d.milestone)) AS previous_due
      FROM starts s, crm.sla_deadlines('office', s.at) d
)
SELECT count(*) AS deadlines,
       count(*) FILTER (WHERE NOT EXISTS (SELECT FROM crm.calendar_window w
                                           WHERE w.calendar = 'cn_standard' AND w.opens <= d.due_at AND d.due_at <= w.closes)) AS outside_working_hours,
       count(*) FILTER (WHERE d.due_at < d.previous_due) AS before_previous,
       count(*) FILTER (WHERE d.due_at < d.at) AS before_assignment
  FROM due d;

------------------------------------------------------------------------
-- A policy of one's own whose steps would invert: the later step is due
-- with the earlier one
------------------------------------------------------------------------
INSERT INTO crm.sla_policy (code, name) VALUES ('inverted', '倒置');
INSERT INTO crm.sla_step (policy, milestone, within, clock) VALUES
    ('inverted', 'first_contact', '4 hours', 'working'),
    ('inverted', 'needs_summary', '1 hour', 'calendar'),
    ('inverted', 'follow_up_plan', '30 minutes', 'working');
UPDATE crm.team SET sla_policy = 'inverted' WHERE code = 'office';
SELECT milestone, due_at FROM crm.sla_deadlines('office', '2026-11-24 10:00+08');
-- an unknown team has no deadlines
SELECT count(*) FROM crm.sla_deadlines('no_such_team', '2026-11-24 10:00+08');
UPDATE crm.team SET sla_policy = 'standard' WHERE code = 'office';

------------------------------------------------------------------------
-- A lead handed to a rep gets exactly these deadlines
------------------------------------------------------------------------
INSERT INTO crm.rep (login, name, team) VALUES ('office_rep', '坐班', 'office');
INSERT INTO crm.lead (channel, source_label, external_id, person_name, payload, outcome, status, owner, team)
VALUES ('website', '官网表单', 'sla-1', '甲', '{}', 'new', 'assigned', 'office_rep', 'office');
SELECT count(*) AS timers,
       count(*) FILTER (WHERE t.due_at = d.due_at) AS as_computed,
       count(*) FILTER (WHERE w.fire_at = t.due_at) AS armed
  FROM crm.sla_timer t JOIN crm.lead l ON l.id = t.lead_id
  JOIN crm.sla_deadlines('office', t.started_at) d ON d.milestone = t.milestone
  LEFT JOIN crm.sla_wakeup w ON w.timer_id = t.id AND w.level = 1
 WHERE l.external_id = 'sla-1';
