"""The in-process wrapper: a guarded tool runs only when the guard allows it, its result is
checked before anyone sees it, and a retry with the same call id never charges twice."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field

from adapters import (
    ApprovalPending,
    Checkpoints,
    GuardedTool,
    ResultRejected,
    ToolTimeout,
    guarded,
    railguard_context,
    registry_from,
    report_usage,
)
from guardrails import Agent, ConfigError, DeniedError, Guard, PolicySet, SQLiteLedger
from guardrails.config import load_settings
from guardrails.escalation import reviewer
from guardrails.ledger.base import RESULT_RECORDED, USAGE_REPORTED

from .conftest import PAYMENTS, POLICIES, ROOT

AGENT = Agent(id="payments-bot", roles=("payments_agent",))
ACME = "ACME-SUPPLIES-001"


class Bank:
    """A payment service that counts how often it was asked and charges once per idempotency key."""

    def __init__(self) -> None:
        self.runs = 0
        self.charges: dict[str, float] = {}

    def tools(self) -> list[GuardedTool[Any]]:
        @guarded(key="transaction_id", facts=["status", "score"])
        def fraud_check(transaction_id: Annotated[str, Field(min_length=1, max_length=128)]) -> dict[str, Any]:
            """Scores a transaction for fraud."""
            return {"status": "passed", "score": 0.02}

        @guarded(key="transaction_id", once_per_key=True, outbound=True)
        def make_payment(
            transaction_id: str,
            amount: Annotated[float, Field(gt=0)],
            currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")],
            recipient: str,
            idempotency_key: str,
        ) -> dict[str, Any]:
            """Moves money."""
            self.runs += 1
            self.charges.setdefault(idempotency_key, amount)
            return {"payment_id": f"p-{idempotency_key}", "status": "settled"}

        return [fraud_check, make_payment]


def payments_guard(db: Path, tools: list[GuardedTool[Any]]) -> Guard:
    return Guard(
        policies=PolicySet.load(POLICIES),
        tools=registry_from(tools),
        ledger=SQLiteLedger(db),
        config=load_settings(PAYMENTS / "railguard.toml").params,
    )


@pytest.fixture
def bank() -> Bank:
    return Bank()


@pytest.fixture
def guard(tmp_path: Path, bank: Bank, request: pytest.FixtureRequest) -> Any:
    extra = getattr(request, "param", [])
    guard = payments_guard(tmp_path / "ledger.db", [*bank.tools(), *extra])
    with railguard_context(guard=guard, session_id="s1", agent=AGENT):
        yield guard
    guard.close()


@pytest.fixture
def tools(bank: Bank) -> dict[str, GuardedTool[Any]]:
    return {t.name: t for t in bank.tools()}


def test_the_guard_satisfies_the_checkpoints_protocol(guard):
    assert isinstance(guard, Checkpoints)


def test_payment_without_fraud_check_is_denied_and_never_runs(guard, bank, tools):
    with pytest.raises(DeniedError) as denied:
        tools["make_payment"]("t-1", 250.0, "EUR", ACME)
    assert "fraud_check_required" in denied.value.decision.codes
    assert bank.runs == 0


def test_payment_after_a_passed_fraud_check_runs_and_returns_its_checked_output(guard, bank, tools):
    assert tools["fraud_check"]("t-1") == {"status": "passed", "score": 0.02}
    receipt = tools["make_payment"]("t-1", 250.0, "EUR", ACME)
    assert receipt["status"] == "settled"
    assert bank.runs == 1


def test_payment_above_the_threshold_raises_approval_pending_with_its_ticket(guard, bank, tools):
    tools["fraud_check"]("t-2")
    with pytest.raises(ApprovalPending) as pending:
        tools["make_payment"]("t-2", 5000.0, "EUR", ACME)
    assert pending.value.ticket and "amount_needs_approval" in pending.value.decision.codes
    assert guard.queue.get(pending.value.ticket).state == "open"
    assert bank.runs == 0


def test_resume_after_approval_runs_the_exact_call_once(guard, bank, tools):
    tools["fraud_check"]("t-3")
    with pytest.raises(ApprovalPending) as pending:
        tools["make_payment"]("t-3", 2000.0, "EUR", ACME)
    guard.queue.approve(pending.value.ticket, reviewer("alice"), "invoice checked")
    receipt = tools["make_payment"].resume(pending.value)
    assert receipt == {"payment_id": f"p-{pending.value.call.id}", "status": "settled"}
    again = tools["make_payment"].resume(pending.value.call)  # answered from the ledger
    assert again == receipt and bank.runs == 1


def test_resume_after_a_denial_raises_denied_and_never_runs(guard, bank, tools):
    tools["fraud_check"]("t-4")
    with pytest.raises(ApprovalPending) as pending:
        tools["make_payment"]("t-4", 2000.0, "EUR", ACME)
    guard.queue.deny(pending.value.ticket, reviewer("alice"), "unknown invoice")
    with pytest.raises(DeniedError) as denied:
        tools["make_payment"].resume(pending.value)
    assert "denied_by_reviewer" in denied.value.decision.codes
    assert bank.runs == 0


def test_waiting_tool_runs_when_a_reviewer_approves_meanwhile(guard, bank, tools):
    tools["fraud_check"]("t-5")
    waiting = tools["make_payment"].bind(guard)
    waiting.wait_timeout = 10.0

    def approve_when_asked() -> None:
        for _ in range(200):
            tickets = guard.queue.list(states=["open"])
            if tickets:
                guard.queue.approve(tickets[0].id, reviewer("alice"), "ok")
                return
            time.sleep(0.02)

    reviewer_thread = threading.Thread(target=approve_when_asked)
    reviewer_thread.start()
    receipt = waiting("t-5", 2000.0, "EUR", ACME)
    reviewer_thread.join()
    assert receipt["status"] == "settled" and bank.runs == 1


def test_waiting_runs_out_into_approval_pending(guard, bank, tools):
    tools["fraud_check"]("t-6")
    call = tools["make_payment"].tool_call(
        {"transaction_id": "t-6", "amount": 2000, "currency": "EUR", "recipient": ACME}
    )
    with pytest.raises(ApprovalPending):
        tools["make_payment"].run(call, wait_timeout=0.2)
    assert bank.runs == 0


def test_retry_with_the_same_call_id_returns_the_recorded_result_without_running(guard, bank, tools):
    tools["fraud_check"]("t-7")
    args = {"transaction_id": "t-7", "amount": 100, "currency": "EUR", "recipient": ACME}
    first = tools["make_payment"].invoke(args, call_id="pay-7")
    second = tools["make_payment"].invoke(args, call_id="pay-7")
    assert first == second == {"payment_id": "p-pay-7", "status": "settled"}
    assert bank.runs == 1 and bank.charges == {"pay-7": 100}


def test_a_tool_that_declares_an_idempotency_key_receives_the_call_id(guard, bank, tools):
    tools["fraud_check"]("t-8")
    tools["make_payment"].invoke(
        {"transaction_id": "t-8", "amount": 10, "currency": "EUR", "recipient": ACME}, call_id="the-call-id"
    )
    assert list(bank.charges) == ["the-call-id"]


def test_the_agent_cannot_choose_the_idempotency_key(guard, bank, tools):
    tools["fraud_check"]("t-9")
    args = {"transaction_id": "t-9", "amount": 10, "currency": "EUR", "recipient": ACME, "idempotency_key": "x"}
    with pytest.raises(DeniedError) as denied:
        tools["make_payment"].invoke(args)
    assert denied.value.decision.codes == ("args_schema_mismatch",)
    assert bank.runs == 0


def test_extra_keyword_arguments_are_denied_by_the_schema_and_never_run(guard, bank, tools):
    with pytest.raises(DeniedError) as denied:
        tools["fraud_check"]("t-10", reason="because")
    assert denied.value.decision.codes == ("args_schema_mismatch",)


def test_missing_arguments_are_denied_by_the_schema(guard, bank, tools):
    with pytest.raises(DeniedError) as denied:
        tools["make_payment"](transaction_id="t-10", amount=5.0)
    assert denied.value.decision.codes == ("args_schema_mismatch",)
    assert bank.runs == 0


def test_too_many_positional_arguments_is_a_type_error_before_the_guard(guard, bank, tools):
    with pytest.raises(TypeError, match="positional"):
        tools["fraud_check"]("t-11", "extra")
    assert list(guard.ledger.events("s1")) == []


def test_a_python_only_pattern_is_refused_when_the_registry_is_built():
    @guarded
    def lookup(code: Annotated[str, Field(pattern=r"(?i)^[a-z]{2}$")]) -> str:
        return code

    with pytest.raises(ConfigError, match="pattern"):
        registry_from([lookup])


def test_the_schema_stage_reads_generated_patterns_as_ecma_262(guard, bank, tools):
    tools["fraud_check"]("t-12")
    with pytest.raises(DeniedError) as denied:
        tools["make_payment"]("t-12", 10.0, "EUR\n", ACME)  # Python's `$` would accept the newline
    assert denied.value.decision.codes == ("args_schema_mismatch",)
    assert bank.runs == 0


def test_two_tools_with_one_name_are_refused(tools):
    with pytest.raises(ConfigError, match="two tools"):
        registry_from([tools["fraud_check"], tools["fraud_check"]])


def test_varargs_are_refused_at_declaration():
    with pytest.raises(ConfigError, match="declare each argument"):
        guarded(lambda *a: a)


def test_an_unknown_key_argument_is_refused_at_declaration():
    def tool(transaction_id: str) -> str:
        return transaction_id

    with pytest.raises(ConfigError, match="not one of its arguments"):
        GuardedTool(tool, key="txn")


def test_without_a_session_a_call_is_a_config_error(tools):
    with pytest.raises(ConfigError, match="no session"):
        tools["fraud_check"]("t-1")


# -- bad days --------------------------------------------------------------------------------
class Transfer(BaseModel):
    account: Annotated[str, Field(min_length=3)]
    cents: Annotated[int, Field(gt=0)]


class Receipt(BaseModel):
    reference: str
    cents: int


def tool_set() -> tuple[dict[str, int], list[GuardedTool[Any]]]:
    calls = {"boom": 0, "html": 0, "hang": 0, "ahang": 0, "transfer": 0, "opaque": 0}

    @guarded
    def boom(transaction_id: str) -> dict[str, Any]:
        calls["boom"] += 1
        raise ConnectionError("fraud service unreachable")

    @guarded
    def html(transaction_id: str) -> dict[str, Any]:
        calls["html"] += 1
        return "<html><body>502 Bad Gateway</body></html>"  # type: ignore[return-value]

    @guarded(timeout=0.2)
    def hang(transaction_id: str) -> dict[str, Any]:
        calls["hang"] += 1
        time.sleep(5)
        return {}

    @guarded(timeout=0.2)
    async def ahang(transaction_id: str) -> dict[str, Any]:
        calls["ahang"] += 1
        await asyncio.sleep(5)
        return {}

    @guarded
    def transfer(transfer: Transfer) -> Receipt:
        calls["transfer"] += 1
        assert isinstance(transfer, Transfer)
        return Receipt(reference=f"r-{transfer.account}", cents=transfer.cents)

    @guarded
    def opaque(transaction_id: str) -> Any:
        calls["opaque"] += 1
        return object()

    return calls, [boom, html, hang, ahang, transfer, opaque]


BAD_DAY_POLICY = """
package railguard.tool_call
import rego.v1
default allow := true
deny contains {"code": "blocked", "message": "blocked account"} if input.call.args.transfer.account == "blocked"
"""


@pytest.fixture
def bad_day(tmp_path: Path) -> Any:
    calls, made = tool_set()
    guard = Guard(
        policies=PolicySet.from_sources({"p.rego": BAD_DAY_POLICY}),
        tools=registry_from(made),
        ledger=SQLiteLedger(tmp_path / "bad.db"),
    )
    with railguard_context(guard=guard, session_id="bad", agent="bot"):
        yield guard, calls, {t.name: t for t in made}
    guard.close()


def recorded(guard: Guard, session: str = "bad") -> list[dict[str, Any]]:
    return [e.payload for e in guard.ledger.events(session) if e.type == RESULT_RECORDED]


def test_a_tool_that_raises_is_recorded_as_failed_and_the_exception_goes_on(bad_day):
    guard, calls, tools = bad_day
    with pytest.raises(ConnectionError, match="unreachable"):
        tools["boom"]("t-1")
    [result] = recorded(guard)
    assert result["outcome"] == "failed" and result["codes"] == ["result_tool_failed"]
    assert calls["boom"] == 1


def test_html_where_json_was_promised_is_rejected_and_not_returned(bad_day):
    guard, _calls, tools = bad_day
    with pytest.raises(ResultRejected) as rejected:
        tools["html"]("t-1")
    assert rejected.value.decision.codes == ("result_not_json",)
    message = str(rejected.value)  # the body never reaches it ("502" alone can be in a random call id)
    assert "Bad Gateway" not in message and "<html" not in message
    assert recorded(guard)[0]["verified"] is False


def test_a_hanging_sync_tool_times_out_and_its_outcome_is_unknown(bad_day):
    guard, _calls, tools = bad_day
    started = time.monotonic()
    with pytest.raises(ToolTimeout) as timed_out:
        tools["hang"]("t-1")
    assert isinstance(timed_out.value, TimeoutError)
    assert time.monotonic() - started < 2
    assert recorded(guard)[0]["outcome"] == "unknown"  # it may still act: a keyed call is not retried blindly


def test_a_hanging_async_tool_times_out_and_its_outcome_is_unknown(bad_day):
    guard, calls, tools = bad_day
    with pytest.raises(ToolTimeout):
        asyncio.run(tools["ahang"]("t-1"))
    # it may still act: a keyed call is not retried blindly
    assert recorded(guard)[0]["outcome"] == "unknown" and calls["ahang"] == 1


def test_a_pydantic_model_argument_is_checked_as_json_and_arrives_as_the_model(bad_day):
    _guard, calls, tools = bad_day
    receipt = tools["transfer"](Transfer(account="acct-1", cents=500))
    assert receipt == Receipt(reference="r-acct-1", cents=500)
    as_dict = tools["transfer"].invoke({"transfer": {"account": "acct-2", "cents": 7}})
    assert as_dict == Receipt(reference="r-acct-2", cents=7) and calls["transfer"] == 2


def test_a_pydantic_model_argument_that_breaks_its_schema_is_denied(bad_day):
    _guard, calls, tools = bad_day
    with pytest.raises(DeniedError) as denied:
        tools["transfer"].invoke({"transfer": {"account": "x", "cents": 7}})
    assert denied.value.decision.codes == ("args_schema_mismatch",)
    assert calls["transfer"] == 0


def test_a_policy_denial_of_a_model_argument_never_runs(bad_day):
    _guard, calls, tools = bad_day
    with pytest.raises(DeniedError) as denied:
        tools["transfer"](Transfer(account="blocked", cents=1))
    assert denied.value.decision.codes == ("blocked",) and calls["transfer"] == 0


def test_output_that_is_not_json_data_is_recorded_as_failed(bad_day):
    guard, _calls, tools = bad_day
    with pytest.raises(TypeError, match="not JSON data"):
        tools["opaque"]("t-1")
    assert recorded(guard)[0]["outcome"] == "failed"


def test_async_tools_are_guarded_like_sync_ones(tmp_path):
    runs = []

    @guarded(key="transaction_id")
    async def check(transaction_id: str) -> dict[str, str]:
        runs.append(transaction_id)
        return {"status": "passed"}

    policy = "package railguard.tool_call\nimport rego.v1\ndefault allow := false\n"
    policy += 'allow if input.call.args.transaction_id != "bad"\n'
    guard = Guard(
        policies=PolicySet.from_sources({"p.rego": policy}),
        tools=registry_from([check]),
        ledger=SQLiteLedger(tmp_path / "a.db"),
    )
    try:
        with railguard_context(guard=guard, session_id="as"):
            assert asyncio.run(check("good")) == {"status": "passed"}
            with pytest.raises(DeniedError):
                asyncio.run(check("bad"))
    finally:
        guard.close()
    assert runs == ["good"]


def test_report_usage_adds_to_the_session(guard):
    report_usage(tokens=1200, cost=0.03)
    [usage] = [e.payload for e in guard.ledger.events("s1") if e.type == USAGE_REPORTED]
    assert usage == {"tokens": 1200, "cost": 0.03}


def test_nested_contexts_keep_what_they_do_not_override(guard):
    from adapters import current_context

    with railguard_context(session_id="inner"):
        assert current_context().session_id == "inner" and current_context().guard is guard
    assert current_context().session_id == "s1"


# -- exactly once across a crash ------------------------------------------------------------
CRASHING_PAYER = textwrap.dedent(
    """
    import os, sys, json
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from guardrails import Agent, Guard, PolicySet, SQLiteLedger
    from guardrails.config import load_settings
    from adapters import guarded, registry_from, railguard_context

    db, bank, mode = sys.argv[1:4]
    bank = Path(bank)
    runs = bank.with_suffix(".runs")

    @guarded(key="transaction_id", facts=["status"])
    def fraud_check(transaction_id: str) -> dict:
        return {{"status": "passed"}}

    @guarded(key="transaction_id", once_per_key=True, outbound=True)
    def make_payment(transaction_id: str, amount: float, currency: str, recipient: str, idempotency_key: str) -> dict:
        with runs.open("a") as f:
            f.write("ran\\n")
        charged = bank.read_text().split() if bank.exists() else []
        if idempotency_key not in charged:  # the bank dedups by idempotency key
            with bank.open("a") as f:
                f.write(idempotency_key + "\\n")
        if mode == "crash":
            os._exit(9)  # killed after the tool ran, before its result was checked
        return {{"payment_id": "p-" + idempotency_key, "status": "settled"}}

    guard = Guard(
        policies=PolicySet.load({policies!r}),
        tools=registry_from([fraud_check, make_payment]),
        ledger=SQLiteLedger(db),
        config=load_settings({settings!r}).params,
    )
    with railguard_context(guard=guard, session_id="s", agent=Agent(id="bot", roles=("payments_agent",))):
        if mode == "crash":
            fraud_check("t-1")
        args = {{"transaction_id": "t-1", "amount": 250, "currency": "EUR", "recipient": "ACME-SUPPLIES-001"}}
        print(json.dumps(make_payment.invoke(args, call_id="pay-1")))
    guard.close()
    """
)


def test_a_retry_after_a_crash_charges_once_and_a_recorded_result_never_reruns(tmp_path):
    script = tmp_path / "payer.py"
    script.write_text(
        CRASHING_PAYER.format(root=str(ROOT), policies=str(POLICIES), settings=str(PAYMENTS / "railguard.toml"))
    )
    db, bank = tmp_path / "ledger.db", tmp_path / "bank.txt"

    def attempt(mode: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(script), str(db), str(bank), mode], capture_output=True, text=True, timeout=120
        )

    crashed = attempt("crash")
    assert crashed.returncode == 9, crashed.stderr
    retried = attempt("retry")
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout) == {"payment_id": "p-pay-1", "status": "settled"}
    assert bank.read_text().split() == ["pay-1"]  # one charge
    assert bank.with_suffix(".runs").read_text().count("ran") == 2  # the retry ran it, deduped
    again = attempt("retry")
    assert json.loads(again.stdout) == {"payment_id": "p-pay-1", "status": "settled"}
    assert bank.with_suffix(".runs").read_text().count("ran") == 2  # recorded: the tool did not run
