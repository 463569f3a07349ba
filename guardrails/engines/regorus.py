"""The Rust Rego engine regorus, through ``gordon-to-regorus`` (``import regorus``).

OPA's type ordering, ``with`` works, evaluation about as fast as the OPA engine. Every
hazard measured in ENGINES.md (re-measured on 0.13.0) is neutralised here, not left to
callers:

* the native engine is "unsendable": used, cloned or dropped from a thread other than
  the one that created it, it raises ``pyo3_runtime.PanicException``, a ``BaseException``
  that escapes ``except Exception`` (and ``clone()`` does not help: a clone belongs to
  the cloning thread). Compiled state is therefore kept per thread: each thread builds
  its own engine from the stored sources and data on first use, and drops it itself
  (see ``_PER_THREAD``). Every native call turns a panic into :class:`EngineError`
  (``KeyboardInterrupt``/``SystemExit`` pass).
* a failed ``set_input_json`` keeps the previous input: input is set on every call, and
  after any failure that thread's engine is discarded and re-cloned from a pristine,
  already analysed template that never holds input (a clone costs microseconds).
* ``eval_rule`` returns the string ``"<undefined>"`` and ``eval_query`` raises TypeError
  on sets of objects: queries bind ``x`` to comprehensions (undefined is ``[]``, false is
  ``[false]``) and results are read with ``eval_query_as_json``; sets come back as lists.
* errors are ``RuntimeError`` texts with a Rust backtrace and a copy of the source line:
  they are cut to ``file:line:col: message`` (at most 300 characters).
* regorus reports unknown functions and rule conflicts only when a rule is evaluated:
  prepare evaluates every policy package once with an empty input, so they stop start-up.
* ``print()`` output is gathered, never written to fd 1 (its default is fd 2); it is
  discarded unless an ``on_print`` handler is given.
* numbers: ``set_input_json`` turns integers from 2^64 on into floats and refuses
  ``10**400``-sized ones; canonicalisation refuses integers beyond 2^53 before any engine,
  and any failure here is an :class:`EngineError`.
* policy limits: a module over 20,000 lines, 1 MiB or with a line over 1,024 columns is
  refused at prepare, with its location.
* the engine holds the GIL while it evaluates: threads get correctness, not parallelism.
* Rego divergence from OPA (bundled tests, 134 of 135 agree): ``some x in "a string"`` is an
  evaluation error here (an ``error`` verdict), undefined in OPA.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from guardrails.engines import opa
from guardrails.engines.base import (
    PolicyAnswer,
    PolicyModule,
    PolicySet,
    answer_from,
    decision_query,
    location_from,
    package_ref,
)
from guardrails.errors import EngineError, PolicyError

try:  # optional: the engine is chosen at start-up, the import must not break the core
    import regorus
except ImportError:  # pragma: no cover - exercised where the package is absent
    regorus = None

_MAX_MESSAGE = 300
_WHERE = re.compile(r"-->\s*(\S+)")
_ERROR_LINE = re.compile(r"^error: (.+)$", re.MULTILINE)
_PACKAGE_REF = re.compile(r"^data(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def available() -> bool:
    return regorus is not None


class NativeError(EngineError):
    """A failure inside regorus: ``detail`` is its text without backtrace, ``location`` ``file:line``."""

    def __init__(self, detail: str, *, where: str | None = None) -> None:
        message = f"regorus: {where}: {detail}" if where else f"regorus: {detail}"
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 3] + "..."
        super().__init__(message)
        self.detail = detail[:_MAX_MESSAGE]
        self.location = location_from(where) if where else None


def _is_panic(exc: BaseException) -> bool:
    # pyo3_runtime is not an importable module: recognise the class by its name.
    kind = type(exc)
    return kind.__name__ == "PanicException" and kind.__module__ == "pyo3_runtime"


def native(call: Callable[..., Any], *args: Any) -> Any:
    """Call into regorus; every failure, a Rust panic included, becomes a :class:`NativeError`."""
    try:
        return call(*args)
    except Exception as exc:
        error = _native_error(exc)  # not chained: the cause would carry the Rust backtrace
    except BaseException as exc:
        if not _is_panic(exc):
            raise  # KeyboardInterrupt, SystemExit, GeneratorExit
        error = _native_error(exc, "native panic: ")
    # Raised outside the handler, and with this frame's references dropped: a traceback that
    # kept `call` (a method of a native engine) alive in a reference cycle would let the cyclic
    # GC free the engine on another thread, which regorus refuses (a leak and a stderr report).
    try:
        raise error from None
    finally:
        del error, call, args


def _native_error(exc: BaseException, prefix: str = "") -> NativeError:
    """Keep the ``error:`` lines and the ``--> file:line:col`` of regorus's report, drop the rest."""
    text = str(exc).split("Stack backtrace:", 1)[0]
    where = _WHERE.search(text)
    errors = _ERROR_LINE.findall(text)
    if errors:
        detail = "; ".join(e.strip() for e in errors)
    else:  # not a located report (input JSON errors, panics): its first lines, whitespace folded
        detail = " ".join(text.split()) or type(exc).__name__
    return NativeError(prefix + detail, where=where.group(1) if where else None)


