-- crm 1.0: CRM rules inside PostgreSQL.
--
-- Every object lives in schema crm and every reference below is
-- schema-qualified, so nothing resolves through a caller's search_path.

\echo Use "CREATE EXTENSION crm CASCADE" to load this file. \quit

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

------------------------------------------------------------------------------
-- Normalisers and validators (C, src/core/)
------------------------------------------------------------------------------

CREATE FUNCTION crm.norm_phone(text) RETURNS text
    AS 'MODULE_PATHNAME', 'crm_norm_phone_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.norm_phone(text) IS
'Phone number in E.164 form (''+8613800138000''): full-width digits, separators, +86/0086/86 prefixes and extensions handled; NULL when it is not a possible number';

CREATE FUNCTION crm.norm_email(text) RETURNS text
    AS 'MODULE_PATHNAME', 'crm_norm_email_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.norm_email(text) IS
'E-mail address trimmed, full-width folded and lower-cased; NULL when it is not an address';

CREATE FUNCTION crm.norm_person_name(text) RETURNS text
    AS 'MODULE_PATHNAME', 'crm_norm_person_name_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.norm_person_name(text) IS
'Person-name key: NFKC, case fold, traditional to simplified, bracketed notes and trailing honorifics or titles removed, no inner spaces in Han names; NULL when no name is left';

CREATE FUNCTION crm.norm_company_name(text) RETURNS text
    AS 'MODULE_PATHNAME', 'crm_norm_company_name_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.norm_company_name(text) IS
'Company core name: NFKC, case fold, traditional to simplified, legal forms, branch suffixes, bracketed notes and a leading region removed; NULL when nothing is left';

CREATE FUNCTION crm.company_region(text) RETURNS text
    AS 'MODULE_PATHNAME', 'crm_company_region_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.company_region(text) IS
'The region a company name starts with or names in brackets (''杭州'' for ''杭州康泰有限公司'' and ''康泰（杭州）有限公司''); NULL when it names none. It tells apart same-named companies of two cities';

CREATE FUNCTION crm.pinyin(text) RETURNS text
    AS 'MODULE_PATHNAME', 'crm_pinyin_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.pinyin(text) IS
'Toneless lower-case pinyin syllables separated by single spaces (''张伟'' gives ''zhang wei''), surname and place-name readings corrected by crm_pinyin_overrides.tsv';

