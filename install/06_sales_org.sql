------------------------------------------------------------------------------
-- Sales organisation: working-hours calendars, teams, reps and absences
------------------------------------------------------------------------------

CREATE TABLE crm.calendar (
    code        text PRIMARY KEY CONSTRAINT calendar_code_format CHECK (code ~ '^[a-z][a-z0-9_]{0,62}$'),
    name        text NOT NULL,
    time_zone   text NOT NULL DEFAULT 'Asia/Shanghai'
                CONSTRAINT calendar_time_zone_known CHECK (pg_catalog.now() AT TIME ZONE time_zone IS NOT NULL),
    ledger_from date NOT NULL DEFAULT '2020-01-01',
    ledger_until date NOT NULL DEFAULT '2040-12-31',
    shipped     boolean NOT NULL DEFAULT false,
    -- at most a century: the ledger holds every window of the span
    CONSTRAINT calendar_ledger_span CHECK (ledger_from < ledger_until AND ledger_until <= ledger_from + 36525)
);
COMMENT ON TABLE crm.calendar IS
'Working-hours calendars, one per team or shared; SLA clocks run in working time';
COMMENT ON COLUMN crm.calendar.ledger_from IS
'First day of crm.calendar_window kept for this calendar; deadlines outside the span raise an error. The span is at most 36525 days (a century)';
SELECT pg_catalog.pg_extension_config_dump('crm.calendar', 'WHERE NOT shipped');

CREATE TABLE crm.calendar_hours (
    calendar    text NOT NULL REFERENCES crm.calendar (code) ON UPDATE CASCADE ON DELETE CASCADE,
    isodow      smallint NOT NULL CONSTRAINT calendar_hours_isodow CHECK (isodow BETWEEN 1 AND 7),
    opens       time NOT NULL,
    closes      time NOT NULL,
    shipped     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (calendar, isodow, opens),
    CONSTRAINT calendar_hours_order CHECK (opens < closes)
);
COMMENT ON TABLE crm.calendar_hours IS
'Opening windows per ISO weekday (1 = Monday); several per day make a lunch break';
SELECT pg_catalog.pg_extension_config_dump('crm.calendar_hours', 'WHERE NOT shipped');

CREATE TABLE crm.calendar_day (
    calendar    text NOT NULL REFERENCES crm.calendar (code) ON UPDATE CASCADE ON DELETE CASCADE,
    day         date NOT NULL,
    kind        text NOT NULL CONSTRAINT calendar_day_kind CHECK (kind IN ('holiday', 'workday')),
    hours_of    smallint NOT NULL DEFAULT 1 CONSTRAINT calendar_day_hours_of CHECK (hours_of BETWEEN 1 AND 7),
    note        text,
    PRIMARY KEY (calendar, day)
);
COMMENT ON TABLE crm.calendar_day IS
'Exceptions: public holidays, and the weekend days worked in exchange (调休), which keep the hours of weekday hours_of';
SELECT pg_catalog.pg_extension_config_dump('crm.calendar_day', '');

-- The working-time ledger: every opening window with the working seconds
-- before it.  A deadline "N working minutes after t" is then two index
-- probes, however many nights, weekends and holidays lie between.
CREATE TABLE crm.calendar_window (
    calendar    text NOT NULL REFERENCES crm.calendar (code) ON UPDATE CASCADE ON DELETE CASCADE,
    opens       timestamptz NOT NULL,
    closes      timestamptz NOT NULL,
    work_before bigint NOT NULL,
    work_after  bigint NOT NULL,
    PRIMARY KEY (calendar, opens)
);
CREATE INDEX calendar_window_work_idx ON crm.calendar_window (calendar, work_after);
COMMENT ON TABLE crm.calendar_window IS
'Derived from the calendar tables by crm.rebuild_calendar(): each opening window and the working seconds since ledger_from before and after it';

CREATE FUNCTION crm.rebuild_calendar(calendar_code text) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cal crm.calendar;
    windows integer;
