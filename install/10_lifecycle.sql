------------------------------------------------------------------------------
-- Lead lifecycle: states and their timers
------------------------------------------------------------------------------

-- Every state that waits on a machine step has a timeout: a lead left in
-- it longer raises the stranded-leads alarm (crm.run_timeouts).  States
-- that wait on a person are timed by the SLA timers instead.
CREATE TABLE crm.lead_state (
    state       text PRIMARY KEY CONSTRAINT lead_state_known CHECK (state IN
                ('new', 'scored', 'assigned', 'contacted', 'qualified', 'disqualified')),
    waits_on    text NOT NULL CONSTRAINT lead_state_waits_on CHECK (waits_on IN ('machine', 'person', 'nobody')),
    timeout     interval CONSTRAINT lead_state_timeout CHECK ((waits_on = 'machine') = (timeout IS NOT NULL)
                                                              AND timeout > interval '0'),
    description text NOT NULL
);
CREATE TRIGGER lead_state_shipped_guard BEFORE UPDATE OR DELETE ON crm.lead_state
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('lead state', 'state',
        'The lifecycle is part of crm; its timeouts only raise alarms, assignment itself is immediate.');
COMMENT ON TABLE crm.lead_state IS
'The lead lifecycle; a lead waiting on a machine step longer than its timeout is stranded and raises an alarm';
INSERT INTO crm.lead_state VALUES
    ('new', 'machine', '10 minutes', 'waits for scoring'),
    ('scored', 'machine', '10 minutes', 'waits for assignment'),
    ('assigned', 'person', NULL, 'waits for the owner''s first contact (SLA timers)'),
    ('contacted', 'person', NULL, 'the owner works it toward qualification (SLA timers)'),
    ('qualified', 'nobody', NULL, 'closed: worth an opportunity'),
    ('disqualified', 'nobody', NULL, 'closed: not a prospect');

-- @since 1.1
-- The changes between states, as data.  A data steward allows another
-- change with a row of their own, and forbids a shipped one with a row of
-- their own that says allowed = false; deleting their row gives the
-- shipped rule back.  Shipped rows are read-only and come back with
-- CREATE EXTENSION, not with pg_dump.
CREATE TABLE crm.lead_transition (
    from_state  text NOT NULL REFERENCES crm.lead_state (state),
    to_state    text NOT NULL REFERENCES crm.lead_state (state),
    allowed     boolean NOT NULL DEFAULT true,
    note        text,
    shipped     boolean NOT NULL DEFAULT false,
    CONSTRAINT lead_transition_pkey PRIMARY KEY (from_state, to_state, shipped),
    CONSTRAINT lead_transition_moves CHECK (from_state <> to_state)
);
COMMENT ON TABLE crm.lead_transition IS
'The lead state changes the lifecycle trigger allows (crm.lead_transition_allowed lists those in force): a row of your own allows a change, or with allowed = false forbids a shipped one; read by every session once and again after each committed change';
COMMENT ON COLUMN crm.lead_transition.from_state IS 'The state a lead leaves (crm.lead_state)';
COMMENT ON COLUMN crm.lead_transition.to_state IS 'The state it enters (crm.lead_state)';
COMMENT ON COLUMN crm.lead_transition.allowed IS
'False forbids the change: a row of your own so marked overrides a shipped row of the same two states';
COMMENT ON COLUMN crm.lead_transition.note IS 'Why the change is allowed or forbidden';
COMMENT ON COLUMN crm.lead_transition.shipped IS
'Shipped with crm (read-only, not in pg_dump); your rows are false';
SELECT pg_catalog.pg_extension_config_dump('crm.lead_transition', 'WHERE NOT shipped');
CREATE INDEX lead_transition_to_state_idx ON crm.lead_transition (to_state);

INSERT INTO crm.lead_transition (from_state, to_state, note, shipped) VALUES
    ('new', 'scored', 'scoring (ingestion, the sweep, crm.rescore)', true),
    ('new', 'assigned', NULL, true),
    ('new', 'disqualified', NULL, true),
    ('scored', 'assigned', 'assignment (crm.assign_leads)', true),
    ('scored', 'disqualified', NULL, true),
    ('assigned', 'contacted', 'the owner''s first contact (crm.lead_activity)', true),
    ('assigned', 'scored', 'handed on to another owner (crm.reassign_stranded, escalation)', true),
    ('assigned', 'disqualified', NULL, true),
    ('contacted', 'qualified', NULL, true),
    ('contacted', 'disqualified', NULL, true),
    ('qualified', 'contacted', 'reopened', true),
    ('disqualified', 'contacted', 'reopened', true),
    ('disqualified', 'scored', 'reopened for assignment', true);
CREATE TRIGGER lead_transition_shipped_guard BEFORE UPDATE OR DELETE ON crm.lead_transition
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('lead transition from', 'from_state',
        'Add a row of your own for the same two states (allowed = false forbids the change): it replaces the shipped one.');
CREATE TRIGGER lead_transition_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.lead_transition
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();
CREATE TRIGGER lead_transition_no_truncate BEFORE TRUNCATE ON crm.lead_transition
    FOR EACH STATEMENT EXECUTE FUNCTION crm.guard_shipped_truncate();
-- Each session keeps the transitions in memory between state changes; a
-- change to the table tells them all to read it again.
CREATE FUNCTION crm.transitions_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_transitions_changed' LANGUAGE C;
COMMENT ON FUNCTION crm.transitions_changed() IS
'Statement trigger on a table of allowed state changes (crm.lead_transition): every session reads it again (at commit, or at once in the session that changed it)';
CREATE TRIGGER lead_transition_changed AFTER INSERT OR UPDATE OR DELETE ON crm.lead_transition
    FOR EACH STATEMENT EXECUTE FUNCTION crm.transitions_changed();

CREATE VIEW crm.lead_transition_allowed AS
SELECT t.from_state, t.to_state, t.note, t.shipped
  FROM crm.lead_transition t
 WHERE t.allowed
   AND (NOT t.shipped OR NOT EXISTS (SELECT FROM crm.lead_transition u
                                      WHERE NOT u.shipped AND u.from_state = t.from_state
                                        AND u.to_state = t.to_state));
COMMENT ON VIEW crm.lead_transition_allowed IS
'The lead state changes in force: crm.lead_transition''s allowed rows, a row of your own replacing a shipped one of the same two states';
COMMENT ON COLUMN crm.lead_transition_allowed.from_state IS 'The state a lead leaves';
COMMENT ON COLUMN crm.lead_transition_allowed.to_state IS 'A state it may enter from there';
COMMENT ON COLUMN crm.lead_transition_allowed.note IS 'Why, from the row in force';
COMMENT ON COLUMN crm.lead_transition_allowed.shipped IS 'Whether the row in force is crm''s own';
-- @end

CREATE FUNCTION crm.lead_before_update() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_lead_before_update' LANGUAGE C;
COMMENT ON FUNCTION crm.lead_before_update() IS
'Trigger: refuses a status change the lifecycle does not allow, and stamps status_changed_at and closed_at';
CREATE TRIGGER lead_lifecycle BEFORE UPDATE ON crm.lead
    FOR EACH ROW EXECUTE FUNCTION crm.lead_before_update();
