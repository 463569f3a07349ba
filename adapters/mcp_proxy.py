"""``railguard mcp-proxy``: Railguard in front of MCP servers (docs/mcp-proxy.md).

    railguard mcp-proxy --config mcp-proxy.toml                  # serve over stdio (the default)
    railguard mcp-proxy serve --config mcp-proxy.toml --http 127.0.0.1:8765
    railguard mcp-proxy tools --config mcp-proxy.toml            # what is offered, what is withheld and why
    railguard mcp-proxy approve-pins --config mcp-proxy.toml     # accept the upstreams' current definitions

Also runnable as ``python -m adapters.mcp_proxy ...`` with the same arguments.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from guardrails.cli import run
from guardrails.config import Settings, load_settings, read_document
from guardrails.errors import ConfigError

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

log = logging.getLogger("railguard.mcp_proxy")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``mcp-proxy`` to the ``railguard`` CLI's subparsers; handlers are set as ``run``."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a --config given before the subcommand is not reset by the subcommand's default.
    common.add_argument("--config", default=argparse.SUPPRESS, help="the proxy's TOML/JSON config")
    proxy: argparse.ArgumentParser = subparsers.add_parser(
        "mcp-proxy",
        help="an MCP proxy that authorizes every tools/call and checks every result",
        description=__doc__.splitlines()[0],
    )
    proxy.add_argument("--config", default=None, help="the proxy's TOML/JSON config (mcp-proxy.toml)")
    proxy.set_defaults(run=_serve, http=None)
    sub = proxy.add_subparsers(dest="mcp_proxy_command")
    serve = sub.add_parser("serve", parents=[common], help="serve over stdio (default) or streamable HTTP")
    serve.add_argument(
        "--http", default=None, metavar="HOST:PORT", help="serve streamable HTTP at http://HOST:PORT/mcp"
    )
    serve.set_defaults(run=_serve)
    tools = sub.add_parser("tools", parents=[common], help="list the upstream tools: offered or withheld, and why")
    tools.add_argument("--json", action="store_true", help="one JSON object per tool")
    tools.set_defaults(run=_tools)
    approve = sub.add_parser(
        "approve-pins", parents=[common], help="pin the upstreams' current tool definitions (after reviewing them)"
    )
    approve.add_argument("--server", action="append", default=[], help="only this server (repeatable)")
    approve.set_defaults(run=_approve_pins)
    return proxy


def _config(args: argparse.Namespace) -> Any:
    try:
        import mcp.server.mcpserver  # noqa: F401 - the 2.x line
    except ImportError as exc:
        raise ConfigError(f'mcp-proxy needs the mcp extra: pip install "railguard[mcp]" ({exc})') from None
    from adapters.mcp.config import load_proxy_config

    if not args.config:
        raise ConfigError("mcp-proxy needs --config (the proxy's TOML or JSON file)")
    return load_proxy_config(args.config)


# -- serve ------------------------------------------------------------------------------------
def _serve(args: argparse.Namespace) -> int:
    import anyio

    config = _config(args)
    from adapters.mcp.proxy import McpProxy
    from adapters.mcp.upstream import stderr_log

    stderr_log()  # before anything logs: in stdio mode stdout is the protocol
    guard, deployment_tools, screener = build_guard(config)
    try:
        proxy = McpProxy(config, guard, deployment_tools=deployment_tools, screener=screener)
        log.info(
            "mcp-proxy %s: session %s, agent %s, pins %s",
            proxy.run_id,
            proxy.session_id,
            config.agent.id,
            proxy.pins.path,
        )
        if args.http:
            host, _, port = args.http.rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(f"--http wants HOST:PORT, not {args.http!r}")
            anyio.run(proxy.serve_http, host, int(port))
        else:
            anyio.run(proxy.serve_stdio)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        pass
    finally:
        guard.close()
    return EXIT_OK


def build_guard(config: Any) -> tuple[Any, dict[str, Any], Any]:
    """The Guard of the deployment ``config.railguard`` names, with an empty registry (the catalog
    fills it from the upstreams), the injection screener on results when asked, and the screener
    for tool descriptions. Returns ``(guard, deployment tools.json mapping, description screener)``."""
    from guardrails.factory import guard_from_settings, screeners_from
    from guardrails.registry import ToolRegistry

    settings = load_settings(config.railguard_path)
    screeners = screeners_from(settings)
    injection = next((s for s in screeners if getattr(s, "name", "") == "injection"), None)
    if injection is None and (config.screen_results or config.screen_descriptions):
        injection = _injection_screener()
        if config.screen_results:
            screeners.append(injection)
    ledger = config.path(config.ledger) if config.ledger else None
    # The registry is filled from the upstream servers' tools/list once they are connected.
    guard = guard_from_settings(settings, ledger_path=ledger, tools=ToolRegistry({}), screeners=screeners)
    return guard, deployment_tools(settings), injection if config.screen_descriptions else None


def deployment_tools(settings: Settings) -> dict[str, Any]:
    """The deployment's ``tools.json`` as a mapping (traits and extra schemas by tool name), or ``{}``."""
    path = settings.path(settings.railguard.tools)
    if not path.exists():
        return {}
    data = read_document(path, "tool registry", json.loads, "JSON")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a JSON object of tool name -> spec")
    return data


