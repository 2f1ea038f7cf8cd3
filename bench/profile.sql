-- bench/profile.sql: the statement bench/profile_run samples.  The short
-- sleep lets the runner find this backend and start perf before it begins.
\set ON_ERROR_STOP 1
SET jit = off;
SELECT pg_sleep(3) \g /dev/null
BEGIN;
SELECT clock_timestamp() AS t0 \gset
INSERT INTO crm.lead_inbox (channel, payload) SELECT channel, payload FROM bench_lead ORDER BY seq;
SELECT count(*) AS leads,
       round(count(*) / extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)) AS leads_per_s_under_perf
  FROM crm.lead;
ROLLBACK;
