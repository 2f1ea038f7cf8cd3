-- bench/uscc_function.sql: pg_temp.uscc(n), for the benchmarks' data.
-- A valid, distinct (n < 10,000,000) unified social credit code for serial n (GB 32100 check character).
CREATE FUNCTION pg_temp.uscc(n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
WITH body AS (SELECT '9133' || lpad((n % 10000)::text, 4, '0') || 'MA'
                     || lpad(((n * 7919) % 10000000)::text, 7, '0') AS b),
     chk AS (SELECT b, (31 - sum((position(substr(b, i, 1) IN '0123456789ABCDEFGHJKLMNPQRTUWXY') - 1)
                                 * ((3 ^ (i - 1))::bigint % 31)) % 31) % 31 AS c
               FROM body, generate_series(1, 17) i GROUP BY b)
SELECT b || substr('0123456789ABCDEFGHJKLMNPQRTUWXY', c::int + 1, 1) FROM chk $$;
