"""Policies evaluated by an OPA server (``opa run --server``) over its REST API, with opa-python-client.

Two modes, chosen at construction:

* ``push`` (default): at ``prepare`` Railguard loads its policies into the server (Policy API,
  ``PUT /v1/policies/railguard/<file>``; modules it loaded earlier and no longer has are
  deleted) and the deployment's parameters (Data API, ``PUT /v1/data/railguard/config``).
  The revision is the policy set's, as with the embedded engines. For an OPA sidecar that
  belongs to one Railguard process: a push is not atomic.
* ``served``: the server already serves the policies (``opa run --server /policies``, or a
  bundle). With ``bundle="<name>"`` the revision is that bundle's manifest revision
  (``data.system.bundles[<name>].manifest.revision``), refreshed from OPA's provenance on
  every decision; without, it is a content hash of every module the server serves, taken
  at ``prepare``. ``data.railguard.config`` must equal the deployment's parameters, or be
  absent (then it is written).

Per decision: ``POST /v1/data/<package>`` with ``{"input": ...}`` on one kept-alive session;
``deny``/``escalate``/``allow`` are read from the package document in ``result``. Every
failure is declared:

==========================================  ===================================================
200 without ``result`` (undefined)           an empty answer: the stage denies ``policy_undefined``
500 "error(s) occurred while evaluating"     ``engine_error`` (the code embedded engines give)
other HTTP status                            ``opa_http_error``
no answer within ``timeout_s``               ``opa_timeout``
refused, reset or dropped connection         ``opa_unavailable``
a body that is not a JSON object             ``opa_bad_response``
``failure_threshold`` outages in a row       ``opa_circuit_open`` until a probe succeeds
==========================================  ===================================================

An *outage* (unavailable, timeout, 5xx other than an evaluation error, bad response, circuit
open) counts towards the circuit breaker and may fail open for the tools listed in
``fail_open_tools``. Evaluation errors and 4xx answers do neither: the server is up, and an
input that makes a policy fail must not be a way to open the breaker or to fail open.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from guardrails import codes
from guardrails.engines.base import PolicyAnswer, PolicyModule, PolicySet, package_ref
from guardrails.errors import EngineError, PolicyError

try:  # optional: pip install "railguard[opa-server]"
    # The sync client comes with requests; importing the package also imports its asyncio
    # client and with it aiohttp (~0.1 s): this module is imported only when chosen.
    import requests  # type: ignore[import-untyped,unused-ignore]
    from opa_client import OpaClient  # type: ignore[import-untyped,unused-ignore]
    from opa_client.errors import DeletePolicyError, RegoParseError  # type: ignore[import-untyped,unused-ignore]
except ImportError:  # pragma: no cover - exercised where the package is absent
    OpaClient = None

DEFAULT_URL = "http://localhost:8181"
MODES = ("push", "served")
POLICY_PREFIX = "railguard/"  # the ids of the modules Railguard pushes: its own, to replace or delete
_EVALUATION_FAILED = "error(s) occurred while evaluating query"  # OPA's message for topdown errors


def available() -> bool:
    return OpaClient is not None


class OpaServerError(EngineError):
    """The server gave no decision. ``outage``: it failed (counts towards the breaker, may fail open)."""

    def __init__(self, message: str, *, code: str, outage: bool, location: str | None = None) -> None:
        super().__init__(message, code=code)
        self.outage = outage
        self.location = location


@dataclass(frozen=True)
class FailOpenAnswer(PolicyAnswer):
    """``allow`` for a tool that opted into fail-open; ``fail_open`` is the outage it stands in for.

    The policy stage turns it into a pass that carries a ``fail_open`` finding, so the
    decision (ledger, logs) says the call went without a policy decision, and why.
    """

    fail_open: EngineError


class CircuitBreaker:
    """Closed until ``threshold`` outages in a row; then open (calls refused) for ``cooldown_s``;
    then half-open: one probe goes through, and its outcome closes or re-opens the breaker.

    Thread-safe; ``clock`` is injectable for tests (monotonic seconds).
    """

    def __init__(self, threshold: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if threshold < 1 or cooldown_s < 0:
            raise ValueError("the breaker needs threshold >= 1 and cooldown_s >= 0")
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        """``closed``, ``open``, or ``half_open`` (the cool-down is over: the next call, or the
        one in flight, is the probe). For a metric."""
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._probing or self._clock() - self._opened_at >= self.cooldown_s:
                return "half_open"
            return "open"

    def admit(self) -> bool | None:
        """May a call go? ``None``: refused; ``True``: it goes as the probe; ``False``: it goes normally."""
        with self._lock:
            if self._opened_at is None:
                return False
            if self._probing or self._clock() - self._opened_at < self.cooldown_s:
                return None
            self._probing = True
            return True

    def record(self, *, outage: bool, probe: bool) -> None:
        with self._lock:
            if probe:
                self._probing = False
                self._failures = 0
                self._opened_at = self._clock() if outage else None
            elif self._opened_at is not None:
                pass  # a call admitted before the breaker opened: the probe decides, not stragglers
            elif outage:
                self._failures += 1
                if self._failures >= self.threshold:
                    self._opened_at = self._clock()
            else:
                self._failures = 0

    def retry_in(self) -> float:
        with self._lock:
            opened = self._opened_at
            return 0.0 if opened is None else max(0.0, self.cooldown_s - (self._clock() - opened))


class OpaServerEngine:
    """An OPA server as the policy engine.

    >>> engine = OpaServerEngine("http://127.0.0.1:8181", timeout_s=0.5, fail_open_tools={"lookup_customer"})
    ... # doctest: +SKIP
    >>> Guard(policies=PolicySet.load("policies"), tools=..., ledger=..., engine=engine)  # doctest: +SKIP
    """

    name = "opa-server"
    supports_with = True  # it is OPA: *_test.rego with `with input as` run on it

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout_s: float = 0.5,
        mode: str = "push",
        bundle: str | None = None,
        fail_open_tools: Iterable[str] = (),
        failure_threshold: int = 5,
        cooldown_s: float = 10.0,
        setup_timeout_s: float = 10.0,
        token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if OpaClient is None:
            raise PolicyError(
                "the OPA server engine needs opa-python-client: pip install 'railguard[opa-server]'",
                code="engine_unavailable",
            )
        if not timeout_s > 0 or not setup_timeout_s > 0:
            raise PolicyError("opa-server timeouts must be positive", code="engine_options_invalid")
        if mode not in MODES:
            raise PolicyError(f"opa-server mode must be one of {MODES}, got {mode!r}", code="engine_options_invalid")
        if bundle is not None and (mode != "served" or not bundle):
            raise PolicyError("opa-server bundle: the name of a bundle, in served mode", code="engine_options_invalid")
        self.url = url
        self._host, self._port, self._tls = _parse_url(url)
        self.timeout_s = timeout_s
        self.setup_timeout_s = setup_timeout_s
        self.mode = mode
        self.bundle = bundle
        self.fail_open_tools = frozenset(fail_open_tools)
        self._token = token
        self._breaker = CircuitBreaker(failure_threshold, cooldown_s, clock)
        # One client, one requests.Session, kept alive across decisions. retries=0: the client's
        # default (2 retries with back-off, connect errors included) turns one refused connection
        # into ~0.6 s; on the decision path the breaker, not a retry loop, handles an outage.
        self._client = self._new_client(timeout_s, retries=0)
        self._revision = ""
        self._paths: dict[str, str] = {}

    # -- start-up ---------------------------------------------------------------------------
    def prepare(self, policies: PolicySet, data: Mapping[str, Any] | None = None, *, with_tests: bool = False) -> None:
        """Push ``policies`` and ``data`` (push mode), or check what the server serves (served mode)."""
        # Its own short-lived client: a longer timeout, and the client's retries (PUT and DELETE
        # are idempotent), without touching the decision path's session.
        admin = self._new_client(self.setup_timeout_s, retries=2)
        try:
            if self.mode == "push":
                _push_policies(admin, policies.modules + (policies.tests if with_tests else ()))
                for path, value in _data_documents(data or {}):
                    _setup(f"load data.{path.replace('/', '.')}", admin.update_or_create_data, value, path)
                revision = policies.revision
            else:
                revision = _served_revision(admin) if self.bundle is None else _bundle_revision(admin, self.bundle)
                if data:
                    _check_served_data(admin, data)
        finally:
            admin.close_connection()
        self._revision = revision

    # -- decisions ----------------------------------------------------------------------------
    def evaluate(self, package: str, input: Mapping[str, Any]) -> PolicyAnswer:
        try:
            defined, document = self._query(package, input, provenance=self.bundle is not None)
        except OpaServerError as exc:
            if exc.outage and _tool(input) in self.fail_open_tools:
                return FailOpenAnswer(deny=[], escalate=[], allow=[True], fail_open=exc)
            raise
        # A package document that is not an object has no deny/escalate/allow: undefined, as on
        # the embedded engines (they query data.<package>.deny and find nothing).
        if not defined or not isinstance(document, dict):
            return PolicyAnswer(deny=[], escalate=[], allow=[])
        return PolicyAnswer(
            deny=_present(document, "deny"), escalate=_present(document, "escalate"), allow=_present(document, "allow")
        )

    def document(self, path: str, input: Mapping[str, Any]) -> tuple[bool, Any]:
        """One rule's value. Read at start-up (``needs``, ``config_errors``) and by tools, not per
        decision: with ``setup_timeout_s`` and outside the breaker."""
        admin = self._new_client(self.setup_timeout_s, retries=0)
        try:
            body = self._post(admin, _server_path(path.removeprefix("data.")), input, provenance=False)
        finally:
            admin.close_connection()
        return ("result" in body), body.get("result")

    @property
    def revision(self) -> str:
        return self._revision

    @property
    def breaker_state(self) -> str:
        """``closed`` | ``open`` | ``half_open``: export it as a metric."""
        return self._breaker.state

    def close(self) -> None:
        self._client.close_connection()

    # -- a decision over HTTP -------------------------------------------------------------------
    def _query(self, package: str, input: Mapping[str, Any], *, provenance: bool) -> tuple[bool, Any]:
        path = self._paths.get(package)
        if path is None:
            path = self._paths[package] = _server_path(package)
        probe = self._breaker.admit()
        if probe is None:
            raise OpaServerError(
                f"opa-server: circuit open after {self._breaker.threshold} failures in a row; "
                f"next probe in {self._breaker.retry_in():.1f}s",
                code=codes.OPA_CIRCUIT_OPEN,
                outage=True,
            )
        outage = True  # anything unforeseen, an interrupt included, counts against the server
        try:
            body = self._post(self._client, path, input, provenance)
            outage = False
        except OpaServerError as exc:
            outage = exc.outage
            raise
        finally:
            self._breaker.record(outage=outage, probe=probe)
        if provenance:
            self._note_revision(body)
        return ("result" in body), body.get("result")

    def _post(self, client: Any, path: str, input: Mapping[str, Any], provenance: bool) -> dict[str, Any]:
        params = {"provenance": "true"} if provenance else None
        try:
            body = client.query_rule(input, path, query_params=params)
        except requests.exceptions.JSONDecodeError as exc:  # first: it is an InvalidJSONError too
            raise OpaServerError(
                f"opa-server: the answer is not JSON: {exc}", code=codes.OPA_BAD_RESPONSE, outage=True
            ) from None
        except requests.exceptions.InvalidJSONError as exc:  # the input: canonicalisation should prevent it
            raise OpaServerError(
                f"opa-server: input is not JSON: {exc}", code=codes.ENGINE_ERROR, outage=False
            ) from None
        except requests.exceptions.Timeout:  # before ConnectionError: ConnectTimeout is both
            raise OpaServerError(
                f"opa-server: no answer from {self.url} within {client.timeout}s", code=codes.OPA_TIMEOUT, outage=True
            ) from None
        except requests.exceptions.HTTPError as exc:
            raise _http_error(exc.response) from None
        except requests.exceptions.RequestException as exc:  # refused, reset, closed mid-answer
            raise OpaServerError(
                f"opa-server: {self.url} unavailable: {type(exc).__name__}: {str(exc)[:200]}",
                code=codes.OPA_UNAVAILABLE,
                outage=True,
            ) from None
        if not isinstance(body, dict):
            raise OpaServerError(
                f"opa-server: the answer is not a JSON object: {str(body)[:200]}",
                code=codes.OPA_BAD_RESPONSE,
                outage=True,
            )
        return body

    def _note_revision(self, body: Mapping[str, Any]) -> None:
        # OPA reports the revision it evaluated with; a new bundle activates between polls.
        # The decision in flight was stamped before this call; the next one gets the new revision.
        provenance = body.get("provenance")
        bundles = provenance.get("bundles") if isinstance(provenance, dict) else None
        entry = bundles.get(self.bundle) if isinstance(bundles, dict) else None
        revision = entry.get("revision") if isinstance(entry, dict) else None
        if isinstance(revision, str) and revision:
            self._revision = revision

    def _new_client(self, timeout_s: float, *, retries: int) -> Any:
        # The client takes host and port, not a URL: it builds http(s)://host:port/v1 itself.
        return OpaClient(
            host=self._host, port=self._port, ssl=self._tls, token=self._token, retries=retries, timeout=timeout_s
        )


# -- helpers ------------------------------------------------------------------------------------
def _parse_url(url: str) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PolicyError(f"opa-server url must be http(s)://host[:port], got {url!r}", code="engine_options_invalid")
    if parts.path not in ("", "/") or parts.query or parts.username:
        # opa-python-client has no path prefix: it always requests <scheme>://host:port/v1/...
        raise PolicyError(f"opa-server url takes no path, query or credentials: {url!r}", code="engine_options_invalid")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    tls = parts.scheme == "https"
    return host, parts.port or (443 if tls else 80), tls


def _server_path(dotted: str) -> str:
    """``railguard.tool_call`` checked as a Rego reference (no ``/``, ``..`` or ``?`` reaches the URL)."""
    return package_ref(dotted).removeprefix("data.")


def _tool(input: Mapping[str, Any]) -> str | None:
    call = input.get("call")
    tool = call.get("tool") if isinstance(call, Mapping) else None
    return tool if isinstance(tool, str) else None


def _present(document: Mapping[str, Any], rule: str) -> list[Any]:
    """The engines' answer shape: ``[value]`` when the rule is defined, ``[]`` when undefined."""
    return [document[rule]] if rule in document else []


