"""Tell someone when a ticket opens or resolves: a signed POST, retried with backoff, off the hot path.

The body is JSON (the ticket's summary: never its arguments); the header
``X-Railguard-Signature: sha256=<hex>`` is an HMAC-SHA256 of the exact body bytes with the
deployment's secret, so the receiver can check it came from us. Deliveries run on one daemon
thread from a bounded queue: a slow or failing endpoint never blocks or changes a decision;
what cannot be queued or delivered is counted (``dropped``, ``failed``).
"""

from __future__ import annotations

import hashlib
import hmac
import queue
import threading
import uuid
from typing import Any

import orjson

from guardrails.errors import ConfigError
from guardrails.escalation.model import Ticket

SIGNATURE_HEADER = "X-Railguard-Signature"
_SUMMARY = (
    "id",
    "state",
    "session_id",
    "call_id",
    "checkpoint",
    "tool",
    "codes",
    "opened_at",
    "deadline",
    "approvers_needed",
    "resolved_at",
    "resolved_by",
)


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    """A :class:`~guardrails.escalation.queue.TicketListener` that POSTs ``ticket.opened`` / ``ticket.resolved``."""

    def __init__(
        self,
        url: str,
        secret: bytes,
        *,
        timeout_s: float = 5.0,
        retries: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        capacity: int = 1000,
    ) -> None:
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - the extra is missing
            raise ConfigError(f"the escalation webhook needs httpx: pip install 'railguard[webhook]' ({exc})") from None
        if not secret:
            raise ConfigError("the escalation webhook needs a non-empty signing secret")
        self.url = url
        self._secret = secret
        self._client = httpx.Client(timeout=timeout_s)
        self._retries = retries
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=capacity)
        self._stop = threading.Event()
        self.delivered = self.failed = self.dropped = 0
        self._seen: dict[tuple[str, str], None] = {}
        self._thread = threading.Thread(target=self._run, name="railguard-webhook", daemon=True)
        self._thread.start()

    def ticket_event(self, kind: str, ticket: Ticket) -> None:
        if (kind, ticket.id) in self._seen:  # a reused ticket is announced once
            return
        self._seen[(kind, ticket.id)] = None
        if len(self._seen) > 10_000:
            self._seen.pop(next(iter(self._seen)))
        summary: dict[str, Any] = {k: v for k, v in ticket.model_dump(mode="json").items() if k in _SUMMARY}
        summary["outcome"] = ticket.outcome
        body = orjson.dumps({"event": f"ticket.{kind}", "delivery": uuid.uuid4().hex, "ticket": summary})
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                body = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if body is None:
                return
            self._deliver(body)

    def _deliver(self, body: bytes) -> None:
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self._secret, body)}
        delay = self._backoff_s
        for attempt in range(self._retries + 1):
            try:
                response = self._client.post(self.url, content=body, headers=headers)
                if response.is_success:
                    self.delivered += 1
                    return
                if response.status_code < 500 and response.status_code not in (408, 429):
                    break  # the receiver refuses it: retrying will not help
            except Exception:  # noqa: S110 - connection refused, timeout: retried below
                pass
            if attempt < self._retries and self._stop.wait(delay):
                break
            delay = min(delay * 2, self._max_backoff_s)
        self.failed += 1

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout``), then stop."""
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            self._stop.set()
        self._thread.join(timeout)
        self._stop.set()
        self._client.close()
