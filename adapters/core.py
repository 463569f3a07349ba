"""Guard a tool function in-process: authorize, run, check the result, return what passed.

>>> @guarded(key="transaction_id", once_per_key=True, outbound=True)
... def make_payment(transaction_id: str, amount: float, idempotency_key: str) -> dict:
...     return bank.pay(transaction_id, amount, idempotency_key)    # doctest: +SKIP
>>> guard = Guard(..., tools=registry_from([fraud_check, make_payment]))  # doctest: +SKIP
>>> with railguard_context(guard=guard, session_id="s1", agent=AGENT):   # doctest: +SKIP
...     make_payment("t-1", 250.0)

A deny raises :class:`DeniedError` and the tool never runs; an escalation waits up to
``wait_timeout`` for a person, then raises :class:`ApprovalPending` (resume it later with
:meth:`GuardedTool.resume`); a result that fails its check raises :class:`ResultRejected` and
is never returned. The call id is the idempotency key: a retry with the same id is answered
from the recorded result, or, when the process died before the result was recorded, runs the
tool again with the same ``idempotency_key`` so that the tool itself can refuse a second charge.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar, overload

from adapters.checkpoints import Checkpoints
from adapters.context import current_context
from adapters.errors import ApprovalPending, ResultRejected, ToolTimeout
from adapters.schemas import ToolSignature, description_of, jsonable
from guardrails.errors import ConfigError, DeniedError
from guardrails.model import Agent, Decision, ToolCall, ToolResult, Verdict, new_id
from guardrails.registry import ToolRegistry

R = TypeVar("R")

_MAX_ERROR_CHARS = 300


class GuardedTool(Generic[R]):
    """A tool function (sync or async) that runs only when the guard allows it.

    Registry traits are declared here, beside the function: ``key`` (the argument its facts are
    keyed by), ``once_per_key``, ``untrusted_source``, ``outbound``, ``receives_pii``, ``facts``.
    ``wait_timeout``: seconds to wait for a reviewer before raising :class:`ApprovalPending`
    (0: raise at once). ``timeout``: seconds the tool may run; then :class:`ToolTimeout`.
    """

    def __init__(
        self,
        fn: Callable[..., R] | Callable[..., Awaitable[R]],
        guard: Checkpoints | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        key: str | None = None,
        once_per_key: bool = False,
        untrusted_source: bool = False,
        outbound: bool = False,
        receives_pii: Sequence[str] = (),
        facts: Sequence[str] | None = None,
        wait_timeout: float = 0.0,
        timeout: float | None = None,
    ) -> None:
        self.fn = fn
        self.guard = guard
        self.name = name or fn.__name__
        self.description = description or description_of(fn)
        self.signature = ToolSignature.of(fn, self.name)
        if key is not None and key not in self.signature.params:
            raise ConfigError(f"tool {self.name!r}: key {key!r} is not one of its arguments")
        if once_per_key and key is None:
            raise ConfigError(f"tool {self.name!r}: once_per_key needs a key argument")
        self.key = key
        self.once_per_key = once_per_key
        self.untrusted_source = untrusted_source
        self.outbound = outbound
        self.receives_pii = tuple(receives_pii)
        self.facts = tuple(facts) if facts is not None else None
        self.wait_timeout = wait_timeout
        self.timeout = timeout
        self.is_async = inspect.iscoroutinefunction(fn)
        functools.update_wrapper(self, fn)

    # -- what the registry says ------------------------------------------------------------
    def registry_entry(self) -> dict[str, Any]:
        """This tool's entry of a ``tools.json``: schemas from the type hints, traits from the decorator."""
        entry: dict[str, Any] = {"args": self.signature.args_schema()}
        output = self.signature.output_schema()
        if output is not None:
            entry["output"] = output
        if self.description:
            entry["description"] = self.description
        if self.key is not None:
            entry["key"] = self.key
        if self.facts is not None:
            entry["facts"] = list(self.facts)
        if self.receives_pii:
            entry["receives_pii"] = list(self.receives_pii)
        entry.update(once_per_key=self.once_per_key, untrusted_source=self.untrusted_source, outbound=self.outbound)
        return entry

    def bind(self, guard: Checkpoints) -> GuardedTool[R]:
        """The same tool, checked by ``guard``."""
        bound: GuardedTool[R] = object.__new__(GuardedTool)
        bound.__dict__.update(self.__dict__)
        bound.guard = guard
        return bound

    # -- calling ---------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call like the function itself (session, agent and guard from :func:`railguard_context`);
        an async tool returns a coroutine."""
        call = self.tool_call(self.signature.bind(args, kwargs))
        if self.is_async:
            return self._typed_async(call)
        return self.signature.output_value(self.run(call))

    async def _typed_async(self, call: ToolCall) -> Any:
        return self.signature.output_value(await self.arun(call))

    def invoke(
        self,
        args: Mapping[str, Any],
        *,
        call_id: str | None = None,
        session_id: str | None = None,
        agent: Agent | None = None,
    ) -> Any:
        """Call with JSON arguments (as an agent sends them) and an optional call id for retries;
        returns the output in the function's declared return type."""
        return self.signature.output_value(self.run(self._json_call(args, call_id, session_id, agent)))

    async def ainvoke(
        self,
        args: Mapping[str, Any],
        *,
        call_id: str | None = None,
        session_id: str | None = None,
        agent: Agent | None = None,
    ) -> Any:
        return self.signature.output_value(await self.arun(self._json_call(args, call_id, session_id, agent)))

    def _json_call(
        self, args: Mapping[str, Any], call_id: str | None, session_id: str | None, agent: Agent | None
    ) -> ToolCall:
        return self.tool_call(jsonable(dict(args), f"arguments of {self.name}()"), call_id, session_id, agent)

    def tool_call(
        self,
        args: dict[str, Any],
        call_id: str | None = None,
        session_id: str | None = None,
        agent: Agent | None = None,
    ) -> ToolCall:
        """The call the guard judges; the session and agent come from the context when not given."""
        context = current_context()
        session = session_id or context.session_id
        if session is None:
            raise ConfigError(f"{self.name}(): no session: pass session_id= or call inside railguard_context()")
        return ToolCall(
            id=call_id or new_id(),
            tool=self.name,
            args=args,
            session_id=session,
            agent=agent or context.agent or Agent(),
        )

    def checkpoints(self) -> Checkpoints:
        guard = self.guard or current_context().guard
        if guard is None:
            raise ConfigError(f"{self.name}(): no guard: pass one to @guarded/bind() or use railguard_context(guard=)")
        return guard

    def run(self, call: ToolCall, *, wait_timeout: float | None = None) -> Any:
        """The whole flow for one call, blocking; returns the output as JSON, as the agent may see it."""
        if self.is_async:
            return asyncio.run(self.arun(call, wait_timeout=wait_timeout))
        guard = self.checkpoints()
        wait = self.wait_timeout if wait_timeout is None else wait_timeout
        _allowed(_authorize_waiting(guard, call, wait), call)
        found, output = guard.recorded_result(call.session_id, call.id)
        if found:
            return output
        kwargs = self._arguments(guard, call)
        try:
            raw = self._run_sync(kwargs)
        except TimeoutError as exc:
            _record_failure(guard, call, f"timed out after {self.timeout} s", known=False)
            raise ToolTimeout(f"{self.name}() did not return within {self.timeout} s") from exc
        except Exception as exc:
            _record_failure(guard, call, _describe(exc))
            raise
        return _checked_waiting(guard, call, _result(guard, call, raw, self.name), wait)

    async def arun(self, call: ToolCall, *, wait_timeout: float | None = None) -> Any:
        """:meth:`run` for the event loop: the checkpoints run in a worker thread (they block)."""
        if not self.is_async:
            return await asyncio.to_thread(self.run, call, wait_timeout=wait_timeout)
        guard = self.checkpoints()
        wait = self.wait_timeout if wait_timeout is None else wait_timeout
        _allowed(await asyncio.to_thread(_authorize_waiting, guard, call, wait), call)
        found, output = await asyncio.to_thread(guard.recorded_result, call.session_id, call.id)
        if found:
            return output
        kwargs = await asyncio.to_thread(self._arguments, guard, call)
        coroutine: Awaitable[Any] = self.fn(**kwargs)  # type: ignore[assignment]
        try:
            raw = await asyncio.wait_for(coroutine, self.timeout)
        except TimeoutError as exc:
            await asyncio.to_thread(_record_failure, guard, call, f"timed out after {self.timeout} s", known=False)
            raise ToolTimeout(f"{self.name}() did not return within {self.timeout} s") from exc
        except Exception as exc:
            await asyncio.to_thread(_record_failure, guard, call, _describe(exc))
            raise
        result = await asyncio.to_thread(_result, guard, call, raw, self.name)
        return await asyncio.to_thread(_checked_waiting, guard, call, result, wait)

    def resume(self, pending: ApprovalPending | ToolCall, *, wait_timeout: float | None = None) -> Any:
        """Go on with a call that escalated, once its ticket is resolved: the exact same call id is
        authorized again (an approval allows it once; a denial raises :class:`DeniedError`), or,
        when its result escalated, that same result is checked again and the tool does not rerun."""
        if isinstance(pending, ApprovalPending) and pending.result is not None:
            wait = self.wait_timeout if wait_timeout is None else wait_timeout
            output = _checked_waiting(self.checkpoints(), pending.call, pending.result, wait)
            return self.signature.output_value(output)
        call = pending.call if isinstance(pending, ApprovalPending) else pending
        return self.signature.output_value(self.run(call, wait_timeout=wait_timeout))

    def _arguments(self, guard: Checkpoints, call: ToolCall) -> dict[str, Any]:
        args = guard.reveal(call.args, session_id=call.session_id, tool=call.tool, call_id=call.id)
        try:
            return self.signature.arguments(args, call.id)
        except ValueError as exc:
            _record_failure(guard, call, str(exc))
            raise

    def _run_sync(self, kwargs: dict[str, Any]) -> Any:
        fn: Callable[..., Any] = self.fn
        if self.timeout is None:
            return fn(**kwargs)
        return _in_thread(functools.partial(fn, **kwargs), self.timeout, self.name)


