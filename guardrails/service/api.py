"""``/v1``: one endpoint per checkpoint, the tickets, and a session's facts.

The agent in ``input.agent`` is the API key's identity, never the body's: a body naming an
``agent`` is refused (422) rather than silently overridden, so a client that thinks it can pick
its roles learns otherwise. Guard calls block (SQLite, the engine), so the endpoints are plain
``def`` and run in Starlette's threadpool; the ticket long-poll has a limiter of its own, so
waiting agents never take the threads deciding calls.
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager, nullcontext
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from guardrails import codes
from guardrails.escalation import Ticket
from guardrails.ledger.base import FactsQuery
from guardrails.model import Name, ToolCall, ToolResult, new_id
from guardrails.pipeline import Guard
from guardrails.service.keys import Caller, KeyStore
from guardrails.service.problems import Problem

#: The longest a ticket long-poll holds a request (proxies and clients time out beyond this).
MAX_WAIT_S = 60.0
#: Threads set aside for long-polls; beyond this, waits queue (the deciding threadpool is untouched).
WAIT_THREADS = 32


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScreenRequest(_Body):
    payload: Any
    session_id: Name
    channel: Literal["user", "tool_output", "tool_args", "output"] = "user"


class AuthorizeRequest(_Body):
    tool: Name
    args: dict[str, Any] = Field(default_factory=dict)
    session_id: Name
    call_id: Name | None = Field(default=None, description="Idempotency key: the same id gets the same decision.")


class ResultRequest(_Body):
    call_id: Name
    session_id: Name
    output: Any = None
    ok: bool = True
    error: str | None = Field(default=None, max_length=10_000)
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)


class OutputRequest(_Body):
    output: Any
    session_id: Name
    output_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)


class UsageRequest(_Body):
    session_id: Name
    tokens: int = Field(default=0, ge=0, strict=True)
    cost: float = Field(default=0.0, ge=0.0)


class ReviewRequest(_Body):
    note: str | None = None
    args_hash: str | None = Field(default=None, max_length=256)


DecisionJSON = dict[str, Any]


def guard_of(request: Request) -> Guard:
    guard: Guard = request.app.state.guard
    return guard


def caller(request: Request) -> Caller:
    """The identity behind ``Authorization: Bearer <key>``; 401 without a live key."""
    keys: KeyStore = request.app.state.keys
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    found = keys.verify(key.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        raise Problem(
            401, codes.UNAUTHORIZED, "a live API key is required: Authorization: Bearer <key>",
            headers={"WWW-Authenticate": 'Bearer realm="railguard"'},
        )  # fmt: skip
    return found


def agent(who: Annotated[Caller, Depends(caller)]) -> Caller:
    if not who.identity.is_agent:
        raise Problem(403, codes.FORBIDDEN, f"{who.identity.id} is not an agent: only agent keys submit calls")
    return who


def reviewer(who: Annotated[Caller, Depends(caller)]) -> Caller:
    if not who.identity.is_reviewer:
        raise Problem(403, codes.FORBIDDEN, f"{who.identity.id} is not a reviewer")
    return who


AgentCaller = Annotated[Caller, Depends(agent)]
ReviewerCaller = Annotated[Caller, Depends(reviewer)]
AnyCaller = Annotated[Caller, Depends(caller)]
GuardDep = Annotated[Guard, Depends(guard_of)]

router = APIRouter(prefix="/v1")


# -- checkpoints --------------------------------------------------------------------------------
def traced(request: Request) -> AbstractContextManager[Any]:
    """The caller's W3C trace context (``traceparent``) around a Guard call, so the decision's spans
    are children of the agent's span; nothing when the header is absent or tracing is not installed."""
    traceparent = request.headers.get("traceparent")
    if not traceparent:
        return nullcontext()
    try:
        from guardrails.observability.tracing import trace_context
    except ImportError:
        return nullcontext()
    return trace_context(traceparent, request.headers.get("tracestate"))


