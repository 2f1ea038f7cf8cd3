-- A role that may create schemas plants look-alikes of every pg_catalog
-- function, operator and common type: in the superuser's "$user" schema,
-- and in a schema that a session puts first on its search_path.  Then the
-- superuser runs every public entry point and DML path of crm (the calls
-- are in sql/include/entry_points.psql, run once per placement).  Nothing
-- crm runs may resolve a name through the caller's search_path, so no
-- look-alike may ever run.  One that runs warns with its name (the warning
-- shows even where crm quarantines the error it then raises) and counts
-- itself in a sequence, which no rollback undoes.
TRUNCATE crm.lead, crm.lead_quarantine, crm.match_review, crm.merge_history,
         crm.contact_point, crm.contact, crm.account, crm.customer_code,
         crm.assignment_rule, crm.rep, crm.team, crm.outbox, crm.alarm, crm.win_stats CASCADE;
SET timezone = 'Asia/Shanghai';
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
RESET client_min_messages;
SET track_functions = 'all';
SELECT pg_stat_reset();

-- the organisation the calls work in
INSERT INTO crm.calendar (code, name) VALUES ('attack_always', '全天候');
INSERT INTO crm.calendar_hours (calendar, isodow, opens, closes)
SELECT 'attack_always', d, '00:00', '24:00' FROM generate_series(1, 7) d;
INSERT INTO crm.team (code, name, manager, director, calendar) VALUES ('attack', '测试组', 'mgr', 'dir', 'attack_always');
INSERT INTO crm.rep (login, name, team) VALUES ('rep_a', '甲', 'attack'), ('rep_b', '乙', 'attack');
INSERT INTO crm.assignment_rule (code, position, name, team, strategy) VALUES ('attack_all', 1, '全部', 'attack', 'least_loaded');
INSERT INTO crm.score_rule (factor, pattern, points, half_life) VALUES ('event', 'attack_visit', 5, '7 days');

------------------------------------------------------------------------
-- The planter
------------------------------------------------------------------------
SET client_min_messages = warning;
DO $$ BEGIN CREATE ROLE crm_planter; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
RESET client_min_messages;
SELECT format('GRANT CREATE ON DATABASE %I TO crm_planter', current_database()) \gexec
SET ROLE crm_planter;
CREATE SCHEMA planted;
SELECT format('CREATE SCHEMA %I', session_user) \gexec
CREATE SEQUENCE planted.calls;
GRANT USAGE ON SCHEMA planted TO PUBLIC;
GRANT USAGE, UPDATE ON SEQUENCE planted.calls TO PUBLIC;

-- The body of every look-alike: count, warn, fail.
CREATE FUNCTION planted.body(what text) RETURNS text LANGUAGE sql IMMUTABLE
RETURN pg_catalog.format($b$BEGIN
    PERFORM pg_catalog.nextval('planted.calls'::pg_catalog.regclass);
    RAISE WARNING 'planted look-alike ran: %%', %L;
    RAISE EXCEPTION 'planted look-alike ran';
END$b$, what);

-- Signatures to plant for one pg_catalog signature: the same one (it wins
-- where the planted schema comes before pg_catalog), text for a regclass
-- (an unknown literal prefers text), and concrete types for polymorphic
-- ones (an exact match beats a polymorphic one wherever pg_catalog is).
CREATE FUNCTION planted.variants(sig text) RETURNS SETOF text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog
BEGIN ATOMIC
    SELECT sig
    UNION
    SELECT regexp_replace(sig, '\mregclass\M', 'text', 'g')
    UNION
    SELECT regexp_replace(regexp_replace(regexp_replace(sig,
               'VARIADIC "any"', 'VARIADIC ' || t || '[]', 'g'),
               '\m(anyelement|anynonarray|anycompatible|anycompatiblenonarray)\M|"any"', t, 'g'),
               '\m(anyarray|anycompatiblearray)\M', t || '[]', 'g')
      FROM unnest(ARRAY['text', 'bigint', 'integer', 'jsonb', 'numeric', 'boolean',
                        'timestamp with time zone', 'date', 'real', 'double precision']) t
     WHERE sig ~ '\many|"any"';
END;

CREATE FUNCTION planted.plant(target name) RETURNS integer
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    f record;
    sig text;
    args text;
    n integer := 0;
