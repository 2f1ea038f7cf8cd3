#!/usr/bin/env bash
# scripts/readme-test.sh: runs, in order and in a fresh database, every
# ```sql block of README.md that follows a line "<!-- tested -->", and fails
# on the first error.  The README's setup and samples are SQL a reader
# copies; this keeps them runnable.  It also checks the table of match
# weights that follows "<!-- match weights" against crm.match_weights() in
# the fresh database: every field and level, m, u and weight (rounded as
# shown), no more, no fewer.  Needs PGHOST etc. (scripts/cluster.sh) and
# prints "readme ... ok" or "readme ... FAILED".
set -uo pipefail
cd "$(dirname "$0")/.."
script=$(mktemp)
trap 'rm -f "$script"' EXIT
awk '/^<!-- tested -->$/ { armed = 1; next }
     armed && /^```sql$/ { inside = 1; armed = 0; next }
     inside && /^```$/ { inside = 0; print ""; next }
     inside { print }
     NF { armed = armed && /^```sql$/ }' README.md >"$script"
if ! [ -s "$script" ]; then
    echo "readme ... FAILED (no tested blocks)"; exit 1
fi
# The weight table's rows as field|level|m|u|weight; an empty field
# cell is the row above's, an empty m or u a derived level's.
weights=$(awk '/^<!-- match weights/ { on = 1; next }
     on && !/^\|/ && seen { exit }
     on && /^\|/ { seen = 1; n = split($0, c, "|")
         for (i = 2; i < n; i++) { gsub(/^ +| +$|`/, "", c[i]); gsub(/−/, "-", c[i]); gsub(/^\+/, "", c[i]) }
         if (c[2] == "field" || c[2] ~ /^-+$/) next
         if (c[2] != "") field = c[2]
         print field "|" c[3] "|" c[5] "|" c[6] "|" c[7] }' README.md)
out=
# Rows that differ, either way: none
weight_check="CREATE TEMP TABLE readme_weight (field text, level text, m text, u text, weight numeric);
COPY readme_weight FROM STDIN WITH (DELIMITER '|', NULL '');
$weights
\\.
SELECT coalesce(r.field, w.field) AS field, coalesce(r.level, w.level) AS level,
       r.m AS readme_m, w.m, r.u AS readme_u, w.u, r.weight AS readme_weight, round(w.weight::numeric, 2) AS weight
  FROM readme_weight r FULL JOIN (SELECT * FROM crm.match_weights() WHERE level <> 'unknown') w
    ON w.field = r.field AND w.level = r.level
 WHERE w.field IS NULL OR r.field IS NULL OR r.weight <> round(w.weight::numeric, 2)
    OR (w.origin = 'shipped') IS DISTINCT FROM (r.m IS NOT NULL AND r.u IS NOT NULL)
    OR r.m::float8 <> w.m OR r.u::float8 <> w.u;"
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c 'CREATE DATABASE readme' &&
psql -X -q -v ON_ERROR_STOP=1 -d readme -c 'CREATE EXTENSION crm CASCADE' >/dev/null &&
wrong=$(printf '%s\n' "$weight_check" | psql -X -q -A -t -v ON_ERROR_STOP=1 -d readme 2>&1) &&
if [ -z "$weights" ] || [ -n "$wrong" ]; then
    printf 'README.md weight table against crm.match_weights():\n%s\n' "${wrong:-no table found}"
    false
fi &&
out=$(psql -X -q -v ON_ERROR_STOP=1 -d readme -f "$script" 2>&1)
rc=$?
if [ $rc -eq 0 ]; then
    echo "readme ... ok (scripts/readme-test.sh)"
else
    printf '%s\n' "$out" | tail -20
    echo "readme ... FAILED (scripts/readme-test.sh)"
fi
psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS readme' >/dev/null 2>&1
exit $rc
