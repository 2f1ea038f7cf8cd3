-- Normalisers and validators: test vectors from the contract and the issue.

-- Phones: mobiles in every format users type them
SELECT input, crm.norm_phone(input) AS e164
  FROM (VALUES ('138 0013 8000'), ('+86-138-0013-8000'), ('0086 13800138000'),
               ('８６１３８００１３８０００'), ('１３８００１３８０００'), ('+86 138.0013.8000'),
               ('(+86)138-0013-8000'), ('8613800138000'), ('013800138000'),
               (' 13800138000 '), ('＋８６　１３８　００１３　８０００')) AS t(input);

-- Phones: landlines, area codes, extensions, service numbers, abroad
SELECT input, crm.norm_phone(input) AS e164
  FROM (VALUES ('0571-8888 6666'), ('0571-88886666 转 8021'), ('0571-88886666 ext. 12'),
               ('0571-88886666-12'), ('021 6888 1234'), ('010-6552 9988'),
               ('0938 8212345'), ('+86 571 8888 6666'), ('+86 (0)571 88886666'),
               ('86 571 8888 6666'), ('400-820-8820'), ('+852 9123 4567'),
               ('+1 (415) 555-0100')) AS t(input);

-- Phones: numbers that cannot exist, and junk
SELECT input, crm.norm_phone(input) AS e164
  FROM (VALUES ('12345678901'), ('1380013800'), ('138001380001'), ('88886666'),
               ('0000000'), ('1380013800012'), (''), ('   '), ('abc'),
               ('138 0013 8000 (mobile)'), (E'138\t0013\x01 8000'),
               ('138 0013 8000😀'), ('95588')) AS t(input);

-- E-mails
SELECT input, crm.norm_email(input) AS email
  FROM (VALUES (' Zhang.San@QQ.com '), ('ＺＳ＠ｑｑ．ｃｏｍ'), ('zs@163。com'),
               ('Zhang San <ZS@Example.COM>'), ('mailto:a@b.cn'), (E'\u3000li.si@Corp.CN\u3000'),
               ('zhang san@qq.com'), ('a@@b.com'), ('a@b'), ('a@b.c'), ('.a@b.com'),
               ('a..b@b.com'), ('a@-b.com'), ('a@b-.com'), (''), ('   '),
               ('张三@qq.com'), ('a@b.com😀'), (E'a\x01@b.com')) AS t(input);

-- Person names: honorifics, titles, brackets, traditional, spacing, Latin
SELECT input, crm.norm_person_name(input) AS name_key
  FROM (VALUES ('王伟(先生)'), ('王伟（先生）'), ('李娜（女士）'), ('张敏 经理'),
               ('刘洋主任'), ('陈总'), ('赵副院长'), ('王先生'), ('張偉'),
               ('張偉（經理）'), ('  张  伟 '), ('迪丽热巴・迪力木拉提'),
               ('Mr. David  Chen'), ('ＤＡＶＩＤ　ＣＨＥＮ'), ('O''Brien, Pat'),
               ('陈小明😀'), ('先生'), ('(先生)'), (''), ('   ')) AS t(input);

-- Company names: legal forms, regions, brackets, traditional, Latin
SELECT input, crm.norm_company_name(input) AS core_name
  FROM (VALUES ('杭州海康威视数字技术股份有限公司'), ('海康威视数字技术（杭州）有限公司'),
               ('海康威视数字技术有限责任公司'), ('海康威视数字技术股份公司'),
               ('浙江省杭州市余杭区阿里巴巴网络技术有限公司'), ('阿里巴巴（中国）有限公司'),
               ('华为技术有限公司深圳分公司'), ('騰訊科技（深圳）有限公司'),
               ('Hangzhou Hikvision Digital Technology Co., Ltd.'),
               ('Cisco Systems, Inc.'), ('Siemens Healthineers GmbH'),
               ('杭州银行股份有限公司'), ('杭州市第一人民医院'), ('北京大学'),
               ('鸿达集团有限公司'), ('鸿达控股集团股份有限公司'), ('鸿达投资合伙企业（有限合伙）'),
               ('鸿达科技有限公司北京分公司'), ('Hongda Trading Limited'), ('Hongda Trading Corporation'),
               ('HONGDA TRADING CO LTD'), ('Hongda Holdings Group Inc'), ('cisco'),
               ('上海有限公司'), ('有限公司'), (''), ('   ')) AS t(input);

-- Two spellings of one organisation share the core name
SELECT crm.norm_company_name('杭州海康威视数字技术股份有限公司')
     = crm.norm_company_name('海康威视数字技术（杭州）有限公司') AS same_org;

