"""The seam between a guarded tool and whatever decides: the in-process Guard or the sidecar.

:class:`guardrails.Guard` satisfies :class:`Checkpoints` as it is; a remote client (the sidecar
over HTTP) implements the same six methods and every adapter works unchanged on top of it.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from guardrails.escalation import Ticket
from guardrails.model import Decision, ToolCall, ToolResult


@runtime_checkable
class Checkpoints(Protocol):
    """What the adapters need of a guard. Every method is blocking; async adapters run them in a thread."""

    def authorize(self, call: ToolCall) -> Decision:
        """Checkpoint 2. The same call id again gets the same answer (or, after a review, a new one)."""
        ...

    def check_result(self, result: ToolResult) -> Decision:
        """Checkpoint 3. ``rewritten`` carries the output as the agent may see it."""
        ...

    def wait(self, ticket: str, timeout: float = 30.0) -> Ticket:
        """Block up to ``timeout`` seconds for a person to resolve ``ticket``."""
        ...

    def recorded_result(self, session_id: str, call_id: str) -> tuple[bool, Any]:
        """``(True, output)`` when the call already has a verified result: a retry is answered from it."""
        ...

    def report_usage(self, session_id: str, *, tokens: int = 0, cost: float = 0.0) -> None:
        """Add tokens and spend to the session, for budget policies."""
        ...

    def reveal(self, args: Any, *, session_id: str, tool: str, call_id: str | None = None) -> Any:
        """The arguments the tool really runs with (PII placeholders replaced where it may see them),
        for the allowed call ``call_id``."""
        ...
