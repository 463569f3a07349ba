"""``railguard replay``: re-decide every recorded authorization with candidate policies.

Each ``decision`` event of the authorize checkpoint stores the exact policy input it
was judged on (session facts as they were at that moment; the arguments are stored once,
in the call's own event) and the revision of the deployment parameters it was made under
(kept by the ledger), so a candidate policy set sees what the live one saw, and every
decision that would change is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guardrails.calls import with_args
from guardrails.coverage import Coverage
from guardrails.engines import PolicySet, create_engine
from guardrails.engines.base import config_data
from guardrails.escalation.review import settle
from guardrails.ledger import SQLiteLedger
from guardrails.ledger.base import CALL_REQUESTED, DECISION
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
            f"{len(self.changes)} changed, {self.skipped} not replayable "
            "(rejected before policy, or no config recorded)"
        )
        return "\n".join(lines)


def _summary(verdict: str, codes: list[str]) -> str:
    return f"{verdict} [{', '.join(sorted(codes))}]"


def replay(
    ledger_path: str | Path, policies: PolicySet, engine_name: str = "auto", coverage: Coverage | None = None
) -> ReplayReport:
    """Re-decide each recorded authorization under the config revision it was made under;
    ``coverage`` counts the rules each replayed decision fired."""
    engine = create_engine(engine_name, pool_size=1)
    ledger = SQLiteLedger(ledger_path)
    report = ReplayReport(revision=policies.revision)
    stages: dict[str, PolicyStage] = {}
    args: dict[tuple[str, str | None], Any] = {}
    try:
        for event in ledger.events():
            if event.type == CALL_REQUESTED:
                args[(event.session_id, event.call_id)] = event.payload["call"].get("args")
                continue
            if event.type != DECISION or event.payload.get("checkpoint") != "authorize":
                continue
            recorded = event.payload["decision"]
            stored = event.payload.get("input")
            revision = recorded.get("config_revision", "")
            config = ledger.config(revision)
            if stored is None or config is None:
                report.skipped += 1
                continue
            report.replayed += 1
            stage = stages.get(revision)
            if stage is None:
                engine.prepare(policies, config_data(config))
                stages.clear()  # the engine now holds this revision's data only
                stage = stages[revision] = PolicyStage(engine, TOOL_CALL_PACKAGE)
            # A call decided again after its ticket was resolved keeps its arguments: get, not pop.
            document = with_args(stored, args.get((event.session_id, event.call_id)))
            outcome = stage.run(document)
            if coverage is not None:
                coverage.record(engine, document, outcome)
            # Reviews as they stood (stored with the input): an approval releases the call as it did live.
            review = stored.get("session", {}).get("facts", {}).get("review") or {}
            outcome = settle(outcome, review, deny_on_denial=False).outcome
            before = _summary(recorded["verdict"], [r["code"] for r in recorded.get("reasons", [])])
            after = _summary(outcome.verdict.value, [r.code for r in outcome.reasons])
            if before != after:
                report.changes.append(
                    Change(event.session_id, event.call_id, str(event.payload.get("tool")), before, after)
                )
    finally:
        ledger.close()
    return report
