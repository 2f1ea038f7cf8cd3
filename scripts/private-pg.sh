#!/usr/bin/env bash
# scripts/private-pg.sh DIR: copies Debian's PostgreSQL 15 (with pg_cron)
# under DIR, without any crm, for CRM_PG_ROOT=DIR (scripts/cluster.sh).
# Then "make install DESTDIR=DIR" and "CRM_PG_ROOT=DIR scripts/run-tests.sh"
# test a checkout without touching the system's installed crm.
set -euo pipefail
root=${1:?usage: scripts/private-pg.sh DIR}
mkdir -p "$root/usr/lib/postgresql" "$root/usr/share/postgresql"
cp -a /usr/lib/postgresql/15 "$root/usr/lib/postgresql/"
cp -a /usr/share/postgresql/15 "$root/usr/share/postgresql/"
rm -f "$root"/usr/share/postgresql/15/extension/crm[-.]* "$root"/usr/lib/postgresql/15/lib/crm.so
chmod -R a+rX "$root"