CREATE FUNCTION crm.pinyin_overrides(OUT key text, OUT reading text, OUT scope text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'crm_pinyin_overrides_sql'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.pinyin_overrides() IS
'The pinyin override table this session uses, read from SHAREDIR/extension/crm_pinyin_overrides.tsv';

CREATE FUNCTION crm.norm_uscc(text) RETURNS text
    AS 'MODULE_PATHNAME', 'crm_norm_uscc_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.norm_uscc(text) IS
'Unified social credit code trimmed, full-width folded and upper-cased; NULL when it fails the GB 32100-2015 check';

CREATE FUNCTION crm.uscc_is_valid(text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'crm_uscc_is_valid_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.uscc_is_valid(text) IS
'True for an 18-character unified social credit code (GB 32100-2015) with a correct check character';

CREATE FUNCTION crm.resident_id_is_valid(text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'crm_resident_id_is_valid_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.resident_id_is_valid(text) IS
'True for an 18-character resident ID (GB 11643-1999): province code, a real birth date and the ISO 7064 MOD 11-2 check';

CREATE FUNCTION crm.customer_code_is_valid(text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'crm_customer_code_is_valid_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.customer_code_is_valid(text) IS
'True for an 8-character customer code over 0-9A-Z without I and O whose last character is its ISO 7064 MOD 35,34 check character';

CREATE FUNCTION crm.customer_code_from_serial(bigint) RETURNS text
    AS 'MODULE_PATHNAME', 'crm_customer_code_from_serial_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.customer_code_from_serial(bigint) IS
'The customer code of a serial number: a fixed bijection, so distinct serials give distinct codes that do not reveal their order';

CREATE FUNCTION crm.region_code_is_valid(text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'crm_region_code_is_valid_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.region_code_is_valid(text) IS
'True for a 6-digit administrative division code (GB/T 2260) of a real province-level division';

CREATE FUNCTION crm.quote_value(text) RETURNS text
    AS 'MODULE_PATHNAME', 'crm_quote_value_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.quote_value(text) IS
'A value in double quotes for a message, cut after 200 characters with an ellipsis and its length in bytes: how crm quotes input in errors and warnings';

------------------------------------------------------------------------------
-- Customer codes: one registry for accounts and contacts
------------------------------------------------------------------------------

-- 34^7 codes exist; the sequence never cycles, so no code is issued twice.
CREATE SEQUENCE crm.customer_code_seq AS bigint MINVALUE 1 MAXVALUE 52523350143 NO CYCLE;

CREATE TABLE crm.customer_code (
    code        text PRIMARY KEY
                CONSTRAINT customer_code_well_formed
                CHECK (crm.customer_code_is_valid(code) AND code OPERATOR(pg_catalog.=) pg_catalog.upper(code)),
    kind        text NOT NULL CONSTRAINT customer_code_kind CHECK (kind IN ('account', 'contact')),
    issued_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    merged_into text,           -- checked by crm.record_code_merge(), see below
    merged_at   timestamptz,
    CONSTRAINT customer_code_not_self_merged CHECK (merged_into OPERATOR(pg_catalog.<>) code),
    CONSTRAINT customer_code_merge_dated CHECK ((merged_into IS NULL) = (merged_at IS NULL))
);
COMMENT ON TABLE crm.customer_code IS
'Every customer code ever issued, with the code it was merged into; rows are never deleted, so a code is never reused';

-- Written by crm only (src/code_registry.c): codes as it issues them,
-- merges as it merges the records, and rows of a restore.  A
-- self-referencing foreign key would make every pg_dump warn about a
-- circular constraint; crm.record_code_merge() checks merged_into instead.
CREATE FUNCTION crm.guard_code_registry() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_guard_code_registry' LANGUAGE C;
COMMENT ON FUNCTION crm.guard_code_registry() IS
'Trigger: the registry is written by crm only (issued codes, merges of records, restores), and never deleted from, so that no code is reused or forged';
-- one check per statement: a bulk ingest registers its codes in one
CREATE TRIGGER customer_code_written_by_crm BEFORE INSERT OR UPDATE OR DELETE ON crm.customer_code
    FOR EACH STATEMENT EXECUTE FUNCTION crm.guard_code_registry();

CREATE FUNCTION crm.record_code_merge(entity text, id bigint) RETURNS void
    AS 'MODULE_PATHNAME', 'crm_record_code_merge'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION crm.record_code_merge(text, bigint) IS
'Internal to the merge functions: the registry row of a contact''s or an account''s code follows the record''s merged_into (the kept record''s code, or none after an unmerge); a merge that would form a cycle of codes is refused';

CREATE FUNCTION crm.issue_customer_code(kind text) RETURNS text
    AS 'MODULE_PATHNAME', 'crm_issue_customer_code'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION crm.issue_customer_code(text) IS
'Issues and registers a new customer code for an ''account'' or a ''contact''; the default of their code columns';

CREATE FUNCTION crm.resolve_code(text) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    -- merges never form a cycle (crm.record_code_merge); UNION would stop at one
    WITH RECURSIVE chain(code, merged_into) AS (
        SELECT c.code, c.merged_into
          FROM crm.customer_code c
         WHERE c.code OPERATOR(pg_catalog.=) pg_catalog.upper(pg_catalog.btrim($1))
        UNION
        SELECT c.code, c.merged_into
          FROM chain JOIN crm.customer_code c ON c.code OPERATOR(pg_catalog.=) chain.merged_into
    )
    SELECT chain.code FROM chain WHERE chain.merged_into IS NULL;
END;
COMMENT ON FUNCTION crm.resolve_code(text) IS
'The surviving customer code for a code, following merges; the code itself when it was never merged, NULL when it was never issued';

CREATE FUNCTION crm.guard_customer_code() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_guard_customer_code' LANGUAGE C;
COMMENT ON FUNCTION crm.guard_customer_code() IS
'Trigger: a new row''s code must have been issued for its kind, and a code never changes';

------------------------------------------------------------------------------
-- Customers: accounts, contacts and contact points
------------------------------------------------------------------------------

CREATE TABLE crm.account (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE DEFAULT crm.issue_customer_code('account')
                REFERENCES crm.customer_code (code),
    name        text NOT NULL,
    name_key    text GENERATED ALWAYS AS (crm.norm_company_name(name)) STORED
                CONSTRAINT account_name_usable CHECK (name_key IS NOT NULL),
    name_region text GENERATED ALWAYS AS (crm.company_region(name)) STORED,
    uscc        text
                CONSTRAINT account_uscc_canonical CHECK (uscc OPERATOR(pg_catalog.=) crm.norm_uscc(uscc)),
    region_code text
                CONSTRAINT account_region_code_valid CHECK (crm.region_code_is_valid(region_code)),
    owner       text CONSTRAINT account_owner_named CHECK (pg_catalog.btrim(owner) OPERATOR(pg_catalog.<>) ''),
    merged_into bigint REFERENCES crm.account (id),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT account_not_self_merged CHECK (merged_into OPERATOR(pg_catalog.<>) id)
);
CREATE UNIQUE INDEX account_uscc_key ON crm.account (uscc) WHERE uscc IS NOT NULL;
-- C collation: the same index serves equality and the short-name prefix search
CREATE INDEX account_name_key_idx ON crm.account (name_key COLLATE "C") WHERE merged_into IS NULL;
COMMENT ON TABLE crm.account IS 'Organisations: companies, hospitals, schools';
COMMENT ON COLUMN crm.account.code IS 'Unified customer code shared with service and ERP records';
COMMENT ON COLUMN crm.account.name_key IS 'crm.norm_company_name(name), the matching key';
COMMENT ON COLUMN crm.account.name_region IS 'crm.company_region(name): tells apart same-named companies of two cities';
COMMENT ON COLUMN crm.account.uscc IS 'Unified social credit code, stored canonical; unique';
COMMENT ON COLUMN crm.account.region_code IS 'GB/T 2260 administrative division code';
COMMENT ON COLUMN crm.account.merged_into IS 'Set when this account was merged into another; kept so that the merge can be undone';

CREATE TABLE crm.contact (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE DEFAULT crm.issue_customer_code('contact')
                REFERENCES crm.customer_code (code),
    account_id  bigint REFERENCES crm.account (id),
    name        text,   -- NULL until known: a hotline lead may give only a number
    name_key    text GENERATED ALWAYS AS (crm.norm_person_name(name)) STORED,
    name_pinyin text GENERATED ALWAYS AS (crm.pinyin(crm.norm_person_name(name))) STORED,
    title       text,
    wechat_openid text CONSTRAINT contact_wechat_openid_named CHECK (pg_catalog.btrim(wechat_openid) OPERATOR(pg_catalog.<>) ''),
    owner       text CONSTRAINT contact_owner_named CHECK (pg_catalog.btrim(owner) OPERATOR(pg_catalog.<>) ''),
    verified_fields text[] NOT NULL DEFAULT '{}'
                CONSTRAINT contact_verified_fields_known
                CHECK (verified_fields OPERATOR(pg_catalog.<@) '{name,title,account_id,wechat_openid}'::text[]),
    merged_into bigint REFERENCES crm.contact (id),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT contact_not_self_merged CHECK (merged_into OPERATOR(pg_catalog.<>) id),
    CONSTRAINT contact_name_usable CHECK (name IS NULL OR name_key IS NOT NULL)
);
CREATE INDEX contact_account_idx ON crm.contact (account_id);
CREATE INDEX contact_pinyin_account_idx ON crm.contact (name_pinyin, account_id) WHERE merged_into IS NULL;
CREATE UNIQUE INDEX contact_wechat_openid_key ON crm.contact (wechat_openid)
    WHERE wechat_openid IS NOT NULL AND merged_into IS NULL;
COMMENT ON TABLE crm.contact IS 'People, each optionally at an account';
COMMENT ON COLUMN crm.contact.code IS 'Unified customer code shared with service and ERP records';
COMMENT ON COLUMN crm.contact.name_key IS 'crm.norm_person_name(name), the matching key';
COMMENT ON COLUMN crm.contact.name_pinyin IS 'crm.pinyin() of the name key: finds homophones and traditional spellings';
COMMENT ON COLUMN crm.contact.wechat_openid IS 'WeChat service-account openid; one live contact per openid';
COMMENT ON COLUMN crm.contact.verified_fields IS 'Fields a person has confirmed: lead merges never change them';
COMMENT ON COLUMN crm.contact.merged_into IS 'Set when this contact was merged into another; kept so that the merge can be undone';

CREATE TABLE crm.contact_point (
    id          bigserial PRIMARY KEY,
    contact_id  bigint NOT NULL REFERENCES crm.contact (id) ON DELETE CASCADE,
    kind        text NOT NULL CONSTRAINT contact_point_kind CHECK (kind IN ('phone', 'email')),
    value       text NOT NULL,
    is_primary  boolean NOT NULL DEFAULT false,
    verified    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT contact_point_value_canonical CHECK (
        value OPERATOR(pg_catalog.=) CASE kind WHEN 'phone' THEN crm.norm_phone(value)
                                               WHEN 'email' THEN crm.norm_email(value) END),
    CONSTRAINT contact_point_once UNIQUE (contact_id, kind, value)
);
CREATE INDEX contact_point_value_idx ON crm.contact_point (kind, value);
CREATE UNIQUE INDEX contact_point_one_primary ON crm.contact_point (contact_id, kind) WHERE is_primary;
COMMENT ON TABLE crm.contact_point IS
'Phones and e-mails of contacts, stored normalised (E.164, lower-case e-mail); a contact may have many';
COMMENT ON COLUMN crm.contact_point.verified IS 'Confirmed by a person; never replaced by an unconfirmed value';

CREATE FUNCTION crm.contact_point_before_write() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_contact_point_before_write' LANGUAGE C;
COMMENT ON FUNCTION crm.contact_point_before_write() IS
'Trigger: stores a contact point normalised, or refuses it with the reason';

CREATE FUNCTION crm.account_before_write() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_account_before_write' LANGUAGE C;
COMMENT ON FUNCTION crm.account_before_write() IS
'Trigger: stores the credit code canonical, or refuses it with the reason';

CREATE FUNCTION crm.touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.updated_at := pg_catalog.now();
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.touch_updated_at() IS
'Trigger: updated_at records the time of the last change, whoever makes it';

CREATE TRIGGER account_touch BEFORE UPDATE ON crm.account
    FOR EACH ROW EXECUTE FUNCTION crm.touch_updated_at();
CREATE TRIGGER contact_touch BEFORE UPDATE ON crm.contact
    FOR EACH ROW EXECUTE FUNCTION crm.touch_updated_at();
CREATE TRIGGER contact_point_normalize BEFORE INSERT OR UPDATE OF kind, value ON crm.contact_point
    FOR EACH ROW EXECUTE FUNCTION crm.contact_point_before_write();
CREATE TRIGGER account_normalize BEFORE INSERT OR UPDATE OF uscc ON crm.account
    FOR EACH ROW EXECUTE FUNCTION crm.account_before_write();
CREATE TRIGGER account_code_guard BEFORE INSERT OR UPDATE OF code ON crm.account
    FOR EACH ROW EXECUTE FUNCTION crm.guard_customer_code('account');
CREATE TRIGGER contact_code_guard BEFORE INSERT OR UPDATE OF code ON crm.contact
    FOR EACH ROW EXECUTE FUNCTION crm.guard_customer_code('contact');

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

CREATE FUNCTION crm.business_time_zone() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
RETURN coalesce((SELECT s.time_zone FROM crm.settings s), 'Asia/Shanghai');
COMMENT ON FUNCTION crm.business_time_zone() IS
'The business time zone: crm.settings.time_zone, by default Asia/Shanghai. The same for every session, whatever its TimeZone';

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

------------------------------------------------------------------------------
-- Lead channels: per-channel field maps
------------------------------------------------------------------------------

CREATE FUNCTION crm.map_payload(field_map jsonb, payload jsonb, time_zone text DEFAULT crm.business_time_zone())
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'crm_map_payload'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.map_payload(jsonb, jsonb, text) IS
'The lead fields a field map finds in a payload, as a JSON object; errors name the field and why (missing value, wrong JSON type, several values at a path, a value "values" lacks with on_miss refuse, bad time); a kept values miss is a NOTICE. Times without a zone are read in time_zone (by default the business time zone), never the session''s; created_at comes with that zone''s offset';

CREATE FUNCTION crm.check_field_map(jsonb) RETURNS boolean
    AS 'MODULE_PATHNAME', 'crm_check_field_map'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.check_field_map(jsonb) IS
'True for a usable field map; otherwise an error (22023, or 42601 for path syntax) that names the entry and what is wrong with it: an unknown field or key, a path with a $variable, a wildcard, range or predicate, a default its field cannot take, standard values that are not strings';

CREATE TABLE crm.channel (
    code         text PRIMARY KEY
                 CONSTRAINT channel_code_format CHECK (code OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]{0,62}$'),
    source_label text NOT NULL
                 CONSTRAINT channel_source_label_named CHECK (pg_catalog.btrim(source_label) OPERATOR(pg_catalog.<>) ''),
    field_map    jsonb NOT NULL CONSTRAINT channel_field_map_valid CHECK (crm.check_field_map(field_map)),
    time_zone    text CONSTRAINT channel_time_zone_known CHECK (crm.check_time_zone(time_zone)),
    description  text,
    shipped      boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE crm.channel IS
'Where leads come from: the standard source label written on every lead, and the field map from payload to lead fields';
COMMENT ON COLUMN crm.channel.field_map IS
'Lead field -> payload key, SQL/JSON path starting with $, or {"path", "default", "values": {"raw": "standard"}, "on_miss": "keep" or "refuse"}; a value the payload lacks is an error unless a default (null: optional) is given';
COMMENT ON COLUMN crm.channel.time_zone IS
'The zone the channel''s local payload times (no offset) are read in, a name from pg_timezone_names; NULL: the business time zone, crm.business_time_zone()';
COMMENT ON COLUMN crm.channel.shipped IS
'Defined by the extension: read-only (copy it under a new code to change it), and recreated by CREATE EXTENSION rather than by pg_dump';

-- Rows shipped with crm come back with CREATE EXTENSION, not with pg_dump
-- (which keeps only the rows users add), so they must not change.
CREATE FUNCTION crm.guard_shipped_row() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    row jsonb := pg_catalog.to_jsonb(OLD);
    key text := row ->> TG_ARGV[1];
BEGIN
    -- a table without a shipped column is shipped whole
    IF coalesce((row ->> 'shipped')::boolean, true) THEN
        RAISE EXCEPTION '% "%" is shipped with crm and cannot be changed', TG_ARGV[0], key
            USING ERRCODE = 'object_in_use',
                  HINT = pg_catalog.replace(pg_catalog.replace(TG_ARGV[2], '{key}', key),
                                            '{key_literal}', pg_catalog.quote_literal(key));
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION crm.guard_shipped_row() IS
'Trigger (kind, key column, hint): rows shipped with crm are read-only';
CREATE TRIGGER channel_shipped_guard BEFORE UPDATE OR DELETE ON crm.channel
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('channel', 'code',
        'Copy it: INSERT INTO crm.channel (code, source_label, field_map) SELECT ''my_{key}'', source_label, field_map FROM crm.channel WHERE code = {key_literal};');
CREATE TRIGGER channel_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.channel
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();

CREATE FUNCTION crm.lead_fields(channel text, payload jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ch crm.channel;
BEGIN
    SELECT * INTO ch FROM crm.channel c WHERE c.code = channel;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown lead channel %', crm.quote_value(channel)
            USING ERRCODE = 'undefined_object',
                  HINT = 'Channels are listed in crm.channel: ' ||
                         (SELECT string_agg(c.code, ', ' ORDER BY c.code) FROM crm.channel c) || '.';
    END IF;
    RETURN crm.map_payload(ch.field_map, payload, coalesce(ch.time_zone, crm.business_time_zone()))
        || jsonb_build_object('channel', ch.code, 'source_label', ch.source_label);
END
$$;
COMMENT ON FUNCTION crm.lead_fields(text, jsonb) IS
'The lead fields of a payload from a channel, with the channel code and its standard source label; local times are read in the channel''s time zone, else the business time zone';

-- The channels leads arrive through today.  Optional fields default to null.
-- CREATE EXTENSION makes them again in a restored database: their creation
-- time is fixed, so that they are the same there.
INSERT INTO crm.channel (code, source_label, description, shipped, field_map, created_at)
SELECT v.code, v.source_label, v.description, v.shipped, v.field_map::jsonb, timestamptz '2026-12-01 00:00+08'
  FROM (VALUES
('baidu_sem', '百度SEM', 'Baidu Marketing (营销通) clue push API', true, $j$
{"external_id": "clue_id",
 "person_name": {"path": "$.name", "default": null},
 "phone": {"path": "$.mobile", "default": null},
 "company_name": {"path": "$.company", "default": null},
 "region_code": {"path": "$.region_code", "default": null},
 "product_line": {"path": "$.solution_name", "default": null,
                  "values": {"影像设备推广": "imaging", "检验试剂推广": "ivd", "监护设备推广": "monitoring"}},
 "notes": {"path": "$.keyword", "default": null},
 "created_at": "$.commit_time"}
$j$),
('wechat_menu', '公众号菜单栏', 'WeChat service account menu click, XML callback converted to JSON', true, $j$
{"external_id": "MsgId",
 "wechat_openid": "FromUserName",
 "person_name": {"path": "$.nickname", "default": null},
 "phone": {"path": "$.phone", "default": null},
 "notes": {"path": "$.EventKey", "default": null,
           "values": {"MENU_DEMO": "预约演示", "MENU_PRICE": "询价", "MENU_SERVICE": "售后"}},
 "created_at": "CreateTime"}
$j$),
('jinshuju_form', '金数据表单', '金数据 form webhook (entry fields field_1…)', true, $j$
{"external_id": "$.entry.serial_number",
 "person_name": "$.entry.field_1",
 "phone": {"path": "$.entry.field_2", "default": null},
 "email": {"path": "$.entry.field_3", "default": null},
 "company_name": {"path": "$.entry.field_4", "default": null},
 "title": {"path": "$.entry.field_5", "default": null},
 "product_line": {"path": "$.entry.field_6", "default": null,
                  "values": {"医学影像": "imaging", "体外诊断": "ivd", "监护": "monitoring"}},
 "created_at": "$.entry.created_at"}
$j$),
('trade_show', '展会签到', 'Trade-show sign-in sheet rows (CMEF and regional shows)', true, $j$
{"external_id": {"path": "$.row_id", "default": null},
 "person_name": "姓名",
 "company_name": {"path": "$.\"单位\"", "default": null},
 "title": {"path": "$.\"职务\"", "default": null},
 "phone": {"path": "$.\"手机\"", "default": null},
 "email": {"path": "$.\"邮箱\"", "default": null},
 "notes": {"path": "$.\"展会\"", "default": null},
 "created_at": "签到时间"}
$j$),
('hotline_400', '400热线', '400 hotline call records from the call-centre system', true, $j$
{"external_id": "call_id",
 "phone": "caller",
 "person_name": {"path": "$.customer_name", "default": null},
 "company_name": {"path": "$.customer_company", "default": null},
 "notes": {"path": "$.agent_notes", "default": null},
 "created_at": "call_start"}
$j$),
('website', '官网表单', 'Contact form on the company website', true, $j$
{"external_id": {"path": "$.id", "default": null},
 "person_name": "name",
 "company_name": {"path": "$.company", "default": null},
 "phone": {"path": "$.phone", "default": null},
 "email": {"path": "$.email", "default": null},
 "uscc": {"path": "$.credit_code", "default": null},
 "title": {"path": "$.title", "default": null},
 "product_line": {"path": "$.product", "default": null},
 "notes": {"path": "$.message", "default": null},
 "created_at": "submitted_at"}
$j$)) AS v(code, source_label, description, shipped, field_map);

------------------------------------------------------------------------------
-- Sales organisation: working-hours calendars, teams, reps and absences
------------------------------------------------------------------------------

CREATE TABLE crm.calendar (
    code        text PRIMARY KEY CONSTRAINT calendar_code_format CHECK (code ~ '^[a-z][a-z0-9_]{0,62}$'),
    name        text NOT NULL,
    time_zone   text NOT NULL DEFAULT 'Asia/Shanghai'
                CONSTRAINT calendar_time_zone_known CHECK (pg_catalog.now() AT TIME ZONE time_zone IS NOT NULL),
    ledger_from date NOT NULL DEFAULT '2020-01-01',
    ledger_until date NOT NULL DEFAULT '2040-12-31',
    shipped     boolean NOT NULL DEFAULT false,
    -- at most a century: the ledger holds every window of the span
    CONSTRAINT calendar_ledger_span CHECK (ledger_from < ledger_until AND ledger_until <= ledger_from + 36525)
);
COMMENT ON TABLE crm.calendar IS
'Working-hours calendars, one per team or shared; SLA clocks run in working time';
COMMENT ON COLUMN crm.calendar.ledger_from IS
'First day of crm.calendar_window kept for this calendar; deadlines outside the span raise an error. The span is at most 36525 days (a century)';

CREATE TABLE crm.calendar_hours (
    calendar    text NOT NULL REFERENCES crm.calendar (code) ON UPDATE CASCADE ON DELETE CASCADE,
    isodow      smallint NOT NULL CONSTRAINT calendar_hours_isodow CHECK (isodow BETWEEN 1 AND 7),
    opens       time NOT NULL,
    closes      time NOT NULL,
    shipped     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (calendar, isodow, opens),
    CONSTRAINT calendar_hours_order CHECK (opens < closes)
);
COMMENT ON TABLE crm.calendar_hours IS
'Opening windows per ISO weekday (1 = Monday); several per day make a lunch break';

CREATE TABLE crm.calendar_day (
    calendar    text NOT NULL REFERENCES crm.calendar (code) ON UPDATE CASCADE ON DELETE CASCADE,
    day         date NOT NULL,
    kind        text NOT NULL CONSTRAINT calendar_day_kind CHECK (kind IN ('holiday', 'workday')),
    hours_of    smallint NOT NULL DEFAULT 1 CONSTRAINT calendar_day_hours_of CHECK (hours_of BETWEEN 1 AND 7),
    note        text,
    PRIMARY KEY (calendar, day)
);
COMMENT ON TABLE crm.calendar_day IS
'Exceptions: public holidays, and the weekend days worked in exchange (调休), which keep the hours of weekday hours_of';

-- The working-time ledger: every opening window with the working seconds
-- before it.  A deadline "N working minutes after t" is then two index
-- probes, however many nights, weekends and holidays lie between.
CREATE TABLE crm.calendar_window (
    calendar    text NOT NULL REFERENCES crm.calendar (code) ON UPDATE CASCADE ON DELETE CASCADE,
    opens       timestamptz NOT NULL,
    closes      timestamptz NOT NULL,
    work_before bigint NOT NULL,
    work_after  bigint NOT NULL,
    PRIMARY KEY (calendar, opens)
);
CREATE INDEX calendar_window_work_idx ON crm.calendar_window (calendar, work_after);
COMMENT ON TABLE crm.calendar_window IS
'Derived from the calendar tables by crm.rebuild_calendar(): each opening window and the working seconds since ledger_from before and after it';

CREATE FUNCTION crm.rebuild_calendar(calendar_code text) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cal crm.calendar;
    windows integer;
BEGIN
    SELECT * INTO cal FROM crm.calendar c WHERE c.code = calendar_code FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown calendar %', crm.quote_value(calendar_code)
            USING ERRCODE = 'undefined_object', HINT = 'Calendars are listed in crm.calendar.';
    END IF;
    DELETE FROM crm.calendar_window w WHERE w.calendar = cal.code;
    INSERT INTO crm.calendar_window (calendar, opens, closes, work_before, work_after)
    SELECT cal.code, o, c, sum(len) OVER w - len, sum(len) OVER w
      FROM (SELECT (g.day + h.opens) AT TIME ZONE cal.time_zone AS o,
                   (g.day + h.closes) AT TIME ZONE cal.time_zone AS c,
                   extract(epoch FROM ((g.day + h.closes) AT TIME ZONE cal.time_zone)
                                    - ((g.day + h.opens) AT TIME ZONE cal.time_zone))::bigint AS len
              FROM generate_series(cal.ledger_from, cal.ledger_until, interval '1 day') AS s(ts)
             CROSS JOIN LATERAL (SELECT s.ts::date AS day) g
              LEFT JOIN crm.calendar_day d ON d.calendar = cal.code AND d.day = g.day
              JOIN crm.calendar_hours h ON h.calendar = cal.code
                   AND h.isodow = CASE WHEN d.kind = 'workday' THEN d.hours_of
                                       ELSE extract(isodow FROM g.day) END
             WHERE d.kind IS DISTINCT FROM 'holiday') x
    WINDOW w AS (ORDER BY o);
    GET DIAGNOSTICS windows = ROW_COUNT;
    RETURN windows;
END
$$;
COMMENT ON FUNCTION crm.rebuild_calendar(text) IS
'Recomputes a calendar''s working-time ledger; runs by itself when its hours or days change. Deadlines already set keep their time';

-- The argument names the changed rows' calendar column: calendar in the
-- hours and days, code in crm.calendar itself.
CREATE FUNCTION crm.calendar_changed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM crm.rebuild_calendar(c.code)
       FROM crm.calendar c
      WHERE c.code IN (SELECT pg_catalog.to_jsonb(r) ->> TG_ARGV[0] FROM changed_rows r)
      ORDER BY c.code;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.calendar_changed() IS
'Trigger (calendar column): rebuilds the ledger of every calendar whose hours, days, time zone or ledger span a statement changed';

CREATE TRIGGER calendar_hours_inserted AFTER INSERT ON crm.calendar_hours
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.calendar_changed('calendar');
CREATE TRIGGER calendar_hours_updated AFTER UPDATE ON crm.calendar_hours
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.calendar_changed('calendar');
CREATE TRIGGER calendar_hours_deleted AFTER DELETE ON crm.calendar_hours
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.calendar_changed('calendar');
CREATE TRIGGER calendar_day_inserted AFTER INSERT ON crm.calendar_day
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.calendar_changed('calendar');
CREATE TRIGGER calendar_day_updated AFTER UPDATE ON crm.calendar_day
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.calendar_changed('calendar');
CREATE TRIGGER calendar_day_deleted AFTER DELETE ON crm.calendar_day
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.calendar_changed('calendar');
CREATE TRIGGER calendar_settings_updated AFTER UPDATE ON crm.calendar
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.calendar_changed('code');

-- Working seconds since the ledger began, up to t.  Epochs subtracted, not
-- times: t = 'infinity' (a bad row in a report) gives the whole ledger.
CREATE FUNCTION crm.working_seconds_at(calendar text, t timestamptz) RETURNS numeric
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
RETURN coalesce((SELECT w.work_before + least(greatest(extract(epoch FROM t) - extract(epoch FROM w.opens), 0),
                                              w.work_after - w.work_before)
                   FROM crm.calendar_window w
                  WHERE w.calendar = working_seconds_at.calendar AND w.opens <= t
                  ORDER BY w.opens DESC LIMIT 1), 0);
COMMENT ON FUNCTION crm.working_seconds_at(text, timestamptz) IS
'Working seconds of a calendar from its ledger_from up to t: the difference of two is the working time between them';

CREATE FUNCTION crm.add_working_time(calendar text, t timestamptz, duration interval) RETURNS timestamptz
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    target numeric := crm.working_seconds_at(calendar, t) + extract(epoch FROM duration);
    due timestamptz;
BEGIN
    IF duration < interval '0' THEN
        RAISE EXCEPTION 'a working-time duration cannot be negative: %', duration
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT isfinite(t) THEN
        RAISE EXCEPTION 'working time cannot be added to %', t
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'A deadline starts at a finite time.';
    END IF;
    SELECT w.opens + make_interval(secs => target - w.work_before) INTO due
      FROM crm.calendar_window w
     WHERE w.calendar = add_working_time.calendar AND w.work_after >= target
     ORDER BY w.work_after LIMIT 1;
    IF due IS NULL AND NOT EXISTS (SELECT FROM crm.calendar c WHERE c.code = add_working_time.calendar) THEN
        RAISE EXCEPTION 'unknown calendar %', crm.quote_value(calendar)
            USING ERRCODE = 'undefined_object', HINT = 'Calendars are listed in crm.calendar.';
    ELSIF due IS NULL THEN
        RAISE EXCEPTION 'calendar "%" has no working time left after %', calendar, t
            USING ERRCODE = 'data_exception',
                  DETAIL = pg_catalog.format('%s of working time was asked for.', duration),
                  HINT = 'Check that the calendar exists, has opening hours, and that crm.calendar.ledger_until is far enough ahead.';
    END IF;
    RETURN greatest(due, t);
END
$$;
COMMENT ON FUNCTION crm.add_working_time(text, timestamptz, interval) IS
'The moment duration of working time after t in a calendar: nights, weekends and holidays do not count';

-- A deadline on the calendar clock lands here: nobody is due while the
-- office is closed.
CREATE FUNCTION crm.next_working_time(calendar text, t timestamptz) RETURNS timestamptz
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz;
BEGIN
    -- the first window not over at t: the one t lies in, or the next
    SELECT greatest(w.opens, t) INTO at
      FROM crm.calendar_window w
     WHERE w.calendar = next_working_time.calendar
       AND w.work_after > crm.working_seconds_at(next_working_time.calendar, t)
     ORDER BY w.work_after LIMIT 1;
    -- none: add_working_time says why (no such calendar, or its ledger ends)
    RETURN coalesce(at, crm.add_working_time(calendar, t, interval '1 microsecond'));
END
$$;
COMMENT ON FUNCTION crm.next_working_time(text, timestamptz) IS
't when the calendar is open at t, else its next opening (a closing time is not open)';

CREATE TABLE crm.sla_policy (
    code        text PRIMARY KEY CONSTRAINT sla_policy_code_format CHECK (code ~ '^[a-z][a-z0-9_]{0,62}$'),
    name        text NOT NULL,
    reassign_on_breach boolean NOT NULL DEFAULT false,
    shipped     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE crm.sla_policy IS 'Response SOPs; each team follows one';
COMMENT ON COLUMN crm.sla_policy.reassign_on_breach IS
'A lead whose first contact is breached goes back to assignment, to another rep where one is available';

CREATE TABLE crm.sla_step (
    policy      text NOT NULL REFERENCES crm.sla_policy (code) ON UPDATE CASCADE ON DELETE CASCADE,
    milestone   text NOT NULL CONSTRAINT sla_step_milestone CHECK (milestone IN ('first_contact', 'needs_summary', 'follow_up_plan')),
    within      interval NOT NULL CONSTRAINT sla_step_within_positive CHECK (within > interval '0'),
    clock       text NOT NULL DEFAULT 'working' CONSTRAINT sla_step_clock CHECK (clock IN ('working', 'calendar')),
    escalate_manager_after  interval NOT NULL DEFAULT '30 minutes',
    escalate_director_after interval NOT NULL DEFAULT '2 hours',
    shipped     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (policy, milestone),
    CONSTRAINT sla_step_escalation_order CHECK (interval '0' <= escalate_manager_after
                                                AND escalate_manager_after <= escalate_director_after)
);
COMMENT ON TABLE crm.sla_step IS
'Milestones of a policy, in the order first_contact, needs_summary, follow_up_plan: each is due "within" after assignment on the team''s working clock, or on the calendar clock (counted from the team''s first working moment, and moved to its next opening if it falls outside working hours); no step is due before the one before it (crm.sla_deadlines). A breach notifies the owner, then the manager and the director after the given delays past the deadline';

INSERT INTO crm.sla_policy (code, name, shipped) VALUES ('standard', '标准线索响应 SOP', true);
INSERT INTO crm.sla_step (policy, milestone, within, clock, shipped) VALUES
    ('standard', 'first_contact', '15 minutes', 'working', true),
    ('standard', 'needs_summary', '2 hours', 'working', true),
    ('standard', 'follow_up_plan', '24 hours', 'calendar', true);

CREATE TRIGGER calendar_shipped_guard BEFORE UPDATE OR DELETE ON crm.calendar
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('calendar', 'code',
        'Create a calendar of your own (its holidays can be added to any calendar, shipped or not).');
CREATE TRIGGER calendar_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.calendar
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();
CREATE TRIGGER calendar_hours_shipped_guard BEFORE UPDATE OR DELETE ON crm.calendar_hours
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('calendar hours of', 'calendar',
        'Create a calendar of your own with the hours you need, and set it on crm.team.calendar.');
CREATE TRIGGER calendar_hours_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.calendar_hours
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();
CREATE TRIGGER sla_policy_shipped_guard BEFORE UPDATE OR DELETE ON crm.sla_policy
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('SLA policy', 'code',
        'Create a policy of your own and set it on crm.team.sla_policy.');
CREATE TRIGGER sla_policy_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.sla_policy
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();
CREATE TRIGGER sla_step_shipped_guard BEFORE UPDATE OR DELETE ON crm.sla_step
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('SLA step of policy', 'policy',
        'Create a policy of your own and set it on crm.team.sla_policy.');
CREATE TRIGGER sla_step_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.sla_step
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();

CREATE TABLE crm.team (
    code        text PRIMARY KEY CONSTRAINT team_code_format CHECK (code ~ '^[a-z][a-z0-9_]{0,62}$'),
    name        text NOT NULL,
    manager     text,
    director    text,
    calendar    text NOT NULL DEFAULT 'cn_standard' REFERENCES crm.calendar (code) ON UPDATE CASCADE,
    sla_policy  text NOT NULL DEFAULT 'standard' REFERENCES crm.sla_policy (code) ON UPDATE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE crm.team IS 'Sales teams: assignment targets, with the people escalations go to';
COMMENT ON COLUMN crm.team.manager IS 'Login notified at the first escalation of a breached SLA';
COMMENT ON COLUMN crm.team.director IS 'Login notified at the second escalation';

-- The milestones come in one order; a step whose own deadline would come
-- before the previous step's is due with it (a lead assigned on Sunday
-- morning: follow_up_plan 24 calendar hours later would beat first_contact).
CREATE FUNCTION crm.sla_deadlines(team text, assigned_at timestamptz)
    RETURNS TABLE (milestone text, due_at timestamptz)
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    SELECT d.milestone, max(d.due) OVER (ORDER BY d.step ROWS UNBOUNDED PRECEDING)
      FROM (SELECT s.milestone,
                   array_position(ARRAY['first_contact', 'needs_summary', 'follow_up_plan'], s.milestone) AS step,
                   CASE s.clock
                       WHEN 'working' THEN crm.add_working_time(t.calendar, sla_deadlines.assigned_at, s.within)
                       ELSE crm.next_working_time(t.calendar,
                                crm.next_working_time(t.calendar, sla_deadlines.assigned_at) + s.within)
                   END AS due
              FROM crm.team t JOIN crm.sla_step s ON s.policy = t.sla_policy
             WHERE t.code = sla_deadlines.team) d
     ORDER BY d.step;
END;
COMMENT ON FUNCTION crm.sla_deadlines(text, timestamptz) IS
'The SLA deadlines of a lead assigned to a team at assigned_at, in milestone order: working-clock steps in the team calendar''s working time; calendar-clock steps counted from its first working moment and moved to its next opening; none before the step before it';

CREATE TABLE crm.rep (
    login       text PRIMARY KEY CONSTRAINT rep_login_named CHECK (pg_catalog.btrim(login) OPERATOR(pg_catalog.<>) ''),
    name        text NOT NULL,
    team        text NOT NULL REFERENCES crm.team (code) ON UPDATE CASCADE,
    active      boolean NOT NULL DEFAULT true,
    daily_capacity integer CONSTRAINT rep_daily_capacity_positive CHECK (daily_capacity > 0),
    open_leads  integer NOT NULL DEFAULT 0,
    last_assigned_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX rep_team_idx ON crm.rep (team);
COMMENT ON TABLE crm.rep IS 'Sales reps, the owners leads are assigned to';
COMMENT ON COLUMN crm.rep.active IS 'An inactive rep (left, suspended) is never assigned a lead';
COMMENT ON COLUMN crm.rep.daily_capacity IS 'New leads a rep may be assigned per calendar day of the team; NULL: no limit';
COMMENT ON COLUMN crm.rep.open_leads IS 'Leads assigned or contacted and not closed; kept by crm, read by least-loaded assignment';
COMMENT ON COLUMN crm.rep.last_assigned_at IS 'Round robin takes the rep who waited longest';

CREATE TABLE crm.rep_absence (
    id          bigserial PRIMARY KEY,
    rep         text NOT NULL REFERENCES crm.rep (login) ON UPDATE CASCADE ON DELETE CASCADE,
    during      daterange NOT NULL CONSTRAINT rep_absence_bounded CHECK (NOT isempty(during) AND NOT lower_inf(during) AND NOT upper_inf(during)),
    reason      text
);
CREATE INDEX rep_absence_rep_idx ON crm.rep_absence (rep);
COMMENT ON TABLE crm.rep_absence IS 'Leave, training, trade shows: no lead is assigned to a rep on these days (team calendar dates)';

CREATE TABLE crm.rep_day_load (
    rep         text NOT NULL REFERENCES crm.rep (login) ON UPDATE CASCADE ON DELETE CASCADE,
    day         date NOT NULL,
    assigned    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (rep, day)
);
COMMENT ON TABLE crm.rep_day_load IS 'Leads assigned to each rep per day: what daily_capacity is checked against';

-- The rep is available on the team calendar's today.
-- Not STRICT, so that the planner can inline it into the rep queries.
CREATE FUNCTION crm.rep_is_present(login text, on_day date) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
RETURN NOT EXISTS (SELECT FROM crm.rep_absence a WHERE a.rep = login AND a.during @> on_day);
COMMENT ON FUNCTION crm.rep_is_present(text, date) IS 'The rep has no absence on that day';

INSERT INTO crm.calendar (code, name, shipped) VALUES ('cn_standard', '标准工作日 9:00-12:00, 13:00-18:00 (Asia/Shanghai)', true);
INSERT INTO crm.calendar_hours (calendar, isodow, opens, closes, shipped)
SELECT 'cn_standard', d, o, c, true
  FROM generate_series(1, 5) d, (VALUES (time '09:00', time '12:00'), ('13:00', '18:00')) h(o, c);

-- One search box for a customer.  Each reading of the text is normalised
-- once and looked up by its own index: a code through the registry
-- (following merges) and the code columns, a phone or an e-mail through
-- contact_point_value_idx, a credit code through account_uscc_key, and,
-- only when the text is none of these, a name through account_name_key_idx
-- and contact_pinyin_account_idx.  Merged records are never returned: a
-- merged record's code resolves to the survivor, and its phones and
-- e-mails either moved to the survivor or are the survivor's already.
CREATE FUNCTION crm.find_customer(query text)
    RETURNS TABLE (kind text, id bigint, code text, name text, account_id bigint,
                   account_name text, owner text, matched_by text)
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    key_code text := crm.resolve_code(query);
    key_phone text := crm.norm_phone(query);
    key_email text := crm.norm_email(query);
    key_uscc text := CASE WHEN crm.uscc_is_valid(query) THEN crm.norm_uscc(query) END;
    by_name boolean := key_code IS NULL AND key_phone IS NULL AND key_email IS NULL AND key_uscc IS NULL;
    key_person text := CASE WHEN by_name THEN crm.norm_person_name(query) END;
    key_company text := CASE WHEN by_name THEN crm.norm_company_name(query) END;
BEGIN
    RETURN QUERY
    WITH found(contact_id, account_id, matched_by) AS (
        SELECT c.id, NULL::bigint, 'code' FROM crm.contact c WHERE c.code = key_code
        UNION ALL
        SELECT NULL, a.id, 'code' FROM crm.account a WHERE a.code = key_code
        UNION ALL
        SELECT p.contact_id, NULL, p.kind FROM crm.contact_point p
         WHERE (p.kind = 'phone' AND p.value = key_phone) OR (p.kind = 'email' AND p.value = key_email)
        UNION ALL
        SELECT NULL, a.id, 'uscc' FROM crm.account a WHERE a.uscc = key_uscc
        UNION ALL
        SELECT c.id, NULL, 'name' FROM crm.contact c
         WHERE c.name_pinyin = crm.pinyin(key_person) AND c.name_key = key_person AND c.merged_into IS NULL
        UNION ALL
        SELECT NULL, a.id, 'name' FROM crm.account a
         WHERE a.name_key COLLATE "C" = key_company AND a.merged_into IS NULL
    )
    SELECT 'contact', c.id, c.code, c.name, c.account_id, a.name, c.owner, f.matched_by
      FROM found f JOIN crm.contact c ON c.id = f.contact_id
      LEFT JOIN crm.account a ON a.id = c.account_id
     WHERE c.merged_into IS NULL
    UNION ALL
    SELECT 'account', a.id, a.code, a.name, a.id, a.name, a.owner, f.matched_by
      FROM found f JOIN crm.account a ON a.id = f.account_id
     WHERE a.merged_into IS NULL
     ORDER BY 8, 1, 2;
END
$$;
COMMENT ON FUNCTION crm.find_customer(text) IS
'Live contacts and accounts matching a search text: a customer code (a merged one finds the survivor), a phone or an e-mail in any usual spelling, a credit code, or else an exact person or company name key; matched_by says which. Text that is none of these, and NULL, give no rows';

------------------------------------------------------------------------------
-- Leads: one row per ingested lead, the quarantine, the review queue and the
-- merge history
------------------------------------------------------------------------------

CREATE TABLE crm.lead (
    id              bigserial PRIMARY KEY,
    channel         text NOT NULL REFERENCES crm.channel (code),
    source_label    text NOT NULL,
    external_id     text,
    person_name     text,
    company_name    text,
    phone           text,           -- normalised; the raw value stays in payload
    email           text,
    uscc            text,
    region_code     text,
    title           text,
    product_line    text,
    wechat_openid   text,
    notes           text,
    warnings        text[] NOT NULL DEFAULT '{}',
    payload         jsonb NOT NULL,
    contact_id      bigint REFERENCES crm.contact (id),
    account_id      bigint REFERENCES crm.account (id),
    outcome         text NOT NULL CONSTRAINT lead_outcome CHECK (outcome IN ('new', 'merged', 'review')),
    account_outcome text CONSTRAINT lead_account_outcome CHECK (account_outcome IN ('new', 'matched')),
    match_score     real,
    score           integer CONSTRAINT lead_score_range CHECK (score BETWEEN 0 AND 100),
    win_probability real CONSTRAINT lead_win_probability_range CHECK (win_probability BETWEEN 0 AND 1),
    score_factors   jsonb,
    scored_at       timestamptz,
    status          text NOT NULL DEFAULT 'new' CONSTRAINT lead_status CHECK (status IN
                    ('new', 'scored', 'assigned', 'contacted', 'qualified', 'disqualified'))
                    CONSTRAINT lead_status_owned CHECK (status NOT IN ('assigned', 'contacted') OR owner IS NOT NULL),
    status_changed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    owner           text REFERENCES crm.rep (login) ON UPDATE CASCADE,
    team            text REFERENCES crm.team (code) ON UPDATE CASCADE,
    assignment_rule text,
    waiting_reason  text,
    previous_owner  text,
    -- finite and after the Unix epoch, whoever writes it: a report over
    -- time ranges is bounded by it (see crm.lead_time_guard for the ceiling)
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
                    CONSTRAINT lead_created_at_finite
                    CHECK (created_at > '1970-01-01 00:00:00+00' AND created_at < 'infinity'),
    received_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    assigned_at     timestamptz,
    first_response_at timestamptz,
    closed_at       timestamptz
);
-- A webhook delivered twice is one lead.  Not partial: ingestion looks ids
-- up by a join, which cannot prove a partial index's predicate.
CREATE UNIQUE INDEX lead_external_id_key ON crm.lead (channel, external_id);
CREATE INDEX lead_contact_idx ON crm.lead (contact_id);
CREATE INDEX lead_account_idx ON crm.lead (account_id);
CREATE INDEX lead_created_at_idx ON crm.lead (created_at);
-- The leads a machine step owes something: the sweep finds a pile-up here
-- without reading the leads that people are working on.
CREATE INDEX lead_machine_wait_idx ON crm.lead (status, status_changed_at)
    WHERE status IN ('new', 'scored');
CREATE INDEX lead_open_owner_idx ON crm.lead (owner) WHERE status IN ('assigned', 'contacted');
COMMENT ON TABLE crm.lead IS
'One row per ingested lead: the mapped fields, the raw payload, and the customer it was matched to';
COMMENT ON COLUMN crm.lead.outcome IS
'new: a contact was created; merged: attached to an existing contact whose profile was updated; review: attached provisionally, the pair waits in crm.match_review';
COMMENT ON COLUMN crm.lead.account_outcome IS
'new: the lead''s organisation was created; matched: found among the accounts; NULL: the lead names no organisation';
COMMENT ON COLUMN crm.lead.warnings IS
'Values the lead gave that could not be used (a phone that is not a possible number, an invalid credit code) or that the field map''s "values" did not list (kept as given, counted in crm.field_map_misses); the lead is kept';
COMMENT ON COLUMN crm.lead.match_score IS
'Fellegi-Sunter log2 likelihood ratio of the best candidate contact; NULL when no candidate was found';
COMMENT ON COLUMN crm.lead.created_at IS
'Submission time the channel reported: ingestion takes it within crm.lead_time_floor and crm.lead_time_max_ahead after now; any write keeps it finite, after 1970-01-01 UTC and not beyond the ceiling';

CREATE FUNCTION crm.lead_time_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_lead_time_guard' LANGUAGE C;
COMMENT ON FUNCTION crm.lead_time_guard() IS
'Trigger: a lead time written directly lies no further after now than crm.lead_time_max_ahead (a moving bound, which a CHECK cannot hold)';
CREATE TRIGGER lead_time_guard BEFORE INSERT OR UPDATE OF created_at ON crm.lead
    FOR EACH ROW EXECUTE FUNCTION crm.lead_time_guard();
COMMENT ON COLUMN crm.lead.received_at IS 'When crm ingested it';
COMMENT ON COLUMN crm.lead.score IS
'Rule score 0-100 from crm.score_rule: channel, completeness, title, product line, region, and decaying behaviour events';
COMMENT ON COLUMN crm.lead.win_probability IS
'Naive Bayes probability of qualification learned from the leads closed so far; NULL until crm.win_stats has enough history';
COMMENT ON COLUMN crm.lead.score_factors IS
'Why the lead scored so: the top three rule points and the top three predictive factors';
COMMENT ON COLUMN crm.lead.status IS
'new (waits for scoring), scored (waits for assignment), assigned (waits for first contact), contacted, qualified, disqualified';
COMMENT ON COLUMN crm.lead.waiting_reason IS
'Why assignment left the lead waiting (no rule matched, no rep available); cleared when it is assigned';

CREATE TYPE crm.ingest_result AS (
    lead_id       bigint,
    contact_id    bigint,
    account_id    bigint,
    customer_code text,
    outcome       text,
    match_score   real,
    lead_score    integer,
    owner         text,
    status        text,
    waiting_reason text
);
COMMENT ON TYPE crm.ingest_result IS
'What crm.ingest did with a lead: outcome new, merged or review for a lead stored now, duplicate for a re-send of a stored lead (returned as it is now); status and waiting_reason say what happens next';

CREATE FUNCTION crm.ingest(channel text, payload jsonb) RETURNS crm.ingest_result
    AS 'MODULE_PATHNAME', 'crm_ingest'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION crm.ingest(text, jsonb) IS
'Ingests one lead: maps the payload through the channel, finds the customer (new, merged or review) and stores the lead. A re-send (same channel and external_id, same lead fields) stores nothing and returns the stored lead with outcome duplicate; different fields under a known id raise unique_violation (23505). A NULL channel or payload raises null_value_not_allowed (22004)';

-- Who can fix a quarantined row, from its SQLSTATE and message: the channel
-- admin when the channel is unknown or its field map is wrong or misses a
-- key (crm.retry_quarantined replays the row once the channel is fixed),
-- the sender when the payload itself is bad (data exceptions, a different
-- lead under a known external id), the DBA when the database refused the
-- write (a constraint or trigger of its own).
CREATE FUNCTION crm.quarantine_fix_by(sqlstate text, reason text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT CASE
        WHEN sqlstate = '42704' THEN 'channel_admin'
        WHEN sqlstate = '22023' AND (reason LIKE 'invalid field map%' OR reason LIKE 'field map %'
                                     OR reason LIKE 'payload has no value at %') THEN 'channel_admin'
        WHEN sqlstate LIKE '22%' OR sqlstate = '42804' THEN 'sender'
        WHEN sqlstate = '23505' AND reason LIKE 'lead % was ingested before with different values'
            THEN 'sender'
        ELSE 'dba'
    END;
END;
COMMENT ON FUNCTION crm.quarantine_fix_by(text, text) IS
'Who can fix a quarantined row, from its SQLSTATE and reason: channel_admin (unknown channel, field map wrong or missing a key), sender (a bad payload, a different lead under a known external id) or dba (the database refused the write)';

CREATE SEQUENCE crm.lead_quarantine_batch_seq;
COMMENT ON SEQUENCE crm.lead_quarantine_batch_seq IS
'Batch ids of crm.lead_quarantine: one per INSERT or COPY into crm.lead_inbox that quarantined a row';

CREATE TABLE crm.lead_quarantine (
    id          bigserial PRIMARY KEY,
    batch_id    bigint,
    channel     text,
    payload     jsonb,
    sqlstate    text NOT NULL,
    reason      text NOT NULL,
    detail      text,
    context     text,
    fix_by      text GENERATED ALWAYS AS (crm.quarantine_fix_by(sqlstate, reason)) STORED,
    received_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    retries     integer NOT NULL DEFAULT 0,
    retried_at  timestamptz
);
CREATE INDEX lead_quarantine_batch_idx ON crm.lead_quarantine (batch_id);
COMMENT ON TABLE crm.lead_quarantine IS
'Rows of crm.lead_inbox that could not be ingested, with the reason; the good rows of the same statement are ingested. crm.retry_quarantined replays them';
COMMENT ON COLUMN crm.lead_quarantine.batch_id IS
'The INSERT or COPY into crm.lead_inbox the row came from: shared by the rows one statement quarantined, and reported by crm.lead_inbox_counts()';
COMMENT ON COLUMN crm.lead_quarantine.fix_by IS
'Who can fix it (crm.quarantine_fix_by): channel_admin, sender or dba';
COMMENT ON COLUMN crm.lead_quarantine.retries IS
'How many times crm.retry_quarantined replayed the row and it failed again; sqlstate, reason, detail and context are those of the last try';
COMMENT ON COLUMN crm.lead_quarantine.retried_at IS 'When crm.retry_quarantined last replayed it';

CREATE TABLE crm.lead_quarantine_release (
    quarantine_id bigint PRIMARY KEY,
    batch_id      bigint,
    channel       text NOT NULL,
    lead_id       bigint NOT NULL,
    outcome       text NOT NULL,
    released_at   timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE crm.lead_quarantine_release IS
'Audit trail of crm.retry_quarantined: each quarantined row that a replay ingested, with the lead it became (or, outcome duplicate, the stored lead it repeated)';

-- Rows inserted here are ingested by a C trigger and never stored: the lead
-- lands in crm.lead, a bad row in crm.lead_quarantine.
CREATE TABLE crm.lead_inbox (
    channel text,
    payload jsonb
);
COMMENT ON TABLE crm.lead_inbox IS
'Bulk ingestion: INSERT or COPY (channel, payload) rows; each is ingested as crm.ingest would, bad rows are quarantined. Always empty';

CREATE FUNCTION crm.lead_inbox_ingest() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_lead_inbox_ingest' LANGUAGE C;
COMMENT ON FUNCTION crm.lead_inbox_ingest() IS
'Trigger: ingests an inbox row, or quarantines it with the reason';
CREATE FUNCTION crm.lead_inbox_statement() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_lead_inbox_statement' LANGUAGE C;
COMMENT ON FUNCTION crm.lead_inbox_statement() IS
'Trigger: counts the rows a statement ingests and quarantines, and warns when any was quarantined';
CREATE TRIGGER lead_inbox_ingest BEFORE INSERT ON crm.lead_inbox
    FOR EACH ROW EXECUTE FUNCTION crm.lead_inbox_ingest();
CREATE TRIGGER lead_inbox_begin BEFORE INSERT ON crm.lead_inbox
    FOR EACH STATEMENT EXECUTE FUNCTION crm.lead_inbox_statement();
CREATE TRIGGER lead_inbox_end AFTER INSERT ON crm.lead_inbox
    FOR EACH STATEMENT EXECUTE FUNCTION crm.lead_inbox_statement();

CREATE FUNCTION crm.lead_inbox_counts(OUT ingested bigint, OUT quarantined bigint,
                                      OUT duplicates bigint, OUT batch_id bigint)
    AS 'MODULE_PATHNAME', 'crm_lead_inbox_counts'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION crm.lead_inbox_counts() IS
'What the last INSERT or COPY into crm.lead_inbox of this session did: rows stored as leads, rows quarantined, re-sends of stored leads (stored nothing), and the batch_id of its quarantined rows (NULL when none)';

-- Replays quarantined rows through crm.ingest, oldest first, each in a
-- subtransaction.  Rows are locked as they are read, and rows another
-- retry has locked are skipped: two retries never ingest a row twice.  An
-- error that is not the row's (a cancel, a deadlock or serialization
-- failure, exhausted resources, an internal error, the caller's missing
-- rights) ends the retry, as it ends a bulk statement.
CREATE FUNCTION crm.retry_quarantined(batch_id bigint DEFAULT NULL, channel text DEFAULT NULL,
                                      ids bigint[] DEFAULT NULL,
                                      OUT retried bigint, OUT ingested bigint,
                                      OUT duplicates bigint, OUT quarantined bigint)
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q record;
    result crm.ingest_result;
    failure_state text;
    failure_reason text;
    failure_detail text;
    failure_hint text;
    failure_context text;
BEGIN
    retried := 0; ingested := 0; duplicates := 0; quarantined := 0;
    -- A row that ingests leaves the quarantine: without the right to
    -- delete, every row would fail again for the caller's rights, not its own.
    IF NOT pg_catalog.has_table_privilege('crm.lead_quarantine', 'DELETE') THEN
        RAISE EXCEPTION 'permission denied to replay quarantined rows'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A replayed row that ingests is deleted from crm.lead_quarantine.',
                  HINT = 'GRANT DELETE ON crm.lead_quarantine to the role (see README, Grants for application roles).';
    END IF;
    FOR q IN SELECT * FROM crm.lead_quarantine r
              WHERE (retry_quarantined.batch_id IS NULL OR r.batch_id = retry_quarantined.batch_id)
                AND (retry_quarantined.channel IS NULL OR r.channel = retry_quarantined.channel)
                AND (retry_quarantined.ids IS NULL OR r.id = ANY (retry_quarantined.ids))
              ORDER BY r.id FOR UPDATE SKIP LOCKED
    LOOP
        retried := retried + 1;
        BEGIN
            result := crm.ingest(q.channel, q.payload);
            DELETE FROM crm.lead_quarantine WHERE id = q.id;
            INSERT INTO crm.lead_quarantine_release (quarantine_id, batch_id, channel, lead_id, outcome)
            VALUES (q.id, q.batch_id, q.channel, result.lead_id, result.outcome);
            IF result.outcome = 'duplicate' THEN
                duplicates := duplicates + 1;
            ELSE
                ingested := ingested + 1;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS failure_state = RETURNED_SQLSTATE, failure_reason = MESSAGE_TEXT,
                failure_detail = PG_EXCEPTION_DETAIL, failure_hint = PG_EXCEPTION_HINT,
                failure_context = PG_EXCEPTION_CONTEXT;
            -- not the row's: the row keeps the reason it had
            IF left(failure_state, 2) IN ('40', '53', '54', '57', '58', 'XX') OR failure_state = '42501' THEN
                RAISE;
            END IF;
            UPDATE crm.lead_quarantine
               SET sqlstate = failure_state, reason = failure_reason,
                   detail = coalesce(nullif(failure_detail, ''), nullif(failure_hint, '')),
                   context = nullif(failure_context, ''), retries = retries + 1, retried_at = now()
             WHERE id = q.id;
            quarantined := quarantined + 1;
        END;
    END LOOP;
END $$;
COMMENT ON FUNCTION crm.retry_quarantined(bigint, text, bigint[]) IS
'Replays the quarantined rows of a batch, a channel and/or a list of ids (all rows when none is given) through crm.ingest: a row that ingests leaves the quarantine (crm.lead_quarantine_release keeps which lead it became), one that fails again stays with its new reason. Rows another retry holds are skipped. Returns how many rows were retried, ingested, found to be duplicates of stored leads, and quarantined again';

-- A raw value missing from a field map entry's "values" leaves a warning on
-- the lead kept with it, or the reason of the row quarantined for it: the
-- hot path writes nothing more, and only warned leads are read here.
CREATE INDEX lead_warned_idx ON crm.lead (channel) WHERE warnings <> '{}';
CREATE VIEW crm.field_map_misses AS
SELECT m.channel, m.field, m.value, m.on_miss, count(*) AS leads,
       min(m.seen_at) AS first_seen, max(m.seen_at) AS last_seen
  FROM (SELECT l.channel, w[1] AS field, w[2] AS value, 'keep' AS on_miss, l.received_at AS seen_at
          FROM crm.lead l, unnest(l.warnings) u(warning),
               regexp_match(u.warning, '^(\w+) (".*") is not among its field map values; kept as given$') w
         WHERE l.warnings <> '{}' AND w IS NOT NULL
        UNION ALL
        SELECT q.channel, r[1], r[2], 'refuse', q.received_at
          FROM crm.lead_quarantine q,
               regexp_match(q.reason, '^lead field "(\w+)" has a value its field map does not list: (".*")$') r
         WHERE q.sqlstate = '22023' AND r IS NOT NULL) m
 GROUP BY m.channel, m.field, m.value, m.on_miss;
COMMENT ON VIEW crm.field_map_misses IS
'Raw values that a field map entry''s "values" did not list, per channel, field and value: kept on stored leads (with a warning) or refused (rows quarantined by crm.lead_inbox; a refused crm.ingest call stores nothing)';
COMMENT ON COLUMN crm.field_map_misses.channel IS 'The channel whose field map lacks the value';
COMMENT ON COLUMN crm.field_map_misses.field IS 'The lead field of the entry, such as product_line';
COMMENT ON COLUMN crm.field_map_misses.value IS
'The raw value as messages quote it: in double quotes, cut after 200 characters with an ellipsis and its length in bytes';
COMMENT ON COLUMN crm.field_map_misses.on_miss IS
'keep: the leads were stored with the raw value; refuse: the rows were quarantined';
COMMENT ON COLUMN crm.field_map_misses.leads IS 'How many leads (keep) or quarantined rows (refuse) carried the value';
COMMENT ON COLUMN crm.field_map_misses.first_seen IS 'When the first of them was received';
COMMENT ON COLUMN crm.field_map_misses.last_seen IS 'When the last of them was received';

CREATE TABLE crm.match_review (
    id           bigserial PRIMARY KEY,
    entity       text NOT NULL CONSTRAINT match_review_entity CHECK (entity IN ('contact', 'account')),
    lead_id      bigint REFERENCES crm.lead (id),
    candidate_id bigint NOT NULL,
    other_id     bigint,
    score        real,
    evidence     jsonb NOT NULL DEFAULT '{}',
    red          boolean NOT NULL DEFAULT false,
    status       text NOT NULL DEFAULT 'open'
                 CONSTRAINT match_review_status CHECK (status IN ('open', 'accepted', 'rejected')),
    decided_by   text,
    decided_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT match_review_pair CHECK ((lead_id IS NULL) = (other_id IS NOT NULL)),
    CONSTRAINT match_review_decided CHECK ((status = 'open') = (decided_at IS NULL))
);
CREATE INDEX match_review_open_idx ON crm.match_review (created_at) WHERE status = 'open';
-- a lead's contact review, and the account review that may follow its rejection
CREATE UNIQUE INDEX match_review_lead_key ON crm.match_review (lead_id, entity) WHERE lead_id IS NOT NULL;
CREATE UNIQUE INDEX match_review_pair_key ON crm.match_review (entity, candidate_id, other_id) WHERE other_id IS NOT NULL;
COMMENT ON TABLE crm.match_review IS
'Work queue of undecided matches: a lead attached provisionally to candidate contact candidate_id (entity contact); a new person''s lead whose company fits several organisations, candidate_id the first offered (entity account, nothing attached); or two stored records (candidate_id, other_id) found by crm.scan_duplicates()';
COMMENT ON COLUMN crm.match_review.evidence IS
'Per-field comparison and Fellegi-Sunter weight that produced score';
COMMENT ON COLUMN crm.match_review.decided_by IS 'Who decided: crm.current_actor() (crm.actor, else the role)';
COMMENT ON COLUMN crm.match_review.red IS
'Phone, e-mail or credit code coincide: a strong sign of one customer';

CREATE TABLE crm.merge_history (
    id          bigserial PRIMARY KEY,
    entity      text NOT NULL CONSTRAINT merge_history_entity CHECK (entity IN ('contact', 'account')),
    kept_id     bigint NOT NULL,
    dropped_id  bigint,
    lead_id     bigint REFERENCES crm.lead (id),
    changes     jsonb NOT NULL DEFAULT '[]',
    moved       jsonb NOT NULL DEFAULT '{}',
    merged_by   text NOT NULL DEFAULT crm.current_actor(),
    merged_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    undone_at   timestamptz,
    undone_by   text,
    CONSTRAINT merge_history_source CHECK ((dropped_id IS NULL) <> (lead_id IS NULL)),
    CONSTRAINT merge_history_undone_by CHECK ((undone_at IS NULL) = (undone_by IS NULL))
);
CREATE INDEX merge_history_kept_idx ON crm.merge_history (entity, kept_id);
CREATE INDEX merge_history_lead_idx ON crm.merge_history (lead_id) WHERE lead_id IS NOT NULL;
COMMENT ON TABLE crm.merge_history IS
'What every merge changed: a lead merged into a contact (lead_id), or a record merged into another (dropped_id); crm.unmerge() undoes one from here';
COMMENT ON COLUMN crm.merge_history.changes IS
'[{"field", "old", "new"}] set on the kept record';
COMMENT ON COLUMN crm.merge_history.moved IS
'Rows moved to the kept record or added to it, by table: {"contact_point": [ids], "lead": [ids], "contact": [ids]}';
COMMENT ON COLUMN crm.merge_history.merged_by IS 'Who merged: crm.current_actor() (crm.actor, else the role)';
COMMENT ON COLUMN crm.merge_history.undone_by IS 'Who undid the merge with crm.unmerge(): crm.current_actor()';

------------------------------------------------------------------------------
-- Review, merge and unmerge
------------------------------------------------------------------------------

CREATE FUNCTION crm.merge_lead(lead_id bigint, contact_id bigint) RETURNS void
    AS 'MODULE_PATHNAME', 'crm_merge_lead'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION crm.merge_lead(bigint, bigint) IS
'Attaches a lead to a contact and merges it as ingestion would: empty fields filled, new phones and e-mails added, confirmed values untouched, history kept';

-- A lead about to be changed by a reviewer's decision, or why it cannot be.
CREATE FUNCTION crm.lock_lead(lead_id bigint) RETURNS crm.lead
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    l crm.lead;
BEGIN
    SELECT * INTO l FROM crm.lead WHERE id = lead_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'lead % does not exist', lead_id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN l;
END
$$;
COMMENT ON FUNCTION crm.lock_lead(bigint) IS
'Locks a lead for a reviewer''s change (split, placing it on an organisation), or says it does not exist';

-- A new contact for a lead that was attached to the wrong one.
CREATE FUNCTION crm.split_lead(lead_id bigint) RETURNS bigint
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    l crm.lead;
    new_id bigint;
BEGIN
    l := crm.lock_lead(lead_id);
    INSERT INTO crm.contact (account_id, name, title, wechat_openid, owner)
    VALUES (l.account_id,
            CASE WHEN crm.norm_person_name(l.person_name) IS NOT NULL THEN l.person_name END,
            l.title,
            CASE WHEN NOT EXISTS (SELECT 1 FROM crm.contact k
                                   WHERE k.wechat_openid = l.wechat_openid AND k.merged_into IS NULL)
                 THEN l.wechat_openid END,
            (SELECT a.owner FROM crm.account a WHERE a.id = l.account_id))
    RETURNING id INTO new_id;
    INSERT INTO crm.contact_point (contact_id, kind, value, is_primary)
    SELECT new_id, v.kind, v.value, true
      FROM (VALUES ('phone', l.phone), ('email', l.email)) v(kind, value)
     WHERE v.value IS NOT NULL;
    UPDATE crm.lead SET contact_id = new_id, outcome = 'new' WHERE id = lead_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION crm.split_lead(bigint) IS
'Gives a lead a new contact of its own (its phone and e-mail, its organisation) and returns it';

-- The dropped record's code resolves to the kept one's; the history says what moved.
CREATE FUNCTION crm.record_merge(entity text, keep bigint, drop bigint, changes jsonb, moved jsonb)
    RETURNS bigint
    LANGUAGE sql STRICT
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT crm.record_code_merge(entity, drop);
    INSERT INTO crm.merge_history (entity, kept_id, dropped_id, changes, moved)
    VALUES (entity, keep, drop, changes, moved)
    RETURNING id;
END;
COMMENT ON FUNCTION crm.record_merge(text, bigint, bigint, jsonb, jsonb) IS
'The end of every record merge: the dropped code resolves to the kept one, and crm.merge_history gets the row crm.unmerge() reads';

CREATE FUNCTION crm.merge_contacts(keep bigint, drop bigint) RETURNS bigint
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k crm.contact;
    d crm.contact;
    changes jsonb := '[]';
    points bigint[];
    leads bigint[];
BEGIN
    PERFORM crm.lock_for_merge('contact', keep, drop);
    SELECT * INTO k FROM crm.contact WHERE id = keep;
    SELECT * INTO d FROM crm.contact WHERE id = drop;
    -- the dropped contact leaves the live set first: its openid is unique there
    UPDATE crm.contact SET merged_into = keep WHERE id = drop;
    IF k.name IS NULL AND d.name IS NOT NULL THEN
        changes := changes || jsonb_build_object('field', 'name', 'old', NULL, 'new', d.name);
    END IF;
    IF k.title IS NULL AND d.title IS NOT NULL THEN
        changes := changes || jsonb_build_object('field', 'title', 'old', NULL, 'new', d.title);
    END IF;
    IF k.account_id IS NULL AND d.account_id IS NOT NULL THEN
        changes := changes || jsonb_build_object('field', 'account_id', 'old', NULL, 'new', d.account_id);
    END IF;
    IF k.wechat_openid IS NULL AND d.wechat_openid IS NOT NULL THEN
        changes := changes || jsonb_build_object('field', 'wechat_openid', 'old', NULL, 'new', d.wechat_openid);
    END IF;
    UPDATE crm.contact
       SET name = coalesce(name, d.name), title = coalesce(title, d.title),
           account_id = coalesce(account_id, d.account_id),
           wechat_openid = coalesce(wechat_openid, d.wechat_openid)
     WHERE id = keep;
    -- points the kept contact lacks move over, never as its primary
    WITH moved AS (
        UPDATE crm.contact_point p SET contact_id = keep, is_primary = false
         WHERE p.contact_id = drop
           AND NOT EXISTS (SELECT 1 FROM crm.contact_point q
                            WHERE q.contact_id = keep AND q.kind = p.kind AND q.value = p.value)
        RETURNING p.id)
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO points FROM moved;
    WITH moved AS (UPDATE crm.lead l SET contact_id = keep WHERE l.contact_id = drop RETURNING l.id)
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO leads FROM moved;
    RETURN crm.record_merge('contact', keep, drop, changes,
                            jsonb_build_object('contact_point', to_jsonb(points), 'lead', to_jsonb(leads)));
END
$$;
COMMENT ON FUNCTION crm.merge_contacts(bigint, bigint) IS
'Merges contact drop into contact keep: empty fields filled, phones, e-mails and leads moved, drop''s code resolving to keep''s; returns the crm.merge_history id that crm.unmerge() takes';

CREATE FUNCTION crm.merge_accounts(keep bigint, drop bigint) RETURNS bigint
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k crm.account;
    d crm.account;
    changes jsonb := '[]';
    contacts bigint[];
    leads bigint[];
BEGIN
    PERFORM crm.lock_for_merge('account', keep, drop);
    SELECT * INTO k FROM crm.account WHERE id = keep;
    SELECT * INTO d FROM crm.account WHERE id = drop;
    IF k.uscc IS NOT NULL AND d.uscc IS NOT NULL THEN
        RAISE EXCEPTION 'accounts % and % have different credit codes', keep, drop
            USING ERRCODE = 'integrity_constraint_violation',
                  DETAIL = pg_catalog.format('%s and %s are two legal entities.', k.uscc, d.uscc);
    END IF;
    -- the credit code is unique: it leaves the dropped account before it moves
    UPDATE crm.account SET merged_into = keep, uscc = NULL WHERE id = drop;
    IF k.uscc IS NULL AND d.uscc IS NOT NULL THEN
        changes := changes || jsonb_build_object('field', 'uscc', 'old', NULL, 'new', d.uscc);
    END IF;
    IF k.region_code IS NULL AND d.region_code IS NOT NULL THEN
        changes := changes || jsonb_build_object('field', 'region_code', 'old', NULL, 'new', d.region_code);
    END IF;
    IF k.owner IS NULL AND d.owner IS NOT NULL THEN
        changes := changes || jsonb_build_object('field', 'owner', 'old', NULL, 'new', d.owner);
    END IF;
    UPDATE crm.account
       SET uscc = coalesce(uscc, d.uscc), region_code = coalesce(region_code, d.region_code),
           owner = coalesce(owner, d.owner)
     WHERE id = keep;
    WITH moved AS (UPDATE crm.contact c SET account_id = keep WHERE c.account_id = drop RETURNING c.id)
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO contacts FROM moved;
    WITH moved AS (UPDATE crm.lead l SET account_id = keep WHERE l.account_id = drop RETURNING l.id)
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO leads FROM moved;
    RETURN crm.record_merge('account', keep, drop, changes,
                            jsonb_build_object('contact', to_jsonb(contacts), 'lead', to_jsonb(leads),
                                               'uscc', d.uscc));
END
$$;
COMMENT ON FUNCTION crm.merge_accounts(bigint, bigint) IS
'Merges account drop into account keep: empty fields filled (the credit code too), contacts and leads moved, drop''s code resolving to keep''s; returns the crm.merge_history id';

-- Both records exist, are live and distinct; locked in id order.
CREATE FUNCTION crm.lock_for_merge(entity text, keep bigint, drop bigint) RETURNS void
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    live bigint[];
    merged bigint[];
BEGIN
    IF keep = drop THEN
        RAISE EXCEPTION 'cannot merge % % into itself', entity, keep USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE pg_catalog.format(
        'SELECT array_agg(id ORDER BY id) FILTER (WHERE merged_into IS NULL),
                array_agg(id ORDER BY id) FILTER (WHERE merged_into IS NOT NULL)
           FROM (SELECT id, merged_into FROM crm.%I WHERE id IN ($1, $2) ORDER BY id FOR UPDATE) t',
        entity)
      INTO live, merged USING keep, drop;
    IF merged IS NOT NULL THEN
        RAISE EXCEPTION '% % was already merged', entity, merged[1]
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'crm.resolve_code() gives the record it lives on in.';
    END IF;
    IF coalesce(pg_catalog.cardinality(live), 0) < 2 THEN
        RAISE EXCEPTION '% % does not exist', entity,
                        CASE WHEN keep = ANY (coalesce(live, '{}')) THEN drop ELSE keep END
            USING ERRCODE = 'no_data_found';
    END IF;
END
$$;
COMMENT ON FUNCTION crm.lock_for_merge(text, bigint, bigint) IS
'Locks two records about to be merged, in id order, after checking both exist, are live and differ';

CREATE FUNCTION crm.unmerge(merge_id bigint) RETURNS void
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h crm.merge_history;
    c jsonb;
BEGIN
    SELECT * INTO h FROM crm.merge_history WHERE id = merge_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'merge % does not exist', merge_id USING ERRCODE = 'no_data_found';
    ELSIF h.undone_at IS NOT NULL THEN
        RAISE EXCEPTION 'merge % was already undone', merge_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('Undone at %s.', h.undone_at);
    END IF;
    -- fields the merge set go back, unless someone has changed them since
    FOR c IN SELECT * FROM jsonb_array_elements(h.changes) LOOP
        EXECUTE pg_catalog.format('UPDATE crm.%I SET %I = $1 WHERE id = $2 AND %I::text = $3',
                                  h.entity, c->>'field', c->>'field')
          USING c->>'old', h.kept_id, c->>'new';
    END LOOP;
    IF h.entity = 'contact' AND h.dropped_id IS NULL THEN
        -- a lead merged into a contact: its additions go, the lead gets its own contact
        DELETE FROM crm.contact_point p
         WHERE p.id IN (SELECT jsonb_array_elements_text(h.moved->'contact_point')::bigint)
           AND p.contact_id = h.kept_id AND NOT p.verified;
        PERFORM crm.split_lead(h.lead_id);
    ELSIF h.entity = 'contact' THEN
        UPDATE crm.contact SET merged_into = NULL WHERE id = h.dropped_id;
        UPDATE crm.contact_point SET contact_id = h.dropped_id
         WHERE id IN (SELECT jsonb_array_elements_text(h.moved->'contact_point')::bigint)
           AND contact_id = h.kept_id;
        UPDATE crm.lead SET contact_id = h.dropped_id
         WHERE id IN (SELECT jsonb_array_elements_text(h.moved->'lead')::bigint)
           AND contact_id = h.kept_id;
        PERFORM crm.record_code_merge('contact', h.dropped_id);
    ELSE
        UPDATE crm.account SET merged_into = NULL, uscc = h.moved->>'uscc' WHERE id = h.dropped_id;
        UPDATE crm.contact SET account_id = h.dropped_id
         WHERE id IN (SELECT jsonb_array_elements_text(h.moved->'contact')::bigint)
           AND account_id = h.kept_id;
        UPDATE crm.lead SET account_id = h.dropped_id
         WHERE id IN (SELECT jsonb_array_elements_text(h.moved->'lead')::bigint)
           AND account_id = h.kept_id;
        PERFORM crm.record_code_merge('account', h.dropped_id);
    END IF;
    UPDATE crm.merge_history SET undone_at = now(), undone_by = crm.current_actor() WHERE id = merge_id;
END
$$;
COMMENT ON FUNCTION crm.unmerge(bigint) IS
'Undoes a merge from crm.merge_history: moved rows go back, filled fields are emptied again unless changed since, codes resolve to themselves again; a lead merged into a contact gets a contact of its own';

-- A lead and its contact go on an organisation a reviewer chose.
CREATE FUNCTION crm.place_lead(lead_id bigint, account_id bigint) RETURNS bigint
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    l crm.lead;
    k crm.contact;
    target bigint;
BEGIN
    l := crm.lock_lead(lead_id);
    -- the organisation may have been merged since it was offered: its code
    -- resolves to the survivor's
    SELECT s.id INTO target
      FROM crm.account a JOIN crm.account s ON s.code = crm.resolve_code(a.code)
     WHERE a.id = place_lead.account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist', account_id USING ERRCODE = 'no_data_found';
    END IF;
    SELECT * INTO k FROM crm.contact WHERE id = l.contact_id FOR UPDATE;
    IF coalesce(k.account_id, target) <> target OR coalesce(l.account_id, target) <> target THEN
        RAISE EXCEPTION 'lead % already has an organisation', lead_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('The lead is on account %s and its contact %s on account %s.',
                                             coalesce(l.account_id::text, 'none'), k.id,
                                             coalesce(k.account_id::text, 'none')),
                  HINT = 'Someone placed it since the review was queued: reject the review, or merge the accounts.';
    END IF;
    UPDATE crm.contact c
       SET account_id = target,
           owner = coalesce(c.owner, (SELECT a.owner FROM crm.account a WHERE a.id = target))
     WHERE c.id = k.id AND c.account_id IS NULL;
    UPDATE crm.lead SET account_id = target, account_outcome = 'matched'
     WHERE id = lead_id AND crm.lead.account_id IS NULL;
    RETURN target;
END
$$;
COMMENT ON FUNCTION crm.place_lead(bigint, bigint) IS
'Puts a lead that has no organisation, and its contact, on an account (following merges); returns the account. A lead or contact already on another account is refused';

-- What a lead's review offers, its candidate first: contacts or accounts.
CREATE FUNCTION crm.review_candidates(r crm.match_review) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT CASE WHEN r.lead_id IS NOT NULL
                THEN r.candidate_id || ARRAY(SELECT (a->>(r.entity || '_id'))::bigint
                                               FROM jsonb_array_elements(r.evidence->'alternatives') a)
           END;
END;
COMMENT ON FUNCTION crm.review_candidates(crm.match_review) IS
'The contacts or accounts a lead''s review offers, the candidate first; NULL for a review of two stored records';

CREATE FUNCTION crm.offered_accounts(r crm.match_review) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT CASE WHEN r.entity = 'account' THEN crm.review_candidates(r) END;
END;
COMMENT ON FUNCTION crm.offered_accounts(crm.match_review) IS
'The accounts a review of a lead''s organisation offers, the candidate first; NULL for any other review';

CREATE FUNCTION crm.review_accept(review_id bigint, contact_id bigint DEFAULT NULL,
                                  account_id bigint DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r crm.match_review;
BEGIN
    IF review_id IS NULL THEN
        RAISE EXCEPTION 'review_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    r := crm.take_review(review_id);
    IF r.lead_id IS NOT NULL AND r.entity = 'account' THEN
        IF contact_id IS NOT NULL THEN
            RAISE EXCEPTION 'review % asks which organisation a lead is, not which contact', review_id
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Pass account_id, or leave it out to accept the candidate.';
        END IF;
        r := crm.choose_review_candidate(r, account_id);
        PERFORM crm.place_lead(r.lead_id, r.candidate_id);
    ELSIF account_id IS NOT NULL THEN
        RAISE EXCEPTION 'review % asks which contact, not which organisation', review_id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass contact_id: the lead takes the organisation of the contact it is merged into.';
    ELSIF r.lead_id IS NOT NULL THEN
        r := crm.choose_review_candidate(r, contact_id);
        PERFORM crm.merge_lead(r.lead_id, r.candidate_id);
    ELSIF contact_id IS NOT NULL THEN
        RAISE EXCEPTION 'review % is of two stored records', review_id
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A review of two stored records merges the pair it names.',
                  HINT = 'Leave contact_id out.';
    ELSIF r.entity = 'contact' THEN
        PERFORM crm.merge_contacts(r.candidate_id, r.other_id);
    ELSE
        PERFORM crm.merge_accounts(r.candidate_id, r.other_id);
    END IF;
    UPDATE crm.match_review SET status = 'accepted', decided_by = crm.current_actor(), decided_at = now()
     WHERE id = review_id;
END
$$;
COMMENT ON FUNCTION crm.review_accept(bigint, bigint, bigint) IS
'A reviewer''s yes. A lead''s contact review merges the lead into its candidate, or into contact_id, one of the alternatives; a lead''s account review puts the lead and its contact on the candidate organisation, or on account_id, one of the alternatives; a review of two stored records merges other_id into candidate_id';

-- The reviewer's choice among what the review offers, written into it.
CREATE FUNCTION crm.choose_review_candidate(r crm.match_review, chosen bigint)
    RETURNS crm.match_review
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    offered bigint[] := crm.review_candidates(r);
BEGIN
    IF chosen IS NULL OR chosen = r.candidate_id THEN
        RETURN r;
    END IF;
    IF NOT chosen = ANY (offered) THEN
        RAISE EXCEPTION '% % is not a candidate of review %', r.entity, chosen, r.id
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('Its candidates are %s.', pg_catalog.array_to_string(offered, ', ')),
                  HINT = pg_catalog.format('Leave %s_id out to accept the candidate the review names.', r.entity);
    END IF;
    UPDATE crm.match_review
       SET candidate_id = chosen,
           evidence = evidence || jsonb_build_object('provisional_candidate', r.candidate_id)
     WHERE id = r.id
    RETURNING * INTO r;
    RETURN r;
END
$$;
COMMENT ON FUNCTION crm.choose_review_candidate(crm.match_review, bigint) IS
'Makes a reviewer''s choice among what a lead''s review offers its candidate, keeping the first one as provisional_candidate; refuses an id it does not offer';

CREATE FUNCTION crm.review_reject(review_id bigint) RETURNS void
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r crm.match_review;
    other bigint;
BEGIN
    r := crm.take_review(review_id);
    IF r.lead_id IS NOT NULL AND r.entity = 'account' THEN
        SELECT coalesce(k.account_id, l.account_id) INTO other
          FROM crm.lead l LEFT JOIN crm.contact k ON k.id = l.contact_id WHERE l.id = r.lead_id;
        IF other IS NULL THEN
            -- none of them: the organisation is new, as if its name had found none
            INSERT INTO crm.account (name, uscc, region_code)
            SELECT l.company_name, l.uscc, l.region_code FROM crm.lead l WHERE l.id = r.lead_id
            RETURNING id INTO other;
            PERFORM crm.place_lead(r.lead_id, other);
            UPDATE crm.lead SET account_outcome = 'new' WHERE id = r.lead_id;
        ELSE
            -- someone placed the lead or its contact since: that is the answer
            PERFORM crm.place_lead(r.lead_id, other);
        END IF;
    ELSIF r.lead_id IS NOT NULL THEN
        other := crm.split_lead(r.lead_id);
        -- the two contacts may share the lead's phone or e-mail: a pair
        -- a person has already told apart
        INSERT INTO crm.match_review (entity, candidate_id, other_id, score, evidence, red,
                                      status, decided_by, decided_at)
        VALUES ('contact', least(r.candidate_id, other), greatest(r.candidate_id, other), r.score,
                r.evidence, r.red, 'rejected', crm.current_actor(), now())
        ON CONFLICT (entity, candidate_id, other_id) WHERE other_id IS NOT NULL DO NOTHING;
        -- a new person now: which of the organisations its company fits
        INSERT INTO crm.match_review (entity, lead_id, candidate_id, evidence)
        SELECT 'account', l.id, (r.evidence->'account_review'->'candidate'->>'account_id')::bigint,
               r.evidence->'account_review'
          FROM crm.lead l
         WHERE l.id = r.lead_id AND l.account_id IS NULL AND r.evidence ? 'account_review';
    END IF;
    UPDATE crm.match_review SET status = 'rejected', decided_by = crm.current_actor(), decided_at = now()
     WHERE id = review_id;
END
$$;
COMMENT ON FUNCTION crm.review_reject(bigint) IS
'A reviewer''s no. A lead''s contact review: the lead gets a contact of its own, and the pair is never proposed again; if its company name fits several organisations, an account review of them opens. A lead''s account review: none of the organisations offered is the lead''s, so a new account is made from its company name, region and credit code, and the lead and its contact go on it; if someone has placed the lead or its contact since, both go there instead and nothing is made';

CREATE FUNCTION crm.take_review(review_id bigint) RETURNS crm.match_review
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r crm.match_review;
BEGIN
    SELECT * INTO r FROM crm.match_review WHERE id = review_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'review % does not exist', review_id USING ERRCODE = 'no_data_found';
    ELSIF r.status <> 'open' THEN
        RAISE EXCEPTION 'review % was already decided: %', review_id, r.status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('Decided by %s at %s.', r.decided_by, r.decided_at);
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION crm.take_review(bigint) IS
'Locks an open review for a decision, or says why it cannot be decided';

------------------------------------------------------------------------------
-- Duplicates already stored: scan, clusters, bulk merge
------------------------------------------------------------------------------

CREATE FUNCTION crm.scan_duplicates() RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    added bigint;
BEGIN
    WITH contact_pairs AS (
        SELECT least(a.contact_id, b.contact_id) AS keep, greatest(a.contact_id, b.contact_id) AS other,
               true AS red, a.kind AS reason
          FROM crm.contact_point a
          JOIN crm.contact_point b ON b.kind = a.kind AND b.value = a.value AND b.contact_id > a.contact_id
        UNION ALL
        SELECT a.id, b.id, false, 'name'
          FROM crm.contact a
          JOIN crm.contact b ON b.name_pinyin = a.name_pinyin AND b.account_id = a.account_id AND b.id > a.id
         WHERE a.merged_into IS NULL AND b.merged_into IS NULL
    ), account_pairs AS (
        SELECT a.id AS keep, b.id AS other, false AS red, 'name' AS reason
          FROM crm.account a
          JOIN crm.account b ON b.name_key = a.name_key AND b.id > a.id
         WHERE a.merged_into IS NULL AND b.merged_into IS NULL
           AND (a.uscc IS NULL OR b.uscc IS NULL)
           AND (crm.company_region(a.name) IS NOT DISTINCT FROM crm.company_region(b.name)
                OR a.region_code = b.region_code)
    ), pairs AS (
        SELECT 'contact' AS entity, keep, other, bool_or(red) AS red, array_agg(DISTINCT reason) AS reasons
          FROM contact_pairs GROUP BY keep, other
        UNION ALL
        SELECT 'account', keep, other, bool_or(red), array_agg(DISTINCT reason)
          FROM account_pairs GROUP BY keep, other
    ), added AS (
        INSERT INTO crm.match_review (entity, candidate_id, other_id, red, evidence)
        SELECT entity, keep, other, red, jsonb_build_object('shared', reasons) FROM pairs
        ON CONFLICT (entity, candidate_id, other_id) WHERE other_id IS NOT NULL DO NOTHING
        RETURNING 1)
    SELECT count(*) INTO added FROM added;
    RETURN added;
END
$$;
COMMENT ON FUNCTION crm.scan_duplicates() IS
'Finds stored contacts that share a phone or e-mail (red) or a name at one account, and accounts with one company key in one region, and queues each new pair in crm.match_review; returns how many it queued. A rejected pair is never queued again';

CREATE VIEW crm.duplicate_clusters AS
WITH RECURSIVE edge AS (
    SELECT entity, candidate_id AS a, other_id AS b, red FROM crm.match_review
     WHERE other_id IS NOT NULL AND status = 'open'
    UNION ALL
    SELECT entity, other_id, candidate_id, red FROM crm.match_review
     WHERE other_id IS NOT NULL AND status = 'open'
), reach (entity, root, member) AS (
    SELECT DISTINCT entity, a, a FROM edge
    UNION
    SELECT r.entity, r.root, e.b FROM reach r JOIN edge e ON e.entity = r.entity AND e.a = r.member
), cluster AS (
    SELECT entity, member, min(root) AS cluster_id FROM reach GROUP BY entity, member
), flag AS (
    SELECT c.entity, c.cluster_id, bool_or(e.red) AS red
      FROM cluster c JOIN edge e ON e.entity = c.entity AND e.a = c.member
     GROUP BY c.entity, c.cluster_id
)
SELECT c.entity, c.cluster_id, c.member AS member_id,
       coalesce(k.code, a.code) AS code, coalesce(k.name, a.name) AS name, f.red
  FROM cluster c
  JOIN flag f ON f.entity = c.entity AND f.cluster_id = c.cluster_id
  LEFT JOIN crm.contact k ON c.entity = 'contact' AND k.id = c.member
  LEFT JOIN crm.account a ON c.entity = 'account' AND a.id = c.member;
COMMENT ON VIEW crm.duplicate_clusters IS
'Open duplicate pairs of crm.match_review grouped into clusters (cluster_id: the oldest member); red when phone, e-mail or credit code coincide in the cluster';
COMMENT ON COLUMN crm.duplicate_clusters.entity IS 'contact or account';
COMMENT ON COLUMN crm.duplicate_clusters.cluster_id IS 'The lowest member id of the cluster: rows with the same entity and cluster_id are one suspected customer';
COMMENT ON COLUMN crm.duplicate_clusters.member_id IS 'crm.contact.id or crm.account.id of a member';
COMMENT ON COLUMN crm.duplicate_clusters.code IS 'The member''s customer code';
COMMENT ON COLUMN crm.duplicate_clusters.name IS 'The member''s name as stored';
COMMENT ON COLUMN crm.duplicate_clusters.red IS 'true: some pair of the cluster is a sure duplicate (crm.merge_duplicates() merges red clusters); false: only probable ones';

CREATE FUNCTION crm.merge_duplicates(entity text DEFAULT 'contact', red_only boolean DEFAULT true)
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    merged bigint := 0;
BEGIN
    IF entity NOT IN ('contact', 'account') THEN
        RAISE EXCEPTION 'unknown entity %', crm.quote_value(entity)
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use ''contact'' or ''account''.';
    END IF;
    -- every open (red) pair: its younger member merged into the cluster's oldest
    FOR r IN SELECT m.id, c.cluster_id, m.candidate_id, m.other_id
               FROM crm.match_review m
               JOIN crm.duplicate_clusters c ON c.entity = m.entity AND c.member_id = m.other_id
              WHERE m.entity = merge_duplicates.entity AND m.status = 'open' AND m.other_id IS NOT NULL
                AND (m.red OR NOT red_only)
              ORDER BY c.cluster_id, m.other_id
    LOOP
        IF r.other_id <> r.cluster_id AND NOT EXISTS (
               SELECT 1 FROM crm.merge_history h
                WHERE h.entity = merge_duplicates.entity AND h.dropped_id = r.other_id AND h.undone_at IS NULL) THEN
            IF entity = 'contact' THEN
                PERFORM crm.merge_contacts(r.cluster_id, r.other_id);
            ELSE
                PERFORM crm.merge_accounts(r.cluster_id, r.other_id);
            END IF;
            merged := merged + 1;
        END IF;
        UPDATE crm.match_review SET status = 'accepted', decided_by = crm.current_actor(), decided_at = now()
         WHERE id = r.id;
    END LOOP;
    RETURN merged;
END
$$;
COMMENT ON FUNCTION crm.merge_duplicates(text, boolean) IS
'A data steward''s bulk merge: for every open duplicate pair (only red ones, by default) the younger record is merged into the oldest of its cluster; returns how many records were merged. Each merge can be undone with crm.unmerge()';

------------------------------------------------------------------------------
-- Lead lifecycle: states and their timers
------------------------------------------------------------------------------

-- Every state that waits on a machine step has a timeout: a lead left in
-- it longer raises the stranded-leads alarm (crm.run_timeouts).  States
-- that wait on a person are timed by the SLA timers instead.
CREATE TABLE crm.lead_state (
    state       text PRIMARY KEY CONSTRAINT lead_state_known CHECK (state IN
                ('new', 'scored', 'assigned', 'contacted', 'qualified', 'disqualified')),
    waits_on    text NOT NULL CONSTRAINT lead_state_waits_on CHECK (waits_on IN ('machine', 'person', 'nobody')),
    timeout     interval CONSTRAINT lead_state_timeout CHECK ((waits_on = 'machine') = (timeout IS NOT NULL)
                                                              AND timeout > interval '0'),
    description text NOT NULL
);
CREATE TRIGGER lead_state_shipped_guard BEFORE UPDATE OR DELETE ON crm.lead_state
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('lead state', 'state',
        'The lifecycle is part of crm; its timeouts only raise alarms, assignment itself is immediate.');
COMMENT ON TABLE crm.lead_state IS
'The lead lifecycle; a lead waiting on a machine step longer than its timeout is stranded and raises an alarm';
INSERT INTO crm.lead_state VALUES
    ('new', 'machine', '10 minutes', 'waits for scoring'),
    ('scored', 'machine', '10 minutes', 'waits for assignment'),
    ('assigned', 'person', NULL, 'waits for the owner''s first contact (SLA timers)'),
    ('contacted', 'person', NULL, 'the owner works it toward qualification (SLA timers)'),
    ('qualified', 'nobody', NULL, 'closed: worth an opportunity'),
    ('disqualified', 'nobody', NULL, 'closed: not a prospect');

CREATE FUNCTION crm.lead_before_update() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_lead_before_update' LANGUAGE C;
COMMENT ON FUNCTION crm.lead_before_update() IS
'Trigger: refuses a status change the lifecycle does not allow, and stamps status_changed_at and closed_at';
CREATE TRIGGER lead_lifecycle BEFORE UPDATE ON crm.lead
    FOR EACH ROW EXECUTE FUNCTION crm.lead_before_update();

------------------------------------------------------------------------------
-- Scoring: rules as data, behaviour events, and a naive Bayes model learned
-- from closed leads
------------------------------------------------------------------------------

CREATE TABLE crm.score_rule (
    id          serial PRIMARY KEY,
    factor      text NOT NULL CONSTRAINT score_rule_factor CHECK (factor IN
                ('channel', 'product_line', 'region', 'title', 'field', 'event')),
    pattern     text NOT NULL CONSTRAINT score_rule_pattern_named CHECK (pg_catalog.btrim(pattern) OPERATOR(pg_catalog.<>) ''),
    points      integer NOT NULL CONSTRAINT score_rule_points_range CHECK (points BETWEEN -100 AND 100),
    half_life   interval CONSTRAINT score_rule_half_life CHECK ((factor = 'event') = (half_life IS NOT NULL)
                                                                AND half_life > interval '0'),
    note        text,
    shipped     boolean NOT NULL DEFAULT false,
    CONSTRAINT score_rule_once UNIQUE (factor, pattern, shipped),
    CONSTRAINT score_rule_field_known CHECK (factor <> 'field' OR pattern IN
        ('person_name', 'company_name', 'phone', 'email', 'uscc', 'region_code', 'title', 'product_line', 'wechat_openid')),
    CONSTRAINT score_rule_region_code CHECK (factor <> 'region' OR pattern ~ '^[0-9]{2}([0-9]{2}){0,2}$')
);
COMMENT ON TABLE crm.score_rule IS
'Points for a lead (a rule of your own replaces a shipped one of the same factor and pattern): channel, product_line (exact), region (code prefix; the longest wins), title (substring; the best wins), field (present: the points add up), event (each behaviour event of that kind, halved every half_life). The score is the sum, clamped to 0-100';

INSERT INTO crm.score_rule (factor, pattern, points, half_life, note, shipped) SELECT *, true FROM (VALUES
    ('channel', 'hotline_400', 20, NULL, '主动来电'),
    ('channel', 'trade_show', 15, NULL, '展会面对面'),
    ('channel', 'jinshuju_form', 12, NULL, NULL),
    ('channel', 'baidu_sem', 10, NULL, NULL),
    ('channel', 'website', 10, NULL, NULL),
    ('channel', 'wechat_menu', 8, NULL, NULL),
    ('field', 'phone', 10, NULL, '能联系上'),
    ('field', 'company_name', 10, NULL, NULL),
    ('field', 'email', 5, NULL, NULL),
    ('field', 'title', 5, NULL, NULL),
    ('field', 'uscc', 5, NULL, NULL),
    ('title', '院长', 25, NULL, '决策人'),
    ('title', '总经理', 25, NULL, '决策人'),
    ('title', '董事长', 25, NULL, '决策人'),
    ('title', '总监', 20, NULL, NULL),
    ('title', '主任', 20, NULL, '科室主任'),
    ('title', '采购', 15, NULL, '采购经理、采购主管'),
    ('title', '科长', 12, NULL, NULL),
    ('title', '经理', 10, NULL, NULL),
    ('title', '工程师', 5, NULL, NULL),
    ('event', 'page_view', 2, '7 days', '设备型号页浏览'),
    ('event', 'doc_download', 8, '14 days', '资料下载'),
    ('event', 'demo_booked', 30, '30 days'::interval, '预约演示')) AS r;
CREATE TRIGGER score_rule_shipped_guard BEFORE UPDATE OR DELETE ON crm.score_rule
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('score rule for', 'pattern',
        'Add a rule of your own with the same factor and pattern: it replaces the shipped one.');
CREATE TRIGGER score_rule_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.score_rule
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();

CREATE TABLE crm.lead_event (
    id          bigserial PRIMARY KEY,
    lead_id     bigint NOT NULL REFERENCES crm.lead (id) ON DELETE CASCADE,
    kind        text NOT NULL CONSTRAINT lead_event_kind_format CHECK (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
    detail      jsonb,
    occurred_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX lead_event_lead_idx ON crm.lead_event (lead_id, occurred_at);
CREATE INDEX lead_event_occurred_at_idx ON crm.lead_event (occurred_at);
COMMENT ON TABLE crm.lead_event IS
'Behaviour of a lead: pages viewed, documents downloaded, demos booked; inserting one re-scores the lead';

-- Naive Bayes counts: how many closed leads had each feature, qualified
-- (won) or not (lost).  The row '*' counts all closed leads.
CREATE TABLE crm.win_stats (
    feature     text PRIMARY KEY,
    won         bigint NOT NULL DEFAULT 0 CONSTRAINT win_stats_won CHECK (won >= 0),
    lost        bigint NOT NULL DEFAULT 0 CONSTRAINT win_stats_lost CHECK (lost >= 0)
);
COMMENT ON TABLE crm.win_stats IS
'What the predictive score learned: qualified (won) and disqualified (lost) leads per feature, kept up to date in the same transaction as each close or reopen';

-- Each backend keeps the model (rules and counts) in memory between calls;
-- a change to either table tells them all to read it again.
CREATE FUNCTION crm.score_model_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_score_model_changed'
    LANGUAGE C;
COMMENT ON FUNCTION crm.score_model_changed() IS
'Trigger: the score rules or the win counts changed; every session reloads its scoring model (at commit, or at once in this session)';
CREATE TRIGGER score_rule_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.score_rule
    FOR EACH STATEMENT EXECUTE FUNCTION crm.score_model_changed();
CREATE TRIGGER win_stats_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.win_stats
    FOR EACH STATEMENT EXECUTE FUNCTION crm.score_model_changed();

CREATE FUNCTION crm.lead_features(crm.lead) RETURNS text[]
    AS 'MODULE_PATHNAME', 'crm_lead_features'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.lead_features(crm.lead) IS
'The features the predictive score looks at, as feature=value: channel, product line, province, title class, e-mail, company, known customer';

CREATE FUNCTION crm.lead_score(lead crm.lead, event_points real DEFAULT 0,
                               OUT score integer, OUT win_probability real, OUT factors jsonb)
    AS 'MODULE_PATHNAME', 'crm_lead_score'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.lead_score(crm.lead, real) IS
'Scores a lead as ingestion does: rule score (with event_points added), naive Bayes win probability, and the top three factors of each';

CREATE FUNCTION crm.event_points(lead_id bigint, at timestamptz DEFAULT pg_catalog.now()) RETURNS real
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
RETURN (SELECT coalesce(sum(r.points * pg_catalog.power(0.5,
                          extract(epoch FROM at - e.occurred_at) / extract(epoch FROM r.half_life))), 0)::real
          FROM crm.lead_event e JOIN crm.score_rule r ON r.factor = 'event' AND r.pattern = e.kind
         WHERE e.lead_id = event_points.lead_id AND e.occurred_at <= at);
COMMENT ON FUNCTION crm.event_points(bigint, timestamptz) IS
'Points of a lead''s behaviour events at a moment: each event''s points halved every half_life of its rule';

CREATE FUNCTION crm.rescore(lead_ids bigint[]) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rescored bigint[];
BEGIN
    WITH open AS (
        SELECT l.id, s.score, s.win_probability, s.factors
          FROM crm.lead l, LATERAL crm.lead_score(l, crm.event_points(l.id)) s
         WHERE l.id = ANY (lead_ids) AND l.status NOT IN ('qualified', 'disqualified')
         ORDER BY l.id FOR UPDATE OF l
    ), scored AS (
        UPDATE crm.lead l
           SET score = open.score, win_probability = open.win_probability, score_factors = open.factors,
               scored_at = pg_catalog.now(),
               status = CASE l.status WHEN 'new' THEN 'scored' ELSE l.status END
          FROM open
         WHERE l.id = open.id
        RETURNING l.id
    )
    SELECT array_agg(id) INTO rescored FROM scored;
    -- What depends on the score runs again: a lead not yet contacted goes
    -- where its new score routes it.  A lead that just left 'new' was
    -- assigned by the lead trigger already.
    IF rescored IS NOT NULL THEN
        PERFORM crm.assign_leads(rescored, true);
    END IF;
    RETURN coalesce(array_length(rescored, 1), 0);
END
$$;
COMMENT ON FUNCTION crm.rescore(bigint[]) IS
'Re-scores open leads now (rules, events with decay, predictive model); a lead still waiting or not yet contacted is re-routed if its new score calls for another assignment rule';

CREATE FUNCTION crm.rescore_decayed(max_leads integer DEFAULT 100000) RETURNS integer
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
RETURN crm.rescore(ARRAY(
    SELECT DISTINCT e.lead_id FROM crm.lead_event e
      JOIN crm.lead l ON l.id = e.lead_id AND l.status NOT IN ('qualified', 'disqualified')
     WHERE e.occurred_at > pg_catalog.now() - interval '90 days'
     LIMIT max_leads));
COMMENT ON FUNCTION crm.rescore_decayed(integer) IS
'Hourly job: re-scores open leads with recent events, so that event points decay';

CREATE FUNCTION crm.lead_event_inserted() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM crm.rescore(ARRAY(SELECT DISTINCT e.lead_id FROM new_events e));
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.lead_event_inserted() IS 'Trigger: a lead with new behaviour events is re-scored';
-- A restore brings the scores with the leads (crm.restoring()).
CREATE TRIGGER lead_event_rescore AFTER INSERT ON crm.lead_event
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT
    WHEN (NOT crm.restoring()) EXECUTE FUNCTION crm.lead_event_inserted();

-- Learning: closing a lead counts its features as won or lost; reopening
-- it takes them back.  In the closing transaction, so nothing is lost.
CREATE FUNCTION crm.outcome_deltas(reopened crm.lead[], closed crm.lead[],
                                   OUT feature text, OUT won bigint, OUT lost bigint)
    RETURNS SETOF record
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT u.feature, sum(CASE WHEN (d.l).status = 'qualified' THEN d.sign ELSE 0 END),
           sum(CASE WHEN (d.l).status = 'disqualified' THEN d.sign ELSE 0 END)
      FROM (SELECT r, -1 FROM unnest(reopened) r UNION ALL SELECT c, 1 FROM unnest(closed) c) d(l, sign)
     CROSS JOIN LATERAL unnest(crm.lead_features(d.l) || '*'::text) u(feature)
     GROUP BY u.feature;
END;
COMMENT ON FUNCTION crm.outcome_deltas(crm.lead[], crm.lead[]) IS
'Internal to crm.learn_outcomes(): the change in won and lost counts per feature';

-- Counts never go below zero: a lead edited between its close and a reopen
-- may take back a feature it was not counted under.
CREATE FUNCTION crm.learn_outcomes(reopened crm.lead[], closed crm.lead[]) RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH d AS (SELECT * FROM crm.outcome_deltas(reopened, closed)),
         locked AS (SELECT w.feature FROM crm.win_stats w
                     WHERE w.feature IN (SELECT d.feature FROM d) ORDER BY w.feature FOR NO KEY UPDATE)
    UPDATE crm.win_stats w SET won = greatest(w.won + d.won, 0), lost = greatest(w.lost + d.lost, 0)
      FROM d JOIN locked k ON k.feature = d.feature
     WHERE w.feature = d.feature;
    INSERT INTO crm.win_stats AS w (feature, won, lost)
    SELECT d.feature, greatest(d.won, 0), greatest(d.lost, 0)
      FROM crm.outcome_deltas(reopened, closed) d
     WHERE NOT EXISTS (SELECT FROM crm.win_stats x WHERE x.feature = d.feature)
     ORDER BY d.feature
    ON CONFLICT (feature) DO UPDATE SET won = greatest(w.won + excluded.won, 0),
                                        lost = greatest(w.lost + excluded.lost, 0);
END;
COMMENT ON FUNCTION crm.learn_outcomes(crm.lead[], crm.lead[]) IS
'Updates crm.win_stats for leads closed (qualified: won, disqualified: lost) and for closed leads reopened';

------------------------------------------------------------------------------
-- Assignment: ordered rules, team strategies, capacity and absences
------------------------------------------------------------------------------

CREATE TABLE crm.assignment_rule (
    code        text PRIMARY KEY CONSTRAINT assignment_rule_code_format CHECK (code ~ '^[a-z][a-z0-9_]{0,62}$'),
    position    integer NOT NULL CONSTRAINT assignment_rule_position_once UNIQUE DEFERRABLE INITIALLY IMMEDIATE,
    name        text NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    channels    text[],
    region_prefixes text[] CONSTRAINT assignment_rule_region_prefixes CHECK (
                pg_catalog.array_to_string(region_prefixes, ',') ~ '^([0-9]{2}([0-9]{2}){0,2})(,[0-9]{2}([0-9]{2}){0,2})*$'),
    product_lines text[],
    min_score   integer,
    max_score   integer,
    to_customer_owner boolean NOT NULL DEFAULT false,
    team        text NOT NULL REFERENCES crm.team (code) ON UPDATE CASCADE,
    strategy    text NOT NULL DEFAULT 'round_robin'
                CONSTRAINT assignment_rule_strategy CHECK (strategy IN ('round_robin', 'least_loaded')),
    idle_alarm_after interval NOT NULL DEFAULT '2 hours'
                CONSTRAINT assignment_rule_idle_positive CHECK (idle_alarm_after > interval '0'),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_fired_at timestamptz,
    CONSTRAINT assignment_rule_score_range CHECK (min_score <= max_score)
);
COMMENT ON TABLE crm.assignment_rule IS
'Assignment rules, tried in position order; the first whose conditions all hold (NULL: any) assigns the lead to a rep of its team';
COMMENT ON COLUMN crm.assignment_rule.region_prefixes IS 'Region code prefixes: 33 is Zhejiang, 3301 Hangzhou';
COMMENT ON COLUMN crm.assignment_rule.to_customer_owner IS
'The rule holds for leads whose contact or account has an owner, and gives the lead to that owner when the owner is an available rep; otherwise to the team';
COMMENT ON COLUMN crm.assignment_rule.strategy IS
'round_robin: the available rep whose turn it is; least_loaded: the available rep with the fewest open leads';
COMMENT ON COLUMN crm.assignment_rule.idle_alarm_after IS
'A rule that has not assigned for this long while leads it matches wait raises the rule_idle alarm';

ALTER TABLE crm.rep ADD COLUMN rotation bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN crm.rep.rotation IS 'Round robin: the rep with the lowest value is next; set past the team''s highest at each assignment';

CREATE FUNCTION crm.assign_leads(lead_ids bigint[], reroute boolean DEFAULT false) RETURNS integer
    AS 'MODULE_PATHNAME', 'crm_assign_leads'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION crm.assign_leads(bigint[], boolean) IS
'Assigns the given leads that wait in state scored (and with reroute, re-routes assigned leads not yet contacted whose first matching rule changed); returns how many were assigned. Teams are locked, so capacities and turns hold under concurrency';

CREATE FUNCTION crm.reassign_stranded(older_than interval DEFAULT '0', only_team text DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    unscored bigint[];
    taken_back bigint[];
    stranded bigint[];
BEGIN
    IF only_team IS NOT NULL AND NOT EXISTS (SELECT FROM crm.team t WHERE t.code = only_team) THEN
        RAISE EXCEPTION 'unknown team %', crm.quote_value(only_team)
            USING ERRCODE = 'undefined_object', HINT = 'Teams are listed in crm.team.';
    END IF;
    -- leads nobody scored: scoring them sets assignment off
    unscored := ARRAY(SELECT l.id FROM crm.lead l WHERE l.status = 'new'
                         AND l.status_changed_at <= pg_catalog.now() - older_than);
    PERFORM crm.rescore(unscored);
    -- leads held by a rep who is inactive or absent and never contacted
    -- them go back through assignment (the lead trigger assigns them)
    WITH gone AS (
        SELECT l.id FROM crm.lead l JOIN crm.rep r ON r.login = l.owner
          JOIN crm.team t ON t.code = r.team JOIN crm.calendar c ON c.code = t.calendar
         WHERE l.status = 'assigned' AND l.first_response_at IS NULL
           AND l.status_changed_at <= pg_catalog.now() - older_than
           AND (only_team IS NULL OR r.team = only_team)
           AND (NOT r.active OR NOT crm.rep_is_present(r.login, (pg_catalog.now() AT TIME ZONE c.time_zone)::date))
         ORDER BY l.id FOR UPDATE OF l
    ), moved AS (
        UPDATE crm.lead l SET status = 'scored', previous_owner = l.owner, owner = NULL
          FROM gone WHERE l.id = gone.id
        RETURNING l.id
    )
    SELECT array_agg(id) INTO taken_back FROM moved;
    stranded := ARRAY(SELECT l.id FROM crm.lead l
                       WHERE l.status = 'scored' AND l.status_changed_at <= pg_catalog.now() - older_than
                         AND (only_team IS NULL OR l.team = only_team OR l.team IS NULL));
    PERFORM crm.assign_leads(stranded, false);
    RETURN (SELECT count(*) FROM crm.lead l
             WHERE l.id = ANY (unscored || coalesce(taken_back, '{}') || stranded)
               AND l.status = 'assigned' AND l.assigned_at = pg_catalog.now());
END
$$;
COMMENT ON FUNCTION crm.reassign_stranded(interval, text) IS
'Bulk reassignment: scores leads left in state new, takes back uncontacted leads from inactive or absent reps, and runs assignment over every lead waiting in state scored; returns how many were assigned';

------------------------------------------------------------------------------
-- SLA timers, activities, notifications and alarms
------------------------------------------------------------------------------

CREATE TABLE crm.sla_timer (
    id          bigserial PRIMARY KEY,
    lead_id     bigint NOT NULL REFERENCES crm.lead (id) ON DELETE CASCADE,
    milestone   text NOT NULL,
    owner       text NOT NULL,
    team        text NOT NULL REFERENCES crm.team (code) ON UPDATE CASCADE,
    started_at  timestamptz NOT NULL,
    due_at      timestamptz NOT NULL,
    met_at      timestamptz,
    breached_at timestamptz,
    cancelled_at timestamptz,
    escalation  smallint NOT NULL DEFAULT 0 CONSTRAINT sla_timer_escalation CHECK (escalation BETWEEN 0 AND 3)
) WITH (fillfactor = 70);
-- Nothing the sweep or a met milestone writes is indexed, and fillfactor
-- leaves room on the page: those updates are HOT, one new row version and
-- no index entries.  When a timer acts next lives in crm.sla_wakeup.
CREATE INDEX sla_timer_lead_idx ON crm.sla_timer (lead_id);
COMMENT ON TABLE crm.sla_timer IS
'One per lead, milestone and owner: the deadline, when it was met or breached, and the escalations done (1 owner notified, 2 manager, 3 director)';

-- The sweep's queue: a narrow row per timer and escalation to come, indexed
-- by when.  The sweep deletes what is due and queues the next level, so
-- its cost follows what is due, not what is open.  A timer met or cancelled
-- meanwhile keeps its row until then, and the sweep drops it: meeting a
-- milestone stays one HOT update.  No foreign key, for the same reason: a
-- row whose timer is gone is dropped the same way.
CREATE TABLE crm.sla_wakeup (
    fire_at     timestamptz NOT NULL,
    timer_id    bigint NOT NULL,
    level       smallint NOT NULL CONSTRAINT sla_wakeup_level CHECK (level BETWEEN 1 AND 3)
);
CREATE INDEX sla_wakeup_fire_idx ON crm.sla_wakeup (fire_at);
COMMENT ON TABLE crm.sla_wakeup IS
'When crm.run_timeouts() acts on an SLA timer next: at fire_at, the timer (crm.sla_timer.id) reaches escalation level (1 breach, owner notified; 2 manager; 3 director), unless it was met or cancelled';

-- How an escalation level is named wherever crm writes it: the outbox
-- messages of sla_breach and sla_escalation, and crm.lead_sla.level.
CREATE FUNCTION crm.escalation_level(escalation integer) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (ARRAY['owner', 'manager', 'director'])[escalation];
COMMENT ON FUNCTION crm.escalation_level(integer) IS
'The name of an SLA escalation level: 1 owner, 2 manager, 3 director; NULL for 0 (none yet)';

-- One lead's SLA timers summed up, read through sla_timer_lead_idx.  A SQL
-- body, neither STRICT nor SET: the planner inlines it into crm.lead_sla
-- and crm.work_list, so that each is a join on the lead, not a grouping of
-- every timer.
CREATE FUNCTION crm.lead_timers(of_lead bigint)
    RETURNS TABLE (timers bigint, red boolean, breaches bigint, next_due_at timestamptz,
                   escalation smallint)
    LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT count(*),
           bool_or(t.breached_at IS NOT NULL),
           count(*) FILTER (WHERE t.breached_at IS NOT NULL),
           min(t.due_at) FILTER (WHERE t.met_at IS NULL AND t.cancelled_at IS NULL),
           max(t.escalation)
      FROM crm.sla_timer t
     WHERE t.lead_id OPERATOR(pg_catalog.=) $1;
END;
COMMENT ON FUNCTION crm.lead_timers(bigint) IS
'One lead''s SLA timers: how many, red, breaches, the next open deadline, the highest escalation; one row, timers 0 when the lead has none';

-- Not inlined (it has a FROM): a query sorted and limited calls it for the
-- rows it returns only, after the sort.
CREATE FUNCTION crm.next_milestone(of_lead bigint) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT t.milestone FROM crm.sla_timer t
     WHERE t.lead_id OPERATOR(pg_catalog.=) $1 AND t.met_at IS NULL AND t.cancelled_at IS NULL
     ORDER BY t.due_at, t.id LIMIT 1;
END;
COMMENT ON FUNCTION crm.next_milestone(bigint) IS
'The lead''s SLA milestone due next: the open timer with the earliest deadline; NULL when none is open';

-- Per lead, not grouped over crm.sla_timer: a condition on the lead (its
-- id, its owner) reaches crm.lead's indexes, and only the selected leads'
-- timers are read.  Leads without timers (never assigned) have no row, as
-- when the view grouped the timers.
CREATE VIEW crm.lead_sla AS
SELECT l.id AS lead_id, s.red, s.breaches, s.next_due_at, s.escalation,
       crm.escalation_level(s.escalation) AS level, crm.next_milestone(l.id) AS next_milestone
  FROM crm.lead l CROSS JOIN LATERAL crm.lead_timers(l.id) s
 WHERE s.timers > 0;
COMMENT ON VIEW crm.lead_sla IS
'Per lead with SLA timers: red (an SLA milestone was breached), how many breaches, the next open deadline and its milestone, and the highest escalation reached (1 owner, 2 manager, 3 director). Reads only the timers of the leads a query selects';
COMMENT ON COLUMN crm.lead_sla.lead_id IS 'The lead (crm.lead.id); only leads that ever had an SLA timer, that is were assigned, have a row';
COMMENT ON COLUMN crm.lead_sla.red IS 'An SLA milestone of the lead was breached, by this owner or an earlier one';
COMMENT ON COLUMN crm.lead_sla.breaches IS 'How many of the lead''s SLA timers were breached';
COMMENT ON COLUMN crm.lead_sla.next_due_at IS 'The earliest deadline of a milestone neither met nor cancelled; NULL when none is open';
COMMENT ON COLUMN crm.lead_sla.escalation IS 'Highest escalation reached by a timer of the lead: 0 none, 1 owner notified, 2 manager, 3 director';
COMMENT ON COLUMN crm.lead_sla.level IS
'escalation by name, as the outbox messages of topics sla_breach and sla_escalation write it in "level": owner, manager, director; NULL for 0';
COMMENT ON COLUMN crm.lead_sla.next_milestone IS 'The milestone due at next_due_at (first_contact, needs_summary, follow_up_plan); NULL when none is open';

-- A rep's screen.  One rep's page starts from lead_open_owner_idx and reads
-- each open lead's timers through sla_timer_lead_idx: its cost follows the
-- rep's open leads, and no index is added on a column the sweep or a met
-- milestone writes (those updates stay HOT).  The customer's details are
-- subqueries, which the planner evaluates after the sort and the LIMIT:
-- for the page's rows only.  due_key is never NULL, so that
-- (due_key, lead_id) is a total order a client can page by.
CREATE VIEW crm.work_list AS
SELECT l.id AS lead_id, l.owner, l.team, l.status AS state,
       coalesce((SELECT c.name FROM crm.contact c WHERE c.id = l.contact_id), l.person_name) AS customer_name,
       coalesce((SELECT a.name FROM crm.account a WHERE a.id = l.account_id), l.company_name) AS company_name,
       coalesce((SELECT p.value FROM crm.contact_point p
                  WHERE p.contact_id = l.contact_id AND p.kind = 'phone' AND p.is_primary), l.phone) AS phone,
       l.score, l.assigned_at,
       crm.next_milestone(l.id) AS next_milestone, s.next_due_at,
       coalesce(s.red, false) AS red, coalesce(s.escalation, 0) AS escalation,
       crm.escalation_level(s.escalation) AS level,
       coalesce(s.next_due_at, 'infinity') AS due_key
  FROM crm.lead l CROSS JOIN LATERAL crm.lead_timers(l.id) s
 WHERE l.status IN ('assigned', 'contacted');
COMMENT ON VIEW crm.work_list IS
'Each open lead (assigned or contacted) with its owner, customer, next SLA milestone and due time. A rep''s page: WHERE owner = $1 ORDER BY due_key, lead_id LIMIT n; the next page adds AND (due_key, lead_id) > ($last_due_key, $last_lead_id)';
COMMENT ON COLUMN crm.work_list.lead_id IS 'The lead (crm.lead.id); unique, the tie-break of the sort key';
COMMENT ON COLUMN crm.work_list.owner IS 'Login of the rep who owns the lead (crm.rep.login)';
COMMENT ON COLUMN crm.work_list.team IS 'The owner''s team the lead was assigned into (crm.team.code)';
COMMENT ON COLUMN crm.work_list.state IS 'crm.lead.status: assigned (waits for the first contact) or contacted';
COMMENT ON COLUMN crm.work_list.customer_name IS 'The contact''s name, or the name the lead gave when the contact has none';
COMMENT ON COLUMN crm.work_list.company_name IS 'The account''s name, or the company the lead gave when it has no account';
COMMENT ON COLUMN crm.work_list.phone IS 'The contact''s primary phone in E.164 form, or the lead''s normalised phone';
COMMENT ON COLUMN crm.work_list.score IS 'Rule score 0-100 (crm.lead.score)';
COMMENT ON COLUMN crm.work_list.assigned_at IS 'When the lead was assigned to its owner';
COMMENT ON COLUMN crm.work_list.next_milestone IS 'The next SLA milestone due (first_contact, needs_summary, follow_up_plan); NULL when none is open';
COMMENT ON COLUMN crm.work_list.next_due_at IS 'When next_milestone is due; NULL when no milestone is open';
COMMENT ON COLUMN crm.work_list.red IS 'An SLA milestone of the lead was breached';
COMMENT ON COLUMN crm.work_list.escalation IS 'Highest escalation reached: 0 none, 1 owner notified, 2 manager, 3 director';
COMMENT ON COLUMN crm.work_list.level IS 'escalation by name as the outbox writes it: owner, manager, director; NULL for 0';
COMMENT ON COLUMN crm.work_list.due_key IS
'Sort key with lead_id: next_due_at, or infinity when no milestone is open (those leads come last, by lead_id); never NULL';

CREATE TABLE crm.lead_activity (
    id          bigserial PRIMARY KEY,
    lead_id     bigint NOT NULL REFERENCES crm.lead (id) ON DELETE CASCADE,
    kind        text NOT NULL CONSTRAINT lead_activity_kind CHECK (kind IN
                ('first_contact', 'needs_summary', 'follow_up_plan', 'note')),
    body        text,
    next_step   text,
    next_step_at timestamptz,
    actor       text NOT NULL DEFAULT crm.current_actor(),
    at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT lead_activity_summary_written CHECK (kind <> 'needs_summary' OR pg_catalog.btrim(body) <> ''),
    CONSTRAINT lead_activity_plan_has_next_step CHECK (kind <> 'follow_up_plan'
        OR (pg_catalog.btrim(next_step) <> '' AND next_step_at IS NOT NULL)),
    -- finite and after 2000 (the lead time floor's default), whoever
    -- writes them; a next step comes after the activity that plans it
    CONSTRAINT lead_activity_at_sane CHECK (at > '2000-01-01 00:00:00+00' AND at < 'infinity'),
    CONSTRAINT lead_activity_next_step_after CHECK (next_step_at >= at AND next_step_at < 'infinity')
);
CREATE INDEX lead_activity_lead_idx ON crm.lead_activity (lead_id, at);

-- An activity is a record of what someone did: the checks on who may
-- record it and when run when it is inserted, so what it records cannot be
-- rewritten afterwards.  Its text and next step may be corrected.
CREATE FUNCTION crm.activity_is_a_record() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF (NEW.lead_id, NEW.kind, NEW.actor, NEW.at) IS DISTINCT FROM (OLD.lead_id, OLD.kind, OLD.actor, OLD.at) THEN
        RAISE EXCEPTION 'activity % is a record: its lead, kind, actor and time cannot change', OLD.id
            USING ERRCODE = 'integrity_constraint_violation',
                  HINT = 'Record a new activity (a note that corrects it, or the milestone done now).';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.activity_is_a_record() IS
'Trigger: an activity''s lead, kind, actor and time never change once recorded (who may record what, and when, is checked at insert); body, next_step and next_step_at may be corrected';
CREATE TRIGGER lead_activity_is_a_record BEFORE UPDATE ON crm.lead_activity
    FOR EACH ROW EXECUTE FUNCTION crm.activity_is_a_record();
COMMENT ON TABLE crm.lead_activity IS
'What the owner did: first contact, needs summary, follow-up plan (which must name the next step and its date), notes. Milestones meet the SLA timers; only the lead''s active owner or its team''s manager or director may record them, at a time from the assignment to now';
COMMENT ON COLUMN crm.lead_activity.actor IS
'Who did it: crm.current_actor() (crm.actor, else the role) unless given. A milestone''s actor must be a rep or a team''s manager or director';
COMMENT ON COLUMN crm.lead_activity.at IS
'When it was done: now unless given; never more than a minute ahead of the database''s clock, and for a milestone not before the lead''s assignment';

CREATE TABLE crm.outbox (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    recipient   text,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    available_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    claimed_by  text,
    claimed_until timestamptz,
    attempts    integer NOT NULL DEFAULT 0,
    delivered_at timestamptz,
    last_error  text
);
CREATE INDEX outbox_pending_idx ON crm.outbox (id) WHERE delivered_at IS NULL;
COMMENT ON TABLE crm.outbox IS
'Notifications for bot relays (WeChat Work, DingTalk): claim with crm.outbox_claim(), deliver with id as the idempotency key, then crm.outbox_ack(); see README';
COMMENT ON COLUMN crm.outbox.recipient IS 'Login of the person to notify; NULL: the operations channel';
COMMENT ON COLUMN crm.outbox.claimed_by IS 'The consumer that claimed the message last, kept after its ack or nack; it holds the lease while claimed_until is in the future';

CREATE FUNCTION crm.outbox_inserted() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_catalog.pg_notify('crm_outbox', t.topic)
       FROM (SELECT DISTINCT m.topic FROM new_messages m ORDER BY m.topic) t;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.outbox_inserted() IS 'Trigger: wakes the relays listening on channel crm_outbox, once per topic and statement';
CREATE TRIGGER outbox_notify AFTER INSERT ON crm.outbox
    REFERENCING NEW TABLE AS new_messages FOR EACH STATEMENT EXECUTE FUNCTION crm.outbox_inserted();

CREATE FUNCTION crm.outbox_claim(consumer text, max_rows integer DEFAULT 100, lease interval DEFAULT '1 minute')
    RETURNS SETOF crm.outbox
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF consumer IS NULL OR pg_catalog.btrim(consumer) = '' OR max_rows IS NULL OR max_rows < 1
       OR lease IS NULL OR lease <= interval '0' THEN
        RAISE EXCEPTION 'invalid outbox claim: consumer %, max_rows %, lease %',
                        coalesce(pg_catalog.quote_literal(consumer), 'NULL'), coalesce(max_rows::text, 'NULL'),
                        coalesce(lease::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Name the consumer, claim at least one row, and lease for a positive interval.';
    END IF;
    RETURN QUERY
    UPDATE crm.outbox o
       SET claimed_by = consumer, claimed_until = pg_catalog.clock_timestamp() + lease, attempts = o.attempts + 1
     WHERE o.id IN (SELECT p.id FROM crm.outbox p
                     WHERE p.delivered_at IS NULL AND p.available_at <= pg_catalog.clock_timestamp()
                       AND (p.claimed_until IS NULL OR p.claimed_until < pg_catalog.clock_timestamp())
                     ORDER BY p.id LIMIT max_rows FOR UPDATE SKIP LOCKED)
    RETURNING o.*;
END
$$;
COMMENT ON FUNCTION crm.outbox_claim(text, integer, interval) IS
'Leases up to max_rows undelivered messages, oldest first, to a consumer; messages leased by a live consumer are skipped, an expired lease can be taken over';

-- Settling a message: ack and nack answer true when this consumer's word
-- was taken (again, for a retry whose reply was lost), false when the
-- consumer lost its lease (another consumer has claimed the message since,
-- and may deliver it again), and raise an error for what no relay should
-- send: an unknown id, a missing consumer, a nack of a delivered message.
-- claimed_by keeps the last consumer after an ack or a nack, so that a
-- retry can be told from a lost lease; the lease is held while
-- claimed_until is in the future.
CREATE FUNCTION crm.outbox_settle_state(id bigint, consumer text, action text) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m record;
BEGIN
    IF outbox_settle_state.id IS NULL OR consumer IS NULL OR pg_catalog.btrim(consumer) = '' THEN
        RAISE EXCEPTION 'invalid outbox %: id %, consumer %', action, coalesce(outbox_settle_state.id::text, 'NULL'),
                        coalesce(pg_catalog.quote_literal(consumer), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the id of a claimed message and the consumer name the claim used.';
    END IF;
    -- FOR UPDATE: a claim racing this call has either taken the row or not
    SELECT o.claimed_by, o.claimed_until, o.delivered_at INTO m
      FROM crm.outbox o WHERE o.id = outbox_settle_state.id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'outbox message % does not exist', outbox_settle_state.id
            USING ERRCODE = 'no_data_found',
                  DETAIL = pg_catalog.format('crm.outbox_%s(%s, %L) names no message of crm.outbox.',
                                             action, outbox_settle_state.id, consumer),
                  HINT = 'Settle messages by the id crm.outbox_claim() returned; do not retry this call.';
    END IF;
    RETURN CASE WHEN m.claimed_by IS DISTINCT FROM consumer THEN 'lost'
                WHEN m.delivered_at IS NOT NULL THEN 'delivered'
                WHEN m.claimed_until IS NULL THEN 'given_back'
                ELSE 'held' END;
END
$$;
COMMENT ON FUNCTION crm.outbox_settle_state(bigint, text, text) IS
'Internal to crm.outbox_ack() and crm.outbox_nack(): checks the arguments (22023), locks the message and says where the consumer stands: lost (another consumer claimed it since), delivered (by this consumer), given_back (by this consumer), held; an unknown id raises no_data_found (P0002)';

CREATE FUNCTION crm.outbox_ack(id bigint, consumer text) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    state text := crm.outbox_settle_state(outbox_ack.id, consumer, 'ack');
BEGIN
    -- given back and delivered after all: that is news too
    IF state IN ('held', 'given_back') THEN
        UPDATE crm.outbox o SET delivered_at = pg_catalog.clock_timestamp(), claimed_until = NULL, last_error = NULL
         WHERE o.id = outbox_ack.id;
    END IF;
    RETURN state <> 'lost';
END
$$;
COMMENT ON FUNCTION crm.outbox_ack(bigint, text) IS
'Marks a message delivered. true: done (also for a repeated ack by the same consumer); false: the lease was lost, another consumer has claimed the message since and may deliver it again; an unknown id raises no_data_found (P0002), a NULL id or blank consumer invalid_parameter_value (22023)';

CREATE FUNCTION crm.outbox_nack(id bigint, consumer text, error text) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    state text := crm.outbox_settle_state(outbox_nack.id, consumer, 'nack');
BEGIN
    IF state = 'delivered' THEN
        RAISE EXCEPTION 'outbox message % was delivered already', outbox_nack.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('Consumer %L acknowledged it.', consumer),
                  HINT = 'A message that was acknowledged cannot be given back.';
    ELSIF state = 'held' THEN
        UPDATE crm.outbox o
           SET claimed_until = NULL, last_error = outbox_nack.error,
               available_at = pg_catalog.clock_timestamp()
                              + least(interval '1 hour', interval '10 seconds' * pg_catalog.power(2, least(o.attempts, 12) - 1))
         WHERE o.id = outbox_nack.id;
    END IF;
    RETURN state <> 'lost';
END
$$;
COMMENT ON FUNCTION crm.outbox_nack(bigint, text, text) IS
'Gives a message back after a failed delivery; it can be claimed again after a back-off that doubles with each attempt (10 s up to 1 h). true: given back (also for a repeated nack by the same consumer); false: the lease was lost, another consumer has claimed the message since; an unknown id raises no_data_found (P0002), a NULL id or blank consumer invalid_parameter_value (22023), a message already acknowledged object_not_in_prerequisite_state (55000)';

CREATE TABLE crm.alarm (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CONSTRAINT alarm_kind CHECK (kind IN ('stranded_leads', 'rule_idle', 'job_failing')),
    subject     text NOT NULL,
    detail      jsonb NOT NULL,
    raised_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_seen_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    cleared_at  timestamptz
);
CREATE UNIQUE INDEX alarm_open_key ON crm.alarm (kind, subject) WHERE cleared_at IS NULL;
COMMENT ON TABLE crm.alarm IS
'Rule-health alarms raised by crm.run_timeouts(): stranded_leads (leads waiting on a machine step past its timeout, per state), rule_idle (a rule that has not assigned while its leads wait) and job_failing (a crm pg_cron job that has not succeeded for two of its periods, see crm.job_health()); cleared when the condition is gone';

-- Raise (or refresh) alarms of one kind for the given subjects, and clear
-- the open ones whose condition is gone.  A new alarm is also notified.
CREATE FUNCTION crm.sync_alarms(alarm_kind text, subjects text[], details jsonb[], recipients text[])
    RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    open_count integer;
BEGIN
    -- the usual minute: nothing to raise, nothing open
    IF cardinality(subjects) = 0
       AND NOT EXISTS (SELECT FROM crm.alarm a WHERE a.kind = alarm_kind AND a.cleared_at IS NULL) THEN
        RETURN 0;
    END IF;
    UPDATE crm.alarm a SET cleared_at = pg_catalog.now()
     WHERE a.kind = alarm_kind AND a.cleared_at IS NULL AND NOT (a.subject = ANY (subjects));
    WITH s AS (
        SELECT * FROM unnest(subjects, details, recipients) s(subject, detail, recipient)
    ), raised AS (
        INSERT INTO crm.alarm AS a (kind, subject, detail)
        SELECT alarm_kind, s.subject, s.detail FROM s ORDER BY s.subject
        ON CONFLICT (kind, subject) WHERE cleared_at IS NULL
        DO UPDATE SET detail = excluded.detail, last_seen_at = pg_catalog.now()
        RETURNING a.subject, a.detail, (a.xmax = 0) AS is_new
    )
    INSERT INTO crm.outbox (topic, recipient, payload)
    SELECT 'alarm', s.recipient, jsonb_build_object('kind', alarm_kind, 'subject', r.subject) || r.detail
      FROM raised r JOIN s ON s.subject = r.subject WHERE r.is_new;
    SELECT count(*) INTO open_count FROM crm.alarm a WHERE a.kind = alarm_kind AND a.cleared_at IS NULL;
    RETURN open_count;
END
$$;
COMMENT ON FUNCTION crm.sync_alarms(text, text[], jsonb[], text[]) IS
'Internal to crm.run_timeouts(): one kind of alarm made to match the subjects found now';

------------------------------------------------------------------------------
-- Lead triggers: what each state change sets off
------------------------------------------------------------------------------

CREATE TYPE crm.lead_move AS (
    id          bigint,
    old_status  text,
    new_status  text,
    old_owner   text,
    new_owner   text
);
COMMENT ON TYPE crm.lead_move IS
'Internal to the lead triggers: one lead''s change of state or owner, as crm.leads_moved() takes it';

-- Whether a customer goes with its lead to new_owner: it has no owner; its
-- owner left (an inactive rep: an absent one keeps it, absence ends); or
-- its owner is a rep the lead was taken from (let_go) who never worked one
-- of the customer's leads (worked: a first contact recorded while owner).
-- Not STRICT, so that the planner inlines it and probes for work only
-- where it must.
CREATE FUNCTION crm.customer_follows_lead(owner text, new_owner text, let_go text[], worked boolean)
    RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
RETURN owner IS DISTINCT FROM new_owner
   AND (owner IS NULL OR (coalesce(owner = ANY (let_go), false) AND NOT worked)
        OR EXISTS (SELECT FROM crm.rep r WHERE r.login = owner AND NOT r.active));
COMMENT ON FUNCTION crm.customer_follows_lead(text, text, text[], boolean) IS
'Internal to crm.customers_follow_leads(): a contact or account takes the owner its lead is handed to when it has none, when its owner is an inactive rep, or when its owner let this lead go without having worked one of its leads';

-- The customers of leads handed to a rep get that rep as owner, where
-- crm.customer_follows_lead() says so: a repeat caller then goes back to
-- the rep who has the customer (assignment rules with to_customer_owner).
-- The lead of the statement with the lowest id decides; a lead attached to
-- its contact only provisionally (outcome review) gives it no owner.
-- Rows are locked in id order, so two statements cannot deadlock here.
CREATE FUNCTION crm.customers_follow_leads(handed crm.lead_move[]) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    WITH claim AS (
        SELECT DISTINCT ON (c.entity, c.id) c.entity, c.id, h.new_owner, ARRAY[h.old_owner, l.previous_owner] AS let_go
          FROM unnest(handed) h JOIN crm.lead l ON l.id = h.id
         CROSS JOIN LATERAL (VALUES ('contact', CASE WHEN l.outcome <> 'review' THEN l.contact_id END),
                                    ('account', l.account_id)) c(entity, id)
         WHERE c.id IS NOT NULL ORDER BY c.entity, c.id, l.id
    ), contacts AS (
        SELECT c.* FROM crm.contact k JOIN claim c ON c.entity = 'contact' AND c.id = k.id
         WHERE crm.customer_follows_lead(k.owner, c.new_owner, c.let_go, EXISTS (SELECT FROM crm.lead w
                   WHERE w.contact_id = k.id AND w.owner = k.owner AND w.first_response_at IS NOT NULL))
         ORDER BY k.id FOR NO KEY UPDATE OF k
    ), accounts AS (
        SELECT c.* FROM crm.account a JOIN claim c ON c.entity = 'account' AND c.id = a.id
         WHERE crm.customer_follows_lead(a.owner, c.new_owner, c.let_go, EXISTS (SELECT FROM crm.lead w
                   WHERE w.account_id = a.id AND w.owner = a.owner AND w.first_response_at IS NOT NULL))
         ORDER BY a.id FOR NO KEY UPDATE OF a
    ), contacts_set AS (
        UPDATE crm.contact k SET owner = t.new_owner FROM contacts t WHERE k.id = t.id
    )
    UPDATE crm.account a SET owner = t.new_owner FROM accounts t WHERE a.id = t.id;
END
$$;
COMMENT ON FUNCTION crm.customers_follow_leads(crm.lead_move[]) IS
'Internal to crm.leads_moved(): the contacts and accounts of leads handed to a rep take that rep as owner when they have none, when their owner left (inactive), or when their owner let the lead go without ever having worked one of their leads';

-- Counters, SLA timers and assignment for leads that changed state or owner.
CREATE FUNCTION crm.leads_moved(moves crm.lead_move[]) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    handed crm.lead_move[];
    to_assign bigint[];
BEGIN
    -- reps in login order: two statements moving leads of the same reps
    -- cannot deadlock
    PERFORM FROM crm.rep r
      WHERE r.login IN (SELECT m.old_owner FROM unnest(moves) m UNION SELECT m.new_owner FROM unnest(moves) m)
      ORDER BY r.login FOR NO KEY UPDATE;
    UPDATE crm.rep r SET open_leads = r.open_leads + d.n
      FROM (SELECT x.rep, sum(x.n) AS n
              FROM (SELECT m.old_owner, -1 FROM unnest(moves) m WHERE m.old_status IN ('assigned', 'contacted')
                    UNION ALL
                    SELECT m.new_owner, 1 FROM unnest(moves) m WHERE m.new_status IN ('assigned', 'contacted')) x(rep, n)
             WHERE x.rep IS NOT NULL GROUP BY x.rep HAVING sum(x.n) <> 0) d
     WHERE r.login = d.rep;

    -- a lead handed to an owner: that day's load, and the SLA clock
    handed := ARRAY(SELECT m FROM unnest(moves) m
                     WHERE m.new_status = 'assigned'
                       AND (m.old_status IS DISTINCT FROM 'assigned' OR m.old_owner IS DISTINCT FROM m.new_owner));

    UPDATE crm.sla_timer t SET cancelled_at = pg_catalog.now()
      FROM unnest(moves) m
     WHERE m.old_status IN ('assigned', 'contacted')
       AND (m.new_status NOT IN ('assigned', 'contacted') OR m.new_owner IS DISTINCT FROM m.old_owner)
       AND t.lead_id = m.id AND t.met_at IS NULL AND t.cancelled_at IS NULL;

    IF cardinality(handed) > 0 THEN
        INSERT INTO crm.rep_day_load AS d (rep, day, assigned)
        SELECT h.new_owner, (pg_catalog.now() AT TIME ZONE c.time_zone)::date, count(*)
          FROM unnest(handed) h JOIN crm.rep r ON r.login = h.new_owner
          JOIN crm.team t ON t.code = r.team JOIN crm.calendar c ON c.code = t.calendar
         GROUP BY 1, 2 ORDER BY 1
        ON CONFLICT (rep, day) DO UPDATE SET assigned = d.assigned + excluded.assigned;

        -- one deadline per team and milestone, computed once (MATERIALIZED:
        -- not once per lead): every lead of the statement starts its clock
        -- at the same moment
        WITH deadlines AS MATERIALIZED (
            SELECT t.code AS team, d.milestone, d.due_at AS due
              FROM crm.team t, crm.sla_deadlines(t.code, pg_catalog.now()) d
             WHERE t.code IN (SELECT r2.team FROM unnest(handed) h2 JOIN crm.rep r2 ON r2.login = h2.new_owner)
        ), started AS (
            INSERT INTO crm.sla_timer (lead_id, milestone, owner, team, started_at, due_at)
            SELECT h.id, dl.milestone, h.new_owner, r.team, pg_catalog.now(), dl.due
              FROM unnest(handed) h JOIN crm.rep r ON r.login = h.new_owner
              JOIN deadlines dl ON dl.team = r.team
            RETURNING id, due_at
        )
        INSERT INTO crm.sla_wakeup (fire_at, timer_id, level)
        SELECT s.due_at, s.id, 1 FROM started s;

        PERFORM crm.customers_follow_leads(handed);
    END IF;

    to_assign := ARRAY(SELECT m.id FROM unnest(moves) m WHERE m.new_status = 'scored');
    IF cardinality(to_assign) > 0 THEN
        PERFORM crm.assign_leads(to_assign, false);
    END IF;
END
$$;
COMMENT ON FUNCTION crm.leads_moved(crm.lead_move[]) IS
'Internal to the lead triggers: open-lead counts, daily loads, SLA timers of the new owner, and assignment of leads that entered state scored';

CREATE FUNCTION crm.lead_after_insert() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    moves crm.lead_move[];
BEGIN
    SELECT array_agg(ROW(n.id, NULL, n.status, NULL, n.owner)::crm.lead_move ORDER BY n.id) INTO moves
      FROM new_leads n WHERE n.status <> 'new';
    IF moves IS NOT NULL THEN
        PERFORM crm.leads_moved(moves);
        IF EXISTS (SELECT FROM new_leads n WHERE n.status IN ('qualified', 'disqualified')) THEN
            PERFORM crm.learn_outcomes('{}', ARRAY(SELECT n::crm.lead FROM new_leads n
                                                    WHERE n.status IN ('qualified', 'disqualified')));
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION crm.lead_after_update() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    moves crm.lead_move[];
BEGIN
    SELECT array_agg(ROW(n.id, o.status, n.status, o.owner, n.owner)::crm.lead_move ORDER BY n.id) INTO moves
      FROM new_leads n JOIN old_leads o ON o.id = n.id
     WHERE n.status IS DISTINCT FROM o.status OR n.owner IS DISTINCT FROM o.owner;
    IF moves IS NOT NULL THEN
        PERFORM crm.leads_moved(moves);
        IF EXISTS (SELECT FROM unnest(moves) m
                    WHERE 'qualified' IN (m.old_status, m.new_status) OR 'disqualified' IN (m.old_status, m.new_status)) THEN
            PERFORM crm.learn_outcomes(
                ARRAY(SELECT o::crm.lead FROM old_leads o JOIN new_leads n ON n.id = o.id
                       WHERE o.status IN ('qualified', 'disqualified') AND n.status <> o.status),
                ARRAY(SELECT n::crm.lead FROM new_leads n JOIN old_leads o ON o.id = n.id
                       WHERE n.status IN ('qualified', 'disqualified') AND n.status <> o.status));
        END IF;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.lead_after_insert() IS
'Trigger: leads stored already scored go to assignment; see crm.leads_moved()';
COMMENT ON FUNCTION crm.lead_after_update() IS
'Trigger: what a change of state or owner sets off (crm.leads_moved), and learning from closed leads';
-- A restore brings what these derive with the leads: counts, daily loads,
-- timers and wake-ups, assignments, learned counts (crm.restoring()).
CREATE TRIGGER lead_inserted AFTER INSERT ON crm.lead
    REFERENCING NEW TABLE AS new_leads FOR EACH STATEMENT
    WHEN (NOT crm.restoring()) EXECUTE FUNCTION crm.lead_after_insert();
CREATE TRIGGER lead_updated AFTER UPDATE ON crm.lead
    REFERENCING OLD TABLE AS old_leads NEW TABLE AS new_leads
    FOR EACH STATEMENT EXECUTE FUNCTION crm.lead_after_update();

-- Who may meet a lead's milestones, and when: the first activity of the
-- statement that may not, with why, or nothing.  The lead is locked first
-- (the caller's FOR NO KEY UPDATE): a reassignment running meanwhile either
-- waits for this statement or is seen by it.
CREATE FUNCTION crm.activity_refusal(activities crm.lead_activity[],
                                     OUT activity crm.lead_activity, OUT problem text, OUT lead crm.lead,
                                     OUT manager text, OUT director text)
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT a, p.problem, l, t.manager, t.director
      FROM unnest(activities) a
      LEFT JOIN crm.lead l ON l.id = a.lead_id
      LEFT JOIN crm.team t ON t.code = l.team
      LEFT JOIN crm.rep owner_rep ON owner_rep.login = l.owner
     CROSS JOIN LATERAL (SELECT CASE
            -- a small clock skew: an application server a little ahead of
            -- the database records a call as it ends
            WHEN a.at > pg_catalog.clock_timestamp() + interval '1 minute' THEN 'future'
            WHEN a.kind = 'note' THEN NULL
            WHEN l.status NOT IN ('assigned', 'contacted', 'qualified') THEN 'state'
            WHEN NOT EXISTS (SELECT FROM crm.rep r WHERE r.login = a.actor)
             AND NOT EXISTS (SELECT FROM crm.team x WHERE a.actor IN (x.manager, x.director)) THEN 'unknown'
            WHEN a.at < l.assigned_at THEN 'early'
            WHEN a.actor IN (t.manager, t.director) THEN NULL
            WHEN a.actor = l.owner AND owner_rep.active THEN NULL
            WHEN a.actor = l.owner THEN 'inactive'
            ELSE 'not_owner' END) p(problem)
     WHERE p.problem IS NOT NULL
     ORDER BY (a).id
     LIMIT 1;
END;
COMMENT ON FUNCTION crm.activity_refusal(crm.lead_activity[]) IS
'Internal to crm.lead_activity_inserted(): the first of the activities that may not be recorded, and why (future, state, unknown, early, inactive, not_owner)';

CREATE FUNCTION crm.lead_activity_inserted() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad record;
    deputies text;
BEGIN
    PERFORM FROM crm.lead l WHERE l.id IN (SELECT a.lead_id FROM new_activities a WHERE a.kind <> 'note')
      ORDER BY l.id FOR NO KEY UPDATE;
    -- one row, all NULL when every activity may be recorded
    SELECT * INTO bad FROM crm.activity_refusal(ARRAY(SELECT a::crm.lead_activity FROM new_activities a));
    IF bad.problem IS NOT NULL THEN
        deputies := coalesce(nullif(concat_ws(' or ', 'the team''s manager ' || bad.manager,
                                              'director ' || bad.director), ''), 'nobody else');
        CASE bad.problem
        WHEN 'future' THEN
            RAISE EXCEPTION 'activity time % on lead % is in the future', (bad.activity).at, (bad.activity).lead_id
                USING ERRCODE = 'datetime_field_overflow',
                      DETAIL = pg_catalog.format('The database''s clock says %s; a minute of clock skew is allowed.',
                                                 pg_catalog.clock_timestamp()),
                      HINT = 'Record work when it has been done; leave "at" out to record it now.';
        WHEN 'state' THEN
            RAISE EXCEPTION 'lead % is in state "%": its owner cannot have worked on it',
                            (bad.activity).lead_id, (bad.lead).status
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Record first contacts, needs summaries and follow-up plans on assigned leads.';
        WHEN 'unknown' THEN
            RAISE EXCEPTION 'unknown actor % on lead %', crm.quote_value((bad.activity).actor), (bad.activity).lead_id
                USING ERRCODE = 'undefined_object',
                      DETAIL = 'Milestones are met by reps (crm.rep) and by the managers and directors of teams (crm.team).',
                      HINT = 'Name the person acting with SET crm.actor (or the actor column); check the login''s spelling.';
        WHEN 'early' THEN
            RAISE EXCEPTION 'activity time % on lead % is before its assignment at %',
                            (bad.activity).at, (bad.activity).lead_id, (bad.lead).assigned_at
                USING ERRCODE = 'datetime_field_overflow',
                      DETAIL = pg_catalog.format('The lead was handed to %s at %s; its milestones count from then.',
                                                 (bad.lead).owner, (bad.lead).assigned_at),
                      HINT = 'Give the time the work was done.';
        WHEN 'inactive' THEN
            RAISE EXCEPTION 'rep % is inactive and cannot meet the milestones of lead %',
                            (bad.activity).actor, (bad.activity).lead_id
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = pg_catalog.format('Lead %s is owned by %s, who is inactive; %s may meet its milestones.',
                                                 (bad.activity).lead_id, (bad.lead).owner, deputies),
                      HINT = 'Reassign the lead (crm.reassign_stranded()), or have the manager record the work.';
        ELSE
            RAISE EXCEPTION '% is not the owner of lead %', (bad.activity).actor, (bad.activity).lead_id
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = pg_catalog.format('Lead %s is owned by %s (team %s); only the owner or %s may meet its milestones.',
                                                 (bad.activity).lead_id, (bad.lead).owner, (bad.lead).team, deputies),
                      HINT = 'Set crm.actor to the person who did the work; anyone may add a note (kind note).';
        END CASE;
    END IF;
    -- the owner's timers: a reassigned lead's earlier ones were cancelled
    UPDATE crm.sla_timer t SET met_at = a.at
      FROM (SELECT lead_id, kind, min(at) AS at FROM new_activities GROUP BY 1, 2) a, crm.lead l
     WHERE t.lead_id = a.lead_id AND t.milestone = a.kind AND t.met_at IS NULL AND t.cancelled_at IS NULL
       AND l.id = a.lead_id AND t.owner = l.owner;
    UPDATE crm.lead l SET status = 'contacted', first_response_at = a.at
      FROM (SELECT lead_id, min(at) AS at FROM new_activities WHERE kind = 'first_contact' GROUP BY 1) a
     WHERE l.id = a.lead_id AND l.status = 'assigned';
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.lead_activity_inserted() IS
'Trigger: a milestone activity meets its owner''s SLA timer (escalations stop) and a first contact moves the lead to state contacted; refused unless the actor is the lead''s active owner or its team''s manager or director, at a time from the assignment to now (a minute of clock skew); notes need only a time not in the future';
-- A restore brings the met timers and the leads' states (crm.restoring()).
CREATE TRIGGER lead_activity_recorded AFTER INSERT ON crm.lead_activity
    REFERENCING NEW TABLE AS new_activities FOR EACH STATEMENT
    WHEN (NOT crm.restoring()) EXECUTE FUNCTION crm.lead_activity_inserted();

------------------------------------------------------------------------------
-- The timer sweep and the jobs that run it
------------------------------------------------------------------------------

-- The sweep's parts, each its own function: a minute with nothing due
-- compiles and plans only what it runs (pg_cron runs each sweep in a fresh
-- backend).

-- 1. SLA timers that are due: breach (owner), then manager, then director.
-- A wake-up whose timer was met, cancelled or already moved on is dropped
-- without firing.  Each wake-up row is deleted once, so a timer fires once
-- even if two of these run at once.
CREATE FUNCTION crm.fire_due_timers(max_timers integer, OUT timers_fired integer, OUT to_reroute bigint[])
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    WITH due AS (
        DELETE FROM crm.sla_wakeup w
         WHERE w.ctid = ANY (ARRAY(SELECT n.ctid FROM crm.sla_wakeup n
                                    WHERE n.fire_at <= pg_catalog.now()
                                    ORDER BY n.fire_at LIMIT max_timers))
        RETURNING w.timer_id, w.level
    ), fired AS (
        UPDATE crm.sla_timer t
           SET escalation = d.level,
               breached_at = coalesce(t.breached_at, pg_catalog.now())
          FROM due d, crm.team tm
         WHERE t.id = d.timer_id AND t.escalation = d.level - 1
           AND t.met_at IS NULL AND t.cancelled_at IS NULL
           AND tm.code = t.team
        RETURNING t.id, t.lead_id, t.milestone, t.owner, t.team, t.due_at, t.escalation AS level,
                  tm.manager, tm.director, tm.sla_policy
    ), queued AS (
        INSERT INTO crm.sla_wakeup (fire_at, timer_id, level)
        SELECT f.due_at + e.after, f.id, f.level + 1
          FROM fired f JOIN crm.sla_step st ON st.policy = f.sla_policy AND st.milestone = f.milestone
         CROSS JOIN LATERAL (SELECT CASE f.level WHEN 1 THEN st.escalate_manager_after
                                                 WHEN 2 THEN st.escalate_director_after END) e(after)
         WHERE e.after IS NOT NULL
    ), notified AS (
        -- one message per recipient and level, listing the leads: a bot
        -- that posted one message per lead would be throttled, and a rep
        -- reads one list better than thirty pings
        INSERT INTO crm.outbox (topic, recipient, payload)
        SELECT CASE f.level WHEN 1 THEN 'sla_breach' ELSE 'sla_escalation' END,
               CASE f.level WHEN 1 THEN f.owner WHEN 2 THEN f.manager ELSE f.director END,
               jsonb_build_object('level', crm.escalation_level(f.level), 'team', f.team,
                                  'leads', jsonb_agg(jsonb_build_object('lead_id', f.lead_id, 'milestone', f.milestone,
                                                                        'owner', f.owner, 'due_at', f.due_at)
                                                     ORDER BY f.due_at, f.lead_id))
          FROM fired f
         GROUP BY f.level, 2, f.team
        RETURNING 1
    )
    SELECT count(*)::integer,
           array_agg(f.lead_id) FILTER (WHERE f.level = 1 AND f.milestone = 'first_contact' AND p.reassign_on_breach)
      INTO timers_fired, to_reroute
      FROM fired f JOIN crm.sla_policy p ON p.code = f.sla_policy;
END
$$;
COMMENT ON FUNCTION crm.fire_due_timers(integer) IS
'Internal to crm.run_timeouts(): fires up to max_timers due SLA timers (breach, manager, director; one outbox message per recipient and level) and returns how many fired and the leads the policy sends to another rep';

-- 3. Alarms: leads stranded past their state's timeout, and rules idle
-- while their leads wait; returns how many alarms are open.
CREATE FUNCTION crm.check_alarms() RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    subjects text[];
    details jsonb[];
    recipients text[];
    alarms_open integer;
BEGIN
    -- leads still stranded past their state's timeout ...
    SELECT coalesce(array_agg(s.state ORDER BY s.state), '{}'),
           coalesce(array_agg(jsonb_build_object('leads', w.leads, 'oldest', w.oldest,
                                                 'timeout', s.timeout, 'waits_for', s.description)
                              ORDER BY s.state), '{}'),
           coalesce(array_agg(NULL::text), '{}')
      INTO subjects, details, recipients
      FROM crm.lead_state s
     CROSS JOIN LATERAL (SELECT count(*) AS leads, min(l.status_changed_at) AS oldest FROM crm.lead l
                          -- the IN list lets the planner use the partial index
                          WHERE l.status IN ('new', 'scored') AND l.status = s.state
                            AND l.status_changed_at < pg_catalog.now() - s.timeout) w
     WHERE s.waits_on = 'machine' AND w.leads > 0;
    alarms_open := crm.sync_alarms('stranded_leads', subjects, details, recipients);

    -- ... and rules that have not fired for too long while their leads wait
    SELECT coalesce(array_agg(r.code ORDER BY r.code), '{}'),
           coalesce(array_agg(jsonb_build_object('leads', w.leads, 'team', r.team, 'last_fired_at', r.last_fired_at,
                                                 'idle_alarm_after', r.idle_alarm_after)
                              ORDER BY r.code), '{}'),
           coalesce(array_agg(t.manager ORDER BY r.code), '{}')
      INTO subjects, details, recipients
      FROM crm.assignment_rule r JOIN crm.team t ON t.code = r.team
     CROSS JOIN LATERAL (SELECT count(*) AS leads FROM crm.lead l
                          WHERE l.status = 'scored' AND l.assignment_rule = r.code) w
     WHERE r.active AND coalesce(r.last_fired_at, r.created_at) < pg_catalog.now() - r.idle_alarm_after
       AND w.leads > 0;
    alarms_open := alarms_open + crm.sync_alarms('rule_idle', subjects, details, recipients);
    RETURN alarms_open;
END
$$;
COMMENT ON FUNCTION crm.check_alarms() IS
'Internal to crm.run_timeouts(): raises, refreshes or clears the stranded_leads and rule_idle alarms, and returns how many are open';

CREATE FUNCTION crm.run_timeouts(max_timers integer DEFAULT 20000,
                                 OUT timers_fired integer, OUT leads_retried integer, OUT alarms_open integer)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    to_reroute bigint[];
    waiting bigint[];
    any_waiting boolean;
BEGIN
    IF max_timers IS NULL OR max_timers < 1 THEN
        RAISE EXCEPTION 'max_timers must be positive, not %', coalesce(max_timers::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    timers_fired := 0; leads_retried := 0; alarms_open := 0;
    -- A second sweep started meanwhile has nothing to add: it returns at once.
    IF NOT pg_catalog.pg_try_advisory_xact_lock(x'43524d'::integer, 1) THEN
        RETURN;
    END IF;

    -- 1. due SLA timers (min() reads one end of the index whatever the
    -- statistics say)
    IF (SELECT min(w.fire_at) FROM crm.sla_wakeup w) <= pg_catalog.now() THEN
        SELECT f.timers_fired, f.to_reroute INTO timers_fired, to_reroute FROM crm.fire_due_timers(max_timers) f;
    END IF;
    -- the policy may send a lead nobody answered to another rep
    IF to_reroute IS NOT NULL THEN
        UPDATE crm.lead l SET status = 'scored', previous_owner = l.owner, owner = NULL
         WHERE l.id = ANY (to_reroute) AND l.status = 'assigned';
    END IF;

    -- 2. leads waiting on a machine step: score and assign them now
    waiting := ARRAY(SELECT l.id FROM crm.lead l WHERE l.status = 'new' ORDER BY l.status_changed_at LIMIT max_timers);
    any_waiting := cardinality(waiting) > 0;
    IF any_waiting THEN
        leads_retried := leads_retried + crm.rescore(waiting);
    END IF;
    waiting := ARRAY(SELECT l.id FROM crm.lead l WHERE l.status = 'scored' ORDER BY l.status_changed_at LIMIT max_timers);
    any_waiting := any_waiting OR cardinality(waiting) > 0;
    IF cardinality(waiting) > 0 THEN
        leads_retried := leads_retried + cardinality(waiting);
        PERFORM crm.assign_leads(waiting, false);
    END IF;

    -- 3. alarms.  With no lead waiting there is none to raise, and with none
    -- open none to clear: the usual minute ends here, and a fresh backend
    -- (each pg_cron run) does not load what the alarms read.
    -- crm's own jobs first: this one cannot report itself when it never
    -- runs, but it reports the others (crm.job_health())
    alarms_open := crm.check_job_alarms();
    IF NOT any_waiting
       AND NOT EXISTS (SELECT FROM crm.alarm a WHERE a.cleared_at IS NULL AND a.kind <> 'job_failing') THEN
        RETURN;
    END IF;
    alarms_open := alarms_open + crm.check_alarms();
END
$$;
COMMENT ON FUNCTION crm.run_timeouts(integer) IS
'The timer sweep, run every minute by pg_cron: fires due SLA timers (the lead turns red in crm.lead_sla; owner, then manager and director notified, one message per recipient; optionally reassigned), scores and assigns leads waiting on those steps, and raises or clears the stranded_leads, rule_idle and job_failing alarms. A second concurrent call returns at once; each due timer fires once';

CREATE INDEX lead_waiting_rule_idx ON crm.lead (assignment_rule) WHERE status = 'scored';

-- period: how often the schedule runs the job; crm.job_health() calls a
-- job failing when it has not succeeded for two of them.
CREATE FUNCTION crm.job_definitions(OUT job_name text, OUT schedule text, OUT command text, OUT period interval)
    RETURNS SETOF record
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    VALUES ('crm_run_timeouts', '* * * * *', 'SET statement_timeout = ''50s''; SELECT crm.run_timeouts()',
            interval '1 minute'),
           ('crm_rescore_decayed', '17 * * * *',
            'SET statement_timeout = ''10min''; SELECT crm.check_job_alarms(); SELECT crm.rescore_decayed()',
            interval '1 hour');
END;
COMMENT ON FUNCTION crm.job_definitions() IS
'The pg_cron jobs crm.schedule_jobs() registers: the minute sweep, and the hourly re-score that lets event points decay (and checks the sweep''s health); period is how often each runs';

-- Whether this session can read pg_cron's job history here: pg_cron keeps
-- it in cron.database_name only.  The tables must be pg_cron's own, not
-- look-alikes someone created in a schema named cron.
CREATE FUNCTION crm.cron_history_readable() RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT count(*) = 2 AND bool_and(pg_catalog.has_table_privilege(c.oid, 'SELECT')
                                     AND pg_catalog.has_schema_privilege(c.relnamespace, 'USAGE'))
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
                                 AND d.deptype = 'e'
      JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_cron'
     WHERE c.relnamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = 'cron')
       AND c.relname IN ('job', 'job_run_details');
END;
COMMENT ON FUNCTION crm.cron_history_readable() IS
'Whether pg_cron''s cron.job and cron.job_run_details are in this database and readable by the current role; crm.job_health() reads them only then';

-- The rule-health check applied to crm itself: how each of its pg_cron
-- jobs has run lately.  The latest 1000 finished runs of each job count
-- (cron.job_run_details has no index on jobid and grows without bound).
-- pg_cron records a run that could not connect with no times at all, so
-- runs are ordered by runid, and last_failure may be NULL.
CREATE FUNCTION crm.job_health(OUT job_name text, OUT period interval, OUT scheduled boolean, OUT active boolean,
                               OUT last_success timestamptz, OUT last_failure timestamptz,
                               OUT last_failure_message text, OUT failures_since_success integer, OUT status text)
    RETURNS SETOF record
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT crm.cron_history_readable() THEN
        RETURN QUERY SELECT d.job_name, d.period, NULL::boolean, NULL::boolean, NULL::timestamptz, NULL::timestamptz,
                            NULL::text, NULL::integer, 'unknown'::text
                       FROM crm.job_definitions() d ORDER BY d.job_name;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT d.job_name, d.period, j.jobid IS NOT NULL, j.active, r.last_success, r.last_failure,
           r.last_failure_message, coalesce(r.failures, 0)::integer,
           CASE WHEN j.jobid IS NULL THEN 'not_scheduled'
                WHEN r.last_status IS NULL THEN 'never_run'
                WHEN r.last_status = 'succeeded' THEN 'ok'
                WHEN r.failures >= 2 AND coalesce(r.last_success < pg_catalog.now() - 2 * d.period, true) THEN 'failing'
                ELSE 'last_run_failed' END
      FROM crm.job_definitions() d
      LEFT JOIN cron.job j ON j.jobname = d.job_name AND j.database = pg_catalog.current_database()
      LEFT JOIN LATERAL (
          SELECT (array_agg(x.at ORDER BY x.runid DESC) FILTER (WHERE x.status = 'succeeded'))[1] AS last_success,
                 (array_agg(x.at ORDER BY x.runid DESC) FILTER (WHERE x.status = 'failed'))[1] AS last_failure,
                 (array_agg(x.return_message ORDER BY x.runid DESC) FILTER (WHERE x.status = 'failed'))[1]
                     AS last_failure_message,
                 count(*) FILTER (WHERE x.status = 'failed' AND x.runid > coalesce(x.last_success_run, 0)) AS failures,
                 (array_agg(x.status ORDER BY x.runid DESC))[1] AS last_status
            FROM (SELECT rd.runid, rd.status, rd.return_message, coalesce(rd.end_time, rd.start_time) AS at,
                         max(rd.runid) FILTER (WHERE rd.status = 'succeeded') OVER () AS last_success_run
                    FROM (SELECT run.* FROM cron.job_run_details run
                           WHERE run.jobid = j.jobid AND run.status IN ('succeeded', 'failed')
                           ORDER BY run.runid DESC LIMIT 1000) rd) x) r ON true
     ORDER BY d.job_name;
END
$$;
COMMENT ON FUNCTION crm.job_health() IS
'How each of crm''s pg_cron jobs ran lately, for monitoring: status ok (the latest run succeeded), last_run_failed, failing (the latest two or more runs failed and none succeeded for two periods: the job_failing alarm), never_run, not_scheduled, or unknown (pg_cron''s tables are not in this database or not readable by this role). Counts the latest 1000 finished runs of each job';

-- The job_failing alarm: raised by each of crm's jobs for the others (a
-- job that never runs cannot report itself); does nothing where pg_cron's
-- history cannot be read.  Returns how many are open.
CREATE FUNCTION crm.check_job_alarms() RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT crm.cron_history_readable() THEN
        RETURN (SELECT count(*) FROM crm.alarm a WHERE a.kind = 'job_failing' AND a.cleared_at IS NULL);
    END IF;
    -- to the operations channel: recipients NULL
    RETURN (SELECT crm.sync_alarms('job_failing', coalesce(array_agg(h.job_name ORDER BY h.job_name), '{}'),
                                   coalesce(array_agg(jsonb_build_object(
                                                'last_success', h.last_success, 'last_failure', h.last_failure,
                                                'last_failure_message', h.last_failure_message,
                                                'failures', h.failures_since_success, 'period', h.period)
                                            ORDER BY h.job_name), '{}'),
                                   coalesce(array_agg(NULL::text), '{}'))
              FROM crm.job_health() h WHERE h.status = 'failing');
END
$$;
COMMENT ON FUNCTION crm.check_job_alarms() IS
'Raises, refreshes or clears the job_failing alarms from crm.job_health() (each crm job runs it, so each reports the others); does nothing where pg_cron''s history is not readable; returns how many are open';

CREATE FUNCTION crm.schedule_jobs() RETURNS integer
    AS 'MODULE_PATHNAME', 'crm_schedule_jobs'
    LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION crm.schedule_jobs() IS
'Registers the pg_cron jobs crm.job_definitions() lists, to run in this database as the calling user (names start with crm_; outside cron.database_name they end in @<database>), and removes this database''s crm_ jobs it no longer lists or that belong to another role; returns how many jobs were created, changed or removed, so a second call returns 0. Needs pg_cron preloaded and installed in cron.database_name, and a superuser or a role granted USAGE on schema cron and EXECUTE on cron.schedule_in_database()';
CREATE FUNCTION crm.cron_setup_problems(use_background_workers boolean DEFAULT NULL, host text DEFAULT NULL,
                                        OUT setting text, OUT problem text, OUT hint text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'crm_cron_setup_problems'
    LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION crm.cron_setup_problems(boolean, text) IS
'Why pg_cron''s settings cannot run crm''s jobs as the current role in this database, one row per reason (setting: the one to change; hint: how); no rows when they can or nobody can tell without connecting. use_background_workers and host: what to assume instead of cron.use_background_workers and cron.host. The pg_hba.conf rules are read only by roles allowed to (superusers). crm.schedule_jobs() warns with these';
CREATE FUNCTION crm.unschedule_jobs() RETURNS integer
    AS 'MODULE_PATHNAME', 'crm_unschedule_jobs'
    LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION crm.unschedule_jobs() IS
'Removes this database''s crm_ pg_cron jobs (a non-superuser only sees and removes its own); returns how many';

------------------------------------------------------------------------------
-- Reports: lead timeliness and the penetration rates
------------------------------------------------------------------------------

-- Response time counts working time on the team calendar: a lead that
-- arrived on Friday night and was called at 09:05 on Monday took 5 minutes.
-- A lead not contacted yet counts as slow as it is so far.  Weeks are
-- those of the business time zone, whatever the session's TimeZone.
CREATE VIEW crm.lead_timeliness AS
WITH handled AS (
    SELECT date_trunc('week', l.assigned_at AT TIME ZONE crm.business_time_zone())::date AS week_start, l.owner AS rep, l.id,
           make_interval(secs => crm.working_seconds_at(t.calendar, coalesce(l.first_response_at, pg_catalog.now()))
                                 - crm.working_seconds_at(t.calendar, l.assigned_at)) AS response
      FROM crm.lead l JOIN crm.team t ON t.code = l.team
     WHERE l.assigned_at IS NOT NULL AND l.owner IS NOT NULL
), per_rep AS (
    SELECT h.week_start, h.rep, count(*) AS leads,
           count(*) FILTER (WHERE l.first_response_at IS NOT NULL) AS contacted,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY h.response) AS median_response,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY h.response) AS p90_response
      FROM handled h JOIN crm.lead l ON l.id = h.id
     GROUP BY h.week_start, h.rep
)
SELECT p.week_start, p.rep, p.leads, p.contacted, p.median_response, p.p90_response,
       coalesce(b.breaches, 0) AS breaches,
       rank() OVER (PARTITION BY p.week_start ORDER BY p.p90_response DESC, p.median_response DESC) AS slowness_rank
  FROM per_rep p
  -- a breach counts against whoever owned the lead then, in the week of its deadline
  LEFT JOIN (SELECT s.owner AS rep, date_trunc('week', s.due_at AT TIME ZONE crm.business_time_zone())::date AS week_start,
                    count(*) AS breaches
               FROM crm.sla_timer s WHERE s.breached_at IS NOT NULL GROUP BY 1, 2) b
    ON b.rep = p.rep AND b.week_start = p.week_start;
COMMENT ON VIEW crm.lead_timeliness IS
'Per rep and week of assignment (Monday, in the business time zone): leads, contacted, median and p90 working-time response, SLA breaches (against the owner at the time), and rank by slowness (slowness_rank <= 3: the three slowest reps of the week)';
COMMENT ON COLUMN crm.lead_timeliness.week_start IS 'Monday of the week the leads were assigned in, in the business time zone (crm.business_time_zone())';
COMMENT ON COLUMN crm.lead_timeliness.rep IS 'Login of the owner (crm.rep.login)';
COMMENT ON COLUMN crm.lead_timeliness.leads IS 'Leads assigned to the rep that week';
COMMENT ON COLUMN crm.lead_timeliness.contacted IS 'Of those, the leads with a first contact so far';
COMMENT ON COLUMN crm.lead_timeliness.median_response IS 'Median time from assignment to first contact, in working time of the team calendar; a lead not contacted counts as slow as it is so far';
COMMENT ON COLUMN crm.lead_timeliness.p90_response IS '90th percentile of the same response times';
COMMENT ON COLUMN crm.lead_timeliness.breaches IS 'SLA timers of the rep breached with a deadline in that week';
COMMENT ON COLUMN crm.lead_timeliness.slowness_rank IS '1 is the slowest rep of the week by p90, then median response; ties share a rank';

CREATE VIEW crm.penetration_rates AS
WITH grains(grain) AS (VALUES ('day'), ('week'), ('month')),
first_lead AS (SELECT min(l.created_at) AS at FROM crm.lead l),
-- From the first lead, but never before the floor crm.lead's CHECK holds
-- to: a row from before it (restored from an old dump, written with the
-- constraint dropped) cannot make the series run without end.  Periods
-- are days, weeks and months of the business time zone: p is its local
-- time, starts and ends the instants that bound the period.
periods AS (
    SELECT g.grain, p::date AS period_start,
           p AT TIME ZONE crm.business_time_zone() AS starts,
           (p + ('1 ' || g.grain)::interval) AT TIME ZONE crm.business_time_zone() AS ends
      FROM grains g, first_lead f,
           LATERAL generate_series(date_trunc(g.grain, greatest(f.at, '1970-01-01 00:00:00+00') AT TIME ZONE crm.business_time_zone()),
                                   date_trunc(g.grain, pg_catalog.now() AT TIME ZONE crm.business_time_zone()),
                                   ('1 ' || g.grain)::interval) p
     WHERE f.at IS NOT NULL
),
assigned AS (
    -- A lead counts once its 24 hours are over, or earlier if assigned.
    SELECT p.grain, p.period_start,
           count(*) FILTER (WHERE l.assigned_at <= l.created_at + interval '24 hours') AS numerator,
           count(l.id) AS denominator
      FROM periods p LEFT JOIN crm.lead l
        ON l.created_at >= p.starts AND l.created_at < p.ends
       AND (l.assigned_at IS NOT NULL OR l.created_at <= pg_catalog.now() - interval '24 hours')
     GROUP BY p.grain, p.period_start
),
measured AS (
    SELECT a.period_start, a.grain, 'lead_assigned_24h'::text AS metric, a.numerator, a.denominator, 0.95 AS target
      FROM assigned a
    UNION ALL
    -- Stage changes and cross-system alerts arrive with their own issues;
    -- until then their periods are there, with nothing measured.
    SELECT p.period_start, p.grain, m.metric, 0, 0, m.target
      FROM periods p, (VALUES ('stage_upgrade_verified', 0.80), ('alert_closed_72h', 0.90)) m(metric, target)
)
SELECT m.period_start, m.grain, m.metric, m.numerator::bigint, m.denominator::bigint,
       round(m.numerator::numeric / nullif(m.denominator, 0), 4) AS rate,
       m.target::numeric AS target,
       CASE WHEN m.denominator > 0 THEN m.numerator::numeric / m.denominator >= m.target END AS meets_target
  FROM measured m;
COMMENT ON VIEW crm.penetration_rates IS
'BI: per day, week and month (of the business time zone, crm.business_time_zone()) since the first lead, the three penetration rates with their targets; a metric with nothing to measure has rate and meets_target NULL';
COMMENT ON COLUMN crm.penetration_rates.period_start IS 'First day of the period in the business time zone (crm.business_time_zone()): a Monday for weeks, the 1st for months';
COMMENT ON COLUMN crm.penetration_rates.grain IS 'day, week or month';
COMMENT ON COLUMN crm.penetration_rates.metric IS 'lead_assigned_24h, stage_upgrade_verified or alert_closed_72h';
COMMENT ON COLUMN crm.penetration_rates.numerator IS 'Cases that met the metric in the period';
COMMENT ON COLUMN crm.penetration_rates.denominator IS 'Cases measured in the period; 0: nothing to measure';
COMMENT ON COLUMN crm.penetration_rates.rate IS 'numerator / denominator as a fraction from 0 to 1 (0.95 is 95 %), rounded to 4 places; NULL when the denominator is 0';
COMMENT ON COLUMN crm.penetration_rates.target IS 'The metric''s target, a fraction from 0 to 1';
COMMENT ON COLUMN crm.penetration_rates.meets_target IS 'rate >= target; NULL when the denominator is 0';

------------------------------------------------------------------------------
-- Diagnostics: the statements crm keeps planned for the session
------------------------------------------------------------------------------

CREATE FUNCTION crm.kept_plans(OUT plan text, OUT statement text, OUT relation regclass,
                               OUT access text, OUT index_condition text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'crm_kept_plans_sql'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION crm.kept_plans() IS
'Every statement crm keeps planned in a session, with each table read by its plan (as crm plans it, whatever the tables hold): the access path and the index columns it is conditioned on; index_condition NULL means the whole table or index is read at each call';

------------------------------------------------------------------------------
-- Backups: pg_dump keeps the data of these extension tables
------------------------------------------------------------------------------

SELECT pg_catalog.pg_extension_config_dump('crm.channel', 'WHERE NOT shipped');
SELECT pg_catalog.pg_extension_config_dump('crm.settings', '');
SELECT pg_catalog.pg_extension_config_dump('crm.customer_code', '');
SELECT pg_catalog.pg_extension_config_dump('crm.customer_code_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.account', '');
SELECT pg_catalog.pg_extension_config_dump('crm.account_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.contact', '');
SELECT pg_catalog.pg_extension_config_dump('crm.contact_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.contact_point', '');
SELECT pg_catalog.pg_extension_config_dump('crm.contact_point_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.lead', '');
SELECT pg_catalog.pg_extension_config_dump('crm.lead_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.lead_quarantine', '');
SELECT pg_catalog.pg_extension_config_dump('crm.lead_quarantine_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.lead_quarantine_batch_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.lead_quarantine_release', '');
SELECT pg_catalog.pg_extension_config_dump('crm.match_review', '');
SELECT pg_catalog.pg_extension_config_dump('crm.match_review_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.merge_history', '');
SELECT pg_catalog.pg_extension_config_dump('crm.merge_history_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.calendar', 'WHERE NOT shipped');
SELECT pg_catalog.pg_extension_config_dump('crm.calendar_hours', 'WHERE NOT shipped');
SELECT pg_catalog.pg_extension_config_dump('crm.calendar_day', '');
SELECT pg_catalog.pg_extension_config_dump('crm.sla_policy', 'WHERE NOT shipped');
SELECT pg_catalog.pg_extension_config_dump('crm.sla_step', 'WHERE NOT shipped');
SELECT pg_catalog.pg_extension_config_dump('crm.team', '');
SELECT pg_catalog.pg_extension_config_dump('crm.rep', '');
SELECT pg_catalog.pg_extension_config_dump('crm.rep_absence', '');
SELECT pg_catalog.pg_extension_config_dump('crm.rep_absence_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.rep_day_load', '');
SELECT pg_catalog.pg_extension_config_dump('crm.score_rule', 'WHERE NOT shipped');
SELECT pg_catalog.pg_extension_config_dump('crm.score_rule_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.lead_event', '');
SELECT pg_catalog.pg_extension_config_dump('crm.lead_event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.win_stats', '');
SELECT pg_catalog.pg_extension_config_dump('crm.assignment_rule', '');
SELECT pg_catalog.pg_extension_config_dump('crm.sla_timer', '');
SELECT pg_catalog.pg_extension_config_dump('crm.sla_timer_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.sla_wakeup', '');
SELECT pg_catalog.pg_extension_config_dump('crm.lead_activity', '');
SELECT pg_catalog.pg_extension_config_dump('crm.lead_activity_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('crm.outbox_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.alarm', '');
SELECT pg_catalog.pg_extension_config_dump('crm.alarm_id_seq', '');
