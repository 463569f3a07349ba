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

from guardrails import codes
from guardrails.errors import InputError

MAX_SAFE_INTEGER = 2**53
# rego-cpp cannot read floats near the ends of the double range (1e-308, 1.79e308: its
# answer comes back empty); every engine agrees inside this band.
MAX_FLOAT, MIN_FLOAT = 1e300, 1e-300


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int = 1 << 20
    max_depth: int = 32
    max_nodes: int = 100_000


DEFAULT_LIMITS = Limits()


class _Budget:
    __slots__ = ("bytes", "limits", "nodes")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.bytes = 0
        self.nodes = 0

    def spend(self, size: int, path: str) -> None:
        self.bytes += size
        self.nodes += 1
        if self.bytes > self.limits.max_bytes:
            raise InputError(f"payload exceeds {self.limits.max_bytes} bytes", code=codes.INPUT_TOO_LARGE, path=path)
        if self.nodes > self.limits.max_nodes:
            raise InputError(f"payload exceeds {self.limits.max_nodes} values", code=codes.INPUT_TOO_LARGE, path=path)


def canonicalise(value: Any, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Return a JSON-safe copy of ``value`` or raise :class:`InputError` with a stable code."""
    return _walk(value, 0, "$", _Budget(limits))


def _walk(value: Any, depth: int, path: str, budget: _Budget) -> Any:
    if depth > budget.limits.max_depth:
        raise InputError(
            f"payload nests deeper than {budget.limits.max_depth} levels", code=codes.INPUT_TOO_DEEP, path=path
        )
    if value is None or isinstance(value, bool):
        budget.spend(4, path)
        return value
    if isinstance(value, int):
        budget.spend(8, path)
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise InputError("integer outside +/-2^53", code=codes.NUMBER_OUT_OF_RANGE, path=path)
        return value
    if isinstance(value, float):
        budget.spend(8, path)
        if not math.isfinite(value):
            raise InputError("number is NaN or infinite", code=codes.NUMBER_NOT_FINITE, path=path)
        if value != 0 and not MIN_FLOAT <= abs(value) <= MAX_FLOAT:
            raise InputError("float outside 1e-300..1e300 in magnitude", code=codes.NUMBER_OUT_OF_RANGE, path=path)
        return value
    if isinstance(value, str):
        return _text(value, path, budget)
    if isinstance(value, dict):
        budget.spend(2, path)
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InputError("object keys must be strings", code=codes.UNSUPPORTED_TYPE, path=path)
            name = _text(key, path, budget)
            out[name] = _walk(item, depth + 1, f"{path}.{name}", budget)
        return out
    if isinstance(value, list | tuple):
        budget.spend(2, path)
        return [_walk(item, depth + 1, f"{path}[{i}]", budget) for i, item in enumerate(value)]
    raise InputError(f"{type(value).__name__} is not a JSON type", code=codes.UNSUPPORTED_TYPE, path=path)


def _text(value: str, path: str, budget: _Budget) -> str:
    # Length first: a 10 MB string is refused before it is encoded or normalised.
    budget.spend(len(value), path)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(
            "string is not valid Unicode (lone surrogate)", code=codes.INVALID_UNICODE, path=path
        ) from None
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
    """Canonical JSON text: sorted keys, no whitespace; the basis of call hashes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
