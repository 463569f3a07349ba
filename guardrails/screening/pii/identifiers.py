"""Structured identifiers: email addresses, payment cards, IBANs, US SSNs, IP addresses, crypto wallets.

Every pattern starts at a token boundary (a look-behind), uses only bounded quantifiers with
no nested repeats, and hands its candidate to a check bounded by the candidate's length:
the text is read a constant number of times whatever it holds.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Final

from guardrails.screening.pii.base import (
    CREDIT_CARD,
    CRYPTO,
    EMAIL_ADDRESS,
    IBAN_CODE,
    IP_ADDRESS,
    US_SSN,
    PiiSpan,
    context_before,
    finditer_from,
    finditer_holding,
    label_before,
    label_pattern,
    words_pattern,
)
from guardrails.screening.pii.checksums import (
    IBAN_LENGTHS,
    base58check_address_valid,
    card_brand,
    iban_valid,
    luhn_valid,
    segwit_address_valid,
    ssn_valid,
)

# -- email ------------------------------------------------------------------------------

# Addresses are found from their '@' (a literal prefix the regex engine finds in C) with the
# domain after it; the local part is then read backwards, at most 64 characters.
_AT_DOMAIN = re.compile(r"@(?P<domain>(?:[\w\-]{1,63}\.){1,8}(?:xn--[a-z0-9\-]{1,59}|[^\W\d_]{2,24}))(?![\w\-]|\.\w)")
_LOCAL_REVERSED = re.compile(r"[\w.%+\-]{1,64}")
_LOCAL_CHARS: Final = re.compile(r"[\w.%+\-]")
# "icon@2x.png", "logo@3x.webp": asset names shaped like addresses. None of these is a top-level domain.
_FILE_EXTENSIONS: Final = frozenset(
    "png jpg jpeg gif svg webp bmp ico tif tiff heic avif pdf txt log json yaml yml toml xml html htm css js mjs "
    "cjs ts tsx jsx java kt go rb php cpp hpp lock gz tgz bz2 xz tar csv tsv exe dll wasm jar whl".split()
)


class EmailRecognizer:
    """``local@domain.tld``: RFC-shaped local part (at most 64), labels, an alphabetic or punycode TLD."""

    name = "EmailRecognizer"
    entities = frozenset({EMAIL_ADDRESS})

    def find(self, text: str) -> Iterator[PiiSpan]:
        for match in _AT_DOMAIN.finditer(text):
            span = self._address(text, match)
            if span is not None:
                yield span

    def _address(self, text: str, match: re.Match[str]) -> PiiSpan | None:
        at = match.start()
        local = _LOCAL_REVERSED.match(text[max(0, at - 64) : at][::-1])
        if local is None:
            return None
        start, end = at - local.end(), match.end()
        if start > 0 and _LOCAL_CHARS.match(text, start - 1):
            return None  # local part longer than 64 characters: not an address
        # Dots cannot lead or repeat in a local part: in "see...jane@" or "...jane@" they are punctuation.
        local_part = text[start:at].rsplit("..", 1)[-1].lstrip(".")
        start = at - len(local_part)
        if not local_part or local_part[-1] == ".":
            return None
        labels = match["domain"].split(".")
        if labels[-1].lower() in _FILE_EXTENSIONS or any(
            label[0] == "-" or label[-1] == "-" or "_" in label for label in labels
        ):
            return None
        # "git@github.com:org/repo" is an SSH remote, "https://user:pw@host" a URL's userinfo.
        if text.startswith(":", end) and end + 1 < len(text) and not text[end + 1].isspace():
            return None
        if _inside_url_userinfo(text, start):
            return None
        return PiiSpan(EMAIL_ADDRESS, start, end, 0.9, self.name)


def _inside_url_userinfo(text: str, start: int) -> bool:
    # Only the token the address sits in, at most 128 characters back.
    window = text[max(0, start - 128) : start]
    token = window.rsplit(None, 1)[-1] if window and not window[-1].isspace() else ""
    return "://" in token


# -- payment cards ------------------------------------------------------------------------

# 13-19 contiguous digits, or groups of 4 then 2-6 digits separated by one space or dash.
# Patterns here open with a character class and look behind only after it: the regex engine
# then skips to candidate characters in C instead of trying every position (~6 vs ~60 ms per MB).
_CARD = re.compile(
    r"[0-9](?<![\w.\-][0-9])(?<![0-9][ \-][0-9])(?:[0-9]{12,18}|[0-9]{3}(?:[ \-][0-9]{2,6}){2,4})(?!\w)",
)


# Unbroken 13, 14 and 17-19 digit numbers are mostly seeds, ids and timestamps (one in twenty passes
# Luhn with an issuer prefix by chance): those lengths count as cards only after card words.
_CARD_CONTEXT = words_pattern(
    r"card", r"cc", r"credit", r"debit", r"visa", r"mastercard", r"amex", r"discover", r"jcb", r"diners",
    r"maestro", r"unionpay", r"pan", r"kreditkarte", r"karte", r"carte", r"tarjeta",
)  # fmt: skip


class CreditCardRecognizer:
    """Card numbers that pass Luhn and carry an issuer's prefix and length; spaces and dashes allowed."""

    name = "CreditCardRecognizer"
    entities = frozenset({CREDIT_CARD})

    def find(self, text: str) -> Iterator[PiiSpan]:
        for match in _CARD.finditer(text):
            candidate = match.group()
            start = match.start()
            if candidate.isdigit():
                if (
                    luhn_valid(candidate)
                    and card_brand(candidate)
                    and (len(candidate) in (15, 16) or context_before(text, start, _CARD_CONTEXT))
                ):
                    yield PiiSpan(CREDIT_CARD, start, match.end(), 1.0, self.name)
                continue
            length = _grouped_card_length(candidate)
            if length:
                yield PiiSpan(CREDIT_CARD, start, start + length, 1.0, self.name)


