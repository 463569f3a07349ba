"""The sidecar as :class:`~adapters.checkpoints.Checkpoints`: every adapter works against
``railguard serve`` unchanged, with ``SidecarClient(url, api_key)`` in place of a Guard.

One ``httpx.Client`` (connection reuse), a timeout per request. It fails closed: an unreachable
sidecar, a timeout, a 5xx, or an answer that is not a Decision raises :class:`SidecarUnavailable`
(a distinct error, never a verdict), so the guarded tool never runs. A 4xx is the client's own
mistake (bad key, bad input) and raises :class:`SidecarRefused` with the problem's stable code.
The agent's identity is the API key's; a ``ToolCall.agent`` is not sent (the sidecar refuses it).
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import ValidationError

from guardrails.errors import RailguardError
from guardrails.escalation import Ticket
from guardrails.model import Decision, ToolCall, ToolResult

#: The longest one ticket wait may hold a request on the sidecar (it caps long-polls at 60 s).
_MAX_WAIT_S = 60.0


class SidecarUnavailable(RailguardError):
    """The sidecar could not give an answer (down, slow, 5xx, garbage): nothing may run."""

    code = "sidecar_unavailable"


class SidecarRefused(RailguardError):
    """The sidecar refused the request (4xx): ``code`` is its problem's stable code."""

    code = "sidecar_refused"

    def __init__(self, message: str, *, code: str | None, status: int) -> None:
        super().__init__(message, code=code)
        self.status = status


class SidecarClient:
    """``SidecarClient("http://127.0.0.1:8080", api_key)``: the checkpoints over HTTP."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout_s,
            transport=transport,
        )
        self._timeout_s = timeout_s

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SidecarClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the Checkpoints protocol ------------------------------------------------------------
    def authorize(self, call: ToolCall) -> Decision:
        body = {"tool": call.tool, "args": call.args, "session_id": call.session_id, "call_id": call.id}
        return self._decision("POST", "/v1/authorize", body)

    def check_result(self, result: ToolResult) -> Decision:
        body = result.model_dump(exclude={"outcome_known"})
        if not result.outcome_known:  # the sidecar records it as a failure of unknown outcome
            body["error"] = f"{result.error or 'failed'} (outcome unknown)"
        return self._decision("POST", "/v1/results", body)

    def screen_input(self, payload: Any, *, session_id: str, channel: str = "user") -> Decision:
        return self._decision("POST", "/v1/screen", {"payload": payload, "session_id": session_id, "channel": channel})

    def wait(self, ticket: str, timeout: float = 30.0) -> Ticket:
        wait = min(max(0.0, timeout), _MAX_WAIT_S)
        doc = self._json("GET", f"/v1/tickets/{ticket}/wait", params={"timeout": wait}, timeout=wait + self._timeout_s)
        try:
            return Ticket.model_validate(doc)
        except ValidationError as exc:
            raise SidecarUnavailable(f"the sidecar's ticket is malformed: {exc.error_count()} error(s)") from None

    def recorded_result(self, session_id: str, call_id: str) -> tuple[bool, Any]:
        doc = self._json("GET", f"/v1/sessions/{session_id}/calls/{call_id}/result")
        if not isinstance(doc, dict) or not isinstance(doc.get("recorded"), bool):
            raise SidecarUnavailable("the sidecar's recorded result is malformed")
        return doc["recorded"], doc.get("output")

    def report_usage(self, session_id: str, *, tokens: int = 0, cost: float = 0.0) -> None:
        self._json("POST", "/v1/usage", {"session_id": session_id, "tokens": tokens, "cost": cost}, empty=True)

    def reveal(self, args: Any, *, session_id: str, tool: str, call_id: str | None = None) -> Any:
        body = {"args": args, "session_id": session_id, "tool": tool, "call_id": call_id}
        doc = self._json("POST", "/v1/reveal", body)
        if not isinstance(doc, dict) or not isinstance(doc.get("args"), dict):
            raise SidecarUnavailable("the sidecar's revealed arguments are malformed")
        return doc["args"]

    # -- HTTP ---------------------------------------------------------------------------------
    def _decision(self, method: str, path: str, body: dict[str, Any]) -> Decision:
        doc = self._json(method, path, body)
        try:
            return Decision.model_validate(doc)
        except ValidationError as exc:
            raise SidecarUnavailable(f"the sidecar's answer is not a Decision ({exc.error_count()} error(s))") from None

    def _json(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        empty: bool = False,
    ) -> Any:
        try:
            response = self._client.request(
                method,
                path,
                json=body,
                params=params,
                headers=_trace_headers(),
                timeout=timeout if timeout is not None else self._timeout_s,
            )
        except httpx.TimeoutException as exc:
            raise SidecarUnavailable(f"the sidecar did not answer in time: {type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            raise SidecarUnavailable(f"the sidecar is unreachable: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 500:
            raise SidecarUnavailable(f"the sidecar failed: HTTP {response.status_code}")
        if response.status_code >= 400:
            problem = _problem(response)
            raise SidecarRefused(
                f"the sidecar refused {method} {path}: {problem.get('detail') or response.status_code}",
                code=problem.get("code") if isinstance(problem.get("code"), str) else None,
                status=response.status_code,
            )
        if empty:
            return None
        try:
            return response.json()
        except ValueError:
            raise SidecarUnavailable("the sidecar's answer is not JSON") from None


def _trace_headers() -> dict[str, str]:
    """W3C ``traceparent`` of the caller's current span, so the sidecar's spans join the agent's trace."""
    try:
        from opentelemetry.propagate import inject
    except ImportError:
        return {}
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        doc = response.json()
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}
