-- bench/working_time.sql: the cost of a deadline on a team calendar, 1,000
-- calls each of crm.add_working_time (working clock) and
-- crm.next_working_time (calendar clock), over three weeks of starts.
-- Usage, in a throw-away cluster (after 'make install', or CRM_PG_ROOT=DIR):
--   scripts/cluster.sh psql -X -f bench/working_time.sql
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crm CASCADE;
-- plans made, caches warm
SELECT crm.add_working_time('cn_standard', now(), '72 hours'), crm.next_working_time('cn_standard', now());
\timing on
SELECT count(crm.add_working_time('cn_standard', '2026-12-05 20:00+08'::timestamptz + g * interval '31 minutes', '72 hours'))
  AS add_working_time_1000 FROM generate_series(1, 1000) g;
SELECT count(crm.next_working_time('cn_standard', '2026-12-05 20:00+08'::timestamptz + g * interval '31 minutes'))
  AS next_working_time_1000 FROM generate_series(1, 1000) g;
