"""Confidence routing: a result below the threshold goes to a person, not onwards."""

from __future__ import annotations

from guardrails import codes
from guardrails.stages.base import PASS, StageOutcome

SOURCE = "railguard.confidence"


def check_confidence(confidence: float | None, threshold: float | None) -> StageOutcome:
    if confidence is None or threshold is None or confidence >= threshold:
        return PASS
    return StageOutcome.escalate(
        codes.LOW_CONFIDENCE, f"confidence {confidence:.3g} is below the threshold {threshold:.3g}", SOURCE
    )
