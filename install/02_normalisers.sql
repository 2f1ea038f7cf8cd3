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
