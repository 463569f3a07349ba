"""The ``railguard`` command, driven as a user would (exit codes and output)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from guardrails import Agent, ToolCall, ToolResult
from guardrails.cli import main
from guardrails.engines import opa

from .conftest import PAYMENTS, POLICIES


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The payments deployment with its ledger in a temp directory."""
    text = (PAYMENTS / "railguard.toml").read_text()
    text = text.replace('policies = "../../policies"', f'policies = "{POLICIES}"')
    text = text.replace('tools = "tools.json"', f'tools = "{PAYMENTS / "tools.json"}"')
    return write(tmp_path / "railguard.toml", text)


def test_check_denies_a_payment_without_fraud_check(capsys, tmp_path, config):
    call = write(
        tmp_path / "call.json",
        json.dumps(
            {
                "tool": "make_payment",
                "session_id": "s1",
                "agent": {"id": "bot", "roles": ["payments_agent"]},
                "args": {"transaction_id": "t1", "amount": 10, "currency": "EUR", "recipient": "ACME-SUPPLIES-001"},
            }
        ),
    )
    code, out, _ = run(capsys, "check", str(call), "--config", str(config), "--json")
    assert code == 1
    decision = json.loads(out)
    assert decision["verdict"] == "deny"
    assert "fraud_check_required" in [r["code"] for r in decision["reasons"]]


def test_check_allows_a_permitted_lookup(capsys, tmp_path, config):
    call = write(
        tmp_path / "call.json",
        json.dumps({"tool": "lookup_customer", "args": {"customer_id": "c1"}, "agent": {"roles": ["support_agent"]}}),
    )
    code, out, _ = run(capsys, "check", str(call), "--config", str(config))
    assert code == 0 and out.startswith("ALLOW")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b'{"tool": "make_payment", "args": ', "malformed_json"),
        (b"\xff\xfe\x00garbage", "invalid_encoding"),
        (b'["not", "an", "object"]', "malformed_json"),
        (b'{"tool": 5, "args": {}}', "malformed_json"),
    ],
    ids=["truncated", "non-utf8", "array", "tool-not-string"],
)
def test_check_reports_bad_input_with_a_stable_code(capsys, tmp_path, config, payload, code):
    call = write(tmp_path / "call.json", payload)
    status, _, err = run(capsys, "check", str(call), "--config", str(config))
    assert status == 2
    assert f"[{code}]" in err


def test_check_of_unknown_tool_is_a_deny(capsys, tmp_path, config):
    call = write(tmp_path / "call.json", json.dumps({"tool": "drop_database", "args": {}}))
    code, out, _ = run(capsys, "check", str(call), "--config", str(config))
    assert code == 1 and "unknown_tool" in out


def test_policy_check_reports_a_syntax_error_with_file_and_line(capsys, tmp_path):
    (tmp_path / "p").mkdir()
    write(tmp_path / "p" / "ok.rego", "package railguard.tool_call\nimport rego.v1\ndefault allow := false\n")
    write(tmp_path / "p" / "broken.rego", "package railguard.tool_call\nimport rego.v1\n\ndeny contains x if {\n")
    code, _, err = run(capsys, "policy", "check", str(tmp_path / "p"))
    assert code == 2
    assert "broken.rego:" in err


def test_missing_policy_directory_is_a_clear_error(capsys, tmp_path):
    code, _, err = run(capsys, "policy", "test", str(tmp_path / "nowhere"))
    assert code == 2 and "policy_dir_missing" in err


def test_policy_test_names_the_failing_case(capsys, tmp_path):
    (tmp_path / "p" / "cases").mkdir(parents=True)
    write(
        tmp_path / "p" / "a.rego",
        'package railguard.tool_call\nimport rego.v1\ndefault allow := false\nallow if input.call.tool == "ok"\n',
    )
    write(
        tmp_path / "p" / "a_test.rego",
        "package railguard.tool_call_test\nimport rego.v1\n"
        "import data.railguard.tool_call\n"
        'test_ok_is_allowed if tool_call.allow with input as {"call": {"tool": "ok"}}\n'
        'test_wrongly_expected if tool_call.allow with input as {"call": {"tool": "no"}}\n',
    )
    write(
        tmp_path / "p" / "cases" / "a.json",
        json.dumps(
            {
                "base": {"call": {"tool": "ok"}},
                "cases": [
                    {"name": "ok allowed", "input": {}, "expect": {"verdict": "allow", "codes": []}},
                    {
                        "name": "no is wrongly expected",
                        "input": {"call": {"tool": "no"}},
                        "expect": {"verdict": "allow"},
                    },
                ],
            }
        ),
    )
    code, out, _ = run(capsys, "policy", "test", str(tmp_path / "p"))
    assert code == 1
    assert "FAIL: data.railguard.tool_call_test.test_wrongly_expected" in out
    assert "no is wrongly expected" in out and "expected allow [], got deny ['not_allowed']" in out
    assert "test_ok_is_allowed" not in out  # passing tests are quiet unless -v


