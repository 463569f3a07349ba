"""Prompt-injection screening: normaliser, scored rules, a small shipped model, an optional larger one.

    >>> from guardrails.screening.injection import InjectionDetector
    >>> result = InjectionDetector().detect(tool_output_text, channel="tool_output")  # doctest: +SKIP
    >>> result.verdict, result.score, result.signals  # doctest: +SKIP
    ('escalate', 0.71, ('hidden_markup', 'instruction_override'))

See ``docs/injection-model.md`` for the model, its data and its measured accuracy.
"""

from .detector import ALLOW, CHANNELS, DENY, ESCALATE, InjectionDetector, InjectionResult, Thresholds
from .external import ExternalModelError, ExternalScorer, OnnxClassifier
from .model import HashedNgramModel
from .normalise import Normalised, normalise
from .rules import RULES, rule_score, scan

__all__ = [
    "ALLOW",
    "CHANNELS",
    "DENY",
    "ESCALATE",
    "RULES",
    "ExternalModelError",
    "ExternalScorer",
    "HashedNgramModel",
    "InjectionDetector",
    "InjectionResult",
    "Normalised",
    "OnnxClassifier",
    "Thresholds",
    "normalise",
    "rule_score",
    "scan",
]
