#!/usr/bin/env bash
# scripts/demo.sh: runs demo/demo.sql with psql in database crm_demo of a
# throw-away cluster (pg_cron preloaded, cron.database_name = crm_demo) and
# prints its output; the cluster is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/cluster.sh --cron-db crm_demo sh -c '
    createdb crm_demo &&
    psql -d crm_demo -qX -v ON_ERROR_STOP=1 -c "CREATE EXTENSION IF NOT EXISTS crm CASCADE" &&
    psql -d crm_demo -X -v ON_ERROR_STOP=1 -f demo/demo.sql'