def _http_error(response: Any) -> OpaServerError:
    status = getattr(response, "status_code", 0)
    try:
        body = response.json()
    except (AttributeError, ValueError):  # no response, or not JSON (a proxy's HTML page)
        body = None
    if isinstance(body, dict) and status == 500 and body.get("message") == _EVALUATION_FAILED:
        # A policy evaluation error (e.g. eval_conflict_error): the same failure, and the same
        # code, as on an embedded engine. The server works: not an outage.
        errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        first = errors[0] if errors else {}
        text = "; ".join(f"{e.get('code', '')}: {e.get('message', '')}" for e in errors) or _EVALUATION_FAILED
        location = _location(first.get("location"))
        where = f"{location}: " if location else ""
        return OpaServerError(
            f"opa-server: {where}{text}"[:500], code=codes.ENGINE_ERROR, outage=False, location=location
        )
    detail = body.get("message") if isinstance(body, dict) else None
    return OpaServerError(
        f"opa-server: HTTP {status}" + (f": {str(detail)[:200]}" if detail else ""),
        code=codes.OPA_HTTP_ERROR,
        outage=status >= 500,
    )


def _location(raw: Any) -> str | None:
    """``file:row`` from an OPA error location, with the ids Railguard gave its modules undone."""
    if not isinstance(raw, dict) or not raw.get("file"):
        return None
    file = str(raw["file"]).removeprefix(POLICY_PREFIX)
    return f"{file}:{raw['row']}" if raw.get("row") else file


