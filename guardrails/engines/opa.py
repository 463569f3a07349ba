"""The real OPA engine, in-process, through ``opa-golib-python-bindings`` (OPA v1.x).

It is OPA itself: exact big integers, OPA's type ordering, input passed per call
(no stale input), thread-safe, ``with`` works, ``print`` goes to stderr. It is the
embedded default when installed and the reference oracle of the parity suite.
The package declares Python >= 3.14 but runs on 3.11: install it with
``pip install --ignore-requires-python opa-golib-python-bindings``.
"""

from __future__ import annotations

import os
import queue
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from guardrails.engines.base import PolicyAnswer, PolicyModule, PolicySet, answer_from, decision_query, location_from
from guardrails.errors import EngineError, PolicyError

# Tuning note: the Go runtime inside the library reads GOGC from the environment the
# process started with (setting os.environ here is too late; measured). GOGC=400 halves
# the engine's p99 on the bundled policies (about 2.0 -> 1.0 ms) at an unchanged p50.
# Set it where the process is launched; see README "Benchmark".

try:  # optional: the engine is chosen at start-up, the import must not break the core
    import opa_bindings
except ImportError:  # pragma: no cover - exercised where the package is absent
    opa_bindings = None


_DECIDING = re.compile(r"^(deny|escalate|allow)\b")


def available() -> bool:
    return opa_bindings is not None


class OpaEmbeddedEngine:
    """The real OPA engine. One native engine serialises its calls, so a small pool of them
    serves threads in parallel (the native call releases the GIL): measured on the bundled
    policies, 2 engines and 2 threads give 1.8x the throughput of one."""

    name = "opa"
    supports_with = True

    def __init__(self, pool_size: int | None = None) -> None:
        if opa_bindings is None:
            raise PolicyError(
                "the OPA engine is not installed: pip install --ignore-requires-python opa-golib-python-bindings",
                code="engine_unavailable",
            )
        self.pool_size = pool_size or min(4, os.cpu_count() or 1)
        self._pool: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._revision = ""
        self._queries: dict[str, str] = {}

    def prepare(self, policies: PolicySet, data: Mapping[str, Any] | None = None, *, with_tests: bool = False) -> None:
        modules = policies.modules + (policies.tests if with_tests else ())
        engines = [self._compile(modules, data) for _ in range(self.pool_size)]
        pool: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for engine in engines:
            pool.put(engine)
        self._pool = pool
        self._revision = policies.revision
        self._queries.clear()

    @staticmethod
    def _compile(modules: tuple[PolicyModule, ...], data: Mapping[str, Any] | None) -> Any:
        engine = opa_bindings.OpaEngine()
        for module in modules:
            try:
                engine.add_policy(module.name, module.source)
            except opa_bindings.OpaError as exc:
                text = str(exc)
                raise PolicyError(text, location=location_from(text) or module.name) from None
        if data:
            try:
                engine.add_data(dict(data))
            except opa_bindings.OpaError as exc:  # e.g. data that collides with a package's rules
                raise PolicyError(f"data cannot be loaded: {exc}", code="policy_data_invalid") from None
        # Compile errors that parsing does not catch (type errors, conflicts) surface on
        # the first evaluation: make that happen now, at start-up, not on a live call.
        try:
            engine.eval_query("x := 1", {})
        except opa_bindings.OpaError as exc:
            text = str(exc)
            raise PolicyError(text, location=location_from(text)) from None
        return engine

    @contextmanager
    def _engine(self) -> Iterator[Any]:
        engine = self._pool.get()  # blocks while every engine is busy
        try:
            yield engine
        finally:
            self._pool.put(engine)

    def evaluate(self, package: str, input: Mapping[str, Any]) -> PolicyAnswer:
        query = self._queries.get(package)
        if query is None:
            query = self._queries[package] = decision_query(package)
        try:
            with self._engine() as engine:
                rows = engine.eval_query(query, input)
        except Exception as exc:  # every failure of the engine is an error verdict, never an allow
            raise EngineError(f"opa: {exc}") from exc
        if not isinstance(rows, list) or len(rows) != 1 or not isinstance(rows[0], dict):
            raise EngineError(f"opa: unexpected result set {str(rows)[:200]}")
        return answer_from(rows[0].get("x"))

    def fired_rules(self, package: str, input: Mapping[str, Any]) -> list[tuple[str, str]]:
        """``(file:line, head)`` of every deny/escalate/allow body that succeeded: for ``policy explain``."""
        query = decision_query(package)
        with self._engine() as engine:
            engine.eval_query(query, input, trace=True)
            trace = engine.last_trace or []
        fired: dict[tuple[str, str], None] = {}
        for event in trace:
            location, node = str(event.get("location", "")), str(event.get("node", ""))
            head = node.split(" if ", 1)[0]
            if event.get("op") == "Exit" and ".rego:" in location and _DECIDING.match(head):
                fired[(location, head)] = None
        return list(fired)

    def document(self, path: str, input: Mapping[str, Any]) -> tuple[bool, Any]:
        try:
            with self._engine() as engine:
                return True, engine.eval_document(path.removeprefix("data."), input)
        except opa_bindings.OpaUndefinedError:
            return False, None
        except Exception as exc:
            raise EngineError(f"opa: {exc}") from exc

    @property
    def revision(self) -> str:
        return self._revision
