#!/usr/bin/env bash
# scripts/run-tests.sh: runs every regression and isolation test against a
# throw-away cluster with pg_cron preloaded (Debian's pg_virtualenv, which
# works as root), prints the differences when a test fails, and ends with
# one "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."

rm -rf results output_iso regression.diffs regression.out
log=$(mktemp)
scripts/cluster.sh make --no-print-directory installcheck 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
    for diffs in regression.diffs output_iso/regression.diffs; do
        [ -s "$diffs" ] && { echo "=== $diffs"; cat "$diffs"; }
    done
fi
passed=$(grep -cE '^(ok|test) .* \.\.\. ok' "$log")
failed=$(grep -cE '\.\.\. FAILED|\.\.\. failed' "$log")
rm -f "$log"
# a harness failure (missing expected file, server crash) counts as a failure
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] || status=1
exit "$status"