-- Pinyin: surnames at the head, place names, ü, mixed text
SELECT input, crm.pinyin(input) AS pinyin
  FROM (VALUES ('张伟'), ('長沙'), ('长沙'), ('单伟'), ('曾小贤'), ('解晓东'),
               ('仇英'), ('区志明'), ('朴正熙'), ('查良镛'), ('重庆长安汽车'),
               ('吕布'), ('厦门'), ('张区'), ('ABC公司123'), ('王 伟'), ('🙂'),
               ('')) AS t(input);

-- The override table is data, visible to SQL
SELECT count(*) > 100 AS loaded, count(*) FILTER (WHERE scope = 'surname') > 50 AS surnames
  FROM crm.pinyin_overrides();
SELECT * FROM crm.pinyin_overrides() WHERE key IN ('单', '长沙') ORDER BY key;

-- Unified social credit codes (GB 32100-2015)
SELECT input, crm.uscc_is_valid(input) AS valid, crm.norm_uscc(input) AS canonical
  FROM (VALUES ('91110000600037341L'), ('91110000600037341l'), (' 91110000600037341L '),
               ('９１１１００００６０００３７３４１Ｌ'), ('91110000600037341X'),
               ('9111000060003734'), ('91110000600037341L0'), ('91110000600O37341L'),
               ('')) AS t(input);

-- Resident IDs (GB 11643-1999)
SELECT input, crm.resident_id_is_valid(input) AS valid
  FROM (VALUES ('11010519491231002X'), ('11010519491231002x'), ('110105200002290021'),
               ('110105194912310021'),   -- wrong check digit
               ('110105194902300020'),   -- 30 February
               ('110105190002290025'),   -- 29 February 1900
               ('110105194913310021'),   -- month 13
               ('110105180012310027'),   -- born 1800
               ('990105194912310023'),   -- no province 99
               ('1101051949123100'), ('')) AS t(input);

-- Customer codes: generated codes validate; any one-character change is caught
SELECT crm.customer_code_from_serial(1) AS first_code,
       crm.customer_code_is_valid(crm.customer_code_from_serial(1)) AS valid;
SELECT count(*) AS codes, count(DISTINCT code) AS distinct_codes,
       bool_and(crm.customer_code_is_valid(code)) AS all_valid,
       bool_and(code ~ '^[0-9A-HJ-NP-Z]{8}$') AS alphabet_ok
  FROM (SELECT crm.customer_code_from_serial(n) AS code FROM generate_series(1, 20000) n) s;
WITH codes AS (SELECT crm.customer_code_from_serial(n) AS code FROM generate_series(1, 300) n),
     alphabet AS (SELECT substr('0123456789ABCDEFGHJKLMNPQRSTUVWXYZ', i, 1) AS ch
                    FROM generate_series(1, 34) i),
     mutated AS (SELECT overlay(code PLACING ch FROM pos FOR 1) AS code
                   FROM codes, alphabet, generate_series(1, 8) pos
                  WHERE substr(code, pos, 1) <> ch)
SELECT count(*) AS single_substitutions,
       count(*) FILTER (WHERE crm.customer_code_is_valid(code)) AS undetected
  FROM mutated;
SELECT crm.customer_code_is_valid('I0000000') AS with_i,
       crm.customer_code_is_valid('') AS empty,
       crm.customer_code_is_valid(' ｙ９７ｊｇ０ｆｗ ') AS full_width_lower_case;
SELECT crm.customer_code_from_serial(-1);
SELECT crm.customer_code_from_serial(52523350144);

-- Region codes (GB/T 2260)
SELECT input, crm.region_code_is_valid(input) AS valid
  FROM (VALUES ('330100'), ('110000'), ('990000'), ('33010'), ('3301000')) AS t(input);

-- Every normaliser is IMMUTABLE STRICT PARALLEL SAFE, and every function is documented
SELECT p.proname, p.provolatile, p.proisstrict, p.proparallel
  FROM pg_proc p
 WHERE p.pronamespace = 'crm'::regnamespace
   AND p.proname IN ('norm_phone', 'norm_email', 'norm_person_name', 'norm_company_name',
                     'pinyin', 'uscc_is_valid', 'resident_id_is_valid', 'customer_code_is_valid')
 ORDER BY 1;
SELECT p.oid::regprocedure AS undocumented
  FROM pg_proc p
 WHERE p.pronamespace = 'crm'::regnamespace
   AND obj_description(p.oid, 'pg_proc') IS NULL;
