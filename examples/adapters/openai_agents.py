"""The OpenAI Agents SDK, guarded: a scripted model (no network) asks for payments; Railguard
denies, allows, and turns an escalation into the SDK's approval interruption.

    python examples/adapters/openai_agents.py
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from agents import Agent, ModelResponse, Runner, Usage, set_tracing_disabled
from agents.models.interface import Model
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText
from payments_tools import AGENT, TOOLS, make_payment, payment_args, payments_guard

from adapters import railguard_context
from adapters.openai import function_tool, pending_ticket
from guardrails.escalation import reviewer

set_tracing_disabled(True)  # no trace export: nothing leaves the machine


class ScriptedModel(Model):
    def __init__(self, turns: list[tuple[str, str, dict[str, Any]]]) -> None:
        self.turns = list(turns)

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        if self.turns:
            call_id, name, arguments = self.turns.pop(0)
            item: Any = ResponseFunctionToolCall(
                type="function_call", call_id=call_id, name=name, arguments=json.dumps(arguments), id=f"fc_{call_id}"
            )
        else:
            text = ResponseOutputText(type="output_text", text="done", annotations=[])
            item = ResponseOutputMessage(id="msg", type="message", role="assistant", status="completed", content=[text])
        return ModelResponse(output=[item], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


def report(result: Any, seen: set[str]) -> None:
    for item in result.new_items:
        if item.type == "tool_call_output_item" and item.raw_item["call_id"] not in seen:
            seen.add(item.raw_item["call_id"])
            doc = json.loads(item.output)
            said = f"{doc['railguard']} {doc['codes']}" if "railguard" in doc else f"allow -> {item.output}"
            print(f"  {item.raw_item['call_id']}: {said}")


async def main() -> None:
    with payments_guard() as guard, railguard_context(guard=guard, session_id="openai-agents", agent=AGENT):
        model = ScriptedModel(
            [
                ("c1", "make_payment", payment_args("t-1", 250)),
                ("c2", "fraud_check", {"transaction_id": "t-1"}),
                ("c3", "make_payment", payment_args("t-1", 250)),
                ("c4", "fraud_check", {"transaction_id": "t-2"}),
                ("c5", "make_payment", payment_args("t-2", 2500)),
            ]
        )
        agent = Agent(name="payments", model=model, tools=[function_tool(t) for t in TOOLS])
        print("run: pay before a fraud check (c1), check (c2), pay (c3), check t-2 (c4), pay 2500 EUR (c5)")
        seen: set[str] = set()
        result = await Runner.run(agent, "pay the invoices")
        report(result, seen)
        for item in result.interruptions:
            ticket = pending_ticket(item, make_payment)
            print(f"  {item.raw_item.call_id}: escalate, interrupted for approval, ticket {ticket}")
            guard.queue.approve(ticket or "", reviewer("alice"), "invoice checked")
            print("reviewer alice approved the ticket; resuming the run")
        state = result.to_state()
        for item in result.interruptions:
            state.approve(item)
        report(await Runner.run(agent, state), seen)


if __name__ == "__main__":
    asyncio.run(main())
