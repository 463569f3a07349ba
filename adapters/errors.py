"""What a guarded tool raises besides :class:`guardrails.DeniedError`: all rooted at ``RailguardError``."""

from __future__ import annotations

from guardrails.errors import EscalationPending, RailguardError
from guardrails.model import Decision, ToolCall, ToolResult


class ApprovalPending(EscalationPending):
    """A person must decide before the call (or its result) may go ahead.

    ``call`` is the exact call that was judged: keep it (it is JSON: ``call.model_dump_json()``)
    and hand it to :meth:`GuardedTool.resume` once the ticket is resolved; the same call id is
    authorized again, and an approval allows it once. ``result`` is set when it was the tool's
    *result* that escalated: the tool has run, and resuming re-checks that result instead of
    running the tool again.
    """

    code = "approval_pending"

    def __init__(self, decision: Decision, call: ToolCall, result: ToolResult | None = None) -> None:
        super().__init__(decision)
        self.call = call
        self.result = result

    @property
    def ticket(self) -> str | None:
        return self.decision.ticket


class ResultRejected(RailguardError):
    """The tool ran but its result did not pass checkpoint 3 (not JSON, wrong shape, screening).

    The rejected output is never returned to the caller; ``decision`` says why.
    """

    code = "result_rejected"

    def __init__(self, decision: Decision) -> None:
        reasons = ", ".join(decision.codes) or decision.verdict
        super().__init__(f"result of call {decision.call_id} rejected: {reasons}")
        self.decision = decision


class ToolTimeout(RailguardError, TimeoutError):
    """The tool did not return within its ``timeout``; its result is recorded as failed.

    A synchronous tool runs in a worker thread that cannot be stopped: it may still finish, and
    whatever it does then is never returned. Give tools with side effects an ``idempotency_key``.
    """

    code = "tool_timeout"
