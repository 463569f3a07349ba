"""Test double: OPA's Data/Policy API on the real OPA engine.

No OPA binary installs on the test machines. This is the part of ``opa run --server`` that
Railguard's ``opa-server`` engine talks to, answered the way OPA v1 answers it, and evaluated
by the real OPA engine embedded in ``opa-golib-python-bindings``:

* ``GET /v1/policies``, ``PUT /v1/policies/{id}`` (text body; 400 with OPA's compile errors),
  ``DELETE /v1/policies/{id}``;
* ``PUT /v1/data/{path}`` (204), ``POST /v1/data/{path}`` with ``{"input": ...}`` (200
  ``{"result": ...}``, ``{}`` when undefined, 500 with OPA's evaluation-error body),
  ``?provenance=true``;
* a served bundle (``serve_bundle``): its manifest at ``data.system.bundles``, its paths
  read-only, its revision in the provenance.

For failure tests it misbehaves on demand (``fail``), on decision requests (``POST /v1/data``)
only: an HTTP status, a sleep past the client's timeout, malformed JSON, a non-object body,
200 without ``result``, or a connection closed without an answer.

Tests only: it is not OPA's server, and not a way to run Railguard.
"""

from __future__ import annotations

import collections
import json
import re
import socket
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import opa_bindings

FAULTS = ("http_500", "http_503", "http_404", "slow", "malformed", "not_object", "undefined", "close")
_OPA_ERROR = re.compile(r"(\S+?\.rego):(\d+): (rego_\w+|eval_\w+): (.*)")
_EVALUATION_FAILED = "error(s) occurred while evaluating query"


