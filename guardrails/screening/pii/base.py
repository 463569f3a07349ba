"""What a PII finding is, the entity names, and the one protocol every recognizer family follows."""

from __future__ import annotations

import re
from collections.abc import Iterator
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


def context_before(text: str, start: int, words: re.Pattern[str], window: int = CONTEXT_WINDOW) -> bool:
    """True when one of ``words`` occurs in the ``window`` characters before ``start``."""
    return words.search(text, max(0, start - window), start) is not None


def words_pattern(*words: str) -> re.Pattern[str]:
    """A case-insensitive whole-word matcher for context words (no nested repeats: linear).

    Words inside identifiers do not count: ``check_call`` is not "call".
    """
    return re.compile(r"(?<!\w)(?:" + "|".join(words) + r")(?!\w)", re.IGNORECASE)


def label_before(text: str, start: int, label: re.Pattern[str]) -> bool:
    """True when the text right before ``start`` is one of the labels built by ``label_pattern``."""
    return label.search(text, max(0, start - CONTEXT_WINDOW), start) is not None


def label_pattern(*words: str) -> re.Pattern[str]:
    """Matches ``word``, ``word #``, ``word no.:``... ending exactly where the candidate starts.

    Unlike context words, a label must be adjacent: "order #0123-4567-8901" is an order number,
    but in "SSN 063-34-3523 and backup 930-546-4477" the phone is not labelled by "SSN".
    """
    return re.compile(
        r"(?<!\w)(?:" + "|".join(words) + r")(?:[ \t]*(?:no\.?|nr\.?|number|num|id|#))?[ \t]*[:#]?[ \t]*\Z",
        re.IGNORECASE,
    )
