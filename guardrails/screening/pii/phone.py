"""Phone numbers: international (E.164, ``+``/``00``) and the national formats of the US, UK, Germany and France.

Shapes are matched by regular expressions whose groups are separated by mandatory
separators (so a run of digits can be split only one way: no backtracking blow-up);
digit counts and leading digits are then checked per country in constant time.
``phonenumbers`` (which presidio ships) is not used: its matcher costs far more per
candidate and would make the core scanner depend on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from guardrails.screening.pii.base import (
    CONTEXT_WINDOW,
    PHONE_NUMBER,
    PiiSpan,
    context_before,
    label_before,
    label_pattern,
    words_pattern,
)

# Each shape opens with a character class and looks behind only after it (the engine then skips
# to candidate characters in C), and uses separators between bounded digit groups. None but a
# "+" number starts right after a digit group ("3704 0044 0532..." is the middle of something longer).
# "+44 (0)20 7946 0958", "+1 (415) 555-2671", "+14155552671", "0049 30 901820".
_INTERNATIONAL = re.compile(
    r"[+0](?<![\w+][+0])(?:(?<=\+)|(?<![0-9][ .\-/]0)0)(?=[0-9 ().\-/]{7})(?P<lead>[1-9][0-9]{0,14})"
    r"(?:[ .\-]?\((?P<paren>[0-9]{1,5})\)[ .\-]?(?P<after>[0-9]{1,12}))?"
    r"(?P<rest>(?:[ .\-/]{1,3}[0-9]{1,12}){0,6})"
    r"(?![\w]|[.\-/][0-9])"
)
# (415) 555-2671, 415-555-2671, 415.555.2671, 1-415-555-2671, 1 (800) 555 0199. The first character
# is the country prefix 1, the parenthesis, or the area code's first digit (area codes start 2-9).
_NANP = re.compile(
    r"[1-9(](?<![\w+.\-/][1-9(])(?<![0-9][ .\-/][1-9(])"
    r"(?:(?<=1)[ .\-]?(?:\([2-9][0-9]{2}\)[ .\-]?|[2-9][0-9]{2}[ .\-/])"  # 1 + area code
    r"|(?<=\()[2-9][0-9]{2}\)[ .\-]?"  # (area code)
    r"|(?<=[2-9])[0-9]{2}[ .\-/])"  # area code
    r"[2-9][0-9]{2}[ .\-][0-9]{4}(?![\w]|[.\-/][0-9])"
)
# Trunk prefix 0: UK "020 7946 0958", "07700 900123"; DE "030 901820", "(0151) 2345 6789", "089/1234567".
_TRUNK = re.compile(
    r"[(0](?<![\w+.\-/][(0])(?<![0-9][ .\-/][(0])(?P<area>(?<=\()0[1-9][0-9]{1,4}\)|(?<=0)[1-9][0-9]{1,4})"
    r"(?P<rest>(?:[ \-/]{1,3}[0-9]{2,8}){1,3})(?![\w]|[.\-/][0-9])"
)
# France: "01 42 68 53 00", "06.12.34.56.78", "06-12-34-56-78": one separator throughout.
_FRANCE = re.compile(r"0(?<![\w+.\-/]0)(?<![0-9][ .\-/]0)[1-9]([ .\-])[0-9]{2}(?:\1[0-9]{2}){3}(?![\w]|[.\-/][0-9])")
# Ten to twelve digits with no separators: a phone only when the text says so just before.
_BARE = re.compile(r"[0-9](?<![\w+.\-/][0-9])[0-9]{9,11}(?![\w]|[.\-/][0-9])")

_PHONE_CONTEXT = words_pattern(
    r"phone",
    r"phones",
    r"tel",
    r"telephone",
    r"mobile",
    r"mob",
    r"cell",
    r"call",
    r"fax",
    r"sms",
    r"text",
    r"whatsapp",
    r"signal",
    r"contact",
    r"dial",
    r"ring",
    r"hotline",
    r"telefon",
    r"handy",
    r"rufnummer",
    r"mobil",
    r"t[ée]l[ée]phone",
    r"t[ée]l",
    r"portable",
    r"num[ée]ro",
)
# National shapes labelled by these words are identifiers of something else.
_NOT_PHONE_LABELS = label_pattern(
    r"order",
    r"invoice",
    r"inv",
    r"ref",
    r"reference",
    r"ticket",
    r"case",
    r"tracking",
    r"shipment",
    r"parcel",
    r"account",
    r"acct",
    r"sku",
    r"part",
    r"serial",
    r"model",
    r"isbn",
    r"transaction",
    r"txn",
    r"receipt",
    r"booking",
    r"confirmation",
    r"batch",
    r"lot",
    r"ssn",
    r"social security",
    r"fedex",
    r"ups",
    r"usps",
    r"dhl",
)
# "NL79 RZLC 0511 4745 14": the tail of an IBAN-like group sequence (one that failed its check).
_IBAN_HEAD = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: [A-Z0-9]{4}){0,7} \Z")

# ITU calling codes: 1 and 7 alone; two-digit codes; any other prefix is a three-digit code.
_TWO_DIGIT_CODES: Final = frozenset(
    "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 62 63 64 65 66 "
    "81 82 84 86 90 91 92 93 94 95 98".split()
)
_UNASSIGNED_ZONES: Final = frozenset({"0", "28", "80", "83", "89", "99"})

_SCORE_KNOWN_COUNTRY = 0.75
_SCORE_OTHER_COUNTRY = 0.6
_SCORE_NATIONAL = 0.65
_SCORE_BARE = 0.5
_CONTEXT_BOOST = 0.15


class PhoneRecognizer:
    """E.164 and ``00`` international numbers for any calling code; US, UK, DE and FR national formats."""

    name = "PhoneRecognizer"
    entities = frozenset({PHONE_NUMBER})

    def find(self, text: str) -> Iterator[PiiSpan]:
        for match in _INTERNATIONAL.finditer(text):
            span = _international(match)
            if span is None or (match.group()[0] == "0" and not _national_allowed(text, match.start())):
                continue
            yield self._span(text, match.start(), span[0], span[1])
        for match in _NANP.finditer(text):
            if _nanp_separators_agree(match.group()) and _national_allowed(text, match.start()):
                yield self._span(text, match.start(), match.end(), _SCORE_NATIONAL)
        for match in _TRUNK.finditer(text):
            trunk_end = _trunk_end(match)
            if trunk_end and _national_allowed(text, match.start()):
                yield self._span(text, match.start(), trunk_end, _SCORE_NATIONAL)
        for match in _FRANCE.finditer(text):
            if _national_allowed(text, match.start()):
                yield self._span(text, match.start(), match.end(), _SCORE_NATIONAL)
        for match in _BARE.finditer(text):
            if _bare_valid(match.group()) and context_before(text, match.start(), _PHONE_CONTEXT):
                yield PiiSpan(PHONE_NUMBER, match.start(), match.end(), _SCORE_BARE + _CONTEXT_BOOST, self.name)

    def _span(self, text: str, start: int, end: int, score: float) -> PiiSpan:
        if context_before(text, start, _PHONE_CONTEXT):
            score = min(1.0, score + _CONTEXT_BOOST)
        return PiiSpan(PHONE_NUMBER, start, end, score, self.name)


def _national_allowed(text: str, start: int) -> bool:
    """National shapes are refused when labelled as something else ("order #", "part no.", "SSN")."""
    iban_head = _IBAN_HEAD.search(text, max(0, start - CONTEXT_WINDOW), start) is not None
    return not (label_before(text, start, _NOT_PHONE_LABELS) or iban_head)


def _nanp_separators_agree(candidate: str) -> bool:
    """One separator throughout ("415-555-2671"), unlike a grouped decimal ("206.766 9894")."""
    if "(" in candidate:
        return True
    separators = {char for char in candidate if not char.isdigit()}
    return len(separators) <= 1


def _international(match: re.Match[str]) -> tuple[int, float] | None:
    """(end, score) of the longest valid number in the match, dropping trailing groups; None if none."""
    head = match["lead"]
    if match.group()[0] == "0" and len(head) > 4:
        return None  # "00" + a long unbroken number is a tracking or account number, not "0044 20 ..."
    paren, after = match["paren"], match["after"]
    if paren is not None and after is not None:
        # "(0)" after the country code is the national trunk prefix: not dialled from abroad.
        head += ("" if paren == "0" else paren) + after
        head_end = match.end("after")
    else:
        head_end = match.end("lead")
    rest = match["rest"]
    # Group ends within rest, so trailing groups ("... 2671. 42 people") can be dropped.
    ends = [match.start("rest") + m.end() for m in re.finditer(r"[0-9]+", rest)]
    groups = re.findall(r"[0-9]+", rest)
    for count in range(len(groups), -1, -1):
        digits = head + "".join(groups[:count])
        score = _international_score(digits)
        if score:
            return (ends[count - 1] if count else head_end), score
    return None


def _international_score(digits: str) -> float:
    """Score for a full international number (country code + national number), 0 when invalid."""
    if not 8 <= len(digits) <= 15:
        return 0.0
    if digits[0] == "1":
        national = digits[1:]
        valid = len(national) == 10 and national[0] >= "2" and national[3] >= "2"
        return _SCORE_KNOWN_COUNTRY if valid else 0.0
    code, national = digits[:2], digits[2:]
    # A trunk 0 written after the country code ("+44 020 ...") is a common slip; read past it.
    if code in ("44", "49", "33") and national.startswith("0"):
        national = national[1:]
    if code == "44":
        return _SCORE_KNOWN_COUNTRY if len(national) in (9, 10) and national[0] in "1235789" else 0.0
    if code == "49":
        return _SCORE_KNOWN_COUNTRY if 6 <= len(national) <= 13 and national[0] != "0" else 0.0
    if code == "33":
        return _SCORE_KNOWN_COUNTRY if len(national) == 9 and national[0] != "0" else 0.0
    if digits[0] == "7" or code in _TWO_DIGIT_CODES:
        return _SCORE_OTHER_COUNTRY
    if digits[0] in _UNASSIGNED_ZONES or code in _UNASSIGNED_ZONES:
        return 0.0
    return _SCORE_OTHER_COUNTRY if len(digits) >= 9 else 0.0


def _trunk_end(match: re.Match[str]) -> int:
    """End of the longest valid trunk-prefixed national number in the match, or 0.

    Nine to twelve digits in all (UK: eleven; Germany: area 2-5 digits after the 0, then
    the subscriber number). Trailing groups may be something else and are dropped.
    """
    area = "0" + match["area"].strip("()").lstrip("0")
    rest_start = match.start("rest")
    groups = [(m.group(), rest_start + m.end()) for m in re.finditer(r"[0-9]+", match["rest"])]
    lengths = [len(digits) for digits, _ in groups]
    if match["rest"][0] == "-" and (len(area), lengths) in ((3, [2, 4]), (5, [4])):
        return 0  # 3-2-4 and 5-4 with dashes: a US SSN and a ZIP+4 code
    total = len(area)
    best = 0
    for digits, end in groups:
        total += len(digits)
        if 9 <= total <= 12:
            best = end
    return best


def _bare_valid(digits: str) -> bool:
    if len(digits) == 10 and digits[0] != "0":
        return digits[0] >= "2" and digits[3] >= "2"  # NANP area code and exchange
    if len(digits) == 11 and digits[0] == "1":
        return digits[1] >= "2" and digits[4] >= "2"
    return digits[0] == "0" and digits[1] != "0"  # trunk-prefixed national number
