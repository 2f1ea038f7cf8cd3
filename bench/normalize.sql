-- Throughput of each normaliser over 1M inputs, in one backend (one core),
-- beside the best stock-SQL equivalent.  Each query runs 3 times; the best
-- run counts.  Run through bench/run (make bench).
SET max_parallel_workers_per_gather = 0;
SET jit = off;

CREATE TEMP TABLE bench_result (name text, rows bigint, best_ms numeric);

CREATE FUNCTION pg_temp.best_of_three(label text, query text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz;
    best numeric := NULL;
    n bigint;
BEGIN
    FOR i IN 1..3 LOOP
        started := clock_timestamp();
        EXECUTE query INTO n;
        best := least(best, extract(epoch FROM clock_timestamp() - started) * 1000);
    END LOOP;
    -- rows read, whatever the function returned for them
    INSERT INTO bench_result
    SELECT label, count(*), round(best, 1) FROM bench_input;
END
$$;

-- Baselines first: the cost of reading the column at all
SELECT pg_temp.best_of_three('scan only (phone)', 'SELECT count(length(phone)) FROM bench_input');

-- Phones: crm vs translate + regexp_replace + a mainland regex
SELECT pg_temp.best_of_three('crm.norm_phone', 'SELECT count(crm.norm_phone(phone)) FROM bench_input');
SELECT pg_temp.best_of_three('stock SQL phone', $q$
SELECT count(CASE
         WHEN d ~ '^(0086|86)?1[3-9][0-9]{9}$' THEN '+86' || right(d, 11)
         WHEN d ~ '^(0086|86)?0?[1-9][0-9]{9,10}$' THEN '+86' || ltrim(regexp_replace(d, '^(0086|86)', ''), '0')
       END)
  FROM (SELECT regexp_replace(split_part(split_part(translate(phone, '０１２３４５６７８９＋', '0123456789+'),
                                                   '转', 1), 'ext', 1),
                              '[^0-9]', '', 'g') AS d
          FROM bench_input) s$q$);

-- The cheapest stock SQL that still strips separators (misses full-width and extensions)
SELECT pg_temp.best_of_three('stock SQL phone, minimal', $q$
SELECT count(CASE WHEN d ~ '^(86)?1[3-9][0-9]{9}$' THEN '+86' || right(d, 11) END)
  FROM (SELECT regexp_replace(phone, '[^0-9]', '', 'g') AS d FROM bench_input) s$q$);

-- E-mails: crm vs translate + lower + btrim + an address regex
SELECT pg_temp.best_of_three('crm.norm_email', 'SELECT count(crm.norm_email(email)) FROM bench_input');
SELECT pg_temp.best_of_three('stock SQL email', $q$
SELECT count(CASE WHEN e ~ '^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)+$' THEN e END)
  FROM (SELECT lower(btrim(translate(email,
          'ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ０１２３４５６７８９＠．。',
          'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@..'), E' \t\u3000')) AS e
          FROM bench_input) s$q$);

-- The cheapest stock SQL: lower + btrim + the same regex, no full-width folding
SELECT pg_temp.best_of_three('stock SQL email, minimal', $q$
SELECT count(CASE WHEN e ~ '^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)+$' THEN e END)
  FROM (SELECT lower(btrim(email)) AS e FROM bench_input) s$q$);

-- Names, companies, pinyin (no stock-SQL equivalent folds traditional characters)
SELECT pg_temp.best_of_three('crm.norm_person_name', 'SELECT count(crm.norm_person_name(person)) FROM bench_input');
SELECT pg_temp.best_of_three('crm.norm_company_name', 'SELECT count(crm.norm_company_name(company)) FROM bench_input');
SELECT pg_temp.best_of_three('crm.pinyin (person)', 'SELECT count(crm.pinyin(person)) FROM bench_input');
SELECT pg_temp.best_of_three('crm.uscc_is_valid', $q$SELECT count(*) FILTER (WHERE crm.uscc_is_valid('91110000600037341L')) FROM bench_input$q$);

SELECT name, rows, best_ms,
       round(rows / (best_ms / 1000.0)) AS per_second
  FROM bench_result;

SELECT round((SELECT best_ms FROM bench_result WHERE name = 'stock SQL phone')
           / (SELECT best_ms FROM bench_result WHERE name = 'crm.norm_phone'), 1) AS phone_speedup,
       round((SELECT best_ms FROM bench_result WHERE name = 'stock SQL email')
           / (SELECT best_ms FROM bench_result WHERE name = 'crm.norm_email'), 1) AS email_speedup,
       round((SELECT best_ms FROM bench_result WHERE name = 'stock SQL phone, minimal')
           / (SELECT best_ms FROM bench_result WHERE name = 'crm.norm_phone'), 1) AS phone_vs_minimal,
       round((SELECT best_ms FROM bench_result WHERE name = 'stock SQL email, minimal')
           / (SELECT best_ms FROM bench_result WHERE name = 'crm.norm_email'), 1) AS email_vs_minimal;
