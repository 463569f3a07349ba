"""``PiiScanner``: run every recognizer family over a text and resolve overlapping findings."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Final

from guardrails import codes
from guardrails.errors import ConfigError, InputError
from guardrails.screening.pii.base import SUPPORTED_ENTITIES, PiiSpan, Recognizer
from guardrails.screening.pii.credentials import (
    JwtRecognizer,
    KeyValueSecretRecognizer,
    PrivateKeyRecognizer,
    ProviderTokenRecognizer,
)
from guardrails.screening.pii.identifiers import (
    CreditCardRecognizer,
    CryptoRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    UsSsnRecognizer,
)
from guardrails.screening.pii.phone import PhoneRecognizer

#: The longest text scanned. Scanning is linear: ~0.15 s per million characters of prose or code,
#: ~0.5 s of PII-dense text, under ~1 s for the worst hostile inputs measured (a megabyte of
#: "x@y.co " is 150,000 real findings). So this caps one text near two seconds. A longer text is
#: refused with ``input_too_large`` rather than scanned in part: a guard that read only the first
#: megabytes would pass what it never saw. Raise it per deployment with ``max_chars``.
DEFAULT_MAX_CHARS: Final = 2 * 1024 * 1024


def default_recognizers() -> tuple[Recognizer, ...]:
    """One instance of each family, in a fixed order (ties in overlap resolution follow it)."""
    return (
        PrivateKeyRecognizer(),
        JwtRecognizer(),
        ProviderTokenRecognizer(),
        KeyValueSecretRecognizer(),
        EmailRecognizer(),
        CreditCardRecognizer(),
        IbanRecognizer(),
        UsSsnRecognizer(),
        PhoneRecognizer(),
        IpRecognizer(),
        CryptoRecognizer(),
    )


class PiiScanner:
    """Find PII and secrets in text with Railguard's own linear-time recognizers (presidio not needed).

    >>> scanner = PiiScanner()
    >>> [(s.entity_type, s.start, s.end) for s in scanner.scan("mail jane@example.org")]
    [('EMAIL_ADDRESS', 5, 21)]

    ``entities`` narrows the search (names as in ``SUPPORTED_ENTITIES``); an unknown name is a
    ``ConfigError`` at construction. A text longer than ``max_chars`` raises ``InputError``
    with code ``input_too_large``.
    """

    def __init__(self, entities: Collection[str] | None = None, *, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        wanted = SUPPORTED_ENTITIES if entities is None else frozenset(entities)
        unknown = wanted - SUPPORTED_ENTITIES
        if unknown:
            raise ConfigError(f"unknown PII entities {sorted(unknown)}; supported: {sorted(SUPPORTED_ENTITIES)}")
        if max_chars <= 0:
            raise ConfigError("max_chars must be positive")
        self.entities = wanted
        self.max_chars = max_chars
        self.recognizers = tuple(r for r in default_recognizers() if r.entities & wanted)
        # Only filter spans when a family can produce entities that were not asked for.
        self._filter = any(r.entities - wanted for r in self.recognizers)

    def scan(self, text: str) -> list[PiiSpan]:
        """Non-overlapping findings in ``text``, sorted by start."""
        if len(text) > self.max_chars:
            raise InputError(
                f"text of {len(text)} characters exceeds the PII scan limit of {self.max_chars}",
                code=codes.INPUT_TOO_LARGE,
            )
        spans = [span for recognizer in self.recognizers for span in recognizer.find(text)]
        if self._filter:
            spans = [span for span in spans if span.entity_type in self.entities]
        return resolve_overlaps(spans)


def resolve_overlaps(spans: Iterable[PiiSpan]) -> list[PiiSpan]:
    """Keep, among spans that overlap, the longest (then the highest score); sorted by start.

    Spans are grouped into clusters of transitively overlapping spans in one sweep, and the
    choice is made inside each cluster, so the cost stays O(k log k) for k spans unless
    recognizers pile many findings onto the same characters.
    """
    ordered = sorted(spans, key=lambda span: (span.start, span.end))
    kept: list[PiiSpan] = []
    cluster: list[PiiSpan] = []
    cluster_end = -1
    for span in ordered:
        if cluster and span.start >= cluster_end:
            kept.extend(_choose(cluster))
            cluster = []
        cluster.append(span)
        cluster_end = max(cluster_end, span.end) if len(cluster) > 1 else span.end
    if cluster:
        kept.extend(_choose(cluster))
    return kept


def _choose(cluster: list[PiiSpan]) -> list[PiiSpan]:
    if len(cluster) == 1:
        return cluster
    chosen: list[PiiSpan] = []
    for span in sorted(cluster, key=lambda s: (s.start - s.end, -s.score, s.start)):
        if all(span.end <= other.start or span.start >= other.end for other in chosen):
            chosen.append(span)
    return sorted(chosen, key=lambda span: span.start)
