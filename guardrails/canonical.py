"""Canonicalise a payload before any engine or schema sees it.

Defences that hold whatever the engine (see ENGINES.md): integers outside +/-2^53
are rejected (regopy wraps 64-bit ints; engines and JSON parsers disagree beyond
2^53), non-finite floats and floats beyond 1e+/-300 are rejected, strings are NFC-normalised and must be
valid Unicode, and depth, node count and size are capped so a 10 MB blob or a
deeply nested object is refused in linear time before anything expensive runs.
"""

from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import dataclass
from typing import Any

import orjson

from guardrails import codes
from guardrails.errors import InputError

MAX_SAFE_INTEGER = 2**53
# rego-cpp cannot read floats near the ends of the double range (1e-308, 1.79e308: its
# answer comes back empty); every engine agrees inside this band.
MAX_FLOAT, MIN_FLOAT = 1e300, 1e-300


@dataclass(frozen=True, slots=True)
class Limits:
    """What one payload may hold. The defaults keep any payload within them decided in about
    20 ms at p99 (bench/authorize.py, "largest inputs" rows): canonicalisation costs ~1 us and
    the policy engine ~1 us per value, and the engine parses strings at ~30-100 ns per byte."""

    max_bytes: int = 256 * 1024
    max_depth: int = 32
    max_nodes: int = 5_000


DEFAULT_LIMITS = Limits()


class _Budget:
    """What a payload may still spend, and where the walk is (a stack of keys and indices).

    The path is kept as a stack and formatted only when something is refused: building a
    path string for every value was a third of the cost of a large payload.
    """

    __slots__ = ("bytes", "limits", "nodes", "where")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.bytes = 0
        self.nodes = 0
        self.where: list[str | int] = []

    def path(self) -> str:
        return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.where)

    def refuse(self, message: str, code: str) -> InputError:
        return InputError(message, code=code, path=self.path())

    def spend(self, size: int) -> None:
        self.bytes += size
        self.nodes += 1
        if self.bytes > self.limits.max_bytes:
            raise self.refuse(f"payload exceeds {self.limits.max_bytes} bytes", codes.INPUT_TOO_LARGE)
        if self.nodes > self.limits.max_nodes:
            raise self.refuse(f"payload exceeds {self.limits.max_nodes} values", codes.INPUT_TOO_LARGE)


def canonicalise(value: Any, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Return a JSON-safe copy of ``value`` or raise :class:`InputError` with a stable code."""
    return _walk(value, 0, _Budget(limits))


def _walk(value: Any, depth: int, budget: _Budget) -> Any:
    if depth > budget.limits.max_depth:
        raise budget.refuse(f"payload nests deeper than {budget.limits.max_depth} levels", codes.INPUT_TOO_DEEP)
    if isinstance(value, str):
        return _text(value, budget)
    if value is None or isinstance(value, bool):
        budget.spend(4)
        return value
    if isinstance(value, int):
        budget.spend(8)
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise budget.refuse("integer outside +/-2^53", codes.NUMBER_OUT_OF_RANGE)
        return int(value)  # an IntEnum or other subclass becomes a plain int
    if isinstance(value, float):
        budget.spend(8)
        if not math.isfinite(value):
            raise budget.refuse("number is NaN or infinite", codes.NUMBER_NOT_FINITE)
        if value != 0 and not MIN_FLOAT <= abs(value) <= MAX_FLOAT:
            raise budget.refuse("float outside 1e-300..1e300 in magnitude", codes.NUMBER_OUT_OF_RANGE)
        return float(value)
    where = budget.where
    if isinstance(value, dict):
        budget.spend(2)
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise budget.refuse("object keys must be strings", codes.UNSUPPORTED_TYPE)
            name = _text(key, budget)
            where.append(name)
            out[name] = _walk(item, depth + 1, budget)
            where.pop()
        return out
    if isinstance(value, list | tuple):
        budget.spend(2)
        items = []
        for index, item in enumerate(value):
            where.append(index)
            items.append(_walk(item, depth + 1, budget))
            where.pop()
        return items
    raise budget.refuse(f"{type(value).__name__} is not a JSON type", codes.UNSUPPORTED_TYPE)


def _text(value: str, budget: _Budget) -> str:
    # Length first: a 10 MB string is refused before it is encoded or normalised.
    budget.spend(len(value))
    if value.isascii():  # ASCII is valid Unicode and already NFC: the common case, checked in C
        return str(value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise budget.refuse("string is not valid Unicode (lone surrogate)", codes.INVALID_UNICODE) from None
    return unicodedata.normalize("NFC", value)


def parse_json(data: bytes | str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Parse untrusted JSON bytes into a canonical value, or raise :class:`InputError`."""
    if len(data) > limits.max_bytes * 4:
        raise InputError(f"payload exceeds {limits.max_bytes} bytes", code=codes.INPUT_TOO_LARGE)
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"payload is not UTF-8: {exc.reason} at byte {exc.start}", code=codes.INVALID_ENCODING
            ) from None
    try:
        value = json.loads(data, parse_constant=_reject_constant, parse_int=_parse_int)
    except RecursionError:
        raise InputError("payload nests too deeply", code=codes.INPUT_TOO_DEEP) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", code=codes.MALFORMED_JSON
        ) from None
    return canonicalise(value, limits)


def _parse_int(text: str) -> int:
    # Python refuses int() of more than 4,300 digits with a ValueError that is not a JSON
    # error; anything beyond 2^53 (16 digits) is refused by canonicalisation anyway, so a
    # long literal is refused here, before int() spends time on it.
    if len(text.lstrip("-")) > 16:
        raise InputError("integer outside +/-2^53", code=codes.NUMBER_OUT_OF_RANGE)
    return int(text)


def _reject_constant(name: str) -> Any:
    raise InputError(f"{name} is not valid JSON", code=codes.NUMBER_NOT_FINITE)


def dumps(value: Any) -> str:
    """Canonical JSON text of a canonical value: sorted keys, no whitespace; the basis of call hashes.

    Only canonical values: orjson writes NaN as null, and canonicalisation refused it before.
    """
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