def _setup(step: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one start-up request; any failure stops start-up with a :class:`PolicyError`."""
    try:
        return call(*args, **kwargs)
    except Exception as exc:
        raise _setup_failure(step, exc) from None


def _setup_failure(step: str, exc: Exception) -> PolicyError:
    if isinstance(exc, RegoParseError):  # the client raises it for a refused module *and* refused data
        if exc.errors:
            return _compile_error(_opa_errors(exc))
        return PolicyError(f"{step}: {exc.expression}: {exc.message}", code="policy_data_invalid")
    if isinstance(exc, requests.exceptions.Timeout):
        return PolicyError(f"{step}: the OPA server did not answer in time", code=codes.OPA_TIMEOUT)
    if isinstance(exc, requests.exceptions.HTTPError):
        return PolicyError(f"{step}: {_http_error(exc.response).message}", code=codes.OPA_HTTP_ERROR)
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return PolicyError(f"{step}: the OPA server's answer is not JSON", code=codes.OPA_BAD_RESPONSE)
    if isinstance(exc, requests.exceptions.RequestException):
        return PolicyError(f"{step}: the OPA server is unavailable: {exc}", code=codes.OPA_UNAVAILABLE)
    # the client's other errors (DeletePolicyError, ...) carry OPA's error code and message
    return PolicyError(f"{step}: {type(exc).__name__}: {exc}", code=codes.OPA_HTTP_ERROR)


def _opa_errors(exc: Any) -> list[dict[str, Any]]:
    errors = [e for e in exc.errors or [] if isinstance(e, dict)]
    return errors or [{"code": str(exc.expression), "message": str(exc.message)}]


def _compile_error(errors: list[dict[str, Any]]) -> PolicyError:
    """OPA's first error, located in the policy set's own file names."""
    first = errors[0]
    return PolicyError(
        f"{first.get('code', '')}: {first.get('message', '')}", location=_location(first.get("location"))
    )


def _push_policies(admin: Any, modules: tuple[PolicyModule, ...]) -> None:
    wanted = {POLICY_PREFIX + m.name: m for m in modules}
    served = {i: raw for i, raw in _served_modules(admin).items() if i.startswith(POLICY_PREFIX)}
    # Only what differs is sent: OPA recompiles every module on each PUT and DELETE. A module
    # an earlier push left and this set no longer has is deleted: a stale module could allow.
    changes: list[tuple[str, PolicyModule | None]] = [(i, None) for i in served if i not in wanted]
    changes += [(i, m) for i, m in wanted.items() if served.get(i) != m.source]
    # Each change must compile with what the server has at that moment: a module can be refused
    # only because one it uses is not there yet (a rule of its package, a function), or an old
    # module conflicts. Retry the refused after the others until a round makes no progress.
    # A parse error never heals: stop at once.
    while changes:
        refused: list[tuple[str, PolicyModule | None]] = []
        first_errors: list[dict[str, Any]] = []
        for policy_id, module in changes:
            errors = _delete_module(admin, policy_id) if module is None else _put_module(admin, policy_id, module)
            if any(e.get("code") == "rego_parse_error" for e in errors):
                raise _compile_error(errors)
            if errors:
                refused.append((policy_id, module))
                first_errors = first_errors or errors
        if len(refused) == len(changes):
            error = _compile_error(first_errors)
            if len(refused) > 1:  # e.g. two modules that use each other's rules: no order loads them
                error.message += f" ({len(refused)} modules refused in every order; serve them as a bundle)"
            raise error
        changes = refused


def _served_modules(admin: Any) -> dict[str, str]:
    """Every module the server has, ``{id: source}``, from one ``GET /v1/policies``.

    The client's own listing (``get_policies_list``) keeps the ids and drops the sources, so
    this one request goes through the client's session (``_session``, a requests.Session):
    one request instead of a ``get_policy`` per module.
    """

    def listing() -> Any:
        response = admin._session.get(f"{admin.root_url}/policies", timeout=admin.timeout)
        response.raise_for_status()
        return response.json()

    body = _setup("list policies", listing)
    listed = body.get("result") if isinstance(body, dict) else None
    if not isinstance(listed, list):
        raise PolicyError(f"list policies: unexpected answer {str(body)[:200]}", code=codes.OPA_BAD_RESPONSE)
    return {str(m.get("id")): str(m.get("raw", "")) for m in listed if isinstance(m, dict) and m.get("id")}


def _served_revision(admin: Any) -> str:
    """A content hash of what the server serves, like :attr:`PolicySet.revision` of a local set."""
    digest = hashlib.sha256()
    for policy_id, source in sorted(_served_modules(admin).items()):
        digest.update(policy_id.encode() + b"\0" + source.encode() + b"\0")
    return digest.hexdigest()[:16]


def _delete_module(admin: Any, policy_id: str) -> list[dict[str, Any]]:
    """Delete one module; OPA's error when the others do not compile without it."""
    try:
        admin.delete_policy(quote(policy_id, safe="/"))
    except DeletePolicyError as exc:  # the client keeps OPA's code and message, not its errors list
        if exc.expression == "resource_not_found":
            return []
        if exc.expression == "invalid_parameter":
            return [{"code": "rego_compile_error", "message": f"without {policy_id}: {exc.message}"}]
        raise _setup_failure(f"delete {policy_id}", exc) from None
    except Exception as exc:
        raise _setup_failure(f"delete {policy_id}", exc) from None
    return []


def _put_module(admin: Any, policy_id: str, module: PolicyModule) -> list[dict[str, Any]]:
    """Load one module; OPA's errors when it refuses it (a transport failure raises)."""
    if not module.source.strip():  # the client refuses an empty string with a TypeError
        return [{"code": "rego_parse_error", "message": "empty module", "location": {"file": policy_id}}]
    try:
        # rego_compat=False: by default the client *rewrites* a refused module (v0 -> v1
        # syntax) and uploads the rewrite. Policies are loaded as written, or not at all.
        admin.update_policy_from_string(module.source, quote(policy_id, safe="/"), rego_compat=False)
    except RegoParseError as exc:
        return _opa_errors(exc)
    except Exception as exc:
        raise _setup_failure(f"load {module.name}", exc) from None
    return []


def _data_documents(data: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The Data API writes for ``data``: one per object two levels down (``railguard/config``).

    Written there, not at ``railguard``, so the base document never overlaps the packages
    under ``data.railguard``; and the client writes only JSON objects.
    """
    writes: list[tuple[str, dict[str, Any]]] = []
    for top, value in data.items():
        if not isinstance(value, Mapping):
            raise PolicyError(f"opa-server loads data as objects; data.{top} is not one", code="policy_data_invalid")
        for key, child in value.items():
            if not isinstance(child, Mapping):
                raise PolicyError(
                    f"opa-server loads data as objects; data.{top}.{key} is a {type(child).__name__}",
                    code="policy_data_invalid",
                )
            writes.append((f"{quote(top, safe='')}/{quote(key, safe='')}", dict(child)))
    return writes


def _bundle_revision(admin: Any, bundle: str) -> str:
    body = _setup("read data.system.bundles", admin.query_rule, {}, "system.bundles")
    bundles = body.get("result") if isinstance(body, dict) else None
    entry = bundles.get(bundle) if isinstance(bundles, dict) else None
    manifest = entry.get("manifest") if isinstance(entry, dict) else None
    revision = manifest.get("revision") if isinstance(manifest, dict) else None
    if not isinstance(revision, str) or not revision:
        served = sorted(bundles) if isinstance(bundles, dict) else []
        raise PolicyError(
            f"the OPA server has no bundle {bundle!r} with a manifest revision (bundles: {served}); "
            "decisions must name the policies they were made under: build it with `opa build --revision`",
            code="opa_bundle_missing",
        )
    return revision


def _check_served_data(admin: Any, data: Mapping[str, Any]) -> None:
    """Each of ``data``'s documents must be what the server has, or absent there (then it is written)."""
    for path, value in _data_documents(data):
        dotted = path.replace("/", ".")
        body = _setup(f"read data.{dotted}", admin.query_rule, {}, dotted)
        if not isinstance(body, dict) or "result" not in body:
            _setup(f"load data.{dotted}", admin.update_or_create_data, value, path)
        elif body["result"] != value:
            raise PolicyError(
                f"data.{dotted} on the OPA server differs from this deployment's parameters: decisions "
                "would record a config revision they were not made under",
                code="opa_config_mismatch",
            )
