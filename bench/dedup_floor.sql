-- bench/dedup_floor.sql: one timing of the storage floor, included by
-- bench/dedup.sql with :floor_ord naming its row of floor_kind.
SELECT approach AS floor_name, fk_checks AS floor_fk, codes AS floor_codes
  FROM floor_kind WHERE ord = :floor_ord \gset
\echo '==' :floor_name': every lead a new contact with its phone, no matching,' :all_leads 'leads'
BEGIN;
SELECT pg_temp.drop_other_indexes('floor') AS dropped \gset
\if :floor_fk
\else
SELECT pg_temp.fk_checks_off('{crm.lead, crm.contact, crm.contact_point, crm.customer_code}') \gset
\endif
SELECT :'floor_codes' <> 'one by one' AS floor_guard_off \gset
\if :floor_guard_off
ALTER TABLE crm.contact DISABLE TRIGGER contact_code_guard;
-- the floor writes the registry itself, which only crm may do (builds
-- before issue 14 have no such guard)
SELECT EXISTS (SELECT FROM pg_trigger WHERE tgname = 'customer_code_written_by_crm') AS registry_guarded \gset
\if :registry_guarded
ALTER TABLE crm.customer_code DISABLE TRIGGER customer_code_written_by_crm;
\endif
\endif
SELECT pg_temp.prepare_floor(:'floor_codes') \gset
SELECT clock_timestamp() AS t0 \gset
SELECT pg_temp.write_floor(:'floor_codes') \gset
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \gset
ROLLBACK;
\echo '   seconds:' :secs
INSERT INTO dedup_run VALUES (:'floor_name', :floor_ord, :all_leads, :secs);
VACUUM crm.contact, crm.contact_point, crm.customer_code, crm.lead;
