"""The session ledger: an append-only, event-sourced log per session, and its facts.

Facts are kept up to date in the same transaction that appends an event, so a
policy's input stays small and the cost of a decision does not grow with the
length of the session (every peer measured passes the whole history instead).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from guardrails.ledger.chain import Anchor, StoredEvent

# Event types, in the order a call lives through them.
CALL_REQUESTED = "call_requested"
DECISION = "decision"
RESULT_RECORDED = "result_recorded"
ESCALATION_OPENED = "escalation_opened"
ESCALATION_RESOLVED = "escalation_resolved"
USAGE_REPORTED = "usage_reported"
LABELS_ADDED = "labels_added"
# A ticket's life after it opened (guardrails/escalation): claimed, one approval of the N it
# needs, and an approval spent by the one call it released.
TICKET_CLAIMED = "ticket_claimed"
TICKET_APPROVED = "ticket_approved"
APPROVAL_USED = "approval_used"

TICKET_EVENTS = frozenset({ESCALATION_OPENED, TICKET_CLAIMED, TICKET_APPROVED, ESCALATION_RESOLVED, APPROVAL_USED})
EVENT_TYPES = frozenset({CALL_REQUESTED, DECISION, RESULT_RECORDED, USAGE_REPORTED, LABELS_ADDED, *TICKET_EVENTS})


@dataclass(frozen=True)
class Event:
    session_id: str
    type: str
    at: float
    payload: Mapping[str, Any]
    call_id: str | None = None
    seq: int = 0  # assigned by the store


@dataclass(frozen=True)
class CallRecord:
    """What the ledger knows of one call: enough to check its result and answer retries."""

    call_id: str
    tool: str
    args_hash: str
    key_value: str | None
    verdict: str
    decision: Mapping[str, Any]
    has_result: bool
    agent_id: str | None = None  # who asked: only they may record its result


@dataclass(frozen=True)
class FactsQuery:
    """Which slice of the facts a decision needs."""

    tool: str | None = None
    args_hash: str | None = None
    key_values: Sequence[str] = ()
    all_results: bool = False
    history: bool = False
    history_limit: int = 1000
    extra: Mapping[str, Any] = field(default_factory=dict)
    agent_id: str | None = None  # with ``day``: the agent's usage that day, across its sessions
    day: str | None = None  # YYYY-MM-DD (UTC)


class SessionTx(Protocol):
    """One session, inside one write transaction: read facts, decide, append."""

    def facts(self, query: FactsQuery) -> dict[str, Any]: ...

    def history(self, limit: int) -> list[dict[str, Any]]: ...

    def find_call(self, call_id: str) -> CallRecord | None: ...

    def version(self) -> int: ...

    def append(self, event: Event) -> int: ...

    def ticket(self, ticket_id: str) -> dict[str, Any] | None:
        """A ticket of this session (its derived state), read inside the transaction."""
        ...

    def reviews(self, binding: str, agent_id: str) -> list[dict[str, Any]]:
        """The session's tickets for one exact call (binding hash and agent), newest first."""
        ...


class LedgerStore(Protocol):
    """A durable store of session events. SQLite by default; PostgreSQL for replicas."""

    def session(self, session_id: str) -> AbstractContextManager[SessionTx]:
        """A write transaction on one session: read, decide, append, atomically."""
        ...

    def read(self, session_id: str) -> AbstractContextManager[SessionTx]:
        """A read-only snapshot of one session (appending in it fails)."""
        ...

    def events(self, session_id: str | None = None) -> Iterator[Event]: ...

    def sessions(self) -> list[str]: ...

    def record_config(self, revision: str, config: Mapping[str, Any]) -> None: ...

    def config(self, revision: str) -> dict[str, Any] | None: ...

    def rebuild_facts(self) -> None: ...

    def stored_events(self, session_id: str | None = None) -> Iterator[StoredEvent]:
        """Events exactly as stored (payload text, ``prev_hash``, ``hash``), in seq order: what
        ``railguard audit verify`` walks (guardrails/ledger/verify.py)."""
        ...

    def anchor(self) -> Anchor | None:
        """Seal every event appended since the last anchor (guardrails/ledger/chain.py) and return
        the newest anchor; ``None`` while the ledger is empty. Nothing new: nothing is written."""
        ...

    def anchors(self) -> list[Anchor]:
        """Every anchor, oldest first."""
        ...

    def ticket(self, ticket_id: str) -> dict[str, Any] | None:
        """A ticket's derived state and the payload it opened with; ``None`` when unknown."""
        ...

    def tickets(
        self, *, states: Sequence[str] = (), session_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Tickets, open ones first, oldest first."""
        ...

    def overdue(self, now: float) -> list[tuple[str, str]]:
        """``(ticket, session)`` of every unresolved ticket whose deadline has passed."""
        ...

    def close(self) -> None: ...
