"""PII and secret detection for the screening checkpoints.

    from guardrails.screening.pii import PiiScanner
    spans = PiiScanner().scan("reach me at jane@example.org or +44 20 7946 0958")
    # [PiiSpan(entity_type='EMAIL_ADDRESS', start=12, end=28, ...), PiiSpan(entity_type='PHONE_NUMBER', ...)]

``PiiScanner`` runs Railguard's own recognizers: regular expressions that are linear in the
text (bounded quantifiers, token-boundary anchors, no nested repeats) confirmed by checksums
(Luhn, IBAN mod-97, base58check, bech32) and context words. It needs neither presidio nor any
model. Entity names follow presidio's (``EMAIL_ADDRESS``, ``PHONE_NUMBER``, ``CREDIT_CARD``,
``IBAN_CODE``, ``US_SSN``, ``IP_ADDRESS``, ``CRYPTO``); credentials use ours (``API_KEY``,
``AWS_ACCESS_KEY``, ``JWT``, ``PRIVATE_KEY``, ``SECRET``).

``recognizers()`` and ``analyzer_engine()`` need the ``screening`` extra (presidio-analyzer):
the same recognizers as presidio ``EntityRecognizer``s, and a presidio ``AnalyzerEngine``
built with them and no model download (presidio's NER for names and places only when a
spaCy model is already installed). presidio is imported on the first call, not before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guardrails.screening.pii.base import SUPPORTED_ENTITIES, PiiSpan
from guardrails.screening.pii.scanner import DEFAULT_MAX_CHARS, PiiScanner

if TYPE_CHECKING:
    from guardrails.screening.pii.presidio import RailguardRecognizer

__all__ = ["DEFAULT_MAX_CHARS", "SUPPORTED_ENTITIES", "PiiScanner", "PiiSpan", "analyzer_engine", "recognizers"]


def recognizers(*, max_chars: int = DEFAULT_MAX_CHARS) -> list[RailguardRecognizer]:
    """Railguard's recognizer families as presidio ``EntityRecognizer`` subclasses (needs presidio-analyzer)."""
    from guardrails.screening.pii import presidio

    return presidio.recognizers(max_chars=max_chars)


def analyzer_engine(*, spacy_model: str | None = None, max_chars: int = DEFAULT_MAX_CHARS) -> Any:
    """A presidio ``AnalyzerEngine`` with Railguard's recognizers and no model download (needs presidio-analyzer).

    ``spacy_model``: None (no NLP model), ``"auto"`` (an installed ``en_core_web_*`` if any), or the
    name of an installed spaCy model, which adds presidio's NER for PERSON, LOCATION, ORGANIZATION.
    """
    from guardrails.screening.pii import presidio

    return presidio.analyzer_engine(spacy_model=spacy_model, max_chars=max_chars)
