"""OpenAI: a guarded function-calling dispatch loop, and guarded tools for the OpenAI Agents SDK.

Plain chat completions: hand the assistant message's ``tool_calls`` to :func:`dispatch` and
append the ``{"role": "tool", ...}`` messages it returns. A denial becomes a refusal the model
can read (codes and reasons); malformed JSON arguments never reach a tool. Dispatching the same
tool calls again (same ids) is how an escalated call resumes after the reviewer answered.

Agents SDK (``openai-agents``): :func:`function_tool` turns a :class:`GuardedTool` into a
``FunctionTool`` whose ``needs_approval`` asks Railguard, so an escalation pauses the run as
one of its interruptions; :func:`pending_ticket` gives the item's Railguard ticket. Once a
reviewer approved the ticket, ``state.approve(item)`` and run again: the same call id is
authorized again and the approval allows it once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from adapters.context import current_context
from adapters.core import GuardedTool
from adapters.errors import ApprovalPending, ResultRejected
from adapters.refusal import content_of, refusal
from guardrails import codes
from guardrails.errors import ConfigError, DeniedError
from guardrails.model import Agent, ToolCall, Verdict

if TYPE_CHECKING:
    from agents import FunctionTool, RunContextWrapper
    from agents.items import ToolApprovalItem
    from agents.tool_context import ToolContext


def _by_name(tools: Mapping[str, GuardedTool[Any]] | Iterable[GuardedTool[Any]]) -> dict[str, GuardedTool[Any]]:
    return dict(tools) if isinstance(tools, Mapping) else {t.name: t for t in tools}


def _local_refusal(code: str, message: str) -> str:
    return json.dumps({"railguard": "deny", "message": message, "codes": [code], "reasons": [message]})


def _arguments(raw: Any) -> dict[str, Any] | str:
    """The parsed arguments object, or the refusal text when they are not one."""
    try:
        args = json.loads(raw) if isinstance(raw, str | bytes) else raw
    except ValueError:
        return _local_refusal(codes.MALFORMED_JSON, "the arguments are not valid JSON; the tool did not run")
    if not isinstance(args, dict):
        return _local_refusal(codes.ARGS_SCHEMA_MISMATCH, "the arguments must be a JSON object; the tool did not run")
    return args


async def _guarded_content(tool: GuardedTool[Any], call: ToolCall) -> str:
    """Run one call through the guarded flow; what the model reads, whatever happened."""
    try:
        output = await tool.arun(call, wait_timeout=0)
    except (DeniedError, ApprovalPending) as stopped:
        return refusal(stopped.decision)
    except ResultRejected as rejected:
        return refusal(rejected.decision, what="result")
    except Exception as exc:  # recorded as failed by the wrapper; the model learns the tool failed
        return json.dumps({"railguard": "tool_failed", "message": f"the tool failed: {type(exc).__name__}: {exc}"})
    return content_of(output)


# -- plain function calling ---------------------------------------------------------------------
async def adispatch(
    tool_calls: Sequence[Mapping[str, Any]],
    tools: Mapping[str, GuardedTool[Any]] | Iterable[GuardedTool[Any]],
    *,
    session_id: str | None = None,
    agent: Agent | None = None,
) -> list[dict[str, Any]]:
    """The tool messages answering ``tool_calls`` (one each, in order); the call id is the
    OpenAI tool call id, so dispatching the same calls again never runs a tool twice."""
    known = _by_name(tools)
    messages: list[dict[str, Any]] = []
    for tool_call in tool_calls:
        call_id = str(tool_call.get("id") or "")
        function = tool_call.get("function") or {}
        name = str(function.get("name") or "")
        args = _arguments(function.get("arguments", "{}"))
        tool = known.get(name)
        if isinstance(args, str):
            content = args
        elif tool is None:
            content = _local_refusal(codes.UNKNOWN_TOOL, f"there is no tool named {name!r}")
        elif not call_id:
            content = _local_refusal(codes.UNSUPPORTED_TYPE, "the tool call has no id; the tool did not run")
        else:
            call = tool.tool_call(args, call_id, session_id, agent)
            content = await _guarded_content(tool, call)
        messages.append({"role": "tool", "tool_call_id": call_id, "content": content})
    return messages


def dispatch(
    tool_calls: Sequence[Mapping[str, Any]],
    tools: Mapping[str, GuardedTool[Any]] | Iterable[GuardedTool[Any]],
    *,
    session_id: str | None = None,
    agent: Agent | None = None,
) -> list[dict[str, Any]]:
    """:func:`adispatch`, blocking (not from inside a running event loop)."""
    return asyncio.run(adispatch(tool_calls, tools, session_id=session_id, agent=agent))


# -- OpenAI Agents SDK --------------------------------------------------------------------------
def _identity(
    tool: GuardedTool[Any], run_context: Any, session_id: str | None, agent: Agent | None
) -> tuple[str | None, Agent | None]:
    """Session and agent: given, else from railguard_context, else from the run's own context
    object (an attribute or key ``session_id`` / ``agent``)."""
    own = getattr(run_context, "context", None)

    def pick(name: str) -> Any:
        return own.get(name) if isinstance(own, Mapping) else getattr(own, name, None)

    return session_id or current_context().session_id or pick("session_id"), agent or pick("agent")


def function_tool(
    tool: GuardedTool[Any],
    *,
    session_id: str | None = None,
    agent: Agent | None = None,
) -> FunctionTool:
    """An Agents SDK ``FunctionTool`` for ``tool``: same schema as its registry entry, authorized
    by Railguard before it runs (an escalation is an SDK approval interruption), its result checked."""
    from agents import FunctionTool

    def call_of(run_context: Any, args: dict[str, Any], call_id: str) -> ToolCall:
        session, who = _identity(tool, run_context, session_id, agent)
        return tool.tool_call(args, call_id, session, who)

    async def needs_approval(run_context: RunContextWrapper[Any], params: dict[str, Any], call_id: str) -> bool:
        # Authorize now: the decision is recorded under the call id, and asked again when the tool
        # runs (the same answer, or after a review the reviewer's).
        decision = await asyncio.to_thread(tool.checkpoints().authorize, call_of(run_context, params, call_id))
        return decision.verdict is Verdict.ESCALATE

    async def invoke(context: ToolContext[Any], raw_args: str) -> str:
        args = _arguments(raw_args)
        if isinstance(args, str):
            return args
        return await _guarded_content(tool, call_of(context, args, context.tool_call_id))

    return FunctionTool(
        name=tool.name,
        description=tool.description or tool.name,
        params_json_schema=tool.signature.args_schema(),
        on_invoke_tool=invoke,
        strict_json_schema=False,
        needs_approval=needs_approval,
    )


def pending_ticket(
    item: ToolApprovalItem,
    tool: GuardedTool[Any],
    *,
    session_id: str | None = None,
    agent: Agent | None = None,
    run_context: Any = None,
) -> str | None:
    """The Railguard ticket behind an SDK approval interruption (``None`` when Railguard did not
    escalate it). Asking again by call id records nothing new."""
    raw = item.raw_item
    call_id = getattr(raw, "call_id", None) or (raw.get("call_id") if isinstance(raw, Mapping) else None)
    arguments = getattr(raw, "arguments", None) or (raw.get("arguments") if isinstance(raw, Mapping) else None)
    args = _arguments(arguments or "{}")
    if not call_id or isinstance(args, str):
        raise ConfigError("the approval item carries no call id or arguments")
    session, who = _identity(tool, run_context, session_id, agent)
    decision = tool.checkpoints().authorize(tool.tool_call(args, str(call_id), session, who))
    return decision.ticket if decision.verdict is Verdict.ESCALATE else None
