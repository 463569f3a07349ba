"""What earlier reviews say about the call (or result) being decided now.

An approval authorizes one execution of the exact call it was raised for: the same session,
agent and binding (the tool + canonical args hash; for a result or an output, its content
hash), covering every reason the policy escalates for now, before it expires, once. The
Guard reads the session's tickets for the binding inside the decision's own transaction, so
two retries racing for one approval cannot both spend it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from guardrails import codes
from guardrails.canonical import dumps
from guardrails.escalation.model import DEADLINE_ACTOR
from guardrails.model import Reason, Verdict
from guardrails.stages.base import StageOutcome

SOURCE = "railguard.escalation"


def content_binding(checkpoint: str, call_id: str | None, payload: Any) -> str:
    """The identity of a result or an output a ticket is raised for (what an approval releases).
    A payload that has no canonical JSON form gets a binding nothing else can ever match."""
    try:
        text = dumps([checkpoint, call_id, payload])
    except (TypeError, ValueError):
        return "unbound-" + uuid.uuid4().hex
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def review_doc(rows: Sequence[Mapping[str, Any]], now: float) -> dict[str, Any]:
    """``input.session.facts.review`` for one exact call: a usable approval, a standing denial,
    a ticket still pending (each the newest such, or ``None``)."""
    approved = denied = pending = None
    for row in rows:  # newest first
        state = row["state"]
        usable = row["used_by"] is None and (row["approval_expires"] is None or row["approval_expires"] > now)
        if approved is None and usable and _approves(row):
            approved = {"ticket": row["ticket"], "by": list(row["resolved_by"]), "codes": list(row["codes"])}
        elif denied is None and state == "denied":
            denied = {"ticket": row["ticket"], "by": list(row["resolved_by"]), "note": row["note"]}
        elif pending is None and state in ("open", "claimed") and row["deadline"] > now:
            pending = {"ticket": row["ticket"], "codes": list(row["codes"])}
    return {"approved": approved, "denied": denied, "pending": pending}


def _approves(row: Mapping[str, Any]) -> bool:
    return bool(row["state"] == "approved" or (row["state"] == "expired" and row["default_outcome"] == "allow"))


@dataclass(frozen=True)
class Settled:
    """How the reviews changed a checkpoint's outcome."""

    outcome: StageOutcome
    spent: str | None = None  # the approval ticket this decision uses up
    ticket: str | None = None  # an open ticket for the same call: no second one is opened


def settle(outcome: StageOutcome, review: Mapping[str, Any], *, deny_on_denial: bool) -> Settled:
    """Apply the reviews to an outcome that escalates; any other outcome stands as it is.

    ``deny_on_denial``: for results and outputs (no policy runs there) a reviewer's denial
    denies here; for tool calls the bundled policy does it, so a policy may say otherwise.
    """
    if outcome.verdict is not Verdict.ESCALATE:
        return Settled(outcome)
    wanted = {r.code for r in outcome.reasons}
    approved, denied, pending = review.get("approved"), review.get("denied"), review.get("pending")
    if approved and wanted <= set(approved["codes"]):
        who = ", ".join(approved["by"]) or DEADLINE_ACTOR
        reason = Reason(
            code=codes.APPROVED_BY_REVIEWER,
            message=f"approved by {who} (ticket {approved['ticket']}), for this call once",
            source=SOURCE,
        )
        return Settled(replace(outcome, verdict=Verdict.ALLOW, reasons=(reason,), terms=()), spent=approved["ticket"])
    if denied and deny_on_denial:
        note = f": {denied['note']}" if denied.get("note") else ""
        reason = Reason(
            code=codes.DENIED_BY_REVIEWER,
            message=f"denied by {', '.join(denied['by'])} (ticket {denied['ticket']}){note}"[:500],
            source=SOURCE,
        )
        return Settled(replace(outcome, verdict=Verdict.DENY, reasons=(reason,), terms=()))
    if pending and wanted <= set(pending["codes"]):
        return Settled(outcome, ticket=pending["ticket"])
    return Settled(outcome)
