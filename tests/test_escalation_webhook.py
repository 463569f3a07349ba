"""The escalation webhook: signed, retried with backoff, never in a decision's way."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from guardrails import Guard, Verdict
from guardrails.escalation import reviewer
from guardrails.escalation.webhook import SIGNATURE_HEADER, WebhookNotifier
from tests.conftest import pay
from tests.test_escalation import POLICY

SECRET = b"s3cret-for-tests"


class Receiver:
    """A loopback endpoint that fails its first ``failures`` deliveries with 503."""

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        self.failures = failures
        self.delay = delay
        self.bodies: list[tuple[bytes, str]] = []
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                time.sleep(receiver.delay)
                if receiver.attempts <= receiver.failures:
                    self.send_response(503)
                else:
                    receiver.bodies.append((body, self.headers[SIGNATURE_HEADER]))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, n: int, timeout: float = 10) -> list[dict[str, Any]]:
        ends = time.monotonic() + timeout
        while len(self.bodies) < n and time.monotonic() < ends:
            time.sleep(0.02)
        return [json.loads(body) for body, _ in self.bodies]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver(failures=2)
    yield made
    made.close()


def test_open_and_resolve_are_posted_signed_after_retries(make_guard: Callable[..., Guard], receiver: Receiver) -> None:
    hook = WebhookNotifier(receiver.url, SECRET, backoff_s=0.01)
    guard = make_guard(sources={"p.rego": POLICY}, ticket_listeners=[hook])
    decision = guard.authorize(pay(amount=5000))
    assert decision.verdict is Verdict.ESCALATE
    guard.queue.approve(decision.ticket or "", reviewer("alice"))
    events = receiver.wait_for(2)
    assert [e["event"] for e in events] == ["ticket.opened", "ticket.resolved"]
    assert events[0]["ticket"]["id"] == decision.ticket and events[1]["ticket"]["outcome"] == "allow"
    assert "args" not in events[0]["ticket"]  # a summary: the arguments stay in the ledger
    for body, signature in receiver.bodies:
        assert signature == "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    hook.close(timeout=5)  # the receiver has the body before the notifier has its answer: let it finish
    assert receiver.attempts == 4 and hook.delivered == 2 and hook.failed == 0


def test_a_dead_or_slow_webhook_never_blocks_a_decision(make_guard: Callable[..., Guard]) -> None:
    slow = Receiver(delay=3.0)
    try:
        dead = WebhookNotifier("http://127.0.0.1:9/nothing-listens", SECRET, retries=1, backoff_s=0.01)
        stuck = WebhookNotifier(slow.url, SECRET, timeout_s=5, retries=0)
        guard = make_guard(sources={"p.rego": POLICY}, ticket_listeners=[dead, stuck])
        started = time.perf_counter()
        for i in range(3):
            assert guard.authorize(pay(txn=f"t{i}", amount=5000)).verdict is Verdict.ESCALATE
        assert time.perf_counter() - started < 2.5  # one 3-second delivery inline would exceed it
        dead.close(timeout=5)
        assert dead.failed == 3 and dead.delivered == 0
    finally:
        slow.close()


def test_a_full_queue_drops_and_counts() -> None:
    hook = WebhookNotifier("http://127.0.0.1:9/x", SECRET, retries=0, capacity=1)
    from guardrails.escalation.model import Ticket, TicketState

    for i in range(50):
        ticket = Ticket(
            id=f"t{i}",
            state=TicketState.OPEN,
            session_id="s",
            call_id=None,
            checkpoint="authorize",
            tool="x",
            binding="b",
            agent={"id": "a"},
            codes=("c",),
            opened_at=0,
            deadline=1,
            approvers_needed=1,
            default="deny",
        )
        hook.ticket_event("opened", ticket)
    assert hook.dropped > 0
    hook.close(timeout=5)
