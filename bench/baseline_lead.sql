-- bench/baseline_lead.sql: how the baselines of bench/dedup.sql store a lead.
--
-- crm keeps every lead it ingests in crm.lead, with its payload, its
-- submission time and the match it made; so do the baselines, after their
-- own matching, with one plain INSERT per lead.  A lead a baseline finds
-- invalid is not stored (crm quarantines it).
--
-- Creates only (idempotent); bench/dedup_run loads it before the baselines.
CREATE OR REPLACE FUNCTION bench_store_lead(payload jsonb, contact_id bigint, account_id bigint,
                                            outcome text)
RETURNS bigint
LANGUAGE sql VOLATILE AS $$
INSERT INTO crm.lead (channel, source_label, external_id, person_name, company_name, phone, email,
                      uscc, payload, contact_id, account_id, outcome, created_at)
SELECT 'website', '官网表单', payload->>'id', payload->>'name', payload->>'company',
       crm.norm_phone(payload->>'phone'), crm.norm_email(payload->>'email'),
       crm.norm_uscc(payload->>'credit_code'), payload, contact_id, account_id, outcome,
       (payload->>'submitted_at')::timestamptz
 WHERE outcome <> 'invalid'
RETURNING id
$$;
