#!/usr/bin/env bash
# Set up, then run the sidecar on http://127.0.0.1:8080 with the bundled payments deployment
# (ledger and key store in the working directory). On the first run it creates two API keys,
# an agent (payments-bot) and a reviewer (alice), and keeps them in railguard-demo-keys.env
# (mode 600) for the curl walkthrough in the README: `source railguard-demo-keys.env`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ ! -f railguard-demo-keys.env ]; then
    umask 077
    agent=$(.venv/bin/railguard keys create payments-bot --role agent:payments_agent 2>/dev/null)
    reviewer=$(.venv/bin/railguard keys create alice --role reviewer 2>/dev/null)
    printf 'AGENT_KEY=%s\nREVIEWER_KEY=%s\n' "$agent" "$reviewer" > railguard-demo-keys.env
    echo "created railguard-demo-keys.env (an agent key and a reviewer key; shown nowhere else)" >&2
fi
exec .venv/bin/railguard serve "$@"
