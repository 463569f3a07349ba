#!/usr/bin/env bash
# Set up, then run everything CI runs: lint, types, the bundled policy tests, the test suite
# (which includes the parity suite and a benchmark smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff"; .venv/bin/ruff check guardrails adapters tests bench examples
echo "== ruff format"; .venv/bin/ruff format --check guardrails adapters tests bench examples
echo "== mypy --strict"; .venv/bin/mypy
echo "== railguard policy test policies/"; .venv/bin/railguard policy test policies/
echo "== railguard demo"; .venv/bin/railguard demo > /dev/null && echo "demo passed"
echo "== plain pip install . in a fresh venv: policy tests and demo"; bash scripts/plain-install.sh
echo "== benchmark (smoke run; the full run is python bench/authorize.py)"
.venv/bin/python bench/authorize.py --calls 300 --histories 0,100,1000 --quick
# The PostgreSQL and browser tests must run here, never skip.
echo "== pytest"; RAILGUARD_REQUIRE_POSTGRES=1 RAILGUARD_REQUIRE_BROWSER=1 .venv/bin/python -m pytest -n auto -q "$@"
