#!/usr/bin/env bash
# scripts/valgrind-test.sh: runs the regression and isolation suites with
# every backend under valgrind memcheck, then fails if valgrind reports an
# error in a stack that passes through crm.so.
#
# Debian's postgres is not built with USE_VALGRIND, so valgrind also flags
# PostgreSQL's own deliberate patterns (uninitialised padding written to
# WAL, shared memory tricks); those stacks never touch crm and are counted
# but not failed on.
set -uo pipefail
cd "$(dirname "$0")/.."

bindir=$(pg_config --bindir)
work=$(mktemp -d /tmp/crm-valgrind.XXXXXX)
chown postgres "$work"
port=54329
as_postgres() { runuser -u postgres -- "$@"; }

as_postgres "$bindir/initdb" -D "$work/data" -A trust -E UTF8 --locale=C.UTF-8 -U postgres >/dev/null
as_postgres valgrind --quiet --trace-children=yes --track-origins=yes \
    --read-var-info=no --leak-check=no --num-callers=30 \
    --log-file="$work/vg.%p.log" \
    "$bindir/postgres" -D "$work/data" -p $port -k "$work" \
    -c shared_preload_libraries=pg_cron -c listen_addresses='' \
    -c max_parallel_workers_per_gather=0 >"$work/server.log" 2>&1 &
for _ in $(seq 120); do
    "$bindir/pg_isready" -q -h "$work" -p $port && break
    sleep 1
done

rm -rf results output_iso regression.diffs
PGHOST="$work" PGPORT=$port PGUSER=postgres make --no-print-directory installcheck
status=$?
as_postgres "$bindir/pg_ctl" -D "$work/data" -m fast -w -t 300 stop >/dev/null

ours=0
total=0
for log in "$work"/vg.*.log; do
    # each error block starts with a line like "==123== Invalid read" and
    # runs to the next blank "==123== " line
    n=$(awk '/^==[0-9]+== [A-Z]/ {blk=$0; next} /^==[0-9]+== $/ {if (blk ~ /crm\.so/) c++; blk=""; next} {blk=blk"\n"$0} END {print c+0}' "$log")
    t=$(grep -cE '^==[0-9]+== (Invalid|Conditional|Use of uninit|Syscall param|Mismatched|Source and dest)' "$log")
    ours=$((ours + n)); total=$((total + t))
done
echo "valgrind: $total error reports in all, $ours with crm.so on the stack (logs in $work)"
[ "$ours" -eq 0 ] || { grep -l crm.so "$work"/vg.*.log | head -3 | xargs cat; status=1; }
exit $status
