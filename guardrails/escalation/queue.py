"""The human escalation queue: open, claim, approve, deny, cancel, expire and wait on tickets.

Every change is a ledger event appended in the ticket's session transaction, so a ticket is
resolved exactly once across threads, processes and (on PostgreSQL) replicas: the second
reviewer meets a resolved ticket inside the same lock and gets ``ticket_already_resolved``.
Nothing lives only in memory; a restart loses no ticket, and deadlines are enforced by a sweep
at start-up and periodically (and by any read of an overdue ticket).
"""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from guardrails import codes
from guardrails.errors import EscalationError
from guardrails.escalation.model import (
    DEADLINE_ACTOR,
    Identity,
    Terms,
    Ticket,
    TicketState,
    clean_note,
    same_person,
)
from guardrails.escalation.review import review_doc, settle
from guardrails.ledger.base import (
    APPROVAL_USED,
    ESCALATION_OPENED,
    ESCALATION_RESOLVED,
    TICKET_APPROVED,
    TICKET_CLAIMED,
    Event,
    LedgerStore,
    SessionTx,
)
from guardrails.model import Decision, Verdict
from guardrails.stages.base import StageOutcome


class TicketListener(Protocol):
    """Told when a ticket opens or resolves (the webhook); must not block."""

    def ticket_event(self, kind: str, ticket: Ticket) -> None: ...


@dataclass(frozen=True)
class EscalationSettings:
    """``[escalation]`` in the deployment file."""

    terms: Terms = field(default_factory=Terms)
    approvers_by_code: Mapping[str, int] = field(default_factory=dict)
    approval_ttl_s: float = 3600.0
    sweep_interval_s: float | None = None


@dataclass(frozen=True)
class TicketRequest:
    """What the Guard knows when a checkpoint escalates: the ticket's content (redacted by the caller)."""

    binding: str
    agent: Mapping[str, Any]
    tool: str | None = None
    args: Any = None
    output: Any = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    confidence: float | None = None


def open_ticket(
    tx: SessionTx,
    decision: Decision,
    request: TicketRequest,
    settings: EscalationSettings,
    asked: Sequence[Mapping[str, Any]] = (),
) -> Decision:
    """An escalation opens a durable ticket in the same transaction as its decision (id = decision id),
    on the strictest terms of the deployment's and of what the escalate entries ``asked``."""
    terms = Terms.combine(settings.terms, settings.approvers_by_code, decision.codes, [Terms(**t) for t in asked])
    return _open(tx, decision, request, terms)


def _open(tx: SessionTx, decision: Decision, request: TicketRequest, terms: Terms) -> Decision:
    decision = decision.model_copy(update={"ticket": decision.decision_id})
    scores: dict[str, Any] = {}
    injection = [f.score or 0.0 for f in decision.findings if f.kind == "injection"]
    if injection:
        scores["injection"] = max(injection)
    pii = sorted({f.detail for f in decision.findings if f.kind == "pii"})
    if pii:
        scores["pii"] = pii
    tx.append(
        Event(
            decision.session_id,
            ESCALATION_OPENED,
            decision.at,
            {
                "ticket": decision.ticket,
                "decision_id": decision.decision_id,
                "checkpoint": decision.checkpoint.value,
                "codes": list(decision.codes),
                "reasons": [r.model_dump() for r in decision.reasons],
                "tool": request.tool,
                "binding": request.binding,
                "agent_id": str(request.agent.get("id", "")),
                "agent": dict(request.agent),
                "args": request.args,
                "output": request.output,
                "facts": dict(request.facts),
                "scores": scores,
                "confidence": request.confidence,
                "deadline": decision.at + terms.deadline_s,
                "approvers": terms.approvers,
                "default": terms.default,
            },
            decision.call_id,
        )
    )
    return decision


def spend_approval(tx: SessionTx, decision: Decision, ticket: str) -> None:
    """The approval ``ticket`` released this decision; it releases nothing else."""
    tx.append(
        Event(
            decision.session_id,
            APPROVAL_USED,
            decision.at,
            {"ticket": ticket, "decision_id": decision.decision_id, "call_id": decision.call_id},
            decision.call_id,
        )
    )


