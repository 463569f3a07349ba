"""Prometheus metrics, as a Guard observer, on a ``CollectorRegistry`` of their own.

    metrics = DecisionMetrics(tools=guard.tools)           # or registry=CollectorRegistry()
    guard.observers.append(metrics)                       # or Guard(..., observers=[metrics])
    metrics.watch_guard(guard)
    prometheus_client.generate_latest(metrics.registry)   # what /metrics serves

Series (names are the API, like reason codes):

* ``railguard_decisions_total{checkpoint,verdict,stage,tool,code}`` — one per decision;
  ``code`` is the first reason's code (``""`` when allowed);
* ``railguard_decision_reasons_total{checkpoint,code}`` — one per reason (a decision can have several);
* ``railguard_stage_duration_seconds{checkpoint,stage}`` — histogram per stage, ``stage="total"``
  for the whole checkpoint; buckets from 25 µs to 1 s;
* ``railguard_engine_errors_total{checkpoint}`` — decisions the policy engine failed (``engine_error``);
* ``railguard_observer_failures_total`` — observers that raised (read from the Guard at scrape time);
* scrape-time gauges registered with ``watch_*``: circuit breakers, the escalation queue, the
  decision log's drops.

Label values an agent controls (tool names) are bounded: only the registry's tools (when
``tools`` is given) or the first ``max_label_values`` seen keep their name; the rest are
counted under ``_other``. An unbounded label is a memory leak an agent could drive.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Container, Iterator, Mapping
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from guardrails import codes
from guardrails.model import Decision, Verdict

#: Sub-millisecond stages (canonicalisation, schema: tens of µs) up to a slow engine or screener.
LATENCY_BUCKETS: Final = (
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)
OTHER: Final = "_other"
#: Circuit-breaker states as gauge values (``railguard_breaker_state``).
BREAKER_STATES: Final = {"closed": 0.0, "half_open": 1.0, "open": 2.0}


class _Bounded:
    """A label's values: those allowed (or the first ``limit`` seen) pass, the rest become ``_other``."""

    def __init__(self, limit: int, allowed: Container[str] | None = None) -> None:
        self._allowed = allowed
        self._seen: set[str] = set()
        self._limit = limit
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if self._allowed is not None:
            return value if value in self._allowed or value == "" else OTHER
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) < self._limit:
                self._seen.add(value)
                return value
        return OTHER


