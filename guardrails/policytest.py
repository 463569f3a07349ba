"""Policy tests in the two forms policy authors use.

* OPA-style ``*_test.rego``: every ``test_*`` rule is evaluated and must be ``true``.
  These use ``with input as``, so they run only on an engine that handles ``with``
  safely (the real OPA engine); regopy would crash the process.
* Decision cases (``cases/*.json``): input -> expected verdict and reason codes, run
  through the same canonicalisation and verdict rule as the Guard, on every engine.
  Run on two engines, they are the parity suite. A case document carries the
  deployment's parameters beside the input under ``config``; they are loaded where a
  deployment puts them, ``data.railguard.config``, never into ``input``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guardrails.canonical import canonicalise
from guardrails.coverage import Coverage
from guardrails.engines import PolicySet, create_engine, test_engine
from guardrails.engines.base import PolicyEngine, config_data, config_revision
from guardrails.errors import EngineError, InputError, PolicyError
from guardrails.model import Verdict
from guardrails.pipeline import TOOL_CALL_PACKAGE
from guardrails.stages.base import StageOutcome
from guardrails.stages.policy import PolicyStage

_PACKAGE = re.compile(r"^\s*package\s+([\w.]+)", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_\w+)\b", re.MULTILINE)


@dataclass(frozen=True)
class TestOutcome:
    name: str
    passed: bool
    detail: str = ""


def rego_tests(policies: PolicySet) -> Iterator[tuple[str, str]]:
    """``(package, rule)`` for every ``test_*`` rule in the ``*_test.rego`` files, in file order."""
    for module in policies.tests:
        package = _PACKAGE.search(module.source)
        if package is None:
            continue
        seen: set[str] = set()
        for rule in _TEST_RULE.findall(module.source):
            if rule not in seen:
                seen.add(rule)
                yield package.group(1), rule


def run_rego_tests(policies: PolicySet, engine_name: str | None = None) -> list[TestOutcome]:
    """Evaluate every ``test_*`` rule; on OPA when installed, else regorus (both run ``with``)."""
    engine = create_engine(engine_name or test_engine(), pool_size=1)
    if not engine.supports_with:
        raise PolicyError(f"the {engine.name} engine cannot run *_test.rego files", code="engine_unavailable")
    engine.prepare(policies, with_tests=True)
    outcomes = []
    for package, rule in rego_tests(policies):
        name = f"data.{package}.{rule}"
        try:
            defined, value = engine.document(name, {})
        except EngineError as exc:
            outcomes.append(TestOutcome(name, False, f"error: {exc}"))
            continue
        if value is True:
            outcomes.append(TestOutcome(name, True))
        else:
            outcomes.append(TestOutcome(name, False, "undefined" if not defined else f"got {value!r}"))
    return outcomes


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    input: Any
    verdict: str
    codes: tuple[str, ...]


def load_cases(root: str | Path) -> list[Case]:
    cases: list[Case] = []
    for path in sorted(Path(root).glob("cases/*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            base = data.get("base", {})
            for entry in data["cases"]:
                expect = entry["expect"]
                document = deep_merge(base, entry.get("input", {}))
                for dotted in entry.get("remove", []):
                    document = without(document, dotted.split("."))
                cases.append(
                    Case(
                        name=entry["name"],
                        file=path.name,
                        input=document,
                        verdict=expect["verdict"],
                        codes=tuple(sorted(expect.get("codes", []))),
                    )
                )
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise PolicyError(
                f"malformed decision-case file: {exc!r}", location=str(path), code="case_file_invalid"
            ) from None
    return cases


def deep_merge(base: Any, over: Any) -> Any:
    """Objects merge recursively; anything else in ``over`` replaces what ``base`` had."""
    if isinstance(base, Mapping) and isinstance(over, Mapping):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return over


def without(document: Any, path: list[str]) -> Any:
    """A copy of ``document`` with the key at ``path`` removed: how a case says "this field is missing"."""
    if not isinstance(document, Mapping) or path[0] not in document:
        return document
    head, rest = path[0], path[1:]
    copy = dict(document)
    if rest:
        copy[head] = without(copy[head], rest)
    else:
        del copy[head]
    return copy


def split_config(document: Any) -> tuple[Any, dict[str, Any]]:
    """``(input, config)`` of a test document that carries the config beside the input."""
    if not isinstance(document, Mapping):
        return document, {}
    config = document.get("config", {})
    return {k: v for k, v in document.items() if k != "config"}, dict(config) if isinstance(config, Mapping) else {}


def decide(stage: PolicyStage, raw_input: Any) -> StageOutcome:
    """The Guard's policy path for a ready-made input document: canonicalise, evaluate, interpret."""
    try:
        document = canonicalise(raw_input)
    except InputError as exc:
        return StageOutcome.deny(exc.code, exc.message, "railguard.canonical")
    return stage.run(document)


def run_cases(
    policies: PolicySet, engine: PolicyEngine | str, cases: list[Case], coverage: Coverage | None = None
) -> list[tuple[Case, StageOutcome]]:
    """Decide every case; the engine is prepared once per distinct config (its ``data``).
    ``coverage`` counts the rules each case fired."""
    engine = create_engine(engine, pool_size=1) if isinstance(engine, str) else engine
    groups: dict[str, list[int]] = {}
    configs: dict[str, dict[str, Any]] = {}
    for index, case in enumerate(cases):
        _, config = split_config(case.input)
        revision = config_revision(config)
        configs[revision] = config
        groups.setdefault(revision, []).append(index)
    outcomes: list[StageOutcome | None] = [None] * len(cases)
    for revision, members in groups.items():
        try:
            engine.prepare(policies, config_data(canonicalise(configs[revision])))
        except InputError as exc:
            for index in members:
                outcomes[index] = StageOutcome.deny(exc.code, exc.message, "railguard.canonical")
            continue
        stage = PolicyStage(engine, TOOL_CALL_PACKAGE)
        problems = stage.config_errors()
        for index in members:
            # With config errors the Guard refuses to start: nothing is allowed.
            refused = StageOutcome(Verdict.DENY, problems) if problems else None
            document = split_config(cases[index].input)[0]
            outcomes[index] = refused or decide(stage, document)
            if coverage is not None and refused is None:
                coverage.record(engine, document, outcomes[index] or StageOutcome())
    return [(case, outcome) for case, outcome in zip(cases, outcomes, strict=True) if outcome is not None]


def case_outcome(case: Case, outcome: StageOutcome) -> TestOutcome:
    verdict = outcome.verdict.value if outcome.verdict is not Verdict.ALLOW else "allow"
    got = tuple(sorted(r.code for r in outcome.reasons))
    name = f"{case.file}::{case.name}"
    if verdict == case.verdict and got == case.codes:
        return TestOutcome(name, True)
    return TestOutcome(name, False, f"expected {case.verdict} {list(case.codes)}, got {verdict} {list(got)}")
