"""The MCP proxy's parts: config, pins, upstream connections, catalog, results, the proxy itself.

Needs the ``mcp`` extra (``mcp>=2.3,<3``). The command is ``railguard mcp-proxy``
(:mod:`adapters.mcp_proxy`); docs/mcp-proxy.md describes the behaviour and its codes.
"""

from adapters.mcp.codes import DOCUMENTED
from adapters.mcp.config import ProxyConfig, load_proxy_config
from adapters.mcp.pins import PinStore, definition_hash
from adapters.mcp.proxy import McpProxy

__all__ = ["DOCUMENTED", "McpProxy", "PinStore", "ProxyConfig", "definition_hash", "load_proxy_config"]