def _injection_screener() -> Any:
    try:
        from guardrails.screening import InjectionScreener
    except ImportError as exc:
        raise ConfigError(
            "the MCP proxy screens tool descriptions and results for prompt injection, which needs the "
            f"screening extra ({exc}); or set screen_descriptions = false and screen_results = false"
        ) from None
    return InjectionScreener()


# -- tools and approve-pins: talk to the upstreams, no agent ---------------------------------------
async def _listings(config: Any, only: Sequence[str] = ()) -> dict[str, Any]:
    import anyio

    from adapters.mcp.upstream import Upstream, UpstreamUnavailable

    found: dict[str, Any] = {}
    async with anyio.create_task_group() as tg:
        upstreams = [
            Upstream(s, config.base_dir, config.connect_timeout_s) for s in config.servers if not only or s.name in only
        ]
        for upstream in upstreams:
            tg.start_soon(upstream.run)
        for upstream in upstreams:
            try:
                found[upstream.name] = await upstream.list_tools()
            except UpstreamUnavailable as exc:
                log.error("%s", exc)
            upstream.mark_broken()
        tg.cancel_scope.cancel()
    return found


def _tools(args: argparse.Namespace) -> int:
    import anyio

    config = _config(args)
    from adapters.mcp.catalog import build_catalog
    from adapters.mcp.pins import PinStore
    from adapters.mcp.upstream import stderr_log

    stderr_log()
    settings = load_settings(config.railguard_path)
    screener = _injection_screener() if config.screen_descriptions else None
    listings = anyio.run(_listings, config)
    catalog = build_catalog(config, listings, PinStore(config.pins_path), deployment_tools(settings), screener)
    for entry in catalog.entries.values():
        status = "offered" if entry.refusal is None else f"withheld [{entry.refusal.code}]"
        if args.json:
            doc: dict[str, Any] = {"name": entry.name, "server": entry.server, "upstream_name": entry.upstream_name}
            code = entry.refusal.code if entry.refusal else None
            doc |= {"hash": entry.digest, "offered": entry.offered, "code": code}
            print(json.dumps(doc))
        else:
            print(f"{entry.name:32} {entry.server:16} {status}")
            if entry.refusal is not None:
                print(f"    {entry.refusal.message}")
    return EXIT_OK if all(name in listings for name in (s.name for s in config.servers)) else EXIT_FAIL


def _approve_pins(args: argparse.Namespace) -> int:
    import anyio

    config = _config(args)
    from adapters.mcp.pins import PinStore, definition_hash
    from adapters.mcp.upstream import stderr_log

    stderr_log()
    unknown = set(args.server) - {s.name for s in config.servers}
    if unknown:
        raise ConfigError(f"no such server in {config.source}: {sorted(unknown)}")
    listings = anyio.run(_listings, config, tuple(args.server))
    pins = PinStore(config.pins_path)
    for server, tools in listings.items():
        digests = {t.name: definition_hash(t.model_dump(by_alias=True, mode="json", exclude_none=True)) for t in tools}
        review = pins.review(server, digests)
        pins.pin(server, digests)
        print(_summary(server, review.added, review.changed, review.removed))
    missing = [s.name for s in config.servers if (not args.server or s.name in args.server) and s.name not in listings]
    for name in missing:
        print(f"{name}: unreachable, pins unchanged", file=sys.stderr)
    return EXIT_FAIL if missing else EXIT_OK


def _summary(server: str, added: Sequence[str], changed: Sequence[str], removed: Sequence[str]) -> str:
    parts: Mapping[str, Sequence[str]] = {"added": added, "changed": changed, "removed": removed}
    text = "; ".join(f"{k} {', '.join(v)}" for k, v in parts.items() if v) or "no changes"
    return f"{server}: pinned ({text})"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m adapters.mcp_proxy``: the same as ``railguard mcp-proxy``."""
    parser = argparse.ArgumentParser(prog="railguard")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["mcp-proxy", *(sys.argv[1:] if argv is None else argv)])
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
