"""The tools the proxy offers: gathered from the upstreams, pinned, screened, turned into a registry.

Each upstream tool becomes one :class:`CatalogEntry`. It is *offered* (listed, and its calls go
to the Guard) only when its definition matches its pin and its description passes the injection
screener; otherwise it is withheld, and a call to it is refused with the entry's ``refusal``.

Names: ``naming = "auto"`` exposes a tool under its own name unless two servers offer the same
name, then both become ``<server>__<tool>``; ``"prefixed"`` always prefixes. The exposed name
is the one policies see (``input.call.tool``), so the bundled policies' ``make_payment`` works
as-is behind a single payments server.

Registry entry of an offered tool: arguments must match the upstream's ``inputSchema`` *and*
the deployment's own ``args`` schema for that name, when its ``tools.json`` has one (both:
``allOf``); the output likewise with ``outputSchema``. Traits (key, facts, once_per_key,
outbound, untrusted_source, receives_pii) come from the deployment's entry, then the server's
``[servers.tools.<tool>]`` table: an upstream never says what its own tool is allowed to be.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mcp_types import Tool

from adapters.mcp import codes
from adapters.mcp.config import ProxyConfig, exposed_name, valid_tool_name
from adapters.mcp.pins import PinStatus, PinStore, definition_hash
from guardrails.errors import ConfigError
from guardrails.registry import ToolRegistry
from guardrails.stages.base import Screener

log = logging.getLogger("railguard.mcp_proxy")

_TRAITS = ("key", "facts", "once_per_key", "outbound", "untrusted_source", "receives_pii")


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str


@dataclass(frozen=True)
class CatalogEntry:
    server: str
    upstream_name: str
    name: str  # exposed
    tool: Tool  # the upstream definition, as listed
    digest: str
    refusal: Refusal | None = None

    @property
    def offered(self) -> bool:
        return self.refusal is None

    def listed(self) -> Tool:
        """The definition the agent sees: the upstream's, under the exposed name."""
        return self.tool.model_copy(update={"name": self.name})


class Catalog:
    """Builds the catalog from fresh listings; immutable once built."""

    def __init__(self, entries: Sequence[CatalogEntry], registry: ToolRegistry) -> None:
        self.entries = {e.name: e for e in entries}
        self.registry = registry

    def get(self, name: str) -> CatalogEntry | None:
        return self.entries.get(name)

    def offered(self) -> list[CatalogEntry]:
        return [e for e in self.entries.values() if e.offered]


def build_catalog(
    config: ProxyConfig,
    listings: Mapping[str, Sequence[Tool]],
    pins: PinStore,
    deployment_tools: Mapping[str, Any],
    screener: Screener | None,
) -> Catalog:
    """One catalog from each server's current listing. Servers seen for the first time are pinned here."""
    pins.reload()
    sections = {s.name: s for s in config.servers}
    counts: dict[str, int] = {}
    for tools in listings.values():
        for tool in tools:
            counts[tool.name] = counts.get(tool.name, 0) + 1
    entries: list[CatalogEntry] = []
    for server, tools in listings.items():
        digests = {t.name: definition_hash(_wire(t)) for t in tools}
        if not pins.knows(server):
            pins.pin(server, digests)  # trust on first use, per server
            log.info("pinned %d tools of new server %s in %s", len(digests), server, pins.path)
        section = sections[server]
        for tool in tools:
            prefixed = config.naming == "prefixed" or counts[tool.name] > 1
            name = exposed_name(server, tool.name, prefixed)
            refusal = _refusal(server, tool, name, pins.status(server, tool.name, digests[tool.name]))
            if refusal is None and screener is not None and tool.name not in section.trust_descriptions:
                refusal = _poisoned(screener, tool)
            if refusal is not None:
                log.warning("withholding %s/%s: %s: %s", server, tool.name, refusal.code, refusal.message)
            entries.append(CatalogEntry(server, tool.name, name, tool, digests[tool.name], refusal))
    registry = ToolRegistry.from_mapping(
        {
            e.name: _registry_entry(e, deployment_tools.get(e.name), sections[e.server].tools)
            for e in entries
            if e.offered
        },
        where="mcp upstream tools",
    )
    return Catalog(entries, registry)


def _wire(tool: Tool) -> dict[str, Any]:
    return tool.model_dump(by_alias=True, mode="json", exclude_none=True)


def _refusal(server: str, tool: Tool, name: str, status: PinStatus) -> Refusal | None:
    if not valid_tool_name(name):
        return Refusal(codes.TOOL_NOT_PINNED, f"{server}/{tool.name}: not a valid MCP tool name")
    if status is PinStatus.CHANGED:
        return Refusal(
            codes.TOOL_DEFINITION_CHANGED,
            f"{server}/{tool.name}: its description or schema changed since it was pinned; "
            "an operator must review it and run `railguard mcp-proxy approve-pins`",
        )
    if status is PinStatus.UNPINNED:
        return Refusal(
            codes.TOOL_NOT_PINNED,
            f"{server}/{tool.name}: new on an already pinned server; an operator must run "
            "`railguard mcp-proxy approve-pins`",
        )
    return None


def _poisoned(screener: Screener, tool: Tool) -> Refusal | None:
    """Tool poisoning: the description, and every string of the input schema (parameter
    descriptions, titles, defaults), are text the model reads as instructions."""
    text = {"description": tool.description or "", "title": tool.title or "", "inputSchema": tool.input_schema}
    outcome = screener.screen(text, "tool_output")
    if not outcome.verdict.blocks:
        return None
    why = "; ".join(r.message for r in outcome.reasons) or "flagged by the injection screener"
    return Refusal(codes.TOOL_DESCRIPTION_INJECTION, f"{tool.name}: {why}")


def _registry_entry(entry: CatalogEntry, deployment: Any, overrides: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if deployment is not None:
        if not isinstance(deployment, Mapping):
            raise ConfigError(f"deployment tools.{entry.name}: must be an object")
        spec.update({k: v for k, v in deployment.items() if k in _TRAITS})
    extra = overrides.get(entry.upstream_name, {})
    unknown = set(extra) - set(_TRAITS)
    if unknown:
        raise ConfigError(f"servers.{entry.server}.tools.{entry.upstream_name}: unknown settings {sorted(unknown)}")
    spec.update(extra)
    spec["args"] = _both(entry.tool.input_schema, deployment.get("args") if deployment else None)
    output = _both(entry.tool.output_schema, deployment.get("output") if deployment else None)
    if output is not None:
        spec["output"] = output
    return spec


def _both(upstream: Mapping[str, Any] | None, deployment: Mapping[str, Any] | None) -> Any:
    if upstream is None:
        return deployment
    if deployment is None:
        return dict(upstream)
    both: dict[str, Any] = {"allOf": [dict(upstream), dict(deployment)]}
    kind = deployment.get("type", upstream.get("type"))
    if kind is not None:  # at the top, it keeps ToolSpec.expects_json: a text result is parsed, then checked
        both["type"] = kind
    return both
