"""Reason codes of the MCP proxy: stable snake_case strings, like ``guardrails.codes``.

They appear in the ``isError`` result the agent gets and in the proxy's log. Codes of the
Guard itself (``fraud_check_required``, ``unknown_tool``...) pass through unchanged.
"""

from __future__ import annotations

from typing import Final

TOOL_DEFINITION_CHANGED: Final = "tool_definition_changed"
TOOL_NOT_PINNED: Final = "tool_not_pinned"
TOOL_DESCRIPTION_INJECTION: Final = "tool_description_injection"
UPSTREAM_UNAVAILABLE: Final = "upstream_unavailable"
UPSTREAM_TIMEOUT: Final = "upstream_timeout"
UPSTREAM_PROTOCOL_ERROR: Final = "upstream_protocol_error"

#: Every code the proxy itself emits, with the sentence a reader sees in docs/mcp-proxy.md.
DOCUMENTED: Final[dict[str, str]] = {
    TOOL_DEFINITION_CHANGED: (
        "The tool's name, description or schemas differ from the pinned definition (a rug pull?); "
        "refused until an operator runs `railguard mcp-proxy approve-pins`."
    ),
    TOOL_NOT_PINNED: "A tool appeared on an already pinned server; refused until an operator approves the pins.",
    TOOL_DESCRIPTION_INJECTION: (
        "The tool's description or schema text scores as prompt injection (tool poisoning); "
        "the tool is withheld from tools/list and every call is refused."
    ),
    UPSTREAM_UNAVAILABLE: "The upstream MCP server could not be reached or died during the call.",
    UPSTREAM_TIMEOUT: "The upstream MCP server did not answer within call_timeout_s.",
    UPSTREAM_PROTOCOL_ERROR: "The upstream answered with a protocol error or a malformed result.",
}
