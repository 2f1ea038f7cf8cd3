------------------------------------------------------------------------------
-- SLA timers, activities, notifications and alarms
------------------------------------------------------------------------------

CREATE TABLE crm.sla_timer (
    id          bigserial PRIMARY KEY,
    lead_id     bigint NOT NULL REFERENCES crm.lead (id) ON DELETE CASCADE,
    milestone   text NOT NULL,
    owner       text NOT NULL,
    team        text NOT NULL REFERENCES crm.team (code) ON UPDATE CASCADE,
    started_at  timestamptz NOT NULL,
    due_at      timestamptz NOT NULL,
    met_at      timestamptz,
    breached_at timestamptz,
    cancelled_at timestamptz,
    escalation  smallint NOT NULL DEFAULT 0 CONSTRAINT sla_timer_escalation CHECK (escalation BETWEEN 0 AND 3)
) WITH (fillfactor = 70);
SELECT pg_catalog.pg_extension_config_dump('crm.sla_timer', '');
SELECT pg_catalog.pg_extension_config_dump('crm.sla_timer_id_seq', '');
-- Nothing the sweep or a met milestone writes is indexed, and fillfactor
-- leaves room on the page: those updates are HOT, one new row version and
-- no index entries.  When a timer acts next lives in crm.sla_wakeup.
CREATE INDEX sla_timer_lead_idx ON crm.sla_timer (lead_id);
COMMENT ON TABLE crm.sla_timer IS
'One per lead, milestone and owner: the deadline, when it was met or breached, and the escalations done (1 owner notified, 2 manager, 3 director)';

-- The sweep's queue: a narrow row per timer and escalation to come, indexed
-- by when.  The sweep deletes what is due and queues the next level, so
-- its cost follows what is due, not what is open.  A timer met or cancelled
-- meanwhile keeps its row until then, and the sweep drops it: meeting a
-- milestone stays one HOT update.  No foreign key, for the same reason: a
-- row whose timer is gone is dropped the same way.
CREATE TABLE crm.sla_wakeup (
    fire_at     timestamptz NOT NULL,
    timer_id    bigint NOT NULL,
    level       smallint NOT NULL CONSTRAINT sla_wakeup_level CHECK (level BETWEEN 1 AND 3)
);
SELECT pg_catalog.pg_extension_config_dump('crm.sla_wakeup', '');
CREATE INDEX sla_wakeup_fire_idx ON crm.sla_wakeup (fire_at);
COMMENT ON TABLE crm.sla_wakeup IS
'When crm.run_timeouts() acts on an SLA timer next: at fire_at, the timer (crm.sla_timer.id) reaches escalation level (1 breach, owner notified; 2 manager; 3 director), unless it was met or cancelled';

-- How an escalation level is named wherever crm writes it: the outbox
-- messages of sla_breach and sla_escalation, and crm.lead_sla.level.
CREATE FUNCTION crm.escalation_level(escalation integer) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (ARRAY['owner', 'manager', 'director'])[escalation];
COMMENT ON FUNCTION crm.escalation_level(integer) IS
'The name of an SLA escalation level: 1 owner, 2 manager, 3 director; NULL for 0 (none yet)';

-- One lead's SLA timers summed up, read through sla_timer_lead_idx.  A SQL
-- body, neither STRICT nor SET: the planner inlines it into crm.lead_sla
-- and crm.work_list, so that each is a join on the lead, not a grouping of
-- every timer.
CREATE FUNCTION crm.lead_timers(of_lead bigint)
    RETURNS TABLE (timers bigint, red boolean, breaches bigint, next_due_at timestamptz,
                   escalation smallint)
    LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT count(*),
           bool_or(t.breached_at IS NOT NULL),
           count(*) FILTER (WHERE t.breached_at IS NOT NULL),
           min(t.due_at) FILTER (WHERE t.met_at IS NULL AND t.cancelled_at IS NULL),
           max(t.escalation)
      FROM crm.sla_timer t
     WHERE t.lead_id OPERATOR(pg_catalog.=) $1;
END;
COMMENT ON FUNCTION crm.lead_timers(bigint) IS
'One lead''s SLA timers: how many, red, breaches, the next open deadline, the highest escalation; one row, timers 0 when the lead has none';

