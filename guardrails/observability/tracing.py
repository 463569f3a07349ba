"""OpenTelemetry traces, as a Guard observer: one span per checkpoint, a child span per stage.

    tracer = DecisionTracer()                      # the global TracerProvider, or tracer_provider=...
    guard = Guard(..., observers=[tracer])
    with trace_context(request.headers.get("traceparent")):
        guard.authorize(call)                       # its span is a child of the caller's span

Needs only ``opentelemetry-api`` (the ``observability`` extra): with no SDK configured every span
is a no-op and costs a few microseconds. With the SDK, export through a ``BatchSpanProcessor``:
a ``SimpleSpanProcessor`` exports on the thread that ends the span, the Guard's caller.

Spans are made after the fact, from the Decision: the checkpoint span ends at ``decision.at``
and starts ``latency_ms["total"]`` earlier; stage spans are laid end to end from that start in
the order the stages ran (the small gaps between them, ledger reads for instance, are not
located).

Conventions followed (GenAI semantic conventions, status "development"):

* ``authorize`` is an **execute-tool span** (https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/):
  name ``execute_tool {tool}``, ``gen_ai.operation.name = "execute_tool"``, ``gen_ai.tool.name``,
  ``gen_ai.tool.call.id``; ``gen_ai.conversation.id`` is the session, ``gen_ai.agent.id`` the agent.
* the other checkpoints are named ``apply_guardrail {checkpoint}`` with
  ``gen_ai.operation.name = "apply_guardrail"`` (the conventions define that operation for a
  remote guardrail's CLIENT span; ours run in-process, so the kind is INTERNAL);
* each decision adds **``gen_ai.guardrail.result`` events** (semantic-conventions-genai,
  ``docs/gen-ai/gen-ai-guardrails.md``): ``gen_ai.guardrail.component.name = "Railguard"``,
  ``gen_ai.guardrail.result.type/value`` (``verdict`` / ``deny``, then one per reason code with
  ``gen_ai.guardrail.policy.rule.id`` = the rule), ``gen_ai.guardrail.source`` (the channel:
  ``tool_args``, ``tool_output``, ``user``, ``output``), ``gen_ai.guardrail.policy.version`` (the
  policy revision), and one per kind of finding with ``gen_ai.guardrail.risk.category``
  (``EMAIL_ADDRESS``, ``injection``...) and ``gen_ai.guardrail.risk.score``;
* Railguard's own ``railguard.*`` attributes: checkpoint, verdict, stage, codes, decision id, revisions, ticket.

A deny is not an error: the span status is ERROR (with ``error.type`` = the reason code) only for
the ``error`` verdict, when the guard itself failed. Reason messages never become attributes
(Rego messages quote argument values); arguments only with ``capture_arguments=True``, and then
the scrubbed policy input with flagged fields and scanned PII masked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from guardrails.model import Checkpoint, Decision, Verdict
from guardrails.observability import railguard_version
from guardrails.observability.masking import PiiMasker, default_masker, masked_copy

COMPONENT: Final = "Railguard"
RESULT_EVENT: Final = "gen_ai.guardrail.result"
#: The channel a checkpoint judges: gen_ai.guardrail.source, in Railguard's own terms.
SOURCES: Final = {
    Checkpoint.AUTHORIZE: "tool_args",
    Checkpoint.CHECK_RESULT: "tool_output",
    Checkpoint.CHECK_OUTPUT: "output",
    Checkpoint.SCREEN_INPUT: "user",
}
_PROPAGATOR = TraceContextTextMapPropagator()


@contextmanager
def trace_context(traceparent: str | None, tracestate: str | None = None) -> Iterator[otel_context.Context]:
    """Run Guard calls inside the caller's W3C trace context, so their spans are its children.

    A missing or malformed ``traceparent`` is ignored (W3C Trace Context): the current context
    stays, and with no current span the Guard's spans start a trace of their own.
    """
    carrier = {"traceparent": traceparent or ""}
    if tracestate:
        carrier["tracestate"] = tracestate
    token = otel_context.attach(_PROPAGATOR.extract(carrier, context=otel_context.get_current()))
    try:
        yield otel_context.get_current()
    finally:
        otel_context.detach(token)


class DecisionTracer:
    """A ``DecisionObserver`` recording each decision as spans on ``tracer_provider`` (global by default)."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        *,
        capture_arguments: bool = False,
        stage_spans: bool = True,
        max_events: int = 32,
        masker: PiiMasker | None = None,
    ) -> None:
        self._tracer = trace.get_tracer("railguard", railguard_version(), tracer_provider=tracer_provider)
        self.capture_arguments = capture_arguments
        self.stage_spans = stage_spans
        self.max_events = max_events
        self._masker = masker if masker is not None or not capture_arguments else default_masker()

    def on_decision(self, decision: Decision, context: Mapping[str, Any]) -> None:
        end = round(decision.at * 1e9)
        total_ms = decision.latency_ms.get("total", sum(decision.latency_ms.values()))
        start = end - round(total_ms * 1e6)
        tool = context.get("tool")
        if decision.checkpoint is Checkpoint.AUTHORIZE:
            name = f"execute_tool {tool}"
            first: dict[str, Any] = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": str(tool)}
        else:
            name = f"apply_guardrail {decision.checkpoint.value}"
            first = {"gen_ai.operation.name": "apply_guardrail", "gen_ai.guardrail.component.name": COMPONENT}
        span = self._tracer.start_span(name, kind=SpanKind.INTERNAL, attributes=first, start_time=start)
        if not span.is_recording():  # no SDK, or not sampled: nothing more to build
            span.end(end_time=end)
            return
        span.set_attributes(self._attributes(decision, context))
        for event in self._events(decision, context)[: self.max_events]:
            span.add_event(RESULT_EVENT, event, timestamp=end)
        if decision.verdict is Verdict.ERROR:
            code = decision.reasons[0].code if decision.reasons else "_OTHER"
            span.set_attribute("error.type", code)
            span.set_status(Status(StatusCode.ERROR, code))
        if self.stage_spans:
            parent = trace.set_span_in_context(span)
            at = start
            for stage, ms in decision.latency_ms.items():
                if stage == "total":
                    continue
                stage_end = at + round(ms * 1e6)
                child = self._tracer.start_span(
                    f"railguard.stage {stage}",
                    context=parent,
                    kind=SpanKind.INTERNAL,
                    attributes={"railguard.stage": stage, "railguard.checkpoint": decision.checkpoint.value},
                    start_time=at,
                )
                if stage == decision.stage and decision.verdict is not Verdict.ALLOW:
                    child.set_attribute("railguard.verdict", decision.verdict.value)
                child.end(end_time=stage_end)
                at = stage_end
        span.end(end_time=end)

    def _attributes(self, decision: Decision, context: Mapping[str, Any]) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "gen_ai.conversation.id": decision.session_id,
            "railguard.checkpoint": decision.checkpoint.value,
            "railguard.verdict": decision.verdict.value,
            "railguard.stage": decision.stage,
            "railguard.decision_id": decision.decision_id,
            "railguard.codes": list(decision.codes),
            "railguard.policy_revision": decision.policy_revision,
            "railguard.config_revision": decision.config_revision,
        }
        if decision.ticket is not None:
            attrs["railguard.ticket"] = decision.ticket
        if decision.checkpoint is Checkpoint.AUTHORIZE:
            if decision.call_id is not None:
                attrs["gen_ai.tool.call.id"] = decision.call_id
            agent = context.get("agent")
            if isinstance(agent, Mapping) and agent.get("id") is not None:
                attrs["gen_ai.agent.id"] = str(agent["id"])
            policy_input = context.get("input")
            if self.capture_arguments and isinstance(policy_input, Mapping):
                args = policy_input.get("call", {}).get("args")
                attrs["gen_ai.tool.call.arguments"] = json.dumps(
                    masked_copy(args, decision.findings, self._masker), ensure_ascii=False, default=str
                )
        elif isinstance(context.get("tool"), str):
            attrs["gen_ai.tool.name"] = context["tool"]
        return attrs

    def _events(self, decision: Decision, context: Mapping[str, Any]) -> list[dict[str, Any]]:
        source = str(context.get("channel") or SOURCES[decision.checkpoint])
        common: dict[str, Any] = {"gen_ai.guardrail.component.name": COMPONENT, "gen_ai.guardrail.source": source}
        if decision.policy_revision:
            common["gen_ai.guardrail.policy.version"] = decision.policy_revision
        overall = {
            **common,
            "gen_ai.guardrail.result.type": "verdict",
            "gen_ai.guardrail.result.value": decision.verdict.value,
        }
        if decision.reasons:
            overall["gen_ai.guardrail.result.reason"] = decision.reasons[0].code
        events = [overall]
        for reason in decision.reasons:
            events.append(
                {
                    **common,
                    "gen_ai.guardrail.result.type": "reason_code",
                    "gen_ai.guardrail.result.value": reason.code,
                    "gen_ai.guardrail.policy.rule.id": reason.source,
                }
            )
        # Findings grouped by kind and category: a PII-dense payload has hundreds of spans.
        groups: dict[tuple[str, str], tuple[int, float | None]] = {}
        for f in decision.findings:
            # Only PII entity types are safe categories; other details (schema errors) quote values.
            category = f.detail if f.kind == "pii" else f.kind
            count, score = groups.get((f.kind, category), (0, None))
            if f.score is not None:
                score = f.score if score is None else max(score, f.score)
            groups[(f.kind, category)] = (count + 1, score)
        for (kind, category), (count, score) in groups.items():
            event = {
                **common,
                "gen_ai.guardrail.risk.category": category,
                "railguard.finding.kind": kind,
                "railguard.finding.count": count,
            }
            if score is not None:
                event["gen_ai.guardrail.risk.score"] = score
            events.append(event)
        return events
