"""Who is calling, in which session, against which guard: passed explicitly or set for a block.

>>> from guardrails import Agent
>>> with railguard_context(session_id="s1", agent=Agent(id="bot")):
...     current_context().session_id
's1'
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from adapters.checkpoints import Checkpoints
from guardrails.model import Agent


@dataclass(frozen=True)
class RailguardContext:
    guard: Checkpoints | None = None
    session_id: str | None = None
    agent: Agent | None = None


_EMPTY = RailguardContext()
_CONTEXT: ContextVar[RailguardContext] = ContextVar("railguard_context", default=_EMPTY)  # frozen: safe to share


def current_context() -> RailguardContext:
    return _CONTEXT.get()


@contextmanager
def railguard_context(
    *, guard: Checkpoints | None = None, session_id: str | None = None, agent: Agent | str | None = None
) -> Iterator[RailguardContext]:
    """Set the guard, session and agent for guarded tools called inside the block (threads and
    tasks started inside inherit it). What is not given is kept from an enclosing block."""
    outer = _CONTEXT.get()
    who = Agent(id=agent) if isinstance(agent, str) else agent
    inner = RailguardContext(guard or outer.guard, session_id or outer.session_id, who or outer.agent)
    token = _CONTEXT.set(inner)
    try:
        yield inner
    finally:
        _CONTEXT.reset(token)
