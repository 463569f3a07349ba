"""The arithmetic that tells an identifier from a look-alike: Luhn, IBAN mod-97, SSA rules,
base58check, bech32/bech32m, the JWT header, and the entropy of a secret's value.

Each function takes the candidate a regular expression already bounded in length, so every
check here costs time proportional to that (short) candidate, never to the text around it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections import Counter
from typing import Final

# -- payment cards ------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    """True when the ASCII digit string passes the Luhn (mod 10) check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_brand(digits: str) -> str | None:
    """The scheme whose prefix and length the number has (``visa``, ``amex``...), or None.

    A 16-digit number that passes Luhn by chance (one in ten) but starts with no issuer's
    prefix is not a card: order and tracking numbers rarely start with 4, 5, 34/37 or 6011.
    """
    length = len(digits)
    two, four, six = int(digits[:2]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4" and length in (13, 16, 19):
        return "visa"
    if length == 16 and (51 <= two <= 55 or 2221 <= four <= 2720):
        return "mastercard"
    if length == 15 and two in (34, 37):
        return "amex"
    if 16 <= length <= 19 and (four == 6011 or two == 65 or 644 <= int(digits[:3]) <= 649 or 622126 <= six <= 622925):
        return "discover"
    if 16 <= length <= 19 and 3528 <= four <= 3589:
        return "jcb"
    if 14 <= length <= 19 and (300 <= int(digits[:3]) <= 305 or two in (36, 38, 39)):
        return "diners"
    if 16 <= length <= 19 and two == 62:
        return "unionpay"
    # Maestro also issued 12-15 digit numbers; too many build and order numbers look like those.
    if 16 <= length <= 19 and (two == 50 or 56 <= two <= 69):
        return "maestro"
    return None


# -- IBAN ---------------------------------------------------------------------------

#: Length of the IBAN per country, from the SWIFT IBAN registry (release 98, 2024).
IBAN_LENGTHS: Final[dict[str, int]] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
    "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


_IBAN_CHARS: Final = re.compile(r"[0-9A-Z]+")
# Letters count as two digits (A=10 ... Z=35).
_IBAN_LETTER_DIGITS: Final = str.maketrans({chr(code): str(code - 55) for code in range(ord("A"), ord("Z") + 1)})


def iban_valid(compact: str) -> bool:
    """True for an upper-case IBAN without spaces whose country length and mod-97 check hold."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    if not _IBAN_CHARS.fullmatch(rearranged):
        return False
    # The number the letters and digits spell, reduced mod 97 by int() in C (at most 70 digits).
    return int(rearranged.translate(_IBAN_LETTER_DIGITS)) % 97 == 1


# -- US Social Security numbers -----------------------------------------------------


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """The SSA's rules: no area 000, 666 or 9xx; no group 00; no serial 0000."""
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


# -- crypto wallets ---------------------------------------------------------------------

_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_VALUES: Final = {char: index for index, char in enumerate(_BASE58)}
# Mainnet pay-to-pubkey-hash (addresses starting with 1) and pay-to-script-hash (3).
_BTC_VERSIONS: Final = (0x00, 0x05)


def base58check_address_valid(address: str) -> bool:
    """True for a Bitcoin mainnet legacy address whose double-SHA-256 checksum holds."""
    number = 0
    for char in address:
        value = _BASE58_VALUES.get(char)
        if value is None:
            return False
        number = number * 58 + value
    leading_zeros = len(address) - len(address.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    raw = b"\x00" * leading_zeros + body
    if len(raw) != 25 or raw[0] not in _BTC_VERSIONS:
        return False
    return hashlib.sha256(hashlib.sha256(raw[:-4]).digest()).digest()[:4] == raw[-4:]


_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_VALUES: Final = {char: index for index, char in enumerate(_BECH32_CHARSET)}
_BECH32_GENERATOR: Final = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
BECH32_CONST: Final = 1
BECH32M_CONST: Final = 0x2BC830A3


def bech32_polymod(values: list[int]) -> int:
    """BIP-173's checksum polynomial."""
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit in range(5):
            if (top >> bit) & 1:
                checksum ^= _BECH32_GENERATOR[bit]
    return checksum


def bech32_hrp_expand(hrp: str) -> list[int]:
    return [ord(char) >> 5 for char in hrp] + [0] + [ord(char) & 31 for char in hrp]


def segwit_address_valid(address: str) -> bool:
    """True for a Bitcoin segwit address (``bc1``/``tb1``) per BIP-173 (v0) and BIP-350 (v1+)."""
    if address.lower() != address and address.upper() != address:
        return False  # mixed case is invalid by the spec
    address = address.lower()
    hrp, _, data_part = address.rpartition("1")
    if hrp not in ("bc", "tb") or len(address) > 90 or len(data_part) < 7:
        return False
    data = [_BECH32_VALUES[char] for char in data_part if char in _BECH32_VALUES]
    if len(data) != len(data_part):
        return False
    constant = bech32_polymod(bech32_hrp_expand(hrp) + data)
    version, program = data[0], _regroup(data[1:-6])
    if program is None or not 2 <= len(program) <= 40 or version > 16:
        return False
    if version == 0:
        return constant == BECH32_CONST and len(program) in (20, 32)
    return constant == BECH32M_CONST


def _regroup(five_bit: list[int]) -> list[int] | None:
    """Five-bit groups to bytes, rejecting non-zero padding (BIP-173 ``convertbits``)."""
    accumulator, bits, out = 0, 0, []
    for value in five_bit:
        accumulator = ((accumulator << 5) | value) & 0xFFF
        bits += 5
        while bits >= 8:
            bits -= 8
            out.append((accumulator >> bits) & 0xFF)
    if bits >= 5 or (accumulator << (8 - bits)) & 0xFF:
        return None
    return out


# -- tokens and secrets -----------------------------------------------------------------


def b64url_decode(part: str) -> bytes | None:
    """Decode base64url without padding; None when it is not base64url."""
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        return None


def jwt_header_valid(header: str) -> bool:
    """True when a JWT's first part decodes to a JSON object naming its ``alg``."""
    raw = b64url_decode(header)
    if raw is None:
        return False
    try:
        decoded = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(decoded, dict) and isinstance(decoded.get("alg"), str)


def shannon_entropy(value: str) -> float:
    """Bits per character of ``value``'s own character distribution."""
    if not value:
        return 0.0
    length = len(value)
    return -sum(count / length * math.log2(count / length) for count in Counter(value).values())


def looks_random(value: str, *, min_length: int, min_entropy: float) -> bool:
    """A machine-made value: long enough, varied enough, and mixing letters with digits or cases.

    Prose words after ``token:`` (``invalid_signature``) fail the mix; placeholders
    (``xxxxxxxxxxxxxxxx``, ``AKIAXXXXXXXXXXXXXXXX``) fail the entropy.
    """
    if len(value) < min_length or shannon_entropy(value) < min_entropy:
        return False
    has_digit = any(char.isdigit() for char in value)
    has_lower = any(char.islower() for char in value)
    has_upper = any(char.isupper() for char in value)
    return (has_digit and (has_lower or has_upper)) or (has_lower and has_upper)
