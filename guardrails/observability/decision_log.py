"""Decision logs in OPA's event format, as a Guard observer: one JSON line per decision.

    log = DecisionLog([FileSink("decisions.log")], engine=engine)
    guard = Guard(..., engine=engine, observers=[log])
    ...
    log.close()

Each event has the fields of an OPA decision-log event
(https://www.openpolicyagent.org/docs/management-decision-logs): ``decision_id``, ``path``
(``railguard/tool_call`` for authorize, ``railguard/<checkpoint>`` otherwise), ``input`` (the
policy input, authorize only), ``result`` (verdict, stage, reasons, ticket, findings),
``requested_by`` (the agent id), ``timestamp`` (RFC 3339, nanoseconds, UTC), ``metrics``
(``timer_railguard_<stage>_ns``), ``bundles`` (policy and config revisions), ``labels``
(``id``, ``version``), ``trace_id`` / ``span_id`` when the caller runs inside an OpenTelemetry
span, ``erased`` / ``masked``; and Railguard's own ``checkpoint``, ``session``, ``call_id``,
``tool``, ``agent``.

The caller's thread only enqueues (a bounded queue: when it is full the event is dropped and
counted). A thread of the log's own masks, serialises and writes: masking is the expensive part
(a Rego evaluation and a PII scan per event) and must not add to a decision's latency.
Masking (see ``masking``) runs, in order: ``data.railguard.log`` (``mask`` and ``drop`` rules,
OPA's ``system.log`` contract) on the policy engine, the screeners' PII findings, then a PII
scan of every remaining string. If the mask policy fails, the event is still logged without
its input (``/input`` erased): never in clear.
"""

from __future__ import annotations

import atexit
import math
import queue
import re
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

from guardrails.engines.base import PolicyEngine
from guardrails.errors import ConfigError
from guardrails.model import Checkpoint, Decision
from guardrails.observability import railguard_version
from guardrails.observability.masking import (
    PiiMasker,
    apply_mask_ops,
    default_masker,
    findings_by_path,
    mask_flagged,
    mask_ops,
)
from guardrails.observability.sinks import Sink

try:  # trace ids are recorded when the caller runs inside a span; the API alone is enough
    from opentelemetry import trace as _otel_trace
except ImportError:  # pragma: no cover - exercised where opentelemetry is absent
    _otel_trace = None  # type: ignore[assignment]

#: The Rego package whose ``mask`` and ``drop`` rules shape the log (OPA's is ``system.log``).
LOG_POLICY: Final = "data.railguard.log"
#: Findings kept per event; a PII-dense payload can have hundreds (``findings_total`` says how many).
MAX_FINDINGS: Final = 100

_STAGE_NAME = re.compile(r"[^a-z0-9_]+")
_STOP: Final = object()


def decision_path(checkpoint: Checkpoint) -> str:
    """OPA's ``path`` of a decision: the Rego package for authorize, the checkpoint otherwise."""
    return "railguard/tool_call" if checkpoint is Checkpoint.AUTHORIZE else f"railguard/{checkpoint.value}"


def rfc3339_nanos(at: float) -> str:
    """``2019-06-03T20:07:16.939402185Z``: OPA's timestamp format (UTC, nanosecond digits)."""
    seconds = math.floor(at)
    nanos = round((at - seconds) * 1e9)
    if nanos >= 1_000_000_000:
        seconds, nanos = seconds + 1, nanos - 1_000_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def stage_metrics(latency_ms: Mapping[str, float]) -> dict[str, int]:
    """``timer_railguard_<stage>_ns`` per stage, in OPA's metric naming (``timer_rego_query_eval_ns``)."""
    return {
        f"timer_railguard_{_STAGE_NAME.sub('_', stage.lower()).strip('_')}_ns": round(ms * 1_000_000)
        for stage, ms in latency_ms.items()
    }


class _Flush:
    def __init__(self) -> None:
        self.done = threading.Event()


