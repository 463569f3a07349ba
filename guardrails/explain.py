"""``railguard policy explain``: which rules fired for an input, and the verdict they make."""

from __future__ import annotations

import json
import re
from typing import Any

from guardrails.canonical import canonicalise
from guardrails.engines import PolicyEngine, PolicySet
from guardrails.engines.base import package_path
from guardrails.errors import InputError
from guardrails.pipeline import TOOL_CALL_PACKAGE
from guardrails.stages.policy import PolicyStage

_RULE_HEAD = re.compile(r"^([a-z_][A-Za-z0-9_]*)\b(?=\s*(?:contains|if|:=|=|\{|\[))", re.MULTILINE)
_SKIP = frozenset({"package", "import", "default"})


def rule_names(policies: PolicySet, package: str) -> list[str]:
    names: dict[str, None] = {}
    for module in policies.modules:
        if re.search(rf"^\s*package\s+{re.escape(package)}\s*$", module.source, re.MULTILINE):
            for name in _RULE_HEAD.findall(module.source):
                if name not in _SKIP:
                    names[name] = None
    return list(names)


def explain(engine: PolicyEngine, policies: PolicySet, raw_input: Any, package: str = TOOL_CALL_PACKAGE) -> str:
    try:
        document = canonicalise(raw_input)
    except InputError as exc:
        return f"DENY {exc.code}: {exc.message} at {exc.path} (the input never reaches the policies)"
    stage = PolicyStage(engine, package)
    outcome = stage.run(document)
    lines = [f"verdict: {outcome.verdict.value}"]
    lines += [f"  - {r.code}: {r.message}  [{r.source}]" for r in outcome.reasons]
    fired_rules = getattr(engine, "fired_rules", None)
    if fired_rules is not None:  # the OPA engine can trace which rule bodies succeeded, with file:line
        lines.append("rule bodies that succeeded:")
        lines += [f"  {location}: {head[:160]}" for location, head in fired_rules(package, document)]
    lines.append(f"rules of data.{package} for this input:")
    for name in rule_names(policies, package):
        defined, value = engine.document(package_path(package, name), document)
        if not defined:
            lines.append(f"  {name}: undefined")
        elif value in ([], {}, False):
            lines.append(f"  {name}: {json.dumps(value)} (did not fire)")
        else:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True)
            lines.append(f"  {name}: FIRED {text[:400]}")
    return "\n".join(lines)
