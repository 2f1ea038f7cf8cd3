#!/usr/bin/env bash
# scripts/cluster.sh: runs a command against a throw-away PostgreSQL 15
# cluster with pg_cron preloaded, then removes the cluster.  The command gets
# PGHOST, PGPORT and PGUSER (and PGDATABASE=postgres).  pg_cron's
# cron.database_name is DB (default postgres); the command creates DB itself
# if need be (pg_regress does).
#
# The cluster is UTF8 with the C.UTF-8 collation and ctype the expected
# output assumes, whatever the caller's locale (CI may have none).  It comes
# from Debian's pg_virtualenv with -t, which keeps it in a private temporary
# directory even as root: runs can overlap, and an interrupted run leaves
# nothing (no /etc/postgresql/15/regress) that would block the next one.
#
# With VALGRIND_LOGDIR (an absolute path user postgres can write) set, the
# server and every backend run under valgrind memcheck instead and log there;
# see scripts/valgrind-test.sh.
#
# Usage: scripts/cluster.sh [--cron-db DB] command [arg ...]
# pg_cron runs its jobs in background workers (cron.use_background_workers):
# its default, a libpq connection to localhost, would need a password the
# throw-away cluster does not hand out.
#
# CRM_CLUSTER_SETTINGS="name=value ..." adds server settings (benchmarks).
#
# CRM_PG_ROOT=DIR runs the server from a private copy of PostgreSQL 15 under
# DIR (scripts/private-pg.sh makes one; "make install DESTDIR=DIR" puts crm
# there), so that several checkouts can be tested at once without
# overwriting each other's installed crm.  PostgreSQL finds its share
# directory relative to its binaries, so the copy needs no configuration.
# There the command also gets CRM_CLUSTER_DATA, the data directory, and may
# stop the server and start it again with the same settings, as user
# postgres: "pg_ctl -D $CRM_CLUSTER_DATA -m fast -w stop", then
# "pg_ctl -D $CRM_CLUSTER_DATA -w -l LOG restart" (restart reads the
# settings back from postmaster.opts; scripts/upgrade-test.sh does this).
set -euo pipefail
db=postgres
if [ "${1:-}" = --cron-db ]; then db=$2; shift 2; fi
bindir=${CRM_PG_ROOT:-}/usr/lib/postgresql/15/bin
export LANG=C.UTF-8 LC_ALL=C.UTF-8

if [ -z "${VALGRIND_LOGDIR:-}" ] && [ -z "${CRM_PG_ROOT:-}" ]; then
    settings=()
    for setting in ${CRM_CLUSTER_SETTINGS:-}; do settings+=(-o "$setting"); done
    exec pg_virtualenv -t -v 15 -o shared_preload_libraries=pg_cron \
        -o cron.database_name="$db" -o cron.use_background_workers=on "${settings[@]}" "$@"
fi

# Under valgrind or from a private tree: our own cluster, reachable only
# through a Unix socket in its temporary directory, so its port cannot clash
# with another cluster's.
work=$(mktemp -d /tmp/crm-cluster.XXXXXX)
cp "$(dirname "$0")/valgrind.supp" "$work"    # the checkout may be unreadable to postgres
chown -R postgres: "$work"
as_postgres() { (cd / && runuser -u postgres -- "$@"); }
stop() { as_postgres "$bindir/pg_ctl" -D "$work/data" -m "$1" -w -t 600 stop >/dev/null 2>&1 || true; }
trap 'stop immediate; rm -rf "$work"' EXIT

as_postgres "$bindir/initdb" -D "$work/data" -A trust -E UTF8 -U postgres -N >/dev/null
server_args=(-D "$work/data" -k "$work" -c listen_addresses= -c shared_preload_libraries=pg_cron
             -c cron.database_name="$db" -c cron.use_background_workers=on)
for setting in ${CRM_CLUSTER_SETTINGS:-}; do server_args+=(-c "$setting"); done
if [ -n "${VALGRIND_LOGDIR:-}" ]; then
    server_log=$VALGRIND_LOGDIR/server.$db.log
    as_postgres valgrind --quiet --trace-children=yes --track-origins=yes \
        --leak-check=no --num-callers=30 --fullpath-after= --suppressions="$work/valgrind.supp" \
        --log-file="$VALGRIND_LOGDIR/vg.%p.log" \
        "$bindir/postgres" "${server_args[@]}" -c max_parallel_workers_per_gather=0 >"$server_log" 2>&1 &
else
    server_log=$work/server.log
    as_postgres "$bindir/postgres" "${server_args[@]}" >"$server_log" 2>&1 &
fi
server=$!
for _ in $(seq 300); do
    "$bindir/pg_isready" -q -h "$work" && break
    kill -0 $server 2>/dev/null || break
    sleep 1
done
"$bindir/pg_isready" -q -h "$work" || {
    echo "cluster.sh: the server did not start; see $server_log" >&2; cat "$server_log" >&2; exit 1; }

export PGHOST=$work PGPORT=5432 PGUSER=postgres PGDATABASE=postgres
export CRM_CLUSTER_DATA=$work/data
status=0
"$@" || status=$?
stop fast    # a clean shutdown, so that every valgrind log is complete
exit $status
