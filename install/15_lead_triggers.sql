------------------------------------------------------------------------------
-- Lead triggers: what each state change sets off
------------------------------------------------------------------------------

CREATE TYPE crm.lead_move AS (
    id          bigint,
    old_status  text,
    new_status  text,
    old_owner   text,
    new_owner   text
);
COMMENT ON TYPE crm.lead_move IS
'Internal to the lead triggers: one lead''s change of state or owner, as crm.leads_moved() takes it';

-- Whether a customer goes with its lead to new_owner: it has no owner; its
-- owner left (an inactive rep: an absent one keeps it, absence ends); or
-- its owner is a rep the lead was taken from (let_go) who never worked one
-- of the customer's leads (worked: a first contact recorded while owner).
-- Not STRICT, so that the planner inlines it and probes for work only
-- where it must.
CREATE FUNCTION crm.customer_follows_lead(owner text, new_owner text, let_go text[], worked boolean)
    RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
RETURN owner IS DISTINCT FROM new_owner
   AND (owner IS NULL OR (coalesce(owner = ANY (let_go), false) AND NOT worked)
        OR EXISTS (SELECT FROM crm.rep r WHERE r.login = owner AND NOT r.active));
COMMENT ON FUNCTION crm.customer_follows_lead(text, text, text[], boolean) IS
'Internal to crm.customers_follow_leads(): a contact or account takes the owner its lead is handed to when it has none, when its owner is an inactive rep, or when its owner let this lead go without having worked one of its leads';

-- The customers of leads handed to a rep get that rep as owner, where
-- crm.customer_follows_lead() says so: a repeat caller then goes back to
-- the rep who has the customer (assignment rules with to_customer_owner).
-- The lead of the statement with the lowest id decides; a lead attached to
-- its contact only provisionally (outcome review) gives it no owner.
-- Rows are locked in id order, so two statements cannot deadlock here.
CREATE FUNCTION crm.customers_follow_leads(handed crm.lead_move[]) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    WITH claim AS (
        SELECT DISTINCT ON (c.entity, c.id) c.entity, c.id, h.new_owner, ARRAY[h.old_owner, l.previous_owner] AS let_go
          FROM unnest(handed) h JOIN crm.lead l ON l.id = h.id
         CROSS JOIN LATERAL (VALUES ('contact', CASE WHEN l.outcome <> 'review' THEN l.contact_id END),
                                    ('account', l.account_id)) c(entity, id)
         WHERE c.id IS NOT NULL ORDER BY c.entity, c.id, l.id
    ), contacts AS (
        SELECT c.* FROM crm.contact k JOIN claim c ON c.entity = 'contact' AND c.id = k.id
         WHERE crm.customer_follows_lead(k.owner, c.new_owner, c.let_go, EXISTS (SELECT FROM crm.lead w
                   WHERE w.contact_id = k.id AND w.owner = k.owner AND w.first_response_at IS NOT NULL))
         ORDER BY k.id FOR NO KEY UPDATE OF k
    ), accounts AS (
        SELECT c.* FROM crm.account a JOIN claim c ON c.entity = 'account' AND c.id = a.id
         WHERE crm.customer_follows_lead(a.owner, c.new_owner, c.let_go, EXISTS (SELECT FROM crm.lead w
                   WHERE w.account_id = a.id AND w.owner = a.owner AND w.first_response_at IS NOT NULL))
         ORDER BY a.id FOR NO KEY UPDATE OF a
    ), contacts_set AS (
        UPDATE crm.contact k SET owner = t.new_owner FROM contacts t WHERE k.id = t.id
    )
    UPDATE crm.account a SET owner = t.new_owner FROM accounts t WHERE a.id = t.id;
END
$$;
COMMENT ON FUNCTION crm.customers_follow_leads(crm.lead_move[]) IS
'Internal to crm.leads_moved(): the contacts and accounts of leads handed to a rep take that rep as owner when they have none, when their owner left (inactive), or when their owner let the lead go without ever having worked one of their leads';