def reviewed(
    tx: SessionTx,
    decision: Decision,
    request: TicketRequest,
    asked: Sequence[Mapping[str, Any]],
    settings: EscalationSettings,
    now: float,
    *,
    deny_on_denial: bool,
) -> Decision:
    """An escalating decision meets the reviews of the same call or content: a usable approval
    releases it once (and is spent here), a denial denies, a pending ticket is reused; otherwise
    a ticket opens, durably, in this same transaction."""
    if decision.verdict is not Verdict.ESCALATE:
        return decision
    review = review_doc(tx.reviews(request.binding, str(request.agent.get("id", ""))), now)
    settled = settle(StageOutcome(decision.verdict, decision.reasons), review, deny_on_denial=deny_on_denial)
    if settled.spent is not None:
        decision = decision.model_copy(
            update={"verdict": Verdict.ALLOW, "reasons": settled.outcome.reasons, "ticket": settled.spent}
        )
        spend_approval(tx, decision, settled.spent)
        return decision
    if settled.outcome.verdict is Verdict.DENY:
        return decision.model_copy(update={"verdict": Verdict.DENY, "reasons": settled.outcome.reasons})
    if settled.ticket is not None:
        return decision.model_copy(update={"ticket": settled.ticket})
    return open_ticket(tx, decision, request, settings, asked)


def same(payload: Any) -> Any:
    return payload


def ticket_redactor() -> Callable[[Any], Any]:
    """Tickets show redacted arguments even when no PII screener runs: our own recognizers
    need nothing beyond the core install; without them, what the ledger stores anyway."""
    try:
        from guardrails.screening.screeners import PiiScreener
    except ImportError:
        return same
    return PiiScreener(cache_size=0).scrub


