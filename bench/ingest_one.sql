-- bench/ingest_one.sql: one crm.ingest call, as a webhook receiver makes it.
-- pgbench script: a lead of the mix (bench_mix, made by bench/latency_run),
-- under a fresh external id so that every call really matches and stores (a
-- re-delivery would be a cheap lookup).
\set n random(1, :mix_rows)
\set r random(1, 2000000000)
SELECT outcome FROM crm.ingest('website',
  (SELECT l.payload || jsonb_build_object('id', 'pgb-' || :client_id || '-' || :r)
     FROM bench_mix m JOIN bench_lead l USING (seq) WHERE m.n = :n));