BEGIN
    -- functions, with their IN and OUT parameters and result
    FOR f IN SELECT p.proname, pg_get_function_arguments(p.oid) || ') RETURNS ' ||
                    pg_get_function_result(p.oid) AS sig
               FROM pg_proc p WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.prokind = 'f'
    LOOP
        FOR sig IN SELECT planted.variants(f.sig) LOOP
            BEGIN
                EXECUTE format('CREATE FUNCTION %I.%I(%s LANGUAGE plpgsql AS %L',
                               target, f.proname, sig, planted.body(f.proname || '(' || sig));
                n := n + 1;
            EXCEPTION WHEN others THEN NULL;    -- pseudo-types, duplicates
            END;
        END LOOP;
    END LOOP;
    -- aggregates: each step fails, and so does the end where no row came
    FOR f IN SELECT p.proname, pg_get_function_arguments(p.oid) || ') RETURNS ' ||
                    pg_get_function_result(p.oid) AS sig
               FROM pg_proc p WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.prokind = 'a'
                AND NOT EXISTS (SELECT FROM pg_aggregate a WHERE a.aggfnoid = p.oid AND a.aggkind <> 'n')
    LOOP
        FOR sig IN SELECT planted.variants(f.sig) LOOP
            BEGIN
                args := substring(sig FROM '^(.*)\) RETURNS');
                EXECUTE format('CREATE FUNCTION %I.%I(text%s) RETURNS text LANGUAGE plpgsql AS %L', target,
                               'agg_step_' || md5(f.proname || sig), CASE WHEN args = '' THEN '' ELSE ', ' || args END,
                               planted.body('aggregate ' || f.proname || '(' || sig));
                EXECUTE format('CREATE FUNCTION %I.%I(text) RETURNS %s LANGUAGE plpgsql AS %L', target,
                               'agg_end_' || md5(f.proname || sig), substring(sig FROM 'RETURNS (.*)$'),
                               planted.body('aggregate ' || f.proname || '(' || sig));
                EXECUTE format('CREATE AGGREGATE %I.%I(%s) (SFUNC = %I.%I, STYPE = text, FINALFUNC = %I.%I)',
                               target, f.proname, CASE WHEN args = '' THEN '*' ELSE args END,
                               target, 'agg_step_' || md5(f.proname || sig), target, 'agg_end_' || md5(f.proname || sig));
                n := n + 1;
            EXCEPTION WHEN others THEN NULL;
            END;
        END LOOP;
    END LOOP;
    -- operators, each with a function of its own
    FOR f IN SELECT o.oid, o.oprname,
                    coalesce(format_type(o.oprleft, NULL), 'NONE') || ', ' ||
                    format_type(o.oprright, NULL) || ') RETURNS ' || format_type(o.oprresult, NULL) AS sig
               FROM pg_operator o WHERE o.oprnamespace = 'pg_catalog'::regnamespace AND o.oprcode <> 0
    LOOP
        FOR sig IN SELECT planted.variants(f.sig) LOOP
            BEGIN
                EXECUTE format('CREATE FUNCTION %I.%I(%s LANGUAGE plpgsql AS %L', target,
                               'op_' || f.oid || '_' || md5(sig), replace(sig, 'NONE, ', ''),
                               planted.body('operator ' || f.oprname || '(' || sig));
                EXECUTE format('CREATE OPERATOR %I.%s (%s RIGHTARG = %s, FUNCTION = %I.%I)', target, f.oprname,
                               CASE WHEN sig LIKE 'NONE,%' THEN ''
                                    ELSE 'LEFTARG = ' || split_part(sig, ', ', 1) || ',' END,
                               split_part(split_part(sig, ', ', 2), ')', 1),
                               target, 'op_' || f.oid || '_' || md5(sig));
                n := n + 1;
            EXCEPTION WHEN others THEN NULL;
            END;
        END LOOP;
    END LOOP;
    -- types a statement may name in a cast or a declaration
    EXECUTE format('CREATE FUNCTION %I.type_used(name text) RETURNS boolean LANGUAGE plpgsql AS %L',
                   target, planted.body('a type'));
    FOR f IN SELECT t.typname FROM pg_type t
              WHERE t.typnamespace = 'pg_catalog'::regnamespace AND t.typtype IN ('b', 'r', 'm')
                AND t.typname !~ '^_' AND t.typisdefined
    LOOP
        BEGIN
            EXECUTE format('CREATE DOMAIN %I.%I AS pg_catalog.%I CHECK (%I.type_used(%L))',
                           target, f.typname, f.typname, target, f.typname);
            n := n + 1;
        EXCEPTION WHEN others THEN NULL;
        END;
    END LOOP;
    RETURN n;