@router.post("/screen", tags=["checkpoints"])
def screen(body: ScreenRequest, guard: GuardDep, who: AgentCaller, request: Request) -> DecisionJSON:
    """Checkpoint 1: screen user text, tool output or arguments (PII, prompt injection)."""
    with traced(request):
        decision = guard.screen_input(body.payload, session_id=body.session_id, channel=body.channel)
    return decision.model_dump(mode="json")


@router.post("/authorize", tags=["checkpoints"])
def authorize(body: AuthorizeRequest, guard: GuardDep, who: AgentCaller, request: Request) -> DecisionJSON:
    """Checkpoint 2: may this tool call run? The agent is the key's identity."""
    call = ToolCall(
        id=body.call_id or new_id(), tool=body.tool, args=body.args, session_id=body.session_id, agent=who.agent
    )
    with traced(request):
        return guard.authorize(call).model_dump(mode="json")


@router.post("/results", tags=["checkpoints"])
def results(body: ResultRequest, guard: GuardDep, who: AgentCaller, request: Request) -> DecisionJSON:
    """Checkpoint 3: what a tool returned (only an allowed, well-formed result becomes a fact)."""
    result = ToolResult(**body.model_dump())
    with traced(request):  # only the agent that asked for the call may give its result
        return guard.check_result(result, agent_id=who.identity.id).model_dump(mode="json")


@router.post("/outputs", tags=["checkpoints"])
def outputs(body: OutputRequest, guard: GuardDep, who: AgentCaller, request: Request) -> DecisionJSON:
    """Checkpoint 4: the agent's final output, against an optional JSON Schema and confidence."""
    with traced(request):
        decision = guard.check_output(
            body.output, session_id=body.session_id, schema=body.output_schema, confidence=body.confidence
        )
    return decision.model_dump(mode="json")


@router.post("/usage", status_code=204, response_class=Response, tags=["checkpoints"])
def usage(body: UsageRequest, guard: GuardDep, who: AgentCaller) -> Response:
    """Add tokens and spend to a session, for budget policies."""
    guard.report_usage(body.session_id, tokens=body.tokens, cost=body.cost, agent_id=who.identity.id)
    return Response(status_code=204)


class RevealRequest(_Body):
    args: dict[str, Any]
    session_id: Name
    tool: Name
    call_id: Name = Field(description="The allowed call the arguments are revealed for (this agent's).")


@router.get("/sessions/{session_id}/calls/{call_id}/result", tags=["checkpoints"])
def recorded_result(session_id: str, call_id: str, guard: GuardDep, who: AgentCaller) -> dict[str, Any]:
    """The verified result of one of this agent's calls, if it has one: a retried call is answered from
    it and the tool does not run twice."""
    if not (0 < len(session_id) <= 256 and 0 < len(call_id) <= 256):
        raise Problem(404, codes.NOT_FOUND, "no such call")
    recorded, output = guard.recorded_result(session_id, call_id, agent_id=who.identity.id)
    return {"recorded": recorded, "output": output}


@router.post("/reveal", tags=["checkpoints"])
def reveal(body: RevealRequest, guard: GuardDep, who: AgentCaller) -> dict[str, Any]:
    """The arguments a tool runs with: PII placeholders of the entity types its registry entry lists
    in ``receives_pii`` replaced by the real values. Only for a call of this agent that was allowed,
    for that tool; call it right before the tool runs."""
    with guard.ledger.read(body.session_id) as tx:
        record = tx.find_call(body.call_id)
    if record is None or record.agent_id != who.identity.id or record.tool != body.tool or record.verdict != "allow":
        raise Problem(404, codes.NOT_FOUND, "no allowed call of yours for this tool in this session")
    return {"args": guard.reveal(body.args, session_id=body.session_id, tool=body.tool)}


# -- tickets ------------------------------------------------------------------------------------
def _visible(ticket: Ticket, who: Caller) -> Ticket:
    """Reviewers see every ticket; an agent only those raised for its own identity (404 otherwise,
    so ticket ids of other agents cannot be probed)."""
    if who.identity.is_reviewer or ticket.agent.get("id") == who.identity.id:
        return ticket
    raise Problem(404, codes.UNKNOWN_TICKET, f"no ticket {ticket.id!r}")


