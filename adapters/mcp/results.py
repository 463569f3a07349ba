"""Between MCP tool results and Railguard: what the Guard checks, and what the agent gets back.

The agent only ever gets what checkpoint 3 checked. A structured result (``structuredContent``)
is checked as that value and returned as it, with its JSON as the one text block (the upstream's
own text blocks are not passed on: they were not what was checked). An unstructured result is
its text blocks, joined. Image, audio and resource blocks are withheld (the screeners read text
only) and a note says so. A refusal is an ``isError`` result whose text gives the codes and
reasons, never the tool's output; ``_meta["io.railguard/decision"]`` carries the same for programs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mcp_types import CallToolResult, ContentBlock, TextContent

from guardrails import codes
from guardrails.model import Checkpoint, Decision, Verdict

META_KEY = "io.railguard/decision"


def checked_output(result: CallToolResult) -> tuple[Any, int]:
    """The value checkpoint 3 checks, and how many non-text blocks were left out."""
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    withheld = len(result.content) - len(texts)
    if result.structured_content is not None:
        return result.structured_content, withheld
    return "\n".join(texts), withheld


def error_text(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))[:2000]


def allowed_result(checked: Any, structured: bool, withheld: int) -> CallToolResult:
    """What the agent gets for an allowed result: the checked (maybe redacted) value only."""
    if structured:
        text = json.dumps(checked, ensure_ascii=False, indent=2)
    else:
        text = checked if isinstance(checked, str) else json.dumps(checked, ensure_ascii=False)
    content: list[ContentBlock] = [TextContent(text=text)]
    if withheld:
        content.append(TextContent(text=f"[railguard: {withheld} non-text content block(s) withheld]"))
    return CallToolResult(content=content, structured_content=checked if structured else None)


def refusal(tool: str, code: str, message: str, *, ticket: str | None = None) -> CallToolResult:
    """An ``isError`` result for a refusal the proxy made itself (pins, poisoning, upstream)."""
    doc = {"verdict": "deny", "codes": [code], "tool": tool, "ticket": ticket}
    return CallToolResult(
        content=[TextContent(text=f"railguard refused {tool}: [{code}] {message}")],
        is_error=True,
        _meta={META_KEY: doc},
    )


def decision_result(tool: str, decision: Decision, *, what: str = "call") -> CallToolResult:
    """An ``isError`` result for a Guard decision that did not allow: codes, reasons, ticket."""
    reasons = _reasons(decision)
    if decision.verdict is Verdict.ESCALATE:
        head = f"railguard escalated the {what} of {tool}: a person must decide; ticket {decision.ticket}"
        tail = "Retry the same call after a reviewer approved the ticket."
        text = f"{head}.\n{reasons}\n{tail}"
    else:
        verb = "denied" if decision.verdict is Verdict.DENY else "could not decide (error, treated as deny)"
        text = f"railguard {verb} the {what} of {tool}.\n{reasons}"
    doc = {
        "verdict": decision.verdict.value,
        "checkpoint": decision.checkpoint.value,
        "codes": list(decision.codes),
        "decision_id": decision.decision_id,
        "ticket": decision.ticket,
        "tool": tool,
    }
    return CallToolResult(content=[TextContent(text=text)], is_error=True, _meta={META_KEY: doc})


def _reasons(decision: Decision) -> str:
    # A result's reasons may quote the result (a schema error, a tool's error text): the agent
    # gets the documented sentence of each code instead, never what the tool returned.
    quoted = decision.checkpoint is Checkpoint.CHECK_RESULT
    lines: Sequence[str] = [
        f"- [{r.code}] {codes.DOCUMENTED.get(r.code, 'the result did not pass its check') if quoted else r.message}"
        for r in decision.reasons
    ] or [f"- [{decision.verdict}]"]
    return "\n".join([*lines, f"(decision {decision.decision_id})"])
