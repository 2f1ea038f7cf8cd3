# scripts/test-lib.sh: what the database harnesses share, sourced by
# scripts/dump-restore-test.sh and scripts/upgrade-test.sh.  The sourcing
# script sets test_name first: failures print "$test_name ... FAILED: why",
# the form scripts/run-tests.sh counts.  It gets $work, a temporary
# directory removed at exit, and an error trap that reports the failing
# command.  Every function runs against the cluster PGHOST/PGPORT/PGUSER name.
set -Eeuo pipefail
work=$(mktemp -d)
failed_at=

fail() { failed_at=; echo "$test_name ... FAILED: $*"; exit 1; }
trap 'failed_at="line $LINENO: $BASH_COMMAND"' ERR
finish() {
    local status=$?
    rm -rf "$work"
    if [ "$status" -ne 0 ] && [ -n "$failed_at" ]; then
        echo "$test_name ... FAILED: $failed_at (exit $status)"
    fi
}
trap finish EXIT

# q DB SQL: one statement, unaligned tuples only
q() { psql -d "$1" -XAtq -v ON_ERROR_STOP=1 -c "$2"; }
# fresh_db DB: DB dropped if it exists, and created empty
fresh_db() {
    psql -d postgres -XAtq -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
}
# run_sql DB FILE [psql options]: a script, quiet; fails with its first errors
run_sql() {
    local db=$1 file=$2
    shift 2
    psql -d "$db" -Xq -v ON_ERROR_STOP=1 "$@" -f "$file" > /dev/null 2> "$work/err" ||
        fail "$(basename "$file") in $db: $(grep -m3 -E 'ERROR|DETAIL' "$work/err" | tr '\n' ' ')"
}

# snapshot DB FILE [SWEEP_TIME]: every crm table, sorted on all its columns,
# and every crm sequence, written to FILE.  With SWEEP_TIME, a timestamptz
# equal to it is written as the word "sweep" (scripts/dump-restore-test.sh).
snapshot() {
    local db=$1 out=$2 sweep=${3:-}
    q "$db" "SELECT c.oid::regclass, string_agg(
                CASE WHEN a.atttypid = 'timestamptz'::regtype AND '$sweep' <> ''
                     THEN format('CASE WHEN %I = %L THEN ''sweep'' ELSE %I::text END',
                                 a.attname, '$sweep', a.attname)
                     ELSE quote_ident(a.attname) END, ', ' ORDER BY a.attnum)
               FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
                                                    AND NOT a.attisdropped
              WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'p')
              GROUP BY c.oid ORDER BY c.oid::regclass::text" > "$work/tables.$db"
    while IFS='|' read -r table columns; do
        echo "\\echo == $table"
        echo "COPY (SELECT $columns FROM $table ORDER BY $(seq -s, 1 "$(awk -F', ' '{print NF}' <<< "$columns")")) TO STDOUT;"
    done < "$work/tables.$db" > "$work/copies.$db"
    q "$db" "SELECT format('SELECT ''== %1\$s'', last_value, is_called FROM %1\$s;', c.oid::regclass)
               FROM pg_class c WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'S'
              ORDER BY 1" >> "$work/copies.$db"
    psql -d "$db" -XAtq -v ON_ERROR_STOP=1 -f "$work/copies.$db" > "$out"
}

# same WHAT A B: the files A and B are equal, or the test fails showing how
same() {
    diff -u "$2" "$3" > "$work/diff" || {
        head -c 3000 "$work/diff"; echo
        fail "$1: $(grep -c '^[-+][^-+]' "$work/diff") lines differ (first differences above)"
    }
}
