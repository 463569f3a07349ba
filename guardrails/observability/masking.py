"""Masking a decision-log event the way OPA's ``system.log.mask`` does, and PII masking on top.

Three layers, applied in this order to an event (a JSON document) before it leaves the process:

1. **Policy masks** (``data.railguard.log.mask``): JSON pointers to erase, or
   ``{"op": "remove" | "upsert", "path": ..., "value": ...}`` objects, exactly OPA's format
   (https://www.openpolicyagent.org/docs/management-decision-logs#masking-sensitive-data).
   Pointers must start with ``/input`` or ``/result``; a pointer to nothing is ignored.
2. **Screener findings**: every field a PII screener flagged (``Finding(kind="pii", path=...)``)
   is replaced whole by a typed placeholder (``<EMAIL_ADDRESS>``). The whole field, not the span:
   the Guard hands observers an input it already scrubbed, so the span offsets may no longer fit,
   and a log shipped off the machine is the place for the coarser cut.
3. **A scan of every remaining string** with the PII scanner, when the screening extra is
   installed: spans replaced by ``<ENTITY>``. Needed, not decorative: Rego deny messages
   (``sprintf("recipient %v ...")``), JSON Schema errors and tool error texts quote raw values,
   and none of them passes through the Guard's scrubbing of the policy input.

Every masked or erased place is listed as a JSON pointer (RFC 6901) in the event's ``masked`` /
``erased`` arrays, as OPA does.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cachetools import LRUCache

from guardrails.errors import PolicyError

#: OPA only lets a mask touch these parts of an event.
MASKABLE_ROOTS = ("/input", "/result")


class SpanScanner(Protocol):
    """What the PII scan needs: ``guardrails.screening.pii.PiiScanner`` fits."""

    def scan(self, text: str) -> Sequence[Any]: ...


# -- JSON pointers (RFC 6901) ---------------------------------------------------------------
def pointer(tokens: Iterable[str | int]) -> str:
    return "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in tokens)


def pointer_tokens(text: str) -> list[str]:
    if text == "":
        return []
    if not text.startswith("/"):
        raise PolicyError(f"not a JSON pointer: {text!r}", code="log_mask_invalid")
    return [t.replace("~1", "/").replace("~0", "~") for t in text[1:].split("/")]


def _parent(doc: Any, tokens: Sequence[str], create: bool) -> Any:
    """The container holding the last token, or None when the path does not exist."""
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                if not create:
                    return None
                node[token] = {}
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def remove_at(doc: Any, path: str) -> bool:
    """Delete the value at ``path``; False when there was nothing there (OPA ignores those)."""
    tokens = pointer_tokens(path)
    if not tokens:
        return False
    parent, last = _parent(doc, tokens, create=False), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
        return True
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        del parent[int(last)]
        return True
    return False


def upsert_at(doc: Any, path: str, value: Any) -> bool:
    """Set ``path`` to ``value``, creating missing objects on the way, as OPA's ``upsert`` does."""
    tokens = pointer_tokens(path)
    if not tokens:
        return False
    parent, last = _parent(doc, tokens, create=True), tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
        return True
    if isinstance(parent, list):
        if last == "-":
            parent.append(value)
            return True
        if last.isdigit() and int(last) < len(parent):
            parent[int(last)] = value
            return True
    return False


# -- layer 1: policy masks ------------------------------------------------------------------
@dataclass(frozen=True)
class MaskOp:
    op: str  # remove | upsert
    path: str
    value: Any = None


def mask_ops(rules: Any) -> list[MaskOp]:
    """Check the value of ``data.railguard.log.mask`` (a set of pointers or op objects).

    Anything malformed is a ``PolicyError``: the caller then fails closed (erases ``/input``).
    """
    if rules is None:
        return []
    if not isinstance(rules, list):
        raise PolicyError(f"log mask must be a set, not {type(rules).__name__}", code="log_mask_invalid")
    ops: list[MaskOp] = []
    for rule in rules:
        if isinstance(rule, str):
            op = MaskOp("remove", rule)
        elif isinstance(rule, Mapping) and rule.get("op") in ("remove", "upsert") and isinstance(rule.get("path"), str):
            if rule["op"] == "upsert" and "value" not in rule:
                raise PolicyError(f"log mask upsert without a value: {rule!r}"[:300], code="log_mask_invalid")
            op = MaskOp(rule["op"], rule["path"], rule.get("value"))
        else:
            raise PolicyError(f"log mask entry not understood: {rule!r}"[:300], code="log_mask_invalid")
        if not any(op.path == root or op.path.startswith(root + "/") for root in MASKABLE_ROOTS):
            raise PolicyError(f"log mask may only touch /input or /result: {op.path!r}"[:300], code="log_mask_invalid")
        pointer_tokens(op.path)
        ops.append(op)
    return ops


def apply_mask_ops(event: dict[str, Any], ops: Sequence[MaskOp], erased: set[str], masked: set[str]) -> None:
    for op in ops:
        if op.op == "remove":
            if remove_at(event, op.path):
                erased.add(op.path)
        elif upsert_at(event, op.path, op.value):
            masked.add(op.path)


