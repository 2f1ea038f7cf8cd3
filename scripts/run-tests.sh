#!/usr/bin/env bash
# scripts/run-tests.sh: runs every regression and isolation test against a
# throw-away cluster with pg_cron preloaded (Debian's pg_virtualenv, which
# works as root), and prints the differences when a test fails.
set -uo pipefail
cd "$(dirname "$0")/.."

rm -rf results output_iso regression.diffs regression.out
pg_virtualenv -o shared_preload_libraries=pg_cron \
    make --no-print-directory installcheck
status=$?
if [ $status -ne 0 ]; then
    for diffs in regression.diffs output_iso/regression.diffs; do
        [ -s "$diffs" ] && { echo "=== $diffs"; cat "$diffs"; }
    done
fi
exit $status
