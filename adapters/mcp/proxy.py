"""The MCP proxy: an MCP server to the agent, an MCP client to the upstreams, the Guard in between.

``tools/list``: the upstreams' tools, pinned and screened (see :mod:`adapters.mcp.catalog`).
``tools/call``, in order, each step able to stop the call:

1. the tool must be offered (pin matches, description clean), else ``isError`` with the proxy's code;
2. ``Guard.authorize`` (call id = this connection + the JSON-RPC request id; agent from the config);
   deny -> ``isError`` with the codes; escalate -> ``isError`` with the ticket (or wait, if configured);
3. forward to the upstream, W3C ``traceparent``/``tracestate`` from ``params._meta`` passed on;
4. ``Guard.check_result`` on what came back; only the checked value reaches the agent.

A denied or withheld call never reaches the upstream. An upstream that dies or misbehaves gives
an ``isError`` result and is restarted on the next call; the proxy keeps serving.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

import anyio
import anyio.to_thread
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolRequestParams, CallToolResult, ListToolsResult, PaginatedRequestParams, TextContent

from adapters.mcp import codes
from adapters.mcp.catalog import Catalog, build_catalog
from adapters.mcp.config import ProxyConfig
from adapters.mcp.pins import PinStore
from adapters.mcp.results import allowed_result, checked_output, decision_result, error_text, refusal
from adapters.mcp.upstream import Upstream, UpstreamUnavailable
from guardrails.model import Agent, Decision, ToolCall, ToolResult, Verdict
from guardrails.pipeline import Guard
from guardrails.registry import ToolRegistry
from guardrails.stages.base import Screener

log = logging.getLogger("railguard.mcp_proxy")

_TRACE_KEYS = ("traceparent", "tracestate")


class McpProxy:
    """Owns the upstream connections, the catalog and the MCP server the agent talks to.

    >>> proxy = McpProxy(config, guard, deployment_tools={}, screener=InjectionScreener())  # doctest: +SKIP
    >>> await proxy.serve_stdio()  # doctest: +SKIP
    """

    def __init__(
        self,
        config: ProxyConfig,
        guard: Guard,
        *,
        deployment_tools: Mapping[str, Any],
        screener: Screener | None,
    ) -> None:
        self.config = config
        self.guard = guard
        self.deployment_tools = deployment_tools
        self.screener = screener
        self.pins = PinStore(config.pins_path)
        self.upstreams = {s.name: Upstream(s, config.base_dir, config.connect_timeout_s) for s in config.servers}
        self.catalog = Catalog([], ToolRegistry({}))
        self._listed: dict[str, int] = {}  # server -> connection generation its tools were listed on
        self._refresh_lock = anyio.Lock()
        self.run_id = uuid.uuid4().hex[:12]
        self.session_id = config.session or f"mcp-{self.run_id}"
        self.agent = Agent(id=config.agent.id, roles=config.agent.roles, attributes=config.agent.attributes)
        self.server: Server[Any] = Server(
            "railguard-mcp-proxy",
            version="1",
            instructions="Tools behind Railguard: every call is authorized and every result checked.",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )

    # -- lifecycle -------------------------------------------------------------------------
    async def serve_stdio(self) -> None:
        """Serve one agent over stdin/stdout (the mcp package keeps fd 1 for JSON-RPC only)."""
        from mcp.server.stdio import stdio_server

        async with anyio.create_task_group() as tg:
            for upstream in self.upstreams.values():
                tg.start_soon(upstream.run)
            await self.refresh()
            async with stdio_server() as (read_stream, write_stream):
                await self.server.run(read_stream, write_stream, self.server.create_initialization_options())
            tg.cancel_scope.cancel()

    async def serve_http(self, host: str, port: int, path: str = "/mcp") -> None:
        """Serve over streamable HTTP (needs uvicorn: the ``service`` extra)."""
        import uvicorn

        app = self.server.streamable_http_app(streamable_http_path=path, host=host)
        async with anyio.create_task_group() as tg:
            for upstream in self.upstreams.values():
                tg.start_soon(upstream.run)
            await self.refresh()
            await uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).serve()
            tg.cancel_scope.cancel()

    async def refresh(self) -> Catalog:
        """List every upstream's tools again and rebuild the catalog and the Guard's registry."""
        async with self._refresh_lock:
            listings = {}
            for name, upstream in self.upstreams.items():
                try:
                    listings[name] = await upstream.list_tools()
                    self._listed[name] = upstream.generation
                except UpstreamUnavailable as exc:
                    log.warning("%s; its tools are not offered", exc)
            self.catalog = build_catalog(self.config, listings, self.pins, self.deployment_tools, self.screener)
            self.guard.tools = self.catalog.registry
            return self.catalog

    def _stale(self, name: str) -> bool:
        entry = self.catalog.get(name)
        if entry is None or not entry.offered:
            return True  # maybe approved or back since the last listing
        upstream = self.upstreams[entry.server]
        return self._listed.get(entry.server) != upstream.generation  # restarted: verify its tools again

    # -- handlers --------------------------------------------------------------------------
    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        catalog = await self.refresh()
        return ListToolsResult(tools=[entry.listed() for entry in catalog.offered()])

    async def _call_tool(self, ctx: ServerRequestContext[Any], params: CallToolRequestParams) -> CallToolResult:
        name, args = params.name, dict(params.arguments or {})
        if self._stale(name):
            await self.refresh()
        entry = self.catalog.get(name)
        if entry is not None and entry.refusal is not None:
            log.warning("refused %s: %s", name, entry.refusal.code)
            return refusal(name, entry.refusal.code, entry.refusal.message)
        try:
            call = ToolCall(id=self._call_id(ctx), tool=name, args=args, session_id=self.session_id, agent=self.agent)
        except ValueError as exc:
            return refusal(name, "input_invalid", str(exc)[:300])
        decision = await self._decide(lambda: self.guard.authorize(call))
        if not decision.allowed or entry is None:  # an unknown tool is denied by the Guard (unknown_tool)
            log.info("%s %s: %s", decision.verdict, name, ",".join(decision.codes))
            return decision_result(name, decision)
        return await self._forward(ctx, entry.server, entry.upstream_name, call)

    async def _forward(
        self, ctx: ServerRequestContext[Any], server: str, upstream_name: str, call: ToolCall
    ) -> CallToolResult:
        upstream = self.upstreams[server]
        args = self.guard.reveal(call.args, session_id=call.session_id, tool=call.tool)
        meta: Mapping[str, Any] = ctx.meta or {}
        trace = {k: meta[k] for k in _TRACE_KEYS if isinstance(meta.get(k), str)}
        try:
            result = await upstream.call_tool(upstream_name, args, trace or None, self.config.call_timeout_s)
        except UpstreamUnavailable as exc:
            if not exc.sent:
                await self._record_failure(call, codes.UPSTREAM_UNAVAILABLE, str(exc))
            # Sent and then lost: the tool may have acted. The call stays pending in the ledger,
            # so a once-per-key tool (a payment) is not run again on a retry.
            return refusal(call.tool, codes.UPSTREAM_UNAVAILABLE, str(exc))
        except TimeoutError:
            message = f"no answer from upstream {server!r} within {self.config.call_timeout_s:g}s"
            return refusal(call.tool, codes.UPSTREAM_TIMEOUT, message)
        except MCPError as exc:  # the upstream answered with a JSON-RPC error: the call failed there
            await self._record_failure(call, codes.UPSTREAM_PROTOCOL_ERROR, str(exc))
            return refusal(call.tool, codes.UPSTREAM_PROTOCOL_ERROR, f"upstream {server!r}: {str(exc)[:300]}")
        except Exception as exc:  # a malformed result (validation) or a transport fault: fail closed
            log.exception("upstream %s: call to %s failed", server, upstream_name)
            return refusal(call.tool, codes.UPSTREAM_PROTOCOL_ERROR, f"upstream {server!r}: {type(exc).__name__}")
        return await self._check(call, result)

    async def _check(self, call: ToolCall, result: CallToolResult) -> CallToolResult:
        if result.is_error:
            failed = ToolResult(call_id=call.id, session_id=call.session_id, ok=False, error=error_text(result))
            decision = await self._decide(lambda: self.guard.check_result(failed))
            return await self._tool_error(call, decision, error_text(result))
        output, withheld = checked_output(result)
        checked = ToolResult(call_id=call.id, session_id=call.session_id, output=output)
        decision = await self._decide(lambda: self.guard.check_result(checked))
        if not decision.allowed:
            log.info("%s result of %s: %s", decision.verdict, call.tool, ",".join(decision.codes))
            return decision_result(call.tool, decision, what="result")
        value = decision.rewritten if decision.rewritten is not None else output
        return allowed_result(value, result.structured_content is not None, withheld)

    async def _tool_error(self, call: ToolCall, decision: Decision, text: str) -> CallToolResult:
        """The upstream reported a failure: the agent may see its text once it passed the screeners."""
        shown = decision_result(call.tool, decision, what="result")
        if not text:
            return shown
        screened = await anyio.to_thread.run_sync(
            lambda: self.guard.screen_input(text, session_id=call.session_id, channel="tool_output")
        )
        if screened.allowed:
            rewritten = screened.rewritten if isinstance(screened.rewritten, str) else text
            shown.content.append(TextContent(text=f"The tool said: {rewritten}"))
        return shown

    async def _record_failure(self, call: ToolCall, code: str, message: str) -> None:
        failed = ToolResult(call_id=call.id, session_id=call.session_id, ok=False, error=f"{code}: {message}"[:500])
        await anyio.to_thread.run_sync(lambda: self.guard.check_result(failed))

    async def _decide(self, checkpoint: Any) -> Decision:
        """Run a checkpoint off the event loop; wait for a reviewer when configured and it escalated."""
        decision: Decision = await anyio.to_thread.run_sync(checkpoint)
        wait = self.config.escalation_wait_s
        if decision.verdict is Verdict.ESCALATE and decision.ticket and wait > 0:
            ticket = decision.ticket
            await anyio.to_thread.run_sync(lambda: self.guard.wait(ticket, wait))
            decision = await anyio.to_thread.run_sync(checkpoint)  # the same call id: decided again once resolved
        return decision

    def _call_id(self, ctx: ServerRequestContext[Any]) -> str:
        """This connection + the JSON-RPC request id: a retried request is the same call (same answer,
        no second ledger entry). Over stateless HTTP no connection id exists, so each call is its own."""
        connection = self.run_id
        request = ctx.request
        if request is not None:
            headers = getattr(request, "headers", None)
            sid = headers.get("mcp-session-id") if headers is not None else None
            connection = f"{self.run_id}-{sid}" if sid else f"{self.run_id}-{uuid.uuid4().hex}"
        if ctx.request_id is None:
            return f"{connection}:{uuid.uuid4().hex}"
        return f"{connection}:{ctx.request_id}"[:256]
