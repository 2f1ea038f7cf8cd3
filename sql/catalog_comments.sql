-- Every object of schema crm a user or a BI tool sees says what it is:
-- tables, views and their columns, functions, types.  Lists what lacks a
-- COMMENT (expected: nothing).
SELECT c.relname AS relation_without_comment
  FROM pg_class c
 WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
   AND obj_description(c.oid, 'pg_class') IS NULL
 ORDER BY 1;

-- every column of every view (what "rate" means: a fraction or a percent)
SELECT c.relname AS view, a.attname AS column_without_comment
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('v', 'm')
   AND col_description(c.oid, a.attnum) IS NULL
 ORDER BY 1, 2;

SELECT p.oid::regprocedure AS function_without_comment
  FROM pg_proc p
 WHERE p.pronamespace = 'crm'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL
 ORDER BY 1::text;

-- composite types, domains and enums (a table's row type is its table's)
SELECT t.oid::regtype AS type_without_comment
  FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid
 WHERE t.typnamespace = 'crm'::regnamespace AND t.typtype IN ('c', 'd', 'e')
   AND (c.oid IS NULL OR c.relkind = 'c')
   AND obj_description(t.oid, 'pg_type') IS NULL
 ORDER BY 1::text;
