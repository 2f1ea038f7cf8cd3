-- bench/dedup.sql: lead matching, crm against two hand-written baselines.
--
-- Run after bench/dedup_data.sql, bench/baseline_lead.sql,
-- bench/baseline_exact.sql and bench/baseline_trgm.sql (bench/dedup_run does
-- all of it in a throw-away cluster).  Each approach ingests the leads of
-- bench_lead in seq order, one at a time, inside BEGIN ... ROLLBACK, so every
-- approach starts from the same world:
--   crm    INSERT INTO crm.lead_inbox, all leads (skipped while the installed
--          crm has no crm.lead_inbox)
--   exact  bench_ingest_exact(payload), all leads
--   trgm   bench_ingest_trgm(payload), the first :sample leads (default 2000;
--          it is slow)
-- and stores each lead in crm.lead, as crm does (the baselines through
-- bench_store_lead).
-- Then timings that find nobody: the storage floor (the leads written as new
-- contacts, nothing looked up, bench/dedup_floor.sql), and as diagnoses the
-- floor with its codes registered in bulk, with and without foreign-key
-- checks, bare writes (no foreign-key checks, no customer-code registry),
-- the rows crm wrote written again without looking anything up, and crm
-- without foreign-key checks.
-- Each approach keeps only its own indexes while it runs: the other
-- approaches' bench_* indexes are dropped inside its transaction (and come
-- back with the ROLLBACK), so nobody pays for another's index maintenance.
-- After each ROLLBACK a VACUUM clears the dead rows for the next one.
--
-- The per-lead results leave each transaction through a psql variable (\gset)
-- and land in dedup_out; the quality figures are computed from dedup_out and
-- the ground truth in bench_lead.  One run per approach, one backend, no
-- parallel query, no JIT.
--
--   psql -v sample=2000 -f bench/dedup.sql
\set ON_ERROR_STOP 1
\set QUIET 1
\if :{?sample} \else \set sample 2000 \endif
SET max_parallel_workers_per_gather = 0;
SET jit = off;
\pset null '-'

CREATE TEMP TABLE dedup_run (
    approach text PRIMARY KEY,
    ord      int NOT NULL,
    last_seq int NOT NULL,        -- leads seq 1 .. last_seq were given to it
    seconds  numeric NOT NULL
);
CREATE TEMP TABLE dedup_out (
    approach   text,
    seq        int,
    contact_id bigint,
    account_id bigint,
    outcome    text,
    offered    bigint[],          -- a review's other candidates (crm: the evidence's alternatives)
    offered_accounts bigint[],    -- the accounts a review puts before the reviewer (crm: a
                                  -- contact review's candidates' accounts, which review_accept
                                  -- gives the lead, or an account review's organisations)
    PRIMARY KEY (approach, seq)
);

