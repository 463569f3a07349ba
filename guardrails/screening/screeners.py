"""The detectors as pipeline ``Screener``s: they walk a payload's strings and return one outcome.

A payload is any JSON value (user text, tool arguments, a tool's parsed output, the final
output): every string in it, keys included, is screened, with its JSON path in the findings.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections.abc import Callable, Collection, Iterator
from typing import Any

from cachetools import LRUCache

from guardrails import codes
from guardrails.model import Finding, Verdict
from guardrails.screening.injection import InjectionDetector
from guardrails.screening.pii import PiiScanner, PiiSpan
from guardrails.screening.redaction import PLACEHOLDER, PiiActions, Placeholders, rewrite
from guardrails.screening.vault import PiiVault
from guardrails.stages.base import PII_ACTIONS, SCREENING_SESSION, StageOutcome

#: Checkpoint channels -> the detector's: what the user typed, or text that came from elsewhere.
_INJECTION_CHANNEL = {"user": "user", "tool_output": "tool_output", "tool_args": "tool_output", "output": "tool_output"}


def strings(payload: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    """``(json_path, text)`` for every string in a JSON value, object keys included."""
    if isinstance(payload, str):
        yield path, payload
    elif isinstance(payload, dict):
        for key, value in payload.items():
            yield f"{path}.{key}#key", key
            yield from strings(value, f"{path}.{key}")
    elif isinstance(payload, list):
        for index, value in enumerate(payload):
            yield from strings(value, f"{path}[{index}]")


def map_strings(payload: Any, fn: Callable[[str], str]) -> Any:
    """A copy of ``payload`` with ``fn`` applied to every string, object keys included."""
    if isinstance(payload, str):
        return fn(payload)
    if isinstance(payload, dict):
        return {fn(key): map_strings(value, fn) for key, value in payload.items()}
    if isinstance(payload, list):
        return [map_strings(value, fn) for value in payload]
    return payload


class PiiScreener:
    """PII and secrets: findings for every span, the payload rewritten per action, block or escalate."""

    name = "pii"

    def __init__(
        self,
        actions: PiiActions | None = None,
        scanner: PiiScanner | None = None,
        hash_key: bytes = b"",
        cache_size: int = 4096,
        vault: PiiVault | None = None,
    ) -> None:
        self.actions = actions or PiiActions()
        self.vault = vault
        self.scanner = scanner or PiiScanner()
        # A keyed hash: equal values compare equal within a deployment, and cannot be read back.
        self.hash_key = hash_key or secrets.token_bytes(32)
        # Repeated texts (a system prompt, a tool's boilerplate) are scanned once. Keyed by a
        # digest, so the cache itself holds no text, only span offsets.
        self._cache: LRUCache[bytes, list[PiiSpan]] | None = LRUCache(maxsize=cache_size) if cache_size > 0 else None
        self._cache_lock = threading.Lock()
        self._sessions: LRUCache[str, Placeholders] = LRUCache(maxsize=10_000)

    def _placeholders(self, session: str | None) -> Placeholders:
        """The session's numbering (``<EMAIL_ADDRESS_1>`` is the same address all session long),
        kept in memory for the most recent sessions; a fresh one outside any session."""
        if session is None:
            return Placeholders(self.hash_key)
        with self._cache_lock:
            found = self._sessions.get(session)
            if found is None:
                found = self._sessions[session] = Placeholders(self.hash_key, self.vault, session)
            return found

    def reveal(self, payload: Any, session_id: str, entities: Collection[str]) -> Any:
        """``payload`` with the placeholders of ``entities`` replaced by their real values (from the
        vault; without one nothing is kept, and nothing can be revealed)."""
        vault = self.vault
        if vault is None or not entities:
            return payload

        def back(match: re.Match[str]) -> str:
            entity, number = match.group(1), int(match.group(2))
            if entity not in entities:
                return match.group(0)
            value = vault.value(session_id, entity, number)
            return match.group(0) if value is None else value

        return map_strings(payload, lambda text: PLACEHOLDER.sub(back, text))

    def _scan(self, text: str) -> list[PiiSpan]:
        if self._cache is None:
            return self.scanner.scan(text)
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        with self._cache_lock:
            spans = self._cache.get(key)
        if spans is None:
            spans = self.scanner.scan(text)
            with self._cache_lock:
                self._cache[key] = spans
        return spans

    def screen(self, payload: Any, channel: str) -> StageOutcome:
        findings: list[Finding] = []
        placeholders = self._placeholders(SCREENING_SESSION.get())
        actions = self.actions.over(PII_ACTIONS.get())  # a policy's pii_actions for this call, if any
        blocked: set[str] = set()
        escalated: set[str] = set()
        rewritten: dict[str, str] = {}
        for path, text in strings(payload):
            spans = self._scan(text)
            if not spans:
                continue
            for span in spans:
                action = actions.of(span.entity_type)
                findings.append(
                    Finding(
                        kind="pii",
                        detail=span.entity_type,
                        path=path,
                        start=span.start,
                        end=span.end,
                        score=span.score,
                        source=f"railguard.pii:{span.recognizer}",
                    )
                )
                if action == "block":
                    blocked.add(span.entity_type)
                elif action == "escalate":
                    escalated.add(span.entity_type)
            rewritten[text] = rewrite(text, spans, actions, placeholders)
        if not findings:
            return StageOutcome()
        redacted = map_strings(payload, lambda s: rewritten.get(s, s)) if rewritten else None
        found = tuple(findings)
        if blocked:
            reason = StageOutcome.deny(
                codes.PII_BLOCKED, f"{channel} carries {', '.join(sorted(blocked))}", "railguard.pii", found
            )
            return StageOutcome(reason.verdict, reason.reasons, found, redacted)
        if escalated:
            reason = StageOutcome.escalate(
                codes.PII_NEEDS_REVIEW, f"{channel} carries {', '.join(sorted(escalated))}", "railguard.pii"
            )
            return StageOutcome(reason.verdict, reason.reasons, found, redacted)
        return StageOutcome(Verdict.ALLOW, (), found, redacted)

    def scrub(self, payload: Any) -> Any:
        """``payload`` with every span replaced by its typed mask, whatever the action: what is stored."""
        placeholders = Placeholders(self.hash_key)
        mask = PiiActions(default="mask")

        def clean(text: str) -> str:
            spans = self._scan(text)
            return rewrite(text, spans, mask, placeholders) if spans else text

        return map_strings(payload, clean)


class InjectionScreener:
    """Prompt injection: the strongest string decides; its signals are the finding's detail."""

    name = "injection"

    def __init__(self, detector: InjectionDetector | None = None) -> None:
        self.detector = detector or InjectionDetector()

    def screen(self, payload: Any, channel: str) -> StageOutcome:
        detector_channel = _INJECTION_CHANNEL.get(channel, "tool_output")
        worst: tuple[str, Any] | None = None
        for path, text in strings(payload):
            result = self.detector.detect(text, detector_channel)
            if worst is None or result.score > worst[1].score:
                worst = (path, result)
        if worst is None or worst[1].verdict == "allow":
            return StageOutcome()  # below the channel's thresholds: no finding, no taint
        path, result = worst
        signals = ", ".join(result.signals) or "model"
        finding = Finding(
            kind="injection", detail=signals, path=path, score=round(result.score, 4), source="railguard.injection"
        )
        message = f"{channel} at {path} scores {result.score:.2f} for prompt injection ({signals})"
        if result.verdict == "deny":
            return StageOutcome.deny(codes.PROMPT_INJECTION, message, "railguard.injection", (finding,))
        outcome = StageOutcome.escalate(codes.PROMPT_INJECTION_SUSPECTED, message, "railguard.injection")
        return StageOutcome(outcome.verdict, outcome.reasons, (finding,))