-- Counters, SLA timers and assignment for leads that changed state or owner.
-- @since 1.1
CREATE OR REPLACE FUNCTION crm.leads_moved(moves crm.lead_move[]) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    handed crm.lead_move[];
    keyed bigint[];
    to_assign bigint[];
BEGIN
    -- reps in login order: two statements moving leads of the same reps
    -- cannot deadlock
    PERFORM FROM crm.rep r
      WHERE r.login IN (SELECT m.old_owner FROM unnest(moves) m UNION SELECT m.new_owner FROM unnest(moves) m)
      ORDER BY r.login FOR NO KEY UPDATE;
    UPDATE crm.rep r SET open_leads = r.open_leads + d.n
      FROM (SELECT x.rep, sum(x.n) AS n
              FROM (SELECT m.old_owner, -1 FROM unnest(moves) m WHERE m.old_status IN ('assigned', 'contacted')
                    UNION ALL
                    SELECT m.new_owner, 1 FROM unnest(moves) m WHERE m.new_status IN ('assigned', 'contacted')) x(rep, n)
             WHERE x.rep IS NOT NULL GROUP BY x.rep HAVING sum(x.n) <> 0) d
     WHERE r.login = d.rep;

    -- a lead handed to an owner: that day's load, and the SLA clock
    handed := ARRAY(SELECT m FROM unnest(moves) m
                     WHERE m.new_status = 'assigned'
                       AND (m.old_status IS DISTINCT FROM 'assigned' OR m.old_owner IS DISTINCT FROM m.new_owner));

    UPDATE crm.sla_timer t SET cancelled_at = pg_catalog.now()
      FROM unnest(moves) m
     WHERE m.old_status IN ('assigned', 'contacted')
       AND (m.new_status NOT IN ('assigned', 'contacted') OR m.new_owner IS DISTINCT FROM m.old_owner)
       AND t.lead_id = m.id AND t.met_at IS NULL AND t.cancelled_at IS NULL;

    IF cardinality(handed) > 0 THEN
        INSERT INTO crm.rep_day_load AS d (rep, day, assigned)
        SELECT h.new_owner, (pg_catalog.now() AT TIME ZONE c.time_zone)::date, count(*)
          FROM unnest(handed) h JOIN crm.rep r ON r.login = h.new_owner
          JOIN crm.team t ON t.code = r.team JOIN crm.calendar c ON c.code = t.calendar
         GROUP BY 1, 2 ORDER BY 1
        ON CONFLICT (rep, day) DO UPDATE SET assigned = d.assigned + excluded.assigned;

        -- one deadline per team and milestone, computed once (MATERIALIZED:
        -- not once per lead): every lead of the statement starts its clock
        -- at the same moment
        WITH deadlines AS MATERIALIZED (
            SELECT t.code AS team, d.milestone, d.due_at AS due
              FROM crm.team t, crm.sla_deadlines(t.code, pg_catalog.now()) d
             WHERE t.code IN (SELECT r2.team FROM unnest(handed) h2 JOIN crm.rep r2 ON r2.login = h2.new_owner)
        ), started AS (
            INSERT INTO crm.sla_timer (lead_id, milestone, owner, team, started_at, due_at)
            SELECT h.id, dl.milestone, h.new_owner, r.team, pg_catalog.now(), dl.due
              FROM unnest(handed) h JOIN crm.rep r ON r.login = h.new_owner
              JOIN deadlines dl ON dl.team = r.team
            RETURNING id, due_at
        )
        INSERT INTO crm.sla_wakeup (fire_at, timer_id, level)
        SELECT s.due_at, s.id, 1 FROM started s;

        PERFORM crm.customers_follow_leads(handed);
    END IF;

    -- the work list's keys (crm.work_list_key): leads that opened, closed,
    -- changed owner or were handed over again (new timers).  A first
    -- contact (assigned to contacted, same owner) changes none here; the
    -- activity trigger keeps the key of a met milestone.
    keyed := ARRAY(SELECT m.id FROM unnest(moves) m
                    WHERE coalesce(m.old_status IN ('assigned', 'contacted') OR m.new_status IN ('assigned', 'contacted'), false)
                      AND NOT coalesce(m.old_status = 'assigned' AND m.new_status = 'contacted'
                                       AND m.old_owner IS NOT DISTINCT FROM m.new_owner, false)
                    ORDER BY m.id);
    IF cardinality(keyed) > 0 THEN
        PERFORM crm.work_list_update(keyed);
    END IF;

    to_assign := ARRAY(SELECT m.id FROM unnest(moves) m WHERE m.new_status = 'scored');
    IF cardinality(to_assign) > 0 THEN
        PERFORM crm.assign_leads(to_assign, false);
    END IF;