END
$$;
SELECT planted.plant('planted') > 4000 AS planted_enough, planted.plant(session_user) > 4000 AS in_user_schema_too;
-- what was planted: most of what crm's statements could name
SELECT count(*) FILTER (WHERE proname = 'nextval') AS nextval, count(*) FILTER (WHERE proname = 'array_to_string') AS array_to_string,
       count(*) FILTER (WHERE proname = 'format') > 0 AS format, count(*) FILTER (WHERE proname = 'now') AS now,
       count(*) FILTER (WHERE proname = 'unnest') > 0 AS unnest, count(*) FILTER (WHERE proname = 'jsonb_build_object') > 0 AS jsonb_build_object,
       count(*) FILTER (WHERE proname = 'array_agg' AND prokind = 'a') > 5 AS array_agg, count(*) FILTER (WHERE proname = 'sum' AND prokind = 'a') > 5 AS sum,
       count(*) FILTER (WHERE proname = 'count' AND prokind = 'a') AS count
  FROM pg_catalog.pg_proc WHERE pronamespace OPERATOR(pg_catalog.=) 'planted'::pg_catalog.regnamespace;
SELECT count(*) FILTER (WHERE oprname OPERATOR(pg_catalog.=) '=') > 50 AS eq, count(*) FILTER (WHERE oprname OPERATOR(pg_catalog.=) '->>') AS json_field,
       count(*) FILTER (WHERE oprname OPERATOR(pg_catalog.=) '@>') > 5 AS contains
  FROM pg_catalog.pg_operator WHERE oprnamespace OPERATOR(pg_catalog.=) 'planted'::pg_catalog.regnamespace;
SELECT count(*) > 50 AS types FROM pg_catalog.pg_type WHERE typnamespace OPERATOR(pg_catalog.=) 'planted'::pg_catalog.regnamespace AND typtype OPERATOR(pg_catalog.=) 'd';
RESET ROLE;

------------------------------------------------------------------------
-- The superuser, with the default search_path: "$user" comes first
------------------------------------------------------------------------
SHOW search_path;
\set phase u
\set d 1
\i sql/include/entry_points.psql

------------------------------------------------------------------------
-- The superuser, with the planted schema put first on the path
------------------------------------------------------------------------
SET search_path = planted, pg_catalog, public;
\set phase p
\set d 2
\i sql/include/entry_points.psql
RESET search_path;

-- not one look-alike ran
SELECT is_called AS any_lookalike_ran FROM planted.calls;

-- clean up: the planter's schemas go, so later suites resolve as usual
SET client_min_messages = warning;
DROP SCHEMA planted CASCADE;
SELECT pg_catalog.format('DROP SCHEMA %I CASCADE', session_user) \gexec
RESET client_min_messages;
SELECT format('REVOKE CREATE ON DATABASE %I FROM crm_planter', current_database()) \gexec
DROP ROLE crm_planter;

-- Every crm function ran.  Not counted: functions that are inlined
-- (job_definitions, work_list_keys in crm.work_list_update, escalation_level
-- and lead_timers in the views and the sweep, lead_is_migrated_customer in
-- the lead triggers and the penetration rates, import_row_refusal in the
-- import's chunk), and calls that end in an
-- error (guard_shipped_mark, which only ever refuses outside the install
-- script, and guard_shipped_truncate, which always refuses).
SELECT pg_stat_force_next_flush();
SELECT pg_sleep(0.1);
SELECT pg_stat_clear_snapshot();
SELECT p.oid::regprocedure AS never_called
  FROM pg_proc p LEFT JOIN pg_stat_user_functions s ON s.funcid = p.oid
 WHERE p.pronamespace = 'crm'::regnamespace AND coalesce(s.calls, 0) = 0
 ORDER BY p.oid::regprocedure::text COLLATE "C";
