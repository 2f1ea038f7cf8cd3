-- bench/dedup_data.sql: the matching benchmark's world, with ground truth.
--
-- Loads :contacts contacts (default 1,000,000) on :accounts accounts
-- (default 300,000) into the crm tables, then writes :leads incoming leads
-- (default 100,000) to bench_lead with what each really is:
--   repeat      an existing person seen again (~30%), spelled differently:
--               phone formats and full-width digits, e-mail case, bracket
--               notes and titles, traditional characters, homophone typos,
--               short or bracketed company names, a second phone, missing
--               fields
--   namesake    a different person with the same common name in the same
--               city (hard negative: must not merge)
--   colleague   a new person at a known organisation (new contact, known
--               account)
--   recycled    a known phone number now used by someone else, at another
--               company (hard negative: review, never a silent merge)
--   new         a person never seen
-- Deterministic: arithmetic on the row number only.  Full size loads in about
-- 2.5 minutes: psql -v contacts=1000000 -f bench/dedup_data.sql
\set ON_ERROR_STOP 1
\if :{?contacts} \else \set contacts 1000000 \endif
\if :{?accounts} \else \set accounts 300000 \endif
\if :{?leads} \else \set leads 100000 \endif
SET max_parallel_workers_per_gather = 0;
SELECT setseed(0.2026);

-- Name material: frequent surnames first, so namesakes occur as in life.
CREATE TEMP TABLE pool AS
SELECT string_to_array('王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤', NULL) AS surname,
       string_to_array('伟芳娜敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华建国志文辉玉红海燕晓东永丹凤俊婷雪梅浩然子涵欣怡宇轩梓萱佳琪思远博文嘉怡', NULL) AS given,
       string_to_array('康泰瑞达华信恒通博远中科天宇宏图安盛新元金诺迈德联创海纳鼎盛融合卓越精诚', NULL) AS brand,
       ARRAY['医疗器械', '生物科技', '医疗科技', '教育科技', '机械制造', '信息技术', '电子', '精密仪器'] AS trade,
       ARRAY['有限公司', '股份有限公司', '有限责任公司', '集团有限公司'] AS form,
       ARRAY['杭州', '上海', '北京', '深圳', '广州', '南京', '苏州', '成都', '武汉', '西安'] AS city,
       ARRAY['330100', '310100', '110100', '440300', '440100', '320100', '320500', '510100', '420100', '610100'] AS city_code,
       -- traditional spellings of pool characters, for re-entry from Taiwan/HK sources
       '张刘陈杨黄赵吴郑谢许韩冯邓苏卢钟谭陆贾闫龙陶贺顾龚钱严伟丽强军艳杰涛兰华国辉红晓东凤俊梅浩涵轩萱琪远嘉'::text AS simp,
       '張劉陳楊黃趙吳鄭謝許韓馮鄧蘇盧鍾譚陸賈閆龍陶賀顧龔錢嚴偉麗強軍艷傑濤蘭華國輝紅曉東鳳俊梅浩涵軒萱琪遠嘉'::text AS trad,
       -- homophones people type by mistake (same pinyin)
       '伟芳敏静丽强磊军洋勇杰涛明超'::text AS typo_from,
       '玮方民晶莉蔷垒君阳永洁韬铭潮'::text AS typo_to;

