"""The vocabulary: immutable, JSON round-trippable models shared by every part."""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints


def new_id() -> str:
    return uuid.uuid4().hex


def _printable(value: str) -> str:
    # Ids and names end up in SQL, logs and Rego: no NUL, no lone surrogates (not encodable).
    if "\0" in value:
        raise ValueError("must not contain NUL")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


#: An id or name chosen by the agent side: bounded, encodable.
Name = Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(_printable)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Verdict(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    ESCALATE = "escalate"
    ERROR = "error"  # the guard itself failed; treated as deny unless a tool opted into fail-open

    @property
    def blocks(self) -> bool:
        """True when the step must not go ahead without a person (deny, error, escalate)."""
        return self is not Verdict.ALLOW


class Checkpoint(StrEnum):
    SCREEN_INPUT = "screen_input"
    AUTHORIZE = "authorize"
    CHECK_RESULT = "check_result"
    CHECK_OUTPUT = "check_output"


class Agent(_Frozen):
    """Who is asking. In the sidecar this comes from the API key; in-process, from the caller."""

    id: Name = "anonymous"
    roles: tuple[Name, ...] = Field(default=(), max_length=64)
    attributes: dict[str, Any] = Field(default_factory=dict)


class ToolCall(_Frozen):
    """A tool call the agent wants to make.

    >>> ToolCall(tool="make_payment", args={"amount": 10}, session_id="s1").tool
    'make_payment'
    """

    id: Name = Field(default_factory=new_id)
    tool: Name
    args: dict[str, Any] = Field(default_factory=dict)
    session_id: Name
    agent: Agent = Field(default_factory=Agent)


class ToolResult(_Frozen):
    """What a tool returned (``ok``) or how it failed (``ok=False`` with ``error``).

    ``output`` may be raw text: a tool that promised JSON and returned an HTML error
    page is caught by the check-result checkpoint, never passed on as data.
    """

    call_id: Name
    session_id: Name
    output: Any = None
    ok: bool = True
    error: str | None = None
    confidence: float | None = None
    # False when nobody knows what the tool did (it timed out, the process died mid-call): a
    # once-per-key action (a payment) is then treated as possibly done, never retried blindly.
    outcome_known: bool = True


class Reason(_Frozen):
    """Why a stage decided as it did. ``code`` is stable; ``source`` names the rule or detector."""

    code: str
    message: str
    source: str


class Finding(_Frozen):
    """Evidence a stage found: a schema error, a PII span, an injection signal."""

    kind: str
    detail: str
    path: str = ""
    start: int | None = None
    end: int | None = None
    score: float | None = None
    source: str = ""


class Decision(_Frozen):
    """The one answer of a checkpoint. Serialise with ``model_dump_json()``."""

    verdict: Verdict
    checkpoint: Checkpoint
    stage: str
    reasons: tuple[Reason, ...] = ()
    findings: tuple[Finding, ...] = ()
    rewritten: Any = None
    decision_id: str = Field(default_factory=new_id)
    session_id: str = ""
    call_id: str | None = None
    latency_ms: dict[str, float] = Field(default_factory=dict)
    policy_revision: str = ""
    config_revision: str = ""  # the deployment parameters (data.railguard.config) it was made under
    ticket: str | None = None
    at: float = Field(default_factory=time.time)

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)
