-- Lead state transitions as data: crm.lead_transition, read by the
-- lifecycle trigger from a copy each session keeps in memory until a
-- change to the table is committed.  A data steward allows a change with
-- a row of their own, forbids a shipped one with allowed = false, and
-- deleting their row gives the shipped rule back.  Every change takes
-- effect at once in the session making it and, once committed, in every
-- other session (specs/lead_transition_cache.spec follows an open session
-- through it).
TRUNCATE crm.lead, crm.outbox, crm.alarm, crm.win_stats CASCADE;
\pset null '∅'
-- the leads made here give back their ids: later tests' ids stay as they were
SELECT last_value AS lead_serial, is_called AS lead_serial_called FROM crm.lead_id_seq \gset

-- what crm ships: release 1.0's lifecycle, every row shipped
SELECT from_state, to_state, note, shipped FROM crm.lead_transition_allowed
 ORDER BY from_state COLLATE "C", to_state COLLATE "C";
SELECT count(*) AS rows, bool_and(shipped AND allowed) AS all_shipped_allowed FROM crm.lead_transition;

-- a lead in state new, off the assignment path (no rule would take it)
INSERT INTO crm.lead (channel, source_label, payload, outcome, external_id)
VALUES ('website', '官网表单', '{}', 'new', 'tr-1');
SELECT status FROM crm.lead WHERE external_id = 'tr-1';

-- refused: the error lists where the lead may go, in byte order, quoted
UPDATE crm.lead SET status = 'contacted' WHERE external_id = 'tr-1';
\set VERBOSITY sqlstate
UPDATE crm.lead SET status = 'contacted' WHERE external_id = 'tr-1';
\set VERBOSITY default

------------------------------------------------------------------------
-- A steward allows a change: in effect at once, in this session
------------------------------------------------------------------------
INSERT INTO crm.lead_transition (from_state, to_state, note)
VALUES ('new', 'qualified', 'qualified at the booth');
UPDATE crm.lead SET status = 'qualified' WHERE external_id = 'tr-1';
SELECT status, closed_at IS NOT NULL AS closed FROM crm.lead WHERE external_id = 'tr-1';
SELECT from_state, to_state, note, shipped FROM crm.lead_transition_allowed WHERE NOT shipped;

------------------------------------------------------------------------
-- A steward forbids a shipped change with a row of their own
------------------------------------------------------------------------
INSERT INTO crm.lead (channel, source_label, payload, outcome, external_id)
VALUES ('website', '官网表单', '{}', 'new', 'tr-2');
INSERT INTO crm.lead_transition (from_state, to_state, allowed, note)
VALUES ('new', 'disqualified', false, 'every new lead is scored first');
UPDATE crm.lead SET status = 'disqualified' WHERE external_id = 'tr-2';
SELECT count(*) AS in_force FROM crm.lead_transition_allowed
 WHERE from_state = 'new' AND to_state = 'disqualified';
-- deleting the steward's row gives the shipped rule back
DELETE FROM crm.lead_transition WHERE from_state = 'new' AND to_state = 'disqualified' AND NOT shipped;
UPDATE crm.lead SET status = 'disqualified' WHERE external_id = 'tr-2';
SELECT status, closed_at IS NOT NULL AS closed FROM crm.lead WHERE external_id = 'tr-2';

-- a state nothing may leave says so
INSERT INTO crm.lead_transition (from_state, to_state, allowed) VALUES
    ('disqualified', 'contacted', false), ('disqualified', 'scored', false);
UPDATE crm.lead SET status = 'scored' WHERE external_id = 'tr-2';
DELETE FROM crm.lead_transition WHERE from_state = 'disqualified' AND NOT shipped;
UPDATE crm.lead SET status = 'scored' WHERE external_id = 'tr-2';
SELECT status, closed_at FROM crm.lead WHERE external_id = 'tr-2';

