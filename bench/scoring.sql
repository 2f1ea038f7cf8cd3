-- bench/scoring.sql: what scoring adds to bulk ingestion (issue 4).
-- Loaded after bench/dedup_data.sql; run by bench/scoring_run.
--
-- The same leads go through crm.lead_inbox with crm.score_on_ingest off
-- (leads stored in state new) and on (scored before they are stored: rule
-- score, win probability and explanation, then the lead triggers).  No
-- assignment rule is active, so assignment is not part of the figure.
-- Runs alternate, three of each, every run rolled back; medians compared.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
-- a trained model, as after some months: 2,000 closed leads
INSERT INTO crm.win_stats (feature, won, lost)
SELECT f, 10 + (abs(hashtext(f)) % 200), 10 + (abs(hashtext(f || 'x')) % 300)
  FROM (SELECT DISTINCT unnest(ARRAY['channel=' || channel, 'title=head', 'title=executive', 'title=none',
                                     'email=yes', 'email=no', 'company=yes', 'company=no',
                                     'customer=known', 'customer=new', 'province=33', 'province=none',
                                     'product_line=none'])
          FROM crm.channel) x(f)
UNION ALL SELECT '*', 800, 1200;

CREATE TABLE bench_scoring (mode text, run integer, secs numeric);
CREATE FUNCTION pg_temp.ingest_secs(score boolean) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    secs numeric;
BEGIN
    PERFORM set_config('crm.score_on_ingest', score::text, true);
    t0 := clock_timestamp();
    BEGIN
        INSERT INTO crm.lead_inbox (channel, payload) SELECT channel, payload FROM bench_lead ORDER BY seq;
        secs := extract(epoch FROM clock_timestamp() - t0);
        RAISE EXCEPTION USING ERRCODE = 'P0002';
    EXCEPTION WHEN no_data_found THEN NULL;
    END;
    RETURN secs;
END
$$;
SELECT max(seq) AS leads FROM bench_lead \gset
SELECT pg_temp.ingest_secs(false);   -- warm-up
INSERT INTO bench_scoring SELECT 'off', r, pg_temp.ingest_secs(false) FROM generate_series(1, 1) r;
INSERT INTO bench_scoring SELECT 'on', r, pg_temp.ingest_secs(true) FROM generate_series(1, 1) r;
INSERT INTO bench_scoring SELECT 'off', r, pg_temp.ingest_secs(false) FROM generate_series(2, 2) r;
INSERT INTO bench_scoring SELECT 'on', r, pg_temp.ingest_secs(true) FROM generate_series(2, 2) r;
INSERT INTO bench_scoring SELECT 'off', r, pg_temp.ingest_secs(false) FROM generate_series(3, 3) r;
INSERT INTO bench_scoring SELECT 'on', r, pg_temp.ingest_secs(true) FROM generate_series(3, 3) r;
SELECT mode, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY secs)::numeric, 3) AS median_secs,
       round(:leads / percentile_cont(0.5) WITHIN GROUP (ORDER BY secs)::numeric) AS leads_per_sec,
       array_agg(round(secs, 2) ORDER BY run) AS runs
  FROM bench_scoring GROUP BY mode ORDER BY mode DESC;
SELECT round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY secs) FROM bench_scoring WHERE mode = 'on')::numeric
           / (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY secs) FROM bench_scoring WHERE mode = 'off')::numeric
           - 1, 3) AS scoring_adds;
