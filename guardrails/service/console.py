"""The reviewer console: server-rendered pages over the same queue as ``/v1/tickets``.

Hazards and their answers:

* Everything a ticket shows (arguments, notes, facts) came from an agent or a user: Jinja2
  autoescapes it, and the ``visible`` filter spells out control, bidi and zero-width characters
  (U+202E would otherwise make ``exe.txt`` read as ``txt.exe``). No script runs at all, and the
  CSP (set in ``app.py``) forbids any.
* Sessions are a signed cookie (HMAC-SHA256 with a secret kept in the key store, so every worker
  process agrees) naming the reviewer's key id; the key is re-checked on every request, so
  revoking a key ends its console sessions. HttpOnly, SameSite=Strict, Secure over https.
* Every form carries a CSRF token derived from the session (HMAC of its nonce), compared in
  constant time; SameSite=Strict is the second lock, not the only one.
* Agent keys cannot sign in: an agent never reviews.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from guardrails import codes
from guardrails.errors import EscalationError
from guardrails.escalation import Ticket, TicketState
from guardrails.service.keys import Caller, KeyStore
from guardrails.service.problems import ESCALATION_STATUS

HERE = Path(__file__).resolve().parent
COOKIE = "railguard_console"
SESSION_TTL_S = 8 * 3600
OPEN_STATES = (TicketState.OPEN, TicketState.CLAIMED)
RESOLVED_STATES = (TicketState.APPROVED, TicketState.DENIED, TicketState.EXPIRED, TicketState.CANCELLED)


def visible(value: Any) -> str:
    """Text safe to *read*: JSON for non-strings, and every control, format (bidi, zero-width),
    separator or unassigned character written as ``\\uXXXX``. HTML escaping is autoescape's job."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)
    out = []
    for ch in text:
        if ch in "\n\t" and not isinstance(value, str):
            out.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return "".join(out)


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def age(ts: float | None, now: float | None = None) -> str:
    if ts is None:
        return "-"
    seconds = int((now or time.time()) - ts)
    sign = "in " if seconds < 0 else ""
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{sign}{seconds // size}{unit}{'' if sign else ' ago'}"
    return f"{sign}{seconds}s{'' if sign else ' ago'}"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    env.filters.update(visible=visible, when=when, age=age)
    return env


templates = Jinja2Templates(env=_environment())


# -- sessions -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConsoleSession:
    caller: Caller
    nonce: str
    csrf: str


class SignInRequired(Exception):
    """No valid console session: go to the sign-in page."""


class SessionCodec:
    """Signs and checks the console cookie; derives the session's CSRF token."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys
        self._secret = keys.secret("console-session")

    def _mac(self, purpose: str, data: bytes) -> str:
        return hmac.new(self._secret, purpose.encode() + b"\0" + data, hashlib.sha256).hexdigest()

    def issue(self, caller: Caller) -> str:
        payload = json.dumps({"k": caller.key_id, "n": secrets.token_hex(16), "e": time.time() + SESSION_TTL_S})
        data = base64.urlsafe_b64encode(payload.encode()).decode()
        return f"{data}.{self._mac('session', data.encode())}"

    def open(self, cookie: str | None) -> ConsoleSession | None:
        if not cookie or "." not in cookie:
            return None
        data, _, mac = cookie.rpartition(".")
        if not hmac.compare_digest(mac, self._mac("session", data.encode())):
            return None
        try:
            doc = json.loads(base64.urlsafe_b64decode(data.encode()))
            key_id, nonce, expires = str(doc["k"]), str(doc["n"]), float(doc["e"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires < time.time():
            return None
        caller = self.keys.live(key_id)  # a revoked key ends its sessions
        if caller is None or not caller.identity.is_reviewer:
            return None
        return ConsoleSession(caller, nonce, self._mac("csrf", nonce.encode()))


def signed_in(request: Request) -> ConsoleSession:
    codec: SessionCodec = request.app.state.console_sessions
    found = codec.open(request.cookies.get(COOKIE))
    if found is None:
        raise SignInRequired
    return found


Session = Annotated[ConsoleSession, Depends(signed_in)]


def _csrf_ok(session: ConsoleSession, token: str) -> bool:
    return hmac.compare_digest(session.csrf.encode(), token.encode("utf-8", "replace"))


# -- pages ----------------------------------------------------------------------------------------
router = APIRouter(prefix="/console", include_in_schema=False)


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"now": time.time(), **context}, status_code=status)


def _refused(request: Request, status: int, code: str, detail: str, session: ConsoleSession | None = None) -> Response:
    return _page(request, "error.html", status, code=code, detail=detail, session=session)


@router.get("")
def home(request: Request) -> Response:
    codec: SessionCodec = request.app.state.console_sessions
    target = "/console/queue" if codec.open(request.cookies.get(COOKIE)) else "/console/sign-in"
    return RedirectResponse(target, status_code=303)


@router.get("/sign-in")
def sign_in_page(request: Request) -> Response:
    return _page(request, "sign_in.html", session=None)


@router.post("/sign-in")
def sign_in(request: Request, key: Annotated[str, Form(max_length=200)] = "") -> Response:
    keys: KeyStore = request.app.state.keys
    found = keys.verify(key.strip())
    if found is None:
        return _page(request, "sign_in.html", 401, session=None, error="That key is unknown or revoked.")
    if not found.identity.is_reviewer:
        return _page(request, "sign_in.html", 403, session=None, error="Only reviewer keys can sign in.")
    codec: SessionCodec = request.app.state.console_sessions
    response = RedirectResponse("/console/queue", status_code=303)
    response.set_cookie(
        COOKIE,
        codec.issue(found),
        max_age=SESSION_TTL_S,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out")
def sign_out(request: Request, session: Session, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    if not _csrf_ok(session, csrf):
        return _refused(request, 403, codes.CSRF_FAILED, "The form's CSRF token is missing or wrong.", session)
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("/queue")
def queue_page(request: Request, session: Session) -> Response:
    guard = request.app.state.guard
    tickets = guard.queue.list(states=OPEN_STATES, limit=500)
    tickets.sort(key=lambda t: t.opened_at)
    return _page(request, "queue.html", session=session, tickets=tickets)


@router.get("/audit")
def audit_page(request: Request, session: Session) -> Response:
    guard = request.app.state.guard
    tickets = guard.queue.list(states=RESOLVED_STATES, limit=500)
    tickets.sort(key=lambda t: t.resolved_at or t.opened_at, reverse=True)
    return _page(request, "audit.html", session=session, tickets=tickets)


@router.get("/tickets/{ticket_id}")
def ticket_page(request: Request, ticket_id: str, session: Session, done: str | None = None) -> Response:
    try:
        ticket = request.app.state.guard.queue.get(ticket_id)
    except EscalationError as exc:
        return _refused(request, 404, exc.code, exc.message, session)
    message = {"approved": "Your approval is recorded.", "denied": "The ticket is denied."}.get(done or "")
    return _ticket(request, session, ticket, message=message)


def _ticket(request: Request, session: ConsoleSession, ticket: Ticket, status: int = 200, **extra: Any) -> HTMLResponse:
    args = ticket.args
    rows = list(args.items()) if isinstance(args, dict) else ([("(value)", args)] if args is not None else [])
    return _page(request, "ticket.html", status, session=session, ticket=ticket, args_rows=rows, **extra)


@router.post("/tickets/{ticket_id}/{action}")
def review(
    request: Request,
    ticket_id: str,
    action: str,
    session: Session,
    csrf: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
    args_hash: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    if not _csrf_ok(session, csrf):
        return _refused(request, 403, codes.CSRF_FAILED, "The form's CSRF token is missing or wrong.", session)
    if action not in ("approve", "deny"):
        return _refused(request, 404, codes.NOT_FOUND, "No such action.", session)
    queue = request.app.state.guard.queue
    try:
        if action == "approve":
            queue.approve(ticket_id, session.caller.identity, note or None, args_hash=args_hash or None)
        else:
            queue.deny(ticket_id, session.caller.identity, note)
    except EscalationError as exc:
        try:
            ticket = queue.get(ticket_id)
        except EscalationError:
            return _refused(request, 404, exc.code, exc.message, session)
        return _ticket(request, session, ticket, ESCALATION_STATUS.get(exc.code, 409), error=f"{exc.code}: {exc}")
    done = "approved" if action == "approve" else "denied"
    return RedirectResponse(f"/console/tickets/{quote(ticket_id, safe='')}?done={done}", status_code=303)


def install(app: FastAPI) -> None:
    app.state.console_sessions = SessionCodec(app.state.keys)

    async def to_sign_in(request: Request, exc: Exception) -> Response:
        return RedirectResponse("/console/sign-in", status_code=303)

    app.add_exception_handler(SignInRequired, to_sign_in)
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
