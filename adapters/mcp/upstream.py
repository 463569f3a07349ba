"""One upstream MCP server, reached over stdio (a command) or streamable HTTP (a URL).

The ``mcp`` Client is an async context whose exit must run in the task that entered it, so each
upstream has one owner task that holds the connection open; request handlers ask it for a
connection and report it broken. A server that died is started again on the next call, and its
tools are listed (and checked against their pins) again before any call reaches it.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, ListToolsResult, Tool

from adapters.mcp.config import ServerSection

log = logging.getLogger("railguard.mcp_proxy")

_MAX_PAGES = 100  # a paginator that never ends must not hang start-up


class UpstreamUnavailable(Exception):
    """The upstream could not be reached (``sent`` false), or the connection broke during a call."""

    def __init__(self, message: str, *, sent: bool = False) -> None:
        super().__init__(message)
        self.sent = sent


class Upstream:
    """A lazily (re)connected client of one upstream server."""

    def __init__(self, section: ServerSection, base_dir: Any, connect_timeout_s: float) -> None:
        self.name = section.name
        self.section = section
        self.connect_timeout_s = connect_timeout_s
        if section.url is not None:
            self._target: StdioServerParameters | str = section.url
        else:
            assert section.command is not None  # checked by ServerSection
            cwd = section.cwd if section.cwd is None else str(base_dir / section.cwd)
            self._target = StdioServerParameters(command=section.command, args=section.args, env=section.env, cwd=cwd)
        self._client: Client | None = None
        self._want = anyio.Event()
        self._settled = anyio.Event()
        self._broken = anyio.Event()
        self._lock = anyio.Lock()
        self._error: BaseException | None = None
        self.generation = 0  # bumped on every new connection: its tools must be listed again

    async def run(self) -> None:
        """The owner task: connect when asked, hold the connection until it is reported broken."""
        while True:
            await self._want.wait()
            self._want = anyio.Event()
            self._broken = anyio.Event()
            try:
                # cache=None: tools/list must always reach the server, or a rug pull hides behind a TTL.
                async with Client(self._target, cache=None) as client:
                    self._client, self._error = client, None
                    self.generation += 1
                    self._settled.set()
                    await self._broken.wait()
            except Exception as exc:  # the connection failed or died: the waiter reports it
                self._error = exc
                log.warning("upstream %s: connection ended: %s", self.name, _describe(exc))
            finally:
                self._client = None
                self._settled.set()

    async def client(self) -> Client:
        """The live connection, connecting first when there is none."""
        client = self._client
        if client is not None:
            return client
        async with self._lock:
            if self._client is None:
                self._settled = anyio.Event()
                self._want.set()
                with anyio.move_on_after(self.connect_timeout_s):
                    await self._settled.wait()
                if self._client is None:
                    self._broken.set()  # give up this attempt; the next call tries again
                    detail = _describe(self._error) if self._error else "timed out connecting"
                    raise UpstreamUnavailable(f"upstream {self.name!r} unavailable: {detail}")
            return self._client

    def mark_broken(self) -> None:
        self._client = None
        self._broken.set()

    async def list_tools(self) -> list[Tool]:
        client = await self.client()
        tools: list[Tool] = []
        cursor: str | None = None
        try:
            for _ in range(_MAX_PAGES):
                page: ListToolsResult = await client.list_tools(cursor=cursor)
                tools.extend(page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    break
        except (MCPError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            self.mark_broken()
            raise UpstreamUnavailable(f"upstream {self.name!r} failed to list its tools: {_describe(exc)}") from exc
        return tools

    async def call_tool(
        self, name: str, arguments: dict[str, Any], meta: dict[str, Any] | None, timeout_s: float
    ) -> CallToolResult:
        """Forward one call. Raises :class:`UpstreamUnavailable`, ``TimeoutError`` or ``MCPError``."""
        client = await self.client()
        try:
            with anyio.fail_after(timeout_s):
                return await client.call_tool(name, arguments, meta=meta)  # type: ignore[arg-type]
        except MCPError as exc:
            if _connection_lost(exc):
                self.mark_broken()
                raise UpstreamUnavailable(
                    f"upstream {self.name!r} went away during the call: {exc}", sent=True
                ) from exc
            raise
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream) as exc:
            self.mark_broken()
            raise UpstreamUnavailable(
                f"upstream {self.name!r} went away during the call: {_describe(exc)}", sent=True
            ) from exc


def _connection_lost(exc: MCPError) -> bool:
    # The client reports a dead transport as JSON-RPC -32000 "Connection closed".
    return exc.code == -32000 and "closed" in str(exc).lower()


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _describe(exc.exceptions[0])
    text = str(exc) or type(exc).__name__
    return text[:300]


def stderr_log() -> None:
    """All logging to stderr: in stdio mode stdout carries JSON-RPC only."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
