"""OpenTelemetry spans: one per checkpoint (GenAI conventions), a child per stage, the caller's context kept."""

import json

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the OpenTelemetry SDK is a dev dependency")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from guardrails import Checkpoint, Decision, Reason, ToolCall, ToolResult, Verdict, codes
from guardrails.observability.tracing import RESULT_EVENT, DecisionTracer, trace_context

from .conftest import PAYER, fraud_check, pay


@pytest.fixture
def exporter():
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter):
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def spans_by_name(exporter):
    return {span.name: span for span in exporter.get_finished_spans()}


def test_authorize_is_an_execute_tool_span_with_the_genai_attributes(make_guard, provider, exporter):
    guard = make_guard(observers=[DecisionTracer(provider)])
    decision = guard.authorize(pay())
    span = spans_by_name(exporter)["execute_tool make_payment"]
    assert span.kind is SpanKind.INTERNAL
    attrs = span.attributes
    assert attrs["gen_ai.operation.name"] == "execute_tool"
    assert attrs["gen_ai.tool.name"] == "make_payment"
    assert attrs["gen_ai.tool.call.id"] == decision.call_id
    assert attrs["gen_ai.conversation.id"] == "s1" and attrs["gen_ai.agent.id"] == "bot"
    assert attrs["railguard.verdict"] == "deny" and attrs["railguard.codes"] == ("fraud_check_required",)
    assert attrs["railguard.decision_id"] == decision.decision_id
    assert attrs["railguard.policy_revision"] == decision.policy_revision


def test_the_decision_is_reported_as_guardrail_result_events(make_guard, provider, exporter):
    guard = make_guard(observers=[DecisionTracer(provider)])
    decision = guard.authorize(pay())
    span = spans_by_name(exporter)["execute_tool make_payment"]
    events = [dict(e.attributes) for e in span.events if e.name == RESULT_EVENT]
    overall, reason = events[0], events[1]
    assert overall["gen_ai.guardrail.component.name"] == "Railguard"
    assert overall["gen_ai.guardrail.result.type"] == "verdict" and overall["gen_ai.guardrail.result.value"] == "deny"
    assert overall["gen_ai.guardrail.result.reason"] == "fraud_check_required"
    assert overall["gen_ai.guardrail.source"] == "tool_args"
    assert overall["gen_ai.guardrail.policy.version"] == decision.policy_revision
    assert reason["gen_ai.guardrail.result.type"] == "reason_code"
    assert reason["gen_ai.guardrail.result.value"] == "fraud_check_required"
    assert reason["gen_ai.guardrail.policy.rule.id"] == decision.reasons[0].source


def test_a_deny_is_not_an_error_but_a_failed_guard_is(provider, exporter):
    tracer = DecisionTracer(provider)
    for verdict, code in ((Verdict.DENY, "not_allowed"), (Verdict.ERROR, codes.ENGINE_ERROR)):
        decision = Decision(
            verdict=verdict,
            checkpoint=Checkpoint.AUTHORIZE,
            stage="policy",
            reasons=(Reason(code=code, message="...", source="x"),),
            latency_ms={"policy": 0.2, "total": 0.3},
        )
        tracer.on_decision(decision, {"tool": f"t_{verdict.value}"})
    spans = spans_by_name(exporter)
    assert spans["execute_tool t_deny"].status.status_code is StatusCode.UNSET
    assert "error.type" not in spans["execute_tool t_deny"].attributes
    assert spans["execute_tool t_error"].status.status_code is StatusCode.ERROR
    assert spans["execute_tool t_error"].attributes["error.type"] == codes.ENGINE_ERROR


def test_each_stage_is_a_child_span_laid_out_inside_the_checkpoint_span(make_guard, provider, exporter):
    guard = make_guard(observers=[DecisionTracer(provider)])
    decision = guard.authorize(pay())
    spans = exporter.get_finished_spans()
    parent = next(s for s in spans if s.name.startswith("execute_tool"))
    children = [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]
    stages = [s.attributes["railguard.stage"] for s in children]
    assert stages == [s for s in decision.latency_ms if s != "total"]
    assert parent.end_time == round(decision.at * 1e9)
    assert parent.end_time - parent.start_time == round(decision.latency_ms["total"] * 1e6)
    for child in children:
        assert parent.start_time <= child.start_time <= child.end_time <= parent.end_time
        assert child.context.trace_id == parent.context.trace_id
    assert children[-1].attributes.get("railguard.verdict") == "deny"  # the stage that decided


def test_other_checkpoints_are_apply_guardrail_spans(make_guard, provider, exporter):
    guard = make_guard(observers=[DecisionTracer(provider)])
    guard.screen_input("hello", session_id="s1", channel="tool_output")
    call = fraud_check("t1")
    guard.authorize(call)
    guard.check_result(ToolResult(call_id=call.id, session_id="s1", output={"status": "passed"}))
    guard.check_output({"a": 1}, session_id="s1")
    spans = spans_by_name(exporter)
    for checkpoint in ("screen_input", "check_result", "check_output"):
        span = spans[f"apply_guardrail {checkpoint}"]
        assert span.attributes["gen_ai.operation.name"] == "apply_guardrail"
        assert span.attributes["gen_ai.guardrail.component.name"] == "Railguard"
    assert spans["apply_guardrail check_result"].attributes["gen_ai.tool.name"] == "fraud_check"
    sources = {
        name: next(e.attributes["gen_ai.guardrail.source"] for e in span.events)
        for name, span in spans.items()
        if name.startswith("apply_guardrail")
    }
    assert sources == {
        "apply_guardrail screen_input": "tool_output",
        "apply_guardrail check_result": "tool_output",
        "apply_guardrail check_output": "output",
    }


