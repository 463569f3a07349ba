"""Plain OpenAI function calling, guarded: a scripted model's tool_calls go through Railguard.

python examples/adapters/openai_dispatch.py
"""

from __future__ import annotations

import json
from typing import Any

from payments_tools import AGENT, TOOLS, payment_args, payments_guard

from adapters import railguard_context
from adapters.openai import dispatch
from guardrails.escalation import reviewer


def tool_call(call_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


# What a model would answer, turn by turn (scripted: no network).
SCRIPT = [
    [tool_call("call_1", "make_payment", payment_args("t-1", 250))],
    [tool_call("call_2", "fraud_check", {"transaction_id": "t-1"})],
    [tool_call("call_3", "make_payment", payment_args("t-1", 250))],
    [tool_call("call_4", "fraud_check", {"transaction_id": "t-2"})],
    [tool_call("call_5", "make_payment", payment_args("t-2", 2500))],
]


def verdict(content: str) -> str:
    doc = json.loads(content)
    if "railguard" in doc:
        return f"{doc['railguard']} {doc['codes']}"
    return f"allow -> {content}"


def main() -> None:
    with payments_guard() as guard, railguard_context(guard=guard, session_id="openai-dispatch", agent=AGENT):
        titles = [
            "pay 250 EUR before a fraud check",
            "fraud check t-1",
            "pay 250 EUR after it",
            "fraud check t-2",
            "pay 2500 EUR",
        ]
        escalated: dict[str, Any] = {}
        for title, calls in zip(titles, SCRIPT, strict=True):
            [message] = dispatch(calls, TOOLS)
            print(f"{title}: {verdict(message['content'])}")
            if json.loads(message["content"]).get("railguard") == "escalate":
                escalated = {"calls": calls, "ticket": json.loads(message["content"])["ticket"]}
        guard.queue.approve(escalated["ticket"], reviewer("alice"), "invoice checked")
        [message] = dispatch(escalated["calls"], TOOLS)  # the same call id, after the approval
        print(f"reviewer approved, same call again: {verdict(message['content'])}")


if __name__ == "__main__":
    main()
