"""One checkpoint's run: stages in order, their outcomes folded into one Decision.

The Guard creates a ``CheckpointRun`` per call; a stage that raises is an ``error`` outcome,
never a pass; the first deny or error stops the checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from guardrails import codes
from guardrails.model import Checkpoint, Decision, Finding, Verdict
from guardrails.stages.base import Screener, StageOutcome


@dataclass
class CheckpointRun:
    """Accumulates stage outcomes and timings for one checkpoint."""

    checkpoint: Checkpoint
    clock: Callable[[], float] = time.time  # the Guard's clock: decision times and input.now agree
    policy_revision: str = ""
    config_revision: str = ""
    latency_ms: dict[str, float] = field(default_factory=dict)
    outcome: StageOutcome = field(default_factory=StageOutcome)
    stage: str = ""
    started: float = field(default_factory=time.perf_counter)

    def stage_run(self, name: str, fn: Callable[[], StageOutcome]) -> bool:
        """Run a stage; return False when the checkpoint must stop (deny or error)."""
        return self.fold(name, *timed_stage(name, fn))

    def fold(self, name: str, outcome: StageOutcome, ms: float) -> bool:
        """Add a stage's outcome (run elsewhere, e.g. outside the ledger's write lock)."""
        self.latency_ms[name] = ms
        # The stage that decided: the last one to block, or the last one run when all passed.
        if outcome.verdict is not Verdict.ALLOW or self.outcome.verdict is Verdict.ALLOW:
            self.stage = name
        # Findings are kept whatever the verdict (a PII span in an allowed call still reaches
        # policy and the record); reasons only come from stages that blocked.
        blocked = outcome.verdict is not Verdict.ALLOW
        self.outcome = StageOutcome(
            outcome.verdict if blocked else self.outcome.verdict,
            self.outcome.reasons + outcome.reasons if blocked else self.outcome.reasons,
            self.outcome.findings + outcome.findings,
            outcome.rewritten if outcome.rewritten is not None else self.outcome.rewritten,
            self.outcome.terms + outcome.terms if blocked else self.outcome.terms,
        )
        return outcome.verdict not in (Verdict.DENY, Verdict.ERROR)

    def decision(self, session_id: str, call_id: str | None, **extra: Any) -> Decision:
        self.latency_ms["total"] = round((time.perf_counter() - self.started) * 1000, 4)
        o = self.outcome
        return Decision(
            verdict=o.verdict,
            checkpoint=self.checkpoint,
            stage=self.stage or "none",
            reasons=o.reasons,
            findings=o.findings,
            rewritten=o.rewritten,
            session_id=session_id,
            call_id=call_id,
            latency_ms=self.latency_ms,
            policy_revision=self.policy_revision,
            config_revision=self.config_revision,
            at=self.clock(),
            **extra,
        )


def run_screeners(run: CheckpointRun, screeners: Sequence[Screener], payload: Any, channel: str) -> bool:
    """Each screener in turn; a later one sees what an earlier one rewrote (redacted text)."""
    for screener in screeners:
        seen = run.outcome.rewritten if run.outcome.rewritten is not None else payload
        if not run.stage_run(f"screen:{screener.name}", partial(screener.screen, seen, channel)):
            return False
    return True


def screen_only(screeners: Sequence[Screener], payload: Any, channel: str, session_id: str = "") -> Decision:
    """The screening checkpoint's Decision for a payload, recorded nowhere (``railguard screen``, corpora)."""
    run = CheckpointRun(Checkpoint.SCREEN_INPUT)
    run_screeners(run, screeners, payload, channel)
    return run.decision(session_id, None)


def timed_stage(name: str, fn: Callable[[], StageOutcome]) -> tuple[StageOutcome, float]:
    """Run a stage and time it; a stage that raises is an ``error`` outcome, never a pass."""
    t0 = time.perf_counter()
    try:
        outcome = fn()
    except Exception as exc:
        outcome = StageOutcome.error(codes.STAGE_FAILED, f"{name}: {type(exc).__name__}: {exc}"[:300], name)
    return outcome, round((time.perf_counter() - t0) * 1000, 4)


def screening_doc(findings: Sequence[Finding]) -> dict[str, Any]:
    """``input.screening`` from the screeners' findings: PII spans, and the strongest injection signal."""
    pii = [f.model_dump(exclude_none=True) for f in findings if f.kind == "pii"]
    injection = [f for f in findings if f.kind == "injection"]
    score = max((f.score or 0.0 for f in injection), default=0)
    return {"pii": pii, "injection": {"score": score, "signals": [f.detail for f in injection]}}


def context_labels(findings: Sequence[Finding]) -> list[str]:
    """Session labels from findings: ``pii:<ENTITY>`` for a PII span, ``untrusted_content`` for injection."""
    labels = {f"pii:{f.detail}" for f in findings if f.kind == "pii"}
    if any(f.kind == "injection" for f in findings):
        labels.add("untrusted_content")
    return sorted(labels)
