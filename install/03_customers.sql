------------------------------------------------------------------------------
-- Customer codes: one registry for accounts and contacts
------------------------------------------------------------------------------

-- 34^7 codes exist; the sequence never cycles, so no code is issued twice.
CREATE SEQUENCE crm.customer_code_seq AS bigint MINVALUE 1 MAXVALUE 52523350143 NO CYCLE;
SELECT pg_catalog.pg_extension_config_dump('crm.customer_code_seq', '');

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
SELECT pg_catalog.pg_extension_config_dump('crm.customer_code', '');

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
SELECT pg_catalog.pg_extension_config_dump('crm.account', '');
SELECT pg_catalog.pg_extension_config_dump('crm.account_id_seq', '');
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
SELECT pg_catalog.pg_extension_config_dump('crm.contact', '');
SELECT pg_catalog.pg_extension_config_dump('crm.contact_id_seq', '');
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
SELECT pg_catalog.pg_extension_config_dump('crm.contact_point', '');
SELECT pg_catalog.pg_extension_config_dump('crm.contact_point_id_seq', '');
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