@router.get("/tickets", tags=["tickets"])
def list_tickets(
    guard: GuardDep,
    who: ReviewerCaller,
    state: Annotated[list[Literal["open", "claimed", "approved", "denied", "expired", "cancelled"]], Query()] = [],  # noqa: B006
    session_id: Annotated[str | None, Query(max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Tickets, unresolved first, oldest first."""
    found = guard.queue.list(states=state, session_id=session_id, limit=limit)
    return [t.model_dump(mode="json") for t in found]


@router.get("/tickets/{ticket_id}", tags=["tickets"])
def get_ticket(ticket_id: str, guard: GuardDep, who: AnyCaller) -> dict[str, Any]:
    return _visible(guard.queue.get(ticket_id), who).model_dump(mode="json")


@router.get("/tickets/{ticket_id}/wait", tags=["tickets"])
async def wait_ticket(
    ticket_id: str,
    request: Request,
    guard: GuardDep,
    who: AnyCaller,
    timeout: Annotated[float, Query(ge=0.0, le=MAX_WAIT_S)] = 30.0,
) -> dict[str, Any]:
    """Long-poll: the ticket once resolved, or as it stands after ``timeout`` seconds (at most 60)."""
    limiter: anyio.CapacityLimiter = request.app.state.wait_limiter
    _visible(await anyio.to_thread.run_sync(guard.queue.get, ticket_id), who)
    ticket = await anyio.to_thread.run_sync(functools.partial(guard.queue.wait, ticket_id, timeout), limiter=limiter)
    return ticket.model_dump(mode="json")


@router.post("/tickets/{ticket_id}/claim", tags=["tickets"])
def claim(ticket_id: str, guard: GuardDep, who: ReviewerCaller, body: ReviewRequest | None = None) -> dict[str, Any]:
    note = body.note if body else None
    return guard.queue.claim(ticket_id, who.identity, note).model_dump(mode="json")


@router.post("/tickets/{ticket_id}/approve", tags=["tickets"])
def approve(ticket_id: str, guard: GuardDep, who: ReviewerCaller, body: ReviewRequest | None = None) -> dict[str, Any]:
    """One approval; bound to ``args_hash`` when given (the binding the reviewer saw)."""
    body = body or ReviewRequest()
    ticket = guard.queue.approve(ticket_id, who.identity, body.note, args_hash=body.args_hash)
    return ticket.model_dump(mode="json")


@router.post("/tickets/{ticket_id}/deny", tags=["tickets"])
def deny(ticket_id: str, guard: GuardDep, who: ReviewerCaller, body: ReviewRequest) -> dict[str, Any]:
    """Deny (a note saying why is required)."""
    return guard.queue.deny(ticket_id, who.identity, body.note or "").model_dump(mode="json")


@router.post("/tickets/{ticket_id}/cancel", tags=["tickets"])
def cancel(ticket_id: str, guard: GuardDep, who: AnyCaller, body: ReviewRequest | None = None) -> dict[str, Any]:
    """Withdraw a ticket: a reviewer, or the agent that raised it."""
    note = body.note if body else None
    return guard.queue.cancel(ticket_id, who.identity, note).model_dump(mode="json")


# -- sessions -----------------------------------------------------------------------------------
@router.get("/sessions/{session_id}", tags=["sessions"])
def session(
    session_id: str,
    guard: GuardDep,
    who: ReviewerCaller,
    history: Annotated[int, Query(ge=0, le=1000)] = 100,
) -> dict[str, Any]:
    """A session's facts (what the policies see) and its most recent events."""
    if not 0 < len(session_id) <= 256:
        raise Problem(404, codes.NOT_FOUND, "no such session")
    with guard.ledger.read(session_id) as tx:
        events = tx.history(max(history, 1))
        if not events:
            raise Problem(404, codes.NOT_FOUND, f"no session {session_id!r}")
        facts = tx.facts(FactsQuery(all_results=True))
    return {"session_id": session_id, "facts": facts, "history": events[-history:] if history else []}
