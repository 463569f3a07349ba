"""The sidecar's /v1 API: keys decide who is asking, every error is a problem document with a
stable code, a deny is an answer (200), and the same call id is decided once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from guardrails import codes
from guardrails.pipeline import Guard
from guardrails.service import KeyStore, create_app
from tests.conftest import payments_guard

PAYMENT = {"transaction_id": "t1", "amount": 50, "currency": "EUR", "recipient": "ACME-SUPPLIES-001"}


@dataclass
class Service:
    client: TestClient
    guard: Guard
    keys: KeyStore
    agent_key: str
    alice: str
    bob: str

    def post(self, path: str, body: Any, key: str | None = None) -> Any:
        return self.client.post(path, json=body, headers=auth(key or self.agent_key))

    def get(self, path: str, key: str | None = None) -> Any:
        return self.client.get(path, headers=auth(key or self.alice))

    def authorize(self, tool: str, args: dict[str, Any], session: str = "s1", **extra: Any) -> dict[str, Any]:
        response = self.post("/v1/authorize", {"tool": tool, "args": args, "session_id": session, **extra})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def escalated_ticket(self, txn: str = "t9", amount: float = 2500, session: str = "s1") -> str:
        """A payment over the approval threshold, its fraud check passed first: a ticket."""
        check = self.authorize("fraud_check", {"transaction_id": txn}, session, call_id=f"fc-{txn}")
        assert check["verdict"] == "allow", check
        result = self.post(
            "/v1/results", {"call_id": f"fc-{txn}", "session_id": session, "output": {"status": "passed"}}
        ).json()
        assert result["verdict"] == "allow", result
        decision = self.authorize("make_payment", {**PAYMENT, "transaction_id": txn, "amount": amount}, session)
        assert decision["verdict"] == "escalate", decision
        return str(decision["ticket"])


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def start_service(tmp_path: Path, **kwargs: Any) -> tuple[Guard, KeyStore, dict[str, str]]:
    guard = payments_guard(tmp_path / "ledger.db")
    keys = KeyStore(tmp_path / "keys.db")
    made = {
        "agent": keys.create("payments-bot", ["agent:payments_agent"]),
        "alice": keys.create("alice", ["reviewer"]),
        "bob": keys.create("bob", ["reviewer"]),
    }
    return guard, keys, made


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Service]:
    guard, keys, made = start_service(tmp_path)
    app = create_app(guard, keys, max_body_bytes=64 * 1024)
    with TestClient(app) as client:
        yield Service(client, guard, keys, made["agent"], made["alice"], made["bob"])
    guard.close()
    keys.close()


def is_problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["code"] == code
    assert {"type", "title", "detail"} <= set(body)


# -- identity ------------------------------------------------------------------------------------
def test_a_payment_without_fraud_check_is_denied_with_a_200(svc: Service) -> None:
    decision = svc.authorize("make_payment", PAYMENT)
    assert decision["verdict"] == "deny"
    assert "fraud_check_required" in [r["code"] for r in decision["reasons"]]
    assert set(decision) >= {"verdict", "checkpoint", "stage", "reasons", "decision_id", "call_id", "policy_revision"}


def test_the_agent_comes_from_the_key_not_the_body(svc: Service) -> None:
    response = svc.post(
        "/v1/authorize",
        {"tool": "fraud_check", "args": {"transaction_id": "t1"}, "session_id": "s1", "agent": {"id": "root"}},
    )
    is_problem(response, 422, codes.INVALID_REQUEST)
    assert ["body", "agent"] in [e["loc"] for e in response.json()["errors"]]


def test_the_key_identity_and_roles_reach_the_policy(svc: Service) -> None:
    decision = svc.authorize("fraud_check", {"transaction_id": "t1"}, call_id="c1")
    assert decision["verdict"] == "allow"
    with svc.guard.ledger.read("s1") as tx:
        call = [e for e in tx.history(10) if e["type"] == "call_requested"]
    assert call, "the call is in the ledger"
    events = list(svc.guard.ledger.events("s1"))
    agent = next(e.payload["call"]["agent"] for e in events if e.type == "call_requested")
    assert agent["id"] == "payments-bot" and agent["roles"] == ["payments_agent"]


def test_a_role_without_the_tool_is_denied(tmp_path: Path, svc: Service) -> None:
    support = svc.keys.create("support-bot", ["agent:support_agent"])
    response = svc.post("/v1/authorize", {"tool": "make_payment", "args": PAYMENT, "session_id": "s2"}, support)
    assert response.status_code == 200 and response.json()["verdict"] == "deny"


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer nope", "Basic abc", "Bearer rg_0000000000000000_" + "A" * 43],
)
def test_no_valid_key_is_401(svc: Service, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = svc.client.post("/v1/authorize", json={"tool": "x", "session_id": "s"}, headers=headers)
    is_problem(response, 401, codes.UNAUTHORIZED)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_revoked_key_is_401(svc: Service) -> None:
    assert svc.keys.revoke("payments-bot")
    is_problem(svc.post("/v1/authorize", {"tool": "fraud_check", "session_id": "s"}), 401, codes.UNAUTHORIZED)


def test_a_reviewer_cannot_authorize_tool_calls(svc: Service) -> None:
    response = svc.post("/v1/authorize", {"tool": "fraud_check", "session_id": "s"}, svc.alice)
    is_problem(response, 403, codes.FORBIDDEN)


@pytest.mark.parametrize("action", ["approve", "deny", "claim"])
def test_an_agent_cannot_act_on_tickets(svc: Service, action: str) -> None:
    ticket = svc.escalated_ticket()
    response = svc.post(f"/v1/tickets/{ticket}/{action}", {"note": "mine"}, svc.agent_key)
    is_problem(response, 403, codes.FORBIDDEN)


def test_keys_are_stored_hashed(svc: Service, tmp_path: Path) -> None:
    raw = (tmp_path / "keys.db").read_bytes()
    secret = svc.agent_key.rsplit("_", 1)[1]
    assert secret.encode() not in raw
    assert all(info.name for info in svc.keys.list())


# -- problem details ----------------------------------------------------------------------------
def test_a_body_over_the_limit_is_413(svc: Service) -> None:
    body = {"tool": "fraud_check", "session_id": "s", "args": {"x": "a" * 70_000}}
    is_problem(svc.post("/v1/authorize", body), 413, codes.BODY_TOO_LARGE)


def test_a_chunked_body_over_the_limit_is_413_without_content_length(svc: Service) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"tool": "fraud_check", "session_id": "s", "args": {"x": "'
        for _ in range(100):
            yield b"a" * 1024
        yield b'"}}'

    response = svc.client.post(
        "/v1/authorize",
        content=chunks(),
        headers={**auth(svc.agent_key), "Content-Type": "application/json"},
    )
    is_problem(response, 413, codes.BODY_TOO_LARGE)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"tool": "fraud_check", "session_id": ', 400, codes.MALFORMED_JSON),
        (b"\xff\xfe{}", 400, codes.INVALID_ENCODING),
        (b'{"tool": "\xc3\x28", "session_id": "s"}', 400, codes.INVALID_ENCODING),
        (b"[]", 422, codes.INVALID_REQUEST),
        (b'{"tool": 5, "session_id": "s"}', 422, codes.INVALID_REQUEST),
        (b'{"tool": "", "session_id": "s"}', 422, codes.INVALID_REQUEST),
        (b'{"tool": "x\\u0000", "session_id": "s"}', 422, codes.INVALID_REQUEST),
        (b'{"tool": "x", "session_id": "' + b"s" * 300 + b'"}', 422, codes.INVALID_REQUEST),
    ],
)
def test_a_bad_body_is_a_4xx_problem(svc: Service, body: bytes, status: int, code: str) -> None:
    response = svc.client.post(
        "/v1/authorize", content=body, headers={**auth(svc.agent_key), "Content-Type": "application/json"}
    )
    is_problem(response, status, code)


def test_validation_errors_do_not_echo_the_input(svc: Service) -> None:
    response = svc.post("/v1/authorize", {"tool": 5, "session_id": "s", "args": {"secret": "hunter2"}})
    assert "hunter2" not in response.text
    assert response.json()["errors"][0]["loc"] == ["body", "tool"]


def test_a_non_json_body_is_415(svc: Service) -> None:
    response = svc.client.post(
        "/v1/authorize", content=b"tool=x", headers={**auth(svc.agent_key), "Content-Type": "text/plain"}
    )
    is_problem(response, 415, codes.UNSUPPORTED_MEDIA_TYPE)


def test_unknown_paths_and_methods_are_problems(svc: Service) -> None:
    is_problem(svc.client.get("/v1/nope"), 404, codes.NOT_FOUND)
    is_problem(svc.client.get("/v1/authorize"), 405, codes.METHOD_NOT_ALLOWED)


def test_non_finite_numbers_are_a_decision_not_a_crash(svc: Service) -> None:
    response = svc.client.post(
        "/v1/authorize",
        content=b'{"tool": "make_payment", "session_id": "s", "args": {"amount": NaN}}',
        headers={**auth(svc.agent_key), "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert response.json()["verdict"] in ("deny", "error")


def test_usage_is_recorded_and_bad_usage_is_422(svc: Service) -> None:
    assert svc.post("/v1/usage", {"session_id": "s1", "tokens": 10, "cost": 0.5}).status_code == 204
    is_problem(svc.post("/v1/usage", {"session_id": "s1", "tokens": -1}), 422, codes.INVALID_REQUEST)
    is_problem(svc.post("/v1/usage", {"session_id": "s1", "tokens": "10"}), 422, codes.INVALID_REQUEST)


def test_screen_and_outputs_answer_with_decisions(svc: Service) -> None:
    screened = svc.post("/v1/screen", {"payload": "pay the invoice", "session_id": "s1"}).json()
    assert screened["checkpoint"] == "screen_input"
    schema = {"type": "object", "required": ["answer"]}
    bad = svc.post("/v1/outputs", {"output": {"x": 1}, "session_id": "s1", "schema": schema}).json()
    assert bad["verdict"] == "deny" and bad["checkpoint"] == "check_output"
    good = svc.post("/v1/outputs", {"output": {"answer": "ok"}, "session_id": "s1", "schema": schema}).json()
    assert good["verdict"] == "allow"


def test_a_result_for_an_unknown_call_is_a_deny(svc: Service) -> None:
    decision = svc.post("/v1/results", {"call_id": "nope", "session_id": "s1", "output": {}}).json()
    assert decision["verdict"] == "deny" and decision["reasons"][0]["code"] == codes.UNKNOWN_CALL


# -- idempotency --------------------------------------------------------------------------------
def test_the_same_call_id_is_decided_once(svc: Service) -> None:
    first = svc.authorize("fraud_check", {"transaction_id": "t1"}, call_id="same")
    second = svc.authorize("fraud_check", {"transaction_id": "t1"}, call_id="same")
    assert first == second
    requested = [e for e in svc.guard.ledger.events("s1") if e.type == "call_requested"]
    assert len(requested) == 1


def test_concurrent_identical_requests_get_one_decision_and_one_entry(svc: Service) -> None:
    barrier = threading.Barrier(8)
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()

    def ask() -> None:
        barrier.wait()
        decision = svc.authorize("fraud_check", {"transaction_id": "t7"}, "s7", call_id="race")
        with lock:
            answers.append(decision)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 8
    assert len({a["decision_id"] for a in answers}) == 1
    events = list(svc.guard.ledger.events("s7"))
    assert len([e for e in events if e.type == "call_requested"]) == 1
    assert len([e for e in events if e.type == "decision"]) == 1


def test_the_same_call_id_with_other_arguments_is_a_conflict(svc: Service) -> None:
    svc.authorize("fraud_check", {"transaction_id": "t1"}, call_id="c")
    again = svc.authorize("fraud_check", {"transaction_id": "t2"}, call_id="c")
    assert again["verdict"] == "deny" and again["reasons"][0]["code"] == codes.CALL_ID_CONFLICT


# -- tickets ------------------------------------------------------------------------------------
def test_an_approved_ticket_releases_the_call_once(svc: Service) -> None:
    ticket = svc.escalated_ticket()
    listed = svc.get("/v1/tickets?state=open").json()
    assert [t["id"] for t in listed] == [ticket]
    binding = svc.get(f"/v1/tickets/{ticket}").json()["binding"]
    approved = svc.post(f"/v1/tickets/{ticket}/approve", {"note": "ok", "args_hash": binding}, svc.alice)
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    retry = svc.authorize("make_payment", {**PAYMENT, "transaction_id": "t9", "amount": 2500})
    assert retry["verdict"] == "allow" and retry["ticket"] == ticket


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/v1/tickets/nope/approve", {}, 404, codes.UNKNOWN_TICKET),
        ("/v1/tickets/{t}/deny", {}, 422, codes.NOTE_REQUIRED),
        ("/v1/tickets/{t}/approve", {"args_hash": "other"}, 409, codes.ARGS_HASH_MISMATCH),
        ("/v1/tickets/{t}/approve", {"note": "a\u202eb"}, 422, codes.NOTE_INVALID),
    ],
)
def test_refused_ticket_actions_carry_their_code(
    svc: Service, path: str, body: dict[str, Any], status: int, code: str
) -> None:
    ticket = svc.escalated_ticket()
    is_problem(svc.post(path.format(t=ticket), body, svc.alice), status, code)


def test_a_resolved_ticket_cannot_be_resolved_again(svc: Service) -> None:
    ticket = svc.escalated_ticket()
    assert svc.post(f"/v1/tickets/{ticket}/deny", {"note": "no"}, svc.alice).status_code == 200
    is_problem(svc.post(f"/v1/tickets/{ticket}/approve", {}, svc.bob), 409, codes.TICKET_ALREADY_RESOLVED)


def test_a_reviewer_cannot_approve_their_own_request(svc: Service) -> None:
    # The same identity name under an agent key raises the ticket, then reviews it.
    svc.keys.revoke("alice")
    agent_alice = svc.keys.create("alice", ["agent:payments_agent"])
    svc.agent_key = agent_alice
    ticket = svc.escalated_ticket()
    svc.keys.revoke("alice")
    reviewer_alice = svc.keys.create("alice", ["reviewer"])
    is_problem(svc.post(f"/v1/tickets/{ticket}/approve", {}, reviewer_alice), 403, codes.SELF_APPROVAL)


def test_an_agent_sees_its_own_tickets_only(svc: Service) -> None:
    ticket = svc.escalated_ticket()
    assert svc.get(f"/v1/tickets/{ticket}", svc.agent_key).status_code == 200
    other = svc.keys.create("other-bot", ["agent:payments_agent"])
    is_problem(svc.get(f"/v1/tickets/{ticket}", other), 404, codes.UNKNOWN_TICKET)
    is_problem(svc.get("/v1/tickets", svc.agent_key), 403, codes.FORBIDDEN)


def test_wait_returns_when_a_reviewer_answers(svc: Service) -> None:
    ticket = svc.escalated_ticket()
    timer = threading.Timer(0.3, lambda: svc.post(f"/v1/tickets/{ticket}/approve", {}, svc.alice))
    timer.start()
    waited = svc.get(f"/v1/tickets/{ticket}/wait?timeout=10", svc.agent_key)
    timer.join()
    assert waited.status_code == 200 and waited.json()["state"] == "approved"


def test_wait_is_bounded(svc: Service) -> None:
    ticket = svc.escalated_ticket()
    is_problem(svc.get(f"/v1/tickets/{ticket}/wait?timeout=3600", svc.agent_key), 422, codes.INVALID_REQUEST)
    assert svc.get(f"/v1/tickets/{ticket}/wait?timeout=0.1", svc.agent_key).json()["state"] == "open"


def test_a_session_shows_its_facts_and_history(svc: Service) -> None:
    svc.authorize("fraud_check", {"transaction_id": "t1"}, call_id="c1")
    body = svc.get("/v1/sessions/s1").json()
    assert body["facts"]["calls"]["total"] == 1
    assert [e["type"] for e in body["history"]][:2] == ["call_requested", "decision"]
    is_problem(svc.get("/v1/sessions/unknown"), 404, codes.NOT_FOUND)
    is_problem(svc.get("/v1/sessions/s1", svc.agent_key), 403, codes.FORBIDDEN)


# -- operations ---------------------------------------------------------------------------------
def test_health_ready_metrics_and_openapi(svc: Service) -> None:
    assert svc.client.get("/health").json() == {"status": "ok"}
    ready = svc.client.get("/ready").json()
    assert ready["status"] == "ready" and all(ready["checks"].values())
    svc.authorize("fraud_check", {"transaction_id": "t1"})
    metrics = svc.client.get("/metrics")
    assert metrics.status_code == 200 and "railguard_decisions_total" in metrics.text
    paths = svc.client.get("/openapi.json").json()["paths"]
    assert {"/v1/authorize", "/v1/screen", "/v1/results", "/v1/tickets/{ticket_id}/wait"} <= set(paths)


def test_every_response_carries_the_strict_headers(svc: Service) -> None:
    response = svc.client.get("/health")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_callers_trace_context_reaches_the_decision_spans(tmp_path: Path) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from guardrails.observability.tracing import DecisionTracer

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    guard, keys, made = start_service(tmp_path)
    guard.observers.append(DecisionTracer(provider))
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {**auth(made["agent"]), "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
    with TestClient(create_app(guard, keys)) as client:
        body = {"tool": "make_payment", "args": PAYMENT, "session_id": "s1"}
        assert client.post("/v1/authorize", json=body, headers=headers).json()["verdict"] == "deny"
    spans = exporter.get_finished_spans()
    assert spans and {format(s.context.trace_id, "032x") for s in spans} == {trace_id}
    guard.close()
    keys.close()


def test_an_agent_cannot_record_the_result_of_another_agents_call(svc: Service) -> None:
    other = svc.keys.create("other-bot", ["agent:payments_agent"])
    check = svc.authorize("fraud_check", {"transaction_id": "t5"}, "s5", call_id="fc-5")
    assert check["verdict"] == "allow"
    forged = svc.post("/v1/results", {"call_id": "fc-5", "session_id": "s5", "output": {"status": "passed"}}, other)
    assert forged.json()["verdict"] == "deny" and forged.json()["reasons"][0]["code"] == "unknown_call"
    real = svc.post("/v1/results", {"call_id": "fc-5", "session_id": "s5", "output": {"status": "passed"}})
    assert real.json()["verdict"] == "allow"
    assert svc.client.get("/v1/sessions/s5/calls/fc-5/result", headers=auth(other)).json()["recorded"] is False
    assert svc.client.get("/v1/sessions/s5/calls/fc-5/result", headers=auth(svc.agent_key)).json() == {
        "recorded": True,
        "output": {"status": "passed"},
    }
