"""Key values that hold PII rest in the ledger as keyed digests, never in clear.

A call's key value (``spec.key_arg``) and the scalar arguments it is looked up by index the
session's facts (``results``, ``by_key``): the ledger keeps them in its tables and in the
events. When such a value contains PII (an e-mail as a customer id, an IBAN as a payee key),
it is stored as ``pii:<digest>`` instead: an HMAC-SHA-256 under a key derived from the
deployment's ``RAILGUARD_VAULT_KEY`` when it is set (else unkeyed SHA-256, which a
dictionary attack on a low-entropy value such as a phone number can reverse: set the key).

Policies see no difference: the facts are read under the stored keys of the call's own
values and handed to Rego under the clear values again, and ``input.call.key`` stays clear.
The digests are what the ledger's tables and the events' ``key_value`` hold; the decision's
stored input is masked by the scrubber like the arguments (object keys included), so a
replay looks the facts up under the same masks as the arguments it is given. It applies
where the rest of the payload is scrubbed (``ScrubbingTx``: screening is on); detection is
our own recognizers, as for tickets.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from cachetools import LRUCache

PREFIX: Final = "pii:"
_FACT_MAPS: Final = ("results", "by_key")


def default_detector() -> Callable[[str], bool]:
    """Whether a value holds PII, by the bundled recognizers (no model, no screener config)."""
    from guardrails.screening.pii import PiiScanner

    scanner = PiiScanner()
    return lambda value: bool(scanner.scan(value))


def deployment_secret() -> bytes | None:
    """The digest key, derived from ``RAILGUARD_VAULT_KEY`` when the deployment sets one."""
    from guardrails.screening.vault import KEY_ENV, key_from_env

    if not os.environ.get(KEY_ENV):
        return None
    return hmac.new(key_from_env(), b"railguard fact-key digest", hashlib.sha256).digest()


class FactKeys:
    """Map key values to the form the ledger stores, and stored facts back to clear keys."""

    def __init__(self, detect: Callable[[str], bool] | None = None, secret: bytes | None = None) -> None:
        self._detect = detect or default_detector()
        self._secret = secret
        self._cache: LRUCache[str, str] = LRUCache(maxsize=8192)
        self._lock = threading.Lock()

    def stored(self, value: str | None) -> str | None:
        """``value`` as the ledger keeps it: itself, or ``pii:<digest>`` when it holds PII."""
        if value is None:
            return None
        with self._lock:
            hit = self._cache.get(value)
        if hit is not None:
            return hit
        form = self._digest(value) if not value.startswith(PREFIX) and self._detect(value) else value
        with self._lock:
            self._cache[value] = form
        return form

    def _digest(self, value: str) -> str:
        data = value.encode("utf-8", "surrogatepass")
        if self._secret is None:
            digest = hashlib.sha256(b"railguard fact-key\0" + data).hexdigest()
        else:
            digest = hmac.new(self._secret, data, hashlib.sha256).hexdigest()
        return PREFIX + digest[:40]

    def lookup(self, values: Sequence[str]) -> tuple[list[str], dict[str, str]]:
        """The stored keys to query for ``values``, and the way back (stored -> clear)."""
        back: dict[str, str] = {}
        for value in values:
            form = self.stored(value)
            if form is not None:
                back[form] = value
        return sorted(back), back

    @staticmethod
    def readable(facts: dict[str, Any], back: Mapping[str, str]) -> dict[str, Any]:
        """Facts read under stored keys, keyed by the call's clear values again."""
        if all(form == clear for form, clear in back.items()):
            return facts  # no key held PII: nothing to rename (the common case, on every authorize)
        return _rekey(facts, back.get)


def _rekey(facts: Mapping[str, Any], rename: Callable[[str], str | None]) -> dict[str, Any]:
    """``facts`` with the keys of its per-tool ``results`` and ``by_key`` maps renamed."""
    out = dict(facts)
    for name in _FACT_MAPS:
        per_tool = facts.get(name)
        if isinstance(per_tool, Mapping):
            out[name] = {
                tool: {(rename(k) or k): v for k, v in keyed.items()} if isinstance(keyed, Mapping) else keyed
                for tool, keyed in per_tool.items()
            }
    return out
