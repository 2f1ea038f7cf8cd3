-- Field maps against the payloads and maps application teams really send
-- (issue 15): JSON values a field cannot take, paths that find several
-- values, maps that would fail on every lead, and raw values a "values"
-- table does not list.
\i sql/include/untrusted_setup.psql

------------------------------------------------------------------------
-- 1. JSON types.  A boolean, an object or an array is no field's value; a
-- number is an id, a phone, a code or an epoch time, but no name or e-mail
------------------------------------------------------------------------
SELECT label, r.state, r.error, r.detail
  FROM (VALUES
    ('name true',          '{"id": "t-1", "name": true, "phone": "13800138000", "submitted_at": "2026-11-20"}'),
    ('name false',         '{"id": "t-2", "name": false, "phone": "13800138000", "submitted_at": "2026-11-20"}'),
    ('name 42',            '{"id": "t-3", "name": 42, "phone": "13800138000", "submitted_at": "2026-11-20"}'),
    ('email a number',     '{"id": "t-4", "name": "王芳", "email": 12345, "submitted_at": "2026-11-20"}'),
    ('company an object',  '{"id": "t-5", "name": "王芳", "company": {"name": "某医院"}, "submitted_at": "2026-11-20"}'),
    ('phone an array',     '{"id": "t-6", "name": "王芳", "phone": ["13800138000"], "submitted_at": "2026-11-20"}'),
    ('phone a boolean',    '{"id": "t-7", "name": "王芳", "phone": true, "submitted_at": "2026-11-20"}'),
    ('submitted_at true',  '{"id": "t-8", "name": "王芳", "submitted_at": true}'),
    -- a sign or a fraction is no part of a phone number (the normaliser
    -- would read "-" and "." as separators), nor of a credit code
    ('phone negative',     '{"id": "t-11", "name": "王芳", "phone": -13800138000, "submitted_at": "2026-11-20"}'),
    ('phone a fraction',   '{"id": "t-12", "name": "王芳", "phone": 1380013800.0, "submitted_at": "2026-11-20"}'),
    ('credit code signed', '{"id": "t-13", "name": "王芳", "phone": "13800138000", "credit_code": -911100006000373410, "submitted_at": "2026-11-20"}')
  ) t(label, payload),
  LATERAL pg_temp.outcome(format('SELECT crm.ingest(%L, %L)', 'website', t.payload)) r;
