"""``railguard replay``: re-decide every recorded authorization with candidate policies.

Each ``decision`` event of the authorize checkpoint stores the exact policy input it
was judged on (session facts as they were at that moment), so a candidate policy set
sees what the live one saw, and every decision that would change is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from guardrails.engines import PolicySet, create_engine
from guardrails.ledger import SQLiteLedger
from guardrails.ledger.base import DECISION
from guardrails.pipeline import TOOL_CALL_PACKAGE
from guardrails.stages.policy import PolicyStage


@dataclass(frozen=True)
class Change:
    session_id: str
    call_id: str | None
    tool: str
    before: str
    after: str


@dataclass
class ReplayReport:
    revision: str
    replayed: int = 0
    skipped: int = 0
    changes: list[Change] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def render(self) -> str:
        lines = [f"{c.session_id} {c.call_id} {c.tool}: {c.before} -> {c.after}" for c in self.changes]
        lines.append(
            f"replayed {self.replayed} decisions against revision {self.revision}: "
            f"{len(self.changes)} changed, {self.skipped} not replayable (rejected before policy)"
        )
        return "\n".join(lines)


def _summary(verdict: str, codes: list[str]) -> str:
    return f"{verdict} [{', '.join(sorted(codes))}]"


def replay(ledger_path: str | Path, policies: PolicySet, engine_name: str = "auto") -> ReplayReport:
    engine = create_engine(engine_name)
    engine.prepare(policies)
    stage = PolicyStage(engine, TOOL_CALL_PACKAGE)
    ledger = SQLiteLedger(ledger_path)
    report = ReplayReport(revision=policies.revision)
    try:
        for event in ledger.events():
            if event.type != DECISION or event.payload.get("checkpoint") != "authorize":
                continue
            recorded = event.payload["decision"]
            policy_input = event.payload.get("input")
            if policy_input is None:
                report.skipped += 1
                continue
            report.replayed += 1
            outcome = stage.run(policy_input)
            before = _summary(recorded["verdict"], [r["code"] for r in recorded.get("reasons", [])])
            after = _summary(outcome.verdict.value, [r.code for r in outcome.reasons])
            if before != after:
                report.changes.append(
                    Change(event.session_id, event.call_id, str(event.payload.get("tool")), before, after)
                )
    finally:
        ledger.close()
    return report
