#!/usr/bin/env bash
# PostgreSQL for the ledger tests (tests/test_ledger_postgres.py starts a throw-away cluster
# with initdb/pg_ctl). Installs Debian's server when no initdb is found; idempotent, quiet.
set -euo pipefail

have_postgres() {
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null
}

if have_postgres; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "setup-postgres: no initdb and no apt-get; install PostgreSQL (server) by hand" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
# Debian's package starts a system cluster; the tests never use it.
have_postgres || { echo "setup-postgres: postgresql installed but initdb not found" >&2; exit 1; }
