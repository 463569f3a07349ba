"""What a PII finding is, the entity names, and the one protocol every recognizer family follows."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final, Protocol

# Presidio's entity names where presidio has one, so findings read the same either way.
EMAIL_ADDRESS: Final = "EMAIL_ADDRESS"
PHONE_NUMBER: Final = "PHONE_NUMBER"
CREDIT_CARD: Final = "CREDIT_CARD"
IBAN_CODE: Final = "IBAN_CODE"
US_SSN: Final = "US_SSN"
IP_ADDRESS: Final = "IP_ADDRESS"
CRYPTO: Final = "CRYPTO"
# Ours: credentials presidio has no recognizer for.
API_KEY: Final = "API_KEY"
AWS_ACCESS_KEY: Final = "AWS_ACCESS_KEY"
JWT: Final = "JWT"
PRIVATE_KEY: Final = "PRIVATE_KEY"
SECRET: Final = "SECRET"  # noqa: S105 (an entity name, not a password)

SUPPORTED_ENTITIES: Final = frozenset(
    {
        EMAIL_ADDRESS,
        PHONE_NUMBER,
        CREDIT_CARD,
        IBAN_CODE,
        US_SSN,
        IP_ADDRESS,
        CRYPTO,
        API_KEY,
        AWS_ACCESS_KEY,
        JWT,
        PRIVATE_KEY,
        SECRET,
    }
)


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """One finding: ``text[start:end]`` is an ``entity_type`` according to ``recognizer``.

    ``score`` is the recognizer's confidence in [0, 1]: 1.0 when a checksum proved it
    (Luhn, mod-97, base58check, bech32), lower when only its shape and context did.
    """

    entity_type: str
    start: int
    end: int
    score: float
    recognizer: str


class Recognizer(Protocol):
    """A family of related identifiers (all phone formats, all provider tokens...).

    ``find`` must cost time linear in ``len(text)``: bounded quantifiers, candidates
    checked in time bounded by their own (capped) length, context read from a fixed window.
    """

    name: str
    entities: frozenset[str]

    def find(self, text: str) -> Iterator[PiiSpan]: ...


#: How far before a candidate context words are looked for. Fixed, so context costs O(1) per candidate.
CONTEXT_WINDOW: Final = 40


@dataclass(frozen=True, slots=True)
class WindowPattern:
    """Case-insensitive words (or labels) looked for in a short window of text before a candidate.

    ``pattern`` is the reference (ignore-case, lower-case words). Ignore-case matching tries every
    word at every position of the window (~5 us for 40 characters); on an ASCII window, which
    most are, ``lowered`` (the same pattern, case-sensitive) reads the window lowered in half the
    time: there lower() changes no length and makes the same characters equal. A window holding
    anything else (where ignore-case and lower() part ways: the Kelvin sign, the long s, the
    dotted capital I) is searched as it is.
    """

    pattern: re.Pattern[str]
    lowered: re.Pattern[str]

    @classmethod
    def of(cls, regex: str, words: tuple[str, ...]) -> WindowPattern:
        if any(word != word.lower() for word in words):
            raise ValueError(f"context words must be lower-case: {words!r}")
        return cls(re.compile(regex, re.IGNORECASE), re.compile(regex))

    def search(self, text: str, low: int, high: int) -> bool:
        """Whether ``pattern.search(text, low, high)`` finds a match."""
        before = max(0, low - 1)  # the look-behind at ``low`` reads one character before it
        window = text[before:high]
        if not window.isascii():
            return self.pattern.search(text, low, high) is not None
        return self.lowered.search(window.lower(), low - before) is not None


def context_before(text: str, start: int, words: WindowPattern, window: int = CONTEXT_WINDOW) -> bool:
    """True when one of ``words`` occurs in the ``window`` characters before ``start``."""
    return words.search(text, max(0, start - window), start)


def finditer_holding(pattern: re.Pattern[str], text: str, *markers: str) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)``, skipped when ``text`` holds none of ``markers``: literals one of
    which every match holds. A pattern that opens with a character class is tried at every such
    character (~60 ns each, "s", "p" and "r" for a Stripe key); ``in`` rules a text out at ~1 ns."""
    if any(marker in text for marker in markers):
        return pattern.finditer(text)
    return iter(())


def finditer_from(pattern: re.Pattern[str], text: str, starts: Iterable[int]) -> Iterator[re.Match[str]]:
    """What ``pattern.finditer(text)`` yields, trying ``pattern`` only at ``starts``: increasing
    positions that include every one where a match can start, and no empty match.

    finditer tries every position from the end of its last match on; trying only those that can
    start a match, in the same order, finds the same matches. For a pattern that opens with a
    digit this skips most of a PII-dense text (each digit costs the engine ~60 ns to reject).
    Past as many starts as a Python step each costs more than the engine's scan of the whole
    text (a megabyte of "a:b:"), the engine scans the rest.
    """
    end = 0
    patience = 64 + len(text) // 32
    for start in starts:
        if start >= end and (match := pattern.match(text, start)) is not None:
            end = match.end()
            yield match
        patience -= 1
        if not patience:
            yield from pattern.finditer(text, end)
            return


def words_pattern(*words: str) -> WindowPattern:
    """A case-insensitive whole-word matcher for (lower-case) context words (no nested repeats: linear).

    Words inside identifiers do not count: ``check_call`` is not "call".
    """
    return WindowPattern.of(r"(?<!\w)(?:" + "|".join(words) + r")(?!\w)", words)


def label_before(text: str, start: int, label: WindowPattern) -> bool:
    """True when the text right before ``start`` is one of the labels built by ``label_pattern``."""
    return label.search(text, max(0, start - CONTEXT_WINDOW), start)


def label_pattern(*words: str) -> WindowPattern:
    """Matches ``word``, ``word #``, ``word no.:``... ending exactly where the candidate starts.

    Unlike context words, a label must be adjacent: "order #0123-4567-8901" is an order number,
    but in "SSN 063-34-3523 and backup 930-546-4477" the phone is not labelled by "SSN".
    """
    return WindowPattern.of(
        r"(?<!\w)(?:" + "|".join(words) + r")(?:[ \t]*(?:no\.?|nr\.?|number|num|id|#))?[ \t]*[:#]?[ \t]*\Z", words
    )