def _grouped_card_length(candidate: str) -> int:
    """Characters of the longest leading run of groups that is a valid card, or 0.

    A trailing group may be something else ("4111 1111 1111 1111 123" ends with a CVV),
    so shorter prefixes are tried too: at most four, each checked in constant time.
    """
    separator = candidate[4]
    groups = candidate.split(separator)
    if any(not group.isdigit() for group in groups):
        return 0  # mixed separators: not how anyone writes a card number
    for count in range(len(groups), 2, -1):
        middle = groups[1 : count - 1]
        if any(len(group) not in (4, 6) for group in middle):
            continue
        digits = "".join(groups[:count])
        if 13 <= len(digits) <= 19 and luhn_valid(digits) and card_brand(digits):
            return len(digits) + count - 1
    return 0


# -- IBAN -------------------------------------------------------------------------------

_IBAN = re.compile(r"[A-Z](?<!\w[A-Z])[A-Z][0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)(?!\w)")


class IbanRecognizer:
    """IBANs, compact or in groups of four: registry length for the country, then mod-97."""

    name = "IbanRecognizer"
    entities = frozenset({IBAN_CODE})

    def find(self, text: str) -> Iterator[PiiSpan]:
        for match in _IBAN.finditer(text):
            candidate = match.group()
            expected = IBAN_LENGTHS.get(candidate[:2])
            if expected is None:
                continue
            if " " not in candidate:
                if iban_valid(candidate):
                    yield PiiSpan(IBAN_CODE, match.start(), match.end(), 1.0, self.name)
                continue
            # Grouped: a word of four capitals may follow ("... 7034 THEN"); cut at the country's length.
            length, compact = 0, ""
            for group in candidate.split(" "):
                compact += group
                length += len(group) + (1 if length else 0)
                if len(compact) >= expected:
                    break
            if len(compact) == expected and iban_valid(compact):
                yield PiiSpan(IBAN_CODE, match.start(), match.start() + length, 1.0, self.name)


# -- US social security numbers -----------------------------------------------------------

