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
test_name=dump-restore
. "$(dirname "$0")/test-lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
src=dump_source

# pg_dump warns of the self-references of crm.account and crm.contact
# (merged_into): it orders extension tables' data by their foreign keys and
# has no order for rows within one table.  One COPY restores them, since
# foreign keys are checked at the end of the statement.
without_self_reference_warnings() {
    grep -vE '^pg_dump: (warning: there are circular foreign-key constraints on this table:|detail: (account|contact)$|hint: You might not be able to restore the dump|hint: Consider using a full dump)'
}

# the source database, busy
fresh_db "$src"
q "$src" "CREATE EXTENSION crm CASCADE"
run_sql "$src" "$here/dump-restore-busy.sql"
# data of the areas after release 1.0, then: every table has rows
for busy in "$here"/dump-restore-busy-*.sql; do run_sql "$src" "$busy"; done
run_sql "$src" "$here/dump-restore-check.sql"

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
