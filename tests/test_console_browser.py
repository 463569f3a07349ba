"""The reviewer console in a real headless Chromium, against ``railguard serve`` as a process.

What a unit test with a TestClient cannot show: that the browser really stores and sends the
session cookie, submits the forms, runs no script an agent smuggled into a ticket, and refuses
a form posted from another origin. Needs Debian's ``chromium`` and ``chromium-driver``
(scripts/setup-browser.sh) and ``selenium``; without them these tests are skipped, except in CI
(``CI`` or ``RAILGUARD_REQUIRE_BROWSER`` set), where that is a failure. Selenium gets the driver's
path, so Selenium Manager never downloads one.

Screenshots of the queue and of ticket pages go to ``$RAILGUARD_ARTIFACTS`` (default:
tests/artifacts/).
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from guardrails import codes
from guardrails.service.keys import KeyStore
from tests.test_service_serve import COMMAND, ROOT, environment, free_port

REQUIRED = bool(os.environ.get("CI") or os.environ.get("RAILGUARD_REQUIRE_BROWSER"))
CHROMIUM = Path(os.environ.get("RAILGUARD_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("RAILGUARD_CHROMEDRIVER", "/usr/bin/chromedriver"))
ARTIFACTS = Path(os.environ.get("RAILGUARD_ARTIFACTS") or ROOT / "tests" / "artifacts")
EXAMPLE = ROOT / "examples" / "payments"
PAYMENT = {"currency": "EUR", "recipient": "ACME-SUPPLIES-001"}

#: What an agent (or whoever steers it) might put in a ticket to take over the reviewer's page.
HOSTILE = {
    "recipient": "<script>window.__xss=1</script>",
    "memo": '"><img src=x onerror="window.__xss=1">',
    "link": "javascript:window.__xss=1",
    "file": "invoice\u202egpj.exe",
}

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException, WebDriverException
    from selenium.webdriver.chrome.service import Service as DriverService
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as exc:  # pragma: no cover - depends on the machine
    _SELENIUM_MISSING: str | None = f"selenium is not installed: {exc}"
else:
    _SELENIUM_MISSING = None


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"the browser is required here (CI) but unavailable: {reason}; run scripts/setup-browser.sh")
    pytest.skip(f"browser unavailable: {reason}")


# -- the server -------------------------------------------------------------------------------------
@dataclass
class Sidecar:
    base: str
    port: int
    agent: str
    reviewer: str

    def post(self, path: str, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        response = httpx.post(f"{self.base}{path}", json=body, headers=_auth(key or self.agent), timeout=30)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        response = httpx.get(f"{self.base}/v1/tickets/{ticket_id}", headers=_auth(self.reviewer), timeout=30)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def pay(self, session: str, args: dict[str, Any]) -> dict[str, Any]:
        return self.post("/v1/authorize", {"tool": "make_payment", "args": args, "session_id": session})

    def escalate(self, amount: float = 5000, **extra: Any) -> tuple[str, str, dict[str, Any]]:
        """(session, ticket, args): a payment over the threshold, its fraud check passed first."""
        session, txn = f"s-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"
        check = self.post(
            "/v1/authorize",
            {"tool": "fraud_check", "args": {"transaction_id": txn}, "session_id": session, "call_id": f"fc-{txn}"},
        )
        assert check["verdict"] == "allow", check
        passed = self.post(
            "/v1/results", {"call_id": f"fc-{txn}", "session_id": session, "output": {"status": "passed"}}
        )
        assert passed["verdict"] == "allow", passed
        args = {**PAYMENT, "transaction_id": txn, "amount": amount, **extra}
        decision = self.pay(session, args)
        assert decision["verdict"] == "escalate", decision
        return session, str(decision["ticket"]), args


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _deployment(where: Path) -> Path:
    """The payments example with room for hostile text: make_payment takes three free-text
    arguments more, and any recipient (the allow-list would deny the hostile one first)."""
    tools = json.loads((EXAMPLE / "tools.json").read_text())
    extra = {name: {"type": "string", "maxLength": 256} for name in ("memo", "link", "file")}
    tools["make_payment"]["args"]["properties"].update(extra)
    (where / "tools.json").write_text(json.dumps(tools))
    lines = (EXAMPLE / "railguard.toml").read_text().splitlines()
    kept = [line for line in lines if not line.startswith("allowed_recipients")]
    text = "\n".join(kept).replace('"../../policies"', json.dumps(str(ROOT / "policies")))
    (where / "railguard.toml").write_text(text + "\n")
    return where / "railguard.toml"


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    where = tmp_path_factory.mktemp("console-browser")
    config = _deployment(where)
    keys = KeyStore(where / "railguard-keys.db")
    agent, alice = keys.create("payments-bot", ["agent:payments_agent"]), keys.create("alice", ["reviewer"])
    keys.close()
    port = free_port()
    server = subprocess.Popen(
        [*COMMAND, "serve", "--config", str(config), "--port", str(port)],
        cwd=where,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[1]
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield Sidecar(base, port, agent, alice)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()


# -- the browser ------------------------------------------------------------------------------------
@pytest.fixture
def browser() -> Iterator[WebDriver]:
    if _SELENIUM_MISSING:
        _unavailable(_SELENIUM_MISSING)
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not binary.exists():
            _unavailable(f"{binary} is missing")
    os.environ.setdefault("SE_OFFLINE", "true")  # belt and braces: Selenium Manager stays offline
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1024"):
        options.add_argument(arg)
    try:
        driver = webdriver.Chrome(service=DriverService(executable_path=str(CHROMEDRIVER)), options=options)
    except WebDriverException as exc:
        _unavailable(f"chromium would not start: {exc.msg}")
        raise
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def sign_in(driver: WebDriver, sidecar: Sidecar, key: str) -> None:
    driver.get(f"{sidecar.base}/console")
    assert driver.current_url.endswith("/console/sign-in")
    field = driver.find_element(By.NAME, "key")
    field.send_keys(key)
    navigate(driver, field.submit)


def _settled(driver: WebDriver) -> None:
    WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")


def navigate(driver: WebDriver, action: Callable[[], Any]) -> None:
    """Do what loads a new page, and wait until the old one is gone and the new one loaded."""
    old = driver.find_element(By.TAG_NAME, "html")
    action()
    WebDriverWait(driver, 10).until(staleness_of(old))
    _settled(driver)


def click(driver: WebDriver, selector: str) -> None:
    navigate(driver, driver.find_element(By.CSS_SELECTOR, selector).click)


def text(driver: WebDriver) -> str:
    return str(driver.find_element(By.TAG_NAME, "body").text)


def screenshot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / name))


def assert_no_alert(driver: WebDriver) -> None:
    try:
        alert = driver.switch_to.alert
    except NoAlertPresentException:
        return
    raise AssertionError(f"an alert opened: {alert.text!r}")


# -- the flows --------------------------------------------------------------------------------------
def test_a_reviewer_approves_a_5000_eur_payment_and_the_agents_retry_is_allowed(
    browser: WebDriver, sidecar: Sidecar
) -> None:
    session, ticket, args = sidecar.escalate(5000)
    sign_in(browser, sidecar, sidecar.reviewer)
    assert browser.current_url.endswith("/console/queue")
    assert ticket[:12] in text(browser)
    screenshot(browser, "console-queue.png")

    click(browser, f'a[href="/console/tickets/{ticket}"]')
    page = text(browser)
    assert "make_payment" in page and "5000" in page and "0 of 1" in page
    screenshot(browser, "console-ticket.png")
    browser.find_element(By.ID, "approve-note").send_keys("invoice matches PO-4471")
    click(browser, "button.approve")

    assert "Your approval is recorded." in text(browser)
    assert sidecar.ticket(ticket)["state"] == "approved"
    assert sidecar.pay(session, args)["verdict"] == "allow"


def test_a_reviewer_denies_with_a_note_and_the_agents_retry_is_denied(browser: WebDriver, sidecar: Sidecar) -> None:
    session, ticket, args = sidecar.escalate(2500)
    sign_in(browser, sidecar, sidecar.reviewer)
    browser.get(f"{sidecar.base}/console/tickets/{ticket}")
    browser.find_element(By.ID, "deny-note").send_keys("recipient unknown to finance")
    click(browser, "button.deny")

    page = text(browser)
    assert "The ticket is denied." in page and "recipient unknown to finance" in page
    assert sidecar.ticket(ticket)["state"] == "denied"
    retry = sidecar.pay(session, args)
    assert retry["verdict"] == "deny"
    assert "denied_by_reviewer" in {r["code"] for r in retry["reasons"]}


def test_deny_without_a_note_is_not_submitted(browser: WebDriver, sidecar: Sidecar) -> None:
    _, ticket, _ = sidecar.escalate(2500)
    sign_in(browser, sidecar, sidecar.reviewer)
    browser.get(f"{sidecar.base}/console/tickets/{ticket}")
    browser.find_element(By.CSS_SELECTOR, "button.deny").click()  # the textarea is `required`
    _settled(browser)
    assert browser.current_url.endswith(f"/console/tickets/{ticket}")
    assert sidecar.ticket(ticket)["state"] == "open"


def test_hostile_ticket_arguments_are_shown_as_text_and_never_run(browser: WebDriver, sidecar: Sidecar) -> None:
    _, ticket, _ = sidecar.escalate(2500, **HOSTILE)
    sign_in(browser, sidecar, sidecar.reviewer)
    for path in ("/console/queue", f"/console/tickets/{ticket}"):
        browser.get(f"{sidecar.base}{path}")
        _settled(browser)
        assert browser.execute_script("return typeof window.__xss") == "undefined", path
        assert_no_alert(browser)
        assert browser.find_elements(By.CSS_SELECTOR, "script, img, iframe, a[href^='javascript:']") == [], path

    page = text(browser)
    assert HOSTILE["recipient"] in page
    assert HOSTILE["memo"] in page
    assert HOSTILE["link"] in page
    assert "invoice\\u202egpj.exe" in page and "\u202e" not in page
    screenshot(browser, "console-ticket-hostile.png")


class _AttackerPage(http.server.BaseHTTPRequestHandler):
    """Another origin's page: a form that posts itself to the console's approve URL on load."""

    target = ""

    def do_GET(self) -> None:
        body = (
            "<!doctype html><html><body>"
            f'<form method="post" action="{self.target}"><input name="note" value="pwned"></form>'
            "<script>document.forms[0].submit()</script></body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def attacker() -> Iterator[tuple[type[_AttackerPage], int]]:
    handler = type("Attacker", (_AttackerPage,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler, int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("host", "lands_on", "refusal"),
    [
        # Same site (ports do not make a site): the cookie goes along, the CSRF token is missing.
        ("127.0.0.1", "/approve", codes.CSRF_FAILED),
        # Another site: SameSite=Strict keeps the cookie home, so there is no session at all.
        ("localhost", "/console/sign-in", "Reviewer API key"),
    ],
)
def test_a_form_posted_from_another_origin_is_refused(
    browser: WebDriver,
    sidecar: Sidecar,
    attacker: tuple[type[_AttackerPage], int],
    host: str,
    lands_on: str,
    refusal: str,
) -> None:
    _, ticket, _ = sidecar.escalate(2500)
    sign_in(browser, sidecar, sidecar.reviewer)
    handler, port = attacker
    handler.target = f"{sidecar.base}/console/tickets/{ticket}/approve"
    browser.get(f"http://{host}:{port}/")
    WebDriverWait(browser, 10).until(lambda d: d.current_url.startswith(sidecar.base))
    _settled(browser)

    assert browser.current_url.endswith(lands_on) and refusal in browser.page_source
    found = sidecar.ticket(ticket)
    assert found["state"] == "open" and found["approvals"] == []


def test_an_agent_key_cannot_sign_in(browser: WebDriver, sidecar: Sidecar) -> None:
    sign_in(browser, sidecar, sidecar.agent)
    assert "Only reviewer keys can sign in." in text(browser)
    assert browser.get_cookies() == []
    browser.get(f"{sidecar.base}/console/queue")
    assert browser.current_url.endswith("/console/sign-in")