@dataclass(frozen=True)
class _Compiled:
    """What every thread builds its own engine from."""

    modules: tuple[PolicyModule, ...]  # policies first, then tests when prepared with them
    policy_count: int
    data_json: str | None


class _ThreadState:
    """One thread's native engines for one :class:`RegorusEngine`."""

    __slots__ = ("compiled", "engine", "template")

    def __init__(self) -> None:
        self.compiled: _Compiled | None = None
        self.template: Any = None  # compiled and analysed, never given input: clones start clean
        self.engine: Any = None  # a clone of template; discarded after any failure


class _PerThread(threading.local):
    def __init__(self) -> None:
        self.states: dict[int, tuple[weakref.ref[RegorusEngine], _ThreadState]] = {}


# Module-level and never collected: a native engine dropped by another thread than its own is
# leaked with a RuntimeError on stderr, which a per-instance threading.local would cause when
# a RegorusEngine is collected while threads that used it live on. Here each thread drops its
# own: when it exits, or when it next meets a new RegorusEngine and prunes collected ones.
_PER_THREAD = _PerThread()
_TOKENS = itertools.count()


def _build(compiled: _Compiled) -> tuple[Any, list[str]]:
    """A native engine for the calling thread, analysed; and the packages of the policies."""
    engine = native(regorus.Engine)
    native(engine.set_rego_v0, False)  # the default in 0.13; explicit against a changed default
    native(engine.set_gather_prints, True)  # otherwise print() writes to fd 2 from native code
    packages: list[str] = []
    for index, module in enumerate(compiled.modules):
        if index == compiled.policy_count:
            packages = list(native(engine.get_packages))
        try:
            native(engine.add_policy, module.name, module.source)
        except NativeError as exc:
            raise PolicyError(exc.detail, location=exc.location or module.name) from None
    if len(compiled.modules) == compiled.policy_count:
        packages = list(native(engine.get_packages))
    if compiled.data_json is not None:
        native(engine.add_data_json, compiled.data_json)
    # Analysis (unsafe variables, recursion) runs on the first evaluation: do it here, once,
    # so that clones of this engine start analysed and a broken policy fails at start-up.
    try:
        native(engine.eval_query_as_json, "x := 1")
    except NativeError as exc:
        raise PolicyError(exc.detail, location=exc.location) from None
    native(engine.take_prints)
    return engine, packages


def _binding(raw: Any) -> Any:
    """The value bound to ``x`` in exactly one result; anything else is an engine failure."""
    try:
        document = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise EngineError(f"regorus: the answer is not JSON: {exc}") from None
    results = document.get("result") if isinstance(document, dict) else None
    if not isinstance(results, list) or len(results) != 1 or not isinstance(results[0], dict):
        raise EngineError(f"regorus: expected one result, got {str(raw)[:200]}")
    bindings = results[0].get("bindings")
    if not isinstance(bindings, dict) or "x" not in bindings:
        raise EngineError(f"regorus: no binding for x in {str(raw)[:200]}")
    return bindings["x"]


