-- bench/migration_eval.sql: a committed migration (batches :batches, a
-- comma-separated list of batch ids) against
-- the generator's truth (bench_migration, bench/migration_data.sql).
-- Rows are joined by the export's 序号 column.  Kinds of error:
--   wrongly rejected   a real person's row the commit rejected
--   wrongly imported   a row to reject that the commit imported
--   wrongly merged     a row merged into the contact of another person
--                      (the person whose row created the contact)
--   missed duplicate   a contact created for a person who had one already
-- Rows sent to review are attached provisionally and wait for a person:
-- counted apart, with whether the contact offered is the right one.
\set ON_ERROR_STOP 1
CREATE TEMP TABLE eval AS
SELECT b.n, b.person, b.expect, b.kind, i.status, i.outcome, i.contact_id, i.reason
  FROM bench_migration b
  JOIN crm.import_row i ON i.batch_id = ANY (('{' || :'batches' || '}')::bigint[]) AND (i.payload ->> '序号')::int = b.n;
CREATE TEMP TABLE creator AS
SELECT DISTINCT ON (contact_id) contact_id, person FROM eval WHERE outcome = 'new' ORDER BY contact_id, n;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE expect = 'imported' AND status = 'rejected') AS wrongly_rejected,
       count(*) FILTER (WHERE expect = 'rejected' AND status = 'imported') AS wrongly_imported,
       count(*) FILTER (WHERE e.outcome = 'merged' AND c.person IS DISTINCT FROM e.person) AS wrongly_merged,
       (SELECT count(*) - count(DISTINCT person) FROM eval WHERE outcome = 'new' AND person IS NOT NULL)
           AS missed_duplicates,
       count(*) FILTER (WHERE e.outcome = 'review') AS review,
       count(*) FILTER (WHERE e.outcome = 'review' AND c.person = e.person) AS review_right_candidate,
       count(*) FILTER (WHERE e.outcome = 'review' AND c.person IS DISTINCT FROM e.person) AS review_wrong_candidate,
       count(*) FILTER (WHERE e.outcome = 'merged' AND c.person = e.person) AS merged_right,
       count(*) FILTER (WHERE e.status = 'pending') AS pending
  FROM eval e LEFT JOIN creator c USING (contact_id) \gset
\echo rows :rows
\echo wrongly_rejected :wrongly_rejected
\echo wrongly_imported :wrongly_imported
\echo wrongly_merged :wrongly_merged
\echo missed_duplicates :missed_duplicates
\echo review :review (right candidate :review_right_candidate, wrong :review_wrong_candidate)
\echo merged_right :merged_right
\echo pending :pending
SELECT round(100.0 * (:wrongly_rejected + :wrongly_imported + :wrongly_merged + :missed_duplicates) / :rows, 3)
       AS error_pct \gset
\echo error_pct :error_pct
-- the truth's own figures: duplicates the file holds, rows to reject
SELECT count(*) FILTER (WHERE kind = 'duplicate') AS true_duplicates,
       count(*) FILTER (WHERE expect = 'rejected') AS true_rejects FROM bench_migration \gset
\echo true_duplicates :true_duplicates true_rejects :true_rejects
-- what went wrong, by kind of row and reason, for a reader
SELECT e.kind, e.status, e.outcome, (c.person = e.person) AS right_contact, count(*)
  FROM eval e LEFT JOIN creator c USING (contact_id)
 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
SELECT e.kind, e.reason, count(*) FROM eval e WHERE e.status = 'rejected' GROUP BY 1, 2 ORDER BY 1, 3 DESC;