-- Drops, inside the caller's transaction, the bench_* indexes on crm tables
-- that belong to other approaches (named bench_<approach>_...).
CREATE FUNCTION pg_temp.drop_other_indexes(keep text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    dropped text[] := '{}';
BEGIN
    FOR r IN SELECT c.oid::regclass AS idx, c.relname
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'crm' AND c.relkind = 'i'
                AND c.relname LIKE 'bench\_%' AND c.relname NOT LIKE 'bench\_' || keep || '\_%'
              ORDER BY c.relname
    LOOP
        EXECUTE format('DROP INDEX %s', r.idx);
        dropped := dropped || r.relname::text;
    END LOOP;
    RETURN coalesce(nullif(array_to_string(dropped, ', '), ''), 'none');
END
$$;

-- Turns off, inside the caller's transaction, the foreign-key check triggers
-- of the given tables (a diagnosis of what the checks cost; never a setting).
CREATE FUNCTION pg_temp.fk_checks_off(tables regclass[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT tgrelid::regclass AS tab, tgname FROM pg_trigger
              WHERE tgname LIKE 'RI\_ConstraintTrigger\_c\_%' AND tgrelid = ANY (tables)
    LOOP
        EXECUTE format('ALTER TABLE %s DISABLE TRIGGER %I', t.tab, t.tgname);
    END LOOP;
END
$$;

-- The rows a run of crm inserted (ids above those before it), saved to
-- files (name.account, .contact, .point, .lead) for the floor that writes
-- the same rows; columns as crm's engine writes them (generated ones
-- and those the triggers set are left to them)
CREATE FUNCTION pg_temp.save_crm_rows(name text, account bigint, contact bigint, point bigint, lead bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('COPY (SELECT id, code, name, uscc, region_code, owner, created_at FROM crm.account'
                   ' WHERE id > %s) TO %L', account, name || '.account');
    EXECUTE format('COPY (SELECT id, code, account_id, name, title, wechat_openid, owner, created_at FROM crm.contact'
                   ' WHERE id > %s) TO %L', contact, name || '.contact');
    EXECUTE format('COPY (SELECT contact_id, kind, value, is_primary FROM crm.contact_point'
                   ' WHERE id > %s ORDER BY id) TO %L', point, name || '.point');
    EXECUTE format('COPY (SELECT id, channel, source_label, external_id, person_name, company_name, phone, email,'
                   ' uscc, region_code, title, product_line, wechat_openid, notes, warnings, payload, contact_id,'
                   ' account_id, outcome, account_outcome, match_score, created_at FROM crm.lead'
                   ' WHERE id > %s ORDER BY id) TO %L', lead, name || '.lead');
END
$$;

SELECT max(id) AS max_account FROM crm.account \gset
SELECT max(seq) AS all_leads, least(:sample, max(seq)) AS trgm_leads FROM bench_lead \gset
SELECT to_regclass('crm.lead_inbox') IS NOT NULL AS have_inbox,
       to_regprocedure('bench_ingest_exact(jsonb)') IS NOT NULL
         AND to_regprocedure('bench_store_lead(jsonb,bigint,bigint,text)') IS NOT NULL AS have_exact,
       to_regprocedure('bench_ingest_trgm(jsonb)') IS NOT NULL
         AND to_regprocedure('bench_store_lead(jsonb,bigint,bigint,text)') IS NOT NULL AS have_trgm \gset

-- Warm the caches the same for everyone
SELECT (SELECT count(*) FROM crm.account) + (SELECT count(*) FROM crm.contact)
       + (SELECT count(*) FROM crm.contact_point) AS warm \gset

------------------------------------------------------------------------------
-- crm: the lead inbox
------------------------------------------------------------------------------
\if :have_inbox
\echo '== crm: INSERT INTO crm.lead_inbox,' :all_leads 'leads'
-- what crm writes is kept (in files of the server's, COPY TO) for the
-- floor that writes the same rows
SELECT coalesce(max(id), 0) AS max_contact FROM crm.contact \gset
SELECT coalesce(max(id), 0) AS max_point FROM crm.contact_point \gset
SELECT coalesce(max(id), 0) AS max_lead FROM crm.lead \gset
SELECT '/tmp/crm_dedup_rows_' || pg_backend_pid() AS rows_file \gset
BEGIN;
SELECT pg_temp.drop_other_indexes('crm') AS dropped \gset
\echo '   other approaches'' indexes dropped for this run:' :dropped
SELECT clock_timestamp() AS t0 \gset
INSERT INTO crm.lead_inbox (channel, payload) SELECT channel, payload FROM bench_lead ORDER BY seq;
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \gset
SELECT array_agg(ROW('crm', b.seq, l.contact_id, l.account_id, l.outcome, o.alternatives,
                     CASE WHEN l.outcome = 'review' THEN
                       ARRAY(SELECT DISTINCT c.account_id FROM crm.contact c
                              WHERE c.id = ANY (o.alternatives || l.contact_id) AND c.account_id IS NOT NULL)
                     ELSE o.organisations
                     END)::dedup_out)::text AS res
  FROM crm.lead l JOIN bench_lead b ON b.channel = l.channel AND b.seq::text = l.external_id
  CROSS JOIN LATERAL (
    SELECT ARRAY(SELECT (a->>'contact_id')::bigint
                   FROM crm.match_review r, jsonb_array_elements(r.evidence->'alternatives') a
                  WHERE r.lead_id = l.id AND l.outcome = 'review') AS alternatives,
           (SELECT crm.offered_accounts(r) FROM crm.match_review r
             WHERE r.lead_id = l.id AND r.entity = 'account') AS organisations) o \gset
SELECT pg_temp.save_crm_rows(:'rows_file', :max_account, :max_contact, :max_point, :max_lead) \gset
ROLLBACK;
\echo '   seconds:' :secs
INSERT INTO dedup_run VALUES ('crm', 1, :all_leads, :secs);
INSERT INTO dedup_out SELECT * FROM unnest(coalesce(:'res', '{}')::dedup_out[]);
VACUUM crm.account, crm.contact, crm.contact_point, crm.customer_code, crm.lead;
\else
\echo '== crm: skipped, the installed crm has no crm.lead_inbox'
\endif

------------------------------------------------------------------------------
-- exact baseline
------------------------------------------------------------------------------
\if :have_exact
\echo '== exact: bench_ingest_exact(),' :all_leads 'leads'
BEGIN;
SELECT pg_temp.drop_other_indexes('exact') AS dropped \gset
\echo '   other approaches'' indexes dropped for this run:' :dropped
SELECT clock_timestamp() AS t0 \gset
CREATE TEMP TABLE r_exact AS
SELECT l.seq, b.*
  FROM (SELECT seq, payload FROM bench_lead ORDER BY seq) l,
       LATERAL bench_ingest_exact(l.payload) b,
       LATERAL bench_store_lead(l.payload, b.contact_id, b.account_id, b.outcome) stored;
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \gset
SELECT array_agg(ROW('exact', seq, contact_id, account_id, outcome, NULL, NULL)::dedup_out)::text AS res FROM r_exact \gset
ROLLBACK;
\echo '   seconds:' :secs
INSERT INTO dedup_run VALUES ('exact', 2, :all_leads, :secs);
INSERT INTO dedup_out SELECT * FROM unnest(coalesce(:'res', '{}')::dedup_out[]);
VACUUM crm.account, crm.contact, crm.contact_point, crm.customer_code, crm.lead;
\else
\echo '== exact: skipped, load bench/baseline_lead.sql and bench/baseline_exact.sql first'
\endif

------------------------------------------------------------------------------
-- trigram baseline, on the first :sample leads
------------------------------------------------------------------------------
\if :have_trgm
\echo '== trgm: bench_ingest_trgm(),' :trgm_leads 'leads'
BEGIN;
SELECT pg_temp.drop_other_indexes('trgm') AS dropped \gset
\echo '   other approaches'' indexes dropped for this run:' :dropped
SELECT clock_timestamp() AS t0 \gset
CREATE TEMP TABLE r_trgm AS
SELECT l.seq, b.*
  FROM (SELECT seq, payload FROM bench_lead WHERE seq <= :trgm_leads ORDER BY seq) l,
       LATERAL bench_ingest_trgm(l.payload) b,
       LATERAL bench_store_lead(l.payload, b.contact_id, b.account_id, b.outcome) stored;
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \gset
SELECT array_agg(ROW('trgm', seq, contact_id, account_id, outcome, NULL, NULL)::dedup_out)::text AS res FROM r_trgm \gset
ROLLBACK;
\echo '   seconds:' :secs
INSERT INTO dedup_run VALUES ('trgm', 3, :trgm_leads, :secs);
INSERT INTO dedup_out SELECT * FROM unnest(coalesce(:'res', '{}')::dedup_out[]);
VACUUM crm.account, crm.contact, crm.contact_point, crm.customer_code, crm.lead;
\else
\echo '== trgm: skipped, load bench/baseline_lead.sql and bench/baseline_trgm.sql first'
\endif

------------------------------------------------------------------------------
-- The storage floor: every lead stored as a new contact, nothing looked up
------------------------------------------------------------------------------
-- Not an approach (it finds nobody): what writing the rows alone costs in
-- this schema, with its constraints, triggers, indexes and customer codes,
-- each code issued by the column default as a row is written.  Then, as
-- diagnoses of where the floor's time goes (inside the rolled-back
-- transaction only):
--   codes in bulk    the codes registered in one statement before the
--                    contacts, as crm's engine does, and the code guard off
--                    (crm's own guard trusts the codes its batch issued)
--   ... no FK checks the same, with the foreign-key check triggers of the
--                    four tables off
--   bare writes      no foreign-key checks and no registry: each contact
--                    takes a code no registry row vouches for (serials from
--                    the top of the range, so they clash with no issued
--                    code); what is left is the three rows and their
--                    indexes, the normalisers and the lead trigger
-- The leads to write, with their contact ids and codes (before the clock starts)
CREATE FUNCTION pg_temp.prepare_floor(codes text) RETURNS void
LANGUAGE sql AS $$
    CREATE TEMP TABLE floor_lead ON COMMIT DROP AS
    SELECT seq, payload, cid,
           CASE codes WHEN 'in bulk' THEN crm.customer_code_from_serial(nextval('crm.customer_code_seq'))
                      WHEN 'none' THEN crm.customer_code_from_serial(52523350143 - cid)
           END AS code
      FROM (SELECT seq, payload, nextval('crm.contact_id_seq') AS cid FROM bench_lead ORDER BY seq) l;
$$;
CREATE FUNCTION pg_temp.write_floor(codes text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF codes = 'in bulk' THEN
        INSERT INTO crm.customer_code (code, kind) SELECT code, 'contact' FROM floor_lead;
    END IF;
    WITH k AS (INSERT INTO crm.contact (id, code, name)
               SELECT cid, coalesce(code, crm.issue_customer_code('contact')), payload->>'name'
                 FROM floor_lead),
         p AS (INSERT INTO crm.contact_point (contact_id, kind, value, is_primary)
               SELECT cid, 'phone', payload->>'phone', true FROM floor_lead
                WHERE crm.norm_phone(payload->>'phone') IS NOT NULL)
    INSERT INTO crm.lead (channel, source_label, external_id, person_name, phone, payload, contact_id,
                          outcome, created_at)
    SELECT 'website', '官网表单', seq::text, payload->>'name', crm.norm_phone(payload->>'phone'), payload,
           cid, 'new', (payload->>'submitted_at')::timestamptz
      FROM floor_lead;
END
$$;
CREATE TEMP TABLE floor_kind (ord int PRIMARY KEY, approach text NOT NULL, fk_checks boolean NOT NULL,
                              codes text NOT NULL);
INSERT INTO floor_kind VALUES (4, 'floor', true, 'one by one'),
                              (6, 'floor, codes in bulk', true, 'in bulk'),
                              (7, 'floor, codes in bulk, no FK checks', false, 'in bulk'),
                              (8, 'bare writes', false, 'none');
\set floor_ord 4
\ir dedup_floor.sql
\set floor_ord 6
\ir dedup_floor.sql
\set floor_ord 7
\ir dedup_floor.sql
\set floor_ord 8
\ir dedup_floor.sql

-- The floor that writes the rows crm wrote: the same accounts, contacts,
-- contact points, codes and leads, with their foreign keys and the code
-- registry, in one statement each, nothing looked up (codes in bulk, as
-- crm's engine writes them).  Not what crm updates (a merged contact's
-- new point, the leads' owners) nor its reviews: the rows only.
\if :have_inbox
\echo '== floor, the rows crm writes:' :all_leads 'leads'
CREATE TEMP TABLE rows_account AS SELECT id, code, name, uscc, region_code, owner, created_at FROM crm.account WITH NO DATA;
CREATE TEMP TABLE rows_contact AS SELECT id, code, account_id, name, title, wechat_openid, owner, created_at
  FROM crm.contact WITH NO DATA;
CREATE TEMP TABLE rows_point AS SELECT contact_id, kind, value, is_primary FROM crm.contact_point WITH NO DATA;
CREATE TEMP TABLE rows_lead AS
SELECT id, channel, source_label, external_id, person_name, company_name, phone, email, uscc, region_code, title,
       product_line, wechat_openid, notes, warnings, payload, contact_id, account_id, outcome, account_outcome,
       match_score, created_at FROM crm.lead WITH NO DATA;
SELECT format('COPY rows_account FROM %L; COPY rows_contact FROM %L; COPY rows_point FROM %L; COPY rows_lead FROM %L',
              :'rows_file' || '.account', :'rows_file' || '.contact', :'rows_file' || '.point', :'rows_file' || '.lead')
       AS load_rows \gset
:load_rows;
ANALYZE rows_account, rows_contact, rows_point, rows_lead;
BEGIN;
SELECT pg_temp.drop_other_indexes('floor') AS dropped \gset
ALTER TABLE crm.contact DISABLE TRIGGER contact_code_guard;
ALTER TABLE crm.account DISABLE TRIGGER account_code_guard;
ALTER TABLE crm.customer_code DISABLE TRIGGER customer_code_written_by_crm;
SELECT clock_timestamp() AS t0 \gset
INSERT INTO crm.customer_code (code, kind)
SELECT code, 'account' FROM rows_account UNION ALL SELECT code, 'contact' FROM rows_contact;
INSERT INTO crm.account (id, code, name, uscc, region_code, owner, created_at) SELECT * FROM rows_account;
INSERT INTO crm.contact (id, code, account_id, name, title, wechat_openid, owner, created_at) SELECT * FROM rows_contact;
INSERT INTO crm.contact_point (contact_id, kind, value, is_primary) SELECT * FROM rows_point;
INSERT INTO crm.lead (id, channel, source_label, external_id, person_name, company_name, phone, email, uscc,
                      region_code, title, product_line, wechat_openid, notes, warnings, payload, contact_id,
                      account_id, outcome, account_outcome, match_score, created_at)
SELECT * FROM rows_lead ORDER BY id;
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \gset
SELECT (SELECT count(*) FROM rows_account) AS n_accounts, (SELECT count(*) FROM rows_contact) AS n_contacts,
       (SELECT count(*) FROM rows_point) AS n_points, (SELECT count(*) FROM rows_lead) AS n_leads \gset
ROLLBACK;
\echo '   seconds:' :secs ' (accounts' :n_accounts ', contacts' :n_contacts ', points' :n_points ', leads' :n_leads ')'
INSERT INTO dedup_run VALUES ('floor, the rows crm writes', 9, :all_leads, :secs);
VACUUM crm.account, crm.contact, crm.contact_point, crm.customer_code, crm.lead;
\endif

------------------------------------------------------------------------------
-- Diagnosis: what the foreign-key checks cost crm
------------------------------------------------------------------------------
-- Not a setting anyone should run with: crm again, with the foreign-key
-- check triggers of the tables ingestion writes disabled (inside the
-- transaction, which is rolled back).  PostgreSQL checks every referencing
-- row on its own, with a query that locks the referenced row; the gap to
-- crm's time is what those checks cost.
\if :have_inbox
\echo '== crm without foreign-key checks (diagnosis only),' :all_leads 'leads'
BEGIN;
SELECT pg_temp.drop_other_indexes('crm') AS dropped \gset
SELECT pg_temp.fk_checks_off('{crm.lead, crm.contact, crm.contact_point, crm.account,
                                crm.match_review, crm.merge_history}') \gset
SELECT clock_timestamp() AS t0 \gset
INSERT INTO crm.lead_inbox (channel, payload) SELECT channel, payload FROM bench_lead ORDER BY seq;
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \gset
ROLLBACK;
\echo '   seconds:' :secs
INSERT INTO dedup_run VALUES ('crm, no FK checks', 5, :all_leads, :secs);
VACUUM crm.account, crm.contact, crm.contact_point, crm.customer_code, crm.lead;
\endif

------------------------------------------------------------------------------
-- Quality
------------------------------------------------------------------------------
-- Per approach, over the leads it was given (seq <= least(last_seq, upto)):
--   contact precision  merged leads on their true contact / merged leads
--   contact recall     known people (truth_contact) found: merged or review,
--                      on the true contact, or a review that offers it among
--                      its alternatives (a reviewer picks it with
--                      crm.review_accept(id, contact_id)) / known people
--   hard negatives     namesake or recycled leads merged (must be 0), and
--                      recycled leads sent to review (should be all)
--   account precision  leads on a pre-existing account that is the true one /
--                      leads on a pre-existing account (id <= max before)
--   account recall     known organisations (truth_account) found: the lead is
--                      on the true account, or a review offers it: one of the
--                      contacts a contact review offers is on it (accepting
--                      that contact puts the lead on its account), or an
--                      account review lists it / known organisations
--   account assigned   known organisations the lead is on, without review /
--                      known organisations
-- A lead the approach returned no row for (crm: quarantined) counts as missed.
CREATE TEMP VIEW dedup_scored AS
SELECT r.approach, r.ord, r.last_seq, r.seconds, b.seq, b.kind, b.truth_contact, b.truth_account,
       o.seq IS NOT NULL AS processed, o.contact_id, o.account_id, o.outcome,
       (o.outcome IN ('merged', 'review') AND o.contact_id = b.truth_contact)
       OR (o.outcome = 'review' AND b.truth_contact = ANY (o.offered)) AS contact_found,
       o.account_id = b.truth_account AS account_assigned,
       o.account_id = b.truth_account OR b.truth_account = ANY (o.offered_accounts) AS account_found,
       cardinality(o.offered_accounts) AS accounts_offered,
       o.account_id <= :max_account AS on_old_account
  FROM dedup_run r
  JOIN bench_lead b ON b.seq <= r.last_seq
  LEFT JOIN dedup_out o ON o.approach = r.approach AND o.seq = b.seq
 WHERE r.ord <= 3;                  -- the approaches; floor and diagnosis find nobody

CREATE FUNCTION pg_temp.pct(num bigint, den bigint) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$ SELECT round(100.0 * num / nullif(den, 0), 2) $$;

CREATE FUNCTION pg_temp.dedup_quality(upto int)
RETURNS TABLE (approach text, ord int, leads bigint, missing bigint, new bigint, merged bigint, review bigint,
               "contact prec %" numeric, "contact recall %" numeric,
               "hard neg merged" text, "recycled to review" text,
               "account prec %" numeric, "account recall %" numeric, "account assigned %" numeric)
LANGUAGE sql AS $$
SELECT approach, ord, count(*), count(*) FILTER (WHERE NOT processed),
       count(*) FILTER (WHERE outcome = 'new'),
       count(*) FILTER (WHERE outcome = 'merged'),
       count(*) FILTER (WHERE outcome = 'review'),
       pg_temp.pct(count(*) FILTER (WHERE outcome = 'merged' AND contact_id = truth_contact),
                   count(*) FILTER (WHERE outcome = 'merged')),
       pg_temp.pct(count(*) FILTER (WHERE truth_contact IS NOT NULL AND contact_found),
                   count(*) FILTER (WHERE truth_contact IS NOT NULL)),
       count(*) FILTER (WHERE kind IN ('namesake', 'recycled') AND outcome = 'merged')
         || ' / ' || count(*) FILTER (WHERE kind IN ('namesake', 'recycled')),
       count(*) FILTER (WHERE kind = 'recycled' AND outcome = 'review')
         || ' / ' || count(*) FILTER (WHERE kind = 'recycled'),
       pg_temp.pct(count(*) FILTER (WHERE on_old_account AND account_assigned),
                   count(*) FILTER (WHERE on_old_account)),
       pg_temp.pct(count(*) FILTER (WHERE truth_account IS NOT NULL AND account_found),
                   count(*) FILTER (WHERE truth_account IS NOT NULL)),
       pg_temp.pct(count(*) FILTER (WHERE truth_account IS NOT NULL AND account_assigned),
                   count(*) FILTER (WHERE truth_account IS NOT NULL))
  FROM dedup_scored
 WHERE seq <= upto
 GROUP BY approach, ord
$$;

\echo
\echo 'Throughput and quality, each approach on the leads it was given'
\echo '(vs crm: leads/s of the approach / leads/s of crm)'
SELECT q.approach, q.leads, round(r.seconds, 2) AS seconds,
       round(q.leads / nullif(r.seconds, 0)) AS "leads/s",
       round((q.leads / nullif(r.seconds, 0))
             / (SELECT c.last_seq / nullif(c.seconds, 0) FROM dedup_run c WHERE c.approach = 'crm'), 3) AS "vs crm",
       q.missing, q.new, q.merged, q.review, q."contact prec %", q."contact recall %",
       q."hard neg merged", q."recycled to review", q."account prec %", q."account recall %",
       q."account assigned %"
  FROM pg_temp.dedup_quality(2147483647) q JOIN dedup_run r USING (approach)
 ORDER BY q.ord;

\echo 'The storage floor (the same leads written as new contacts, nothing looked up),'
\echo 'and diagnoses: the floor with codes registered in bulk (as crm does), with and'
\echo 'without foreign-key checks; bare writes (no foreign-key checks, no registry);'
\echo 'crm without foreign-key checks; and the floor that writes the rows crm wrote (its'
\echo 'accounts, contacts, points, codes and leads, nothing looked up)'
SELECT f.approach, f.last_seq AS leads, round(f.seconds, 2) AS seconds, round(f.last_seq / f.seconds) AS "leads/s",
       round(f.seconds / c.seconds, 2) AS "share of crm's time"
  FROM dedup_run f LEFT JOIN dedup_run c ON c.approach = 'crm' WHERE f.ord > 3 ORDER BY f.ord;
\echo
\echo 'Quality on the same leads for all: the first' :trgm_leads
SELECT approach, leads, missing, new, merged, review, "contact prec %", "contact recall %",
       "hard neg merged", "recycled to review", "account prec %", "account recall %", "account assigned %"
  FROM pg_temp.dedup_quality(:trgm_leads)
 ORDER BY ord;

\echo 'By kind, each approach on the leads it was given'
\echo '(wrong merge: merged onto a contact that is not the lead''s person)'
SELECT kind, approach, count(*) AS leads,
       count(*) FILTER (WHERE outcome = 'new') AS new,
       count(*) FILTER (WHERE outcome = 'merged') AS merged,
       count(*) FILTER (WHERE outcome = 'review') AS review,
       count(*) FILTER (WHERE outcome = 'merged' AND contact_id IS DISTINCT FROM truth_contact) AS "wrong merge",
       pg_temp.pct(count(*) FILTER (WHERE truth_contact IS NOT NULL AND contact_found),
                   count(*) FILTER (WHERE truth_contact IS NOT NULL)) AS "contact recall %",
       pg_temp.pct(count(*) FILTER (WHERE outcome = 'merged' AND contact_found),
                   count(*) FILTER (WHERE truth_contact IS NOT NULL)) AS "merged recall %",
       pg_temp.pct(count(*) FILTER (WHERE truth_account IS NOT NULL AND account_found),
                   count(*) FILTER (WHERE truth_account IS NOT NULL)) AS "account recall %"
  FROM dedup_scored
 GROUP BY kind, approach, ord
 ORDER BY kind, ord;

-- What each known-organisation lead carries that points at its organisation,
-- from the generator's truth: a phone or e-mail stored on a contact there; a
-- full company name; a short name (dedup_data.sql cuts it from the registered
-- name: characters 3-5), shared by how many stored organisations; or
-- nothing but a person's name.  Nothing that avoids guessing can find the
-- organisation of the last kind, nor tell apart the holders of a shared
-- short name.
CREATE TEMP TABLE short_name_holders AS
SELECT substr(name, 3, 3) AS short_name, count(*) AS holders FROM crm.account GROUP BY 1;
CREATE TEMP TABLE org_evidence AS
SELECT b.seq,
       CASE
         WHEN EXISTS (SELECT FROM crm.contact c JOIN crm.contact_point p ON p.contact_id = c.id
                       WHERE c.account_id = b.truth_account
                         AND ((p.kind = 'phone' AND p.value = crm.norm_phone(b.payload->>'phone'))
                              OR (p.kind = 'email' AND p.value = crm.norm_email(b.payload->>'email'))))
           THEN '1 stored phone or e-mail'
         WHEN length(b.payload->>'company') > 3 THEN '2 full company name'
         WHEN b.payload ? 'company' AND h.holders = 1 THEN '3 short name, 1 holder'
         WHEN b.payload ? 'company' THEN '4 short name, ' || CASE WHEN h.holders <= 3 THEN '2-3' ELSE '4+' END || ' holders'
         ELSE '5 person''s name only'
       END AS evidence
  FROM bench_lead b LEFT JOIN short_name_holders h ON h.short_name = b.payload->>'company'
 WHERE b.truth_account IS NOT NULL;

\echo 'Account recall by what the lead carries that points at its organisation'
SELECT e.evidence, s.approach, count(*) AS leads,
       pg_temp.pct(count(*) FILTER (WHERE account_found), count(*)) AS "account recall %",
       pg_temp.pct(count(*) FILTER (WHERE account_assigned), count(*)) AS "account assigned %"
  FROM dedup_scored s JOIN org_evidence e USING (seq)
 GROUP BY e.evidence, s.approach, s.ord
 ORDER BY e.evidence, s.ord;

\echo 'Account recall by how many organisations the review in which it was found'
\echo 'puts before the reviewer (on the account: found without review)'
SELECT approach,
       CASE WHEN account_assigned THEN '0 on the account'
            WHEN accounts_offered <= 3 THEN '1 a review offering 1-3'
            WHEN accounts_offered <= 10 THEN '2 a review offering 4-10'
            ELSE '3 a review offering 11-' || (SELECT max(accounts_offered) FROM dedup_scored)
       END AS found,
       count(*) AS leads,
       pg_temp.pct(count(*), (SELECT count(*) FROM dedup_scored t
                               WHERE t.approach = s.approach AND t.truth_account IS NOT NULL)) AS "share of known organisations %"
  FROM dedup_scored s
 WHERE truth_account IS NOT NULL AND account_found
 GROUP BY 1, 2 ORDER BY approach, 2;
