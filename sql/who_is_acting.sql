-- Who is acting: crm.actor names the person behind a shared application
-- role, and crm.current_actor() is what crm records wherever it writes a
-- "who" (reviews, merges and unmerges, lead activities).
TRUNCATE crm.lead, crm.lead_quarantine, crm.match_review, crm.merge_history,
         crm.contact_point, crm.contact, crm.account, crm.customer_code,
         crm.assignment_rule, crm.rep, crm.team, crm.outbox, crm.alarm CASCADE;
\pset null '∅'

-- a new session sets crm.actor before crm.so is loaded (a placeholder):
-- the first call loads it and takes the value over
\c
SELECT count(*) AS crm_settings_defined FROM pg_settings WHERE name LIKE 'crm.%';
SET crm.actor = 'zhang.wei';
SELECT crm.current_actor();
SELECT count(*) > 0 AS crm_settings_defined FROM pg_settings WHERE name LIKE 'crm.%';

-- reviews and merges record the person
INSERT INTO crm.contact (name) VALUES ('张伟'), ('張偉'), ('王芳'), ('王芳');
INSERT INTO crm.contact_point (contact_id, kind, value)
SELECT id, 'phone', CASE WHEN name = '王芳' THEN '13800138001' ELSE '13800138000' END FROM crm.contact;
SELECT crm.scan_duplicates();
SELECT crm.review_accept(min(id)) FROM crm.match_review WHERE status = 'open';
SELECT status, decided_by FROM crm.match_review ORDER BY id;
SELECT entity, merged_by, undone_by FROM crm.merge_history;
-- per transaction: set_config(..., true) lasts until the commit
BEGIN;
SELECT set_config('crm.actor', 'li.na', true);
SELECT crm.unmerge(id) FROM crm.merge_history;
COMMIT;
SELECT merged_by, undone_by FROM crm.merge_history;
SELECT crm.current_actor();
BEGIN;
SET LOCAL crm.actor = 'wang.fang';
SELECT crm.review_reject(id) FROM crm.match_review WHERE status = 'open';
COMMIT;
SELECT status, decided_by FROM crm.match_review ORDER BY id;

-- lead activities: the actor column defaults to the person
SELECT lead_id AS lead FROM crm.ingest('website', '{"id": "a1", "name": "赵敏", "phone": "13905730001", "submitted_at": "2025-06-02"}') \gset
INSERT INTO crm.lead_activity (lead_id, kind, body) VALUES (:lead, 'note', '客户来电');
SELECT kind, actor FROM crm.lead_activity;

-- unset: the role the session acts as, SET ROLE included, and never the
-- owner of a SECURITY DEFINER function
RESET crm.actor;
SELECT crm.current_actor() = current_user AS the_role;
CREATE ROLE crm_actor_app;
CREATE ROLE crm_actor_owner;
GRANT USAGE ON SCHEMA crm TO crm_actor_app, crm_actor_owner;
CREATE FUNCTION acting_as_definer() RETURNS text LANGUAGE sql SECURITY DEFINER RETURN crm.current_actor();
ALTER FUNCTION acting_as_definer() OWNER TO crm_actor_owner;
SET ROLE crm_actor_app;
SELECT crm.current_actor(), acting_as_definer();
SET crm.actor = '赵 敏';
SELECT crm.current_actor(), acting_as_definer();
RESET crm.actor;
RESET ROLE;
DROP FUNCTION acting_as_definer();
REVOKE USAGE ON SCHEMA crm FROM crm_actor_app, crm_actor_owner;
DROP ROLE crm_actor_app;
DROP ROLE crm_actor_owner;

-- values that name no one are refused when set (22023), and the setting
-- keeps its value
SET crm.actor = 'zhang.wei';
SET crm.actor = '';
SET crm.actor = '   ';
SET crm.actor = ' zhang.wei';
SET crm.actor = E'zhang\twei';
DO $$
BEGIN
    SET crm.actor = E'zhang\u0085wei';   -- a C1 control character
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE NOTICE 'refused (%): %', SQLSTATE, regexp_replace(SQLERRM, '"[^"]*"', 'the value');
END
$$;
SELECT set_config('crm.actor', repeat('x', 129), false);
SELECT crm.current_actor();
SELECT length(set_config('crm.actor', repeat('张', 42), false)) AS chars_126_bytes;

-- a bad value set before crm.so was loaded cannot be refused then: it is
-- refused where it is used, and nothing is recorded under the role instead
\c
SET crm.actor = '';
SELECT crm.current_actor();
INSERT INTO crm.lead_activity (lead_id, kind, body) VALUES (:lead, 'note', '匿名');
SELECT count(*) AS activities FROM crm.lead_activity;
RESET crm.actor;
SELECT crm.current_actor() = current_user AS the_role;
