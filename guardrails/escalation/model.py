"""Tickets, the people who resolve them, and the terms a ticket is raised with.

A ticket's state is derived from its ledger events (``escalation_opened``, ``ticket_claimed``,
``ticket_approved``, ``escalation_resolved``, ``approval_used``); these models are read views.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from guardrails import codes
from guardrails.errors import EscalationError

MAX_NOTE_CHARS = 2000
MAX_APPROVERS = 10
MAX_DEADLINE_S = 30 * 86400
#: Who resolves a ticket whose deadline passed unanswered.
DEADLINE_ACTOR = "railguard:deadline"


class TicketState(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"  # still unresolved: a reviewer said they are looking at it
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def resolved(self) -> bool:
        return self not in (TicketState.OPEN, TicketState.CLAIMED)


class Identity(BaseModel):
    """Who acts on a ticket. In the sidecar it comes from the API key; in-process, from the caller.

    Reviewers hold the ``reviewer`` role. An identity holding an agent role (``agent`` or
    ``agent:<role>``) is an agent, whatever else it holds, and can never resolve a ticket.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=256)
    roles: tuple[str, ...] = ()

    @property
    def is_agent(self) -> bool:
        return any(r == "agent" or r.startswith("agent:") for r in self.roles)

    @property
    def is_reviewer(self) -> bool:
        return "reviewer" in self.roles and not self.is_agent


def same_person(a: str, b: str) -> bool:
    """Identity ids compared as people are: ``Alice`` is ``alice``, and so is its full-width spelling (NFKC)."""
    return unicodedata.normalize("NFKC", a).casefold() == unicodedata.normalize("NFKC", b).casefold()


def reviewer(name: str) -> Identity:
    """A reviewer identity (the CLI's ``--as NAME``)."""
    return Identity(id=name, roles=("reviewer",))


class Terms(BaseModel):
    """What a ticket needs: how many distinct approvers, by when, and what happens if nobody answers."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    approvers: int = Field(default=1, ge=1, le=MAX_APPROVERS)
    deadline_s: float = Field(default=3600.0, gt=0, le=MAX_DEADLINE_S)
    default: str = Field(default="deny", pattern="^(deny|allow)$")

    @classmethod
    def combine(cls, base: Terms, by_code: Mapping[str, int], codes_: Iterable[str], asked: Iterable[Terms]) -> Terms:
        """The strictest of the deployment's terms and every policy entry's: most approvers, earliest
        deadline; the default is ``allow`` only when every entry that escalated asked for it."""
        found = list(asked)
        approvers = max([base.approvers, *(by_code.get(c, 1) for c in codes_), *(t.approvers for t in found)])
        deadline = min([base.deadline_s, *(t.deadline_s for t in found)])
        default = "allow" if found and all(t.default == "allow" for t in found) else "deny"
        return cls(approvers=min(approvers, MAX_APPROVERS), deadline_s=deadline, default=default)


class Approval(BaseModel):
    by: str
    at: float
    note: str | None = None


class Ticket(BaseModel):
    """A ticket as a reviewer (console, CLI) and a waiting agent see it. Arguments are redacted."""

    model_config = ConfigDict(frozen=True)

    id: str
    state: TicketState
    session_id: str
    call_id: str | None
    checkpoint: str
    tool: str | None
    binding: str  # the args hash (authorize) or content hash the ticket is bound to
    agent: dict[str, Any]
    codes: tuple[str, ...]
    reasons: tuple[dict[str, Any], ...] = ()
    args: Any = None
    output: Any = None
    scores: dict[str, Any] = Field(default_factory=dict)
    confidence: float | None = None
    facts: dict[str, Any] = Field(default_factory=dict)
    opened_at: float
    deadline: float
    approvers_needed: int
    default: str
    approvals: tuple[Approval, ...] = ()
    claimed_by: str | None = None
    resolved_at: float | None = None
    resolved_by: tuple[str, ...] = ()
    note: str | None = None
    approval_expires: float | None = None
    used_by: str | None = None
    decision_id: str = ""
    trail: tuple[dict[str, Any], ...] = ()

    @property
    def resolved(self) -> bool:
        return self.state.resolved

    @property
    def outcome(self) -> str | None:
        """``allow`` or ``deny`` once resolved (an expired ticket takes its default), else ``None``."""
        if self.state is TicketState.APPROVED:
            return "allow"
        if self.state is TicketState.EXPIRED:
            return self.default
        if self.state in (TicketState.DENIED, TicketState.CANCELLED):
            return "deny"
        return None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Ticket:
        opened = row.get("opened", {})
        return cls(
            id=row["ticket"],
            state=TicketState(row["state"]),
            session_id=row["session_id"],
            call_id=row["call_id"],
            checkpoint=row["checkpoint"],
            tool=row["tool"],
            binding=row["binding"],
            agent=opened.get("agent", {"id": row["agent_id"]}),
            codes=tuple(row["codes"]),
            reasons=tuple(opened.get("reasons", ())),
            args=opened.get("args"),
            output=opened.get("output"),
            scores=opened.get("scores", {}),
            confidence=opened.get("confidence"),
            facts=opened.get("facts", {}),
            opened_at=row["opened_at"],
            deadline=row["deadline"],
            approvers_needed=row["approvers_needed"],
            default=row["default_outcome"],
            approvals=tuple(Approval(**a) for a in row["approvals"]),
            claimed_by=row["claimed_by"],
            resolved_at=row["resolved_at"],
            resolved_by=tuple(row["resolved_by"]),
            note=row["note"],
            approval_expires=row["approval_expires"],
            used_by=row["used_by"],
            decision_id=opened.get("decision_id", ""),
            trail=tuple(row.get("trail", ())),
        )


# Line separators and bidi overrides: they make a note read differently from what it says.
_INVISIBLE_CONTROLS = frozenset("\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_note(note: str | None, *, required: bool = False) -> str | None:
    """A reviewer's note as stored: bounded, printable (newlines and tabs allowed). HTML is kept as
    text; whoever shows it escapes it. Anything else is refused with a stable code, not trimmed."""
    if note is None or not note.strip():
        if required:
            raise EscalationError("a denial needs a note saying why", code=codes.NOTE_REQUIRED)
        return None
    if not isinstance(note, str):
        raise EscalationError("a note must be text", code=codes.NOTE_INVALID)
    if len(note) > MAX_NOTE_CHARS:
        raise EscalationError(f"a note is at most {MAX_NOTE_CHARS} characters", code=codes.NOTE_TOO_LONG)
    for ch in note:
        if ch in "\n\t":
            continue
        if unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") or ch in _INVISIBLE_CONTROLS:
            raise EscalationError(
                f"a note must not contain control characters (found U+{ord(ch):04X})", code=codes.NOTE_INVALID
            )
    return note.strip()