CREATE FUNCTION pg_temp.pick(arr text[], n bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT arr[1 + (n % array_length(arr, 1))] $$;

\ir uscc_function.sql

-- Accounts
INSERT INTO crm.account (name, uscc, region_code, owner)
SELECT pg_temp.pick(p.city, a) || pg_temp.pick(p.brand, a / 7) || pg_temp.pick(p.brand, a / 131) || pg_temp.pick(p.brand, a / 2311)
       || pg_temp.pick(p.trade, a / 3) || pg_temp.pick(p.form, a / 5),
       CASE WHEN a % 10 < 6 THEN pg_temp.uscc(a) END,
       pg_temp.pick(p.city_code, a),
       'rep' || (a % 40)
  FROM generate_series(1::bigint, :accounts) a, pool p;

-- Contacts: mobile numbers are a bijection of the row number, so unique
CREATE TEMP TABLE person AS
SELECT c AS n,
       pg_temp.pick(p.surname, (c * 7) % 97 + (c % 3) * (c % 5)) || pg_temp.pick(p.given, c / 11)
         || CASE WHEN c % 3 = 0 THEN pg_temp.pick(p.given, c / 13) ELSE '' END AS name,
       '1' || pg_temp.pick(ARRAY['38', '39', '50', '58', '86', '88', '37', '77'], c)
         || lpad(((c * 48271) % 100000000)::text, 8, '0') AS phone,
       CASE WHEN c % 2 = 0 THEN 'u' || c || pg_temp.pick(ARRAY['@qq.com', '@163.com', '@126.com', '@corp.cn'], c) END AS email,
       1 + (c * 2654435761) % :accounts AS account_id
  FROM generate_series(1::bigint, :contacts) c, pool p;
INSERT INTO crm.contact (account_id, name, owner)
SELECT account_id, name, 'rep' || (n % 40) FROM person ORDER BY n;
INSERT INTO crm.contact_point (contact_id, kind, value, is_primary)
SELECT n, 'phone', phone, true FROM person
UNION ALL
SELECT n, 'email', email, true FROM person WHERE email IS NOT NULL;
ANALYZE crm.account, crm.contact, crm.contact_point;
SELECT min(id) = 1 AND max(id) = :contacts AS contact_ids_are_row_numbers FROM crm.contact \gset
\if :contact_ids_are_row_numbers \else
  \echo 'bench/dedup_data.sql needs an empty crm.contact' \quit
\endif

-- Spelling variations of one field, chosen by k
CREATE FUNCTION pg_temp.phone_variant(phone text, k bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
SELECT CASE k % 6
         WHEN 0 THEN phone
         WHEN 1 THEN substr(phone, 1, 3) || ' ' || substr(phone, 4, 4) || ' ' || substr(phone, 8)
         WHEN 2 THEN '+86-' || substr(phone, 1, 3) || '-' || substr(phone, 4, 4) || '-' || substr(phone, 8)
         WHEN 3 THEN translate(phone, '0123456789', '０１２３４５６７８９')
         WHEN 4 THEN '0086 ' || phone
         ELSE '86' || phone
       END $$;
CREATE FUNCTION pg_temp.name_variant(name text, k bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
SELECT CASE k % 7
         WHEN 0 THEN name
         WHEN 1 THEN name || '（先生）'
         WHEN 2 THEN name || '经理'
         WHEN 3 THEN translate(name, p.simp, p.trad)
         WHEN 4 THEN substr(name, 1, 1) || translate(substr(name, 2), p.typo_from, p.typo_to)
         WHEN 5 THEN substr(name, 1, 1) || ' ' || substr(name, 2)
         ELSE name || '(采购)'
       END FROM pool p $$;
-- registered name -> what a lead form says
CREATE FUNCTION pg_temp.company_variant(name text, k bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
SELECT CASE k % 5
         WHEN 0 THEN name
         WHEN 1 THEN substr(name, 3, 3)                                  -- short brand name
         WHEN 2 THEN regexp_replace(substr(name, 3), '(有限公司|股份有限公司|有限责任公司|集团有限公司)$',
                                    '（' || substr(name, 1, 2) || '）有限公司')  -- bracketed region
         WHEN 3 THEN regexp_replace(name, '(股份有限公司|有限责任公司|集团有限公司|有限公司)$', '有限公司')
         ELSE NULL                                                       -- left blank
       END $$;

CREATE TABLE bench_lead (
    seq           integer PRIMARY KEY,
    kind          text NOT NULL,       -- repeat | namesake | colleague | recycled | new
    truth_contact bigint,              -- the person it is, NULL when new
    truth_account bigint,              -- the organisation it is, NULL when new
    channel       text NOT NULL,
    payload       jsonb NOT NULL
);

INSERT INTO bench_lead
SELECT s, kind, truth_contact, truth_account, 'website',
       jsonb_strip_nulls(jsonb_build_object(
           'id', s, 'name', lead_name, 'company', lead_company, 'phone', lead_phone,
           'email', lead_email,
           'submitted_at', (timestamptz '2026-11-01 08:00+08' + s * interval '20 seconds')::text))
  FROM (
    SELECT s,
           CASE WHEN s % 100 < 30 THEN 'repeat' WHEN s % 100 < 34 THEN 'namesake'
                WHEN s % 100 < 39 THEN 'colleague' WHEN s % 100 < 41 THEN 'recycled'
                ELSE 'new' END AS kind,
           1 + (s::bigint * 7919) % :contacts AS known       -- the existing person involved
      FROM generate_series(1, :leads) s
  ) l
  JOIN person k ON k.n = l.known
  JOIN crm.account a ON a.id = k.account_id
  -- another organisation in the same city, for the namesake
  JOIN crm.account a2 ON a2.id = CASE WHEN a.id + 10 <= :accounts THEN a.id + 10 ELSE a.id - 10 END
  CROSS JOIN pool p
  CROSS JOIN LATERAL (
    SELECT
      CASE kind WHEN 'repeat' THEN k.n END AS truth_contact,
      CASE WHEN kind IN ('repeat', 'colleague') THEN a.id WHEN kind = 'namesake' THEN a2.id END AS truth_account,
      CASE kind
        WHEN 'repeat' THEN pg_temp.name_variant(k.name, s / 3)
        WHEN 'namesake' THEN k.name                                -- same name, same city
        ELSE pg_temp.pick(p.surname, s / 7) || pg_temp.pick(p.given, s / 17) || pg_temp.pick(p.given, s / 19)
      END AS lead_name,
      CASE kind
        WHEN 'repeat' THEN pg_temp.company_variant(a.name, s / 5)
        WHEN 'namesake' THEN a2.name
        WHEN 'colleague' THEN pg_temp.company_variant(a.name, s / 5)
        ELSE pg_temp.pick(p.city, s) || pg_temp.pick(p.brand, s / 3) || pg_temp.pick(p.brand, s / 29)
             || '鑫' || pg_temp.pick(p.trade, s) || '有限公司'    -- not in the CRM: 鑫 is no brand character
      END AS lead_company,
      CASE
        WHEN kind = 'recycled' THEN pg_temp.phone_variant(k.phone, s)
        WHEN kind = 'repeat' AND s % 5 <> 4 THEN pg_temp.phone_variant(k.phone, s / 11)
        ELSE '1' || pg_temp.pick(ARRAY['36', '35', '89', '98'], s)      -- a number never stored
             || lpad(((s::bigint * 69621) % 100000000)::text, 8, '0')
      END AS lead_phone,
      CASE WHEN kind = 'repeat' AND k.email IS NOT NULL AND s % 3 = 0 THEN upper(k.email) END AS lead_email
  ) v;
ANALYZE bench_lead;

SELECT kind, count(*), count(truth_contact) AS known_person, count(truth_account) AS known_org
  FROM bench_lead GROUP BY kind ORDER BY kind;
