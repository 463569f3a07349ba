"""LangChain v1 / LangGraph: an agent middleware that guards every tool call, and a bridge
that turns a :class:`GuardedTool` into a LangChain tool.

>>> agent = create_agent(model, tools=[as_langchain_tool(make_payment)],
...                      middleware=[RailguardMiddleware(guard)], checkpointer=InMemorySaver())
... # doctest: +SKIP

An escalation becomes a LangGraph ``interrupt`` carrying the ticket; resume the run with
``Command(resume=answer)`` (or ``{interrupt_id: answer}`` for several) once the reviewer has
answered in Railguard's queue, and the exact same call id is authorized again. LangGraph runs
the node again from the start on resume, so nothing before ``interrupt()`` has side effects:
the call id is derived from LangChain's tool call id, and authorize answers a known call id
from the ledger instead of recording it twice.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command, interrupt

from adapters.checkpoints import Checkpoints
from adapters.context import current_context
from adapters.core import GuardedTool
from adapters.refusal import content_of, refusal
from guardrails.canonical import dumps
from guardrails.errors import ConfigError
from guardrails.model import Agent, Decision, ToolCall, ToolResult, Verdict

#: The Railguard call id of the tool call running now (a bridged tool's idempotency key).
CURRENT_CALL_ID: ContextVar[str | None] = ContextVar("railguard_call_id", default=None)

#: Applies a reviewer's answer (the resume value) to the ticket, e.g. through ``guard.queue``.
AnswerTicket = Callable[[str, Any], None]

_MAX_ERROR_CHARS = 300


def call_id_for(tool_call_id: str | None, name: str, args: Any) -> str:
    """The Railguard call id of a LangChain tool call: the same on every re-run of the node."""
    if tool_call_id:
        return f"lc-{tool_call_id}"
    return "lc-" + hashlib.sha256(dumps([name, args]).encode()).hexdigest()[:32]


def approval_request(decision: Decision, call: ToolCall) -> dict[str, Any]:
    """The interrupt value a reviewer (or the app showing it) sees."""
    return {
        "railguard": "approval_required",
        "ticket": decision.ticket,
        "call_id": call.id,
        "tool": call.tool,
        "args": call.args,
        "codes": list(decision.codes),
        "reasons": [r.message for r in decision.reasons],
    }


class RailguardMiddleware(AgentMiddleware):
    """Guards every tool call of a ``create_agent`` agent: authorize, run, check the result.

    ``session_id``/``agent`` default to :func:`railguard_context`, then the LangGraph thread id.
    ``answer_ticket(ticket, answer)`` is called with the resume value before the call is
    authorized again: the place to record the reviewer's answer in the queue (which refuses
    agents and self-approval). Without it, the answer is recorded elsewhere (console, CLI).
    """

    def __init__(
        self,
        guard: Checkpoints | None = None,
        *,
        session_id: str | None = None,
        agent: Agent | None = None,
        answer_ticket: AnswerTicket | None = None,
    ) -> None:
        super().__init__()
        self.guard = guard
        self.session_id = session_id
        self.agent = agent
        self.answer_ticket = answer_ticket

    def wrap_tool_call(
        self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]]
    ) -> ToolMessage | Command[Any]:
        guard, call = self._checkpoints(), self._call(request)
        decision = guard.authorize(call)
        while decision.verdict is Verdict.ESCALATE:
            self._answered(guard, decision, interrupt(approval_request(decision, call)))
            decision = guard.authorize(call)  # the exact same call id
        if not decision.allowed:
            return _message(request, refusal(decision), error=True)
        found, output = guard.recorded_result(call.session_id, call.id)
        if found:
            return _message(request, content_of(output))
        token = CURRENT_CALL_ID.set(call.id)
        try:
            answer = handler(request)
        except Exception as exc:
            guard.check_result(_failure(call, exc))
            raise
        finally:
            CURRENT_CALL_ID.reset(token)
        return _checked(guard, request, call, answer)

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        guard, call = self._checkpoints(), self._call(request)
        decision = await asyncio.to_thread(guard.authorize, call)
        while decision.verdict is Verdict.ESCALATE:
            answer = interrupt(approval_request(decision, call))  # in the task: LangGraph's context
            await asyncio.to_thread(self._answered, guard, decision, answer)
            decision = await asyncio.to_thread(guard.authorize, call)
        if not decision.allowed:
            return _message(request, refusal(decision), error=True)
        found, output = await asyncio.to_thread(guard.recorded_result, call.session_id, call.id)
        if found:
            return _message(request, content_of(output))
        token = CURRENT_CALL_ID.set(call.id)
        try:
            result = await handler(request)
        except Exception as exc:
            await asyncio.to_thread(guard.check_result, _failure(call, exc))
            raise
        finally:
            CURRENT_CALL_ID.reset(token)
        return await asyncio.to_thread(_checked, guard, request, call, result)

    def _checkpoints(self) -> Checkpoints:
        guard = self.guard or current_context().guard
        if guard is None:
            raise ConfigError("RailguardMiddleware: no guard: pass one or use railguard_context(guard=)")
        return guard

    def _call(self, request: ToolCallRequest) -> ToolCall:
        tool_call = request.tool_call
        context = current_context()
        session = self.session_id or context.session_id or _thread_id(request)
        if session is None:
            raise ConfigError("RailguardMiddleware: no session: pass session_id=, or run with a thread_id")
        name, args = tool_call["name"], dict(tool_call.get("args") or {})
        return ToolCall(
            id=call_id_for(tool_call.get("id"), name, args),
            tool=name,
            args=args,
            session_id=session,
            agent=self.agent or context.agent or Agent(),
        )

    def _answered(self, guard: Checkpoints, decision: Decision, answer: Any) -> None:
        if self.answer_ticket is None or decision.ticket is None:
            return
        # On a later resume the node runs again and meets this answer again: apply it once.
        if guard.wait(decision.ticket, 0).resolved:
            return
        self.answer_ticket(decision.ticket, answer)


def _thread_id(request: ToolCallRequest) -> str | None:
    config = getattr(request.runtime, "config", None) or {}
    thread = (config.get("configurable") or {}).get("thread_id")
    return str(thread) if thread is not None else None


def _message(request: ToolCallRequest, content: str, *, error: bool = False) -> ToolMessage:
    return ToolMessage(
        content=content,
        tool_call_id=request.tool_call["id"] or "",
        name=request.tool_call["name"],
        status="error" if error else "success",
    )


def _failure(call: ToolCall, exc: BaseException) -> ToolResult:
    error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
    return ToolResult(call_id=call.id, session_id=call.session_id, ok=False, error=error)


def _checked(
    guard: Checkpoints, request: ToolCallRequest, call: ToolCall, answer: ToolMessage | Command[Any]
) -> ToolMessage | Command[Any]:
    """Checkpoint 3 on what the tool returned; only what passed reaches the model."""
    if isinstance(answer, Command):
        # A tool that updates the graph state directly: its message (if any) is what is checked.
        messages = [m for m in (answer.update or {}).get("messages", []) if isinstance(m, ToolMessage)]
        output = messages[0].content if messages else None
        result = ToolResult(call_id=call.id, session_id=call.session_id, output=output)
        decision = guard.check_result(result)
        return answer if decision.allowed else _message(request, refusal(decision, what="result"), error=True)
    if answer.status == "error":  # the ToolNode turned an exception into a message
        error = content_of(answer.content)[:_MAX_ERROR_CHARS]
        guard.check_result(ToolResult(call_id=call.id, session_id=call.session_id, ok=False, error=error))
        return answer
    result = ToolResult(call_id=call.id, session_id=call.session_id, output=answer.content)
    decision = guard.check_result(result)
    if not decision.allowed:  # an escalated result is withheld too: the ticket is in the message
        return _message(request, refusal(decision, what="result"), error=True)
    checked = decision.rewritten if decision.rewritten is not None else answer.content
    return answer.model_copy(update={"content": content_of(checked)})


def as_langchain_tool(tool: GuardedTool[Any]) -> BaseTool:
    """A LangChain tool for ``tool``, with the same argument schema the registry holds.

    It runs the function itself; guard it with :class:`RailguardMiddleware` (which authorizes,
    checks the result and passes the call id as the tool's ``idempotency_key``). Called outside
    the middleware, it refuses to run rather than run unguarded.
    """
    signature = tool.signature

    def run(**kwargs: Any) -> Any:
        call_id = CURRENT_CALL_ID.get()
        if call_id is None:
            raise ConfigError(f"{tool.name}: a guarded tool runs only under RailguardMiddleware")
        return tool.fn(**signature.arguments(kwargs, call_id))

    async def arun(**kwargs: Any) -> Any:
        if not tool.is_async:
            return await asyncio.to_thread(run, **kwargs)
        call_id = CURRENT_CALL_ID.get()
        if call_id is None:
            raise ConfigError(f"{tool.name}: a guarded tool runs only under RailguardMiddleware")
        return await tool.fn(**signature.arguments(kwargs, call_id))

    return StructuredTool.from_function(
        func=None if tool.is_async else run,
        coroutine=arun,
        name=tool.name,
        description=tool.description or tool.name,
        args_schema=signature.args_model,
    )