class _ScrapeTime(Collector):
    """A metric whose samples are read from a callable when Prometheus scrapes.

    A callable that raises yields no sample for that scrape (the rest of the scrape stands)
    and is counted in ``railguard_metric_read_errors_total``.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        read: Callable[[], float | Mapping[tuple[str, ...], float] | None],
        *,
        kind: str = "gauge",
        labels: tuple[str, ...] = (),
        errors: list[int] | None = None,
    ) -> None:
        self.name, self.documentation, self.read, self.kind, self.labels = name, documentation, read, kind, labels
        self._errors = errors if errors is not None else [0]

    def _family(self) -> GaugeMetricFamily | CounterMetricFamily:
        if self.kind == "counter":
            return CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        return GaugeMetricFamily(self.name, self.documentation, labels=self.labels)

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        try:
            value = self.read()
        except Exception:
            self._errors[0] += 1
            return
        if value is None:
            return
        if isinstance(value, Mapping):
            for label_values, sample in value.items():
                family.add_metric(list(label_values), float(sample))
        else:
            family.add_metric([], float(value))
        yield family


class DecisionMetrics:
    """A ``DecisionObserver`` counting decisions and timing stages into ``registry``.

    ``tools``: the tool names allowed as label values (the Guard's ``ToolRegistry`` will do: anything
    that answers ``in``); others are ``_other``.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        tools: Container[str] | None = None,
        max_label_values: int = 200,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.decisions = Counter(
            "railguard_decisions",
            "Decisions by checkpoint, verdict, deciding stage, tool and first reason code.",
            ["checkpoint", "verdict", "stage", "tool", "code"],
            registry=r,
        )
        self.reasons = Counter(
            "railguard_decision_reasons", "Reasons given in decisions, by code.", ["checkpoint", "code"], registry=r
        )
        self.latency = Histogram(
            "railguard_stage_duration_seconds",
            "Time spent per stage of a checkpoint; stage=total is the whole checkpoint.",
            ["checkpoint", "stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.engine_errors = Counter(
            "railguard_engine_errors", "Decisions the policy engine failed to make.", ["checkpoint"], registry=r
        )
        self.usage_tokens = Counter(
            "railguard_usage_tokens", "Tokens agents reported (Guard.report_usage), by agent.", ["agent"], registry=r
        )
        self.usage_cost = Counter(
            "railguard_usage_cost", "Spend agents reported (Guard.report_usage), by agent.", ["agent"], registry=r
        )
        self._agent = _Bounded(max_label_values)
        self._tool = _Bounded(max_label_values, tools)
        self._code = _Bounded(max_label_values)
        self._stage = _Bounded(max_label_values)
        # prometheus_client's labels() validates and locks on every call; the children are
        # cached here so an observed decision costs a few dict look-ups.
        self._counters: dict[tuple[str, ...], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}
        self._read_errors = [0]
        self._watch(
            _ScrapeTime(
                "railguard_metric_read_errors",
                "Scrape-time metric readers that raised.",
                lambda: float(self._read_errors[0]),
                kind="counter",
            )
        )

    def on_decision(self, decision: Decision, context: Mapping[str, Any]) -> None:
        checkpoint = decision.checkpoint.value
        tool = context.get("tool")
        code = decision.reasons[0].code if decision.reasons else ""
        key = (
            checkpoint,
            decision.verdict.value,
            self._stage(decision.stage),
            self._tool(tool if isinstance(tool, str) else ""),
            self._code(code),
        )
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self.decisions.labels(*key)
        counter.inc()
        for reason in decision.reasons:
            rkey = (checkpoint, "reason", self._code(reason.code))
            child = self._counters.get(rkey)
            if child is None:
                child = self._counters[rkey] = self.reasons.labels(checkpoint, rkey[2])
            child.inc()
            if reason.code == codes.ENGINE_ERROR and decision.verdict is Verdict.ERROR:
                self.engine_errors.labels(checkpoint).inc()
        for stage, ms in decision.latency_ms.items():
            hkey = (checkpoint, self._stage(stage))
            histogram = self._histograms.get(hkey)
            if histogram is None:
                histogram = self._histograms[hkey] = self.latency.labels(*hkey)
            histogram.observe(ms / 1000.0)

    def on_usage(self, session_id: str, agent_id: str | None, tokens: int, cost: float) -> None:
        """Where the money goes: usage per agent (bounded label values; unattributed is ``""``)."""
        agent = self._agent(agent_id or "")
        self.usage_tokens.labels(agent).inc(tokens)
        self.usage_cost.labels(agent).inc(cost)

    # -- values read at scrape time ---------------------------------------------------------
    def _watch(self, collector: _ScrapeTime) -> None:
        self.registry.register(collector)

    def gauge(self, name: str, documentation: str, read: Callable[[], float | None]) -> None:
        """Any value read when Prometheus scrapes (``read`` returns a number, or None for no sample)."""
        self._watch(_ScrapeTime(name, documentation, read, errors=self._read_errors))

    def watch_guard(self, guard: Any) -> None:
        """``railguard_observer_failures_total`` from ``guard.observer_failures``."""
        self._watch(
            _ScrapeTime(
                "railguard_observer_failures",
                "Decision observers (logs, metrics, traces) that raised; the decisions stood.",
                lambda: float(guard.observer_failures),
                kind="counter",
                errors=self._read_errors,
            )
        )

    def watch_breakers(self, read: Callable[[], Mapping[str, str]]) -> None:
        """``railguard_breaker_state{breaker}``: 0 closed, 1 half-open, 2 open, from ``read()`` ->
        ``{breaker name: "closed" | "half_open" | "open"}``."""

        def states() -> dict[tuple[str, ...], float]:
            return {(name,): BREAKER_STATES[state] for name, state in read().items()}

        self._watch(
            _ScrapeTime(
                "railguard_breaker_state",
                "Circuit breakers: 0 closed, 1 half-open, 2 open.",
                states,
                labels=("breaker",),
                errors=self._read_errors,
            )
        )

    def watch_escalations(self, depth: Callable[[], int], oldest_age_seconds: Callable[[], float | None]) -> None:
        """``railguard_escalation_queue_depth`` and ``railguard_escalation_oldest_ticket_age_seconds``
        (no sample while the queue is empty)."""
        self._watch(
            _ScrapeTime(
                "railguard_escalation_queue_depth",
                "Escalation tickets waiting for a person.",
                lambda: float(depth()),
                errors=self._read_errors,
            )
        )
        self._watch(
            _ScrapeTime(
                "railguard_escalation_oldest_ticket_age_seconds",
                "Age of the oldest open escalation ticket.",
                oldest_age_seconds,
                errors=self._read_errors,
            )
        )

    def watch_decision_log(self, log: Any) -> None:
        """``railguard_decision_log_dropped_total``, ``..._written_total`` and ``..._pending``."""

        def reader(attr: str) -> Callable[[], float]:
            return lambda: float(getattr(log, attr))

        for name, doc, attr, kind in (
            (
                "railguard_decision_log_dropped",
                "Decision-log events lost (queue full, sink failed).",
                "dropped",
                "counter",
            ),
            ("railguard_decision_log_written", "Decision-log events handed to the sinks.", "written", "counter"),
            ("railguard_decision_log_pending", "Decision-log events waiting to be written.", "pending", "gauge"),
        ):
            self._watch(_ScrapeTime(name, doc, reader(attr), kind=kind, errors=self._read_errors))
