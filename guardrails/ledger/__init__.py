"""Session ledger: event log and incrementally maintained session facts."""

from guardrails.ledger.base import CallRecord, Event, FactsQuery, LedgerStore, SessionTx
from guardrails.ledger.sqlite import SQLiteLedger

__all__ = ["CallRecord", "Event", "FactsQuery", "LedgerStore", "SQLiteLedger", "SessionTx"]
