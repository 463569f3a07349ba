"""What every ledger store shares beyond SQL: payload text, ticket rows, the history view.

The stores keep their own SQL (each dialect's hot path stays flat); these shapes are what
callers see, so they are defined once and both stores answer alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from guardrails.errors import LedgerError
from guardrails.ledger.base import CALL_REQUESTED, DECISION, RESULT_RECORDED

# The tables that are a cache of the event log (``rebuild_facts`` empties and refills them).
FACT_TABLES = (
    "calls",
    "call_counts",
    "repeats",
    "pending",
    "results",
    "failures",
    "usage",
    "labels",
    "by_key",
    "tickets",
    "agent_usage",
)
TICKET_COLUMNS = (
    "ticket, session_id, call_id, checkpoint, tool, binding, agent_id, codes, state, opened_at, deadline, "
    "approvers_needed, default_outcome, approvals, claimed_by, resolved_at, resolved_by, note, approval_expires, "
    "used_by, opened_seq"
)
_TICKET_NAMES = tuple(c.strip() for c in TICKET_COLUMNS.split(","))
UNRESOLVED = ("open", "claimed")
# What became of an allowed call with a key (the result checkpoint's verdict on its result).
OUTCOMES = ("succeeded", "failed", "unknown")
# The fields of a ticket event its trail shows.
TRAIL_FIELDS = ("by", "note", "state", "outcome", "call_id", "decision_id")


def payload_text(value: Any) -> str:
    """JSON text of a payload (orjson: about 5x the standard library, same canonical output)."""
    try:
        return orjson.dumps(value).decode()
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise LedgerError(f"payload cannot be stored as JSON: {exc}") from None


def ticket_dict(row: Sequence[Any]) -> dict[str, Any]:
    """A ``tickets`` row (``TICKET_COLUMNS`` order) as the dict stores return."""
    found = dict(zip(_TICKET_NAMES, row, strict=True))
    found["approvals"] = orjson.loads(found["approvals"])
    found["resolved_by"] = orjson.loads(found["resolved_by"])
    found["codes"] = orjson.loads(found["codes"])
    return found


def trail_entry(kind: str, at: float, payload: dict[str, Any]) -> dict[str, Any]:
    """One ticket event as ``ticket()["trail"]`` shows it."""
    return {"type": kind, "at": at, **{k: v for k, v in payload.items() if k in TRAIL_FIELDS}}


def history_view(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The compact shape of an event that ``input.session.history`` exposes to policies."""
    if kind == CALL_REQUESTED:
        call = payload.get("call", {})
        return {"tool": call.get("tool"), "args": call.get("args")}
    if kind == DECISION:
        decision = payload.get("decision", {})
        return {
            "checkpoint": decision.get("checkpoint"),
            "verdict": decision.get("verdict"),
            "codes": [r.get("code") for r in decision.get("reasons", [])],
        }
    if kind == RESULT_RECORDED:
        return {"tool": payload.get("tool"), "verified": payload.get("verified"), "fact": payload.get("fact")}
    return dict(payload)


def agent_of(call: Mapping[str, Any]) -> str | None:
    """The id of the agent that asked for a stored call (``None`` when it was refused unreadable)."""
    agent = call.get("agent")
    found = agent.get("id") if isinstance(agent, dict) else None
    return found if isinstance(found, str) else None


def utc_day(at: float) -> str:
    """``YYYY-MM-DD`` of a timestamp, in UTC: the day a per-agent daily budget counts in."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")
