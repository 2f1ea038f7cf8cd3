------------------------------------------------------------------------------
-- Duplicates already stored: scan, clusters, bulk merge
------------------------------------------------------------------------------

CREATE FUNCTION crm.scan_duplicates() RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    added bigint;
BEGIN
    WITH contact_pairs AS (
        SELECT least(a.contact_id, b.contact_id) AS keep, greatest(a.contact_id, b.contact_id) AS other,
               true AS red, a.kind AS reason
          FROM crm.contact_point a
          JOIN crm.contact_point b ON b.kind = a.kind AND b.value = a.value AND b.contact_id > a.contact_id
        UNION ALL
        SELECT a.id, b.id, false, 'name'
          FROM crm.contact a
          JOIN crm.contact b ON b.name_pinyin = a.name_pinyin AND b.account_id = a.account_id AND b.id > a.id
         WHERE a.merged_into IS NULL AND b.merged_into IS NULL
    ), account_pairs AS (
        SELECT a.id AS keep, b.id AS other, false AS red, 'name' AS reason
          FROM crm.account a
          JOIN crm.account b ON b.name_key = a.name_key AND b.id > a.id
         WHERE a.merged_into IS NULL AND b.merged_into IS NULL
           AND (a.uscc IS NULL OR b.uscc IS NULL)
           AND (crm.company_region(a.name) IS NOT DISTINCT FROM crm.company_region(b.name)
                OR a.region_code = b.region_code)
    ), pairs AS (
        SELECT 'contact' AS entity, keep, other, bool_or(red) AS red, array_agg(DISTINCT reason) AS reasons
          FROM contact_pairs GROUP BY keep, other
        UNION ALL
        SELECT 'account', keep, other, bool_or(red), array_agg(DISTINCT reason)
          FROM account_pairs GROUP BY keep, other
    ), added AS (
        INSERT INTO crm.match_review (entity, candidate_id, other_id, red, evidence)
        SELECT entity, keep, other, red, jsonb_build_object('shared', reasons) FROM pairs
        ON CONFLICT (entity, candidate_id, other_id) WHERE other_id IS NOT NULL DO NOTHING
        RETURNING 1)
    SELECT count(*) INTO added FROM added;
    RETURN added;
END
$$;
COMMENT ON FUNCTION crm.scan_duplicates() IS
'Finds stored contacts that share a phone or e-mail (red) or a name at one account, and accounts with one company key in one region, and queues each new pair in crm.match_review; returns how many it queued. A rejected pair is never queued again';

CREATE VIEW crm.duplicate_clusters AS
WITH RECURSIVE edge AS (
    SELECT entity, candidate_id AS a, other_id AS b, red FROM crm.match_review
     WHERE other_id IS NOT NULL AND status = 'open'
    UNION ALL
    SELECT entity, other_id, candidate_id, red FROM crm.match_review
     WHERE other_id IS NOT NULL AND status = 'open'
), reach (entity, root, member) AS (
    SELECT DISTINCT entity, a, a FROM edge
    UNION
    SELECT r.entity, r.root, e.b FROM reach r JOIN edge e ON e.entity = r.entity AND e.a = r.member
), cluster AS (
    SELECT entity, member, min(root) AS cluster_id FROM reach GROUP BY entity, member
), flag AS (
    SELECT c.entity, c.cluster_id, bool_or(e.red) AS red
      FROM cluster c JOIN edge e ON e.entity = c.entity AND e.a = c.member
     GROUP BY c.entity, c.cluster_id
)
SELECT c.entity, c.cluster_id, c.member AS member_id,
       coalesce(k.code, a.code) AS code, coalesce(k.name, a.name) AS name, f.red
  FROM cluster c
  JOIN flag f ON f.entity = c.entity AND f.cluster_id = c.cluster_id
  LEFT JOIN crm.contact k ON c.entity = 'contact' AND k.id = c.member
  LEFT JOIN crm.account a ON c.entity = 'account' AND a.id = c.member;
COMMENT ON VIEW crm.duplicate_clusters IS
'Open duplicate pairs of crm.match_review grouped into clusters (cluster_id: the oldest member); red when phone, e-mail or credit code coincide in the cluster';
COMMENT ON COLUMN crm.duplicate_clusters.entity IS 'contact or account';
COMMENT ON COLUMN crm.duplicate_clusters.cluster_id IS 'The lowest member id of the cluster: rows with the same entity and cluster_id are one suspected customer';
COMMENT ON COLUMN crm.duplicate_clusters.member_id IS 'crm.contact.id or crm.account.id of a member';
COMMENT ON COLUMN crm.duplicate_clusters.code IS 'The member''s customer code';
COMMENT ON COLUMN crm.duplicate_clusters.name IS 'The member''s name as stored';
COMMENT ON COLUMN crm.duplicate_clusters.red IS 'true: some pair of the cluster is a sure duplicate (crm.merge_duplicates() merges red clusters); false: only probable ones';
-- @since 1.1
-- Only contact pairs are ever red: accounts never share a credit code (it is
-- unique), and crm.scan_duplicates() and ingestion queue account pairs as
-- probable only.
COMMENT ON VIEW crm.duplicate_clusters IS
'Open duplicate pairs of crm.match_review grouped into clusters (cluster_id: the oldest member); red when two contacts of the cluster share a phone or an e-mail. Account clusters are never red: two accounts never share a credit code, and a shared company name is only probable';
COMMENT ON COLUMN crm.duplicate_clusters.red IS 'true: some pair of the cluster is a sure duplicate (crm.merge_duplicates() merges red clusters; contacts only); false: only probable ones';
-- @end

CREATE FUNCTION crm.merge_duplicates(entity text DEFAULT 'contact', red_only boolean DEFAULT true)
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    merged bigint := 0;
BEGIN
    IF entity NOT IN ('contact', 'account') THEN
        RAISE EXCEPTION 'unknown entity %', crm.quote_value(entity)
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use ''contact'' or ''account''.';
    END IF;
    -- every open (red) pair: its younger member merged into the cluster's oldest
    FOR r IN SELECT m.id, c.cluster_id, m.candidate_id, m.other_id
               FROM crm.match_review m
               JOIN crm.duplicate_clusters c ON c.entity = m.entity AND c.member_id = m.other_id
              WHERE m.entity = merge_duplicates.entity AND m.status = 'open' AND m.other_id IS NOT NULL
                AND (m.red OR NOT red_only)
              ORDER BY c.cluster_id, m.other_id
    LOOP
        IF r.other_id <> r.cluster_id AND NOT EXISTS (
               SELECT 1 FROM crm.merge_history h
                WHERE h.entity = merge_duplicates.entity AND h.dropped_id = r.other_id AND h.undone_at IS NULL) THEN
            IF entity = 'contact' THEN
                PERFORM crm.merge_contacts(r.cluster_id, r.other_id);
            ELSE
                PERFORM crm.merge_accounts(r.cluster_id, r.other_id);
            END IF;
            merged := merged + 1;
        END IF;
        UPDATE crm.match_review SET status = 'accepted', decided_by = crm.current_actor(), decided_at = now()
         WHERE id = r.id;
    END LOOP;
    RETURN merged;
END
$$;
COMMENT ON FUNCTION crm.merge_duplicates(text, boolean) IS
'A data steward''s bulk merge: for every open duplicate pair (only red ones, by default) the younger record is merged into the oldest of its cluster; returns how many records were merged. Each merge can be undone with crm.unmerge()';
