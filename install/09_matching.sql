------------------------------------------------------------------------------
-- Match weights: the m/u of each field's comparison levels (C, src/match_weight.c)
------------------------------------------------------------------------------

-- @since 1.1
-- The fields and their levels are those src/match_weight.c compares on;
-- the statement trigger refuses a row it does not know, and a table that
-- leaves a field nothing to disagree with.
CREATE TABLE crm.match_weight (
    field       text NOT NULL,
    level       text NOT NULL,
    m           double precision NOT NULL CONSTRAINT match_weight_m_range CHECK (m > 0 AND m < 1),
    u           double precision NOT NULL CONSTRAINT match_weight_u_range CHECK (u > 0 AND u < 1),
    note        text,
    shipped     boolean NOT NULL DEFAULT false,
    CONSTRAINT match_weight_once PRIMARY KEY (field, level, shipped)
);
COMMENT ON TABLE crm.match_weight IS
'How much each field''s level of agreement says about a lead and a stored contact being one person: the match adds log2(m/u) per field (disagreement: log2((1 - sum of m) / (1 - sum of u)); a field either side lacks: 0). A row of your own (shipped = false) replaces the shipped row of its field and level; crm.match_weights() lists what is in force';
COMMENT ON COLUMN crm.match_weight.field IS 'phone, email, wechat_openid, name or account';
COMMENT ON COLUMN crm.match_weight.level IS 'agree (every field) or partial (name: same pinyin only; account: one of the lead''s candidate accounts)';
COMMENT ON COLUMN crm.match_weight.m IS 'How often one person''s two records show this level, above 0 and below 1';
COMMENT ON COLUMN crm.match_weight.u IS 'How often two different people''s records show this level, above 0 and below 1';
COMMENT ON COLUMN crm.match_weight.note IS 'Why: where the figure comes from';
COMMENT ON COLUMN crm.match_weight.shipped IS 'true: shipped with crm (read-only, replaced by an update of crm, left out of pg_dump); false: a data steward''s';
SELECT pg_catalog.pg_extension_config_dump('crm.match_weight', 'WHERE NOT shipped');

CREATE FUNCTION crm.match_weight_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_match_weight_changed'
    LANGUAGE C;
COMMENT ON FUNCTION crm.match_weight_changed() IS
'Trigger: crm.match_weight changed; refuses a field or level the match does not compare (22023) and levels whose m or u add up to 1 or more (23514), then every session reloads the weights (at commit, or at once in this session)';
CREATE TRIGGER match_weight_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.match_weight
    FOR EACH STATEMENT EXECUTE FUNCTION crm.match_weight_changed();
CREATE TRIGGER match_weight_shipped_guard BEFORE UPDATE OR DELETE ON crm.match_weight
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('match weight of field', 'field',
        'Add a row of your own for the field and level: INSERT INTO crm.match_weight (field, level, m, u, note) VALUES ({key_literal}, ''agree'', 0.8, 0.0001, ''why''); it replaces the shipped one, and deleting it brings the shipped one back.');
CREATE TRIGGER match_weight_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.match_weight
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();

-- Estimates from the benchmark world and CRM practice: a person keeps a
-- phone number 85% of the time between two leads, two people share one
-- about once in ten thousand pairs; names agree exactly for one person 82%
-- of the time and by pinyin only 17.7%, so a different name is strong
-- evidence.  An openid belongs to one WeChat user: it outweighs a nickname.
INSERT INTO crm.match_weight (field, level, m, u, note, shipped) VALUES
    ('phone', 'agree', 0.85, 1e-4, 'one of the contact''s numbers; people change numbers, rarely share one', true),
    ('email', 'agree', 0.90, 1e-4, 'one of the contact''s addresses', true),
    ('wechat_openid', 'agree', 0.99, 1e-9, 'an openid is one WeChat user''s', true),
    ('name', 'agree', 0.82, 0.002, 'the same key (crm.norm_person_name)', true),
    ('name', 'partial', 0.177, 0.005, 'the same pinyin only: a traditional spelling, a homophone typo', true),
    ('account', 'agree', 0.85, 0.01, 'the lead''s account', true),
    ('account', 'partial', 0.05, 0.01, 'one of the lead''s candidate accounts', true);

