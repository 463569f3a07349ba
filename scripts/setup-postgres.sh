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
bash "$(dirname "$0")/apt-install.sh" postgresql
have_postgres || { echo "setup-postgres: postgresql installed but initdb not found" >&2; exit 1; }
