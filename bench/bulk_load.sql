-- bench/bulk_load.sql: customers :first to :last of bench_customer in one
-- INSERT ... SELECT into crm.lead_inbox, or with -v inbox=lead_inbox_text
-- -v as_type=text into crm.lead_inbox_text as JSON text; prints its seconds.
\set ON_ERROR_STOP 1
\if :{?inbox}
\else
\set inbox lead_inbox
\set as_type jsonb
\endif
SET max_parallel_workers_per_gather = 0;
SET jit = off;
SELECT extract(epoch FROM clock_timestamp()) AS started \gset
INSERT INTO crm.:inbox (channel, payload)
SELECT 'website', payload:::as_type FROM bench_customer WHERE n BETWEEN :first AND :last ORDER BY n;
SELECT round((extract(epoch FROM clock_timestamp()) - :started)::numeric, 2) AS seconds,
       ingested, quarantined FROM crm.lead_inbox_counts() \gset
\echo :seconds :ingested :quarantined