BEGIN
    SELECT * INTO cal FROM crm.calendar c WHERE c.code = calendar_code FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown calendar %', crm.quote_value(calendar_code)
            USING ERRCODE = 'undefined_object', HINT = 'Calendars are listed in crm.calendar.';
    END IF;
    DELETE FROM crm.calendar_window w WHERE w.calendar = cal.code;
    INSERT INTO crm.calendar_window (calendar, opens, closes, work_before, work_after)
    SELECT cal.code, o, c, sum(len) OVER w - len, sum(len) OVER w
      FROM (SELECT (g.day + h.opens) AT TIME ZONE cal.time_zone AS o,
                   (g.day + h.closes) AT TIME ZONE cal.time_zone AS c,
                   extract(epoch FROM ((g.day + h.closes) AT TIME ZONE cal.time_zone)
                                    - ((g.day + h.opens) AT TIME ZONE cal.time_zone))::bigint AS len
              FROM generate_series(cal.ledger_from, cal.ledger_until, interval '1 day') AS s(ts)
             CROSS JOIN LATERAL (SELECT s.ts::date AS day) g
              LEFT JOIN crm.calendar_day d ON d.calendar = cal.code AND d.day = g.day
              JOIN crm.calendar_hours h ON h.calendar = cal.code
                   AND h.isodow = CASE WHEN d.kind = 'workday' THEN d.hours_of
                                       ELSE extract(isodow FROM g.day) END
             WHERE d.kind IS DISTINCT FROM 'holiday') x
    WINDOW w AS (ORDER BY o);
    GET DIAGNOSTICS windows = ROW_COUNT;
    RETURN windows;
END
$$;
COMMENT ON FUNCTION crm.rebuild_calendar(text) IS
'Recomputes a calendar''s working-time ledger; runs by itself when its hours or days change. Deadlines already set keep their time';

-- The argument names the changed rows' calendar column: calendar in the
-- hours and days, code in crm.calendar itself.
CREATE FUNCTION crm.calendar_changed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM crm.rebuild_calendar(c.code)
       FROM crm.calendar c
      WHERE c.code IN (SELECT pg_catalog.to_jsonb(r) ->> TG_ARGV[0] FROM changed_rows r)
      ORDER BY c.code;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.calendar_changed() IS
'Trigger (calendar column): rebuilds the ledger of every calendar whose hours, days, time zone or ledger span a statement changed';

CREATE TRIGGER calendar_hours_inserted AFTER INSERT ON crm.calendar_hours
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.calendar_changed('calendar');
CREATE TRIGGER calendar_hours_updated AFTER UPDATE ON crm.calendar_hours
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.calendar_changed('calendar');
CREATE TRIGGER calendar_hours_deleted AFTER DELETE ON crm.calendar_hours
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.calendar_changed('calendar');
CREATE TRIGGER calendar_day_inserted AFTER INSERT ON crm.calendar_day
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.calendar_changed('calendar');
CREATE TRIGGER calendar_day_updated AFTER UPDATE ON crm.calendar_day
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.calendar_changed('calendar');
CREATE TRIGGER calendar_day_deleted AFTER DELETE ON crm.calendar_day
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.calendar_changed('calendar');
CREATE TRIGGER calendar_settings_updated AFTER UPDATE ON crm.calendar
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.calendar_changed('code');

-- Working seconds since the ledger began, up to t.  Epochs subtracted, not
-- times: t = 'infinity' (a bad row in a report) gives the whole ledger.
CREATE FUNCTION crm.working_seconds_at(calendar text, t timestamptz) RETURNS numeric
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
RETURN coalesce((SELECT w.work_before + least(greatest(extract(epoch FROM t) - extract(epoch FROM w.opens), 0),
                                              w.work_after - w.work_before)
                   FROM crm.calendar_window w
                  WHERE w.calendar = working_seconds_at.calendar AND w.opens <= t
                  ORDER BY w.opens DESC LIMIT 1), 0);
