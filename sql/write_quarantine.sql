-- A lead of a crm.lead_inbox statement whose write fails (a unique
-- violation, a check constraint, a user's trigger on crm.contact) goes to
-- crm.lead_quarantine with its reason, alone; the rest of the statement
-- lands, as it would through crm.ingest one row at a time.
TRUNCATE crm.lead, crm.lead_quarantine, crm.match_review, crm.merge_history,
         crm.contact_point, crm.contact, crm.account, crm.customer_code CASCADE;
SET timezone = 'Asia/Shanghai';

-- 100 new people (names of distinct pinyin), no organisation: each draws
-- the next customer code
CREATE TEMP TABLE hundred AS
SELECT i, jsonb_build_object('id', 'f' || i,
                             'name', substr('赵钱孙李周吴郑王冯陈', 1 + i / 10, 1) || substr('一二三四五六七八九十', 1 + i % 10, 1),
                             'phone', '1370000' || lpad(i::text, 4, '0'),
                             'submitted_at', '2026-11-20') AS payload
  FROM generate_series(0, 99) i;

-- A forged registry row: the codes of the next three serials of the
-- sequence, registered before crm issues them.
SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END AS next_serial
  FROM crm.customer_code_seq \gset
-- THE PLANT: only crm writes the registry (sql/trust.sql), so the forgery
-- takes a superuser with triggers off, the registry's guard among them
SET session_replication_role = replica;
INSERT INTO crm.customer_code (code, kind)
SELECT crm.customer_code_from_serial(s), 'contact' FROM generate_series(:next_serial, :next_serial + 2) s;
RESET session_replication_role;

INSERT INTO crm.lead_inbox SELECT 'website', payload FROM hundred ORDER BY i;
SELECT ingested, quarantined, duplicates, batch_id IS NOT NULL AS batched FROM crm.lead_inbox_counts();
-- the leads that drew the forged codes, with the unique violation
SELECT payload->>'id' AS lead, sqlstate, reason,
       detail LIKE 'Key (code)=(%) already exists.' AS names_the_code
  FROM crm.lead_quarantine ORDER BY id;
SELECT count(*) AS leads, count(DISTINCT contact_id) AS contacts,
       count(*) FILTER (WHERE outcome = 'new') AS new FROM crm.lead;
-- none of the forged codes is used
SELECT count(*) AS forged_codes_used FROM crm.contact
 WHERE code IN (SELECT crm.customer_code_from_serial(s)
                  FROM generate_series(:next_serial, :next_serial + 2) s);

-- A user's trigger on crm.contact refuses one name, and a check
-- constraint one title: only those leads are quarantined.  The lead after
-- the refused one shares its phone, so it is decided in a later wave: it
-- finds nobody, as it would had the refused lead been sent alone and failed.
CREATE FUNCTION public.refuse_qian() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.name = '钱多多' THEN
        RAISE EXCEPTION 'contact % refused', NEW.name USING ERRCODE = 'P0001', HINT = 'by refuse_qian';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_qian BEFORE INSERT ON crm.contact
    FOR EACH ROW EXECUTE FUNCTION public.refuse_qian();
ALTER TABLE crm.contact ADD CONSTRAINT no_bad_title CHECK (title IS DISTINCT FROM '坏职位') NOT VALID;
TRUNCATE crm.lead_quarantine;
COPY crm.lead_inbox (channel, payload) FROM stdin;
website	{"id": "t1", "name": "李明", "phone": "13500000001", "submitted_at": "2026-11-20"}
website	{"id": "t2", "name": "钱多多", "phone": "13500000002", "submitted_at": "2026-11-20"}
website	{"id": "t3", "name": "孙亮", "phone": "13500000003", "title": "坏职位", "submitted_at": "2026-11-20"}
website	{"id": "t4", "name": "周红", "phone": "13500000002", "submitted_at": "2026-11-20"}
website	{"id": "t5", "name": "李明", "phone": "13500000001", "email": "liming@example.cn", "submitted_at": "2026-11-20"}
\.
SELECT ingested, quarantined, duplicates, batch_id IS NOT NULL AS batched FROM crm.lead_inbox_counts();
SELECT payload->>'id' AS lead, sqlstate, reason, split_part(detail, '(', 1) AS detail
  FROM crm.lead_quarantine ORDER BY id;
SELECT l.external_id, l.outcome, k.name AS contact, r.candidate_id IS NOT NULL AS in_review
  FROM crm.lead l JOIN crm.contact k ON k.id = l.contact_id
  LEFT JOIN crm.match_review r ON r.lead_id = l.id
 WHERE l.external_id LIKE 't%' ORDER BY l.external_id;

-- crm.ingest is one lead: its failure is the caller's error, nothing stored
SELECT count(*) AS leads_before FROM crm.lead \gset
\set VERBOSITY terse
SELECT outcome FROM crm.ingest('website', '{"id": "t7", "name": "钱多多", "submitted_at": "2026-11-20"}');
SELECT count(*) - :leads_before AS leads_added FROM crm.lead;

-- An error that is not the lead's own (here a serialization failure a
-- trigger reports) is not quarantined: it ends the statement, which
-- stores nothing.
CREATE OR REPLACE FUNCTION public.refuse_qian() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.name = '钱多多' THEN
        RAISE EXCEPTION 'could not serialize access' USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN NEW;
END $$;
INSERT INTO crm.lead_inbox VALUES
  ('website', '{"id": "s1", "name": "吴刚", "phone": "13500000011", "submitted_at": "2026-11-20"}'),
  ('website', '{"id": "s2", "name": "钱多多", "phone": "13500000012", "submitted_at": "2026-11-20"}');
\set VERBOSITY default
SELECT count(*) AS stored FROM crm.lead WHERE external_id LIKE 's%';

DROP TRIGGER refuse_qian ON crm.contact;
DROP FUNCTION public.refuse_qian();
ALTER TABLE crm.contact DROP CONSTRAINT no_bad_title;
