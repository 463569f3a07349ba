"""The seam every policy engine fits: prepare once at start-up, evaluate per call.

An engine answers with the raw documents a package defines (``deny``, ``escalate``,
``allow``); turning them into a verdict is the policy stage's job, identical for
every engine, so engines cannot disagree on interpretation - only on Rego.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from guardrails.errors import PolicyError

TEST_SUFFIX = "_test.rego"


@dataclass(frozen=True)
class PolicyModule:
    name: str  # path relative to the policy root, used in error locations
    source: str


@dataclass(frozen=True)
class PolicySet:
    """The Rego modules of a deployment, split into policies and their OPA-style tests."""

    root: str
    modules: tuple[PolicyModule, ...]
    tests: tuple[PolicyModule, ...] = ()

    @property
    def revision(self) -> str:
        """A content hash of the policies (not the tests): stamped on every decision."""
        digest = hashlib.sha256()
        for module in sorted(self.modules, key=lambda m: m.name):
            digest.update(module.name.encode() + b"\0" + module.source.encode() + b"\0")
        return digest.hexdigest()[:16]

    @classmethod
    def load(cls, root: str | Path) -> PolicySet:
        """Read every ``*.rego`` under ``root``; a missing or empty directory is an error."""
        base = Path(root)
        if not base.is_dir():
            raise PolicyError(f"policy directory not found: {base}", code="policy_dir_missing")
        modules: list[PolicyModule] = []
        tests: list[PolicyModule] = []
        for path in sorted(base.rglob("*.rego")):
            name = path.relative_to(base).as_posix()
            try:
                source = path.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                raise PolicyError(f"not UTF-8 ({exc.reason})", location=name, code="policy_encoding") from None
            (tests if name.endswith(TEST_SUFFIX) else modules).append(PolicyModule(name, source))
        if not modules:
            raise PolicyError(f"no .rego policies in {base}", code="policy_dir_empty")
        return cls(str(base), tuple(modules), tuple(tests))

    @classmethod
    def from_sources(cls, sources: Mapping[str, str], root: str = "<memory>") -> PolicySet:
        modules = tuple(PolicyModule(n, s) for n, s in sources.items() if not n.endswith(TEST_SUFFIX))
        tests = tuple(PolicyModule(n, s) for n, s in sources.items() if n.endswith(TEST_SUFFIX))
        return cls(root, modules, tests)


@dataclass(frozen=True)
class PolicyAnswer:
    """Raw documents of one package for one input: each list holds 0 (undefined) or 1 value."""

    deny: list[Any]
    escalate: list[Any]
    allow: list[Any]


def decision_query(package: str) -> str:
    """One query for the three documents, so an input is parsed once per decision.

    ``[d | d := data.p.deny]`` keeps the raw value (or nothing when undefined) so the
    stage, not the engine, decides what a malformed or false answer means.
    """
    ref = package_ref(package)
    return (
        f'x := {{"deny": [d | d := {ref}.deny], "escalate": [e | e := {ref}.escalate], '
        f'"allow": [a | a := {ref}.allow]}}'
    )


_PACKAGE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def package_ref(package: str) -> str:
    if not _PACKAGE.match(package):
        raise PolicyError(f"not a Rego package name: {package!r}", code="policy_package_invalid")
    return "data." + package


def package_path(package: str, rule: str) -> str:
    return package_ref(package) + "." + rule


def defines(policies: PolicySet, package: str, rule: str) -> bool:
    """Whether a module of ``package`` has a rule named ``rule`` (read from the sources, so a rule
    that is undefined for an empty input still counts)."""
    in_package = re.compile(rf"^\s*package\s+{re.escape(package)}\s*$", re.MULTILINE)
    head = re.compile(rf"^{re.escape(rule)}\b", re.MULTILINE)
    return any(in_package.search(m.source) and head.search(m.source) for m in policies.modules)


def answer_from(value: Any) -> PolicyAnswer:
    """Check the shape of an engine's binding; anything unexpected is an engine failure."""
    from guardrails.errors import EngineError

    if not isinstance(value, Mapping) or not all(isinstance(value.get(k), list) for k in ("deny", "escalate", "allow")):
        raise EngineError(f"engine returned a malformed answer: {str(value)[:200]}")
    return PolicyAnswer(deny=value["deny"], escalate=value["escalate"], allow=value["allow"])


def config_data(config: Mapping[str, Any]) -> dict[str, Any]:
    """The base document the deployment's parameters are loaded as: ``data.railguard.config``.

    Parameters are OPA's ``data``, not ``input``: the engine parses its input on every
    call (~60-100 ns per byte), and half of the input bytes used to be this config.
    """
    return {"railguard": {"config": dict(config)}}


def config_revision(config: Mapping[str, Any]) -> str:
    """A content hash of the canonical config: stamped on every decision, so replay stays exact."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@runtime_checkable
class PolicyEngine(Protocol):
    """A Rego engine. Embedded engines and an OPA server both fit.

    ``evaluate`` raises :class:`guardrails.errors.EngineError` on any failure; it never
    returns a partial answer. ``document`` returns ``(defined, value)`` for one rule.
    """

    name: str
    supports_with: bool  # can run OPA-style ``*_test.rego`` files (``with input as``)

    def prepare(self, policies: PolicySet, data: Mapping[str, Any] | None = None, *, with_tests: bool = False) -> None:
        """Compile ``policies`` (and their tests) and load ``data`` at the root of ``data``."""
        ...

    def evaluate(self, package: str, input: Mapping[str, Any]) -> PolicyAnswer: ...

    def document(self, path: str, input: Mapping[str, Any]) -> tuple[bool, Any]: ...

    @property
    def revision(self) -> str: ...


_LOCATION = re.compile(r"([^\s:]+\.rego):(\d+)(?::(\d+))?")


def location_from(message: str) -> str | None:
    """Find ``file.rego:line`` in an engine's error text."""
    match = _LOCATION.search(message)
    return f"{match.group(1)}:{match.group(2)}" if match else None
