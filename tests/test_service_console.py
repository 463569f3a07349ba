"""The reviewer console: reviewer keys sign in, forms need the session's CSRF token, and what an
agent put in a ticket is shown as text, never as markup."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from guardrails import codes
from guardrails.service import create_app
from guardrails.service.console import COOKIE
from tests.test_service_api import PAYMENT, Service, start_service

HOSTILE = {
    "recipient": "<script>alert(1)</script>",
    "memo": '"><img src=x onerror=alert(1)>',
    "link": "javascript:alert(1)",
    "file": "invoice\u202egpj.exe",
}


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Service]:
    guard, keys, made = start_service(tmp_path)
    with TestClient(create_app(guard, keys), follow_redirects=False) as client:
        yield Service(client, guard, keys, made["agent"], made["alice"], made["bob"])
    guard.close()
    keys.close()


def sign_in(svc: Service, key: str) -> None:
    response = svc.client.post("/console/sign-in", data={"key": key})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console/queue"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found is not None
    return found.group(1)


def test_a_reviewer_signs_in_with_a_strict_cookie(svc: Service) -> None:
    response = svc.client.post("/console/sign-in", data={"key": svc.alice})
    cookie = response.headers["set-cookie"]
    assert COOKIE in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http in the test; over https it is Secure
    assert svc.client.get("/console/queue").status_code == 200


def test_the_cookie_is_secure_over_https(tmp_path: Path) -> None:
    guard, keys, made = start_service(tmp_path)
    with TestClient(create_app(guard, keys), base_url="https://testserver", follow_redirects=False) as client:
        cookie = client.post("/console/sign-in", data={"key": made["alice"]}).headers["set-cookie"]
    guard.close()
    keys.close()
    assert "Secure" in cookie


@pytest.mark.parametrize("which", ["agent", "wrong"])
def test_agent_and_unknown_keys_cannot_sign_in(svc: Service, which: str) -> None:
    key = svc.agent_key if which == "agent" else "rg_0123456789abcdef_" + "x" * 43
    response = svc.client.post("/console/sign-in", data={"key": key})
    assert response.status_code == (403 if which == "agent" else 401)
    assert "set-cookie" not in response.headers
    assert svc.client.get("/console/queue").status_code == 303


def test_pages_need_a_session(svc: Service) -> None:
    for path in ("/console/queue", "/console/audit", "/console/tickets/x"):
        response = svc.client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/console/sign-in"


def test_a_forged_cookie_is_refused(svc: Service) -> None:
    svc.client.cookies.set(COOKIE, "eyJrIjoiMTIzIn0.deadbeef", path="/console")
    assert svc.client.get("/console/queue").status_code == 303


def test_revoking_the_key_ends_the_session(svc: Service) -> None:
    sign_in(svc, svc.alice)
    svc.keys.revoke("alice")
    assert svc.client.get("/console/queue").status_code == 303


def test_the_queue_lists_open_tickets_with_age_and_deadline(svc: Service) -> None:
    first = svc.escalated_ticket("t1")
    second = svc.escalated_ticket("t2")
    sign_in(svc, svc.alice)
    html = svc.client.get("/console/queue").text
    assert html.index(first[:12]) < html.index(second[:12])  # oldest first
    assert "ago" in html and "UTC" in html


def test_approve_via_the_form_releases_the_call(svc: Service) -> None:
    ticket = svc.escalated_ticket()
    sign_in(svc, svc.alice)
    page = svc.client.get(f"/console/tickets/{ticket}")
    assert page.status_code == 200 and "make_payment" in page.text and "0 of 1" in page.text
    binding = svc.guard.queue.get(ticket).binding
    response = svc.client.post(
        f"/console/tickets/{ticket}/approve", data={"csrf": csrf_of(page.text), "args_hash": binding, "note": "fine"}
    )
    assert response.status_code == 303
    assert svc.guard.queue.get(ticket).state.value == "approved"
    assert "approval is recorded" in svc.client.get(response.headers["location"]).text
    retry = svc.authorize("make_payment", {**PAYMENT, "transaction_id": "t9", "amount": 2500})
    assert retry["verdict"] == "allow"
    assert ticket[:12] in svc.client.get("/console/audit").text


def test_deny_via_the_form_needs_a_note(svc: Service) -> None:
    ticket = svc.escalated_ticket()
    sign_in(svc, svc.alice)
    token = csrf_of(svc.client.get(f"/console/tickets/{ticket}").text)
    refused = svc.client.post(f"/console/tickets/{ticket}/deny", data={"csrf": token})
    assert refused.status_code == 422 and codes.NOTE_REQUIRED in refused.text
    assert svc.client.post(f"/console/tickets/{ticket}/deny", data={"csrf": token, "note": "no"}).status_code == 303
    assert svc.guard.queue.get(ticket).state.value == "denied"


@pytest.mark.parametrize("token", [None, "", "0" * 64, "not-hex"])
def test_a_form_without_the_sessions_csrf_token_is_refused(svc: Service, token: str | None) -> None:
    ticket = svc.escalated_ticket()
    sign_in(svc, svc.alice)
    data = {"note": "x"} if token is None else {"csrf": token, "note": "x"}
    response = svc.client.post(f"/console/tickets/{ticket}/approve", data=data)
    assert response.status_code == 403 and codes.CSRF_FAILED in response.text
    assert svc.guard.queue.get(ticket).state.value == "open"


def test_another_sessions_csrf_token_is_refused(svc: Service) -> None:
    ticket = svc.escalated_ticket()
    sign_in(svc, svc.bob)
    bobs = csrf_of(svc.client.get("/console/queue").text)
    svc.client.cookies.clear()
    sign_in(svc, svc.alice)
    response = svc.client.post(f"/console/tickets/{ticket}/approve", data={"csrf": bobs})
    assert response.status_code == 403
    assert svc.guard.queue.get(ticket).state.value == "open"


def test_hostile_arguments_are_shown_escaped(svc: Service) -> None:
    # The payments schema refuses unknown arguments, so the ticket is opened as the Guard opens one.
    ticket = _ticket_with_args(svc, HOSTILE)
    sign_in(svc, svc.alice)
    for path in (f"/console/tickets/{ticket}", "/console/queue"):
        html = svc.client.get(path).text
        assert "<script>alert(1)</script>" not in html
        assert "<img src=x" not in html and "onerror=alert(1)>" not in html
        assert 'href="javascript:' not in html
        assert "\u202e" not in html
    html = svc.client.get(f"/console/tickets/{ticket}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "javascript:alert(1)" in html  # as text
    assert "invoice\\u202egpj.exe" in html
    assert "<script" not in html.lower()


def _ticket_with_args(svc: Service, args: dict[str, str]) -> str:
    """A ticket whose (redacted) arguments are exactly ``args``, through the queue's own opening."""
    from guardrails.escalation.queue import open_ticket
    from guardrails.model import Checkpoint, Decision, Reason, Verdict

    with svc.guard.ledger.session("s-hostile") as tx:
        decision = Decision(
            verdict=Verdict.ESCALATE,
            checkpoint=Checkpoint.AUTHORIZE,
            stage="policy",
            reasons=(Reason(code="amount_needs_approval", message="<b>a person</b>", source="test"),),
            session_id="s-hostile",
            call_id="hostile",
        )
        from guardrails.escalation.queue import TicketRequest

        opened = open_ticket(
            tx, decision, TicketRequest(binding="b", agent={"id": "payments-bot"}, tool="make_payment", args=args),
            svc.guard.escalation,
        )  # fmt: skip
    assert opened.ticket is not None
    return opened.ticket


def test_console_pages_carry_a_strict_csp_and_no_script(svc: Service) -> None:
    svc.escalated_ticket()
    sign_in(svc, svc.alice)
    response = svc.client.get("/console/queue")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "form-action 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp and "unsafe-inline" not in csp
    assert "<script" not in response.text and " style=" not in response.text
    assert svc.client.get("/console/static/console.css").status_code == 200


def test_sign_out_needs_the_token_and_clears_the_cookie(svc: Service) -> None:
    sign_in(svc, svc.alice)
    token = csrf_of(svc.client.get("/console/queue").text)
    assert svc.client.post("/console/sign-out", data={"csrf": "x"}).status_code == 403
    response = svc.client.post("/console/sign-out", data={"csrf": token})
    assert response.status_code == 303 and COOKIE in response.headers["set-cookie"]
