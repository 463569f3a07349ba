"""``railguard audit``: the auditor's question answered from the demo's ledger."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from guardrails.audit import parse_when
from guardrails.cli import main
from guardrails.demo import run_demo
from guardrails.errors import InputError


@pytest.fixture(scope="module")
def demo_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audit") / "demo.db"
    assert run_demo(ledger_path=path, out=io.StringIO())
    return path


def test_every_payment_with_verdict_rule_and_approvers(demo_ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--ledger", str(demo_ledger), "--tool", "make_payment", "--since", "today", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["tool"] for r in rows} == {"make_payment"} and {r["agent"] for r in rows} == {"payments-bot"}
    verdicts = [r["verdict"] for r in rows if r["checkpoint"] == "authorize"]
    assert verdicts.count("allow") == 2 and "escalate" in verdicts and "deny" in verdicts
    approved = [r for r in rows if "approved_by_reviewer" in r["codes"]]
    assert len(approved) == 1 and approved[0]["approvers"] == ["alice"] and approved[0]["ticket_state"] == "approved"
    escalated = next(r for r in rows if r["verdict"] == "escalate")
    assert escalated["rules"] == ["policies/payment_limits.rego"] and escalated["approvers"] == ["alice"]
    denied = [r for r in rows if r["verdict"] == "deny"]
    assert any("policies/fraud_check.rego" in r["rules"] for r in denied)


def test_filters_narrow_the_answer(demo_ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["audit", "--ledger", str(demo_ledger), "--code", "amount_over_limit", "--json"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 1 and rows[0]["verdict"] == "deny"
    main(["audit", "--ledger", str(demo_ledger), "--agent", "someone-else", "--json"])
    assert capsys.readouterr().out == ""
    main(["audit", "--ledger", str(demo_ledger), "--until", "2000-01-01", "--json"])
    assert capsys.readouterr().out == ""
    assert main(["audit", "--ledger", str(demo_ledger), "--verdict", "escalate"]) == 0
    table = capsys.readouterr().out
    assert "alice (approved)" in table and "1 decision(s)" in table


def test_usage_per_agent(demo_ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--ledger", str(demo_ledger), "usage", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [{"agent": "payments-bot", "tokens": 1800, "cost": 0.27, "reports": 1}]


def test_times_people_type() -> None:
    now = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # a Tuesday
    assert parse_when("tuesday", now) == datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    assert parse_when("monday", now) == datetime(2026, 11, 30, tzinfo=UTC).timestamp()
    assert parse_when("wednesday", now) == datetime(2026, 11, 25, tzinfo=UTC).timestamp()
    assert parse_when("24h", now) == datetime(2026, 11, 30, 15, 0, tzinfo=UTC).timestamp()
    assert parse_when("2026-11-24T09:00:00Z", now) == datetime(2026, 11, 24, 9, tzinfo=UTC).timestamp()
    with pytest.raises(InputError):
        parse_when("last blue moon", now)


def test_a_missing_ledger_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--ledger", str(tmp_path / "none.db")]) == 2
    assert "file_unreadable" in capsys.readouterr().err


def test_replay_coverage_names_the_rules_that_fired_and_those_that_never_did(
    demo_ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from guardrails.engines import installed

    engine = "opa" if "opa" in installed() else "regorus"
    assert main(["replay", str(demo_ledger), "--engine", engine, "--coverage"]) == 0
    out = capsys.readouterr().out
    assert "coverage over" in out and "never fired" in out
    fired, never = out.split("never fired", 1)
    # the demo denies for a missing fraud check and escalates an amount; it never loops or exfiltrates
    assert "fraud_check" in fired and "payment_limits" in fired
    assert "loop_detection" in never and "taint" in never


def test_policy_test_coverage_names_what_the_cases_never_reach(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from tests.conftest import POLICIES

    for module in POLICIES.glob("*.rego"):
        if not module.name.endswith("_test.rego"):
            shutil.copy(module, tmp_path / module.name)
    (tmp_path / "cases").mkdir()
    shutil.copy(POLICIES / "cases" / "review.json", tmp_path / "cases" / "review.json")
    assert main(["policy", "test", str(tmp_path), "--engine", "regorus", "--coverage"]) == 0
    out = capsys.readouterr().out
    fired, never = out.split("never fired", 1)
    assert "denied_by_reviewer" in fired and "amount_over_limit" in never
