"""RFC 9457 problem details: every error the sidecar returns, with a stable ``code``.

A client's mistake is a 4xx with a code from :mod:`guardrails.codes`; only our own failure is
a 500 (``internal_error``, without the detail, which goes to the log). A deny is not an error:
it is a 200 carrying the Decision.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from guardrails import codes
from guardrails.errors import EscalationError, InputError, RailguardError

PROBLEM_JSON = "application/problem+json"
_log = logging.getLogger("railguard.service")

#: A refused ticket action's HTTP status, by its code (the code itself is the precise answer).
ESCALATION_STATUS: dict[str, int] = {
    codes.UNKNOWN_TICKET: 404,
    codes.TICKET_ALREADY_RESOLVED: 409,
    codes.TICKET_EXPIRED: 409,
    codes.TICKET_CLAIMED_BY_OTHER: 409,
    codes.DUPLICATE_APPROVAL: 409,
    codes.ARGS_HASH_MISMATCH: 409,
    codes.NOT_A_REVIEWER: 403,
    codes.AGENT_CANNOT_REVIEW: 403,
    codes.SELF_APPROVAL: 403,
    codes.NOTE_REQUIRED: 422,
    codes.NOTE_INVALID: 422,
    codes.NOTE_TOO_LONG: 422,
}

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    500: "Internal server error",
    503: "Service unavailable",
}
_BY_STATUS = {
    401: codes.UNAUTHORIZED,
    403: codes.FORBIDDEN,
    404: codes.NOT_FOUND,
    405: codes.METHOD_NOT_ALLOWED,
    413: codes.BODY_TOO_LARGE,
}


class Problem(Exception):
    """Raise from an endpoint to answer with a problem document."""

    def __init__(self, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers


def problem_body(status: int, code: str, detail: str, errors: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://railguard.dev/problems/{code}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = list(errors)
    return body


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    errors: Sequence[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, code, detail, errors), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def install(app: FastAPI) -> None:
    """Turn every exception an endpoint can raise into a problem document."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem(exc.status, exc.code, exc.detail, headers=exc.headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [_validation_error(e) for e in exc.errors()]
        if any(e["type"] == "json_invalid" for e in errors):
            return problem(400, codes.MALFORMED_JSON, "the request body is not valid JSON", errors=errors)
        return problem(422, codes.INVALID_REQUEST, "the request does not match the endpoint's schema", errors=errors)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _BY_STATUS.get(exc.status_code, codes.INVALID_REQUEST if exc.status_code < 500 else codes.INTERNAL_ERROR)
        return problem(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))

    async def on_escalation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, EscalationError)
        return problem(ESCALATION_STATUS.get(exc.code, 409), exc.code, exc.message)

    async def on_input(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InputError)
        return problem(422, exc.code, exc.message)

    async def on_railguard(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RailguardError)
        _log.error("railguard error on %s %s: %s", request.method, request.url.path, exc)
        return problem(503, exc.code, exc.message)

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unexpected failure on %s %s", request.method, request.url.path)
        return problem(500, codes.INTERNAL_ERROR, "the sidecar failed; nothing was decided")

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(EscalationError, on_escalation)
    app.add_exception_handler(InputError, on_input)
    app.add_exception_handler(RailguardError, on_railguard)
    app.add_exception_handler(Exception, on_crash)


def _validation_error(error: Any) -> dict[str, Any]:
    # Only location, type and message: pydantic's ``input`` would echo the client's payload back.
    return {
        "loc": [str(part) for part in error.get("loc", ())],
        "type": str(error.get("type", "")),
        "msg": str(error.get("msg", "")),
    }
