"""Holes a hostile user found in input handling, each closed with a stable code.

Every parse path (CLI, a tool's text result) goes through one parser with one set of codes;
the agent passes the same canonicalisation and limits as the arguments; a payload is stored
once. The process survives and the ledger records every decision.
"""

import json
import sqlite3
import subprocess
import sys

import pytest

from guardrails import Agent, ToolCall, ToolResult, Verdict

from .conftest import PAYER


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


# -- one parser, one set of codes -----------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"tool": "lookup_customer", "args": {"customer_id": ' + "9" * 5000 + "}}", "number_out_of_range"),
        ('{"tool": "lookup_customer", "args": {"n": -' + "1" * 4301 + "}}", "number_out_of_range"),
        ("[" * 100_000, "input_too_deep"),
        ('{"tool": "x", "args": {"n": 1e999}}', "number_not_finite"),
        ('{"tool": "x", "args": {"n": NaN}}', "number_not_finite"),
    ],
    ids=["5000-digit-int", "4301-digit-negative", "100k-brackets", "float-overflow", "NaN"],
)
def test_cli_check_refuses_hostile_json_with_exit_2_and_a_stable_code(tmp_path, text, code):
    done = subprocess.run(
        [sys.executable, "-m", "guardrails.cli", "check", "-", "--ledger", str(tmp_path / "l.db")],
        input=text.encode(),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert f"[{code}]".encode() in done.stderr
    assert b"Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("output", "code"),
    [
        ('{"anything": ' + "7" * 5000 + "}", "number_out_of_range"),
        ("[" * 100_000, "input_too_deep"),
        ('{"a": ' * 40 + "1" + "}" * 40, "input_too_deep"),
        (b'{"x": "\xff"}', "result_not_json"),
        ("<html><body>502 Bad Gateway</body></html>", "result_not_json"),
        ('{"x": "\\ud800"}', "invalid_unicode"),
    ],
    ids=["5000-digit-int", "100k-brackets", "40-deep", "bad-utf8", "html", "lone-surrogate"],
)
def test_tool_result_text_is_parsed_by_the_one_parser(make_guard, output, code):
    guard = make_guard()
    call = ToolCall(tool="lookup_customer", args={"customer_id": "c1"}, session_id="s", agent=PAYER)
    assert guard.authorize(call).allowed
    decision = guard.check_result(ToolResult(call_id=call.id, session_id="s", output=output))
    assert decision.verdict is Verdict.DENY
    assert decision.codes == (code,)


def test_tool_result_object_with_a_huge_integer_is_out_of_range(make_guard):
    guard = make_guard()
    call = ToolCall(tool="lookup_customer", args={"customer_id": "c1"}, session_id="s", agent=PAYER)
    guard.authorize(call)
    decision = guard.check_result(ToolResult(call_id=call.id, session_id="s", output={"n": 10**5000}))
    assert decision.codes == ("number_out_of_range",)


# -- the agent is canonicalised like the arguments -----------------------------------------
@pytest.mark.parametrize(
    ("attributes", "code"),
    [
        ({"blob": b"\x00\x01"}, "unsupported_type"),
        ({"tags": {"a", "b"}}, "unsupported_type"),
        ({"name": "\ud800"}, "invalid_unicode"),
        ({"deep": nested(1000)}, "input_too_deep"),
        ({"score": float("nan")}, "number_not_finite"),
        ({"score": float("inf")}, "number_not_finite"),
        ({"big": 2**64}, "number_out_of_range"),
        ({"blob": "x" * 10_000_000}, "input_too_large"),
    ],
    ids=["bytes", "set", "lone-surrogate", "1000-deep", "NaN", "inf", "2^64", "10MB"],
)
def test_hostile_agent_attributes_are_denied_with_a_stable_code(make_guard, attributes, code):
    guard = make_guard()
    agent = Agent(id="bot", roles=("payer",), attributes=attributes)
    call = ToolCall(tool="lookup_customer", args={"customer_id": "c1"}, session_id="s", agent=agent)
    decision = guard.authorize(call)
    assert decision.verdict is Verdict.DENY
    assert decision.codes == (code,)
    assert decision.stage == "canonical"
    recorded = [e for e in guard.ledger.events("s") if e.type == "decision"]
    assert len(recorded) == 1  # the ledger loses nothing
    stored = next(e for e in guard.ledger.events("s") if e.type == "call_requested").payload["call"]["agent"]
    assert stored == {"id": "bot", "rejected": code}  # never the hostile payload itself


