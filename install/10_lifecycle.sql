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

CREATE FUNCTION crm.lead_before_update() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_lead_before_update' LANGUAGE C;
COMMENT ON FUNCTION crm.lead_before_update() IS
'Trigger: refuses a status change the lifecycle does not allow, and stamps status_changed_at and closed_at';
CREATE TRIGGER lead_lifecycle BEFORE UPDATE ON crm.lead
    FOR EACH ROW EXECUTE FUNCTION crm.lead_before_update();
