"""PII never rests in clear: a session transaction that scrubs what it appends.

The Guard wraps its write transactions in a ``ScrubbingTx`` when a screener can scrub
(``PiiScreener.scrub``): arguments, decisions, policy inputs and facts are masked before
they reach the store, whatever action the deployment chose for the live payload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol, runtime_checkable

from guardrails.ledger.base import CallRecord, Event, FactsQuery, SessionTx
from guardrails.ledger.fact_keys import FactKeys


@runtime_checkable
class Scrubbing(Protocol):
    """A screener that can clean a payload for storage (every PII span masked, whatever its action)."""

    def scrub(self, payload: Any) -> Any: ...


# The parts of an event payload that carry content; ids and hashes stay as they are, and fact
# keys holding PII become digests (``FactKeys``).
_CONTENT = ("call", "decision", "input", "fact", "args", "output", "facts", "note")


class ScrubbingTx:
    """A session transaction whose appended events have their content scrubbed first."""

    def __init__(self, tx: SessionTx, scrub: Callable[[Any], Any], keys: FactKeys) -> None:
        self._tx = tx
        self._scrub_payload = scrub
        self._keys = keys

    def facts(self, query: FactsQuery) -> dict[str, Any]:
        stored, back = self._keys.lookup(query.key_values)
        return self._keys.readable(self._tx.facts(replace(query, key_values=stored)), back)

    def history(self, limit: int) -> list[dict[str, Any]]:
        return self._tx.history(limit)

    def find_call(self, call_id: str) -> CallRecord | None:
        return self._tx.find_call(call_id)

    def version(self) -> int:
        return self._tx.version()

    def ticket(self, ticket_id: str) -> dict[str, Any] | None:
        return self._tx.ticket(ticket_id)

    def reviews(self, binding: str, agent_id: str) -> list[dict[str, Any]]:
        return self._tx.reviews(binding, agent_id)

    def append(self, event: Event) -> int:
        payload = dict(event.payload)
        if isinstance(payload.get("key_value"), str):
            payload["key_value"] = self._keys.stored(payload["key_value"])
        payload = {k: self._scrub_payload(v) if k in _CONTENT else v for k, v in payload.items()}
        return self._tx.append(replace(event, payload=payload))