# -- layer 2: fields a screener flagged -----------------------------------------------------
def findings_by_path(findings: Iterable[Any]) -> dict[str, set[str]]:
    """``{json_path: {entity types}}`` of the PII findings that name a place in the payload."""
    found: dict[str, set[str]] = {}
    for f in findings:
        if f.kind == "pii" and f.path:
            found.setdefault(f.path, set()).add(f.detail)
    return found


def placeholder(entities: Iterable[str]) -> str:
    return "<" + ",".join(sorted(entities)) + ">"


def mask_flagged(value: Any, flagged: Mapping[str, set[str]], at: str, path: str = "$") -> tuple[Any, list[str]]:
    """``value`` with every field (or object key) in ``flagged`` replaced by its typed placeholder.

    ``flagged`` uses the screeners' paths (``$.a.b[0]``, ``$.a#key`` for a key); they are
    matched by walking ``value`` the way the screeners walked it, so keys holding dots or
    brackets map exactly. ``at`` is the JSON pointer of ``value`` in the event.
    """
    masked: list[str] = []

    def walk(node: Any, jpath: str, tokens: list[str | int]) -> Any:
        if jpath in flagged:
            masked.append(at + pointer(tokens))
            return placeholder(flagged[jpath])
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, child in node.items():
                child_path = f"{jpath}.{key}"
                name = key
                if child_path + "#key" in flagged:
                    name = _free_key(out, placeholder(flagged[child_path + "#key"]))
                    masked.append(at + pointer([*tokens, name]))
                out[name] = walk(child, child_path, [*tokens, name])
            return out
        if isinstance(node, list):
            return [walk(child, f"{jpath}[{i}]", [*tokens, i]) for i, child in enumerate(node)]
        return node

    return walk(value, path, []), masked


def _free_key(taken: Mapping[str, Any], name: str) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}#{n}"
    return candidate


# -- layer 3: every remaining string --------------------------------------------------------
@dataclass
class PiiMasker:
    """Replaces PII spans in every string (object keys included) of a JSON value by ``<ENTITY>``.

    Decision-log events repeat most of their strings (keys, tool names, fact keys, codes): a
    string found clean is remembered as such (a clean string is no secret), so the next event
    pays a set look-up for it. Strings that do carry PII are cached by digest only, offsets
    without text, like the screener's cache.
    """

    scanner: SpanScanner
    cache_size: int = 8192
    _clean: dict[str, None] = field(default_factory=dict, init=False, repr=False)
    _dirty: LRUCache[bytes, tuple[tuple[int, int, str], ...]] = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self._dirty = LRUCache(maxsize=self.cache_size)

    def text(self, text: str) -> str:
        if text in self._clean:
            return text
        spans = self._spans(text)
        if not spans:
            if len(self._clean) >= self.cache_size:
                self._clean.clear()  # crude, bounded; refilled by the next few events
            self._clean[text] = None
            return text
        parts: list[str] = []
        at = 0
        for start, end, entity in spans:
            parts.append(text[at:start])
            parts.append(f"<{entity}>")
            at = end
        parts.append(text[at:])
        return "".join(parts)

    def _spans(self, text: str) -> tuple[tuple[int, int, str], ...]:
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        with self._lock:
            spans = self._dirty.get(key)
        if spans is not None:
            return spans
        try:
            found = self.scanner.scan(text)
        except Exception:
            # A text the scanner refuses (over its size limit) is not logged in clear.
            return ((0, len(text), "UNSCANNED"),)
        spans = tuple((s.start, s.end, s.entity_type) for s in found)
        if spans:
            with self._lock:
                self._dirty[key] = spans
        return spans

    def value(self, value: Any, at: str, masked: list[str]) -> Any:
        """``value`` scrubbed; the pointer of every changed string (or key) appended to ``masked``."""

        def walk(node: Any, where: tuple[Any, ...]) -> Any:
            if isinstance(node, str):
                clean = self.text(node)
                if clean is not node and clean != node:
                    masked.append(at + pointer(_unwind(where)))
                return clean
            if isinstance(node, dict):
                out: dict[str, Any] = {}
                for key, child in node.items():
                    name = self.text(key) if isinstance(key, str) else key
                    if name != key:
                        name = _free_key(out, name)
                        masked.append(at + pointer([*_unwind(where), name]))
                    out[name] = walk(child, (where, name))
                return out
            if isinstance(node, list):
                return [walk(child, (where, i)) for i, child in enumerate(node)]
            return node

        return walk(value, ())


def _unwind(where: tuple[Any, ...]) -> list[str | int]:
    """The tokens of a path kept as nested pairs ``((((), "a"), 0), "b")``: built only when needed."""
    tokens: list[str | int] = []
    while where:
        where, token = where
        tokens.append(token)
    tokens.reverse()
    return tokens


def default_masker() -> PiiMasker | None:
    """A masker with Railguard's PII scanner, or None when the screening extra is not installed."""
    try:
        from guardrails.screening.pii import PiiScanner
    except ImportError:
        return None
    return PiiMasker(PiiScanner())


def masked_copy(value: Any, findings: Iterable[Any], masker: PiiMasker | None) -> Any:
    """``value`` (tool arguments, say) with flagged fields and scanned spans masked: for telemetry
    that opts into recording arguments (spans), where no pointer list is kept."""
    value, _ = mask_flagged(value, findings_by_path(findings), "")
    if masker is not None:
        value = masker.value(value, "", [])
    return value
