"""The payment tools the adapter examples share, and the bundled payments deployment.

The tools are plain functions guarded with ``@guarded``; a pretend bank charges once per
idempotency key (the Railguard call id). The guard is the one ``railguard demo`` runs:
examples/payments/railguard.toml, on a ledger in a temporary directory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from adapters import guarded
from guardrails import Agent, Decision, Guard, guard_from_config

DEPLOYMENT = Path(__file__).resolve().parents[1] / "payments" / "railguard.toml"
AGENT = Agent(id="payments-bot", roles=("payments_agent",))
RECIPIENT = "ACME-SUPPLIES-001"
CHARGES: dict[str, float] = {}


@guarded(key="transaction_id", facts=["status", "score"])
def fraud_check(transaction_id: Annotated[str, Field(min_length=1, max_length=128)]) -> dict[str, Any]:
    """Scores a transaction for fraud."""
    return {"status": "passed", "score": 0.03}


@guarded(key="transaction_id", once_per_key=True, outbound=True)
def make_payment(
    transaction_id: Annotated[str, Field(min_length=1, max_length=128)],
    amount: Annotated[float, Field(gt=0)],
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")],
    recipient: Annotated[str, Field(min_length=1, max_length=256)],
    idempotency_key: str,
) -> dict[str, Any]:
    """Moves money; the bank charges once per idempotency key."""
    CHARGES.setdefault(idempotency_key, amount)
    return {"payment_id": f"p-{idempotency_key}", "status": "settled"}


TOOLS = [fraud_check, make_payment]


def payment_args(transaction_id: str, amount: float) -> dict[str, Any]:
    return {"transaction_id": transaction_id, "amount": amount, "currency": "EUR", "recipient": RECIPIENT}


@contextmanager
def payments_guard() -> Iterator[Guard]:
    with tempfile.TemporaryDirectory(prefix="railguard-adapter-") as tmp:
        guard = guard_from_config(DEPLOYMENT, ledger_path=Path(tmp) / "ledger.db")
        try:
            yield guard
        finally:
            guard.close()


def show(title: str, decision: Decision | None = None, detail: str = "") -> None:
    verdict = f"{decision.verdict.value} {list(decision.codes)}" if decision is not None else ""
    print(f"{title}: {verdict}{detail}".rstrip())
