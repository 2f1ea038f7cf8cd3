DO $$
BEGIN
    IF pg_catalog.getdatabaseencoding() <> 'UTF8' THEN
        RAISE EXCEPTION 'crm requires a UTF8 database'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = pg_catalog.format('The database encoding is %s.',
                                             pg_catalog.getdatabaseencoding()),
                  HINT = 'Create the database with ENCODING ''UTF8''.';
    END IF;
END
$$;

------------------------------------------------------------------------------
-- Restores and shipped rows (C, src/guards.c)
------------------------------------------------------------------------------

CREATE FUNCTION crm.restoring() RETURNS boolean
    AS 'MODULE_PATHNAME', 'crm_restoring_sql'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.restoring() IS
'True while a dump is being restored in this session: a superuser with check_function_bodies off, as pg_dump''s output sets it. The triggers that derive state from inserted rows stand aside then, since the derived rows come from the dump too';

------------------------------------------------------------------------------
-- Who is acting (C, src/actor.c)
------------------------------------------------------------------------------

-- C, so that calling it loads crm.so, which takes over a crm.actor the
-- session set before (a placeholder) and checks it.
CREATE FUNCTION crm.current_actor() RETURNS text
    AS 'MODULE_PATHNAME', 'crm_current_actor'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.current_actor() IS
'The person behind the call, as crm records it wherever it writes who did something: the setting crm.actor when set (SET crm.actor = ''zhang.wei'', or set_config(''crm.actor'', ..., true) per transaction), else the role the session acts as (SET ROLE counts, a SECURITY DEFINER function''s owner does not). A crm.actor that is empty, longer than 128 bytes, padded with white space or holding a control character is refused (22023)';

CREATE FUNCTION crm.guard_shipped_mark() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_guard_shipped_mark' LANGUAGE C;
COMMENT ON FUNCTION crm.guard_shipped_mark() IS
'Trigger: only crm''s own install script marks a row shipped; pg_dump leaves shipped rows out, so a user row marked so would be lost in a restore';

-- @since 1.1
-- A TRUNCATE fires no row trigger: on a table with shipped rows it would
-- take them too, past crm.guard_shipped_row().
CREATE FUNCTION crm.guard_shipped_truncate() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'crm.% holds rows shipped with crm: TRUNCATE would remove them', TG_TABLE_NAME
        USING ERRCODE = 'object_in_use',
              HINT = pg_catalog.format('Delete your own rows: DELETE FROM crm.%I WHERE NOT shipped;', TG_TABLE_NAME);
END
$$;
COMMENT ON FUNCTION crm.guard_shipped_truncate() IS
'Trigger, BEFORE TRUNCATE: a table holding rows shipped with crm is not truncated (those rows are read-only)';
-- @end
