"""Schema stages: a call's arguments, a tool's result and an agent's output."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from guardrails import codes
from guardrails.canonical import Limits, canonicalise, parse_json
from guardrails.errors import InputError
from guardrails.model import Finding
from guardrails.registry import SchemaCheck, ToolSpec
from guardrails.stages.base import PASS, StageOutcome

SOURCE = "railguard.schema"


def check_args(spec: ToolSpec | None, tool: str, args: Any) -> StageOutcome:
    if spec is None:
        return StageOutcome.deny(codes.UNKNOWN_TOOL, f"no schema is registered for tool {tool!r}", SOURCE)
    return against(
        spec.args.errors(args, f"{SOURCE}:{tool}.args"),
        codes.ARGS_SCHEMA_MISMATCH,
        f"arguments of {tool!r} do not match its schema",
    )


def against(findings: tuple[Finding, ...], code: str, what: str, rewritten: Any = None) -> StageOutcome:
    """Deny with ``code`` when a schema check found anything; pass (with ``rewritten``) otherwise."""
    if findings:
        return StageOutcome.deny(code, f"{what}: {findings[0].detail}", SOURCE, findings)
    return StageOutcome(rewritten=rewritten)


def check_result(spec: ToolSpec, output: Any, limits: Limits) -> StageOutcome:
    """Check a tool's output; ``rewritten`` carries the parsed JSON when the tool returned text."""
    try:
        if spec.expects_json and isinstance(output, bytes | str):
            value = parse_json(output, limits)  # the one parser: same limits, same codes as the CLI
        else:
            value = canonicalise(output, limits)
    except InputError as exc:
        if exc.code in (codes.MALFORMED_JSON, codes.INVALID_ENCODING):
            return _not_json(output, spec.name)
        return StageOutcome.deny(exc.code, f"result of {spec.name!r}: {exc.message} at {exc.path or '$'}", SOURCE)
    findings = spec.output.errors(value, f"{SOURCE}:{spec.name}.output") if spec.output is not None else ()
    return against(
        findings,
        codes.RESULT_SCHEMA_MISMATCH,
        f"result of {spec.name!r} is not what the tool promises",
        rewritten=value,
    )


def _not_json(raw: bytes | str, tool: str) -> StageOutcome:
    snippet = raw[:80].decode("utf-8", "replace") if isinstance(raw, bytes) else raw[:80]
    finding = Finding(kind="not_json", detail=f"starts with {snippet!r}", source=f"{SOURCE}:{tool}.output")
    return StageOutcome.deny(
        codes.RESULT_NOT_JSON, f"{tool!r} promised JSON and returned something else", SOURCE, (finding,)
    )


def check_output(output: Any, schema: type[BaseModel] | SchemaCheck | None) -> StageOutcome:
    if schema is None:
        return PASS
    if isinstance(schema, SchemaCheck):
        findings = schema.errors(output, f"{SOURCE}:output")
    else:
        try:
            if isinstance(output, str | bytes):
                schema.model_validate_json(output)
            else:
                schema.model_validate(output)
            findings = ()
        except ValidationError as exc:
            findings = tuple(
                Finding(
                    kind="schema",
                    detail=err["msg"],
                    path="$." + ".".join(map(str, err["loc"])),
                    source=f"{SOURCE}:{schema.__name__}",
                )
                for err in exc.errors()[:20]
            )
    return against(findings, codes.OUTPUT_SCHEMA_MISMATCH, "output does not match its schema")