CREATE FUNCTION crm.match_weights(OUT field text, OUT level text, OUT m double precision,
                                  OUT u double precision, OUT weight double precision, OUT origin text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'crm_match_weights_sql'
    LANGUAGE C STABLE;
COMMENT ON FUNCTION crm.match_weights() IS
'The weights a match adds up now, every level of every field: agree and partial from crm.match_weight (origin shipped, or steward for a row of your own), disagree derived from them, unknown 0 (m and u NULL). weight is log2(m/u)';
CREATE FUNCTION crm.compare_contacts(keep bigint[], other bigint[])
    RETURNS TABLE (keep bigint, other bigint, score real, outcome text, shares_identifier boolean, evidence jsonb)
    AS 'MODULE_PATHNAME', 'crm_compare_contacts'
    LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION crm.compare_contacts(bigint[], bigint[]) IS
'Pairs of stored contacts (keep[i], other[i]) compared as ingestion compares a lead with a candidate contact: each field''s level and weight (evidence), the score, the outcome the score alone gives against the thresholds (merged, review, new) and whether a phone, e-mail or openid is shared. Pairs with a merged contact are left out';

CREATE FUNCTION crm.compare_regions(region_code text, name_region text,
                                    other_region_code text, other_name_region text) RETURNS text
    AS 'MODULE_PATHNAME', 'crm_compare_regions'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.compare_regions(text, text, text, text) IS
'Two places as ingestion compares a lead''s company with a candidate account: same, other or unknown. By region code when both have one (the same province for a province''s code, else the same city), else by the regions their names give (crm.company_region), else unknown';

CREATE FUNCTION crm.explain_match(lead_id bigint)
    RETURNS TABLE (contact_id bigint, customer_code text, name text, lead_contact boolean,
                   field text, level text, weight double precision, score double precision, outcome text)
    AS 'MODULE_PATHNAME', 'crm_explain_match'
    LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION crm.explain_match(bigint) IS
'For a reviewer: the stored contacts a lead''s keys find now, best first, each field''s level and weight with the weights in force, the score and what it gives against crm.match_merge_threshold and crm.match_review_threshold (merged, review, new); lead_contact marks the contact the lead is on';
-- @end

------------------------------------------------------------------------------
-- Duplicates already stored: scan, clusters, bulk merge
------------------------------------------------------------------------------

-- @since 1.1
-- Pairs found by the blocking keys, compared as ingestion compares: contacts
-- by crm.compare_contacts (the match weights in force), organisations by
-- crm.compare_regions.
CREATE OR REPLACE FUNCTION crm.scan_duplicates() RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    added bigint;
BEGIN
    WITH contact_pairs AS (
        SELECT least(a.contact_id, b.contact_id) AS keep, greatest(a.contact_id, b.contact_id) AS other,
               a.kind AS reason
          FROM crm.contact_point a
          JOIN crm.contact_point b ON b.kind = a.kind AND b.value = a.value AND b.contact_id > a.contact_id
        UNION ALL
        SELECT a.id, b.id, 'name'
          FROM crm.contact a
          JOIN crm.contact b ON b.name_pinyin = a.name_pinyin AND b.account_id = a.account_id AND b.id > a.id
    ), found AS (
        SELECT keep, other, array_agg(DISTINCT reason) AS reasons FROM contact_pairs GROUP BY keep, other
    ), scored AS (
        SELECT f.reasons, s.*
          FROM (SELECT array_agg(keep ORDER BY keep, other) AS keep, array_agg(other ORDER BY keep, other) AS other
                  FROM found) a
         CROSS JOIN LATERAL crm.compare_contacts(a.keep, a.other) s
          JOIN found f ON f.keep = s.keep AND f.other = s.other
         WHERE s.outcome <> 'new'
    ), pairs AS (
        SELECT 'contact' AS entity, keep, other, shares_identifier AND outcome = 'merged' AS red, score,
               evidence || jsonb_build_object('shared', reasons) AS evidence
          FROM scored
        UNION ALL
        SELECT 'account', a.id, b.id, false, NULL::real,
               jsonb_build_object('shared', ARRAY['name'],
                                  'region', crm.compare_regions(a.region_code, a.name_region, b.region_code, b.name_region))
          FROM crm.account a
          JOIN crm.account b ON b.name_key = a.name_key AND b.id > a.id
         WHERE a.merged_into IS NULL AND b.merged_into IS NULL
           AND (a.uscc IS NULL OR b.uscc IS NULL)
           AND crm.compare_regions(a.region_code, a.name_region, b.region_code, b.name_region) <> 'other'
    ), added AS (
        INSERT INTO crm.match_review (entity, candidate_id, other_id, red, score, evidence)
        SELECT entity, keep, other, red, score, evidence FROM pairs
        ON CONFLICT (entity, candidate_id, other_id) WHERE other_id IS NOT NULL DO NOTHING
        RETURNING 1)
    SELECT count(*) INTO added FROM added;
    RETURN added;
END
$$;
COMMENT ON FUNCTION crm.scan_duplicates() IS
'Finds stored contacts that share a phone or e-mail or a name at one account and scores each pair as ingestion scores a lead (crm.compare_contacts, the match weights in force): pairs scoring at least crm.match_review_threshold are queued in crm.match_review with their score and evidence, red when they share a phone, e-mail or openid and reach crm.match_merge_threshold. Accounts with one company key, no two credit codes and no other region (crm.compare_regions, as ingestion) are queued too, never red. Returns how many it queued; a rejected pair is never queued again';
-- @end

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
-- @since 1.1
COMMENT ON VIEW crm.duplicate_clusters IS
'Open duplicate pairs of crm.match_review grouped into clusters (cluster_id: the oldest member); red when a pair of contacts in the cluster shares a phone, e-mail or openid and scores at least crm.match_merge_threshold. Account pairs are never red: two accounts cannot share a credit code';
-- @end
COMMENT ON COLUMN crm.duplicate_clusters.entity IS 'contact or account';
COMMENT ON COLUMN crm.duplicate_clusters.cluster_id IS 'The lowest member id of the cluster: rows with the same entity and cluster_id are one suspected customer';
COMMENT ON COLUMN crm.duplicate_clusters.member_id IS 'crm.contact.id or crm.account.id of a member';
COMMENT ON COLUMN crm.duplicate_clusters.code IS 'The member''s customer code';
COMMENT ON COLUMN crm.duplicate_clusters.name IS 'The member''s name as stored';
COMMENT ON COLUMN crm.duplicate_clusters.red IS 'true: some pair of the cluster is a sure duplicate (crm.merge_duplicates() merges red clusters); false: only probable ones';

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
