"""Prometheus metrics: what a scrape of the registry shows after decisions."""

import pytest

pytest.importorskip("prometheus_client", reason="metrics need prometheus-client (the observability extra)")

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from guardrails import Checkpoint, Decision, Reason, ToolCall, ToolResult, Verdict, codes
from guardrails.observability.metrics import LATENCY_BUCKETS, DecisionMetrics

from .conftest import PAYER, fraud_check, pay


def scrape(metrics: DecisionMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` from the text exposition format."""
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def metrics():
    return DecisionMetrics(tools=["make_payment", "fraud_check", "lookup_customer", "send_email"])


def test_decisions_are_counted_by_checkpoint_verdict_stage_tool_and_code(make_guard, metrics):
    guard = make_guard(observers=[metrics])
    guard.authorize(pay("t1"))
    guard.authorize(pay("t2"))
    call = fraud_check("t3")
    guard.authorize(call)
    checked = guard.check_result(ToolResult(call_id=call.id, session_id="s1", output={"status": "passed"}))
    samples = scrape(metrics)
    labels = {"checkpoint": "authorize", "stage": "policy", "tool": "make_payment"}
    assert value(samples, "railguard_decisions_total", verdict="deny", code="fraud_check_required", **labels) == 2
    assert (
        value(samples, "railguard_decisions_total", verdict="allow", code="", **{**labels, "tool": "fraud_check"}) == 1
    )
    assert (
        value(
            samples,
            "railguard_decisions_total",
            checkpoint="check_result",
            verdict="allow",
            stage=checked.stage,
            tool="fraud_check",
            code="",
        )
        == 1
    )
    assert value(samples, "railguard_decision_reasons_total", checkpoint="authorize", code="fraud_check_required") == 2


def test_every_stage_and_the_total_get_a_latency_histogram_in_seconds(make_guard, metrics):
    guard = make_guard(observers=[metrics])
    decision = guard.authorize(pay())
    samples = scrape(metrics)
    for stage in decision.latency_ms:
        count = value(samples, "railguard_stage_duration_seconds_count", checkpoint="authorize", stage=stage)
        total = value(samples, "railguard_stage_duration_seconds_sum", checkpoint="authorize", stage=stage)
        assert count == 1 and total == pytest.approx(decision.latency_ms[stage] / 1000)
    buckets = sorted(
        float(dict(labels)["le"]) for (name, labels) in samples if name == "railguard_stage_duration_seconds_bucket"
    )
    assert set(buckets) == {*LATENCY_BUCKETS, float("inf")}
    assert min(LATENCY_BUCKETS) <= 0.000025 and max(LATENCY_BUCKETS) == 1.0


def test_tool_names_outside_the_registry_are_counted_as_other(make_guard, metrics):
    guard = make_guard(observers=[metrics])
    for n in range(20):  # an agent inventing tool names must not grow the series without bound
        guard.authorize(ToolCall(tool=f"made_up_{n}", args={}, session_id="s1", agent=PAYER))
    samples = scrape(metrics)
    tools = {dict(labels).get("tool") for (name, labels) in samples if name == "railguard_decisions_total"}
    assert tools == {"_other"}
    assert (
        value(
            samples,
            "railguard_decisions_total",
            checkpoint="authorize",
            verdict="deny",
            stage="schema",
            tool="_other",
            code=codes.UNKNOWN_TOOL,
        )
        == 20
    )


def test_without_a_tool_list_only_the_first_names_seen_keep_their_label():
    metrics = DecisionMetrics(max_label_values=2)
    for tool in ("a", "b", "c", "a"):
        metrics.on_decision(
            Decision(verdict=Verdict.ALLOW, checkpoint=Checkpoint.AUTHORIZE, stage="policy"), {"tool": tool}
        )
    tools = {
        dict(labels)["tool"]: v for (name, labels), v in scrape(metrics).items() if name == "railguard_decisions_total"
    }
    assert tools == {"a": 2, "b": 1, "_other": 1}


def test_engine_errors_are_counted(metrics):
    failed = Decision(
        verdict=Verdict.ERROR,
        checkpoint=Checkpoint.AUTHORIZE,
        stage="policy",
        reasons=(Reason(code=codes.ENGINE_ERROR, message="boom", source="engine"),),
    )
    metrics.on_decision(failed, {"tool": "make_payment"})
    assert value(scrape(metrics), "railguard_engine_errors_total", checkpoint="authorize") == 1


def test_observer_failures_are_read_from_the_guard_at_scrape_time(make_guard, metrics):
    class Broken:
        def on_decision(self, decision, context):
            raise RuntimeError("observer down")

    guard = make_guard(observers=[Broken(), metrics])
    metrics.watch_guard(guard)
    assert value(scrape(metrics), "railguard_observer_failures_total") == 0
    assert guard.authorize(pay()).verdict is Verdict.DENY  # the decision stands
    assert value(scrape(metrics), "railguard_observer_failures_total") == 1


def test_breakers_escalations_and_decision_log_drops_are_gauges_read_at_scrape_time(metrics):
    state = {"opa-server": "closed", "fraud_check": "open"}
    queue = {"depth": 0, "oldest": None}
    metrics.watch_breakers(lambda: state)
    metrics.watch_escalations(lambda: queue["depth"], lambda: queue["oldest"])

    class Log:
        dropped, written, pending = 3, 10, 1

    metrics.watch_decision_log(Log())
    samples = scrape(metrics)
    assert value(samples, "railguard_breaker_state", breaker="fraud_check") == 2
    assert value(samples, "railguard_breaker_state", breaker="opa-server") == 0
    assert value(samples, "railguard_escalation_queue_depth") == 0
    assert value(samples, "railguard_escalation_oldest_ticket_age_seconds") is None  # empty queue: no sample
    assert value(samples, "railguard_decision_log_dropped_total") == 3
    state["opa-server"], queue["depth"], queue["oldest"] = "half_open", 2, 42.5
    samples = scrape(metrics)
    assert value(samples, "railguard_breaker_state", breaker="opa-server") == 1
    assert value(samples, "railguard_escalation_queue_depth") == 2
    assert value(samples, "railguard_escalation_oldest_ticket_age_seconds") == 42.5


def test_a_reader_that_raises_costs_its_sample_not_the_scrape(metrics):
    metrics.gauge("railguard_test_gauge", "A gauge whose reader fails.", lambda: 1 / 0)
    metrics.on_decision(Decision(verdict=Verdict.ALLOW, checkpoint=Checkpoint.CHECK_OUTPUT, stage="schema"), {})
    samples = scrape(metrics)
    assert value(samples, "railguard_test_gauge") is None
    assert any(name == "railguard_decisions_total" for name, _ in samples)
    # The error counter is collected before the failing reader: it shows from the next scrape on.
    assert value(scrape(metrics), "railguard_metric_read_errors_total") == 1


def test_metrics_live_on_the_registry_they_are_given():
    registry = CollectorRegistry()
    metrics = DecisionMetrics(registry)
    assert metrics.registry is registry
    assert b"railguard_decisions_total" in generate_latest(registry) or b"railguard_decisions" in generate_latest(
        registry
    )
    other = DecisionMetrics()  # a second instance does not collide: each has its own registry
    assert other.registry is not registry
