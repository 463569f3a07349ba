"""The Rego stage: one engine call per decision, one interpretation for every engine.

Verdict rule (docs/rego-contract.md): any ``deny`` entry denies; else any ``escalate``
entry escalates; else ``allow`` must be ``true``. ``allow`` false denies with
``not_allowed``; anything undefined or malformed denies with ``policy_undefined``;
an engine failure is an ``error`` verdict. Nothing here can produce an accidental allow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from guardrails import codes
from guardrails.engines.base import PolicyAnswer, PolicyEngine, package_path
from guardrails.errors import EngineError, PolicyError
from guardrails.escalation.model import Terms
from guardrails.model import Finding, Reason, ToolCall, Verdict
from guardrails.stages.base import StageOutcome

if TYPE_CHECKING:
    from guardrails.calls import CanonicalCall
    from guardrails.registry import ToolSpec

KNOWN_NEEDS = frozenset({"history", "all_results"})


class PolicyStage:
    """``PolicyStage(engine, "railguard.tool_call")``; the engine must already be prepared."""

    name = "policy"

    def __init__(self, engine: PolicyEngine, package: str) -> None:
        self.engine = engine
        self.package = package
        self.source = "data." + package
        self.needs = self._read_needs()

    def _read_needs(self) -> frozenset[str]:
        defined, value = self.engine.document(package_path(self.package, "needs"), {})
        if not defined:
            return frozenset()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PolicyError(
                f"{self.source}.needs must be a set of strings, got {value!r}", code="policy_needs_invalid"
            )
        unknown = set(value) - KNOWN_NEEDS
        if unknown:
            raise PolicyError(
                f"{self.source}.needs: unknown {sorted(unknown)}; known {sorted(KNOWN_NEEDS)}",
                code="policy_needs_invalid",
            )
        return frozenset(value)

    def config_errors(self) -> tuple[Reason, ...]:
        """The contract's start-up check: ``config_errors`` entries for the loaded ``data``.

        Deployment parameters are data, fixed at start-up: a mistyped one is found once,
        here, and the deployment refuses to start, instead of being re-checked per call.
        """
        try:
            defined, value = self.engine.document(package_path(self.package, "config_errors"), {})
        except EngineError as exc:
            raise PolicyError(
                f"{self.source}.config_errors cannot be evaluated: {exc}", code="policy_eval_error"
            ) from None
        if not defined:
            return ()
        entries = _entries([value], f"{self.source}.config_errors")
        if entries is None:
            raise PolicyError(
                f"{self.source}.config_errors must be a set of objects with a 'code'", code="policy_undefined"
            )
        return entries

    def run(self, input: Mapping[str, Any]) -> StageOutcome:
        try:
            answer = self.engine.evaluate(self.package, input)
        except EngineError as exc:  # its code says which failure (engine_error, opa_timeout, ...)
            return StageOutcome.error(exc.code, str(exc)[:500], f"engine:{self.engine.name}")
        # An engine that could not decide for a tool that opted into fail-open answers allow and
        # names its failure: the call goes, and the decision records why as a finding.
        failed = getattr(answer, "fail_open", None)
        if isinstance(failed, EngineError):
            detail = f"{failed.code}: {failed}"[:300]
            return StageOutcome(
                findings=(Finding(kind=codes.FAIL_OPEN, detail=detail, source=f"engine:{self.engine.name}"),)
            )
        return interpret(answer, self.source)


def interpret(answer: PolicyAnswer, source: str) -> StageOutcome:
    deny = _entries(answer.deny, f"{source}.deny")
    escalate = _entries(answer.escalate, f"{source}.escalate")
    if deny is None or escalate is None:
        return _undefined(source, "deny/escalate must be sets of objects with a string 'code'")
    if deny:
        return StageOutcome(Verdict.DENY, deny)
    if escalate:
        terms = _terms(answer.escalate[0])
        if terms is None:
            return StageOutcome.deny(
                codes.ESCALATION_TERMS_INVALID,
                "escalate entries may carry approvers (1-10), deadline_s (> 0, at most 30 days) and "
                "default ('deny' or 'allow'), nothing else malformed",
                f"{source}.escalate",
            )
        return StageOutcome(Verdict.ESCALATE, escalate, terms=terms)
    if not answer.allow:
        return _undefined(source, "allow is undefined for this input (declare `default allow := false`)")
    allow = answer.allow[0]
    if allow is True:
        return StageOutcome()
    if allow is False:
        return StageOutcome.deny(codes.NOT_ALLOWED, "no policy allows this call", f"{source}.allow")
    return _undefined(source, f"allow must be a boolean, got {type(allow).__name__}")


_TERM_KEYS = ("approvers", "deadline_s", "default")


def _terms(entries: list[Any]) -> tuple[Mapping[str, Any], ...] | None:
    """The ticket terms escalate entries ask for; ``None`` when one is malformed (fail closed)."""
    found = []
    for entry in entries:
        asked = {k: entry[k] for k in _TERM_KEYS if k in entry}
        if not asked:
            continue
        try:
            Terms(**asked)
        except (ValidationError, TypeError):
            return None
        if isinstance(asked.get("approvers"), bool) or isinstance(asked.get("deadline_s"), bool):
            return None
        found.append(asked)
    return tuple(found)


def _entries(raw: list[Any], default_source: str) -> tuple[Reason, ...] | None:
    """Reasons from a deny/escalate document; ``None`` when it is malformed."""
    if not raw:
        return ()
    collection = raw[0]
    if not isinstance(collection, list):
        return None
    reasons = []
    for entry in collection:
        if not isinstance(entry, dict) or not isinstance(entry.get("code"), str) or not entry["code"]:
            return None
        message = entry.get("message")
        rule = entry.get("source")
        reasons.append(
            Reason(
                code=entry["code"],
                message=message if isinstance(message, str) else entry["code"],
                source=rule if isinstance(rule, str) and rule else default_source,
            )
        )
    return tuple(sorted(reasons, key=lambda r: (r.code, r.source, r.message)))


def _undefined(source: str, why: str) -> StageOutcome:
    return StageOutcome.deny(codes.POLICY_UNDEFINED, why, source)


#: What a policy's ``pii_actions`` may say (the screening package's actions; kept here so the core
#: does not import the screening extra).
PII_ACTION_NAMES = ("allow", "redact", "mask", "hash", "block", "escalate")


def pii_policy(
    engine: PolicyEngine,
    package: str,
    call: ToolCall,
    canon: CanonicalCall,
    spec: ToolSpec | None,
    asked: dict[str, str],
) -> StageOutcome:
    """The package's ``pii_actions`` for this call (its tool, arguments, agent), into ``asked``: a
    policy may let a tool receive an entity type the deployment redacts, or block one for it."""
    document = {
        "call": {"id": call.id, "tool": call.tool, "args": canon.args},
        "tool": spec.traits if spec is not None else {},
        "agent": canon.agent,
    }
    defined, value = engine.document(package_path(package, "pii_actions"), document)
    if not defined:
        return StageOutcome()
    if not isinstance(value, dict) or not all(isinstance(k, str) and v in PII_ACTION_NAMES for k, v in value.items()):
        return StageOutcome.deny(
            codes.PII_ACTIONS_INVALID,
            f"pii_actions must map entity types to one of {', '.join(PII_ACTION_NAMES)}",
            f"data.{package}.pii_actions",
        )
    asked.update(value)
    return StageOutcome()