@overload
def guarded(fn: Callable[..., R], /) -> GuardedTool[R]: ...
@overload
def guarded(guard: Checkpoints | None = None, /, **options: Any) -> Callable[[Callable[..., R]], GuardedTool[R]]: ...
def guarded(guard: Any = None, /, **options: Any) -> Any:
    """Decorator form of :class:`GuardedTool`: ``@guarded``, ``@guarded(guard)``, ``@guarded(key=...)``."""
    if callable(guard) and not isinstance(guard, Checkpoints):
        return GuardedTool(guard)

    def wrap(fn: Callable[..., R]) -> GuardedTool[R]:
        return GuardedTool(fn, guard, **options)

    return wrap


def registry_from(tools: Iterable[GuardedTool[Any]], extra: Mapping[str, Any] | None = None) -> ToolRegistry:
    """A :class:`ToolRegistry` from guarded tools (plus hand-written ``extra`` entries): no
    ``tools.json`` to keep in step with the code. Schemas are compiled and checked here."""
    entries: dict[str, Any] = dict(extra or {})
    for tool in tools:
        if tool.name in entries:
            raise ConfigError(f"two tools are named {tool.name!r}")
        entries[tool.name] = tool.registry_entry()
    return ToolRegistry.from_mapping(entries, where="guarded tools")


