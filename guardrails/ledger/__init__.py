"""Session ledger: event log and incrementally maintained session facts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guardrails.ledger.base import CallRecord, Event, FactsQuery, LedgerStore, SessionTx
from guardrails.ledger.sqlite import SQLiteLedger

if TYPE_CHECKING:
    from guardrails.ledger.postgres import PostgresLedger

__all__ = ["CallRecord", "Event", "FactsQuery", "LedgerStore", "PostgresLedger", "SQLiteLedger", "SessionTx"]


def __getattr__(name: str) -> Any:
    # The driver is an extra (``railguard[postgres]``): imported only when asked for.
    if name == "PostgresLedger":
        from guardrails.ledger.postgres import PostgresLedger

        return PostgresLedger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
