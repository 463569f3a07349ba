"""LangChain v1 / LangGraph, guarded: a create_agent agent with RailguardMiddleware and a
scripted chat model (no network). An escalation is a LangGraph interrupt carrying the ticket.

    python examples/adapters/langchain_agent.py
"""

from __future__ import annotations

import json
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from payments_tools import AGENT, TOOLS, payment_args, payments_guard

from adapters.langchain import RailguardMiddleware, as_langchain_tool
from guardrails.escalation import reviewer


class ScriptedChatModel(FakeMessagesListChatModel):
    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self


def ask(call_id: str, name: str, args: dict[str, Any]) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}])


def report(state: dict[str, Any], seen: set[str]) -> None:
    for message in state["messages"]:
        if isinstance(message, ToolMessage) and message.tool_call_id not in seen:
            seen.add(message.tool_call_id)
            doc = json.loads(str(message.content))
            said = f"{doc['railguard']} {doc['codes']}" if "railguard" in doc else f"allow -> {message.content}"
            print(f"  {message.tool_call_id}: {said}")


def main() -> None:
    with payments_guard() as guard:
        model = ScriptedChatModel(
            responses=[
                ask("c1", "make_payment", payment_args("t-1", 250)),
                ask("c2", "fraud_check", {"transaction_id": "t-1"}),
                ask("c3", "make_payment", payment_args("t-1", 250)),
                ask("c4", "fraud_check", {"transaction_id": "t-2"}),
                ask("c5", "make_payment", payment_args("t-2", 2500)),
                AIMessage(content="done"),
            ]
        )
        agent = create_agent(
            model,
            tools=[as_langchain_tool(t) for t in TOOLS],
            middleware=[RailguardMiddleware(guard, agent=AGENT)],
            checkpointer=InMemorySaver(),
        )
        config: Any = {"configurable": {"thread_id": "langchain-agent"}}
        seen: set[str] = set()
        print("run: pay before a fraud check (c1), check (c2), pay (c3), check t-2 (c4), pay 2500 EUR (c5)")
        state = agent.invoke({"messages": [HumanMessage("pay the invoices")]}, config)
        report(state, seen)
        for pending in state.get("__interrupt__", []):
            ticket = pending.value["ticket"]
            print(f"  {pending.value['call_id']}: escalate {pending.value['codes']}, interrupted, ticket {ticket}")
            guard.queue.approve(ticket, reviewer("alice"), "invoice checked")
            print("reviewer alice approved the ticket; resuming the graph")
        report(agent.invoke(Command(resume="approved"), config), seen)


if __name__ == "__main__":
    main()
