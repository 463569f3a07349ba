#!/usr/bin/env bash
# What a user gets from a plain `pip install` (no extras, no flags, no second command):
# a fresh venv, `pip install .`, then policy tests and the demo must pass.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
venv="$(mktemp -d)/venv"
trap 'rm -rf "$(dirname "$venv")"' EXIT
"$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet .
"$venv/bin/python" -c "from guardrails.engines import installed; print('engines after a plain install:', installed())"
"$venv/bin/railguard" policy test policies/ | tail -2
"$venv/bin/railguard" demo > /dev/null && echo "demo passed (plain install)"