def report_usage(
    tokens: int = 0, cost: float = 0.0, *, guard: Checkpoints | None = None, session_id: str | None = None
) -> None:
    """Add a model call's tokens and spend to the session (budget policies read them)."""
    context = current_context()
    guard = guard or context.guard
    session = session_id or context.session_id
    if guard is None or session is None:
        raise ConfigError("report_usage(): pass guard= and session_id=, or call inside railguard_context()")
    guard.report_usage(session, tokens=tokens, cost=cost)


# -- the steps, shared by the sync and async paths ------------------------------------------
def _authorize_waiting(guard: Checkpoints, call: ToolCall, wait: float) -> Decision:
    decision = guard.authorize(call)
    if decision.verdict is Verdict.ESCALATE and decision.ticket and wait > 0:
        guard.wait(decision.ticket, wait)
        decision = guard.authorize(call)  # the same call id: an approval allows it once
    return decision


def _allowed(decision: Decision, call: ToolCall) -> None:
    if decision.verdict is Verdict.ALLOW:
        return
    if decision.verdict is Verdict.ESCALATE:
        raise ApprovalPending(decision, call)
    raise DeniedError(decision)  # deny, and error: the guard failed, so nothing runs


def _result(guard: Checkpoints, call: ToolCall, raw: Any, name: str) -> ToolResult:
    # Text stays text: a tool that promised JSON and returned an HTML page is caught by the guard.
    try:
        output = raw if isinstance(raw, str | bytes) else jsonable(raw, f"output of {name}()")
    except TypeError as exc:
        _record_failure(guard, call, str(exc))
        raise
    return ToolResult(call_id=call.id, session_id=call.session_id, output=output)


def _checked_waiting(guard: Checkpoints, call: ToolCall, result: ToolResult, wait: float) -> Any:
    decision = guard.check_result(result)
    if decision.verdict is Verdict.ESCALATE and decision.ticket and wait > 0:
        guard.wait(decision.ticket, wait)
        decision = guard.check_result(result)  # an approval releases exactly this result
    if decision.verdict is Verdict.ALLOW:
        return decision.rewritten if decision.rewritten is not None else result.output
    if decision.verdict is Verdict.ESCALATE:
        raise ApprovalPending(decision, call, result)
    raise ResultRejected(decision)


def _record_failure(guard: Checkpoints, call: ToolCall, error: str, *, known: bool = True) -> Decision:
    """The tool failed. ``known=False`` (a timeout: it may still act) leaves the outcome unknown, so a
    once-per-key call (a payment) is not sent again under a new call id."""
    return guard.check_result(
        ToolResult(
            call_id=call.id, session_id=call.session_id, ok=False, error=error[:_MAX_ERROR_CHARS], outcome_known=known
        )
    )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _in_thread(fn: Callable[[], Any], timeout: float, name: str) -> Any:
    """Run ``fn`` in a daemon thread (with the caller's context) and wait ``timeout`` seconds."""
    box: dict[str, Any] = {}
    context = contextvars.copy_context()

    def target() -> None:
        try:
            box["value"] = context.run(fn)
        except BaseException as exc:  # handed to the caller below, never swallowed
            box["error"] = exc

    worker = threading.Thread(target=target, name=f"railguard-tool-{name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(name)
    if "error" in box:
        raise box["error"]
    return box["value"]