class RegorusEngine:
    name = "regorus"
    supports_with = True

    def __init__(self, *, on_print: Callable[[str], None] | None = None) -> None:
        """``on_print`` receives each policy ``print()`` line (``file.rego:line: text``); default: discarded."""
        if regorus is None:
            raise PolicyError("regorus is not installed: pip install gordon-to-regorus", code="engine_unavailable")
        self._on_print = on_print
        self._compiled: _Compiled | None = None
        self._token = next(_TOKENS)
        self._revision = ""
        self._queries: dict[str, str] = {}

    def prepare(self, policies: PolicySet, data: Mapping[str, Any] | None = None, *, with_tests: bool = False) -> None:
        modules = policies.modules + (policies.tests if with_tests else ())
        try:
            data_json = None if data is None else json.dumps(data, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise PolicyError(f"policy data is not JSON: {exc}", code="policy_data_invalid") from None
        compiled = _Compiled(modules, len(policies.modules), data_json)
        # regorus checks rule safety lazily: an unsafe `deny contains x if { input.a }` passes
        # the start-up probe and is an evaluation error (an `error` verdict, fail closed) only
        # when its body first succeeds. OPA's compiler refuses it at start-up when installed.
        if opa.available():
            opa.OpaEmbeddedEngine(pool_size=1).prepare(policies, data, with_tests=with_tests)
        try:
            template, packages = _build(compiled)
            # regorus finds unknown functions and rule conflicts only when a rule is evaluated:
            # evaluate every policy package once, on a throw-away clone, so they stop start-up.
            probe = native(template.clone)
            for package in packages:
                if _PACKAGE_REF.match(package):  # get_packages() gives data.x.a-b for x["a-b"]
                    self._run(probe, f"x := {package}", {}, report_prints=False)
        except NativeError as exc:
            raise PolicyError(
                f"policies fail to evaluate on regorus: {exc.detail}", location=exc.location, code="policy_eval_error"
            ) from None
        except EngineError as exc:
            raise PolicyError(f"policies fail to evaluate on regorus: {exc}", code="policy_eval_error") from None
        # Only now, with everything checked, replace what threads build from. Other threads
        # notice the new _Compiled on their next call and rebuild in their own thread.
        state = self._state()
        state.engine = None
        state.template, state.compiled = template, compiled
        self._compiled = compiled
        self._revision = policies.revision
        self._queries.clear()

    def evaluate(self, package: str, input: Mapping[str, Any]) -> PolicyAnswer:
        query = self._queries.get(package)
        if query is None:
            query = self._queries[package] = decision_query(package)
        return answer_from(self._query(query, input))

    def document(self, path: str, input: Mapping[str, Any]) -> tuple[bool, Any]:
        ref = package_ref(path.removeprefix("data."))
        found = self._query(f"x := [v | v := {ref}]", input)
        if not isinstance(found, list) or len(found) > 1:
            raise EngineError(f"regorus: malformed answer for {ref}: {str(found)[:200]}")
        return (True, found[0]) if found else (False, None)

    @property
    def revision(self) -> str:
        return self._revision

    def _state(self) -> _ThreadState:
        states = _PER_THREAD.states
        entry = states.get(self._token)
        if entry is None:
            for token, (owner, _) in list(states.items()):
                if owner() is None:
                    del states[token]  # a collected RegorusEngine's natives, dropped in their own thread
            entry = states[self._token] = (weakref.ref(self), _ThreadState())
        return entry[1]

    def _engine(self) -> Any:
        """This thread's engine, built in this thread (the native engine must never cross threads)."""
        compiled = self._compiled
        if compiled is None:
            raise EngineError("regorus: evaluate called before prepare")
        state = self._state()
        if state.compiled is not compiled:
            state.engine = state.template = None  # dropped here, in the thread that made them
            try:
                state.template, _ = _build(compiled)
            except PolicyError as exc:  # prepare built the same sources: should not happen
                raise EngineError(f"regorus: cannot build this thread's engine: {exc}") from None
            state.compiled = compiled
        if state.engine is None:
            state.engine = native(state.template.clone)
        return state.engine

    def _query(self, query: str, input: Mapping[str, Any]) -> Any:
        engine = self._engine()
        try:
            return self._run(engine, query, input)
        except BaseException:
            # The engine may hold stale input or be half-broken: never query it again.
            self._state().engine = None
            raise

    def _run(self, engine: Any, query: str, input: Mapping[str, Any], *, report_prints: bool = True) -> Any:
        # JSON text, set on every call: a failed set keeps the previous input, so it raises here.
        try:
            text = json.dumps(input, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise EngineError(f"regorus: input is not JSON: {exc}") from None
        try:
            native(engine.set_input_json, text)
            raw = native(engine.eval_query_as_json, query)
        finally:
            prints = native(engine.take_prints)  # drained on every call, or they accumulate
        if report_prints and self._on_print is not None:
            try:
                for line in prints:
                    self._on_print(str(line))
            except Exception as exc:
                raise EngineError(f"regorus: print handler failed: {exc!r}") from None
        return _binding(raw)
