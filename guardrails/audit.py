"""``railguard audit``: answer an auditor's question from the ledger.

"Every ``make_payment`` since Tuesday, by any agent, with the verdict, the rule that decided and
the approvers": decisions are read from the ledger's events (the one source of truth), joined
with the call that asked (its agent) and the ticket that resolved it (its reviewers), and
filtered by agent, tool, verdict, code, session, checkpoint and time. Usage reports answer
"where did the money go" per agent or session.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from guardrails import codes
from guardrails.errors import InputError
from guardrails.ledger.base import CALL_REQUESTED, DECISION, USAGE_REPORTED, LedgerStore

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RELATIVE = re.compile(r"^(\d{1,6})([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_when(text: str, now: datetime | None = None) -> float:
    """A point in time from ISO 8601 (``2026-11-24``, ``2026-11-24T09:00:00Z``), a span back from now
    (``90m``, ``24h``, ``7d``), ``today``, ``yesterday`` or a weekday (``tuesday``: the most recent one,
    today included, from 00:00 UTC)."""
    now = now or datetime.now(UTC)
    word = text.strip().lower()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if word == "today":
        return midnight.timestamp()
    if word == "yesterday":
        return (midnight - timedelta(days=1)).timestamp()
    if word in _WEEKDAYS:
        back = (now.weekday() - _WEEKDAYS.index(word)) % 7
        return (midnight - timedelta(days=back)).timestamp()
    relative = _RELATIVE.match(word)
    if relative:
        return (now - timedelta(seconds=int(relative[1]) * _UNITS[relative[2]])).timestamp()
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"not a time: {text!r} (ISO 8601, 24h / 7d, today, yesterday or a weekday)", code=codes.MALFORMED_JSON
        ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True)
class AuditQuery:
    tool: str | None = None
    agent: str | None = None
    verdict: str | None = None
    code: str | None = None
    session: str | None = None
    checkpoint: str | None = None
    since: float | None = None
    until: float | None = None

    def matches(self, row: AuditRow) -> bool:
        return (
            (self.tool is None or row.tool == self.tool)
            and (self.agent is None or row.agent == self.agent)
            and (self.verdict is None or row.verdict == self.verdict)
            and (self.code is None or self.code in row.codes)
            and (self.session is None or row.session_id == self.session)
            and (self.checkpoint is None or row.checkpoint == self.checkpoint)
            and (self.since is None or row.at >= self.since)
            and (self.until is None or row.at < self.until)
        )


@dataclass(frozen=True)
class AuditRow:
    """One recorded decision, as an auditor reads it."""

    at: float
    session_id: str
    call_id: str | None
    checkpoint: str
    tool: str | None
    agent: str | None
    verdict: str
    codes: tuple[str, ...]
    rules: tuple[str, ...]  # the rule (or detector) behind each reason
    decision_id: str
    ticket: str | None = None
    ticket_state: str | None = None
    approvers: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["time"] = datetime.fromtimestamp(self.at, UTC).isoformat().replace("+00:00", "Z")
        return doc


def decisions(ledger: LedgerStore, query: AuditQuery) -> Iterator[AuditRow]:
    """Every recorded decision the query selects, in ledger order."""
    agents: dict[tuple[str, str | None], str | None] = {}
    tickets: dict[str, Mapping[str, Any] | None] = {}
    for event in ledger.events(query.session):
        if event.type == CALL_REQUESTED:
            agent = event.payload.get("call", {}).get("agent", {})
            agents[(event.session_id, event.call_id)] = agent.get("id") if isinstance(agent, dict) else None
            continue
        if event.type != DECISION:
            continue
        decision = event.payload.get("decision", {})
        reasons = decision.get("reasons", [])
        row = AuditRow(
            at=event.at,
            session_id=event.session_id,
            call_id=event.call_id,
            checkpoint=str(decision.get("checkpoint", event.payload.get("checkpoint", ""))),
            tool=event.payload.get("tool"),
            agent=agents.get((event.session_id, event.call_id)),
            verdict=str(decision.get("verdict", "")),
            codes=tuple(r.get("code", "") for r in reasons),
            rules=tuple(r.get("source", "") for r in reasons),
            decision_id=str(decision.get("decision_id", "")),
            ticket=decision.get("ticket"),
        )
        if not query.matches(row):
            continue
        if row.ticket is not None:
            if row.ticket not in tickets:
                tickets[row.ticket] = ledger.ticket(row.ticket)
            found = tickets[row.ticket]
            if found is not None:
                row = AuditRow(
                    **{**asdict(row), "ticket_state": found["state"], "approvers": tuple(found["resolved_by"])}
                )
        yield row


def render(rows: list[AuditRow]) -> str:
    lines = [f"{'time (UTC)':20} {'agent':16} {'tool':16} {'verdict':8} {'codes / rules':48} approvers"]
    for r in rows:
        when = datetime.fromtimestamp(r.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        why = ", ".join(f"{c} [{s}]" for c, s in zip(r.codes, r.rules, strict=True)) or "-"
        who = ", ".join(r.approvers) + (f" ({r.ticket_state})" if r.ticket_state else "") if r.ticket else "-"
        lines.append(f"{when:20} {(r.agent or '-')[:16]:16} {(r.tool or '-')[:16]:16} {r.verdict:8} {why:48} {who}")
    lines.append(f"{len(rows)} decision(s)")
    return "\n".join(lines)


def usage(ledger: LedgerStore, *, by: str = "agent", since: float | None = None) -> dict[str, dict[str, float]]:
    """Tokens and spend reported, per agent (as reported with the usage) or per session."""
    totals: dict[str, dict[str, float]] = {}
    for event in ledger.events():
        if event.type != USAGE_REPORTED or (since is not None and event.at < since):
            continue
        key = event.session_id if by == "session" else str(event.payload.get("agent") or "(unattributed)")
        entry = totals.setdefault(key, {"tokens": 0, "cost": 0.0, "reports": 0})
        entry["tokens"] += event.payload.get("tokens", 0)
        entry["cost"] += event.payload.get("cost", 0.0)
        entry["reports"] += 1
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]["cost"]))
