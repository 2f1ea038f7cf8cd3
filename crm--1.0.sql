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
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN $1 OPERATOR(pg_catalog.~)
        '^(1[1-5]|2[1-3]|3[1-7]|4[1-6]|5[0-4]|6[1-5]|71|8[12])[0-9]{4}$';
COMMENT ON FUNCTION crm.region_code_is_valid(text) IS
'True for a 6-digit administrative division code (GB/T 2260) of a real province-level division';

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
    merged_into text,           -- checked by crm.guard_code_registry(), see below
    merged_at   timestamptz,
    CONSTRAINT customer_code_not_self_merged CHECK (merged_into OPERATOR(pg_catalog.<>) code),
    CONSTRAINT customer_code_merge_dated CHECK ((merged_into IS NULL) = (merged_at IS NULL))
);
COMMENT ON TABLE crm.customer_code IS
'Every customer code ever issued, with the code it was merged into; rows are never deleted, so a code is never reused';

-- A self-referencing foreign key would make every pg_dump warn about a
-- circular constraint, so the registry guards itself with a trigger.
CREATE FUNCTION crm.guard_code_registry() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'customer code "%" cannot be deleted', OLD.code
            USING ERRCODE = 'integrity_constraint_violation',
                  DETAIL = 'The registry keeps every code ever issued, so that none is reused.';
    END IF;
    IF NEW.merged_into IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM crm.customer_code c WHERE c.code = NEW.merged_into) THEN
        RAISE EXCEPTION 'customer code "%" cannot be merged into "%", which was never issued',
                        NEW.code, NEW.merged_into
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.guard_code_registry() IS
'Trigger: registry rows are never deleted, and a merge points at an issued code';

CREATE TRIGGER customer_code_guard BEFORE INSERT OR UPDATE OF merged_into OR DELETE
    ON crm.customer_code
    FOR EACH ROW EXECUTE FUNCTION crm.guard_code_registry();

CREATE FUNCTION crm.issue_customer_code(kind text) RETURNS text
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO crm.customer_code (code, kind)
    VALUES (crm.customer_code_from_serial(pg_catalog.nextval('crm.customer_code_seq'::pg_catalog.regclass)), kind)
    RETURNING code;
END;
COMMENT ON FUNCTION crm.issue_customer_code(text) IS
'Issues and registers a new customer code for an ''account'' or a ''contact''; the default of their code columns';

CREATE FUNCTION crm.resolve_code(text) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    WITH RECURSIVE chain(code, merged_into, depth) AS (
        SELECT c.code, c.merged_into, 0
          FROM crm.customer_code c
         WHERE c.code OPERATOR(pg_catalog.=) pg_catalog.upper(pg_catalog.btrim($1))
        UNION ALL
        SELECT c.code, c.merged_into, chain.depth OPERATOR(pg_catalog.+) 1
          FROM chain JOIN crm.customer_code c ON c.code OPERATOR(pg_catalog.=) chain.merged_into
         WHERE chain.depth OPERATOR(pg_catalog.<) 64
    )
    SELECT chain.code FROM chain WHERE chain.merged_into IS NULL;
END;
COMMENT ON FUNCTION crm.resolve_code(text) IS
'The surviving customer code for a code, following merges; the code itself when it was never merged, NULL when it was never issued';

CREATE FUNCTION crm.guard_customer_code() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.code IS DISTINCT FROM OLD.code THEN
            RAISE EXCEPTION 'customer code "%" cannot be changed', OLD.code
                USING ERRCODE = 'integrity_constraint_violation',
                      DETAIL = 'Service and ERP records refer to customers by code.',
                      HINT = 'Merge the records instead; crm.resolve_code() follows merges.';
        END IF;
        RETURN NEW;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM crm.customer_code c
                    WHERE c.code = NEW.code AND c.kind = TG_ARGV[0]) THEN
        RAISE EXCEPTION 'customer code "%" was not issued for %.%', NEW.code, TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'Codes come from crm.issue_customer_code() and are never reused.',
                  HINT = 'Leave the code column out and one is issued.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.guard_customer_code() IS
'Trigger: a new row''s code must have been issued for its kind, and a code never changes';

------------------------------------------------------------------------------
-- Customers: accounts, contacts and contact points
------------------------------------------------------------------------------

