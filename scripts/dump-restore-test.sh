#!/usr/bin/env bash
# scripts/dump-restore-test.sh: a busy crm database survives pg_dump and
# pg_restore (custom format) and pg_dump | psql (plain format) unchanged,
# and the next sweep does the same in the copy as in the original.
#
# Runs against the cluster PGHOST/PGPORT/PGUSER name (make test runs it in a
# throw-away one: scripts/cluster.sh scripts/dump-restore-test.sh), creates
# its databases afresh, and prints "dump-restore ... ok" or
# "dump-restore ... FAILED: why" (the form scripts/run-tests.sh counts).
#
# Compared: every table of schema crm, row for row (the list comes from the
# catalog, so a new table is covered without a change here), and every
# sequence's state.  After the sweep, a timestamp equal to the sweep's own
# transaction time is compared as the word "sweep": it is the wall clock of
# that sweep (crm.sla_timer.breached_at, crm.outbox.created_at and
# available_at, crm.alarm.last_seen_at, crm.lead.scored_at and
# status_changed_at, ...), different in the two databases by construction.
# Every other value must be equal.
set -Eeuo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=dump_source
work=$(mktemp -d)
failed_at=

fail() { failed_at=; echo "dump-restore ... FAILED: $*"; exit 1; }
trap 'failed_at="line $LINENO: $BASH_COMMAND"' ERR
finish() {
    local status=$?
    rm -rf "$work"
    if [ "$status" -ne 0 ] && [ -n "$failed_at" ]; then
        echo "dump-restore ... FAILED: $failed_at (exit $status)"
    fi
}
trap finish EXIT

q() { psql -d "$1" -XAtq -v ON_ERROR_STOP=1 -c "$2"; }
fresh_db() {
    psql -d postgres -XAtq -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
}

# snapshot DB FILE [SWEEP_TIME]: every crm table, sorted on all its columns,
# and every crm sequence, written to FILE
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
              GROUP BY c.oid ORDER BY 1::text" > "$work/tables.$db"
    while IFS='|' read -r table columns; do
        echo "\\echo == $table"
        echo "COPY (SELECT $columns FROM $table ORDER BY $(seq -s, 1 "$(awk -F', ' '{print NF}' <<< "$columns")")) TO STDOUT;"
    done < "$work/tables.$db" > "$work/copies.$db"
    q "$db" "SELECT format('SELECT ''== %1\$s'', last_value, is_called FROM %1\$s;', c.oid::regclass)
               FROM pg_class c WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'S'
              ORDER BY 1" >> "$work/copies.$db"
    psql -d "$db" -XAtq -v ON_ERROR_STOP=1 -f "$work/copies.$db" > "$out"
}

# pg_dump warns of the self-references of crm.account and crm.contact
# (merged_into): it orders extension tables' data by their foreign keys and
# has no order for rows within one table.  One COPY restores them, since
# foreign keys are checked at the end of the statement.
without_self_reference_warnings() {
    grep -vE '^pg_dump: (warning: there are circular foreign-key constraints on this table:|detail: (account|contact)$|hint: You might not be able to restore the dump|hint: Consider using a full dump)'
}

# same WHAT A B: the snapshots A and B are equal, or the test fails showing how
same() {
    diff -u "$2" "$3" > "$work/diff" || {
        head -c 3000 "$work/diff"
        fail "$1: $(grep -c '^[-+][^-+]' "$work/diff") rows differ (first differences above)"
    }
}

# the source database, busy
fresh_db "$src"
q "$src" "CREATE EXTENSION crm CASCADE"
psql -d "$src" -Xq -v ON_ERROR_STOP=1 -f "$here/dump-restore-busy.sql" > /dev/null 2> "$work/err" ||
    fail "the busy database: $(grep -m3 -E 'ERROR|DETAIL' "$work/err" | tr '\n' ' ')"

# custom format through pg_restore, plain format through psql: exit 0, and
# not a word on stderr
for format in c p; do
    pg_dump -F$format -d "$src" -f "$work/dump.$format" 2> "$work/err" || fail "pg_dump -F$format: $(cat "$work/err")"
    ! without_self_reference_warnings < "$work/err" | grep . || fail "pg_dump -F$format warned"
done
snapshot "$src" "$work/source"

# as the documentation has it: an empty database made by createdb.  (Not
# in parallel: pg_restore -j loads extension tables' data without the
# foreign-key order pg_dump gives it, and a lead may come before its
# channel.  README says so.)
psql -d postgres -XAtq -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS dump_restored WITH (FORCE)"
createdb dump_restored
status=0
pg_restore -d dump_restored "$work/dump.c" 2> "$work/err" || status=$?
[ "$status" -eq 0 ] || fail "pg_restore exited $status: $(grep -m3 -E 'ERROR|DETAIL' "$work/err" | tr '\n' ' ')"
[ ! -s "$work/err" ] || fail "pg_restore wrote to stderr: $(head -5 "$work/err")"
snapshot dump_restored "$work/restored"
same "after pg_restore" "$work/source" "$work/restored"

fresh_db dump_plain
status=0
psql -d dump_plain -Xq -v ON_ERROR_STOP=1 -f "$work/dump.p" > /dev/null 2> "$work/err" || status=$?
[ "$status" -eq 0 ] || fail "psql of the plain dump exited $status: $(grep -m3 -E 'ERROR|DETAIL' "$work/err" | tr '\n' ' ')"
[ ! -s "$work/err" ] || fail "psql of the plain dump wrote to stderr: $(head -5 "$work/err")"
snapshot dump_plain "$work/plain"
same "after pg_dump | psql" "$work/source" "$work/plain"

# The next sweep, with the same timers made due in both: what was breached
# escalates, what was open breaches, waiting leads are tried again, alarms
# refresh.  It must do the same in the copy as in the original.
for db in "$src" dump_restored; do
    q "$db" "UPDATE crm.sla_wakeup SET fire_at = fire_at - interval '7 days'"
    sweep=$(q "$db" "SELECT now() FROM crm.run_timeouts()")
    snapshot "$db" "$work/swept.$db" "$sweep"
done
same "after the next sweep" "$work/swept.$src" "$work/swept.dump_restored"
grep -q "	sweep	" "$work/swept.$src" || fail "the sweep changed nothing: the comparison proves nothing"

echo "dump-restore ... ok (scripts/dump-restore-test.sh)"