def test_policy_explain_shows_which_rules_fired(capsys, tmp_path):
    (tmp_path / "p").mkdir()
    write(
        tmp_path / "p" / "a.rego",
        "package railguard.tool_call\nimport rego.v1\ndefault allow := false\n"
        'allow if input.call.tool == "ok"\n'
        'deny contains {"code": "too_big", "message": "m"} if input.call.args.n > 3\n',
    )
    doc = write(tmp_path / "in.json", json.dumps({"call": {"tool": "ok", "args": {"n": 5}}}))
    code, out, _ = run(capsys, "policy", "explain", str(tmp_path / "p"), "--input", str(doc))
    assert code == 0
    assert "verdict: deny" in out and "too_big" in out
    assert "allow: FIRED true" in out
    if opa.available():  # the OPA engine also names the rule bodies that succeeded, with file:line
        assert "a.rego:5: deny contains" in out


def test_replay_reports_decisions_that_change_under_a_candidate_policy(capsys, tmp_path, config):
    ledger = tmp_path / "recorded.db"
    call = write(
        tmp_path / "call.json",
        json.dumps({"tool": "lookup_customer", "args": {"customer_id": "c1"}, "agent": {"roles": ["support_agent"]}}),
    )
    assert run(capsys, "check", str(call), "--config", str(config), "--ledger", str(ledger))[0] == 0
    (tmp_path / "candidate").mkdir()
    write(
        tmp_path / "candidate" / "strict.rego", "package railguard.tool_call\nimport rego.v1\ndefault allow := false\n"
    )
    code, out, _ = run(capsys, "replay", str(ledger), "--policies", str(tmp_path / "candidate"), "--fail-on-change")
    assert code == 1
    assert "lookup_customer: allow [] -> deny [not_allowed]" in out
    code, out, _ = run(capsys, "replay", str(ledger), "--policies", str(POLICIES))
    assert code == 0 and "0 changed" in out


def test_demo_walks_the_payment_workflow(capsys):
    code, out, _ = run(capsys, "demo")
    assert code == 0, out
    for expected in (
        "fraud_check_required",
        "result_not_json",
        "amount_needs_approval",
        "amount_over_limit",
        "demo passed",
    ):
        assert expected in out


def test_bundled_policies_pass_their_tests(capsys):
    code, out, _ = run(capsys, "policy", "test", str(POLICIES))
    assert code == 0, out
    assert " 0 failed" in out


def test_the_installed_command_runs():
    done = subprocess.run([sys.executable, "-m", "guardrails.cli", "--help"], capture_output=True, timeout=60)
    assert done.returncode == 0 and b"policy" in done.stdout


def test_check_reads_the_call_from_stdin(tmp_path, config):
    call = json.dumps({"tool": "lookup_customer", "args": {"customer_id": "c1"}, "agent": {"roles": ["support_agent"]}})
    done = subprocess.run(
        [sys.executable, "-m", "guardrails.cli", "check", "-", "--config", str(config), "--json"],
        input=call.encode(),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verdict"] == "allow"


def test_check_with_a_bad_config_is_a_clear_error(capsys, tmp_path):
    bad = write(tmp_path / "railguard.toml", "[railguard]\nengine = 'wasm'\npolicies = '/nowhere'\n")
    call = write(tmp_path / "call.json", json.dumps({"tool": "x", "args": {}}))
    code, _, err = run(capsys, "check", str(call), "--config", str(bad))
    assert code == 2 and "railguard: error" in err


def test_queue_commands_list_show_approve_and_refuse(tmp_path, capsys) -> None:
    from guardrails.cli import main
    from tests.conftest import payments_guard

    db = tmp_path / "q.db"
    guard = payments_guard(db)
    agent = Agent(id="bot", roles=("payments_agent",))
    check = ToolCall(tool="fraud_check", args={"transaction_id": "t1"}, session_id="s", agent=agent)
    guard.authorize(check)
    guard.check_result(ToolResult(call_id=check.id, session_id="s", output={"status": "passed"}))
    args = {"transaction_id": "t1", "amount": 3000, "currency": "EUR", "recipient": "ACME-SUPPLIES-001"}
    payment = ToolCall(tool="make_payment", args=args, session_id="s", agent=agent)
    ticket = guard.authorize(payment).ticket
    guard.close()
    assert main(["queue", "--ledger", str(db), "list", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [t["id"] for t in listed] == [ticket] and listed[0]["state"] == "open"
    assert main(["queue", "--ledger", str(db), "show", ticket]) == 0
    shown = capsys.readouterr().out
    assert "make_payment" in shown and "amount_needs_approval" in shown
    assert main(["queue", "--ledger", str(db), "approve", ticket, "--as", "bot"]) == 2
    assert "self_approval" in capsys.readouterr().err
    assert main(["queue", "--ledger", str(db), "approve", ticket, "--as", "alice", "--note", "ok"]) == 0
    assert "approved" in capsys.readouterr().out
    assert main(["queue", "--ledger", str(db), "deny", ticket, "--as", "bob", "--note", "late"]) == 2
    assert "ticket_already_resolved" in capsys.readouterr().err
    assert main(["queue", "--ledger", str(db), "show", "no-such-ticket"]) == 2
    assert "unknown_ticket" in capsys.readouterr().err
    assert main(["queue", "--ledger", str(db), "expire"]) == 0
    guard = payments_guard(db)
    assert guard.authorize(payment).codes == ("approved_by_reviewer",)
    guard.close()


def test_queue_show_escapes_terminal_control_characters(tmp_path, capsys) -> None:
    from guardrails.cli import _shown

    assert _shown("evil\x1b[2J\u202etext") == "evil\\u001b[2J\\u202etext"
