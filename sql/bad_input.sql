-- Hostile input: every normaliser gives a defined answer, never a crash.

-- 1 MB strings
SELECT crm.norm_phone(repeat('1', 1048576)) AS phone,
       crm.norm_email(repeat('a', 1048576) || '@qq.com') AS email,
       crm.norm_person_name(repeat('王', 349526)) AS person,
       crm.norm_company_name(repeat('公司', 174763)) AS company,
       crm.uscc_is_valid(repeat('9', 1048576)) AS uscc,
       crm.resident_id_is_valid(repeat('1', 1048576)) AS resident_id,
       crm.customer_code_is_valid(repeat('A', 1048576)) AS customer_code;
SELECT length(crm.pinyin(repeat('张伟', 174763))) AS pinyin_length;
SELECT crm.pinyin(repeat('张', 6000000));

-- Lone combining marks, emoji, control characters, mixed scripts
SELECT label,
       crm.norm_phone(input) AS phone, crm.norm_email(input) AS email,
       crm.norm_person_name(input) AS person, crm.norm_company_name(input) AS company,
       crm.pinyin(input) AS pinyin, crm.uscc_is_valid(input) AS uscc
  FROM (VALUES ('lone combining marks', E'\u0301\u0308\u20DD'),
               ('marks before a name', E'\u0301王伟'),
               ('emoji only', '😀🎉👨‍👩‍👧'),
               ('emoji in a name', '王伟🌹'),
               ('control characters', E'\x01\x02\x1b[31m'),
               ('control inside a name', E'王\x07伟'),
               ('zero-width joiners', E'王\u200d伟\ufeff'),
               ('mixed scripts', 'Иван王Wei 김민준'),
               ('right-to-left', 'محمد 王'),
               ('private use', E'\ue000\uf8ff'),
               ('noncharacters', E'\ufdd0\uffff')) AS t(label, input);

-- A non-UTF8 database is refused at CREATE EXTENSION (checked in the install script)
SELECT pg_catalog.getdatabaseencoding();
