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

CREATE TRIGGER customer_code_no_delete BEFORE DELETE ON crm.customer_code
    FOR EACH ROW EXECUTE FUNCTION crm.guard_code_registry();
-- a code being issued has no merge to check: no PL/pgSQL call for it
CREATE TRIGGER customer_code_merge_target BEFORE INSERT OR UPDATE OF merged_into ON crm.customer_code
    FOR EACH ROW WHEN (NEW.merged_into IS NOT NULL) EXECUTE FUNCTION crm.guard_code_registry();

CREATE FUNCTION crm.issue_customer_code(kind text) RETURNS text
    AS 'MODULE_PATHNAME', 'crm_issue_customer_code'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
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
    score           integer,
    status          text NOT NULL DEFAULT 'new',
    owner           text,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    received_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    assigned_at     timestamptz,
    first_response_at timestamptz
);
-- A webhook delivered twice is one lead.  Not partial: ingestion looks ids
-- up by a join, which cannot prove a partial index's predicate.
CREATE UNIQUE INDEX lead_external_id_key ON crm.lead (channel, external_id);
CREATE INDEX lead_contact_idx ON crm.lead (contact_id);
CREATE INDEX lead_account_idx ON crm.lead (account_id);
CREATE INDEX lead_created_at_idx ON crm.lead (created_at);
COMMENT ON TABLE crm.lead IS
'One row per ingested lead: the mapped fields, the raw payload, and the customer it was matched to';
COMMENT ON COLUMN crm.lead.outcome IS
'new: a contact was created; merged: attached to an existing contact whose profile was updated; review: attached provisionally, the pair waits in crm.match_review';
COMMENT ON COLUMN crm.lead.account_outcome IS
'new: the lead''s organisation was created; matched: found among the accounts; NULL: the lead names no organisation';
COMMENT ON COLUMN crm.lead.warnings IS
'Values the lead gave that could not be used (a phone that is not a possible number, an invalid credit code); the lead is kept';
COMMENT ON COLUMN crm.lead.match_score IS
'Fellegi-Sunter log2 likelihood ratio of the best candidate contact; NULL when no candidate was found';
COMMENT ON COLUMN crm.lead.created_at IS 'Submission time the channel reported';
COMMENT ON COLUMN crm.lead.received_at IS 'When crm ingested it';

CREATE TYPE crm.ingest_result AS (
    lead_id       bigint,
    contact_id    bigint,
    account_id    bigint,
    customer_code text,
    outcome       text,
    match_score   real,
    lead_score    integer,
    owner         text
);

CREATE FUNCTION crm.ingest(channel text, payload jsonb) RETURNS crm.ingest_result
    AS 'MODULE_PATHNAME', 'crm_ingest'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION crm.ingest(text, jsonb) IS
'Ingests one lead: maps the payload through the channel, finds the customer (new, merged or review) and stores the lead. A payload already ingested (same channel and external_id) returns the first result again';

CREATE TABLE crm.lead_quarantine (
    id          bigserial PRIMARY KEY,
    channel     text,
    payload     jsonb,
    sqlstate    text NOT NULL,
    reason      text NOT NULL,
    detail      text,
    context     text,
    received_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE crm.lead_quarantine IS
'Rows of crm.lead_inbox that could not be ingested, with the reason; the good rows of the same statement are ingested';

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

CREATE FUNCTION crm.lead_inbox_counts(OUT ingested bigint, OUT quarantined bigint)
    AS 'MODULE_PATHNAME', 'crm_lead_inbox_counts'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION crm.lead_inbox_counts() IS
'How many rows the last INSERT or COPY into crm.lead_inbox of this session ingested and quarantined';

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
CREATE UNIQUE INDEX match_review_lead_key ON crm.match_review (lead_id) WHERE lead_id IS NOT NULL;
CREATE UNIQUE INDEX match_review_pair_key ON crm.match_review (entity, candidate_id, other_id) WHERE other_id IS NOT NULL;
COMMENT ON TABLE crm.match_review IS
'Work queue of undecided matches: a lead attached provisionally to candidate_id, or two stored records (candidate_id, other_id) found by crm.scan_duplicates()';
COMMENT ON COLUMN crm.match_review.evidence IS
'Per-field comparison and Fellegi-Sunter weight that produced score';
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
    merged_by   text NOT NULL DEFAULT CURRENT_USER,
    merged_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    undone_at   timestamptz,
    CONSTRAINT merge_history_source CHECK ((dropped_id IS NULL) <> (lead_id IS NULL))
);
CREATE INDEX merge_history_kept_idx ON crm.merge_history (entity, kept_id);
CREATE INDEX merge_history_lead_idx ON crm.merge_history (lead_id) WHERE lead_id IS NOT NULL;
COMMENT ON TABLE crm.merge_history IS
'What every merge changed: a lead merged into a contact (lead_id), or a record merged into another (dropped_id); crm.unmerge() undoes one from here';
COMMENT ON COLUMN crm.merge_history.changes IS
'[{"field", "old", "new"}] set on the kept record';
COMMENT ON COLUMN crm.merge_history.moved IS
'Rows moved to the kept record or added to it, by table: {"contact_point": [ids], "lead": [ids], "contact": [ids]}';

------------------------------------------------------------------------------
-- Review, merge and unmerge
------------------------------------------------------------------------------

CREATE FUNCTION crm.merge_lead(lead_id bigint, contact_id bigint) RETURNS void
    AS 'MODULE_PATHNAME', 'crm_merge_lead'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION crm.merge_lead(bigint, bigint) IS
