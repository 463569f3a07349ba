"""The README's quickstart, runnable: `python examples/quickstart.py`.

A payments agent asks to pay before checking for fraud (denied), runs the check
(allowed; its verified result becomes a session fact), then pays (allowed).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from guardrails import Agent, ToolCall, ToolResult, Verdict, guard_from_config

CONFIG = Path(__file__).resolve().parent / "payments" / "railguard.toml"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        guard = guard_from_config(CONFIG, ledger_path=Path(tmp) / "quickstart.db")
        agent = Agent(id="payments-bot", roles=("payments_agent",))
        args = {"transaction_id": "t-1", "amount": 250, "currency": "EUR", "recipient": "ACME-SUPPLIES-001"}

        first = guard.authorize(ToolCall(tool="make_payment", session_id="s1", agent=agent, args=args))
        print("pay before the fraud check:", first.verdict.value, list(first.codes))

        check = ToolCall(tool="fraud_check", session_id="s1", agent=agent, args={"transaction_id": "t-1"})
        print("fraud check:", guard.authorize(check).verdict.value)
        result = guard.check_result(ToolResult(call_id=check.id, session_id="s1", output='{"status": "passed"}'))
        print("its result:", result.verdict.value, result.rewritten)

        second = guard.authorize(ToolCall(tool="make_payment", session_id="s1", agent=agent, args=args))
        print("pay after it:", second.verdict.value, list(second.codes))
        print(second.model_dump_json(indent=2, include={"verdict", "checkpoint", "stage", "latency_ms"}))
        guard.close()
        ok = first.verdict is Verdict.DENY and second.verdict is Verdict.ALLOW
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