-- Not inlined (it has a FROM): a query sorted and limited calls it for the
-- rows it returns only, after the sort.
CREATE FUNCTION crm.next_milestone(of_lead bigint) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT t.milestone FROM crm.sla_timer t
     WHERE t.lead_id OPERATOR(pg_catalog.=) $1 AND t.met_at IS NULL AND t.cancelled_at IS NULL
     ORDER BY t.due_at, t.id LIMIT 1;
END;
COMMENT ON FUNCTION crm.next_milestone(bigint) IS
'The lead''s SLA milestone due next: the open timer with the earliest deadline; NULL when none is open';

-- Per lead, not grouped over crm.sla_timer: a condition on the lead (its
-- id, its owner) reaches crm.lead's indexes, and only the selected leads'
-- timers are read.  Leads without timers (never assigned) have no row, as
-- when the view grouped the timers.
CREATE VIEW crm.lead_sla AS
SELECT l.id AS lead_id, s.red, s.breaches, s.next_due_at, s.escalation,
       crm.escalation_level(s.escalation) AS level, crm.next_milestone(l.id) AS next_milestone
  FROM crm.lead l CROSS JOIN LATERAL crm.lead_timers(l.id) s
 WHERE s.timers > 0;
COMMENT ON VIEW crm.lead_sla IS
'Per lead with SLA timers: red (an SLA milestone was breached), how many breaches, the next open deadline and its milestone, and the highest escalation reached (1 owner, 2 manager, 3 director). Reads only the timers of the leads a query selects';
COMMENT ON COLUMN crm.lead_sla.lead_id IS 'The lead (crm.lead.id); only leads that ever had an SLA timer, that is were assigned, have a row';
COMMENT ON COLUMN crm.lead_sla.red IS 'An SLA milestone of the lead was breached, by this owner or an earlier one';
COMMENT ON COLUMN crm.lead_sla.breaches IS 'How many of the lead''s SLA timers were breached';
COMMENT ON COLUMN crm.lead_sla.next_due_at IS 'The earliest deadline of a milestone neither met nor cancelled; NULL when none is open';
COMMENT ON COLUMN crm.lead_sla.escalation IS 'Highest escalation reached by a timer of the lead: 0 none, 1 owner notified, 2 manager, 3 director';
COMMENT ON COLUMN crm.lead_sla.level IS
'escalation by name, as the outbox messages of topics sla_breach and sla_escalation write it in "level": owner, manager, director; NULL for 0';
COMMENT ON COLUMN crm.lead_sla.next_milestone IS 'The milestone due at next_due_at (first_contact, needs_summary, follow_up_plan); NULL when none is open';

-- @since 1.1
-- A rep's screen, whose cost follows the page.  psycopg2 and other
-- drivers turn 'infinity' into their own largest time (datetime.max),
-- which is not infinity when passed back, so a lead with no open deadline
-- sorts under a finite key every driver round-trips: 9999-12-31 00:00 UTC
-- is still 9999-12-31 or 9999-12-30 in any time zone.
CREATE FUNCTION crm.work_list_no_deadline() RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '9999-12-31 00:00:00+00'::timestamptz;
COMMENT ON FUNCTION crm.work_list_no_deadline() IS
'The due_key of crm.work_list for a lead with no open SLA milestone: 9999-12-31 00:00 UTC, later than any deadline, finite so that every driver reads it and passes it back unchanged';

