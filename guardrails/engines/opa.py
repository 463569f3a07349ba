"""The real OPA engine, in-process, through ``opa-golib-python-bindings`` (OPA v1.x).

It is OPA itself: exact big integers, OPA's type ordering, input passed per call
(no stale input), thread-safe, ``with`` works, ``print`` goes to stderr. It is the
embedded default when installed and the reference oracle of the parity suite.
The package declares Python >= 3.14 but runs on 3.11: install it with
``pip install --ignore-requires-python opa-golib-python-bindings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardrails.engines.base import PolicyAnswer, PolicySet, answer_from, decision_query, location_from
from guardrails.errors import EngineError, PolicyError

# Tuning note: the Go runtime inside the library reads GOGC from the environment the
# process started with (setting os.environ here is too late; measured). GOGC=400 halves
# the engine's p99 on the bundled policies (about 2.0 -> 1.0 ms) at an unchanged p50.
# Set it where the process is launched; see README "Benchmark".

try:  # optional: the engine is chosen at start-up, the import must not break the core
    import opa_bindings
except ImportError:  # pragma: no cover - exercised where the package is absent
    opa_bindings = None


def available() -> bool:
    return opa_bindings is not None


class OpaEmbeddedEngine:
    name = "opa"
    supports_with = True

    def __init__(self) -> None:
        if opa_bindings is None:
            raise PolicyError(
                "the OPA engine is not installed: pip install --ignore-requires-python opa-golib-python-bindings",
                code="engine_unavailable",
            )
        self._engine: Any = None
        self._revision = ""
        self._queries: dict[str, str] = {}

    def prepare(self, policies: PolicySet, *, with_tests: bool = False) -> None:
        engine = opa_bindings.OpaEngine()
        modules = policies.modules + (policies.tests if with_tests else ())
        for module in modules:
            try:
                engine.add_policy(module.name, module.source)
            except opa_bindings.OpaError as exc:
                text = str(exc)
                raise PolicyError(text, location=location_from(text) or module.name) from None
        # Compile errors that parsing does not catch (type errors, conflicts) surface on
        # the first evaluation: make that happen now, at start-up, not on a live call.
        try:
            engine.eval_query("x := 1", {})
        except opa_bindings.OpaError as exc:
            text = str(exc)
            raise PolicyError(text, location=location_from(text)) from None
        self._engine = engine
        self._revision = policies.revision
        self._queries.clear()

    def evaluate(self, package: str, input: Mapping[str, Any]) -> PolicyAnswer:
        query = self._queries.get(package)
        if query is None:
            query = self._queries[package] = decision_query(package)
        try:
            rows = self._engine.eval_query(query, input)
        except Exception as exc:  # every failure of the engine is an error verdict, never an allow
            raise EngineError(f"opa: {exc}") from exc
        if not isinstance(rows, list) or len(rows) != 1 or not isinstance(rows[0], dict):
            raise EngineError(f"opa: unexpected result set {str(rows)[:200]}")
        return answer_from(rows[0].get("x"))

    def document(self, path: str, input: Mapping[str, Any]) -> tuple[bool, Any]:
        try:
            return True, self._engine.eval_document(path.removeprefix("data."), input)
        except opa_bindings.OpaUndefinedError:
            return False, None
        except Exception as exc:
            raise EngineError(f"opa: {exc}") from exc

    @property
    def revision(self) -> str:
        return self._revision
