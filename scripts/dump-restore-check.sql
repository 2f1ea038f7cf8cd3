-- scripts/dump-restore-check.sql: run after the busy data sets
-- (scripts/dump-restore-busy*.sql) by scripts/dump-restore-test.sh, and by
-- scripts/upgrade-test.sh on release 1.0's.
\set ON_ERROR_STOP on
-- every table of crm that keeps data has rows, so the comparison proves something
DO $$
DECLARE
    t regclass;
    n bigint;
BEGIN
    FOR t IN SELECT c.oid::regclass FROM pg_class c
              WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'r'
                AND c.relname NOT IN ('lead_inbox', 'lead_inbox_text') ORDER BY 1 LOOP
        EXECUTE format('SELECT count(*) FROM %s', t) INTO n;
        IF n = 0 THEN
            RAISE EXCEPTION 'the busy database has no rows in %', t;
        END IF;
    END LOOP;
END
$$;