_SSN_DASHED = re.compile(
    r"[0-9](?<![\w\-][0-9])(?<![0-9] [0-9])[0-9]{2}-(?P<group>[0-9]{2})-(?P<serial>[0-9]{4})"
    r"(?![\w\-]|\.[0-9])"
)
_SSN_PLAIN = re.compile(
    r"[0-9](?<![\w\-][0-9])(?<![0-9] [0-9])[0-9]{2}(?P<sep> ?)(?P<group>[0-9]{2})(?P=sep)(?P<serial>[0-9]{4})"
    r"(?![\w\-]|\.[0-9]| [0-9])"
)
# A dashed SSN's first dash follows its area number: found from the dashes (rare) rather than
# from every digit (each costs the engine ~60 ns to reject), see finditer_from.
_DASH_AFTER_3_DIGITS = re.compile(r"-(?<=[0-9]{3}-)")
_SSN_CONTEXT = words_pattern(r"ssn", r"ss#", r"social security(?: number| no\.?)?", r"social", r"ssa", r"taxpayer")
# Dashed 3-2-4 numbers labelled by these words are references, not SSNs.
_SSN_NOT = label_pattern(r"order", r"invoice", r"ref", r"reference", r"ticket", r"case", r"tracking", r"part", r"sku")


class UsSsnRecognizer:
    """``123-45-6789`` under the SSA's rules; spaced or bare nine digits only after SSN context words."""

    name = "UsSsnRecognizer"
    entities = frozenset({US_SSN})

    def find(self, text: str) -> Iterator[PiiSpan]:
        dashed_starts = (dash.start() - 3 for dash in _DASH_AFTER_3_DIGITS.finditer(text))
        for match in finditer_from(_SSN_DASHED, text, dashed_starts):
            if not ssn_valid(match.group()[:3], match["group"], match["serial"]):
                continue
            start = match.start()
            if context_before(text, start, _SSN_CONTEXT):
                yield PiiSpan(US_SSN, start, match.end(), 1.0, self.name)
            elif not label_before(text, start, _SSN_NOT):
                yield PiiSpan(US_SSN, start, match.end(), 0.85, self.name)
        for match in _SSN_PLAIN.finditer(text):
            if ssn_valid(match.group()[:3], match["group"], match["serial"]) and context_before(
                text, match.start(), _SSN_CONTEXT
            ):
                yield PiiSpan(US_SSN, match.start(), match.end(), 0.8, self.name)


# -- IP addresses ---------------------------------------------------------------------------

# Octets (at most 255, no leading zero) are checked in code, keeping the pattern a plain shape.
_IPV4 = re.compile(r"[0-9](?<![\w.][0-9])[0-9]{0,2}(?:\.[0-9]{1,3}){3}(?![\w]|\.[0-9]|-[A-Za-z])")
# A run of hex digits, colons and dots opening with two colon-ended groups; ``ipaddress`` decides.
_IPV6 = re.compile(
    r"[0-9A-Fa-f:](?<![\w:.][0-9A-Fa-f:])[0-9A-Fa-f]{0,3}:[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]{0,40}(?![\w:.])"
)
# Addresses are found from their dots and colons, rarer than the digits the patterns open with
# (see finditer_from). An IPv4 address's first dot follows its first number, one to three digits.
_DOT_AFTER_DIGIT = re.compile(r"\.(?<=[0-9]\.)")
# An IPv6 address's first colon is followed by at most four hex digits and a colon; the address
# starts at that colon ("::...") or at the hex digits before it (at most four).
_IPV6_FIRST_COLON = re.compile(r":(?=[0-9A-Fa-f]{0,4}:)")
_HEX_DIGITS: Final = frozenset("0123456789ABCDEFabcdef")


def _ipv4_starts(text: str) -> Iterator[int]:
    """Where an IPv4 address can start: at the digits (at most three) before a dot, in order."""
    for dot in _DOT_AFTER_DIGIT.finditer(text):
        start = dot.start() - 1
        while start > dot.start() - 3 and start > 0 and "0" <= text[start - 1] <= "9":
            start -= 1
        yield start


def _ipv6_starts(text: str) -> Iterator[int]:
    """Where an IPv6 address can start: at a possible first colon, or at the hex digits (at most
    four) before it, in order."""
    for colon in _IPV6_FIRST_COLON.finditer(text):
        start = colon.start()
        while start > colon.start() - 4 and start > 0 and text[start - 1] in _HEX_DIGITS:
            start -= 1
        if start < colon.start():
            yield start
        yield colon.start()


