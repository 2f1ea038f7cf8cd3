-- bench/transition_setup.sql: leads for bench/transition_run, written past
-- crm's triggers (session_replication_role = replica): the run times state
-- changes, not how the leads got there.
--   :trigger_leads leads in state new (source_label bench_trigger)
--   10,000 contacted leads of rep bench_rep (source_label bench_change),
--   changed back and forth by bench/state_change.sql
\set ON_ERROR_STOP 1
INSERT INTO crm.team (code, name, manager, director) VALUES ('bench', 'bench', 'bench_mgr', 'bench_dir');
INSERT INTO crm.rep (login, name, team) VALUES ('bench_rep', 'bench', 'bench');
SET session_replication_role = replica;
INSERT INTO crm.lead (channel, source_label, payload, outcome, external_id)
SELECT 'website', 'bench_trigger', '{}', 'new', 'trigger-' || n FROM generate_series(1, :trigger_leads) n;
INSERT INTO crm.lead (channel, source_label, payload, outcome, external_id, status, owner, team, first_response_at)
SELECT 'website', 'bench_change', '{}', 'new', 'change-' || n, 'contacted', 'bench_rep', 'bench', now()
  FROM generate_series(1, 10000) n;
RESET session_replication_role;