def test_agent_attributes_are_normalised_before_policy(make_guard):
    guard = make_guard()
    agent = Agent(id="bot", roles=("payer",), attributes={"team": "e\u0301quipe", "tier": (1, 2)})
    call = ToolCall(tool="lookup_customer", args={"customer_id": "c1"}, session_id="s", agent=agent)
    assert guard.authorize(call).allowed
    decision_event = next(e for e in guard.ledger.events("s") if e.type == "decision")
    assert decision_event.payload["input"]["agent"]["attributes"] == {"team": "\u00e9quipe", "tier": [1, 2]}


def test_hostile_agents_from_many_threads_leave_the_process_and_ledger_whole(make_guard):
    from concurrent.futures import ThreadPoolExecutor

    guard = make_guard()
    attributes = [{"deep": nested(500)}, {"x": float("nan")}, {"b": b"1"}, {"ok": 1}]

    def attempt(n: int) -> str:
        agent = Agent(id="bot", roles=("payer",), attributes=attributes[n % 4])
        call = ToolCall(tool="lookup_customer", args={"customer_id": f"c{n}"}, session_id="s", agent=agent)
        return guard.authorize(call).verdict.value

    with ThreadPoolExecutor(8) as pool:
        verdicts = list(pool.map(attempt, range(40)))
    assert verdicts.count("allow") == 10 and verdicts.count("deny") == 30
    assert sum(1 for e in guard.ledger.events("s") if e.type == "decision") == 40


# -- a payload is stored once -----------------------------------------------------------
def test_a_large_argument_is_stored_once_in_the_ledger(make_guard, tmp_path):
    guard = make_guard(db="once.db")
    marker = "MARKER-" + "q" * 90_000  # within the tool's schema (a denied call would quote 200 chars of it)
    call = ToolCall(tool="send_email", args={"to": "a@example.com", "subject": "s", "body": marker}, session_id="s")
    guard.authorize(call)
    guard.close()
    with sqlite3.connect(tmp_path / "once.db") as db:
        stored = sum(row[0].count(marker) for row in db.execute("SELECT payload FROM events"))
    assert stored == 1


def test_replay_sees_the_arguments_stored_with_the_call(make_guard, tmp_path):
    from guardrails import PolicySet
    from guardrails.replay import replay

    from .conftest import MINI_POLICY

    guard = make_guard(db="replay.db")
    for amount in (100, 5000, 20000):
        guard.authorize(ToolCall(tool="make_payment", args=_pay(amount), session_id="s", agent=PAYER))
    guard.close()
    stricter = MINI_POLICY.replace("input.call.args.amount > 10000", "input.call.args.amount > 4000")
    report = replay(tmp_path / "replay.db", PolicySet.from_sources({"mini.rego": stricter}))
    assert report.replayed == 3 and report.skipped == 0
    # Only the 5,000 payment changes: the rule read its amount, from the call's own event.
    assert [(c.before, c.after) for c in report.changes] == [
        ("deny [fraud_check_required]", "deny [amount_over_limit, fraud_check_required]")
    ]


def _pay(amount: int) -> dict:
    return {"transaction_id": f"t{amount}", "amount": amount, "currency": "EUR", "recipient": "ACME"}


def test_decisions_record_the_config_revision_and_the_ledger_keeps_that_config(make_guard):
    guard = make_guard()
    decision = guard.authorize(ToolCall(tool="lookup_customer", args={"customer_id": "c"}, session_id="s"))
    assert decision.config_revision == guard.config_revision
    assert guard.ledger.config(guard.config_revision) == json.loads(json.dumps(guard.config))
