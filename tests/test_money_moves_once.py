"""Money moves once: one passed fraud check pays one payment, whatever the agent tries.

The hostile run that found it: one check for tx1, then the same payment again and again,
or 20 payments of 999 EUR one cent apart, or 8 threads at once. All through the Guard,
the bundled policies and the payments example's registry, on every installed engine.
"""

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from guardrails import Agent, Guard, SQLiteLedger, ToolCall, ToolRegistry, ToolResult

from .conftest import PAYMENTS, POLICIES, payments_guard

AGENT = Agent(id="bot", roles=("payments_agent",))


def build(db, engine="auto") -> Guard:
    return payments_guard(db, engine)


@pytest.fixture
def guard(tmp_path, engine):
    guard = build(tmp_path / "money.db", engine)
    yield guard
    guard.close()


def payment(txn="tx1", amount=999.0, session="s") -> ToolCall:
    args = {"transaction_id": txn, "amount": amount, "currency": "EUR", "recipient": "ACME-SUPPLIES-001"}
    return ToolCall(tool="make_payment", args=args, session_id=session, agent=AGENT)


def checked(guard: Guard, txn="tx1", session="s") -> None:
    call = ToolCall(tool="fraud_check", args={"transaction_id": txn}, session_id=session, agent=AGENT)
    assert guard.authorize(call).allowed
    assert guard.check_result(ToolResult(call_id=call.id, session_id=session, output={"status": "passed"})).allowed


def paid(guard: Guard, call: ToolCall, **result) -> None:
    guard.check_result(ToolResult(call_id=call.id, session_id=call.session_id, **result))


def test_identical_payment_after_a_succeeded_one_is_denied(guard):
    checked(guard)
    first = payment()
    assert guard.authorize(first).allowed
    paid(guard, first, output={"payment_id": "p1", "status": "done"})
    again = guard.authorize(payment())
    assert again.codes == ("duplicate_payment",)


def test_twenty_payments_one_cent_apart_pay_once(guard):
    checked(guard)
    verdicts = []
    for n in range(20):
        call = payment(amount=999.0 - n / 100)
        decision = guard.authorize(call)
        verdicts.append(decision.verdict.value)
        if decision.allowed:
            paid(guard, call, output={"payment_id": f"p{n}", "status": "done"})
        else:
            assert "duplicate_payment" in decision.codes
    assert verdicts.count("allow") == 1


def test_second_payment_while_the_first_is_pending_is_denied(guard):
    checked(guard)
    assert guard.authorize(payment()).allowed  # no result recorded yet: pending
    assert guard.authorize(payment(amount=10.0)).codes == ("duplicate_payment",)


def test_payment_the_tool_reported_failed_may_be_retried(guard):
    checked(guard)
    first = payment()
    assert guard.authorize(first).allowed
    paid(guard, first, ok=False, error="bank timeout")
    retry = payment()
    assert guard.authorize(retry).allowed
    paid(guard, retry, output={"payment_id": "p2", "status": "done"})
    assert guard.authorize(payment()).codes == ("duplicate_payment",)


def test_payment_whose_result_failed_its_check_is_not_retried(guard):
    # An HTML error page instead of the promised JSON: the money may have moved.
    checked(guard)
    first = payment()
    assert guard.authorize(first).allowed
    paid(guard, first, output="<html>502 Bad Gateway</html>")
    assert guard.authorize(payment()).codes == ("duplicate_payment",)


def test_a_new_fraud_check_does_not_reopen_a_paid_transaction(guard):
    checked(guard)
    first = payment()
    assert guard.authorize(first).allowed
    paid(guard, first, output={"payment_id": "p1", "status": "done"})
    checked(guard)  # a fresh, passed check for the same transaction
    assert guard.authorize(payment()).codes == ("duplicate_payment",)


def test_the_facts_say_what_became_of_each_keyed_call(guard):
    checked(guard)
    first = payment()
    guard.authorize(first)
    paid(guard, first, ok=False, error="declined")
    second = payment()
    guard.authorize(second)
    from guardrails.ledger.base import FactsQuery

    with guard.session("s") as tx:
        facts = tx.facts(FactsQuery(tool="make_payment", key_values=["tx1"]))
    assert facts["by_key"]["make_payment"]["tx1"] == {"pending": 1, "succeeded": 0, "failed": 1, "unknown": 0}


def test_repeating_the_same_call_id_is_the_same_decision_not_a_second_payment(guard):
    checked(guard)
    call = payment()
    first = guard.authorize(call)
    assert guard.authorize(call) == first
    assert guard.authorize(payment()).codes == ("duplicate_payment",)


def test_eight_threads_paying_one_checked_transaction_get_exactly_one_allow(tmp_path, engine):
    for round_ in range(3):
        guard = build(tmp_path / f"threads{round_}.db", engine)
        checked(guard)
        barrier = threading.Barrier(8)

        def attempt(n: int, guard: Guard = guard, barrier: threading.Barrier = barrier) -> bool:
            barrier.wait()
            return guard.authorize(payment(amount=500.0 + n)).allowed

        with ThreadPoolExecutor(8) as pool:
            allowed = list(pool.map(attempt, range(8)))
        guard.close()
        assert sum(allowed) == 1, f"round {round_}: {sum(allowed)} allows"


def test_three_processes_paying_one_checked_transaction_get_exactly_one_allow(tmp_path):
    db = tmp_path / "procs.db"
    guard = build(db)
    checked(guard)
    guard.close()
    script = f"""
import sys
from guardrails import Agent, Guard, PolicySet, SQLiteLedger, ToolCall, ToolRegistry
from guardrails.config import load_settings
guard = Guard(policies=PolicySet.load({str(POLICIES)!r}),
              tools=ToolRegistry.from_file({str(PAYMENTS / "tools.json")!r}),
              ledger=SQLiteLedger({str(db)!r}),
              config=load_settings({str(PAYMENTS / "railguard.toml")!r}).params)
agent = Agent(id="bot", roles=("payments_agent",))
allowed = 0
for i in range(10):
    args = {{"transaction_id": "tx1", "amount": 100 + i, "currency": "EUR", "recipient": "ACME-SUPPLIES-001"}}
    allowed += guard.authorize(ToolCall(tool="make_payment", args=args, session_id="s", agent=agent)).allowed
print(allowed)
"""
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=180)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(int(out) for out in outputs) == 1
    ledger = SQLiteLedger(db)
    decisions = [e for e in ledger.events("s") if e.type == "decision" and e.payload.get("tool") == "make_payment"]
    ledger.close()
    assert len(decisions) == 30  # every attempt recorded, one allowed


def test_registry_refuses_once_per_key_without_a_key():
    from guardrails.errors import ConfigError

    with pytest.raises(ConfigError, match="once_per_key"):
        ToolRegistry.from_mapping({"pay": {"args": {"type": "object"}, "once_per_key": True}})


def test_registry_refuses_a_flag_that_is_not_a_boolean():
    from guardrails.errors import ConfigError

    with pytest.raises(ConfigError, match="outbound"):
        ToolRegistry.from_mapping({"send": {"args": {"type": "object"}, "outbound": "yes"}})


def test_a_payment_that_timed_out_is_not_sent_again_under_a_new_call_id(guard):
    checked(guard)
    first = payment()
    assert guard.authorize(first).allowed
    paid(guard, first, ok=False, error="timed out after 30 s", outcome_known=False)
    retry = guard.authorize(payment())
    assert retry.verdict.value == "deny" and "duplicate_payment" in retry.codes
