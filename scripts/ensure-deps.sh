#!/usr/bin/env bash
# scripts/ensure-deps.sh: installs the Debian 12 packages crm needs to build,
# test and demo, only those that are missing; apt-get runs (update first)
# only when something is.  Needs root then.
# Usage: scripts/ensure-deps.sh [package ...]         the base set and these
#        scripts/ensure-deps.sh --only package ...    just these
set -euo pipefail

if [ "${1:-}" = --only ]; then
    shift
    packages=("$@")
else
    # python3-psycopg2: the application test (tools/app_client), not crm itself
    packages=(postgresql-15 postgresql-server-dev-15 postgresql-15-cron libicu-dev zlib1g-dev libpq-dev python3-psycopg2
              gcc libc6-dev make "$@")
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-deps: missing packages: ${missing[*]}; run as root (or install them)" >&2
    exit 1
fi
echo "ensure-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
