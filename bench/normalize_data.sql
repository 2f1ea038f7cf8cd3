-- 1M realistic inputs for each normaliser, deterministic (setseed).
SET max_parallel_workers_per_gather = 0;
SELECT setseed(0.42);

DROP TABLE IF EXISTS bench_input;
CREATE UNLOGGED TABLE bench_input AS
WITH surnames AS (SELECT string_to_array('王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐許韓馮鄧曹彭曾肖田董潘袁蔡蒋余于杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤单区', NULL) AS a),
     given AS (SELECT string_to_array('伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志强文辉玉兰小红海燕国强晓东志明永红丹凤俊杰婷婷雪梅浩然子涵欣怡宇轩梓萱', NULL) AS a),
     titles AS (SELECT ARRAY['', '', '', '', '(先生)', '（女士）', '经理', ' 主任', '总', '院长', '老师', '（采购）', ' 先生'] AS a),
     regions AS (SELECT ARRAY['', '', '杭州', '浙江省杭州市', '上海', '北京市', '深圳', '广州市天河区', '苏州', '南京'] AS a),
     cores AS (SELECT ARRAY['海康威视', '鸿达', '恒瑞', '迈瑞', '联影', '新华', '华信', '金蝶', '用友', '东方', '中科', '博润', '安泰', '瑞康', '天宇', '宏图'] AS a),
     trades AS (SELECT ARRAY['数字技术', '医疗器械', '科技', '教育科技', '生物医药', '机械制造', '信息技术', '贸易'] AS a),
     forms AS (SELECT ARRAY['有限公司', '股份有限公司', '有限责任公司', '（杭州）有限公司', '集团有限公司', ' Co., Ltd.', '有限公司深圳分公司'] AS a),
     phones AS (SELECT ARRAY['13', '15', '18', '17', '19'] AS a)
SELECT n,
       -- phones in the formats leads arrive in
       CASE n % 8
         WHEN 0 THEN m || ' ' || substr(d, 1, 4) || ' ' || substr(d, 5, 4)
         WHEN 1 THEN '+86-' || m || '-' || substr(d, 1, 4) || '-' || substr(d, 5, 4)
         WHEN 2 THEN '0086 ' || m || d
         WHEN 3 THEN translate(m || d, '0123456789', '０１２３４５６７８９')
         WHEN 4 THEN '0571-' || substr(d, 1, 8) || ' 转 ' || (n % 900 + 100)
         WHEN 5 THEN '(021) ' || substr(d, 1, 4) || ' ' || substr(d, 5, 4)
         WHEN 6 THEN m || d
         ELSE '86' || m || d
       END AS phone,
       CASE n % 4
         WHEN 0 THEN ' User' || n || '@QQ.com '
         WHEN 1 THEN 'zhang.' || n || '@163.com'
         WHEN 2 THEN 'Li' || n || '@Corp-Example.CN'
         ELSE 'ｗａｎｇ' || n || '＠１２６．ｃｏｍ'
       END AS email,
       s.a[1 + n % array_length(s.a, 1)] || g.a[1 + (n / 7) % array_length(g.a, 1)]
         || CASE WHEN n % 3 = 0 THEN g.a[1 + (n / 11) % array_length(g.a, 1)] ELSE '' END
         || t.a[1 + (n / 13) % array_length(t.a, 1)] AS person,
       r.a[1 + n % array_length(r.a, 1)] || c.a[1 + (n / 3) % array_length(c.a, 1)]
         || tr.a[1 + (n / 5) % array_length(tr.a, 1)] || f.a[1 + (n / 17) % array_length(f.a, 1)] AS company
  FROM generate_series(1, 1000000) n,
       LATERAL (SELECT p.a[1 + n % 5] || (n % 10)::text AS m,
                       lpad(((n::bigint * 7919) % 100000000)::text, 8, '1') AS d
                  FROM phones p) x,
       surnames s, given g, titles t, regions r, cores c, trades tr, forms f;
ANALYZE bench_input;
