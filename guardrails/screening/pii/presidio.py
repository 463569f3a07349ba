"""Railguard's recognizers as presidio ``EntityRecognizer``s, and an offline presidio ``AnalyzerEngine``.

Imported only when asked for (``recognizers()``, ``analyzer_engine()``): presidio-analyzer
pulls in spaCy, which the core install does without. Nothing here downloads anything:

- the engine's NLP engine is presidio's ``NoOpNlpEngine`` (no model) unless a spaCy model
  that is *already installed* is named, which adds presidio's NER path (PERSON, LOCATION,
  ORGANIZATION); presidio's own default would ``spacy download`` a missing model;
- ``tldextract``, which presidio's own ``EmailRecognizer`` calls, is pointed at the suffix
  list bundled in its wheel (``offline_tldextract()``), never at publicsuffix.org.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

# presidio-analyzer ships type hints; the ignores keep mypy quiet where the screening extra is not installed.
import spacy.util  # type: ignore[import-not-found,unused-ignore]
import tldextract.tldextract  # type: ignore[import-not-found,unused-ignore]
from presidio_analyzer import (  # type: ignore[import-not-found,unused-ignore]
    AnalysisExplanation,
    AnalyzerEngine,
    EntityRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer.nlp_engine import NlpEngine, NoOpNlpEngine, SpacyNlpEngine  # type: ignore[import-not-found,unused-ignore]
from presidio_analyzer.predefined_recognizers import SpacyRecognizer  # type: ignore[import-not-found,unused-ignore]

from guardrails import codes
from guardrails.errors import ConfigError, InputError
from guardrails.screening.pii.base import Recognizer
from guardrails.screening.pii.scanner import DEFAULT_MAX_CHARS, default_recognizers

LANGUAGE: Final = "en"
NER_ENTITIES: Final = ("PERSON", "LOCATION", "ORGANIZATION")
#: Tried in this order by ``spacy_model="auto"``; only ever looked up, never downloaded.
SPACY_MODELS: Final = ("en_core_web_lg", "en_core_web_md", "en_core_web_sm", "en_core_web_trf")


class RailguardRecognizer(EntityRecognizer):  # type: ignore[misc,unused-ignore]
    """One of Railguard's recognizer families behind presidio's recognizer interface.

    ``analyze`` runs the same code as ``PiiScanner`` (same checksums, same context rules) and
    returns presidio ``RecognizerResult``s. It declares no context words, so presidio's
    context enhancer leaves its scores alone.
    """

    def __init__(self, family: Recognizer, *, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        self.family = family
        self.max_chars = max_chars
        # Prefixed: presidio's own recognizers have the same names (EmailRecognizer...) and may share a registry.
        self.qualified_name = f"Railguard{family.name}"
        super().__init__(
            supported_entities=sorted(family.entities), name=self.qualified_name, supported_language=LANGUAGE
        )

    def load(self) -> None:
        """Nothing to load: patterns are compiled at import."""

    def analyze(self, text: str, entities: list[str] | None, nlp_artifacts: Any = None) -> list[Any]:
        if len(text) > self.max_chars:
            raise InputError(
                f"text of {len(text)} characters exceeds the PII scan limit of {self.max_chars}",
                code=codes.INPUT_TOO_LARGE,
            )
        wanted = set(entities) if entities else self.family.entities
        results = []
        for span in self.family.find(text):
            if span.entity_type not in wanted:
                continue
            explanation = AnalysisExplanation(
                recognizer=self.qualified_name,
                original_score=span.score,
                textual_explanation=f"{span.entity_type} validated by Railguard's {span.recognizer}",
            )
            results.append(
                RecognizerResult(
                    entity_type=span.entity_type,
                    start=span.start,
                    end=span.end,
                    score=span.score,
                    analysis_explanation=explanation,
                    recognition_metadata={
                        RecognizerResult.RECOGNIZER_NAME_KEY: self.qualified_name,
                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                    },
                )
            )
        return results


def recognizers(*, max_chars: int = DEFAULT_MAX_CHARS) -> list[RailguardRecognizer]:
    """Railguard's recognizer families, one presidio recognizer each."""
    return [RailguardRecognizer(family, max_chars=max_chars) for family in default_recognizers()]


def analyzer_engine(*, spacy_model: str | None = None, max_chars: int = DEFAULT_MAX_CHARS) -> Any:
    """A presidio ``AnalyzerEngine`` with Railguard's recognizers and no model download.

    ``spacy_model=None`` (default): no NLP model at all (``NoOpNlpEngine``); structured
    identifiers and secrets only. ``spacy_model="en_core_web_lg"`` (any installed spaCy
    package or model path) adds presidio's NER recognizer for PERSON, LOCATION and
    ORGANIZATION; ``"auto"`` uses the first installed of ``SPACY_MODELS`` and falls back to
    no model. A named model that is not installed is a ``ConfigError``: install it yourself
    (``pip install en_core_web_lg-...whl``); Railguard never fetches one.
    """
    offline_tldextract()
    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    for recognizer in recognizers(max_chars=max_chars):
        registry.add_recognizer(recognizer)
    model = _installed_spacy_model(spacy_model)
    nlp_engine: NlpEngine
    if model is None:
        nlp_engine = NoOpNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": "no_op"}])
    else:
        nlp_engine = SpacyNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": model}])
        nlp_engine.load()
        registry.add_recognizer(SpacyRecognizer(supported_language=LANGUAGE, supported_entities=list(NER_ENTITIES)))
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=[LANGUAGE])


def offline_tldextract() -> None:
    """Make ``tldextract.extract`` (used by presidio's ``EmailRecognizer``) read only its bundled suffix list.

    Its module-level extractor would otherwise fetch publicsuffix.org on first use and cache
    the answer under the user's home. Idempotent; affects the whole process, on purpose.
    """
    current = tldextract.tldextract.TLD_EXTRACTOR
    if current.suffix_list_urls or current._cache.enabled:
        tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _installed_spacy_model(spacy_model: str | None) -> str | None:
    if spacy_model is None:
        return None
    if spacy_model == "auto":
        return next((name for name in SPACY_MODELS if spacy.util.is_package(name)), None)
    if spacy.util.is_package(spacy_model) or Path(spacy_model).exists():
        return spacy_model
    raise ConfigError(
        f"spaCy model {spacy_model!r} is not installed; Railguard never downloads models. "
        "Install it (e.g. pip install the model's wheel) or pass spacy_model=None."
    )
