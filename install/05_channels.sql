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
SELECT pg_catalog.pg_extension_config_dump('crm.channel', 'WHERE NOT shipped');

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