class OpaDouble:
    """``with OpaDouble() as opa: OpaServerEngine(opa.url)``; 127.0.0.1 on a free port."""

    def __init__(self, *, slow_s: float = 1.0) -> None:
        self.slow_s = slow_s
        self.modules: dict[str, str] = {}
        self.data: dict[str, Any] = {}
        self.bundle: tuple[str, str] | None = None  # (name, revision) when serving a bundle
        self.decisions = 0  # POST /v1/data requests seen
        self.connections = 0  # TCP connections accepted
        self.policy_writes = 0  # PUT and DELETE /v1/policies requests seen
        self._sockets: list[socket.socket] = []
        self._faults: collections.deque[str] = collections.deque()
        self._fault_forever: str | None = None
        self._lock = threading.Lock()
        self._engine = self._compile(self.modules, self.data)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.double = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="opa-double", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> OpaDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop listening and drop every open connection: from now on, connections are refused."""
        self._server.shutdown()
        self._server.server_close()
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its handler

    # -- what the tests control -------------------------------------------------------------
    def fail(self, kind: str, times: int | None = None) -> None:
        """Misbehave on the next ``times`` decision requests (``None``: until ``heal()``)."""
        assert kind in FAULTS, kind
        with self._lock:
            if times is None:
                self._fault_forever = kind
            else:
                self._faults.extend([kind] * times)

    def heal(self) -> None:
        with self._lock:
            self._faults.clear()
            self._fault_forever = None

    def serve_bundle(self, name: str, revision: str, modules: Mapping[str, str], data: Mapping[str, Any]) -> None:
        """Serve policies and data as ``opa run --server --bundle`` does: owned by the bundle."""
        with self._lock:
            self.modules = dict(modules)
            self.data = json.loads(json.dumps(data))
            self.bundle = (name, revision)
            self._engine = self._compile(self.modules, self.data)

    def activate_revision(self, revision: str) -> None:
        """A new bundle revision, as after OPA's next poll."""
        with self._lock:
            assert self.bundle is not None
            self.bundle = (self.bundle[0], revision)
            self._engine = self._compile(self.modules, self.data)

    # -- the server's state -------------------------------------------------------------------
    def _next_fault(self) -> str | None:
        with self._lock:
            if self._faults:
                return self._faults.popleft()
            return self._fault_forever

    def _compile(self, modules: Mapping[str, str], data: Mapping[str, Any]) -> Any:
        """The real OPA engine on these modules and data; raises OpaError on a compile error."""
        engine = opa_bindings.OpaEngine()
        for policy_id, source in modules.items():
            engine.add_policy(policy_id, source)
        document = dict(data)
        if self.bundle is not None:
            name, revision = self.bundle
            manifest = {"revision": revision, "roots": [""]}
            document["system"] = {"bundles": {name: {"manifest": manifest}}}
        if document:
            engine.add_data(document)
        engine.eval_query("x := 1", {})  # compile errors the parser does not find surface here
        return engine

    def put_policy(self, policy_id: str, source: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.policy_writes += 1
            if self.bundle is not None:
                return 400, {"code": "invalid_parameter", "message": f"policies are owned by bundle {self.bundle[0]!r}"}
            modules = {**self.modules, policy_id: source}
            try:
                engine = self._compile(modules, self.data)
            except opa_bindings.OpaError as exc:
                return 400, _compile_errors(str(exc), policy_id)
            self.modules, self._engine = modules, engine
        return 200, {}

    def delete_policy(self, policy_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.policy_writes += 1
            if policy_id not in self.modules:
                return 404, {
                    "code": "resource_not_found",
                    "message": f'storage_not_found_error: policy id "{policy_id}"',
                }
            modules = {k: v for k, v in self.modules.items() if k != policy_id}
            try:
                engine = self._compile(modules, self.data)
            except opa_bindings.OpaError as exc:
                return 400, _compile_errors(str(exc), policy_id)
            self.modules, self._engine = modules, engine
        return 200, {}

    def put_data(self, path: list[str], value: Any) -> tuple[int, dict[str, Any] | None]:
        with self._lock:
            if self.bundle is not None:
                name = self.bundle[0]
                return 400, {
                    "code": "invalid_parameter",
                    "message": f'path "/{"/".join(path)}" is owned by bundle "{name}"',
                }
            data = json.loads(json.dumps(self.data))
            node = data
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value
            try:
                engine = self._compile(self.modules, data)
            except opa_bindings.OpaError as exc:
                return 400, {"code": "invalid_parameter", "message": str(exc)}
            self.data, self._engine = data, engine
        return 204, None

    def evaluate(self, path: list[str], input: Any, provenance: bool) -> tuple[int, dict[str, Any]]:
        with self._lock:
            engine, bundle = self._engine, self.bundle
        body: dict[str, Any] = {}
        try:
            body["result"] = engine.eval_document(".".join(path), input)
        except opa_bindings.OpaUndefinedError:
            pass
        except opa_bindings.OpaError as exc:
            return 500, _evaluation_error(str(exc))
        if provenance:
            body["provenance"] = {"version": "test-double"}
            if bundle is not None:
                body["provenance"]["bundles"] = {bundle[0]: {"revision": bundle[1]}}
        return 200, body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    double: OpaDouble

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and left: the late answer has nowhere to go

    def get_request(self) -> Any:
        sock, address = super().get_request()
        # Go's net/http (OPA) sets TCP_NODELAY; without it headers and body leave in two
        # segments and delayed ACKs add ~40 ms to every answer.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.double.connections += 1
        self.double._sockets.append(sock)
        return sock, address


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as OPA: the engine must reuse its connection
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _route(self) -> tuple[str, list[str], dict[str, list[str]]]:
        parts = urlsplit(self.path)
        return parts.path, [unquote(p) for p in parts.path.split("/") if p], parse_qs(parts.query)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: Any = None, raw: bytes | None = None) -> None:
        payload = raw if raw is not None else b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        path, parts, _ = self._route()
        double = self.server.double
        if path == "/health":
            self._send(200, {})
        elif parts[:2] == ["v1", "policies"] and len(parts) == 2:
            listed = [{"id": i, "raw": s, "ast": {}} for i, s in double.modules.items()]
            self._send(200, {"result": listed})
        elif parts[:2] == ["v1", "policies"]:
            policy_id = "/".join(parts[2:])
            source = double.modules.get(policy_id)
            if source is None:
                self._send(
                    404, {"code": "resource_not_found", "message": f'storage_not_found_error: policy id "{policy_id}"'}
                )
            else:
                self._send(200, {"result": {"id": policy_id, "raw": source, "ast": {}}})
        elif parts[:2] == ["v1", "data"]:
            self._send(*double.evaluate(parts[2:], None, provenance=False))
        else:
            self._send(404, {"code": "resource_not_found", "message": path})

    def do_PUT(self) -> None:
        path, parts, _ = self._route()
        double = self.server.double
        body = self._body()
        if parts[:2] == ["v1", "policies"] and len(parts) > 2:
            self._send(*double.put_policy("/".join(parts[2:]), body.decode()))
        elif parts[:2] == ["v1", "data"] and len(parts) > 2:
            self._send(*double.put_data(parts[2:], json.loads(body)))
        else:
            self._send(404, {"code": "resource_not_found", "message": path})

    def do_DELETE(self) -> None:
        path, parts, _ = self._route()
        if parts[:2] == ["v1", "policies"] and len(parts) > 2:
            self._send(*self.server.double.delete_policy("/".join(parts[2:])))
        else:
            self._send(404, {"code": "resource_not_found", "message": path})

    def do_POST(self) -> None:
        path, parts, query = self._route()
        double = self.server.double
        body = self._body()
        if parts[:2] != ["v1", "data"]:
            self._send(404, {"code": "resource_not_found", "message": path})
            return
        double.decisions += 1
        fault = double._next_fault()
        if fault == "close":
            self.close_connection = True  # no status line at all: the client sees the connection drop
            return
        if fault is not None and fault.startswith("http_"):
            self._send(int(fault.removeprefix("http_")), {"code": "internal_error", "message": "injected failure"})
            return
        if fault == "malformed":
            self._send(200, raw=b'{"result": {"allow": tr')
            return
        if fault == "not_object":
            self._send(200, raw=b"[true]")
            return
        if fault == "undefined":
            self._send(200, {})
            return
        if fault == "slow":
            time.sleep(double.slow_s)
        document = json.loads(body) if body else {}
        provenance = query.get("provenance", [""])[0].lower() == "true"
        self._send(*double.evaluate(parts[2:], document.get("input"), provenance))


def _compile_errors(text: str, policy_id: str) -> dict[str, Any]:
    """OPA's 400 for a refused module, from the embedded engine's error text."""
    errors = [
        {"code": code, "message": message.strip(), "location": {"file": file, "row": int(row), "col": 1}}
        for file, row, code, message in _OPA_ERROR.findall(text)
    ] or [{"code": "rego_compile_error", "message": text, "location": {"file": policy_id, "row": 1, "col": 1}}]
    return {"code": "invalid_parameter", "message": "error(s) occurred while compiling module(s)", "errors": errors}


def _evaluation_error(text: str) -> dict[str, Any]:
    """OPA's 500 for a query whose evaluation failed (``writer.ErrorAuto`` on a topdown error)."""
    errors = [
        {"code": code, "message": message.strip(), "location": {"file": file, "row": int(row), "col": 1}}
        for file, row, code, message in _OPA_ERROR.findall(text)
    ] or [{"code": "eval_internal_error", "message": text}]
    return {"code": "internal_error", "message": _EVALUATION_FAILED, "errors": errors}