-- numbers where they are ids, phone numbers and epoch times
SELECT (crm.ingest('website', '{"id": 90211, "name": "王芳", "phone": 13800138000,
                                "submitted_at": 1795136400}')).outcome;
SELECT external_id, person_name, phone, created_at, warnings FROM crm.lead WHERE external_id = '90211';
-- none of the refused numbers stored a lead
SELECT count(*) AS refused_numbers_stored FROM crm.lead WHERE external_id IN ('t-11', 't-12', 't-13');
-- in bulk the row is quarantined with the same SQLSTATE, the good row lands
INSERT INTO crm.lead_inbox (channel, payload) VALUES
  ('website', '{"id": "t-9", "name": true, "phone": "13900139000", "submitted_at": "2026-11-20"}'),
  ('website', '{"id": "t-10", "name": "李娜", "phone": "13900139001", "submitted_at": "2026-11-20"}');
SELECT payload ->> 'id' AS id, sqlstate, reason, context FROM crm.lead_quarantine ORDER BY id;
SELECT external_id, person_name FROM crm.lead WHERE external_id IN ('t-9', 't-10');

------------------------------------------------------------------------
-- 2. A path that finds several values.  Refused when the map is saved if
-- it can only select several; else refused on the payload that has several
------------------------------------------------------------------------
-- 问卷星-style answers as a list: a filter picks one answer, and the
-- wildcards an admin first tries are refused, saying what to write instead
SELECT r.state, r.error, r.detail
  FROM unnest(ARRAY['$.answers[*].a', '$.**.姓名', '$.answers[0 to 1].a', '$.answers[0, 1].a',
                    '$.answers[0].*', '$.answers[*] ? (@.q == "姓名").a[*]',
                    '$.answers ? (@.q == "姓名").a == "张伟"', '$']) p,
       LATERAL pg_temp.outcome(format($f$INSERT INTO crm.channel (code, source_label, field_map)
                                      VALUES ('survey', '问卷星', %L)$f$,
                                      jsonb_build_object('external_id', 'joinid', 'person_name', p))) r;
INSERT INTO crm.channel (code, source_label, field_map) VALUES ('survey', '问卷星', $j$
{"external_id": "joinid",
 "person_name": "$.answers[*] ? (@.q == \"姓名\").a",
 "phone": {"path": "$.answers ? (@.q == \"手机\").a", "default": null},
 "company_name": {"path": "$.answers[last].a", "default": null},
 "created_at": "submittime"}
$j$);
SELECT crm.lead_fields('survey', '{"joinid": "wjx-1", "submittime": "2026-11-20 09:30",
  "answers": [{"q": "姓名", "a": "张伟"}, {"q": "手机", "a": "13700137000"}, {"q": "单位", "a": "某医院"}]}');
-- the same question answered twice: which name is it?
\set VERBOSITY default
SELECT crm.ingest('survey', '{"joinid": "wjx-2", "submittime": "2026-11-20 09:30",
  "answers": [{"q": "姓名", "a": "张伟"}, {"q": "姓名", "a": "王芳"}]}');
-- lax mode reads a member of every element of an array it meets: a 金数据
-- entry sent as a list has two values at each $.entry path
SELECT crm.ingest('jinshuju_form', '{"entry": [{"serial_number": 1, "field_1": "张伟", "created_at": "2026-11-20"},
                                              {"serial_number": 2, "field_1": "王芳", "created_at": "2026-11-20"}]}');
\set VERBOSITY terse

------------------------------------------------------------------------
-- 3. Maps that would fail on every lead are refused when saved, naming
-- the field and why; the admin fixes the channel with an UPDATE
------------------------------------------------------------------------
INSERT INTO crm.channel (code, source_label, field_map)
VALUES ('expo', '展会', '{"external_id": "row", "person_name": "name", "created_at": {"path": "$.t", "default": null}}');
SELECT entry, r.state, r.error, r.detail
  FROM (VALUES
    ('variable',              '{"person_name": "$.people[$i].name"}'),
    ('variable in a filter',  '{"person_name": "$.people ? (@.role == $role).name"}'),
    ('time default',          '{"created_at": {"path": "$.t", "default": "not a time"}}'),
    ('phone default',         '{"phone": {"path": "$.mobile", "default": "400-800-8888"}}'),
    ('external_id default',   '{"external_id": {"path": "$.row", "default": "none"}}'),
    ('region default',        '{"region_code": {"path": "$.region", "default": "Hangzhou"}}'),
    ('name default true',     '{"person_name": {"path": "$.name", "default": true}}'),
    ('title default 3',       '{"title": {"path": "$.title", "default": 3}}'),
    ('values object',         '{"product_line": {"path": "$.p", "values": {"CT": {"line": "imaging"}}}}'),
    ('values array',          '{"product_line": {"path": "$.p", "values": {"CT": ["imaging"]}}}'),
    ('values number',         '{"product_line": {"path": "$.p", "values": {"CT": 1}}}'),
    ('values boolean',        '{"product_line": {"path": "$.p", "values": {"CT": true}}}'),
    ('on_miss unknown',       '{"product_line": {"path": "$.p", "values": {"CT": "imaging"}, "on_miss": "drop"}}'),
    ('on_miss without values', '{"product_line": {"path": "$.p", "on_miss": "refuse"}}'),
    ('default values lack',   '{"product_line": {"path": "$.p", "default": "MRI", "values": {"CT": "imaging"}, "on_miss": "refuse"}}'),
    ('unknown key',           '{"product_line": {"path": "$.p", "value": {"CT": "imaging"}}}'),
    ('unknown field',         '{"mobile": "phone"}')
  ) t(entry, change),
  LATERAL pg_temp.outcome(format('UPDATE crm.channel SET field_map = field_map || %L WHERE code = %L',
                                 t.change, 'expo')) r;
