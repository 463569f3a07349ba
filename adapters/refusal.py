"""What an agent reads when Railguard stops a call: the codes and reasons, as JSON text.

The codes are the stable API; the reasons say why in words a model can act on (run the fraud
check first, ask for a smaller amount). The text never includes the refused output.
"""

from __future__ import annotations

import json
from typing import Any

from guardrails.model import Decision, Verdict

_ADVICE = {
    Verdict.DENY: "Railguard denied this tool call. Do not repeat it unchanged.",
    Verdict.ERROR: "Railguard could not check this tool call, so it did not run.",
    Verdict.ESCALATE: "This tool call waits for a person to approve it (ticket below).",
}


def refusal(decision: Decision, *, what: str = "call") -> str:
    """The tool message content for a decision that stopped a call (or, ``what="result"``, its result)."""
    doc: dict[str, Any] = {
        "railguard": decision.verdict.value,
        "message": _ADVICE.get(decision.verdict, "Railguard stopped this tool call."),
        "codes": list(decision.codes),
        "reasons": [r.message for r in decision.reasons],
    }
    if what == "result":
        doc["message"] = "The tool ran, but its result did not pass Railguard's check and is withheld."
    if decision.ticket:
        doc["ticket"] = decision.ticket
    return json.dumps(doc, ensure_ascii=False)


def content_of(output: Any) -> str:
    """Tool output as message content: text as it is, JSON data dumped."""
    return output if isinstance(output, str) else json.dumps(output, ensure_ascii=False, default=str)