# "version 1.2.3.4", "bump to 2.0.1.3": four numbers in a row are often not an address.
_VERSION_CONTEXT = words_pattern(
    r"version",
    r"ver",
    r"v",
    r"release[sd]?",
    r"build",
    r"firmware",
    r"rev",
    r"revision",
    r"patch",
    r"bump(?:ed)?",
    r"upgrade[sd]?",
    r"downgrade[sd]?",
    r"section",
    r"chapter",
    r"§",
)
# "foo==1.0.0.0", ">= 2.1.0.3": a version pin right before the numbers.
_VERSION_PIN = re.compile(r"(?:[=<>!~]=|===)[ \t]*\Z")
# Loopback, "any" and broadcast addresses identify no one.
_NOT_PERSONAL_IPS: Final = frozenset({"0.0.0.0", "255.255.255.255", "::", "::1"})  # noqa: S104


class IpRecognizer:
    """IPv4 (no leading zeros, not after version words) and IPv6 (validated by ``ipaddress``)."""

    name = "IpRecognizer"
    entities = frozenset({IP_ADDRESS})

    def find(self, text: str) -> Iterator[PiiSpan]:
        for match in finditer_from(_IPV4, text, _ipv4_starts(text)):
            address = match.group()
            octets = address.split(".")
            if (
                all(int(octet) <= 255 and (octet == "0" or octet[0] != "0") for octet in octets)
                and octets[0] != "127"
                and address not in _NOT_PERSONAL_IPS
                and not context_before(text, match.start(), _VERSION_CONTEXT, window=24)
                and not _VERSION_PIN.search(text, max(0, match.start() - 8), match.start())
            ):
                yield PiiSpan(IP_ADDRESS, match.start(), match.end(), 0.9, self.name)
        for match in finditer_from(_IPV6, text, _ipv6_starts(text)):
            candidate = match.group().rstrip(".")
            if candidate.count(":") < 6 and "::" not in candidate:
                continue  # "18:03:10": eight groups, or six and an IPv4 tail, or "::" (saves a raise)
            try:
                ipaddress.IPv6Address(candidate)
            except ValueError:
                continue
            groups = [group for group in re.split(r"[:.]", candidate) if group]
            # "1::2" is a slice, "::1" is loopback: want three groups, or two when one is long.
            if len(groups) >= 3 or (len(groups) == 2 and max(map(len, groups)) >= 3):
                yield PiiSpan(IP_ADDRESS, match.start(), match.start() + len(candidate), 0.9, self.name)


# -- crypto wallets -------------------------------------------------------------------------

_BTC_LEGACY = re.compile(r"[13](?<!\w[13])[1-9A-HJ-NP-Za-km-z]{25,34}(?!\w)")
_BTC_SEGWIT = re.compile(r"[bBtT](?<!\w[bBtT])[cCbB]1[02-9ac-hj-np-zAC-HJ-NP-Z]{6,87}(?!\w)")
_ETH = re.compile(r"0(?<!\w0)x[0-9a-fA-F]{40}(?!\w)")


class CryptoRecognizer:
    """Bitcoin (base58check and bech32/bech32m, checksums verified) and Ethereum (``0x`` + 40 hex) addresses.

    Ethereum's mixed-case EIP-55 checksum needs Keccak-256, which ``hashlib`` lacks, so an
    Ethereum address is recognised by shape alone and scores lower.
    """

    name = "CryptoRecognizer"
    entities = frozenset({CRYPTO})

    def find(self, text: str) -> Iterator[PiiSpan]:
        for match in _BTC_LEGACY.finditer(text):
            if base58check_address_valid(match.group()):
                yield PiiSpan(CRYPTO, match.start(), match.end(), 1.0, self.name)
        for match in finditer_holding(_BTC_SEGWIT, text, "c1", "b1", "C1", "B1"):
            if segwit_address_valid(match.group()):
                yield PiiSpan(CRYPTO, match.start(), match.end(), 1.0, self.name)
        for match in finditer_holding(_ETH, text, "0x"):
            yield PiiSpan(CRYPTO, match.start(), match.end(), 0.8, self.name)
