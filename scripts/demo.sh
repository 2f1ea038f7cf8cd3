#!/usr/bin/env bash
# scripts/demo.sh: starts a throw-away cluster with pg_cron preloaded, creates
# the extension and runs demo/demo.sql; the cluster is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/cluster.sh sh -c '
    psql -q -X -v ON_ERROR_STOP=1 -c "CREATE EXTENSION crm CASCADE" &&
    psql -X -v ON_ERROR_STOP=1 -f demo/demo.sql'
