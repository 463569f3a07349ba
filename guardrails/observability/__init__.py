"""Observability as decision observers: what the checkpoints decided, seen from outside.

* ``DecisionLog`` (``decision_log``): OPA-format decision-log events, masked, to a rotating
  file, stdout or an HTTP endpoint (``sinks``);
* ``DecisionMetrics`` (``metrics``): Prometheus counters and histograms (needs ``prometheus-client``);
* ``DecisionTracer`` and ``trace_context`` (``tracing``): OpenTelemetry spans (needs ``opentelemetry-api``).

Each is a ``DecisionObserver``: ``Guard(..., observers=[...])``. A Guard with no observers does
no observability work at all. The optional dependencies are imported only when their class is
first used, so ``from guardrails.observability import DecisionLog`` needs nothing extra.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guardrails.observability.decision_log import DecisionLog
    from guardrails.observability.metrics import DecisionMetrics
    from guardrails.observability.sinks import FileSink, HttpSink, StreamSink
    from guardrails.observability.tracing import DecisionTracer, trace_context

_EXPORTS = {
    "DecisionLog": "decision_log",
    "FileSink": "sinks",
    "HttpSink": "sinks",
    "StreamSink": "sinks",
    "DecisionMetrics": "metrics",
    "DecisionTracer": "tracing",
    "trace_context": "tracing",
}

__all__ = [
    "DecisionLog",
    "DecisionMetrics",
    "DecisionTracer",
    "FileSink",
    "HttpSink",
    "StreamSink",
    "railguard_version",
    "trace_context",
]


@cache
def railguard_version() -> str:
    """The installed Railguard version (decision-log ``labels.version``, the tracer's version)."""
    try:
        return importlib.metadata.version("railguard")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a checkout that was never installed
        return "unknown"


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
