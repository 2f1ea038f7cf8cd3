#!/usr/bin/env bash
# scripts/valgrind-test.sh: runs the regression and isolation suites
# (scripts/run-tests.sh) with the server and every backend under valgrind
# memcheck, and fails if a test fails or valgrind reports any error that
# scripts/valgrind.supp does not suppress; reports with a frame in crm's
# code are printed first.
#
# What this can see: Debian's postgres is built without USE_VALGRIND, so
# palloc'd memory is not tracked chunk by chunk and an overrun inside a
# memory context block goes unnoticed (the fuzzer's AddressSanitizer covers
# the core for that).  It does see uninitialised values, misuse of malloc'd
# memory (ICU's) and accesses outside PostgreSQL's blocks.  PostgreSQL's own
# reports (struct padding it writes to disk) are suppressed in
# scripts/valgrind.supp.  A report without a crm frame still fails the run:
# crm may be the cause (padding it left in a value that reaches WAL, say);
# read it, then fix crm or, if it is PostgreSQL's alone, add a suppression.
set -uo pipefail
cd "$(dirname "$0")/.."

logs=$(mktemp -d /tmp/crm-valgrind.XXXXXX)
chown postgres: "$logs"
VALGRIND_LOGDIR=$logs scripts/run-tests.sh
status=$?

# A report runs from "==PID== Headline" to the next bare "==PID==" line.
# Frames in crm's code read "(/path/src/file.c:123)" or "(in .../crm.so)".
awk -v ours="$logs/ours" -v other="$logs/other" '
    function flush() { if (blk != "") print blk "\n" > (blk ~ crm ? ours : other); blk = "" }
    BEGIN               { crm = "crm\\.so|/src/(core/)?[A-Za-z0-9_]+\\.c:[0-9]+\\)" }
    FNR == 1            { flush() }
    /^==[0-9]+== Warning: set address range perms/ { next }
    /^==[0-9]+== [A-Z]/ { flush(); blk = $0; next }
    /^==[0-9]+== *$/    { flush(); next }
    blk != ""           { blk = blk "\n" $0 }
    END                 { flush() }
' "$logs"/vg.*.log
n_ours=$(grep -cE '^==[0-9]+== [A-Z]' "$logs/ours" 2>/dev/null)
n_other=$(grep -cE '^==[0-9]+== [A-Z]' "$logs/other" 2>/dev/null)
for f in ours other; do
    [ -s "$logs/$f" ] && { echo "=== valgrind reports ($f)"; head -c 200000 "$logs/$f"; }
done
echo "valgrind: ${n_ours:-0} reports through crm's code, ${n_other:-0} others"
[ "${n_ours:-0}" -eq 0 ] && [ "${n_other:-0}" -eq 0 ] || status=1
if [ "$status" -eq 0 ]; then rm -rf "$logs"; else echo "valgrind and server logs: $logs"; fi
exit "$status"
