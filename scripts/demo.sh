#!/usr/bin/env bash
# Set up, then run the payment workflow end to end: deny -> fraud check -> allow -> escalate -> deny.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/railguard demo "$@"
