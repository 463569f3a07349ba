#!/usr/bin/env bash
# Create .venv and install Railguard with its test tools. Idempotent; needs only python3 >= 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev]"
# The real OPA engine in-process: the faster default and the parity oracle. Its wheel
# declares Python >= 3.14 but runs on 3.11, hence --ignore-requires-python (and no deps).
.venv/bin/python -m pip install --quiet --no-deps --ignore-requires-python "opa-golib-python-bindings>=0.4.4,<0.5"
# PostgreSQL (Debian's) for the ledger tests: they start their own throw-away cluster.
bash scripts/setup-postgres.sh
# Debian's chromium + chromium-driver for the reviewer-console tests (no browser download).
bash scripts/setup-browser.sh
