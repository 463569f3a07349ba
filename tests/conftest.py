from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from guardrails import Agent, Guard, PolicySet, SQLiteLedger, ToolCall, ToolRegistry
from guardrails.engines import installed

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"
PAYMENTS = ROOT / "examples" / "payments"
ENGINES = installed()

# A small policy of the contract's shape, so pipeline tests do not depend on the bundled set.
MINI_POLICY = """
package railguard.tool_call
import rego.v1

default allow := false
allow if input.call.tool in {t | some r in input.agent.roles; some t in data.railguard.config.roles[r]}

deny contains {"code": "fraud_check_required", "message": "no passed fraud check"} if {
    input.call.tool == "make_payment"
    not input.session.facts.results.fraud_check[input.call.args.transaction_id].status == "passed"
}
deny contains {"code": "amount_over_limit", "message": "too much"} if {
    input.call.tool == "make_payment"
    input.call.args.amount > 10000
}
escalate contains {"code": "amount_needs_approval", "message": "a person decides"} if {
    input.call.tool == "make_payment"
    input.call.args.amount > 1000
}
deny contains {"code": "session_call_budget_exceeded", "message": "budget"} if {
    input.session.facts.calls.total >= object.get(data.railguard.config, "max_calls", 1000)
}
"""
MINI_CONFIG = {"roles": {"payer": ["make_payment", "fraud_check", "lookup_customer", "send_email"]}}
PAYER = Agent(id="bot", roles=("payer",))


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def tools() -> ToolRegistry:
    return ToolRegistry.from_file(PAYMENTS / "tools.json")


@pytest.fixture
def make_guard(tmp_path: Path, tools: ToolRegistry) -> Callable[..., Guard]:
    guards: list[Guard] = []

    def build(
        engine: str = "auto",
        sources: Mapping[str, str] | None = None,
        config: Mapping[str, Any] | None = None,
        db: str = "ledger.db",
        **kwargs: Any,
    ) -> Guard:
        guard = Guard(
            policies=PolicySet.from_sources(sources or {"mini.rego": MINI_POLICY}),
            tools=tools,
            ledger=SQLiteLedger(tmp_path / db),
            config=MINI_CONFIG if config is None else config,
            engine=engine,
            **kwargs,
        )
        guards.append(guard)
        return guard

    yield build
    for guard in guards:
        guard.ledger.close()


def payments_guard(db: Path, engine: str = "auto", **kwargs: Any) -> Guard:
    """The bundled payments deployment (policies, registry, parameters) on a ledger at ``db``."""
    from guardrails.config import load_settings

    return Guard(
        policies=PolicySet.load(POLICIES),
        tools=ToolRegistry.from_file(PAYMENTS / "tools.json"),
        ledger=SQLiteLedger(db),
        config=load_settings(PAYMENTS / "railguard.toml").params,
        engine=engine,
        **kwargs,
    )


def pay(txn: str = "t1", amount: Any = 100, session: str = "s1", **extra: Any) -> ToolCall:
    args = {"transaction_id": txn, "amount": amount, "currency": "EUR", "recipient": "ACME"}
    return ToolCall(tool="make_payment", args=args, session_id=session, agent=PAYER, **extra)


def fraud_check(txn: str = "t1", session: str = "s1") -> ToolCall:
    return ToolCall(tool="fraud_check", args={"transaction_id": txn}, session_id=session, agent=PAYER)


def race(n: int, act: Callable[[int], object]) -> list[str]:
    """Run ``act(i)`` on ``n`` threads released at once; each outcome is "won" or the code of the
    Railguard error it raised, sorted."""
    from guardrails.errors import RailguardError

    barrier = threading.Barrier(n)
    outcomes: list[str] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            act(i)
            outcomes.append("won")
        except RailguardError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(outcomes)
