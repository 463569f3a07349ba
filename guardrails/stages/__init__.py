"""The stages a checkpoint runs, one module each; ``Screener`` is the seam screening plugs into."""

from guardrails.stages.base import PASS, Screener, StageOutcome

__all__ = ["PASS", "Screener", "StageOutcome"]
