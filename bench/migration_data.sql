-- bench/migration_data.sql: an old customer list as an Excel export gives
-- it, with the truth about every row, for bench/migration_run.
--   :rows      rows in the file (default 127,000, the seed company's size)
--   :dup_pct   rows that are another row's person again (default 5)
--   :bad_pct   rows that must be rejected (default 2)
-- Written to bench_migration (n, payload, person, expect, kind): payload as
-- crm.import_row takes it, person the truth (one id per real person; NULL
-- for a row that must be rejected), expect 'imported' or 'rejected'.
-- People: four to an organisation, six organisations in ten with a credit
-- code; one person in ten has only a landline, four in ten an e-mail; one
-- in two hundred has the very name of a colleague at the same organisation
-- (another person: own phone, own e-mail).  The mess, varied row by row:
-- phones spaced, dashed, with +86, (+86) or 86-, in full-width digits or
-- padded; names with （经理）, 先生 or 女士, spaces inside or around; the
-- organisation as 品牌（城市）有限公司 instead of 城市品牌有限公司, or missing;
-- e-mails upper-cased or with a full-width ＠; dates as 2019-03-01,
-- 2019/3/1, 2019年3月1日, 20190301, 2019.03.01 10:20 or blank; region
-- codes (GB/T 2260 counties) on six rows in ten and a wrong one on two in a
-- hundred; owners the reps rep1..rep40, blank on one row in ten; spare
-- columns (序号, 备注).  A duplicate row is the same person spelled another
-- way; three in ten of them lack the phone.  The rejected rows name nobody
-- (an organisation alone), or give a date in the future or one nobody can
-- read, or an owner who is no rep.  Deterministic: arithmetic on row
-- numbers only.
\set ON_ERROR_STOP 1
\if :{?rows} \else \set rows 127000 \endif
\if :{?dup_pct} \else \set dup_pct 5 \endif
\if :{?bad_pct} \else \set bad_pct 2 \endif
\ir uscc_function.sql

CREATE FUNCTION pg_temp.pick(arr text[], n bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT arr[1 + (n % array_length(arr, 1))] $$;
CREATE FUNCTION pg_temp.fullwidth(s text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT translate(s, '0123456789', '０１２３４５６７８９') $$;

INSERT INTO crm.team (code, name) VALUES ('bench_kam', '大客户部') ON CONFLICT DO NOTHING;
INSERT INTO crm.rep (login, name, team)
SELECT 'rep' || i, '客户经理' || i, 'bench_kam' FROM generate_series(1, 40) i ON CONFLICT DO NOTHING;

CREATE FUNCTION pg_temp.person_name(p bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
SELECT pg_temp.pick(string_to_array('王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤', NULL), (p * 7) % 97)
       || pg_temp.pick(string_to_array('伟芳娜敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华建国志文辉玉红海燕晓东永丹凤俊婷雪梅浩然子涵欣怡宇轩梓萱佳琪思远博文嘉怡', NULL), p / 11)
       || CASE WHEN p % 3 = 0 THEN pg_temp.pick(string_to_array('伟芳娜敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华建国志文辉玉红海燕晓东永丹凤俊婷雪梅浩然子涵欣怡宇轩梓萱佳琪思远博文嘉怡', NULL), p / 13) ELSE '' END
$$;

-- the real people
CREATE TABLE bench_person (
    p bigint PRIMARY KEY, org bigint, name text, mobile text, landline text, email text,
    company text, city text, core text, uscc text, title text, region text, owner text, created date);
WITH pool AS (
  SELECT string_to_array('康泰瑞达华信恒通博远中科天宇宏图安盛新元金诺迈德联创海纳', NULL) AS brand,
         ARRAY['医疗器械', '生物科技', '医疗科技', '医学影像', '体外诊断', '医疗设备', '康复器械', '精密仪器'] AS trade,
         ARRAY['杭州', '上海', '北京', '深圳', '广州', '南京', '苏州', '成都', '武汉', '西安'] AS city,
         ARRAY['采购经理', '设备科科长', '院长', '总经理', '工程师', '主任', '财务', '销售总监'] AS title,
         (SELECT array_agg(code ORDER BY code) FROM crm.region_code WHERE level = 'county') AS county),
person AS (
  SELECT p, (p - 1) / 4 AS org
    FROM generate_series(1::bigint, :rows - (:rows * :dup_pct / 100) - (:rows * :bad_pct / 100)) p)
INSERT INTO bench_person
SELECT p, org,
       -- one in two hundred: the name of the colleague before, at the same organisation
       pg_temp.person_name(CASE WHEN p % 200 = 7 THEN p - 1 ELSE p END),
       CASE WHEN p % 10 <> 3 THEN '1' || pg_temp.pick(ARRAY['38', '39', '50', '58', '86', '88', '37', '77'], p)
                                  || lpad(((p * 48271) % 100000000)::text, 8, '0') END,
       CASE WHEN p % 10 = 3 THEN '0571-8' || lpad((p % 10000000)::text, 7, '0') END,
       CASE WHEN p % 5 IN (0, 2) THEN 'u' || p || '@org' || org || '.com.cn' END,
       c.city || c.core || '有限公司', c.city, c.core,
       CASE WHEN org % 10 < 6 THEN pg_temp.uscc(org + 1) END,
       CASE WHEN p % 2 = 0 THEN pg_temp.pick(pool.title, p / 2) END,
       CASE WHEN org % 10 < 6 THEN pg_temp.pick(pool.county, org * 131) END,
       'rep' || (1 + org % 40),
       date '2012-01-01' + ((p * 37) % 5000)::int
  FROM person, pool,
       LATERAL (SELECT pg_temp.pick(pool.city, org) AS city,
                       pg_temp.pick(pool.brand, org) || pg_temp.pick(pool.brand, org / 24)
                       || pg_temp.pick(pool.brand, org / 576) || pg_temp.pick(pool.trade, org / 13824) AS core) c;

-- a person as one row of the export, spelled as variant v
CREATE FUNCTION pg_temp.messy(b bench_person, v bigint, kind text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
SELECT jsonb_build_object(
    '序号', v,
    'person_name', CASE (v * 13) % 20
        WHEN 0 THEN b.name || '（经理）' WHEN 1 THEN b.name || CASE WHEN b.p % 2 = 0 THEN ' 先生' ELSE '女士' END
        WHEN 2 THEN ' ' || b.name || '  ' WHEN 3 THEN left(b.name, 1) || ' ' || substr(b.name, 2)
        ELSE b.name END,
    'phone', CASE WHEN kind = 'duplicate' AND v % 10 < 3 THEN NULL
                  WHEN b.mobile IS NULL THEN CASE WHEN v % 2 = 0 THEN b.landline ELSE replace(b.landline, '-', ' ') END
                  ELSE CASE (v * 7) % 20
        WHEN 7 THEN substr(b.mobile, 1, 3) || ' ' || substr(b.mobile, 4, 4) || ' ' || substr(b.mobile, 8)
        WHEN 8 THEN substr(b.mobile, 1, 3) || ' ' || substr(b.mobile, 4, 4) || ' ' || substr(b.mobile, 8)
        WHEN 9 THEN substr(b.mobile, 1, 3) || '-' || substr(b.mobile, 4, 4) || '-' || substr(b.mobile, 8)
        WHEN 10 THEN substr(b.mobile, 1, 3) || '-' || substr(b.mobile, 4, 4) || '-' || substr(b.mobile, 8)
        WHEN 11 THEN '+86 ' || b.mobile WHEN 12 THEN '+86' || b.mobile
        WHEN 13 THEN pg_temp.fullwidth(b.mobile) WHEN 14 THEN '(+86) ' || b.mobile
        WHEN 15 THEN '86-' || b.mobile WHEN 16 THEN ' ' || b.mobile || ' '
        ELSE b.mobile END END,
    'email', CASE WHEN b.email IS NULL THEN NULL WHEN v % 10 = 1 THEN upper(b.email)
                  WHEN v % 33 = 2 THEN replace(b.email, '@', '＠') ELSE b.email END,
    'company_name', CASE (v * 3) % 20
        WHEN 0 THEN b.core || '（' || b.city || '）有限公司' WHEN 1 THEN b.company || '　'
        WHEN 2 THEN CASE WHEN b.mobile IS NOT NULL OR b.email IS NOT NULL THEN NULL ELSE b.company END
        ELSE b.company END,
    'uscc', CASE WHEN v % 3 <> 0 THEN b.uscc END,
    'title', b.title,
    'region_code', CASE WHEN v % 50 = 7 THEN '999999' ELSE b.region END,
    'owner', CASE WHEN v % 10 = 4 THEN NULL ELSE b.owner END,
    'created_at', CASE (v * 11) % 6
        WHEN 0 THEN to_char(b.created, 'YYYY-MM-DD') WHEN 1 THEN to_char(b.created, 'YYYY/FMMM/FMDD')
        WHEN 2 THEN to_char(b.created, 'YYYY"年"FMMM"月"FMDD"日"') WHEN 3 THEN to_char(b.created, 'YYYYMMDD')
        WHEN 4 THEN to_char(b.created, 'YYYY.MM.DD') || ' 10:20' END,
    '备注', CASE WHEN v % 7 = 0 THEN '老系统导出' END)
$$;

-- a row that must be rejected, and why
CREATE FUNCTION pg_temp.bad_row(v bigint, kind text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE kind
    WHEN 'nobody' THEN jsonb_build_object('序号', v, 'company_name', '无名单位' || v || '有限公司', '备注', '只有单位')
    ELSE jsonb_build_object('序号', v, 'person_name', pg_temp.person_name(900000 + v),
                            'phone', '170' || lpad(v::text, 8, '0'),
                            'created_at', CASE kind WHEN 'future' THEN '2031-05-01'
                                                    WHEN 'unreadable' THEN '2019-13-45' ELSE '2020-01-01' END,
                            'owner', CASE kind WHEN 'not_a_rep' THEN 'zhang.old' ELSE 'rep1' END)
    END
$$;

-- every row of the file: people once, duplicates, rows to reject, in an
-- order that mixes them
CREATE TABLE bench_migration (n integer PRIMARY KEY, payload jsonb NOT NULL, person bigint,
                              expect text NOT NULL, kind text NOT NULL);
WITH counts AS (SELECT count(*) AS people FROM bench_person),
     line AS (
       SELECT p AS k, p AS person, 'original' AS kind FROM bench_person
       UNION ALL
       SELECT c.people + d, 1 + ((d * 7919 + 13) % c.people), 'duplicate'
         FROM counts c, generate_series(1::bigint, :rows * :dup_pct / 100) d
       UNION ALL
       SELECT c.people + :rows * :dup_pct / 100 + r, NULL,
              (ARRAY['nobody', 'nobody', 'future', 'unreadable', 'not_a_rep'])[1 + r % 5]
         FROM counts c, generate_series(1::bigint, :rows * :bad_pct / 100) r),
     ordered AS (SELECT row_number() OVER (ORDER BY (k * 2654435761) % 4294967311, k) AS n, * FROM line)
INSERT INTO bench_migration
SELECT o.n, jsonb_strip_nulls(CASE WHEN o.kind IN ('original', 'duplicate') THEN pg_temp.messy(b, o.n, o.kind)
                                   ELSE pg_temp.bad_row(o.n, o.kind) END),
       o.person, CASE WHEN o.person IS NULL THEN 'rejected' ELSE 'imported' END, o.kind
  FROM ordered o LEFT JOIN bench_person b ON b.p = o.person;
ANALYZE bench_migration;
