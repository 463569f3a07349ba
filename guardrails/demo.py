"""``railguard demo``: the payment workflow end to end, against the bundled policies.

deny (no fraud check) -> a fraud check that returns an HTML error page is flagged and
does not count -> a real passed check -> allow -> over the approval threshold escalates
-> over the hard limit denies. Every step is checked against what it must decide.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, TextIO

from guardrails.cli import default_config, render
from guardrails.factory import guard_from_config
from guardrails.model import Agent, Decision, ToolCall, ToolResult
from guardrails.pipeline import Guard

AGENT = Agent(id="payments-bot", roles=("payments_agent",))
SESSION = "demo-session"


def _pay(txn: str, amount: float) -> ToolCall:
    return ToolCall(
        tool="make_payment",
        session_id=SESSION,
        agent=AGENT,
        args={"transaction_id": txn, "amount": amount, "currency": "EUR", "recipient": "ACME-SUPPLIES-001"},
    )


def _fraud_check(txn: str) -> ToolCall:
    return ToolCall(tool="fraud_check", session_id=SESSION, agent=AGENT, args={"transaction_id": txn})


def run_demo(*, engine: str = "auto", ledger_path: str | Path | None = None, out: TextIO) -> bool:
    with tempfile.TemporaryDirectory(prefix="railguard-demo-") as tmp:
        guard = guard_from_config(default_config(), ledger_path=ledger_path or Path(tmp) / "demo.db", engine=engine)
        try:
            ok = _scenario(guard, out)
        finally:
            guard.ledger.close()
    return ok


def _scenario(guard: Guard, out: TextIO) -> bool:
    out.write(f"Railguard demo: payments agent, engine {guard.engine.name}, policy revision {guard.revision}\n\n")
    failures = 0

    def step(title: str, decision: Decision, verdict: str, codes: tuple[str, ...] = ()) -> Decision:
        nonlocal failures
        good = decision.verdict.value == verdict and set(codes) <= set(decision.codes)
        failures += 0 if good else 1
        out.write(f"{'ok ' if good else 'BAD'} {title}\n{_indent(render(decision))}\n")
        if not good:
            out.write(f"    expected {verdict} {list(codes)}\n")
        out.write("\n")
        return decision

    def result(call: ToolCall, output: Any) -> ToolResult:
        return ToolResult(call_id=call.id, session_id=SESSION, output=output)

    step(
        "1. pay 250 EUR for t-1001 before any fraud check",
        guard.authorize(_pay("t-1001", 250)),
        "deny",
        ("fraud_check_required",),
    )
    check = _fraud_check("t-1001")
    step("2. run the fraud check for t-1001", guard.authorize(check), "allow")
    step(
        "3. the fraud service answers with an HTML error page: flagged, never counted as passed",
        guard.check_result(result(check, "<html><body>502 Bad Gateway</body></html>")),
        "deny",
        ("result_not_json",),
    )
    step(
        "4. pay again: the broken check does not count",
        guard.authorize(_pay("t-1001", 250)),
        "deny",
        ("fraud_check_required",),
    )
    check = _fraud_check("t-1001")
    step("5. retry the fraud check", guard.authorize(check), "allow")
    step(
        "6. it passes (a verified result becomes a session fact)",
        guard.check_result(result(check, '{"status": "passed", "score": 0.03}')),
        "allow",
    )
    payment = _pay("t-1001", 250)
    step("7. pay 250 EUR for t-1001", guard.authorize(payment), "allow")
    step(
        "8. the payment settles",
        guard.check_result(result(payment, {"payment_id": "p-1", "status": "settled"})),
        "allow",
    )
    check = _fraud_check("t-1002")
    guard.authorize(check)
    guard.check_result(result(check, {"status": "passed", "score": 0.1}))
    step(
        "9. pay 5,000 EUR for t-1002 (checked): above the approval threshold, a person decides",
        guard.authorize(_pay("t-1002", 5000)),
        "escalate",
        ("amount_needs_approval",),
    )
    step(
        "10. pay 20,000 EUR for t-1002: over the hard limit",
        guard.authorize(_pay("t-1002", 20000)),
        "deny",
        ("amount_over_limit",),
    )
    step(
        "11. pay 250 EUR for t-1003, checked only for t-1001: a check binds to its transaction",
        guard.authorize(_pay("t-1003", 250)),
        "deny",
        ("fraud_check_required",),
    )
    events = sum(1 for _ in guard.ledger.events(SESSION))
    out.write(f"ledger: {events} events recorded for session {SESSION}\n")
    out.write("demo passed\n" if not failures else f"demo FAILED: {failures} step(s) decided unexpectedly\n")
    return failures == 0


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
