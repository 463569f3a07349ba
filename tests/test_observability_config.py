"""``[observability]`` in railguard.toml: the factory wires the decision log, metrics and tracer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from guardrails import Agent, ToolCall
from guardrails.errors import ConfigError
from guardrails.factory import guard_from_config
from guardrails.observability.decision_log import DecisionLog
from guardrails.observability.metrics import DecisionMetrics
from guardrails.observability.tracing import DecisionTracer

PAYMENTS = Path(__file__).resolve().parents[1] / "examples" / "payments"


def deployment(tmp_path: Path, extra: str) -> Path:
    text = (PAYMENTS / "railguard.toml").read_text()
    text = text.replace('"../../policies"', json.dumps(str(PAYMENTS.parent.parent / "policies")))
    text = text.replace('tools = "tools.json"', f"tools = {json.dumps(str(PAYMENTS / 'tools.json'))}")
    path = tmp_path / "railguard.toml"
    path.write_text(text + "\n" + extra)
    return path


def test_the_deployment_file_turns_on_log_metrics_and_traces(tmp_path: Path) -> None:
    config = deployment(
        tmp_path,
        '[observability]\nmetrics = true\ntracing = true\n[observability.decision_log]\npath = "decisions.log"\n',
    )
    guard = guard_from_config(config, ledger_path=tmp_path / "l.db")
    try:
        kinds = {type(o) for o in guard.observers}
        assert kinds == {DecisionLog, DecisionMetrics, DecisionTracer}
        agent = Agent(id="bot", roles=("payments_agent",))
        args = {"transaction_id": "t1", "amount": 5000, "currency": "EUR", "recipient": "ACME-SUPPLIES-001"}
        guard.authorize(ToolCall(tool="make_payment", args=args, session_id="s1", agent=agent))
        metrics = next(o for o in guard.observers if isinstance(o, DecisionMetrics))
        scraped = generate_latest(metrics.registry).decode()
        assert 'railguard_decisions_total{checkpoint="authorize"' in scraped
        assert "railguard_escalation_queue_depth 0.0" in scraped  # denied (no fraud check): no ticket
    finally:
        guard.close()
    lines = (tmp_path / "decisions.log").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["path"] == "railguard/tool_call"


def test_a_decision_log_without_a_sink_is_refused_at_start_up(tmp_path: Path) -> None:
    config = deployment(tmp_path, "[observability.decision_log]\nstdout = false\n")
    with pytest.raises(ConfigError, match="needs a path"):
        guard_from_config(config, ledger_path=tmp_path / "l.db")


def test_unknown_observability_keys_are_refused(tmp_path: Path) -> None:
    config = deployment(tmp_path, "[observability]\nmetric = true\n")
    with pytest.raises(ConfigError, match="metric"):
        guard_from_config(config, ledger_path=tmp_path / "l.db")


def test_usage_per_agent_is_a_metric(tmp_path: Path) -> None:
    guard = guard_from_config(deployment(tmp_path, "[observability]\nmetrics = true\n"), ledger_path=tmp_path / "l.db")
    try:
        guard.report_usage("s1", tokens=120, cost=0.5, agent_id="bot")
        guard.report_usage("s2", tokens=30, cost=0.25, agent_id="bot")
        guard.report_usage("s3", tokens=7, cost=1.0)
        metrics = next(o for o in guard.observers if isinstance(o, DecisionMetrics))
        scraped = generate_latest(metrics.registry).decode()
    finally:
        guard.close()
    assert 'railguard_usage_tokens_total{agent="bot"} 150.0' in scraped
    assert 'railguard_usage_cost_total{agent="bot"} 0.75' in scraped
    assert 'railguard_usage_cost_total{agent=""} 1.0' in scraped
