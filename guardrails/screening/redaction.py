"""What happens to a PII span: the actions per entity type, and the text that replaces it.

Actions (``[screening.pii]`` in ``railguard.toml``, per entity type, with a ``default``):

* ``allow``    — reported as a finding (it still labels the session ``pii:<TYPE>``), text unchanged;
* ``redact``   — replaced by a typed placeholder, numbered per payload in order of first
  appearance (``<EMAIL_ADDRESS_1>``): the same value gets the same placeholder;
* ``mask``     — replaced by ``<EMAIL_ADDRESS>``;
* ``hash``     — replaced by ``<EMAIL_ADDRESS:3f2a9c01b7d4>``, a keyed hash (equal values compare equal,
  the value cannot be read back);
* ``block``    — the step is denied (``pii_blocked``);
* ``escalate`` — a person decides (``pii_needs_review``).

Whatever the action, what Railguard *stores* is redacted (see ``Scrubber``): PII never rests in
clear in the ledger.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from guardrails.errors import ConfigError
from guardrails.screening.pii import PiiSpan
from guardrails.screening.vault import PiiVault

ACTIONS: Final = ("allow", "redact", "mask", "hash", "block", "escalate")
#: A redaction placeholder in text: ``<EMAIL_ADDRESS_1>``.
PLACEHOLDER: Final = re.compile(r"<([A-Z][A-Z0-9_]*?)_([1-9][0-9]{0,8})>")
REWRITING: Final = frozenset({"redact", "mask", "hash"})


@dataclass(frozen=True)
class PiiActions:
    """The action per entity type; ``default`` for the types not named."""

    default: str = "redact"
    by_entity: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for entity, action in {"default": self.default, **self.by_entity}.items():
            if action not in ACTIONS:
                raise ConfigError(f"screening.pii.{entity}: unknown action {action!r}; one of {', '.join(ACTIONS)}")

    def of(self, entity: str) -> str:
        return self.by_entity.get(entity, self.default)

    def over(self, asked: Mapping[str, str] | None) -> PiiActions:
        """These actions with a policy's on top (its ``default`` replaces ours only when it names one)."""
        if not asked:
            return self
        named = {k: v for k, v in asked.items() if k != "default"}
        return PiiActions(asked.get("default", self.default), {**self.by_entity, **named})


class Placeholders:
    """Replacement texts for one session (or one payload): the same value always gets the same placeholder.

    Numbers are kept by a digest of the value, never the value itself.
    """

    def __init__(self, hash_key: bytes, vault: PiiVault | None = None, session_id: str | None = None) -> None:
        self._key = hash_key
        # With a vault and a session, numbers (and sealed values) live in the vault: stable across
        # restarts, and reversible through Guard.reveal. Otherwise in memory, one-way.
        self._vault = vault if session_id is not None else None
        self._session = session_id or ""
        self._numbers: dict[tuple[str, bytes], int] = {}
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def text(self, entity: str, value: str, action: str) -> str:
        if action == "mask":
            return f"<{entity}>"
        if action == "hash":
            digest = hmac.new(self._key, f"{entity}\0{value}".encode(), hashlib.sha256).hexdigest()[:12]
            return f"<{entity}:{digest}>"
        if self._vault is not None:
            return f"<{entity}_{self._vault.number(self._session, entity, value)}>"
        ident = (entity, hmac.new(self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).digest())
        with self._lock:
            number = self._numbers.get(ident)
            if number is None:
                number = self._counts[entity] = self._counts.get(entity, 0) + 1
                self._numbers[ident] = number
        return f"<{entity}_{number}>"


def rewrite(text: str, spans: Sequence[PiiSpan], actions: PiiActions, placeholders: Placeholders) -> str:
    """``text`` with each span whose action rewrites replaced; spans are sorted and do not overlap."""
    parts: list[str] = []
    at = 0
    for span in spans:
        action = actions.of(span.entity_type)
        if action not in REWRITING:
            continue
        parts.append(text[at : span.start])
        parts.append(placeholders.text(span.entity_type, text[span.start : span.end], action))
        at = span.end
    if not parts:
        return text
    parts.append(text[at:])
    return "".join(parts)