def test_spans_are_children_of_the_callers_traceparent(make_guard, provider, exporter):
    guard = make_guard(observers=[DecisionTracer(provider)])
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with trace_context(f"00-{trace_id}-{parent_id}-01"):
        guard.authorize(pay())
    guard.authorize(pay("t2"))  # outside: a trace of its own
    inside, outside = [s for s in exporter.get_finished_spans() if s.name.startswith("execute_tool")]
    assert format(inside.context.trace_id, "032x") == trace_id
    assert format(inside.parent.span_id, "016x") == parent_id and inside.parent.is_remote
    assert format(outside.context.trace_id, "032x") != trace_id and outside.parent is None


def test_a_malformed_traceparent_starts_a_new_trace(make_guard, provider, exporter):
    guard = make_guard(observers=[DecisionTracer(provider)])
    with trace_context("00-not-a-trace-01"):
        guard.authorize(pay())
    (span,) = [s for s in exporter.get_finished_spans() if s.name.startswith("execute_tool")]
    assert span.parent is None


def test_arguments_are_never_attributes_unless_opted_in(make_guard, provider, exporter):
    guard = make_guard(observers=[DecisionTracer(provider)])
    guard.authorize(pay())
    for span in exporter.get_finished_spans():
        text = json.dumps(dict(span.attributes)) + json.dumps([dict(e.attributes) for e in span.events])
        assert "ACME" not in text and "gen_ai.tool.call.arguments" not in text


def test_opted_in_arguments_are_the_scrubbed_input_with_pii_masked(tmp_path, provider, exporter):
    pytest.importorskip("numpy", reason="the screening extra is part of the test install")
    from guardrails import Agent
    from guardrails.screening import PiiScreener

    from .conftest import payments_guard

    guard = payments_guard(
        tmp_path / "l.db", screeners=[PiiScreener()], observers=[DecisionTracer(provider, capture_arguments=True)]
    )
    agent = Agent(id="bot", roles=("payments_agent",))
    args = {"to": "jane.roe@example.com", "subject": "card", "body": "card 4111 1111 1111 1111 ok"}
    guard.authorize(ToolCall(tool="send_email", args=args, session_id="s", agent=agent))
    guard.close()
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "execute_tool send_email"]
    captured = json.loads(span.attributes["gen_ai.tool.call.arguments"])
    assert captured == {"to": "<EMAIL_ADDRESS>", "subject": "card", "body": "<CREDIT_CARD>"}
    categories = {e.attributes.get("gen_ai.guardrail.risk.category") for e in span.events}
    assert {"EMAIL_ADDRESS", "CREDIT_CARD"} <= categories


def test_reason_messages_never_reach_the_trace(provider, exporter):
    decision = Decision(
        verdict=Verdict.DENY,
        checkpoint=Checkpoint.AUTHORIZE,
        stage="policy",
        reasons=(Reason(code="recipient_domain_not_allowed", message="recipient jane@evil.test", source="r"),),
        latency_ms={"total": 0.1},
    )
    DecisionTracer(provider).on_decision(decision, {"tool": "send_email", "agent": {"id": "bot"}})
    (span,) = exporter.get_finished_spans()
    dumped = json.dumps(dict(span.attributes)) + json.dumps([dict(e.attributes) for e in span.events])
    assert "jane@evil.test" not in dumped


def test_findings_are_grouped_into_one_event_per_category(provider, exporter):
    from guardrails import Finding

    findings = tuple(
        Finding(kind="pii", detail="EMAIL_ADDRESS", path=f"$[{n}]", score=0.5 + n / 100) for n in range(40)
    )
    findings += (Finding(kind="schema", detail="'x@y.io' is not an integer", path="$.n"),)
    decision = Decision(
        verdict=Verdict.ALLOW, checkpoint=Checkpoint.SCREEN_INPUT, stage="screen:pii", findings=findings
    )
    DecisionTracer(provider).on_decision(decision, {"channel": "user"})
    (span,) = exporter.get_finished_spans()
    risks = {
        e.attributes["gen_ai.guardrail.risk.category"]: e.attributes
        for e in span.events
        if "gen_ai.guardrail.risk.category" in e.attributes
    }
    assert set(risks) == {"EMAIL_ADDRESS", "schema"}  # a schema error's text is not a category
    assert risks["EMAIL_ADDRESS"]["railguard.finding.count"] == 40
    assert risks["EMAIL_ADDRESS"]["gen_ai.guardrail.risk.score"] == pytest.approx(0.89)


def test_without_an_sdk_the_tracer_records_nothing_and_does_not_fail(make_guard):
    from opentelemetry.trace import NoOpTracerProvider

    tracer = DecisionTracer(NoOpTracerProvider())
    guard = make_guard(observers=[tracer])
    assert guard.authorize(
        ToolCall(tool="fraud_check", args={"transaction_id": "t"}, session_id="s", agent=PAYER)
    ).allowed
    assert guard.observer_failures == 0


def test_a_missing_traceparent_keeps_the_callers_current_span(make_guard, provider, exporter):
    guard = make_guard(observers=[DecisionTracer(provider)])
    with provider.get_tracer("caller").start_as_current_span("handler") as handler, trace_context(None):
        guard.authorize(pay())
    (span,) = [s for s in exporter.get_finished_spans() if s.name.startswith("execute_tool")]
    assert span.parent.span_id == handler.get_span_context().span_id
