"""OpenAI: the function-calling dispatch loop and the Agents SDK tools are guarded by Railguard;
denials come back as refusals the model reads, escalations as approval interruptions."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from adapters import GuardedTool, guarded, railguard_context, registry_from
from adapters.openai import dispatch, function_tool, pending_ticket
from guardrails import Agent, Guard, PolicySet, SQLiteLedger
from guardrails.config import load_settings
from guardrails.escalation import reviewer

from .conftest import PAYMENTS, POLICIES

AGENT = Agent(id="payments-bot", roles=("payments_agent",))
ACME = "ACME-SUPPLIES-001"


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.runs: list[str] = []

        @guarded(key="transaction_id", facts=["status", "score"])
        def fraud_check(transaction_id: str) -> dict[str, Any]:
            """Scores a transaction for fraud."""
            self.runs.append(f"fraud_check:{transaction_id}")
            return {"status": "passed", "score": 0.02}

        @guarded(key="transaction_id", once_per_key=True, outbound=True)
        def make_payment(
            transaction_id: str, amount: float, currency: str, recipient: str, idempotency_key: str
        ) -> dict[str, Any]:
            """Moves money."""
            self.runs.append(f"make_payment:{transaction_id}:{idempotency_key}")
            return {"payment_id": f"p-{transaction_id}", "status": "settled"}

        self.tools: dict[str, GuardedTool[Any]] = {"fraud_check": fraud_check, "make_payment": make_payment}
        self.guard = Guard(
            policies=PolicySet.load(POLICIES),
            tools=registry_from(self.tools.values()),
            ledger=SQLiteLedger(tmp_path / "oa.db"),
            config=load_settings(PAYMENTS / "railguard.toml").params,
        )


@pytest.fixture
def world(tmp_path: Path) -> Any:
    world = World(tmp_path)
    with railguard_context(guard=world.guard, session_id="oa-session", agent=AGENT):
        yield world
    world.guard.close()


def function_call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


def payment(txn: str, amount: float) -> dict[str, Any]:
    return {"transaction_id": txn, "amount": amount, "currency": "EUR", "recipient": ACME}


# -- plain function calling ---------------------------------------------------------------------
def test_dispatch_refuses_a_payment_without_fraud_check_in_words_the_model_reads(world):
    [message] = dispatch([function_call("call_1", "make_payment", payment("t-1", 250))], world.tools)
    assert message["role"] == "tool" and message["tool_call_id"] == "call_1"
    refusal = json.loads(message["content"])
    assert refusal["railguard"] == "deny" and "fraud_check_required" in refusal["codes"]
    assert refusal["reasons"] and world.runs == []


def test_dispatch_runs_a_payment_after_a_fraud_check(world):
    messages = dispatch(
        [
            function_call("call_1", "fraud_check", {"transaction_id": "t-1"}),
            function_call("call_2", "make_payment", payment("t-1", 250)),
        ],
        world.tools,
    )
    assert json.loads(messages[1]["content"]) == {"payment_id": "p-t-1", "status": "settled"}
    assert world.runs == ["fraud_check:t-1", "make_payment:t-1:call_2"]


@pytest.mark.parametrize("arguments", ['{"transaction_id": ', "[1, 2]", "not json at all"])
def test_dispatch_never_runs_a_tool_with_malformed_arguments(world, arguments):
    [message] = dispatch([function_call("call_1", "fraud_check", arguments)], world.tools)
    assert json.loads(message["content"])["railguard"] == "deny"
    assert world.runs == []


def test_dispatch_refuses_an_unknown_tool(world):
    [message] = dispatch([function_call("call_1", "wire_money", {})], world.tools)
    assert json.loads(message["content"])["codes"] == ["unknown_tool"]


def test_dispatch_escalates_above_the_threshold_and_the_same_calls_resume_after_approval(world):
    calls = [
        function_call("call_1", "fraud_check", {"transaction_id": "t-2"}),
        function_call("call_2", "make_payment", payment("t-2", 2000)),
    ]
    first = json.loads(dispatch(calls, world.tools)[1]["content"])
    assert first["railguard"] == "escalate" and "amount_needs_approval" in first["codes"]
    world.guard.queue.approve(first["ticket"], reviewer("alice"), "invoice checked")
    again = dispatch(calls, world.tools)
    assert json.loads(again[1]["content"])["status"] == "settled"
    assert world.runs == ["fraud_check:t-2", "make_payment:t-2:call_2"]  # each tool ran once


# -- OpenAI Agents SDK --------------------------------------------------------------------------
agents = pytest.importorskip("agents")

from agents import Agent as SdkAgent  # noqa: E402
from agents import ModelResponse, Runner, Usage, set_tracing_disabled  # noqa: E402
from agents.models.interface import Model  # noqa: E402
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText  # noqa: E402

set_tracing_disabled(True)  # no trace export: no network in tests


class ScriptedModel(Model):
    """Answers each turn with the next scripted tool calls, then with a closing text."""

    def __init__(self, turns: list[list[tuple[str, str, dict[str, Any]]]]) -> None:
        self.turns = list(turns)
        self.seen: list[Any] = []

    async def get_response(
        self, system_instructions, input, model_settings, tools, output_schema, handoffs, tracing, **kw
    ):  # type: ignore[no-untyped-def]
        self.seen.append(input)
        if self.turns:
            output: list[Any] = [
                ResponseFunctionToolCall(
                    type="function_call", call_id=cid, name=name, arguments=json.dumps(args), id=f"fc_{cid}"
                )
                for cid, name, args in self.turns.pop(0)
            ]
        else:
            text = ResponseOutputText(type="output_text", text="done", annotations=[])
            output = [
                ResponseOutputMessage(id="msg", type="message", role="assistant", status="completed", content=[text])
            ]
        return ModelResponse(output=output, usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


def sdk_agent(world: World, *turns: list[tuple[str, str, dict[str, Any]]]) -> Any:
    return SdkAgent(
        name="payments",
        model=ScriptedModel(list(turns)),
        tools=[function_tool(t) for t in world.tools.values()],
    )


def outputs(result: Any) -> dict[str, str]:
    return {item.raw_item["call_id"]: item.output for item in result.new_items if item.type == "tool_call_output_item"}


def test_sdk_payment_without_fraud_check_is_refused(world):
    result = asyncio.run(Runner.run(sdk_agent(world, [("c1", "make_payment", payment("t-1", 250))]), "pay"))
    assert "fraud_check_required" in json.loads(outputs(result)["c1"])["codes"]
    assert world.runs == []


def test_sdk_payment_after_a_fraud_check_runs(world):
    agent = sdk_agent(
        world, [("c1", "fraud_check", {"transaction_id": "t-1"})], [("c2", "make_payment", payment("t-1", 250))]
    )
    result = asyncio.run(Runner.run(agent, "pay"))
    assert json.loads(outputs(result)["c2"])["status"] == "settled"
    assert world.runs == ["fraud_check:t-1", "make_payment:t-1:c2"]


def test_sdk_escalation_is_an_interruption_carrying_the_ticket_and_approval_runs_it_once(world):
    agent = sdk_agent(
        world, [("c1", "fraud_check", {"transaction_id": "t-2"})], [("c2", "make_payment", payment("t-2", 2000))]
    )
    result = asyncio.run(Runner.run(agent, "pay"))
    [item] = result.interruptions
    ticket = pending_ticket(item, world.tools["make_payment"])
    assert ticket and world.guard.queue.get(ticket).codes == ("amount_needs_approval",)
    assert world.runs == ["fraud_check:t-2"]
    world.guard.queue.approve(ticket, reviewer("alice"), "invoice checked")
    state = result.to_state()
    state.approve(item)
    resumed = asyncio.run(Runner.run(agent, state))
    assert json.loads(outputs(resumed)["c2"])["status"] == "settled"
    assert world.runs == ["fraud_check:t-2", "make_payment:t-2:c2"]


def test_sdk_approval_without_the_reviewers_answer_does_not_run_the_payment(world):
    agent = sdk_agent(
        world, [("c1", "fraud_check", {"transaction_id": "t-3"})], [("c2", "make_payment", payment("t-3", 2000))]
    )
    result = asyncio.run(Runner.run(agent, "pay"))
    state = result.to_state()
    state.approve(result.interruptions[0])  # the app said yes; Railguard's ticket is still open
    resumed = asyncio.run(Runner.run(agent, state))
    assert json.loads(outputs(resumed)["c2"])["railguard"] == "escalate"
    assert world.runs == ["fraud_check:t-3"]
