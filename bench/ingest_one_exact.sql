-- bench/ingest_one_exact.sql: bench/ingest_one.sql's call made by the
-- hand-written exact-match baseline (bench/baseline_exact.sql, stored as
-- bench/baseline_lead.sql stores it), for bench/latency_run's BASELINE rows.
\set n random(1, :mix_rows)
\set r random(1, 2000000000)
SELECT b.outcome
  FROM (SELECT l.payload || jsonb_build_object('id', 'pgb-' || :client_id || '-' || :r) AS payload
          FROM bench_mix m JOIN bench_lead l USING (seq) WHERE m.n = :n) p,
       LATERAL bench_ingest_exact(p.payload) b,
       LATERAL bench_store_lead(p.payload, b.contact_id, b.account_id, b.outcome) s;
