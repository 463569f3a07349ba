"""LangChain v1 / LangGraph: the middleware guards every tool call of a create_agent agent; an
escalation is a LangGraph interrupt carrying the ticket, resumed by the exact same call id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langchain")
pytest.importorskip("langgraph")

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from adapters import GuardedTool, guarded, registry_from
from adapters.langchain import RailguardMiddleware, as_langchain_tool, call_id_for
from guardrails import Agent, ConfigError, Guard, PolicySet, SQLiteLedger
from guardrails.config import load_settings
from guardrails.escalation import reviewer
from guardrails.ledger.base import CALL_REQUESTED, RESULT_RECORDED

from .conftest import PAYMENTS, POLICIES

AGENT = Agent(id="payments-bot", roles=("payments_agent",))
ACME = "ACME-SUPPLIES-001"


class ScriptedChatModel(FakeMessagesListChatModel):
    """Answers with the scripted messages in turn; tools are bound by name only."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self


def ask(*calls: tuple[str, dict[str, Any], str]) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": n, "args": a, "id": i, "type": "tool_call"} for n, a, i in calls])


def pay(txn: str, amount: float, call: str) -> tuple[str, dict[str, Any], str]:
    args = {"transaction_id": txn, "amount": amount, "currency": "EUR", "recipient": ACME}
    return ("make_payment", args, call)


def check(txn: str, call: str) -> tuple[str, dict[str, Any], str]:
    return ("fraud_check", {"transaction_id": txn}, call)


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.runs: list[str] = []
        self.html = False

        @guarded(key="transaction_id", facts=["status", "score"])
        def fraud_check(transaction_id: str) -> dict[str, Any]:
            """Scores a transaction for fraud."""
            self.runs.append(f"fraud_check:{transaction_id}")
            if self.html:
                return "<html>502 Bad Gateway</html>"  # type: ignore[return-value]
            return {"status": "passed", "score": 0.02}

        @guarded(key="transaction_id", once_per_key=True, outbound=True)
        def make_payment(
            transaction_id: str, amount: float, currency: str, recipient: str, idempotency_key: str
        ) -> dict[str, Any]:
            """Moves money."""
            self.runs.append(f"make_payment:{transaction_id}:{idempotency_key}")
            if transaction_id == "t-boom":
                raise ConnectionError("bank unreachable")
            return {"payment_id": f"p-{transaction_id}", "status": "settled"}

        self.tools: list[GuardedTool[Any]] = [fraud_check, make_payment]
        self.guard = Guard(
            policies=PolicySet.load(POLICIES),
            tools=registry_from(self.tools),
            ledger=SQLiteLedger(tmp_path / "lc.db"),
            config=load_settings(PAYMENTS / "railguard.toml").params,
        )

    def agent(self, *script: AIMessage, **options: Any) -> Any:
        model = ScriptedChatModel(responses=[*script, AIMessage(content="done")])
        return create_agent(
            model,
            tools=[as_langchain_tool(t) for t in self.tools],
            middleware=[RailguardMiddleware(self.guard, agent=AGENT, **options)],
            checkpointer=InMemorySaver(),
        )


@pytest.fixture
def world(tmp_path: Path) -> Any:
    world = World(tmp_path)
    yield world
    world.guard.close()


CONFIG = {"configurable": {"thread_id": "lc-session"}}


def tool_messages(state: dict[str, Any]) -> dict[str, ToolMessage]:
    return {m.tool_call_id: m for m in state["messages"] if isinstance(m, ToolMessage)}


def test_payment_without_fraud_check_is_refused_in_a_message_the_model_reads(world):
    state = world.agent(ask(pay("t-1", 250, "c1"))).invoke({"messages": [HumanMessage("pay")]}, CONFIG)
    message = tool_messages(state)["c1"]
    assert message.status == "error"
    assert "fraud_check_required" in json.loads(message.content)["codes"]
    assert world.runs == []


def test_payment_after_a_fraud_check_runs_and_its_checked_result_reaches_the_model(world):
    agent = world.agent(ask(check("t-1", "c1")), ask(pay("t-1", 250, "c2")))
    state = agent.invoke({"messages": [HumanMessage("pay")]}, CONFIG)
    messages = tool_messages(state)
    assert json.loads(messages["c2"].content) == {"payment_id": "p-t-1", "status": "settled"}
    assert world.runs == ["fraud_check:t-1", "make_payment:t-1:lc-c2"]