-- the steward removes their own change: refused again
DELETE FROM crm.lead_transition WHERE NOT shipped;
INSERT INTO crm.lead (channel, source_label, payload, outcome, external_id)
VALUES ('website', '官网表单', '{}', 'new', 'tr-3');
UPDATE crm.lead SET status = 'qualified' WHERE external_id = 'tr-3';

------------------------------------------------------------------------
-- Rolled back: forgotten
------------------------------------------------------------------------
BEGIN;
INSERT INTO crm.lead_transition (from_state, to_state) VALUES ('new', 'qualified');
UPDATE crm.lead SET status = 'qualified' WHERE external_id = 'tr-3';
SELECT status FROM crm.lead WHERE external_id = 'tr-3';
ROLLBACK;
UPDATE crm.lead SET status = 'qualified' WHERE external_id = 'tr-3';
-- to a savepoint too
BEGIN;
SAVEPOINT s;
INSERT INTO crm.lead_transition (from_state, to_state) VALUES ('new', 'qualified');
UPDATE crm.lead SET status = 'qualified' WHERE external_id = 'tr-3';
ROLLBACK TO SAVEPOINT s;
UPDATE crm.lead SET status = 'qualified' WHERE external_id = 'tr-3';
ROLLBACK;

------------------------------------------------------------------------
-- Committed: a new session reads it; removed and committed: gone
------------------------------------------------------------------------
INSERT INTO crm.lead_transition (from_state, to_state, note) VALUES ('new', 'qualified', 'test');
\c
UPDATE crm.lead SET status = 'qualified' WHERE external_id = 'tr-3';
SELECT status FROM crm.lead WHERE external_id = 'tr-3';
DELETE FROM crm.lead_transition WHERE note = 'test';
\c
INSERT INTO crm.lead (channel, source_label, payload, outcome, external_id)
VALUES ('website', '官网表单', '{}', 'new', 'tr-4');
\set VERBOSITY sqlstate
UPDATE crm.lead SET status = 'qualified' WHERE external_id = 'tr-4';
\set VERBOSITY default

------------------------------------------------------------------------
-- Changes refused
------------------------------------------------------------------------
-- an unknown state (the states are crm.lead_state's)
INSERT INTO crm.lead_transition (from_state, to_state) VALUES ('new', 'won');
INSERT INTO crm.lead_transition (from_state, to_state) VALUES ('pending', 'scored');
-- no change at all
INSERT INTO crm.lead_transition (from_state, to_state) VALUES ('new', 'new');
-- NULLs
INSERT INTO crm.lead_transition (from_state, to_state) VALUES ('new', NULL);
INSERT INTO crm.lead_transition (from_state, to_state, allowed) VALUES ('new', 'qualified', NULL);
-- the same change twice
INSERT INTO crm.lead_transition (from_state, to_state) VALUES ('new', 'qualified'), ('new', 'qualified');
-- shipped rows are read-only, and only crm's script ships rows
\set VERBOSITY sqlstate
UPDATE crm.lead_transition SET allowed = false WHERE from_state = 'qualified' AND to_state = 'contacted';
\set VERBOSITY default
DELETE FROM crm.lead_transition WHERE from_state = 'qualified';
INSERT INTO crm.lead_transition (from_state, to_state, shipped) VALUES ('new', 'qualified', true);
-- nor truncated
TRUNCATE crm.lead_transition;
-- a state a transition names stays (lead states are shipped whole)
DELETE FROM crm.lead_state WHERE state = 'new';
SELECT count(*) AS rows, count(*) FILTER (WHERE NOT shipped) AS own FROM crm.lead_transition;

-- pg_dump keeps the steward's rows, not the shipped ones
SELECT c.relname, x.cond FROM pg_extension e,
       unnest(e.extconfig, e.extcondition) x(oid, cond) JOIN pg_class c ON c.oid = x.oid
 WHERE e.extname = 'crm' AND c.relname = 'lead_transition';

TRUNCATE crm.lead CASCADE;
SELECT setval('crm.lead_id_seq', :lead_serial, :'lead_serial_called'::boolean) IS NOT NULL AS sequence_restored;
