#!/usr/bin/env bash
# scripts/readme-test.sh: runs, in order and in a fresh database, every
# ```sql block of README.md that follows a line "<!-- tested -->", and fails
# on the first error.  The README's setup and samples are SQL a reader
# copies; this keeps them runnable.  Needs PGHOST etc. (scripts/cluster.sh)
# and prints "readme ... ok" or "readme ... FAILED".
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
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c 'CREATE DATABASE readme' &&
psql -X -q -v ON_ERROR_STOP=1 -d readme -c 'CREATE EXTENSION crm CASCADE' >/dev/null &&
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
