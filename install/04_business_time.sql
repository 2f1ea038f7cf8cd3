------------------------------------------------------------------------------
-- The business time zone: the one zone every session reads local payload
-- times and day, week and month buckets in
------------------------------------------------------------------------------

-- Only IANA names: an abbreviation (CST is China, Cuba or Central US) or a
-- POSIX offset (UTC+8 is 8 hours west of Greenwich) would shift leads.
CREATE FUNCTION crm.check_time_zone(zone text) RETURNS boolean
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    spelled text;
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_timezone_names n WHERE n.name = zone) THEN
        RETURN true;
    END IF;
    SELECT n.name INTO spelled FROM pg_catalog.pg_timezone_names n
     WHERE lower(n.name) = lower(zone) ORDER BY n.name LIMIT 1;
    RAISE EXCEPTION 'unknown time zone %', crm.quote_value(zone)
        USING ERRCODE = 'invalid_parameter_value',
              HINT = coalesce('Time zone names are case-sensitive: ' || spelled || '.',
                              'Use a name from pg_timezone_names, such as Asia/Shanghai or Etc/GMT-8; abbreviations (CST) and offsets (UTC+8) are not accepted.');
END
$$;
COMMENT ON FUNCTION crm.check_time_zone(text) IS
'True for a time zone name listed in pg_timezone_names (Asia/Shanghai); otherwise an error (22023) with a hint. Abbreviations and POSIX offsets are refused';

-- One row at most, and none by default: CREATE EXTENSION in a restored
-- database finds the table empty, and pg_dump's row (if any) goes in.
CREATE TABLE crm.settings (
    singleton   boolean PRIMARY KEY DEFAULT true CONSTRAINT settings_one_row CHECK (singleton),
    time_zone   text NOT NULL CONSTRAINT settings_time_zone_known CHECK (crm.check_time_zone(time_zone)),
    changed_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE crm.settings IS
'crm''s settings that must be the same for every session (a SET cannot change them), at most one row; no row: the defaults. Kept by pg_dump';
COMMENT ON COLUMN crm.settings.singleton IS 'Always true: the table holds one row at most';
COMMENT ON COLUMN crm.settings.time_zone IS
'The business time zone (see crm.business_time_zone()): local payload times of channels without a zone of their own, and every day, week and month bucket of the reports';
COMMENT ON COLUMN crm.settings.changed_at IS 'When the settings were last changed';
SELECT pg_catalog.pg_extension_config_dump('crm.settings', '');

-- @since 1.1
-- (in C: a SQL function reading a table is planned again on every call
-- from crm's kept plans)
CREATE OR REPLACE FUNCTION crm.business_time_zone() RETURNS text
    LANGUAGE c STABLE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'crm_business_time_zone';
COMMENT ON FUNCTION crm.business_time_zone() IS
'The business time zone: crm.settings.time_zone, by default Asia/Shanghai. The same for every session, whatever its TimeZone';
-- @end

CREATE FUNCTION crm.set_business_time_zone(zone text) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF zone IS NULL THEN
        RAISE EXCEPTION 'the business time zone cannot be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'DELETE FROM crm.settings goes back to the default, Asia/Shanghai.';
    END IF;
    INSERT INTO crm.settings AS s (time_zone) VALUES (zone)
    ON CONFLICT (singleton) DO UPDATE SET time_zone = excluded.time_zone, changed_at = pg_catalog.now();
    RETURN zone;
END
$$;
COMMENT ON FUNCTION crm.set_business_time_zone(text) IS
'Sets the business time zone (a name from pg_timezone_names) for every session; returns it. Reports re-bucket at once; stored lead times do not move';
