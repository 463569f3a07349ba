"""``railguard demo``: the payment workflow end to end, against the bundled policies.

deny (no fraud check) -> a fraud check that returns an HTML error page is flagged and
does not count -> a real passed check -> allow -> over the approval threshold escalates
-> a reviewer approves -> the retry is allowed once, a second one denied -> over the hard
limit denies. Every step is checked against what it must decide.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from guardrails.cli import default_config, render
from guardrails.escalation import reviewer
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
            guard.close()
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

    check_1, check_2, payment = _fraud_check("t-1001"), _fraud_check("t-1001"), _pay("t-1001", 250)
    check_3 = _fraud_check("t-1002")
    html_page = "<html><body>502 Bad Gateway</body></html>"
    big = _pay("t-1002", 5000)
    escalated: dict[str, Decision] = {}

    def approve_then(retry: Callable[[], Decision]) -> Decision:
        ticket = escalated["decision"].ticket or ""
        approved = guard.queue.approve(ticket, reviewer("alice"), "known supplier, invoice checked")
        out.write(f"    ticket {ticket}: {approved.state.value} by {', '.join(approved.resolved_by)}\n")
        return retry()

    script: list[tuple[str, Callable[[], Decision], str, tuple[str, ...]]] = [
        (
            "1. pay 250 EUR for t-1001 before any fraud check",
            lambda: guard.authorize(_pay("t-1001", 250)),
            "deny",
            ("fraud_check_required",),
        ),
        ("2. run the fraud check for t-1001", lambda: guard.authorize(check_1), "allow", ()),
        (
            "3. the fraud service answers with an HTML error page: flagged, never counted as passed",
            lambda: guard.check_result(result(check_1, html_page)),
            "deny",
            ("result_not_json",),
        ),
        (
            "4. pay again: the broken check does not count",
            lambda: guard.authorize(_pay("t-1001", 250)),
            "deny",
            ("fraud_check_required",),
        ),
        ("5. retry the fraud check", lambda: guard.authorize(check_2), "allow", ()),
        (
            "6. it passes (a verified result becomes a session fact)",
            lambda: guard.check_result(result(check_2, '{"status": "passed", "score": 0.03}')),
            "allow",
            (),
        ),
        ("7. pay 250 EUR for t-1001", lambda: guard.authorize(payment), "allow", ()),
        (
            "8. the payment settles",
            lambda: guard.check_result(result(payment, {"payment_id": "p-1", "status": "settled"})),
            "allow",
            (),
        ),
        ("9. check t-1002; it passes", lambda: guard.authorize(check_3), "allow", ()),
        (
            "   (fraud service result for t-1002)",
            lambda: guard.check_result(result(check_3, {"status": "passed", "score": 0.1})),
            "allow",
            (),
        ),
        (
            "10. pay 5,000 EUR for t-1002: above the approval threshold, a person decides",
            lambda: escalated.setdefault("decision", guard.authorize(big)),
            "escalate",
            ("amount_needs_approval",),
        ),
        (
            "    reviewer alice approves the ticket; the agent retries the same call: allowed, once",
            lambda: approve_then(lambda: guard.authorize(big)),
            "allow",
            ("approved_by_reviewer",),
        ),
        (
            "    the agent tries the same payment again: the approval is spent, money moves once",
            lambda: guard.authorize(_pay("t-1002", 5000)),
            "deny",
            ("duplicate_payment",),
        ),
        (
            "11. pay 20,000 EUR for t-1002: over the hard limit",
            lambda: guard.authorize(_pay("t-1002", 20000)),
            "deny",
            ("amount_over_limit",),
        ),
        (
            "12. pay 250 EUR for t-1003, checked only for t-1001 and t-1002: a check binds to its transaction",
            lambda: guard.authorize(_pay("t-1003", 250)),
            "deny",
            ("fraud_check_required",),
        ),
    ]
    for title, decide, verdict, codes in script:
        step(title, decide(), verdict, codes)
    guard.report_usage(SESSION, tokens=1800, cost=0.27, agent_id=AGENT.id)  # the model's bill, for `audit usage`
    events = sum(1 for _ in guard.ledger.events(SESSION))
    out.write(f"ledger: {events} events recorded for session {SESSION}\n")
    out.write("demo passed\n" if not failures else f"demo FAILED: {failures} step(s) decided unexpectedly\n")
    return failures == 0


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
