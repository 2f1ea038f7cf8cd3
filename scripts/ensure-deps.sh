#!/usr/bin/env bash
# scripts/ensure-deps.sh: installs the Debian packages crm needs to build,
# test and demo, only those that are missing (run as root).
# Usage: scripts/ensure-deps.sh [extra-package ...]
set -euo pipefail

packages=(postgresql-15 postgresql-server-dev-15 postgresql-15-cron libicu-dev
          gcc make "$@")
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
