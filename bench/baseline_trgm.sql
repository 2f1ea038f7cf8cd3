-- bench/baseline_trgm.sql: the fuzzy baseline for bench/dedup.sql, the lead
-- matching a competent DBA would write by hand with stock PostgreSQL:
-- pg_trgm similarity on the raw names, exact phone and e-mail after
-- crm.norm_phone / crm.norm_email (giving the baseline crm's normalisers is
-- fair: BENCHMARKS.md compares those on their own).
--
-- Records merged away (merged_into) are not filtered out: the benchmark
-- world has none, and an older installed crm has no such column.
--
-- Creates only (idempotent); bench/dedup.sql runs it.  Load after
-- bench/dedup_data.sql or any other data: the indexes are built here.
--
--   SELECT * FROM bench_ingest_trgm('{"name": "王伟", "phone": "138 0013 8000",
--                                     "company": "杭州康泰医疗器械有限公司"}');
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Trigram indexes for name % $1 on both tables (pg_trgm's operators are
-- looked up in the schema pg_trgm was installed in, normally public).
CREATE INDEX IF NOT EXISTS bench_trgm_account_name_idx ON crm.account USING gin (name gin_trgm_ops);
CREATE INDEX IF NOT EXISTS bench_trgm_contact_name_idx ON crm.contact USING gin (name gin_trgm_ops);
ANALYZE crm.account, crm.contact;

-- One website-channel lead (keys name, company, phone, email, credit_code).
-- Decision:
--   phone or e-mail matches a contact and the names are similar (> 0.5) -> merged
--   phone or e-mail matches only                                   -> review
--   a contact with a similar name (%) at the lead's account       -> merged
--   otherwise                                                       -> new
-- new inserts the contact (and its account when none was found and a company
-- was given) with its phone and e-mail; merged adds the lead's phone and
-- e-mail to the contact when it lacks them; review changes nothing.
-- The account is the most similar one by name (name % company, pg_trgm's
-- default similarity_threshold 0.3), or the one with the credit code.
CREATE OR REPLACE FUNCTION bench_ingest_trgm(payload jsonb,
                                             OUT contact_id bigint, OUT account_id bigint, OUT outcome text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_name    text := nullif(btrim(payload->>'name'), '');
    v_company text := nullif(btrim(payload->>'company'), '');
    v_phone   text := crm.norm_phone(payload->>'phone');
    v_email   text := crm.norm_email(payload->>'email');
    v_uscc    text := crm.norm_uscc(payload->>'credit_code');
    v_acc     bigint;
    cand      record;
    v_contact bigint;
BEGIN
    -- The account: credit code first, then the most similar name
    IF v_uscc IS NOT NULL THEN
        SELECT a.id INTO v_acc FROM crm.account a
         WHERE a.uscc = v_uscc;
    END IF;
    IF v_acc IS NULL AND v_company IS NOT NULL THEN
        SELECT a.id INTO v_acc FROM crm.account a
         WHERE a.name % v_company
         ORDER BY similarity(a.name, v_company) DESC, a.id
         LIMIT 1;
    END IF;

    -- Contacts with the lead's phone or e-mail, the most similar name first
    IF v_phone IS NOT NULL OR v_email IS NOT NULL THEN
        SELECT c.id, c.account_id, coalesce(similarity(c.name, v_name), 0) AS sim INTO cand
          FROM crm.contact_point cp
          JOIN crm.contact c ON c.id = cp.contact_id
         WHERE ((cp.kind = 'phone' AND cp.value = v_phone) OR (cp.kind = 'email' AND cp.value = v_email))
         ORDER BY 3 DESC, c.id
         LIMIT 1;
        IF FOUND THEN
            contact_id := cand.id;
            IF cand.sim > 0.5 THEN
                outcome := 'merged';
                account_id := coalesce(v_acc, cand.account_id);
            ELSE
                outcome := 'review';      -- same number, another name: a person decides
                account_id := v_acc;
                RETURN;
            END IF;
        END IF;
    END IF;

    -- A contact with a similar name at the lead's account
    IF outcome IS NULL AND v_acc IS NOT NULL AND v_name IS NOT NULL THEN
        SELECT c.id INTO v_contact FROM crm.contact c
         WHERE c.account_id = v_acc AND c.name % v_name
         ORDER BY similarity(c.name, v_name) DESC, c.id
         LIMIT 1;
        IF FOUND THEN
            contact_id := v_contact;
            account_id := v_acc;
            outcome := 'merged';
        END IF;
    END IF;

    IF outcome = 'merged' THEN
        INSERT INTO crm.contact_point (contact_id, kind, value)
        SELECT bench_ingest_trgm.contact_id, p.kind, p.value
          FROM (VALUES ('phone', v_phone), ('email', v_email)) p (kind, value)
         WHERE p.value IS NOT NULL
        ON CONFLICT ON CONSTRAINT contact_point_once DO NOTHING;
        RETURN;
    END IF;

    -- New: a contact needs a usable name (crm's check), an account a usable name
    outcome := 'new';
    IF v_name IS NULL OR crm.norm_person_name(v_name) IS NULL THEN
        outcome := 'invalid';
        RETURN;
    END IF;
    IF v_acc IS NULL AND v_company IS NOT NULL AND crm.norm_company_name(v_company) IS NOT NULL THEN
        INSERT INTO crm.account (name, uscc) VALUES (v_company, v_uscc) RETURNING id INTO v_acc;
    END IF;
    account_id := v_acc;
    INSERT INTO crm.contact (account_id, name) VALUES (v_acc, v_name) RETURNING id INTO contact_id;
    INSERT INTO crm.contact_point (contact_id, kind, value, is_primary)
    SELECT bench_ingest_trgm.contact_id, p.kind, p.value, true
      FROM (VALUES ('phone', v_phone), ('email', v_email)) p (kind, value)
     WHERE p.value IS NOT NULL;
END
$$;
