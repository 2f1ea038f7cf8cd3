-- bench/scan.sql: the scan for duplicates already stored, over the loaded
-- benchmark world (bench/dedup_data.sql): how long crm.scan_duplicates()
-- takes, what it queues, the clusters view, and a bulk merge of every
-- account cluster (rolled back).
\set ON_ERROR_STOP 1
\timing on
SELECT crm.scan_duplicates() AS pairs_queued;
SELECT entity, red, count(*) AS pairs FROM crm.match_review WHERE other_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2;
SELECT entity, count(DISTINCT cluster_id) AS clusters, count(*) AS members, max(n) AS largest
  FROM (SELECT entity, cluster_id, count(*) OVER (PARTITION BY entity, cluster_id) AS n
          FROM crm.duplicate_clusters) c
 GROUP BY entity ORDER BY entity;
-- again: every pair is queued already
SELECT crm.scan_duplicates() AS pairs_queued_again;
BEGIN;
SELECT crm.merge_duplicates('account', red_only => false) AS accounts_merged;
ROLLBACK;