class EscalationQueue:
    """``guard.queue``: the reviewers' side of tickets, over the Guard's ledger."""

    def __init__(
        self,
        ledger: LedgerStore,
        settings: EscalationSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        listeners: Sequence[TicketListener] = (),
    ) -> None:
        self.ledger = ledger
        self.settings = settings or EscalationSettings()
        self.clock = clock
        self.listeners = list(listeners)
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    # -- reading -----------------------------------------------------------------------------
    def get(self, ticket_id: str) -> Ticket:
        row = self.ledger.ticket(_ticket_id(ticket_id))
        if row is None:
            raise EscalationError(f"no ticket {ticket_id!r}", code=codes.UNKNOWN_TICKET)
        return Ticket.from_row(row)

    def list(
        self, *, states: Sequence[str | TicketState] = (), session_id: str | None = None, limit: int = 100
    ) -> builtins.list[Ticket]:
        """Tickets, unresolved first, oldest first (what a reviewer works through)."""
        wanted = [TicketState(s).value for s in states]
        rows = self.ledger.tickets(states=wanted, session_id=session_id, limit=limit)
        return [Ticket.from_row(row) for row in rows]

    def depth(self) -> int:
        """Unresolved tickets (a metric)."""
        return len(self.ledger.tickets(states=["open", "claimed"], limit=1_000_000))

    def oldest_age(self) -> float | None:
        """Seconds the oldest unresolved ticket has waited (a metric); ``None`` when none waits."""
        oldest = self.ledger.tickets(states=["open", "claimed"], limit=1)
        return self.clock() - oldest[0]["opened_at"] if oldest else None

    def wait(self, ticket_id: str, timeout: float = 30.0, *, poll: float = 0.05) -> Ticket:
        """Block up to ``timeout`` seconds for a resolution; returns the ticket, resolved or not.

        It polls the ledger, so a resolution by another process or replica is seen too, and an
        overdue ticket is expired here rather than waited on.
        """
        ends = time.monotonic() + max(0.0, timeout)
        delay = poll
        while True:
            ticket = self.get(ticket_id)
            if not ticket.resolved and ticket.deadline <= self.clock():
                self._expire_one(ticket.id, ticket.session_id)
                ticket = self.get(ticket_id)
            if ticket.resolved or time.monotonic() >= ends:
                return ticket
            time.sleep(min(delay, max(0.0, ends - time.monotonic())))
            delay = min(delay * 1.5, 0.5)

    # -- acting ------------------------------------------------------------------------------
    def claim(self, ticket_id: str, who: Identity, note: str | None = None) -> Ticket:
        """Say a reviewer is looking at the ticket (advisory: others may still approve or deny)."""
        note = clean_note(note)
        return self._act(ticket_id, who, lambda row: [(TICKET_CLAIMED, {"by": who.id, "note": note})], claim=True)

    def approve(
        self, ticket_id: str, who: Identity, note: str | None = None, *, args_hash: str | None = None
    ) -> Ticket:
        """One approval; the ticket resolves ``approved`` when it has the distinct approvers it needs.
        ``args_hash``: the binding the reviewer saw (the console and CLI pass it); another one is refused."""
        note = clean_note(note)

        def events(row: Mapping[str, Any]) -> builtins.list[tuple[str, dict[str, Any]]]:
            if args_hash is not None and args_hash != row["binding"]:
                raise EscalationError(
                    f"ticket {row['ticket']} is for arguments {row['binding']}, not {args_hash}",
                    code=codes.ARGS_HASH_MISMATCH,
                )
            if any(same_person(a["by"], who.id) for a in row["approvals"]):
                raise EscalationError(
                    f"{who.id} already approved ticket {row['ticket']}; it needs another reviewer",
                    code=codes.DUPLICATE_APPROVAL,
                )
            found: builtins.list[tuple[str, dict[str, Any]]] = [(TICKET_APPROVED, {"by": who.id, "note": note})]
            approvers = [a["by"] for a in row["approvals"]] + [who.id]
            if len(approvers) >= row["approvers_needed"]:
                expires = self.clock() + self.settings.approval_ttl_s
                found.append(
                    (
                        ESCALATION_RESOLVED,
                        {"state": "approved", "by": approvers, "note": note, "approval_expires": expires},
                    )
                )
            return found

        return self._act(ticket_id, who, events)

    def deny(self, ticket_id: str, who: Identity, note: str) -> Ticket:
        """Deny the ticket (one denial denies, whatever approvals it already had); a note is required."""
        clean = clean_note(note, required=True)
        return self._act(
            ticket_id, who, lambda row: [(ESCALATION_RESOLVED, {"state": "denied", "by": [who.id], "note": clean})]
        )

    def cancel(self, ticket_id: str, who: Identity, note: str | None = None) -> Ticket:
        """Withdraw a ticket: a reviewer, or the agent that raised it (it no longer wants the call)."""
        clean = clean_note(note)
        return self._act(
            ticket_id,
            who,
            lambda row: [(ESCALATION_RESOLVED, {"state": "cancelled", "by": [who.id], "note": clean})],
            cancel=True,
        )

    def expire(self, now: float | None = None) -> builtins.list[str]:
        """The deadline sweep: every overdue ticket resolves to its default, one event each, exactly
        once across processes. Returns the tickets this call expired."""
        now = self.clock() if now is None else now
        return [t for t, sid in self.ledger.overdue(now) if self._expire_one(t, sid, now)]

    def _expire_one(self, ticket_id: str, session_id: str, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        with self.ledger.session(session_id) as tx:
            row = tx.ticket(ticket_id)
            if row is None or TicketState(row["state"]).resolved or row["deadline"] > now:
                return False  # another process got there first, or it was answered meanwhile
            tx.append(expiry_event(row, now, self.settings.approval_ttl_s))
        self._tell("resolved", ticket_id)
        return True

    def _act(
        self,
        ticket_id: str,
        who: Identity,
        events: Callable[[Mapping[str, Any]], builtins.list[tuple[str, dict[str, Any]]]],
        *,
        claim: bool = False,
        cancel: bool = False,
    ) -> Ticket:
        ticket_id = _ticket_id(ticket_id)
        found = self.ledger.ticket(ticket_id)
        if found is None:
            raise EscalationError(f"no ticket {ticket_id!r}", code=codes.UNKNOWN_TICKET)
        expired = False
        with self.ledger.session(found["session_id"]) as tx:
            row = tx.ticket(ticket_id)
            if row is None:
                raise EscalationError(f"no ticket {ticket_id!r}", code=codes.UNKNOWN_TICKET)
            _may_act(row, found.get("opened", {}), who, cancel=cancel)
            state = TicketState(row["state"])
            now = self.clock()
            if state.resolved:
                raise EscalationError(
                    f"ticket {ticket_id} is already {state.value}", code=codes.TICKET_ALREADY_RESOLVED
                )
            if row["deadline"] <= now:
                tx.append(expiry_event(row, now, self.settings.approval_ttl_s))
                expired = True
            else:
                if claim and row["claimed_by"] not in (None, who.id):
                    raise EscalationError(
                        f"ticket {ticket_id} is claimed by {row['claimed_by']}", code=codes.TICKET_CLAIMED_BY_OTHER
                    )
                for kind, payload in events(row):
                    tx.append(Event(row["session_id"], kind, now, {"ticket": ticket_id, **payload}, row["call_id"]))
        if expired:
            self._tell("resolved", ticket_id)
            raise EscalationError(
                f"ticket {ticket_id} passed its deadline and resolved to its default", code=codes.TICKET_EXPIRED
            )
        ticket = self.get(ticket_id)
        if ticket.resolved:
            self._tell("resolved", ticket_id, ticket)
        return ticket

    def _tell(self, kind: str, ticket_id: str, ticket: Ticket | None = None) -> None:
        if not self.listeners:
            return
        try:
            ticket = ticket or self.get(ticket_id)
        except EscalationError:
            return
        for listener in self.listeners:
            try:
                listener.ticket_event(kind, ticket)
            except Exception:  # noqa: S112 - a listener never changes a resolution
                continue

    def decision_opened(self, decision: Decision) -> None:
        """Tell listeners of a ticket a decision opened (after its transaction committed)."""
        if decision.verdict is Verdict.ESCALATE and decision.ticket:
            self._tell("opened", decision.ticket)

    # -- the periodic sweep ------------------------------------------------------------------
    def start_sweeper(self, interval_s: float) -> None:
        """Expire overdue tickets every ``interval_s`` seconds on a daemon thread."""
        if self._sweeper is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.expire()
                except Exception:  # noqa: S112 - a busy ledger: the next round catches up
                    continue

        self._sweeper = threading.Thread(target=loop, name="railguard-ticket-sweeper", daemon=True)
        self._sweeper.start()

    def close(self) -> None:
        """Stop the sweeper and the listeners (a webhook delivers what it has queued first)."""
        self._stop.set()
        if self._sweeper is not None and self._sweeper is not threading.current_thread():
            self._sweeper.join(timeout=5)
        self._sweeper = None
        for listener in self.listeners:
            close = getattr(listener, "close", None)
            if callable(close):
                close()


def _ticket_id(ticket_id: Any) -> str:
    if not isinstance(ticket_id, str) or not 0 < len(ticket_id) <= 256 or not ticket_id.isprintable():
        raise EscalationError("a ticket id is a short printable string", code=codes.UNKNOWN_TICKET)
    return ticket_id


def _may_act(row: Mapping[str, Any], opened: Mapping[str, Any], who: Identity, *, cancel: bool) -> None:
    """Separation of duties: agents never resolve (except withdrawing their own ticket), and a
    reviewer never resolves a ticket raised by or on behalf of their own identity."""
    agent: dict[str, Any] = opened["agent"] if isinstance(opened.get("agent"), dict) else {}
    raised_by = {row["agent_id"]}
    attributes: dict[str, Any] = agent["attributes"] if isinstance(agent.get("attributes"), dict) else {}
    for key in ("on_behalf_of", "user", "user_id"):
        if isinstance(attributes.get(key), str):
            raised_by.add(attributes[key])
    if who.is_agent:
        if cancel and same_person(who.id, row["agent_id"]):
            return
        raise EscalationError(
            f"{who.id} is an agent identity; agents never resolve tickets", code=codes.AGENT_CANNOT_REVIEW
        )
    if not who.is_reviewer:
        raise EscalationError(f"{who.id} does not have the reviewer role", code=codes.NOT_A_REVIEWER)
    if any(same_person(who.id, raiser) for raiser in raised_by):
        raise EscalationError(
            f"{who.id} cannot resolve a ticket raised by or on behalf of themselves", code=codes.SELF_APPROVAL
        )


def expiry_event(row: Mapping[str, Any], now: float, approval_ttl_s: float) -> Event:
    allow = row["default_outcome"] == "allow"
    return Event(
        row["session_id"],
        ESCALATION_RESOLVED,
        now,
        {
            "ticket": row["ticket"],
            "state": "expired",
            "outcome": row["default_outcome"],
            "by": [DEADLINE_ACTOR],
            "note": f"no answer by the deadline: resolved to its default ({row['default_outcome']})",
            "approval_expires": now + approval_ttl_s if allow else None,
        },
        row["call_id"],
    )
