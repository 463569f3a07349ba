"""Policy coverage: which ``deny`` / ``escalate`` / ``allow`` rules fired how often, and which never did.

With the embedded OPA engine every rule body is counted by location (``file:line``, from
OPA's trace). Other engines cannot trace; there coverage is counted per reason (code and the
rule file that emitted it), and ``allow`` bodies are not told apart.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from guardrails.engines import PolicyEngine, PolicySet
from guardrails.stages.base import StageOutcome

_DECIDING = re.compile(r"^(deny|escalate|allow)\b(?!\s*:=\s*false)")
_CODE = re.compile(r'"code"\s*:\s*"([a-z0-9_]+)"')


def _package(source: str) -> str | None:
    found = re.search(r"^\s*package\s+([\w.]+)", source, re.MULTILINE)
    return found[1] if found else None


@dataclass
class Coverage:
    """Counts rule bodies (OPA) or reasons (other engines) over many decisions."""

    package: str
    bodies: dict[str, str] = field(default_factory=dict)  # file:line -> rule head
    codes: dict[tuple[str, str], None] = field(default_factory=dict)  # (code, file) a policy can emit
    fired: Counter[str] = field(default_factory=Counter)
    decisions: int = 0
    traced: bool = False

    @classmethod
    def of(cls, policies: PolicySet, package: str) -> Coverage:
        coverage = cls(package)
        for module in policies.modules:
            if _package(module.source) != package:
                continue
            lines = module.source.splitlines()
            for number, line in enumerate(lines, start=1):
                match = _DECIDING.match(line)
                if not match or line.startswith("default"):
                    continue
                coverage.bodies[f"{module.name}:{number}"] = line.split(" if ", 1)[0].rstrip(" {")
                if match[1] in ("deny", "escalate"):
                    head = "\n".join(lines[number - 1 : number + 4])
                    code = _CODE.search(head)
                    if code:
                        coverage.codes[(code[1], module.name)] = None
        return coverage

    def record(self, engine: PolicyEngine, document: Mapping[str, Any], outcome: StageOutcome) -> None:
        """Count one decision: the bodies that succeeded (OPA), else the reasons given."""
        self.decisions += 1
        fired_rules = getattr(engine, "fired_rules", None)
        if fired_rules is not None:
            self.traced = True
            for location, _head in fired_rules(self.package, document):
                self.fired[location] += 1
            return
        for reason in outcome.reasons:
            self.fired[f"{reason.code} [{reason.source}]"] += 1

    def never_fired(self) -> list[str]:
        if self.traced:
            return [f"{loc}: {head}" for loc, head in self.bodies.items() if not self.fired[loc]]
        seen = {key.split(" [", 1)[0] for key in self.fired}
        return [f"{code} [{file}]" for code, file in self.codes if code not in seen]

    def render(self) -> str:
        how = "rule bodies (OPA trace)" if self.traced else "reasons (this engine cannot trace; allow not split)"
        lines = [f"coverage over {self.decisions} decision(s), by {how}:"]
        for key, count in self.fired.most_common():
            head = self.bodies.get(key, "")
            lines.append(f"  {count:>7}  {key}{'  ' + head if head else ''}")
        never = self.never_fired()
        total = len(self.bodies) if self.traced else len(self.codes)
        lines.append(f"never fired ({len(never)} of {total}):")
        lines += [f"        -  {entry}" for entry in never]
        return "\n".join(lines)


def cover(engine: PolicyEngine, coverage: Coverage, inputs: Iterable[tuple[Mapping[str, Any], StageOutcome]]) -> None:
    for document, outcome in inputs:
        coverage.record(engine, document, outcome)