COMMENT ON FUNCTION crm.working_seconds_at(text, timestamptz) IS
'Working seconds of a calendar from its ledger_from up to t: the difference of two is the working time between them';

-- @since 1.1
-- The ledger's seconds are whole (bigint): the bound is compared as one, so
-- that the index on (calendar, work_after) finds the window (1.0 compared
-- numerics and read the whole ledger: milliseconds a call).
CREATE OR REPLACE FUNCTION crm.add_working_time(calendar text, t timestamptz, duration interval) RETURNS timestamptz
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    target numeric := crm.working_seconds_at(calendar, t) + extract(epoch FROM duration);
    due timestamptz;
BEGIN
    IF duration < interval '0' THEN
        RAISE EXCEPTION 'a working-time duration cannot be negative: %', duration
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT isfinite(t) THEN
        RAISE EXCEPTION 'working time cannot be added to %', t
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'A deadline starts at a finite time.';
    END IF;
    SELECT w.opens + make_interval(secs => target - w.work_before) INTO due
      FROM crm.calendar_window w
     WHERE w.calendar = add_working_time.calendar AND w.work_after >= ceil(target)::bigint
     ORDER BY w.work_after LIMIT 1;
    IF due IS NULL AND NOT EXISTS (SELECT FROM crm.calendar c WHERE c.code = add_working_time.calendar) THEN
        RAISE EXCEPTION 'unknown calendar %', crm.quote_value(calendar)
            USING ERRCODE = 'undefined_object', HINT = 'Calendars are listed in crm.calendar.';
    ELSIF due IS NULL THEN
        RAISE EXCEPTION 'calendar "%" has no working time left after %', calendar, t
            USING ERRCODE = 'data_exception',
                  DETAIL = pg_catalog.format('%s of working time was asked for.', duration),
                  HINT = 'Check that the calendar exists, has opening hours, and that crm.calendar.ledger_until is far enough ahead.';
    END IF;
    RETURN greatest(due, t);
END
$$;
-- @end
COMMENT ON FUNCTION crm.add_working_time(text, timestamptz, interval) IS
'The moment duration of working time after t in a calendar: nights, weekends and holidays do not count';

-- A deadline on the calendar clock lands here: nobody is due while the
-- office is closed.
-- @since 1.1
CREATE OR REPLACE FUNCTION crm.next_working_time(calendar text, t timestamptz) RETURNS timestamptz
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- whole seconds, as the ledger counts: work_after > s holds exactly when
    -- work_after > floor(s), and the index finds the window (1.0 called
    -- crm.working_seconds_at for every window of the ledger: 0.1 s a call)
    worked bigint := floor(crm.working_seconds_at(calendar, t));
    at timestamptz;
BEGIN
    -- the first window not over at t: the one t lies in, or the next
    SELECT greatest(w.opens, t) INTO at
      FROM crm.calendar_window w
     WHERE w.calendar = next_working_time.calendar AND w.work_after > worked
     ORDER BY w.work_after LIMIT 1;
    -- none: add_working_time says why (no such calendar, or its ledger ends)
    RETURN coalesce(at, crm.add_working_time(calendar, t, interval '1 microsecond'));
END
$$;
-- @end
COMMENT ON FUNCTION crm.next_working_time(text, timestamptz) IS
't when the calendar is open at t, else its next opening (a closing time is not open)';

