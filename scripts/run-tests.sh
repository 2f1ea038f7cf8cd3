#!/usr/bin/env bash
# scripts/run-tests.sh: runs the regression tests (sql/*.sql), the
# isolation tests (specs/*.spec), the outbox relay's end-to-end test
# (tools/relay/test.sh), a Python application (tools/app_client/test.sh),
# the SQL README.md marks as tested
# (scripts/readme-test.sh) and the dump and restore test
# (scripts/dump-restore-test.sh) against the installed crm, each in its
# own throw-away cluster, and the migration's crash test
# (scripts/import-recovery-test.sh) in one it kills and restarts (scripts/cluster.sh) whose pg_cron belongs to
# that suite's database: contrib_regression and isolation_regression.  Both
# suites always run; the differences of whatever failed are printed, and the
# last line says "tests: N passed, N failed".  Then the upgrade test
# (scripts/upgrade-test.sh): a crm 1.0 catalog with data in it, through
# ALTER EXTENSION crm UPDATE to this checkout's version, in a
# private PostgreSQL and cluster of its own.
set -uo pipefail
cd "$(dirname "$0")/.."
# Throw-away clusters need no durability against a power cut; a crash of
# the server (scripts/*-test.sh kill -9 it) is still recovered from.
export CRM_CLUSTER_SETTINGS=${CRM_CLUSTER_SETTINGS-fsync=off synchronous_commit=off full_page_writes=off}

rm -rf results output_iso regression.diffs regression.out
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

# suite DB MAKE-VARIABLE: make installcheck for one suite, the other emptied
suite() {
    scripts/cluster.sh --cron-db "$1" make --no-print-directory installcheck "$2" 2>&1 | tee -a "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
}
compgen -G 'sql/*.sql' >/dev/null && suite contrib_regression ISOLATION=
compgen -G 'specs/*.spec' >/dev/null && suite isolation_regression REGRESS=
# the outbox relay, end to end (prints "relay ... ok" or "relay ... FAILED").
# Not under valgrind: the relay is a client, and its lease test times a
# server that valgrind slows down twentyfold.
if [ -z "${VALGRIND_LOGDIR:-}" ]; then
    scripts/cluster.sh tools/relay/test.sh 2>&1 | tee -a "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
    # an application in Python (psycopg2) with only the README's grants:
    # webhooks with re-sends and errors by SQLSTATE, a rep's paged work list
    scripts/cluster.sh tools/app_client/test.sh 2>&1 | tee -a "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi
# the SQL README.md marks as tested runs as written ("readme ... ok")
scripts/cluster.sh scripts/readme-test.sh 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
# a busy database through pg_dump and pg_restore, and pg_dump | psql
# (prints "dump-restore ... ok" or "dump-restore ... FAILED")
scripts/cluster.sh scripts/dump-restore-test.sh 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
# a migration killed mid-import (backend, then postmaster) resumes with no
# row lost or imported twice ("import-recovery ... ok"); not under
# valgrind: it kills and restarts its own cluster
if [ -z "${VALGRIND_LOGDIR:-}" ]; then
    scripts/import-recovery-test.sh 2>&1 | tee -a "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi
# release 1.0 with data through ALTER EXTENSION crm UPDATE ("upgrade ... ok");
# not under valgrind: it makes its own cluster
if [ -z "${VALGRIND_LOGDIR:-}" ]; then
    scripts/upgrade-test.sh 2>&1 | tee -a "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi

if [ "$status" -ne 0 ]; then
    for diffs in regression.diffs output_iso/regression.diffs; do
        [ -s "$diffs" ] && { echo "=== $diffs"; cat "$diffs"; }
    done
fi
passed=$(grep -cE '\.\.\. ok ' "$log")
failed=$(grep -cE '\.\.\. (FAILED|failed)' "$log")
# a harness failure (missing expected file, server crash) counts as a failure
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] || status=1
exit "$status"
