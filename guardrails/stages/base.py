"""What a stage returns, and the seam for screening stages."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from guardrails.model import Decision, Finding, Reason, Verdict


@dataclass(frozen=True)
class StageOutcome:
    """A stage's verdict. ``ALLOW`` means "nothing against it here": the next stage runs."""

    verdict: Verdict = Verdict.ALLOW
    reasons: tuple[Reason, ...] = ()
    findings: tuple[Finding, ...] = ()
    rewritten: Any = None
    # What escalate entries asked of the ticket (``approvers``, ``deadline_s``, ``default``).
    terms: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def deny(cls, code: str, message: str, source: str, findings: tuple[Finding, ...] = ()) -> StageOutcome:
        return cls(Verdict.DENY, (Reason(code=code, message=message, source=source),), findings)

    @classmethod
    def error(cls, code: str, message: str, source: str) -> StageOutcome:
        return cls(Verdict.ERROR, (Reason(code=code, message=message, source=source),))

    @classmethod
    def escalate(cls, code: str, message: str, source: str) -> StageOutcome:
        return cls(Verdict.ESCALATE, (Reason(code=code, message=message, source=source),))


PASS = StageOutcome()

#: The session a screener is screening for, set by the Guard around each screening stage
#: (a screener that numbers placeholders keeps them stable within the session).
SCREENING_SESSION: ContextVar[str | None] = ContextVar("railguard_screening_session", default=None)

#: PII actions a policy set for the call being screened (``pii_actions`` in the package), over the
#: deployment's: entity type (or ``default``) to ``allow | redact | mask | hash | block | escalate``.
PII_ACTIONS: ContextVar[Mapping[str, str] | None] = ContextVar("railguard_pii_actions", default=None)


class Screener(Protocol):
    """A screening stage (PII, prompt injection): the slot the screening work plugs into.

    ``channel`` is ``user``, ``tool_output``, ``tool_args`` or ``output``. A screener may
    rewrite the payload (redaction) by returning ``rewritten``.
    """

    name: str

    def screen(self, payload: Any, channel: str) -> StageOutcome: ...


class DecisionObserver(Protocol):
    """Sees every recorded decision after its transaction committed: decision logs, metrics, traces.

    ``context`` holds ``tool`` and, for ``authorize``, ``agent`` and the policy ``input``
    (``None`` when no policy ran). It must not block; whatever it raises is counted and ignored.
    """

    def on_decision(self, decision: Decision, context: Mapping[str, Any]) -> None: ...
