"""A tool call as the authorize checkpoint handles it: canonical arguments and agent, its
identity (hash), its key for session facts, and its policy input as stored and replayed."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from guardrails.canonical import Limits, canonicalise, dumps
from guardrails.errors import InputError
from guardrails.ledger.base import RESULT_RECORDED, CallRecord, Event, SessionTx
from guardrails.model import Agent, Decision, ToolCall, ToolResult, Verdict
from guardrails.registry import ToolSpec
from guardrails.stages.base import StageOutcome


def args_hash(tool: str, args: Any) -> str:
    """Identity of a call for loop detection and approval binding: tool + canonical args."""
    return hashlib.sha256(dumps([tool, args]).encode()).hexdigest()[:32]


def agent_doc(agent: Agent) -> dict[str, Any]:
    return {"id": agent.id, "roles": list(agent.roles), "attributes": dict(agent.attributes)}


def key_values(args: Any) -> list[str]:
    """Scalar argument values of the call: the keys under which its preconditions are looked up."""
    if not isinstance(args, dict):
        return []
    keys = {fact_key(v) for v in args.values() if isinstance(v, str | int | float) and not isinstance(v, bool)}
    return sorted(k for k in keys if k is not None)[:64]


def key_of(args: Any, key_arg: str | None) -> str | None:
    if key_arg is None or not isinstance(args, dict):
        return None
    return fact_key(args.get(key_arg))


def fact_key(value: Any) -> str | None:
    # Rego object keys are strings; numbers are keyed by their JSON text.
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dumps(value)
    return None


class CanonicalCall:
    """A call's arguments and agent after canonicalisation; ``rejected`` holds the code when refused.

    The agent is canonicalised with the same limits and codes as the arguments: its
    attributes come from the caller and reach Rego and the ledger alike.
    """

    def __init__(self, call: ToolCall, limits: Limits) -> None:
        self.call = call
        self.limits = limits
        self.args: Any = None
        self.agent: dict[str, Any] = {}
        self.rejected: str | None = None

    def check(self) -> StageOutcome:
        try:
            self.agent = canonicalise(agent_doc(self.call.agent), self.limits)
        except InputError as exc:
            return self._refused(exc, "agent")
        try:
            self.args = canonicalise(self.call.args, self.limits)
        except InputError as exc:
            return self._refused(exc, "arguments")
        return StageOutcome()

    def _refused(self, exc: InputError, what: str) -> StageOutcome:
        self.rejected = exc.code
        return StageOutcome.deny(exc.code, f"{what}: {exc.message} at {exc.path}", "railguard.canonical")

    @property
    def stored_args(self) -> Any:
        """What the ledger keeps (and the call hash covers): never a payload that was refused."""
        return self.args if self.rejected is None else {"rejected": self.rejected}

    @property
    def stored_agent(self) -> dict[str, Any]:
        return self.agent if self.agent else {"id": self.call.agent.id, "rejected": self.rejected}


def without_args(policy_input: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The policy input as the ledger stores it: ``call.args`` lives in the call's own event."""
    if policy_input is None:
        return None
    call = {k: v for k, v in policy_input["call"].items() if k != "args"}
    return {**policy_input, "call": call}


def with_args(stored_input: Mapping[str, Any], args: Any) -> dict[str, Any]:
    """The exact policy input again, from the stored one and the call's arguments."""
    return {**stored_input, "call": {**stored_input["call"], "args": args}}


def record_result(
    tx: SessionTx, record: CallRecord, result: ToolResult, spec: ToolSpec | None, decision: Decision
) -> None:
    """The ``result_recorded`` event: what became of an allowed call (its fact, its outcome for
    once-per-key tools) and the output the agent was given, for a retry."""
    verified = decision.verdict is Verdict.ALLOW
    was_allowed = record.verdict == Verdict.ALLOW.value
    output = decision.rewritten
    fact: dict[str, Any] = {"ok": verified, "at": decision.at}
    if verified and isinstance(output, dict) and spec is not None:
        fact.update({f: output[f] for f in spec.fact_fields if f in output})
    failed = was_allowed and decision.verdict in (Verdict.DENY, Verdict.ERROR)
    tx.append(
        Event(
            decision.session_id,
            RESULT_RECORDED,
            decision.at,
            {
                "tool": record.tool,
                "verified": verified,
                "failed": failed,
                "was_allowed": was_allowed,
                "outcome": _outcome(verified, result),
                "key_value": record.key_value,
                "fact": fact,
                "codes": list(decision.codes),
                # What the agent was given: a retry of the call gets it again, the tool does not run twice.
                "output": output if verified else None,
            },
            decision.call_id,
        )
    )


def _outcome(verified: bool, result: ToolResult) -> str:
    """What became of the call, for once-per-key tools: only a failure the tool itself reported
    may be retried; a result that did not pass its check (HTML instead of JSON, low
    confidence) leaves the outcome unknown, and money that may have moved is not sent again."""
    if verified:
        return "succeeded"
    return "failed" if not result.ok and result.outcome_known else "unknown"
