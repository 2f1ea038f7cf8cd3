#!/usr/bin/env bash
# scripts/cluster.sh: runs a command in a throw-away PostgreSQL 15 cluster
# with pg_cron preloaded (Debian's pg_virtualenv), then removes the cluster.
#
# The cluster is UTF8 whatever the caller's locale (CI may have none, which
# would give SQL_ASCII), and -t keeps it in a private temporary directory even
# as root, so an interrupted run leaves nothing that blocks the next one.
set -euo pipefail
export LANG=C.UTF-8 LC_ALL=C.UTF-8
exec pg_virtualenv -t -v 15 -o shared_preload_libraries=pg_cron "$@"
