"""rego-cpp through ``regopy``: the engine a plain ``pip install`` always gets.

Every hazard measured in ENGINES.md is neutralised here, not left to callers:

* ``with`` (segfaults the process) and ``print`` (native code writes to fd 1, fatal
  for MCP stdio) are refused when policies are prepared, with ``file:line``;
  ``*_test.rego`` files run on the OPA engine instead.
* ``sprintf`` (found here by the parity suite, not in ENGINES.md): regopy does not know
  ``%q`` (refused at prepare), and a string that a builtin produced (``object.get``,
  ``lower``...) comes back with unescaped quotes, so the answer is not valid JSON. Such an
  answer is asked again for codes and sources only: the decision matches OPA's, only
  the message is lost (and says so). If that fails too, it is an ``error`` verdict.
* integers wrap as 64-bit C ints when passed as dicts: input goes in as JSON text,
  and canonicalisation has already refused integers beyond +/-2^53.
* a failed ``set_input_term`` keeps the previous input: after any exception the
  interpreter is discarded and rebuilt, and never queried again.
* sharing an interpreter across threads crashes: calls are serialised by a lock.
* ``false`` and undefined are conflated: the query binds a comprehension, so an
  undefined document is ``[]`` and ``false`` is ``[false]``.
* anything but a well-formed binding is an :class:`EngineError`.
* cross-type comparison order differs from OPA: arguments are schema-checked before
  policy, and the parity suite compares every decision case with real OPA.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from typing import Any

from guardrails.engines import opa
from guardrails.engines.base import (
    PolicyAnswer,
    PolicyModule,
    PolicySet,
    answer_from,
    decision_query,
    package_ref,
)
from guardrails.errors import EngineError, PolicyError

try:
    import regopy
except ImportError:  # pragma: no cover
    regopy = None

# Strings and comments are blanked before looking for forbidden keywords, so a
# message text that says "with" is not mistaken for the keyword.
_STRINGS = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`')
_COMMENT = re.compile(r"#.*")
_FORBIDDEN = re.compile(r"\bwith\b|\bprint\s*\(")
_QUOTED_VERB = re.compile(r'"(?:[^"\\\n]|\\.)*%q(?:[^"\\\n]|\\.)*"')
_ERROR_AT = re.compile(r"\(error \d+:([^|]+)\|(\d+)\|")


def available() -> bool:
    return regopy is not None


def forbidden_constructs(module: PolicyModule) -> list[str]:
    """``file:line: construct`` for each use of ``with``, ``print`` or ``%q`` in a module."""
    found = []
    for number, line in enumerate(module.source.splitlines(), start=1):
        code = _COMMENT.sub("", _STRINGS.sub('""', line))
        for match in _FORBIDDEN.finditer(code):
            found.append(f"{module.name}:{number}: {match.group(0).rstrip('(').strip()}")
        if _QUOTED_VERB.search(line.split("#", 1)[0]):
            found.append(f"{module.name}:{number}: sprintf %q")
    return found


class RegopyEngine:
    name = "regopy"
    supports_with = False

    def __init__(self) -> None:
        if regopy is None:
            raise PolicyError("regopy is not installed: pip install regopy", code="engine_unavailable")
        self._lock = threading.Lock()
        self._modules: tuple[PolicyModule, ...] = ()
        self._data: str | None = None
        self._interpreter: Any = None
        self._revision = ""
        self._queries: dict[str, str] = {}

    def prepare(self, policies: PolicySet, data: Mapping[str, Any] | None = None, *, with_tests: bool = False) -> None:
        if with_tests and policies.tests:
            raise PolicyError(
                "*_test.rego files use `with`, which crashes the regopy engine: run them on opa or regorus",
                location=policies.tests[0].name,
                code="policy_construct_refused",
            )
        for module in policies.modules:
            problems = forbidden_constructs(module)
            if problems:
                raise PolicyError(
                    f"'{problems[0].rsplit(': ', 1)[1]}' is refused by the regopy engine (it crashes the "
                    "process or writes to stdout); use the opa engine",
                    location=problems[0].rsplit(": ", 1)[0],
                    code="policy_construct_refused",
                )
        # rego-cpp accepts policies OPA refuses (unsafe variables, unknown functions,
        # recursion) and then evaluates the broken rule as undefined: a deny rule that can
        # never fire. Real OPA's compiler checks them at start-up when it is installed.
        if opa.available():
            opa.OpaEmbeddedEngine(pool_size=1).prepare(policies, data)
        self._modules = policies.modules
        self._data = json.dumps(dict(data), ensure_ascii=False, allow_nan=False) if data else None
        with self._lock:
            self._interpreter = self._build()
        # Without OPA, at least evaluate every rule once, so errors rego-cpp does report
        # (an unknown function) stop start-up instead of a live call.
        try:
            self._query("x := data", {})
        except _Unreadable:
            pass  # regopy's quoting bug, not the policy's: evaluate() re-asks for codes only
        except EngineError as exc:
            raise PolicyError(f"policies fail to evaluate on regopy: {exc}", code="policy_eval_error") from None
        self._revision = policies.revision
        self._queries.clear()

    def _build(self) -> Any:
        interpreter = regopy.Interpreter()
        interpreter.log_level = regopy.LogLevel.NONE  # parse reports otherwise go to fd 1
        for module in self._modules:
            try:
                interpreter.add_module(module.name, module.source)
            except regopy.RegoError as exc:
                raise PolicyError(_describe(str(exc), module), location=_location(str(exc), module)) from None
        if self._data is not None:
            try:
                interpreter.add_data_json(self._data)
            except regopy.RegoError as exc:
                raise PolicyError(f"data cannot be loaded: {exc}", code="policy_data_invalid") from None
        return interpreter

    def evaluate(self, package: str, input: Mapping[str, Any]) -> PolicyAnswer:
        query = self._queries.get(package)
        if query is None:
            query = self._queries[package] = decision_query(package)
        try:
            return answer_from(self._query(query, input))
        except _Unreadable:
            return self._codes_only(package, input)

    def _codes_only(self, package: str, input: Mapping[str, Any]) -> PolicyAnswer:
        """The decision without messages, for answers regopy could not serialise."""
        ref = package_ref(package)
        parts = {
            doc: f'"{doc}": {{"type": [type_name(d) | d := {ref}.{doc}], "count": [count(d) | d := {ref}.{doc}], '
            f'"entries": [[object.get(e, "code", null), object.get(e, "source", null)] | some e in {ref}.{doc}]}}'
            for doc in ("deny", "escalate")
        }
        answer = self._query(f'x := {{{parts["deny"]}, {parts["escalate"]}, "allow": [a | a := {ref}.allow]}}', input)
        try:
            return PolicyAnswer(
                deny=_rebuilt(answer["deny"]), escalate=_rebuilt(answer["escalate"]), allow=answer["allow"]
            )
        except (KeyError, TypeError) as exc:
            raise EngineError(f"regopy: malformed codes-only answer: {exc!r}") from exc

    def document(self, path: str, input: Mapping[str, Any]) -> tuple[bool, Any]:
        path = path if path.startswith("data.") else "data." + path
        found = self._query(f"x := [v | v := {path}]", input)
        if not isinstance(found, list):
            raise EngineError(f"regopy: malformed answer for {path}")
        return (True, found[0]) if found else (False, None)

    def _query(self, query: str, input: Mapping[str, Any]) -> Any:
        # JSON text, never a dict: the dict path wraps integers as 64-bit C ints.
        text = json.dumps(input, ensure_ascii=False, allow_nan=False)
        with self._lock:
            try:
                self._interpreter.set_input_term(text)
                output = self._interpreter.query(query)
                if not output.ok():
                    raise EngineError(f"regopy: evaluation failed: {str(output)[:200]}")
                binding = output.binding("x")
                if binding is None:
                    raise EngineError("regopy: no binding in the answer")
                return json.loads(str(binding))
            except json.JSONDecodeError as exc:  # raised inside regopy's own Output parsing
                # A JSON answer with broken quoting is re-asked for codes; anything else (regopy
                # returns its errors as S-expressions, e.g. "Function not found") is a failure.
                if exc.doc.lstrip().startswith("{"):
                    raise _Unreadable(f"regopy: answer is not valid JSON: {exc}") from exc
                self._interpreter = self._build()
                raise EngineError(f"regopy: evaluation failed: {' '.join(exc.doc.split())[:200]}") from exc
            except Exception as exc:
                # The interpreter may now hold stale input or be half-broken: never reuse it.
                self._interpreter = self._build()
                if isinstance(exc, EngineError):
                    raise
                raise EngineError(f"regopy: {type(exc).__name__}: {str(exc)[:200]}") from exc

    @property
    def revision(self) -> str:
        return self._revision


class _Unreadable(EngineError):
    """regopy produced an answer that is not valid JSON (the sprintf quoting bug)."""


_LOST = "message not available: the regopy engine could not serialise it"


def _rebuilt(doc: Mapping[str, Any]) -> list[Any]:
    """A deny/escalate document from its codes-only projection, keeping malformed ones malformed."""
    if not doc["type"]:
        return []  # undefined
    entries = doc["entries"]
    if doc["type"][0] not in ("set", "array") or len(entries) != doc["count"][0]:
        return ["malformed"]  # interpreted as policy_undefined, never as "nothing denies"
    rebuilt = []
    for code, source in entries:
        entry = {"code": code, "message": f"{code} ({_LOST})"}
        if source is not None:
            entry["source"] = source
        rebuilt.append(entry)
    return [rebuilt]


def _location(text: str, module: PolicyModule) -> str:
    match = _ERROR_AT.search(text)
    if not match:
        return module.name
    offset = int(match.group(2))
    line = module.source.encode("utf-8")[:offset].count(b"\n") + 1
    return f"{match.group(1)}:{line}"


def _describe(text: str, module: PolicyModule) -> str:
    messages = re.findall(r"\(errormsg \d+:([^)]*)\)", text)
    return "; ".join(dict.fromkeys(messages)) or f"{module.name}: cannot be compiled"
