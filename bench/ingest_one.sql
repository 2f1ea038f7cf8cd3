-- bench/ingest_one.sql: one crm.ingest call, as a webhook receiver makes it.
-- pgbench script: a lead of the benchmark world, under a fresh external id
-- so that every call really matches and stores (a re-delivery would be a
-- cheap lookup).
\set seq random(1, :leads)
\set r random(1, 2000000000)
SELECT outcome FROM crm.ingest('website',
  (SELECT payload || jsonb_build_object('id', 'pgb-' || :client_id || '-' || :r)
     FROM bench_lead WHERE seq = :seq));