END
$$;
-- @end
COMMENT ON FUNCTION crm.leads_moved(crm.lead_move[]) IS
'Internal to the lead triggers: open-lead counts, daily loads, SLA timers of the new owner, and assignment of leads that entered state scored';

-- @since 1.1
-- The leads of migrated contacts (channel migration, stored unscored) are
-- closed as they arrive: they are customers already, not prospects the
-- model may learn from.
CREATE FUNCTION crm.lead_is_migrated_customer(l crm.lead) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN l.channel OPERATOR(pg_catalog.=) 'migration' AND l.score IS NULL;
COMMENT ON FUNCTION crm.lead_is_migrated_customer(crm.lead) IS
'True for the lead that carried a migrated contact (crm.import_commit, target contacts): channel migration, never scored. Learning and the penetration rates leave it out';
-- A migrated customer's lead is stored closed (src/ingest_batch.c), with
-- no owner: it moves nothing, and nothing is learnt from it.
CREATE OR REPLACE FUNCTION crm.lead_after_insert() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    moves crm.lead_move[];
BEGIN
    SELECT array_agg(ROW(n.id, NULL, n.status, NULL, n.owner)::crm.lead_move ORDER BY n.id) INTO moves
      FROM new_leads n WHERE n.status <> 'new' AND NOT crm.lead_is_migrated_customer(n);
    IF moves IS NOT NULL THEN
        PERFORM crm.leads_moved(moves);
        IF EXISTS (SELECT FROM unnest(moves) m WHERE m.new_status IN ('qualified', 'disqualified')) THEN
            PERFORM crm.learn_outcomes('{}', ARRAY(SELECT n::crm.lead FROM new_leads n
                                                    WHERE n.status IN ('qualified', 'disqualified')
                                                      AND NOT crm.lead_is_migrated_customer(n)));
        END IF;
    END IF;
    RETURN NULL;
END
$$;
-- @end
COMMENT ON FUNCTION crm.lead_after_insert() IS
'Trigger: leads stored already scored go to assignment; see crm.leads_moved()';
-- @since 1.1
CREATE OR REPLACE FUNCTION crm.lead_after_update() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    moves crm.lead_move[];
BEGIN
    SELECT array_agg(ROW(n.id, o.status, n.status, o.owner, n.owner)::crm.lead_move ORDER BY n.id) INTO moves
      FROM new_leads n JOIN old_leads o ON o.id = n.id
     WHERE n.status IS DISTINCT FROM o.status OR n.owner IS DISTINCT FROM o.owner;
    IF moves IS NOT NULL THEN
        PERFORM crm.leads_moved(moves);
        IF EXISTS (SELECT FROM unnest(moves) m
                    WHERE 'qualified' IN (m.old_status, m.new_status) OR 'disqualified' IN (m.old_status, m.new_status)) THEN
            PERFORM crm.learn_outcomes(
                ARRAY(SELECT o::crm.lead FROM old_leads o JOIN new_leads n ON n.id = o.id
                       WHERE o.status IN ('qualified', 'disqualified') AND n.status <> o.status
                         AND NOT crm.lead_is_migrated_customer(o)),
                ARRAY(SELECT n::crm.lead FROM new_leads n JOIN old_leads o ON o.id = n.id
                       WHERE n.status IN ('qualified', 'disqualified') AND n.status <> o.status
                         AND NOT crm.lead_is_migrated_customer(n)));
        END IF;
    END IF;
    RETURN NULL;