-- what is allowed: a null default, a region code, a number where the field
-- takes one, a standard value of null for a raw value that means "none"
UPDATE crm.channel SET field_map = field_map || $j$
{"phone": {"path": "$.mobile", "default": null},
 "region_code": {"path": "$.region", "default": 330100},
 "title": {"path": "$.title", "default": "未填写"},
 "product_line": {"path": "$.p", "default": null,
                  "values": {"CT": "imaging", "生化": "ivd", "不确定": null}, "on_miss": "refuse"}}
$j$ WHERE code = 'expo';
SELECT crm.lead_fields('expo', '{"row": "e-1", "name": "陈敏", "mobile": 13600136000, "p": "不确定"}')
       - 'created_at' AS fields;

------------------------------------------------------------------------
-- 4. A raw value the "values" table lacks: kept with a warning (the
-- default, as before), or refused per entry with "on_miss": "refuse".
-- crm.field_map_misses counts both per channel, field and value
------------------------------------------------------------------------
-- Baidu sends a solution the shipped map does not know: the lead is kept
-- (the second one's other warning is no miss)
SELECT (crm.ingest('baidu_sem', '{"clue_id": "bd-1", "name": "周杰", "mobile": "13500135001",
                                  "solution_name": "超声设备推广", "commit_time": 1795136400}')).outcome;
SELECT (crm.ingest('baidu_sem', '{"clue_id": "bd-2", "name": "吴磊", "mobile": "135",
                                  "solution_name": "超声设备推广", "commit_time": 1795136460}')).outcome;
SELECT external_id, product_line, warnings FROM crm.lead WHERE channel = 'baidu_sem' ORDER BY external_id;
-- trying the map shows the warning as a NOTICE
SELECT crm.lead_fields('baidu_sem', '{"clue_id": "bd-3", "name": "周杰", "solution_name": "超声设备推广",
                                      "commit_time": 1795136400}') ->> 'product_line' AS product_line;
-- the channel admin copies the read-only shipped channel and refuses
-- unknown solutions from now on
INSERT INTO crm.channel (code, source_label, field_map)
SELECT 'my_baidu_sem', source_label,
       jsonb_set(field_map, '{product_line,on_miss}', '"refuse"')
  FROM crm.channel WHERE code = 'baidu_sem';
\set VERBOSITY default
SELECT crm.ingest('my_baidu_sem', '{"clue_id": "bd-4", "name": "郑爽", "mobile": "13500135004",
                                    "solution_name": "超声设备推广", "commit_time": 1795136400}');
\set VERBOSITY terse
SELECT (crm.ingest('my_baidu_sem', '{"clue_id": "bd-5", "name": "郑爽", "mobile": "13500135004",
                                     "solution_name": "影像设备推广", "commit_time": 1795136400}')).outcome;
SELECT product_line, warnings FROM crm.lead WHERE external_id = 'bd-5';
-- in bulk, refused rows are quarantined and the others land
INSERT INTO crm.lead_inbox (channel, payload) VALUES
  ('my_baidu_sem', '{"clue_id": "bd-6", "name": "孙丽", "mobile": "13500135006", "solution_name": "超声设备推广", "commit_time": 1795136400}'),
  ('my_baidu_sem', '{"clue_id": "bd-7", "name": "钱多", "mobile": "13500135007", "solution_name": "内镜推广", "commit_time": 1795136400}'),
  ('my_baidu_sem', '{"clue_id": "bd-8", "name": "赵云", "mobile": "13500135008", "solution_name": "检验试剂推广", "commit_time": 1795136400}');
SELECT ingested, quarantined FROM crm.lead_inbox_counts();
SELECT channel, field, value, on_miss, leads, first_seen <= last_seen AS ordered
  FROM crm.field_map_misses ORDER BY channel, field, value;
-- an index of the leads with warnings serves it (the planner takes a
-- sequential scan while crm.lead is this small)
CREATE FUNCTION pg_temp.plan_uses(statement text, index_name text) RETURNS boolean
    LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || statement LOOP
        IF line LIKE '%' || index_name || '%' THEN
            RETURN true;
        END IF;
    END LOOP;
    RETURN false;
END
$$;
SET enable_seqscan = off;
SELECT pg_temp.plan_uses($$SELECT * FROM crm.field_map_misses WHERE channel = 'baidu_sem'$$,
                         'lead_warned_idx') AS reads_warned_leads_only;
RESET enable_seqscan;

------------------------------------------------------------------------
-- 5. A path selects a value from the payload, never computes one: an item
-- method or arithmetic on the value would give different leads the same
-- value ($.id.type() is "string" for every lead, .abs() makes ids -5 and 5
-- one lead), so it is refused when the channel is saved, naming the field
-- and the method.  Inside a filter or a subscript they only choose
------------------------------------------------------------------------
\set VERBOSITY default
INSERT INTO crm.channel (code, source_label, field_map) VALUES ('typ', 't',
  '{"external_id": "$.id.type()", "person_name": "n", "phone": {"path": "$.p", "default": null}, "created_at": "t"}');
\set VERBOSITY terse
SELECT t.field, t.path, r.state, r.error
  FROM (SELECT v.*, row_number() OVER () AS n FROM (VALUES
    ('external_id',  '$.id.type()'),
    ('person_name',  '$.n.type()'),
    ('person_name',  '$.answers ? (@.q == "姓名").a.size()'),
    ('external_id',  '$.id.abs()'),
    ('external_id',  '$.id.floor()'),
    ('external_id',  '$.id.ceiling()'),
    ('phone',        '$.p.double()'),
    ('notes',        '$.answers[0].keyvalue() ? (@.key == "a").value'),
    ('created_at',   '$.t.datetime()'),
    ('created_at',   '$.t.datetime("yyyy-mm-dd HH24:MI")'),
    ('external_id',  '$.id + 1'),
    ('external_id',  '$.id - $.offset'),
    ('external_id',  '$.id * 1'),
    ('external_id',  '$.id / 1'),
    ('external_id',  '$.id % 10')
  ) v(field, path)) t,
  LATERAL pg_temp.outcome(format($f$INSERT INTO crm.channel (code, source_label, field_map)
                                 VALUES (%L, 't', %L)$f$, 'computed_' || t.n,
                                 jsonb_build_object('external_id', 'id', 'person_name', 'n', 'created_at', 't')
                                 || jsonb_build_object(t.field, t.path))) r;
-- methods and arithmetic in a filter or a subscript choose, and are kept
INSERT INTO crm.channel (code, source_label, field_map) VALUES ('chooses', 't', $j$
{"external_id": "$.ids ? (@.type() == \"string\")",
 "person_name": "$.answers[*] ? (@.q == \"姓名\" && @.a.size() == 1).a",
 "phone": {"path": "$.phones[$.phones.size() - 1]", "default": null},
 "created_at": "t"}
$j$);
SELECT (crm.ingest('chooses', '{"ids": [7, "A-1"], "answers": [{"q": "姓名", "a": "张三"}],
                            "phones": ["13511110000", "13511112222"], "t": "2026-12-05"}')).outcome;
SELECT (crm.ingest('chooses', '{"ids": [7, "B-2"], "answers": [{"q": "姓名", "a": "张三"}],
                            "phones": ["13511112222"], "t": "2026-12-05"}')).outcome;
SELECT external_id, person_name, phone FROM crm.lead WHERE channel = 'chooses' ORDER BY external_id;