'Attaches a lead to a contact and merges it as ingestion would: empty fields filled, new phones and e-mails added, confirmed values untouched, history kept';

-- A new contact for a lead that was attached to the wrong one.
CREATE FUNCTION crm.split_lead(lead_id bigint) RETURNS bigint
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    l crm.lead;
    new_id bigint;
BEGIN
    SELECT * INTO l FROM crm.lead WHERE id = lead_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'lead % does not exist', lead_id USING ERRCODE = 'no_data_found';
    END IF;
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
CREATE FUNCTION crm.record_merge(entity text, keep_code text, drop_code text, keep bigint,
                                 drop bigint, changes jsonb, moved jsonb) RETURNS bigint
    LANGUAGE sql STRICT
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    UPDATE crm.customer_code SET merged_into = keep_code, merged_at = now() WHERE code = drop_code;
    INSERT INTO crm.merge_history (entity, kept_id, dropped_id, changes, moved)
    VALUES (entity, keep, drop, changes, moved)
    RETURNING id;
END;
COMMENT ON FUNCTION crm.record_merge(text, text, text, bigint, bigint, jsonb, jsonb) IS
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
    RETURN crm.record_merge('contact', k.code, d.code, keep, drop, changes,
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
    RETURN crm.record_merge('account', k.code, d.code, keep, drop, changes,
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
        UPDATE crm.customer_code SET merged_into = NULL, merged_at = NULL
         WHERE code = (SELECT code FROM crm.contact WHERE id = h.dropped_id);
    ELSE
        UPDATE crm.account SET merged_into = NULL, uscc = h.moved->>'uscc' WHERE id = h.dropped_id;
        UPDATE crm.contact SET account_id = h.dropped_id
         WHERE id IN (SELECT jsonb_array_elements_text(h.moved->'contact')::bigint)
           AND account_id = h.kept_id;
        UPDATE crm.lead SET account_id = h.dropped_id
         WHERE id IN (SELECT jsonb_array_elements_text(h.moved->'lead')::bigint)
           AND account_id = h.kept_id;
        UPDATE crm.customer_code SET merged_into = NULL, merged_at = NULL
         WHERE code = (SELECT code FROM crm.account WHERE id = h.dropped_id);
    END IF;
    UPDATE crm.merge_history SET undone_at = now() WHERE id = merge_id;
END
$$;
COMMENT ON FUNCTION crm.unmerge(bigint) IS
'Undoes a merge from crm.merge_history: moved rows go back, filled fields are emptied again unless changed since, codes resolve to themselves again; a lead merged into a contact gets a contact of its own';

CREATE FUNCTION crm.review_accept(review_id bigint) RETURNS void
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r crm.match_review;
BEGIN
    r := crm.take_review(review_id);
    IF r.lead_id IS NOT NULL THEN
        PERFORM crm.merge_lead(r.lead_id, r.candidate_id);
    ELSIF r.entity = 'contact' THEN
        PERFORM crm.merge_contacts(r.candidate_id, r.other_id);
    ELSE
        PERFORM crm.merge_accounts(r.candidate_id, r.other_id);
    END IF;
    UPDATE crm.match_review SET status = 'accepted', decided_by = current_user, decided_at = now()
     WHERE id = review_id;
END
$$;
COMMENT ON FUNCTION crm.review_accept(bigint) IS
'A reviewer''s yes: the lead is merged into its candidate contact, or other_id into candidate_id';

CREATE FUNCTION crm.review_reject(review_id bigint) RETURNS void
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r crm.match_review;
    other bigint;
BEGIN
    r := crm.take_review(review_id);
    IF r.lead_id IS NOT NULL THEN
        other := crm.split_lead(r.lead_id);
        -- the two contacts may share the lead's phone or e-mail: a pair
        -- a person has already told apart
        INSERT INTO crm.match_review (entity, candidate_id, other_id, score, evidence, red,
                                      status, decided_by, decided_at)
        VALUES ('contact', least(r.candidate_id, other), greatest(r.candidate_id, other), r.score,
                r.evidence, r.red, 'rejected', current_user, now())
        ON CONFLICT (entity, candidate_id, other_id) WHERE other_id IS NOT NULL DO NOTHING;
    END IF;
    UPDATE crm.match_review SET status = 'rejected', decided_by = current_user, decided_at = now()
     WHERE id = review_id;
END
$$;
COMMENT ON FUNCTION crm.review_reject(bigint) IS
'A reviewer''s no: the lead gets a contact of its own; a pair of stored records is never proposed again';

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
        RAISE EXCEPTION 'unknown entity "%"', entity
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
        UPDATE crm.match_review SET status = 'accepted', decided_by = current_user, decided_at = now()
         WHERE id = r.id;
    END LOOP;
    RETURN merged;
END
$$;
COMMENT ON FUNCTION crm.merge_duplicates(text, boolean) IS
'A data steward''s bulk merge: for every open duplicate pair (only red ones, by default) the younger record is merged into the oldest of its cluster; returns how many records were merged. Each merge can be undone with crm.unmerge()';

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
SELECT pg_catalog.pg_extension_config_dump('crm.lead', '');
SELECT pg_catalog.pg_extension_config_dump('crm.lead_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.lead_quarantine', '');
SELECT pg_catalog.pg_extension_config_dump('crm.lead_quarantine_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.match_review', '');
SELECT pg_catalog.pg_extension_config_dump('crm.match_review_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('crm.merge_history', '');
SELECT pg_catalog.pg_extension_config_dump('crm.merge_history_id_seq', '');