def test_escalation_interrupts_with_the_ticket_and_resume_runs_the_same_call_once(world):
    agent = world.agent(ask(check("t-2", "c1")), ask(pay("t-2", 4000, "c2")))
    state = agent.invoke({"messages": [HumanMessage("pay")]}, CONFIG)
    [pending] = state["__interrupt__"]
    assert pending.value["call_id"] == call_id_for("c2", "", None)
    assert "amount_needs_approval" in pending.value["codes"]
    assert world.runs == ["fraud_check:t-2"]
    world.guard.queue.approve(pending.value["ticket"], reviewer("alice"), "invoice checked")
    state = agent.invoke(Command(resume="approved"), CONFIG)
    assert json.loads(tool_messages(state)["c2"].content)["status"] == "settled"
    assert world.runs == ["fraud_check:t-2", "make_payment:t-2:lc-c2"]
    requested = [
        e for e in world.guard.ledger.events("lc-session") if e.type == CALL_REQUESTED and e.call_id == "lc-c2"
    ]
    assert len(requested) == 1  # re-running the node did not record the call twice


def test_resuming_before_the_reviewer_answered_interrupts_again(world):
    agent = world.agent(ask(check("t-3", "c1")), ask(pay("t-3", 2000, "c2")))
    first = agent.invoke({"messages": [HumanMessage("pay")]}, CONFIG)["__interrupt__"][0]
    again = agent.invoke(Command(resume="any news?"), CONFIG)["__interrupt__"][0]
    assert again.value["ticket"] == first.value["ticket"]
    assert world.runs == ["fraud_check:t-3"]


def test_parallel_interrupts_each_resolve_to_their_own_call(world):
    agent = world.agent(
        ask(check("t-a", "c1"), check("t-b", "c2")),
        ask(pay("t-a", 2000, "c3"), pay("t-b", 3000, "c4")),
    )
    state = agent.invoke({"messages": [HumanMessage("pay both")]}, CONFIG)
    by_call = {i.value["call_id"]: i for i in state["__interrupt__"]}
    assert set(by_call) == {"lc-c3", "lc-c4"}
    world.guard.queue.approve(by_call["lc-c3"].value["ticket"], reviewer("alice"), "ok")
    world.guard.queue.deny(by_call["lc-c4"].value["ticket"], reviewer("alice"), "no invoice")
    state = agent.invoke(Command(resume={i.id: "answered" for i in by_call.values()}), CONFIG)
    messages = tool_messages(state)
    assert json.loads(messages["c3"].content)["status"] == "settled"
    assert "denied_by_reviewer" in json.loads(messages["c4"].content)["codes"]
    assert [r for r in world.runs if r.startswith("make_payment")] == ["make_payment:t-a:lc-c3"]


def test_the_reviewers_answer_given_on_resume_is_recorded_in_the_queue(world):
    def answer(ticket: str, value: dict[str, str]) -> None:
        if value["decision"] == "approve":
            world.guard.queue.approve(ticket, reviewer(value["by"]), value["note"])
        else:
            world.guard.queue.deny(ticket, reviewer(value["by"]), value["note"])

    agent = world.agent(ask(check("t-4", "c1")), ask(pay("t-4", 2000, "c2")), answer_ticket=answer)
    ticket = agent.invoke({"messages": [HumanMessage("pay")]}, CONFIG)["__interrupt__"][0].value["ticket"]
    state = agent.invoke(Command(resume={"decision": "approve", "by": "alice", "note": "ok"}), CONFIG)
    assert json.loads(tool_messages(state)["c2"].content)["status"] == "settled"
    assert world.guard.queue.get(ticket).resolved_by == ("alice",)


def test_a_tool_that_raises_is_recorded_as_failed(world):
    agent = world.agent(ask(check("t-boom", "c1")), ask(pay("t-boom", 10, "c2")))
    with pytest.raises(ConnectionError):
        agent.invoke({"messages": [HumanMessage("pay")]}, CONFIG)
    outcomes = [e.payload["outcome"] for e in world.guard.ledger.events("lc-session") if e.type == RESULT_RECORDED]
    assert outcomes == ["succeeded", "failed"]


def test_html_where_json_was_promised_never_reaches_the_model(world):
    world.html = True
    state = world.agent(ask(check("t-5", "c1"))).invoke({"messages": [HumanMessage("check")]}, CONFIG)
    message = tool_messages(state)["c1"]
    assert message.status == "error" and "502" not in message.content
    assert json.loads(message.content)["codes"] == ["result_not_json"]


def test_a_bridged_tool_refuses_to_run_outside_the_middleware(world):
    tool = as_langchain_tool(world.tools[0])
    with pytest.raises(ConfigError, match="RailguardMiddleware"):
        tool.invoke({"transaction_id": "t-1"})
    assert world.runs == []