class DecisionLog:
    """A ``DecisionObserver`` writing OPA-format decision-log events to ``sinks``.

    ``engine``: the Guard's policy engine, to evaluate ``data.railguard.log`` (``mask``/``drop``)
    on it; None skips policy masking. ``pii_scan``: scan every string for PII before it leaves
    (on by default when the screening extra is installed; a ``PiiMasker`` may be given).
    ``max_pending``: events waiting for the log's thread; beyond it they are dropped and counted.
    """

    def __init__(
        self,
        sinks: Sequence[Sink],
        *,
        engine: PolicyEngine | None = None,
        policy: str = LOG_POLICY,
        pii_scan: bool | PiiMasker = True,
        labels: Mapping[str, str] | None = None,
        max_pending: int = 10_000,
        batch: int = 256,
    ) -> None:
        if not sinks:
            raise ConfigError("a decision log needs at least one sink")
        self.sinks = list(sinks)
        self.engine = engine
        self.policy = policy
        self.masker: PiiMasker | None = (
            pii_scan if isinstance(pii_scan, PiiMasker) else default_masker() if pii_scan else None
        )
        self.labels = {"id": uuid.uuid4().hex, "version": railguard_version(), **(labels or {})}
        self.max_pending = max_pending
        self._batch = batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self.written = 0
        self.dropped_queue_full = 0
        self.dropped_by_policy = 0
        self.mask_errors = 0
        self.sink_errors = 0
        self._failed_writes = 0
        self._log_policy: tuple[str, bool] | None = None  # (engine revision, package defined)
        self._thread = threading.Thread(target=self._run, name="railguard-decision-log", daemon=True)
        self._thread.start()
        # A daemon thread dies with the interpreter: write what is queued on a normal exit.
        atexit.register(self.close, 2.0)

    # -- the caller's side: enqueue and return ----------------------------------------------
    def on_decision(self, decision: Decision, context: Mapping[str, Any]) -> None:
        if self._closed or self._queue.qsize() >= self.max_pending:
            with self._lock:
                self.dropped_queue_full += 1
            return
        self._queue.put((decision, context, _trace_ids()))

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    @property
    def dropped(self) -> int:
        """Events that should have been logged and were not: queue full, a sink failed or refused."""
        return self.dropped_queue_full + self._failed_writes + sum(s.dropped for s in self.sinks)

    def stats(self) -> dict[str, Any]:
        return {
            "written": self.written,
            "pending": self.pending,
            "dropped": self.dropped,
            "dropped_queue_full": self.dropped_queue_full,
            "dropped_by_policy": self.dropped_by_policy,
            "mask_errors": self.mask_errors,
            "sink_errors": self.sink_errors,
            "pii_scan": self.masker is not None,
            "by_sink": {s.name: s.dropped for s in self.sinks},
        }

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every event enqueued so far is written and the sinks are flushed."""
        if self._closed:
            return self.pending == 0
        deadline = time.monotonic() + timeout
        marker = _Flush()
        self._queue.put(marker)
        if not marker.done.wait(timeout):
            return False
        return all(s.flush(max(0.0, deadline - time.monotonic())) for s in self.sinks)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (for up to ``timeout`` seconds), then close the sinks."""
        if self._closed:
            return
        atexit.unregister(self.close)
        self.flush(timeout)
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        for sink in self.sinks:
            sink.close(timeout)

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the log's thread ---------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            items = [self._queue.get()]
            while len(items) < self._batch:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            lines: list[bytes] = []
            for item in items:
                if item is _STOP:
                    self._write(lines)
                    return
                if isinstance(item, _Flush):
                    self._write(lines)
                    lines = []
                    item.done.set()
                    continue
                line = self._line(*item)
                if line is not None:
                    lines.append(line)
                # Hand the GIL back between events: a caller thread coming back from the engine's
                # native code may otherwise wait up to the switch interval (5 ms) for this thread,
                # which masks a whole batch in pure Python (~0.1 ms of CPU per event).
                time.sleep(0)
            self._write(lines)

    def _line(self, decision: Decision, context: Mapping[str, Any], trace_ids: tuple[str, str] | None) -> bytes | None:
        try:
            event = self.event(decision, context, trace_ids)
        except Exception:
            # Building an event is plain data work; if it fails anyway, the decision is counted
            # as dropped rather than written half-masked.
            with self._lock:
                self._failed_writes += 1
            return None
        if event is None:
            return None
        return orjson.dumps(event, default=str)

    def _write(self, lines: list[bytes]) -> None:
        if not lines:
            return
        for sink in self.sinks:
            try:
                sink.write(lines)
            except Exception:
                self.sink_errors += 1
                self._failed_writes += len(lines)
        self.written += len(lines)

    # -- the event ------------------------------------------------------------------------------
    def event(
        self, decision: Decision, context: Mapping[str, Any], trace_ids: tuple[str, str] | None = None
    ) -> dict[str, Any] | None:
        """The masked OPA event for a decision (None when the log policy drops it). Synchronous."""
        event = self._raw_event(decision, context, trace_ids)
        erased: set[str] = set()
        masked: set[str] = set()
        if self.engine is not None and self._has_log_policy(self.engine):
            try:
                defined, rules = self.engine.document(self.policy, event)
                rules = rules if defined and isinstance(rules, Mapping) else {}
                if rules.get("drop") is True:
                    self.dropped_by_policy += 1
                    return None
                apply_mask_ops(event, mask_ops(rules.get("mask")), erased, masked)
            except Exception:
                # Fail closed on privacy, keep the audit record: the decision without its input.
                self.mask_errors += 1
                if event.pop("input", None) is not None:
                    erased.add("/input")
        flagged = findings_by_path(decision.findings)
        if flagged and isinstance(event.get("input"), dict) and isinstance(event["input"].get("call"), dict):
            call = event["input"]["call"]
            if "args" in call:
                call["args"], found = mask_flagged(call["args"], flagged, "/input/call/args")
                masked.update(found)
        if self.masker is not None:
            found_list: list[str] = []
            for key in ("input", "result", "agent", "tool", "session", "call_id", "requested_by", "channel"):
                if key in event:
                    event[key] = self.masker.value(event[key], "/" + key, found_list)
            masked.update(found_list)
        if erased:
            event["erased"] = sorted(erased)
        if masked:
            event["masked"] = sorted(masked)
        return event

    def _has_log_policy(self, engine: PolicyEngine) -> bool:
        """Whether the policies define the log package at all, asked once per policy revision.

        An existing package evaluates to an object (``{}`` when no rule fires) on every engine,
        a missing one to undefined: a deployment without a log policy skips a Rego evaluation
        of the whole event per decision. A failing probe counts as present (then masking fails
        closed on the real event).
        """
        try:
            revision = engine.revision
            known = self._log_policy
            if known is not None and known[0] == revision:
                return known[1]
            present = bool(engine.document(self.policy, {})[0])
        except Exception:
            return True
        self._log_policy = (revision, present)
        return present

    def _raw_event(
        self, decision: Decision, context: Mapping[str, Any], trace_ids: tuple[str, str] | None
    ) -> dict[str, Any]:
        findings = [f.model_dump(exclude_none=True, exclude_defaults=True) for f in decision.findings[:MAX_FINDINGS]]
        result: dict[str, Any] = {
            "verdict": decision.verdict.value,
            "stage": decision.stage,
            "reasons": [r.model_dump() for r in decision.reasons],
        }
        if decision.ticket is not None:
            result["ticket"] = decision.ticket
        if findings:
            result["findings"] = findings
            result["findings_total"] = len(decision.findings)
        agent = context.get("agent")
        event: dict[str, Any] = {
            "decision_id": decision.decision_id,
            "path": decision_path(decision.checkpoint),
            "result": result,
            "timestamp": rfc3339_nanos(decision.at),
            "metrics": stage_metrics(decision.latency_ms),
            "bundles": {
                "policies": {"revision": decision.policy_revision},
                "config": {"revision": decision.config_revision},
            },
            "labels": dict(self.labels),
            "checkpoint": decision.checkpoint.value,
            "session": decision.session_id,
        }
        if context.get("input") is not None:
            event["input"] = context["input"]
        if decision.call_id is not None:
            event["call_id"] = decision.call_id
        if context.get("tool") is not None:
            event["tool"] = context["tool"]
        if isinstance(agent, Mapping) and agent.get("id") is not None:
            event["agent"] = {"id": agent["id"], "roles": list(agent.get("roles") or ())}
            event["requested_by"] = str(agent["id"])
        if context.get("channel") is not None:
            event["channel"] = context["channel"]
        if trace_ids is not None:
            event["trace_id"], event["span_id"] = trace_ids
        return event


def _trace_ids() -> tuple[str, str] | None:
    if _otel_trace is None:
        return None
    ctx = _otel_trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


__all__ = ["LOG_POLICY", "DecisionLog", "decision_path", "rfc3339_nanos", "stage_metrics"]
