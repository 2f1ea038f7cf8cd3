-- bench/baseline_exact.sql: the exact-match baseline for bench/dedup.sql, the
-- lead matching a competent DBA would write by hand on exact identifiers:
-- phone and e-mail after crm.norm_phone / crm.norm_email, the company by its
-- exact registered name or credit code.  No fuzzy matching at all.
--
-- Records merged away (merged_into) are not filtered out: the benchmark
-- world has none, and an older installed crm has no such column.
--
-- Creates only (idempotent); bench/dedup.sql runs it.
--
--   SELECT * FROM bench_ingest_exact('{"name": "王伟", "phone": "138 0013 8000"}');

-- crm indexes name_key, not the raw name the baseline compares
CREATE INDEX IF NOT EXISTS bench_exact_account_name_idx ON crm.account (name);
ANALYZE crm.account;

-- One website-channel lead (keys name, company, phone, email, credit_code).
-- Decision:
--   the phone or e-mail is a contact's (lowest id when several) -> merged
--   otherwise                                                    -> new
-- The account is the one with the credit code, else the one named exactly
-- like the company.  new inserts the contact (and its account when none was
-- found and a company was given) with its phone and e-mail; merged adds the
-- lead's phone and e-mail to the contact when it lacks them.
CREATE OR REPLACE FUNCTION bench_ingest_exact(payload jsonb,
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
BEGIN
    IF v_uscc IS NOT NULL THEN
        SELECT a.id INTO v_acc FROM crm.account a
         WHERE a.uscc = v_uscc;
    END IF;
    IF v_acc IS NULL AND v_company IS NOT NULL THEN
        SELECT a.id INTO v_acc FROM crm.account a
         WHERE a.name = v_company
         ORDER BY a.id
         LIMIT 1;
    END IF;

    IF v_phone IS NOT NULL OR v_email IS NOT NULL THEN
        SELECT c.id, c.account_id INTO cand
          FROM crm.contact_point cp
          JOIN crm.contact c ON c.id = cp.contact_id
         WHERE ((cp.kind = 'phone' AND cp.value = v_phone) OR (cp.kind = 'email' AND cp.value = v_email))
         ORDER BY c.id
         LIMIT 1;
        IF FOUND THEN
            contact_id := cand.id;
            account_id := coalesce(v_acc, cand.account_id);
            outcome := 'merged';
            INSERT INTO crm.contact_point (contact_id, kind, value)
            SELECT cand.id, p.kind, p.value
              FROM (VALUES ('phone', v_phone), ('email', v_email)) p (kind, value)
             WHERE p.value IS NOT NULL
            ON CONFLICT ON CONSTRAINT contact_point_once DO NOTHING;
            RETURN;
        END IF;
    END IF;

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
    SELECT bench_ingest_exact.contact_id, p.kind, p.value, true
      FROM (VALUES ('phone', v_phone), ('email', v_email)) p (kind, value)
     WHERE p.value IS NOT NULL;
END
$$;
