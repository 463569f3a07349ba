"""Remote mode: the same guarded tools against ``railguard serve`` over HTTP; fail closed when the
sidecar is unreachable, slow, broken or answers garbage, and never run the tool then."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from adapters import ApprovalPending, guarded
from adapters.remote import SidecarClient, SidecarRefused, SidecarUnavailable
from guardrails.errors import DeniedError
from guardrails.service import KeyStore, create_app
from tests.conftest import payments_guard

RECIPIENT = "ACME-SUPPLIES-001"


class Sidecar:
    def __init__(self, tmp_path: Path) -> None:
        self.guard = payments_guard(tmp_path / "ledger.db")
        self.keys = KeyStore(tmp_path / "keys.db")
        self.agent_key = self.keys.create("payments-bot", ["agent:payments_agent"])
        self.reviewer_key = self.keys.create("alice", ["reviewer"])
        config = uvicorn.Config(create_app(self.guard, self.keys), host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.guard.close()
        self.keys.close()


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    made = Sidecar(tmp_path_factory.mktemp("sidecar"))
    yield made
    made.close()


def args(txn: str, amount: float) -> dict[str, Any]:
    return {"transaction_id": txn, "amount": amount, "currency": "EUR", "recipient": RECIPIENT}


def bank() -> tuple[dict[str, int], Any, Any]:
    runs = {"fraud_check": 0, "make_payment": 0}

    @guarded(key="transaction_id", facts=["status"])
    def fraud_check(transaction_id: str) -> dict[str, Any]:
        runs["fraud_check"] += 1
        return {"status": "passed"}

    @guarded(key="transaction_id", once_per_key=True, outbound=True)
    def make_payment(transaction_id: str, amount: float, currency: str, recipient: str) -> dict[str, Any]:
        runs["make_payment"] += 1
        return {"payment_id": f"p-{transaction_id}", "status": "settled"}

    return runs, fraud_check, make_payment


def test_deny_allow_and_exactly_once_through_the_sidecar(sidecar: Sidecar) -> None:
    runs, fraud_check, make_payment = bank()
    with SidecarClient(sidecar.url, sidecar.agent_key) as client:
        pay = make_payment.bind(client)
        with pytest.raises(DeniedError) as denied:
            pay.invoke(args("t1", 250), session_id="r1")
        assert "fraud_check_required" in denied.value.decision.codes and runs["make_payment"] == 0
        assert fraud_check.bind(client).invoke({"transaction_id": "t1"}, session_id="r1") == {"status": "passed"}
        assert pay.invoke(args("t1", 250), session_id="r1", call_id="pay-1")["status"] == "settled"
        assert pay.invoke(args("t1", 250), session_id="r1", call_id="pay-1")["status"] == "settled"  # the retry
        assert runs["make_payment"] == 1  # answered from the recorded result
        client.report_usage("r1", tokens=10, cost=0.01)


def test_an_escalation_is_resumed_after_a_reviewer_approves_over_http(sidecar: Sidecar) -> None:
    runs, fraud_check, make_payment = bank()
    with SidecarClient(sidecar.url, sidecar.agent_key) as client:
        fraud_check.bind(client).invoke({"transaction_id": "t2"}, session_id="r2")
        pay = make_payment.bind(client)
        with pytest.raises(ApprovalPending) as pending:
            pay.invoke(args("t2", 2500), session_id="r2")
        assert runs["make_payment"] == 0
        ticket = pending.value.decision.ticket
        with SidecarClient(sidecar.url, sidecar.reviewer_key) as reviewer:
            reviewer._json("POST", f"/v1/tickets/{ticket}/approve", {"note": "ok"})
        assert client.wait(ticket or "", timeout=5).state.value == "approved"
        assert pay.resume(pending.value)["status"] == "settled" and runs["make_payment"] == 1


def test_a_wrong_key_is_refused_with_its_code_and_nothing_runs(sidecar: Sidecar) -> None:
    runs, fraud_check, _ = bank()
    with SidecarClient(sidecar.url, "rg_nope_nope") as client:
        with pytest.raises(SidecarRefused) as refused:
            fraud_check.bind(client).invoke({"transaction_id": "t3"}, session_id="r3")
    assert refused.value.code == "unauthorized" and refused.value.status == 401 and runs["fraud_check"] == 0


class Broken(BaseHTTPRequestHandler):
    mode = "500"

    def do_POST(self) -> None:
        if self.mode == "slow":
            time.sleep(3)
        self.send_response(500 if self.mode == "500" else 200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        body = {"500": b'{"detail": "boom"}', "garbage": b"<html>not json</html>", "wrong": b'{"verdict": "allow"}'}
        self.wfile.write(body.get(self.mode, b"{}"))

    def log_message(self, *args: Any) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the slow handler writes to a socket the client already gave up on


@pytest.mark.parametrize("mode", ["500", "garbage", "wrong", "slow", "refused"])
def test_the_sidecar_failing_fails_closed_and_the_tool_never_runs(mode: str) -> None:
    runs, fraud_check, _ = bank()
    if mode == "refused":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{s.getsockname()[1]}"  # closed again: nothing listens
        server = None
    else:
        handler = type("Handler", (Broken,), {"mode": mode})
        server = QuietServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with SidecarClient(url, "k", timeout_s=0.5) as client:
            with pytest.raises(SidecarUnavailable):
                fraud_check.bind(client).invoke({"transaction_id": "t4"}, session_id="r4")
        assert runs["fraud_check"] == 0
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()


def test_the_agents_trace_context_is_sent_to_the_sidecar(sidecar: Sidecar) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from adapters.remote import _trace_headers

    tracer = TracerProvider().get_tracer("agent")
    with tracer.start_as_current_span("agent step") as span:
        headers = _trace_headers()
        trace_id = format(span.get_span_context().trace_id, "032x")
    assert headers["traceparent"].split("-")[1] == trace_id
    assert _trace_headers() == {}  # outside any span: nothing to propagate