-- One row per open lead (assigned or contacted): its owner and sort key,
-- kept by crm.work_list_update() where crm changes them: the lead triggers
-- (a lead handed over, reassigned, closed) and the activity trigger (a
-- milestone met).  A page of crm.work_list is a range of
-- work_list_page_idx, whatever the rep's open leads.  Nothing else writes
-- it: sla_timer keeps its HOT updates, and a timer changed by hand is put
-- right by crm.work_list_refresh().
CREATE TABLE crm.work_list_key (
    lead_id     bigint PRIMARY KEY REFERENCES crm.lead (id) ON DELETE CASCADE,
    owner       text NOT NULL,
    due_key     timestamptz NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('crm.work_list_key', '');
CREATE INDEX work_list_page_idx ON crm.work_list_key (owner, due_key, lead_id);
COMMENT ON TABLE crm.work_list_key IS
'The sort key of each open lead (assigned or contacted) in crm.work_list, indexed by owner, due_key and lead_id; kept by crm''s lead and activity triggers (crm.work_list_update), repaired by crm.work_list_refresh() after a hand edit of crm.sla_timer';
COMMENT ON COLUMN crm.work_list_key.lead_id IS 'The open lead (crm.lead.id)';
COMMENT ON COLUMN crm.work_list_key.owner IS 'Its owner (crm.lead.owner)';
COMMENT ON COLUMN crm.work_list_key.due_key IS
'The earliest deadline of its SLA timers neither met nor cancelled, or crm.work_list_no_deadline() when none is open';

-- What the keys of these leads should be: an open lead's owner and next
-- deadline, no row for any other.
CREATE FUNCTION crm.work_list_keys(leads bigint[])
    RETURNS TABLE (lead_id bigint, owner text, due_key timestamptz)
    LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT l.id, l.owner,
           coalesce((SELECT min(t.due_at) FROM crm.sla_timer t
                      WHERE t.lead_id OPERATOR(pg_catalog.=) l.id AND t.met_at IS NULL AND t.cancelled_at IS NULL),
                    crm.work_list_no_deadline())
      FROM crm.lead l
     WHERE l.id OPERATOR(pg_catalog.=) ANY ($1)
       AND l.status IN ('assigned', 'contacted') AND l.owner IS NOT NULL;
END;
COMMENT ON FUNCTION crm.work_list_keys(bigint[]) IS
'Internal to crm.work_list_update(): the work-list key (owner, next open deadline or crm.work_list_no_deadline()) each of these leads should have; none for a lead that is not open';

-- The keys of leads whose owner, state or timers crm has just changed, in
-- lead order (the callers hold the leads' locks).  SECURITY DEFINER: the
-- keys are derived data that an application role, which may not delete
-- rows, keeps by changing leads; it only ever writes what the leads say.
CREATE FUNCTION crm.work_list_update(leads bigint[]) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- one statement, the wanted keys read once: the rows it deletes (leads
    -- no longer open) and those it writes are never the same
    WITH wanted AS MATERIALIZED (
        SELECT w.lead_id, w.owner, w.due_key FROM crm.work_list_keys(leads) w
    ), gone AS (
        DELETE FROM crm.work_list_key k
         WHERE k.lead_id = ANY (leads) AND NOT EXISTS (SELECT FROM wanted w WHERE w.lead_id = k.lead_id)
    )
    INSERT INTO crm.work_list_key AS k (lead_id, owner, due_key)
    SELECT w.lead_id, w.owner, w.due_key FROM wanted w ORDER BY w.lead_id
    ON CONFLICT (lead_id) DO UPDATE SET owner = excluded.owner, due_key = excluded.due_key
     WHERE (k.owner, k.due_key) IS DISTINCT FROM (excluded.owner, excluded.due_key);
END
$$;
COMMENT ON FUNCTION crm.work_list_update(bigint[]) IS
'Internal to the lead and activity triggers: brings the crm.work_list_key rows of these leads in line with their owner, state and open timers';
-- Its triggers call it as the role that changes the leads: that role,
-- and no other, may run it (README: Grants for application roles).
REVOKE EXECUTE ON FUNCTION crm.work_list_update(bigint[]) FROM PUBLIC;

-- All keys recomputed, for after a hand edit of crm.sla_timer or crm.lead
-- with crm's triggers off.  The table is locked against crm's triggers
-- meanwhile (they wait), so that no key is written from an older snapshot.
CREATE FUNCTION crm.work_list_refresh() RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    changed bigint;
BEGIN
    LOCK TABLE crm.work_list_key IN SHARE ROW EXCLUSIVE MODE;
    WITH expected AS MATERIALIZED (
        SELECT l.id AS lead_id, l.owner, coalesce(t.due, crm.work_list_no_deadline()) AS due_key
          FROM crm.lead l
          LEFT JOIN (SELECT s.lead_id, min(s.due_at) AS due FROM crm.sla_timer s
                      WHERE s.met_at IS NULL AND s.cancelled_at IS NULL GROUP BY s.lead_id) t ON t.lead_id = l.id
         WHERE l.status IN ('assigned', 'contacted') AND l.owner IS NOT NULL
    ), removed AS (
        DELETE FROM crm.work_list_key k
         WHERE NOT EXISTS (SELECT FROM expected e WHERE e.lead_id = k.lead_id)
        RETURNING 1
    ), written AS (
        INSERT INTO crm.work_list_key AS k (lead_id, owner, due_key)
        SELECT e.lead_id, e.owner, e.due_key FROM expected e ORDER BY e.lead_id
        ON CONFLICT (lead_id) DO UPDATE SET owner = excluded.owner, due_key = excluded.due_key
         WHERE (k.owner, k.due_key) IS DISTINCT FROM (excluded.owner, excluded.due_key)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM removed) + (SELECT count(*) FROM written) INTO changed;
    RETURN changed;
END
$$;
COMMENT ON FUNCTION crm.work_list_refresh() IS
'Recomputes every crm.work_list_key row from the leads and their open SLA timers and returns how many it added, changed or removed (0 when all were right). crm''s triggers keep the keys; call it after changing crm.sla_timer by hand';

-- The page reads work_list_page_idx from the client's key on, in order,
-- and for the page's rows only the lead, its timers (sla_timer_lead_idx)
-- and the customer's details: its cost follows the page, not the rep's
-- open leads nor the timers in the table.  The lead's state is checked
-- again, so a closed lead never shows even if its key were stale.
CREATE OR REPLACE VIEW crm.work_list AS
SELECT k.lead_id, k.owner, l.team, l.status AS state,
       coalesce((SELECT c.name FROM crm.contact c WHERE c.id = l.contact_id), l.person_name) AS customer_name,
       coalesce((SELECT a.name FROM crm.account a WHERE a.id = l.account_id), l.company_name) AS company_name,
       coalesce((SELECT p.value FROM crm.contact_point p
                  WHERE p.contact_id = l.contact_id AND p.kind = 'phone' AND p.is_primary), l.phone) AS phone,
       l.score, l.assigned_at,
       crm.next_milestone(k.lead_id) AS next_milestone, s.next_due_at,
       coalesce(s.red, false) AS red, coalesce(s.escalation, 0) AS escalation,
       crm.escalation_level(s.escalation) AS level,
       k.due_key
  FROM crm.work_list_key k JOIN crm.lead l ON l.id = k.lead_id
 CROSS JOIN LATERAL crm.lead_timers(k.lead_id) s
 WHERE l.status IN ('assigned', 'contacted');
COMMENT ON VIEW crm.work_list IS
'Each open lead (assigned or contacted) with its owner, customer, next SLA milestone and due time. A rep''s page: WHERE owner = $1 ORDER BY due_key, lead_id LIMIT n; the next page adds AND (due_key, lead_id) > ($last_due_key, $last_lead_id). A page reads crm.work_list_key''s index: its cost follows the page';
COMMENT ON COLUMN crm.work_list.lead_id IS 'The lead (crm.lead.id); unique, the tie-break of the sort key';
COMMENT ON COLUMN crm.work_list.owner IS 'Login of the rep who owns the lead (crm.rep.login)';
COMMENT ON COLUMN crm.work_list.team IS 'The owner''s team the lead was assigned into (crm.team.code)';
COMMENT ON COLUMN crm.work_list.state IS 'crm.lead.status: assigned (waits for the first contact) or contacted';
COMMENT ON COLUMN crm.work_list.customer_name IS 'The contact''s name, or the name the lead gave when the contact has none';
COMMENT ON COLUMN crm.work_list.company_name IS 'The account''s name, or the company the lead gave when it has no account';
COMMENT ON COLUMN crm.work_list.phone IS 'The contact''s primary phone in E.164 form, or the lead''s normalised phone';
COMMENT ON COLUMN crm.work_list.score IS 'Rule score 0-100 (crm.lead.score)';
COMMENT ON COLUMN crm.work_list.assigned_at IS 'When the lead was assigned to its owner';
COMMENT ON COLUMN crm.work_list.next_milestone IS 'The next SLA milestone due (first_contact, needs_summary, follow_up_plan); NULL when none is open';
COMMENT ON COLUMN crm.work_list.next_due_at IS 'When next_milestone is due; NULL when no milestone is open';
COMMENT ON COLUMN crm.work_list.red IS 'An SLA milestone of the lead was breached';
COMMENT ON COLUMN crm.work_list.escalation IS 'Highest escalation reached: 0 none, 1 owner notified, 2 manager, 3 director';
COMMENT ON COLUMN crm.work_list.level IS 'escalation by name as the outbox writes it: owner, manager, director; NULL for 0';
COMMENT ON COLUMN crm.work_list.due_key IS
'Sort key with lead_id: next_due_at, or crm.work_list_no_deadline() (9999-12-31 00:00 UTC, finite so that drivers pass it back unchanged) when no milestone is open (those leads come last, by lead_id); never NULL';
-- @end
-- @upgrade 1.1
-- the keys of the leads open before the update
SELECT crm.work_list_refresh();
-- @end

CREATE TABLE crm.lead_activity (
    id          bigserial PRIMARY KEY,
    lead_id     bigint NOT NULL REFERENCES crm.lead (id) ON DELETE CASCADE,
    kind        text NOT NULL CONSTRAINT lead_activity_kind CHECK (kind IN
                ('first_contact', 'needs_summary', 'follow_up_plan', 'note')),
    body        text,
    next_step   text,
    next_step_at timestamptz,
    actor       text NOT NULL DEFAULT crm.current_actor(),
    at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT lead_activity_summary_written CHECK (kind <> 'needs_summary' OR pg_catalog.btrim(body) <> ''),
    CONSTRAINT lead_activity_plan_has_next_step CHECK (kind <> 'follow_up_plan'
        OR (pg_catalog.btrim(next_step) <> '' AND next_step_at IS NOT NULL)),
    -- finite and after 2000 (the lead time floor's default), whoever
    -- writes them; a next step comes after the activity that plans it
    CONSTRAINT lead_activity_at_sane CHECK (at > '2000-01-01 00:00:00+00' AND at < 'infinity'),
    CONSTRAINT lead_activity_next_step_after CHECK (next_step_at >= at AND next_step_at < 'infinity')
);
SELECT pg_catalog.pg_extension_config_dump('crm.lead_activity', '');
SELECT pg_catalog.pg_extension_config_dump('crm.lead_activity_id_seq', '');
CREATE INDEX lead_activity_lead_idx ON crm.lead_activity (lead_id, at);

-- An activity is a record of what someone did: the checks on who may
-- record it and when run when it is inserted, so what it records cannot be
-- rewritten afterwards.  Its text and next step may be corrected.
CREATE FUNCTION crm.activity_is_a_record() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF (NEW.lead_id, NEW.kind, NEW.actor, NEW.at) IS DISTINCT FROM (OLD.lead_id, OLD.kind, OLD.actor, OLD.at) THEN
        RAISE EXCEPTION 'activity % is a record: its lead, kind, actor and time cannot change', OLD.id
            USING ERRCODE = 'integrity_constraint_violation',
                  HINT = 'Record a new activity (a note that corrects it, or the milestone done now).';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.activity_is_a_record() IS
'Trigger: an activity''s lead, kind, actor and time never change once recorded (who may record what, and when, is checked at insert); body, next_step and next_step_at may be corrected';
CREATE TRIGGER lead_activity_is_a_record BEFORE UPDATE ON crm.lead_activity
    FOR EACH ROW EXECUTE FUNCTION crm.activity_is_a_record();
COMMENT ON TABLE crm.lead_activity IS
'What the owner did: first contact, needs summary, follow-up plan (which must name the next step and its date), notes. Milestones meet the SLA timers; only the lead''s active owner or its team''s manager or director may record them, at a time from the assignment to now';
COMMENT ON COLUMN crm.lead_activity.actor IS
'Who did it: crm.current_actor() (crm.actor, else the role) unless given. A milestone''s actor must be a rep or a team''s manager or director';
COMMENT ON COLUMN crm.lead_activity.at IS
'When it was done: now unless given; never more than a minute ahead of the database''s clock, and for a milestone not before the lead''s assignment';