END
$$;
-- @end
COMMENT ON FUNCTION crm.lead_after_update() IS
'Trigger: what a change of state or owner sets off (crm.leads_moved), and learning from closed leads';
-- A restore brings what these derive with the leads: counts, daily loads,
-- timers and wake-ups, assignments, learned counts (crm.restoring()).
CREATE TRIGGER lead_inserted AFTER INSERT ON crm.lead
    REFERENCING NEW TABLE AS new_leads FOR EACH STATEMENT
    WHEN (NOT crm.restoring()) EXECUTE FUNCTION crm.lead_after_insert();
CREATE TRIGGER lead_updated AFTER UPDATE ON crm.lead
    REFERENCING OLD TABLE AS old_leads NEW TABLE AS new_leads
    FOR EACH STATEMENT EXECUTE FUNCTION crm.lead_after_update();

-- Who may meet a lead's milestones, and when: the first activity of the
-- statement that may not, with why, or nothing.  The lead is locked first
-- (the caller's FOR NO KEY UPDATE): a reassignment running meanwhile either
-- waits for this statement or is seen by it.
CREATE FUNCTION crm.activity_refusal(activities crm.lead_activity[],
                                     OUT activity crm.lead_activity, OUT problem text, OUT lead crm.lead,
                                     OUT manager text, OUT director text)
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT a, p.problem, l, t.manager, t.director
      FROM unnest(activities) a
      LEFT JOIN crm.lead l ON l.id = a.lead_id
      LEFT JOIN crm.team t ON t.code = l.team
      LEFT JOIN crm.rep owner_rep ON owner_rep.login = l.owner
     CROSS JOIN LATERAL (SELECT CASE
            -- a small clock skew: an application server a little ahead of
            -- the database records a call as it ends
            WHEN a.at > pg_catalog.clock_timestamp() + interval '1 minute' THEN 'future'
            WHEN a.kind = 'note' THEN NULL
            WHEN l.status NOT IN ('assigned', 'contacted', 'qualified') THEN 'state'
            WHEN NOT EXISTS (SELECT FROM crm.rep r WHERE r.login = a.actor)
             AND NOT EXISTS (SELECT FROM crm.team x WHERE a.actor IN (x.manager, x.director)) THEN 'unknown'
            WHEN a.at < l.assigned_at THEN 'early'
            WHEN a.actor IN (t.manager, t.director) THEN NULL
            WHEN a.actor = l.owner AND owner_rep.active THEN NULL
            WHEN a.actor = l.owner THEN 'inactive'
            ELSE 'not_owner' END) p(problem)
     WHERE p.problem IS NOT NULL
     ORDER BY (a).id
     LIMIT 1;
END;
COMMENT ON FUNCTION crm.activity_refusal(crm.lead_activity[]) IS
'Internal to crm.lead_activity_inserted(): the first of the activities that may not be recorded, and why (future, state, unknown, early, inactive, not_owner)';

-- @since 1.1
CREATE OR REPLACE FUNCTION crm.lead_activity_inserted() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad record;
    deputies text;
    met_leads bigint[];
BEGIN
    PERFORM FROM crm.lead l WHERE l.id IN (SELECT a.lead_id FROM new_activities a WHERE a.kind <> 'note')
      ORDER BY l.id FOR NO KEY UPDATE;
    -- one row, all NULL when every activity may be recorded
    SELECT * INTO bad FROM crm.activity_refusal(ARRAY(SELECT a::crm.lead_activity FROM new_activities a));
    IF bad.problem IS NOT NULL THEN
        deputies := coalesce(nullif(concat_ws(' or ', 'the team''s manager ' || bad.manager,
                                              'director ' || bad.director), ''), 'nobody else');
        CASE bad.problem
        WHEN 'future' THEN
            RAISE EXCEPTION 'activity time % on lead % is in the future', (bad.activity).at, (bad.activity).lead_id
                USING ERRCODE = 'datetime_field_overflow',
                      DETAIL = pg_catalog.format('The database''s clock says %s; a minute of clock skew is allowed.',
                                                 pg_catalog.clock_timestamp()),
                      HINT = 'Record work when it has been done; leave "at" out to record it now.';
        WHEN 'state' THEN
            RAISE EXCEPTION 'lead % is in state "%": its owner cannot have worked on it',
                            (bad.activity).lead_id, (bad.lead).status
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Record first contacts, needs summaries and follow-up plans on assigned leads.';
        WHEN 'unknown' THEN
            RAISE EXCEPTION 'unknown actor % on lead %', crm.quote_value((bad.activity).actor), (bad.activity).lead_id
                USING ERRCODE = 'undefined_object',
                      DETAIL = 'Milestones are met by reps (crm.rep) and by the managers and directors of teams (crm.team).',
                      HINT = 'Name the person acting with SET crm.actor (or the actor column); check the login''s spelling.';
        WHEN 'early' THEN
            RAISE EXCEPTION 'activity time % on lead % is before its assignment at %',
                            (bad.activity).at, (bad.activity).lead_id, (bad.lead).assigned_at
                USING ERRCODE = 'datetime_field_overflow',
                      DETAIL = pg_catalog.format('The lead was handed to %s at %s; its milestones count from then.',
                                                 (bad.lead).owner, (bad.lead).assigned_at),
                      HINT = 'Give the time the work was done.';
        WHEN 'inactive' THEN
            RAISE EXCEPTION 'rep % is inactive and cannot meet the milestones of lead %',
                            (bad.activity).actor, (bad.activity).lead_id
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = pg_catalog.format('Lead %s is owned by %s, who is inactive; %s may meet its milestones.',
                                                 (bad.activity).lead_id, (bad.lead).owner, deputies),
                      HINT = 'Reassign the lead (crm.reassign_stranded()), or have the manager record the work.';
        ELSE
            RAISE EXCEPTION '% is not the owner of lead %', (bad.activity).actor, (bad.activity).lead_id
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = pg_catalog.format('Lead %s is owned by %s (team %s); only the owner or %s may meet its milestones.',
                                                 (bad.activity).lead_id, (bad.lead).owner, (bad.lead).team, deputies),
                      HINT = 'Set crm.actor to the person who did the work; anyone may add a note (kind note).';
        END CASE;
    END IF;
    -- the owner's timers: a reassigned lead's earlier ones were cancelled
    WITH met AS (
        UPDATE crm.sla_timer t SET met_at = a.at
          FROM (SELECT lead_id, kind, min(at) AS at FROM new_activities GROUP BY 1, 2) a, crm.lead l
         WHERE t.lead_id = a.lead_id AND t.milestone = a.kind AND t.met_at IS NULL AND t.cancelled_at IS NULL
           AND l.id = a.lead_id AND t.owner = l.owner
        RETURNING t.lead_id
    )
    SELECT array_agg(DISTINCT met.lead_id) INTO met_leads FROM met;
    UPDATE crm.lead l SET status = 'contacted', first_response_at = a.at
      FROM (SELECT lead_id, min(at) AS at FROM new_activities WHERE kind = 'first_contact' GROUP BY 1) a
     WHERE l.id = a.lead_id AND l.status = 'assigned';
    -- their next deadline moved on: the work list's keys
    IF met_leads IS NOT NULL THEN
        PERFORM crm.work_list_update(met_leads);
    END IF;
    RETURN NULL;
END
$$;
-- @end
COMMENT ON FUNCTION crm.lead_activity_inserted() IS
'Trigger: a milestone activity meets its owner''s SLA timer (escalations stop) and a first contact moves the lead to state contacted; refused unless the actor is the lead''s active owner or its team''s manager or director, at a time from the assignment to now (a minute of clock skew); notes need only a time not in the future';
-- A restore brings the met timers and the leads' states (crm.restoring()).
CREATE TRIGGER lead_activity_recorded AFTER INSERT ON crm.lead_activity
    REFERENCING NEW TABLE AS new_activities FOR EACH STATEMENT
    WHEN (NOT crm.restoring()) EXECUTE FUNCTION crm.lead_activity_inserted();