CREATE TABLE crm.sla_policy (
    code        text PRIMARY KEY CONSTRAINT sla_policy_code_format CHECK (code ~ '^[a-z][a-z0-9_]{0,62}$'),
    name        text NOT NULL,
    reassign_on_breach boolean NOT NULL DEFAULT false,
    shipped     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE crm.sla_policy IS 'Response SOPs; each team follows one';
COMMENT ON COLUMN crm.sla_policy.reassign_on_breach IS
'A lead whose first contact is breached goes back to assignment, to another rep where one is available';
SELECT pg_catalog.pg_extension_config_dump('crm.sla_policy', 'WHERE NOT shipped');

CREATE TABLE crm.sla_step (
    policy      text NOT NULL REFERENCES crm.sla_policy (code) ON UPDATE CASCADE ON DELETE CASCADE,
    milestone   text NOT NULL CONSTRAINT sla_step_milestone CHECK (milestone IN ('first_contact', 'needs_summary', 'follow_up_plan')),
    within      interval NOT NULL CONSTRAINT sla_step_within_positive CHECK (within > interval '0'),
    clock       text NOT NULL DEFAULT 'working' CONSTRAINT sla_step_clock CHECK (clock IN ('working', 'calendar')),
    escalate_manager_after  interval NOT NULL DEFAULT '30 minutes',
    escalate_director_after interval NOT NULL DEFAULT '2 hours',
    shipped     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (policy, milestone),
    CONSTRAINT sla_step_escalation_order CHECK (interval '0' <= escalate_manager_after
                                                AND escalate_manager_after <= escalate_director_after)
);
COMMENT ON TABLE crm.sla_step IS
'Milestones of a policy, in the order first_contact, needs_summary, follow_up_plan: each is due "within" after assignment on the team''s working clock, or on the calendar clock (counted from the team''s first working moment, and moved to its next opening if it falls outside working hours); no step is due before the one before it (crm.sla_deadlines). A breach notifies the owner, then the manager and the director after the given delays past the deadline';
SELECT pg_catalog.pg_extension_config_dump('crm.sla_step', 'WHERE NOT shipped');

INSERT INTO crm.sla_policy (code, name, shipped) VALUES ('standard', '标准线索响应 SOP', true);
INSERT INTO crm.sla_step (policy, milestone, within, clock, shipped) VALUES
    ('standard', 'first_contact', '15 minutes', 'working', true),
    ('standard', 'needs_summary', '2 hours', 'working', true),
    ('standard', 'follow_up_plan', '24 hours', 'calendar', true);

CREATE TRIGGER calendar_shipped_guard BEFORE UPDATE OR DELETE ON crm.calendar
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('calendar', 'code',
        'Create a calendar of your own (its holidays can be added to any calendar, shipped or not).');
CREATE TRIGGER calendar_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.calendar
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();
CREATE TRIGGER calendar_hours_shipped_guard BEFORE UPDATE OR DELETE ON crm.calendar_hours
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('calendar hours of', 'calendar',
        'Create a calendar of your own with the hours you need, and set it on crm.team.calendar.');
CREATE TRIGGER calendar_hours_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.calendar_hours
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();
CREATE TRIGGER sla_policy_shipped_guard BEFORE UPDATE OR DELETE ON crm.sla_policy
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('SLA policy', 'code',
        'Create a policy of your own and set it on crm.team.sla_policy.');
CREATE TRIGGER sla_policy_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.sla_policy
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();
CREATE TRIGGER sla_step_shipped_guard BEFORE UPDATE OR DELETE ON crm.sla_step
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('SLA step of policy', 'policy',
        'Create a policy of your own and set it on crm.team.sla_policy.');
CREATE TRIGGER sla_step_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.sla_step
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();

CREATE TABLE crm.team (
    code        text PRIMARY KEY CONSTRAINT team_code_format CHECK (code ~ '^[a-z][a-z0-9_]{0,62}$'),
    name        text NOT NULL,
    manager     text,
    director    text,
    calendar    text NOT NULL DEFAULT 'cn_standard' REFERENCES crm.calendar (code) ON UPDATE CASCADE,
    sla_policy  text NOT NULL DEFAULT 'standard' REFERENCES crm.sla_policy (code) ON UPDATE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE crm.team IS 'Sales teams: assignment targets, with the people escalations go to';
COMMENT ON COLUMN crm.team.manager IS 'Login notified at the first escalation of a breached SLA';
COMMENT ON COLUMN crm.team.director IS 'Login notified at the second escalation';
SELECT pg_catalog.pg_extension_config_dump('crm.team', '');

-- The milestones come in one order; a step whose own deadline would come
-- before the previous step's is due with it (a lead assigned on Sunday
-- morning: follow_up_plan 24 calendar hours later would beat first_contact).
CREATE FUNCTION crm.sla_deadlines(team text, assigned_at timestamptz)
    RETURNS TABLE (milestone text, due_at timestamptz)
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    SELECT d.milestone, max(d.due) OVER (ORDER BY d.step ROWS UNBOUNDED PRECEDING)
      FROM (SELECT s.milestone,
                   array_position(ARRAY['first_contact', 'needs_summary', 'follow_up_plan'], s.milestone) AS step,
                   CASE s.clock
                       WHEN 'working' THEN crm.add_working_time(t.calendar, sla_deadlines.assigned_at, s.within)
                       ELSE crm.next_working_time(t.calendar,
                                crm.next_working_time(t.calendar, sla_deadlines.assigned_at) + s.within)
                   END AS due
              FROM crm.team t JOIN crm.sla_step s ON s.policy = t.sla_policy
             WHERE t.code = sla_deadlines.team) d
     ORDER BY d.step;
END;
COMMENT ON FUNCTION crm.sla_deadlines(text, timestamptz) IS
'The SLA deadlines of a lead assigned to a team at assigned_at, in milestone order: working-clock steps in the team calendar''s working time; calendar-clock steps counted from its first working moment and moved to its next opening; none before the step before it';

CREATE TABLE crm.rep (
    login       text PRIMARY KEY CONSTRAINT rep_login_named CHECK (pg_catalog.btrim(login) OPERATOR(pg_catalog.<>) ''),
    name        text NOT NULL,
    team        text NOT NULL REFERENCES crm.team (code) ON UPDATE CASCADE,
    active      boolean NOT NULL DEFAULT true,
    daily_capacity integer CONSTRAINT rep_daily_capacity_positive CHECK (daily_capacity > 0),
    open_leads  integer NOT NULL DEFAULT 0,
    last_assigned_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.rep', '');
CREATE INDEX rep_team_idx ON crm.rep (team);
COMMENT ON TABLE crm.rep IS 'Sales reps, the owners leads are assigned to';
COMMENT ON COLUMN crm.rep.active IS 'An inactive rep (left, suspended) is never assigned a lead';
COMMENT ON COLUMN crm.rep.daily_capacity IS 'New leads a rep may be assigned per calendar day of the team; NULL: no limit';
COMMENT ON COLUMN crm.rep.open_leads IS 'Leads assigned or contacted and not closed; kept by crm, read by least-loaded assignment';
COMMENT ON COLUMN crm.rep.last_assigned_at IS 'Round robin takes the rep who waited longest';

CREATE TABLE crm.rep_absence (
    id          bigserial PRIMARY KEY,
    rep         text NOT NULL REFERENCES crm.rep (login) ON UPDATE CASCADE ON DELETE CASCADE,
    during      daterange NOT NULL CONSTRAINT rep_absence_bounded CHECK (NOT isempty(during) AND NOT lower_inf(during) AND NOT upper_inf(during)),
    reason      text
);
SELECT pg_catalog.pg_extension_config_dump('crm.rep_absence', '');
SELECT pg_catalog.pg_extension_config_dump('crm.rep_absence_id_seq', '');
CREATE INDEX rep_absence_rep_idx ON crm.rep_absence (rep);
COMMENT ON TABLE crm.rep_absence IS 'Leave, training, trade shows: no lead is assigned to a rep on these days (team calendar dates)';

CREATE TABLE crm.rep_day_load (
    rep         text NOT NULL REFERENCES crm.rep (login) ON UPDATE CASCADE ON DELETE CASCADE,
    day         date NOT NULL,
    assigned    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (rep, day)
);
COMMENT ON TABLE crm.rep_day_load IS 'Leads assigned to each rep per day: what daily_capacity is checked against';
SELECT pg_catalog.pg_extension_config_dump('crm.rep_day_load', '');

-- The rep is available on the team calendar's today.
-- Not STRICT, so that the planner can inline it into the rep queries.
CREATE FUNCTION crm.rep_is_present(login text, on_day date) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
RETURN NOT EXISTS (SELECT FROM crm.rep_absence a WHERE a.rep = login AND a.during @> on_day);
COMMENT ON FUNCTION crm.rep_is_present(text, date) IS 'The rep has no absence on that day';

INSERT INTO crm.calendar (code, name, shipped) VALUES ('cn_standard', '标准工作日 9:00-12:00, 13:00-18:00 (Asia/Shanghai)', true);
INSERT INTO crm.calendar_hours (calendar, isodow, opens, closes, shipped)
SELECT 'cn_standard', d, o, c, true
  FROM generate_series(1, 5) d, (VALUES (time '09:00', time '12:00'), ('13:00', '18:00')) h(o, c);

-- One search box for a customer.  Each reading of the text is normalised
-- once and looked up by its own index: a code through the registry
-- (following merges) and the code columns, a phone or an e-mail through
-- contact_point_value_idx, a credit code through account_uscc_key, and,
-- only when the text is none of these, a name through account_name_key_idx
-- and contact_pinyin_account_idx.  Merged records are never returned: a
-- merged record's code resolves to the survivor, and its phones and
-- e-mails either moved to the survivor or are the survivor's already.
CREATE FUNCTION crm.find_customer(query text)
    RETURNS TABLE (kind text, id bigint, code text, name text, account_id bigint,
                   account_name text, owner text, matched_by text)
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    key_code text := crm.resolve_code(query);
    key_phone text := crm.norm_phone(query);
    key_email text := crm.norm_email(query);
    key_uscc text := CASE WHEN crm.uscc_is_valid(query) THEN crm.norm_uscc(query) END;
    by_name boolean := key_code IS NULL AND key_phone IS NULL AND key_email IS NULL AND key_uscc IS NULL;
    key_person text := CASE WHEN by_name THEN crm.norm_person_name(query) END;
    key_company text := CASE WHEN by_name THEN crm.norm_company_name(query) END;
BEGIN
    RETURN QUERY
    WITH found(contact_id, account_id, matched_by) AS (
        SELECT c.id, NULL::bigint, 'code' FROM crm.contact c WHERE c.code = key_code
        UNION ALL
        SELECT NULL, a.id, 'code' FROM crm.account a WHERE a.code = key_code
        UNION ALL
        SELECT p.contact_id, NULL, p.kind FROM crm.contact_point p
         WHERE (p.kind = 'phone' AND p.value = key_phone) OR (p.kind = 'email' AND p.value = key_email)
        UNION ALL
        SELECT NULL, a.id, 'uscc' FROM crm.account a WHERE a.uscc = key_uscc
        UNION ALL
        SELECT c.id, NULL, 'name' FROM crm.contact c
         WHERE c.name_pinyin = crm.pinyin(key_person) AND c.name_key = key_person AND c.merged_into IS NULL
        UNION ALL
        SELECT NULL, a.id, 'name' FROM crm.account a
         WHERE a.name_key COLLATE "C" = key_company AND a.merged_into IS NULL
    )
    SELECT 'contact', c.id, c.code, c.name, c.account_id, a.name, c.owner, f.matched_by
      FROM found f JOIN crm.contact c ON c.id = f.contact_id
      LEFT JOIN crm.account a ON a.id = c.account_id
     WHERE c.merged_into IS NULL
    UNION ALL
    SELECT 'account', a.id, a.code, a.name, a.id, a.name, a.owner, f.matched_by
      FROM found f JOIN crm.account a ON a.id = f.account_id
     WHERE a.merged_into IS NULL
     ORDER BY 8, 1, 2;
END
$$;
COMMENT ON FUNCTION crm.find_customer(text) IS
'Live contacts and accounts matching a search text: a customer code (a merged one finds the survivor), a phone or an e-mail in any usual spelling, a credit code, or else an exact person or company name key; matched_by says which. Text that is none of these, and NULL, give no rows';