CREATE TABLE crm.account (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE DEFAULT crm.issue_customer_code('account')
                REFERENCES crm.customer_code (code),
    name        text NOT NULL
                CONSTRAINT account_name_usable CHECK (crm.norm_company_name(name) IS NOT NULL),
    name_key    text GENERATED ALWAYS AS (crm.norm_company_name(name)) STORED,
    uscc        text
                CONSTRAINT account_uscc_canonical CHECK (uscc OPERATOR(pg_catalog.=) crm.norm_uscc(uscc)),
    region_code text
                CONSTRAINT account_region_code_valid CHECK (crm.region_code_is_valid(region_code)),
    owner       text CONSTRAINT account_owner_named CHECK (pg_catalog.btrim(owner) OPERATOR(pg_catalog.<>) ''),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE UNIQUE INDEX account_uscc_key ON crm.account (uscc) WHERE uscc IS NOT NULL;
CREATE INDEX account_name_key_idx ON crm.account (name_key);
COMMENT ON TABLE crm.account IS 'Organisations: companies, hospitals, schools';
COMMENT ON COLUMN crm.account.code IS 'Unified customer code shared with service and ERP records';
COMMENT ON COLUMN crm.account.name_key IS 'crm.norm_company_name(name), the matching key';
COMMENT ON COLUMN crm.account.uscc IS 'Unified social credit code, stored canonical; unique';
COMMENT ON COLUMN crm.account.region_code IS 'GB/T 2260 administrative division code';

CREATE TABLE crm.contact (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE DEFAULT crm.issue_customer_code('contact')
                REFERENCES crm.customer_code (code),
    account_id  bigint REFERENCES crm.account (id),
    name        text NOT NULL
                CONSTRAINT contact_name_usable CHECK (crm.norm_person_name(name) IS NOT NULL),
    name_key    text GENERATED ALWAYS AS (crm.norm_person_name(name)) STORED,
    name_pinyin text GENERATED ALWAYS AS (crm.pinyin(crm.norm_person_name(name))) STORED,
    title       text,
    owner       text CONSTRAINT contact_owner_named CHECK (pg_catalog.btrim(owner) OPERATOR(pg_catalog.<>) ''),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX contact_account_idx ON crm.contact (account_id);
CREATE INDEX contact_pinyin_account_idx ON crm.contact (name_pinyin, account_id);
COMMENT ON TABLE crm.contact IS 'People, each optionally at an account';
COMMENT ON COLUMN crm.contact.code IS 'Unified customer code shared with service and ERP records';
COMMENT ON COLUMN crm.contact.name_key IS 'crm.norm_person_name(name), the matching key';
COMMENT ON COLUMN crm.contact.name_pinyin IS 'crm.pinyin() of the name key: finds homophones and traditional spellings';

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
-- Lead channels: per-channel field maps
------------------------------------------------------------------------------

CREATE FUNCTION crm.map_payload(field_map jsonb, payload jsonb) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'crm_map_payload'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.map_payload(jsonb, jsonb) IS
'The lead fields a field map finds in a payload, as a JSON object; errors name the field and why (missing value, wrong type, bad time). STABLE: times without a zone are read in the session time zone';

CREATE FUNCTION crm.check_field_map(jsonb) RETURNS boolean
    AS 'MODULE_PATHNAME', 'crm_check_field_map'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.check_field_map(jsonb) IS
'True for a usable field map; otherwise an error that names the entry and what is wrong with it';

CREATE TABLE crm.channel (
    code         text PRIMARY KEY
                 CONSTRAINT channel_code_format CHECK (code OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]{0,62}$'),
    source_label text NOT NULL
                 CONSTRAINT channel_source_label_named CHECK (pg_catalog.btrim(source_label) OPERATOR(pg_catalog.<>) ''),
    field_map    jsonb NOT NULL CONSTRAINT channel_field_map_valid CHECK (crm.check_field_map(field_map)),
    description  text,
    shipped      boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE crm.channel IS
'Where leads come from: the standard source label written on every lead, and the field map from payload to lead fields';
COMMENT ON COLUMN crm.channel.field_map IS
'Lead field -> payload key, SQL/JSON path starting with $, or {"path", "default", "values": {"raw": "standard"}}; a value the payload lacks is an error unless a default (null: optional) is given';
COMMENT ON COLUMN crm.channel.shipped IS
'Defined by the extension: read-only (copy it under a new code to change it), and recreated by CREATE EXTENSION rather than by pg_dump';

CREATE FUNCTION crm.guard_shipped_channel() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.shipped THEN
        RAISE EXCEPTION 'channel "%" is shipped with crm and cannot be changed', OLD.code
            USING ERRCODE = 'object_in_use',
                  HINT = pg_catalog.format(
                      'Copy it: INSERT INTO crm.channel (code, source_label, field_map) SELECT ''my_%s'', source_label, field_map FROM crm.channel WHERE code = %L;',
                      OLD.code, OLD.code);
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION crm.guard_shipped_channel() IS
'Trigger: the channels shipped with crm are read-only';
CREATE TRIGGER channel_shipped_guard BEFORE UPDATE OR DELETE ON crm.channel
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_channel();

CREATE FUNCTION crm.lead_fields(channel text, payload jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ch crm.channel;
BEGIN
    SELECT * INTO ch FROM crm.channel c WHERE c.code = channel;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown lead channel "%"', channel
            USING ERRCODE = 'undefined_object',
                  HINT = 'Channels are listed in crm.channel: ' ||
                         (SELECT string_agg(c.code, ', ' ORDER BY c.code) FROM crm.channel c) || '.';
    END IF;
    RETURN crm.map_payload(ch.field_map, payload)
        || jsonb_build_object('channel', ch.code, 'source_label', ch.source_label);
END
$$;
COMMENT ON FUNCTION crm.lead_fields(text, jsonb) IS
'The lead fields of a payload from a channel, with the channel code and its standard source label';

-- The channels leads arrive through today.  Optional fields default to null.
INSERT INTO crm.channel (code, source_label, description, shipped, field_map) VALUES
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
$j$);

------------------------------------------------------------------------------
-- Backups: pg_dump keeps the data of these extension tables
------------------------------------------------------------------------------

SELECT pg_catalog.pg_extension_config_dump('crm.channel', 'WHERE NOT shipped');
SELECT pg_catalog.pg_extension_config_dump('crm.customer_code', '');
SELECT pg_catalog.pg_extension_config_dump('crm.customer_code_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.account', '');
SELECT pg_catalog.pg_extension_config_dump('crm.account_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.contact', '');
SELECT pg_catalog.pg_extension_config_dump('crm.contact_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.contact_point', '');
SELECT pg_catalog.pg_extension_config_dump('crm.contact_point_id_seq', '');
