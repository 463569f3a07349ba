"""The sidecar: :func:`create_app` puts a Guard and a KeyStore behind HTTP.

guard = guard_from_config("railguard.toml")
app = create_app(guard, KeyStore("railguard-keys.db"))
uvicorn.run(app)                      # or: railguard serve --config railguard.toml
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from guardrails.errors import RailguardError
from guardrails.observability.metrics import DecisionMetrics
from guardrails.pipeline import Guard
from guardrails.service import api, console, problems
from guardrails.service.body import BodyLimit, MiB
from guardrails.service.keys import KeyStore

#: No script, no inline style, no framing, forms only to ourselves. The console needs nothing more.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """The same strict headers on every response (API answers and problems included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in _SECURITY_HEADERS if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    guard: Guard,
    keys: KeyStore,
    *,
    max_body_bytes: int = MiB,
    close_on_shutdown: bool = False,
) -> FastAPI:
    """The sidecar's ASGI app. ``close_on_shutdown``: close the Guard and the key store when the
    server stops (``railguard serve`` owns them; a test that built them closes them itself)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.wait_limiter = anyio.CapacityLimiter(api.WAIT_THREADS)
        try:
            yield
        finally:
            if close_on_shutdown:
                guard.close()
                keys.close()

    app = FastAPI(
        title="Railguard sidecar",
        version="1",
        summary="Allow, deny or escalate every tool call of an AI agent, with reasons.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI loads scripts from a CDN; the CSP forbids it. /openapi.json stays.
        redoc_url=None,
    )
    app.state.guard = guard
    app.state.keys = keys
    app.state.wait_limiter = anyio.CapacityLimiter(api.WAIT_THREADS)
    app.state.metrics = _metrics(guard)
    problems.install(app)
    app.include_router(api.router)
    console.install(app)
    _operations(app)
    app.add_middleware(BodyLimit, max_body_bytes=max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app


def _metrics(guard: Guard) -> DecisionMetrics:
    """The Guard's metrics observer when it has one, else one added here (with the queue gauges)."""
    for observer in guard.observers:
        if isinstance(observer, DecisionMetrics):
            return observer
    metrics = DecisionMetrics(tools=guard.tools)
    metrics.watch_guard(guard)

    def depth() -> int:
        return len(guard.queue.list(states=console.OPEN_STATES, limit=10_000))

    def oldest() -> float | None:
        found = guard.queue.list(states=console.OPEN_STATES, limit=1)
        return guard.clock() - found[0].opened_at if found else None

    metrics.watch_escalations(depth, oldest)
    guard.observers.append(metrics)
    return metrics


def _operations(app: FastAPI) -> None:
    guard: Guard = app.state.guard
    keys: KeyStore = app.state.keys

    @app.get("/health", tags=["operations"])
    def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/ready", tags=["operations"], response_model=None)
    def ready() -> JSONResponse | dict[str, Any]:
        """Readiness: the engine holds prepared policies and the ledger and key store answer."""
        checks = {"engine": bool(guard.revision), "ledger": _ledger_reachable(guard), "keys": keys.reachable()}
        body = {"status": "ready" if all(checks.values()) else "not_ready", "checks": checks, "policy": guard.revision}
        return body if all(checks.values()) else JSONResponse(body, status_code=503)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def metrics(request: Request) -> Response:
        """Prometheus text exposition of the decision metrics."""
        return Response(generate_latest(app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _ledger_reachable(guard: Guard) -> bool:
    try:
        with guard.ledger.read("railguard:ready") as tx:
            tx.version()
    except RailguardError:
        return False
    return True


# -- uvicorn --workers N: each worker process builds its own Guard from the environment ----------
ENV_CONFIG = "RAILGUARD_CONFIG"
ENV_LEDGER = "RAILGUARD_LEDGER"
ENV_KEYS = "RAILGUARD_KEYS"
ENV_MAX_BODY = "RAILGUARD_MAX_BODY_BYTES"


def app_from_environment() -> FastAPI:
    """The app factory ``railguard serve`` hands uvicorn (``factory=True``); the parent process has
    already checked the same configuration, so a failure here is not the first one seen."""
    from guardrails.factory import guard_from_config

    guard = guard_from_config(os.environ[ENV_CONFIG], ledger_path=os.environ.get(ENV_LEDGER) or None)
    keys = KeyStore(Path(os.environ[ENV_KEYS]))
    max_body = int(os.environ.get(ENV_MAX_BODY, str(MiB)))
    return create_app(guard, keys, max_body_bytes=max_body, close_on_shutdown=True)
