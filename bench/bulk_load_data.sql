-- bench/bulk_load_data.sql: a new user's customer list, to load into an
-- empty crm (bench/bulk_load_run).  :customers people (default 300,000),
-- three to an organisation, eight organisations in ten with a valid unified
-- social credit code; every person has a distinct mobile number, half an
-- e-mail.  Written to bench_customer (n, payload) as the website channel
-- takes it.  Deterministic: arithmetic on the row number only.
\set ON_ERROR_STOP 1
\if :{?customers} \else \set customers 300000 \endif
\ir uscc_function.sql

CREATE FUNCTION pg_temp.pick(arr text[], n bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT arr[1 + (n % array_length(arr, 1))] $$;

CREATE TABLE bench_customer (n integer PRIMARY KEY, payload jsonb NOT NULL);
WITH pool AS (
  SELECT string_to_array('王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤', NULL) AS surname,
         string_to_array('伟芳娜敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华建国志文辉玉红海燕晓东永丹凤俊婷雪梅浩然子涵欣怡宇轩梓萱佳琪思远博文嘉怡', NULL) AS given,
         -- 24 brand characters: 24^3 x 8 trades, a distinct name for each of 110,592 organisations
         string_to_array('康泰瑞达华信恒通博远中科天宇宏图安盛新元金诺迈德联创海纳', NULL) AS brand,
         ARRAY['医疗器械', '生物科技', '医疗科技', '教育科技', '机械制造', '信息技术', '电子', '精密仪器'] AS trade,
         ARRAY['杭州', '上海', '北京', '深圳', '广州', '南京', '苏州', '成都', '武汉', '西安'] AS city),
person AS (SELECT c, (c - 1) / 3 AS org FROM generate_series(1::bigint, :customers) c)
INSERT INTO bench_customer
SELECT c, jsonb_strip_nulls(jsonb_build_object(
         'id', 'customer-' || c,
         'name', pg_temp.pick(p.surname, (c * 7) % 97) || pg_temp.pick(p.given, c / 11)
                 || CASE WHEN c % 3 = 0 THEN pg_temp.pick(p.given, c / 13) ELSE '' END,
         'company', pg_temp.pick(p.city, org) || pg_temp.pick(p.brand, org) || pg_temp.pick(p.brand, org / 24)
                    || pg_temp.pick(p.brand, org / 576) || pg_temp.pick(p.trade, org / 13824) || '有限公司',
         'credit_code', CASE WHEN org % 10 < 8 THEN pg_temp.uscc(org + 1) END,
         'phone', '1' || pg_temp.pick(ARRAY['38', '39', '50', '58', '86', '88', '37', '77'], c)
                  || lpad(((c * 48271) % 100000000)::text, 8, '0'),
         'email', CASE WHEN c % 2 = 0 THEN 'u' || c || '@corp.cn' END,
         'submitted_at', '2026-11-01T08:00:00+08:00'))
  FROM person, pool p;
ANALYZE bench_customer;
