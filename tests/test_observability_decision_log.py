"""The decision log: OPA's event format, OPA's masking contract, and no PII in what it writes."""

import io
import json
import stat
import threading
import time

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from guardrails import Agent, Checkpoint, Decision, Finding, Reason, ToolCall, ToolResult, Verdict
from guardrails.engines import create_engine
from guardrails.observability.decision_log import DecisionLog, decision_path, rfc3339_nanos, stage_metrics
from guardrails.observability.sinks import FileSink, StreamSink

from .conftest import MINI_POLICY, PAYER, ROOT, fraud_check, pay, payments_guard

SCHEMA = json.loads((ROOT / "tests/data/opa_decision_log_event.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=FormatChecker())


class ListSink:
    """Keeps the lines in memory, as parsed events."""

    name = "list"
    dropped = 0

    def __init__(self) -> None:
        self.events: list[dict] = []

    def write(self, lines):
        self.events.extend(json.loads(line) for line in lines)

    def flush(self, timeout):
        return True

    def close(self, timeout):
        return None


@pytest.fixture
def sink():
    return ListSink()


def logged(make_guard, engine_name="auto", sources=None, **log_kwargs):
    """A mini-policy Guard whose decision log shares its engine; returns (guard, log, sink)."""
    sink = ListSink()
    engine = create_engine(engine_name)
    log = DecisionLog([sink], engine=engine, **log_kwargs)
    guard = make_guard(engine, sources={"mini.rego": MINI_POLICY, **(sources or {})}, observers=[log])
    return guard, log, sink


def events_of(log, sink):
    assert log.flush(10)
    return sink.events


# -- the event format ---------------------------------------------------------------------------
def test_every_checkpoint_writes_one_event_valid_against_opas_documented_format(make_guard):
    guard, log, sink = logged(make_guard)
    guard.screen_input("hello", session_id="s1")
    call = fraud_check("t1")
    guard.authorize(call)
    guard.check_result(ToolResult(call_id=call.id, session_id="s1", output={"status": "passed"}))
    guard.check_output({"answer": "done"}, session_id="s1")
    events = events_of(log, sink)
    assert [e["checkpoint"] for e in events] == ["screen_input", "authorize", "check_result", "check_output"]
    for event in events:
        errors = sorted(VALIDATOR.iter_errors(event), key=str)
        assert errors == [], errors[0].message if errors else ""
    log.close()


def test_an_authorize_event_carries_the_policy_input_result_and_railguards_own_fields(make_guard):
    guard, log, sink = logged(make_guard)
    decision = guard.authorize(pay("t9", amount=50))
    (event,) = events_of(log, sink)
    assert event["decision_id"] == decision.decision_id
    assert event["path"] == "railguard/tool_call"
    assert event["input"]["call"]["args"]["transaction_id"] == "t9"
    assert event["result"] == {
        "verdict": "deny",
        "stage": "policy",
        "reasons": [r.model_dump() for r in decision.reasons],
    }
    assert event["result"]["reasons"][0]["code"] == "fraud_check_required"
    assert event["bundles"]["policies"]["revision"] == decision.policy_revision
    assert event["bundles"]["config"]["revision"] == decision.config_revision
    assert set(event["labels"]) >= {"id", "version"}
    assert event["session"] == "s1" and event["tool"] == "make_payment" and event["call_id"] == decision.call_id
    assert event["agent"] == {"id": "bot", "roles": ["payer"]} and event["requested_by"] == "bot"
    assert event["metrics"]["timer_railguard_total_ns"] == round(decision.latency_ms["total"] * 1e6)
    assert "erased" not in event and "masked" not in event  # OPA omits them when empty
    log.close()


def test_an_escalation_event_carries_its_ticket(make_guard):
    guard, log, sink = logged(make_guard)
    passed = fraud_check("t1")
    guard.authorize(passed)
    guard.check_result(ToolResult(call_id=passed.id, session_id="s1", output={"status": "passed"}))
    decision = guard.authorize(pay("t1", amount=5000))
    assert decision.verdict is Verdict.ESCALATE
    event = events_of(log, sink)[-1]
    assert event["result"]["ticket"] == decision.ticket
    log.close()


@pytest.mark.parametrize(
    ("checkpoint", "path"),
    [
        (Checkpoint.AUTHORIZE, "railguard/tool_call"),
        (Checkpoint.SCREEN_INPUT, "railguard/screen_input"),
        (Checkpoint.CHECK_RESULT, "railguard/check_result"),
        (Checkpoint.CHECK_OUTPUT, "railguard/check_output"),
    ],
)
def test_the_path_names_the_rego_package_or_the_checkpoint(checkpoint, path):
    assert decision_path(checkpoint) == path


@pytest.mark.parametrize(
    ("at", "text"),
    [
        (0.0, "1970-01-01T00:00:00.000000000Z"),
        (1559592436.939402185, "2019-06-03T20:07:16.939402"),  # float precision: microseconds exact
        (1559592436.9999999999, "2019-06-03T20:07:17.000000000Z"),  # rounding carries into the second
    ],
)
def test_timestamps_are_rfc3339_utc_with_nanoseconds_like_opas(at, text):
    stamp = rfc3339_nanos(at)
    assert stamp.startswith(text)
    assert len(stamp) == len("2019-06-03T20:07:16.939402185Z") and stamp.endswith("Z")


def test_stage_timings_are_named_like_opas_metrics_in_nanoseconds():
    assert stage_metrics({"screen:pii": 0.25, "policy": 1.5, "total": 2.0}) == {
        "timer_railguard_screen_pii_ns": 250_000,
        "timer_railguard_policy_ns": 1_500_000,
        "timer_railguard_total_ns": 2_000_000,
    }


def test_the_callers_trace_and_span_ids_are_recorded(make_guard):
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    guard, log, sink = logged(make_guard)
    tracer = sdk.TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("caller") as span:
        guard.screen_input("hello", session_id="s1")
        ids = span.get_span_context()
    (event,) = events_of(log, sink)
    assert event["trace_id"] == format(ids.trace_id, "032x") and event["span_id"] == format(ids.span_id, "016x")
    log.close()


# -- masking, OPA's contract on our engine --------------------------------------------------------
LOG_POLICY = """
package railguard.log
import rego.v1

mask contains "/input/call/args/transaction_id"
mask contains "/input/agent/attributes/ssn"
mask contains {"op": "upsert", "path": "/input/call/args/amount", "value": "**REDACTED**"} if {
    input.input.call.args.amount > 1000
}
mask contains "/input/no/such/field"
drop if input.input.call.tool == "lookup_customer"
"""


def test_a_rego_mask_erases_and_upserts_like_opas_system_log_mask(make_guard, engine):
    guard, log, sink = logged(make_guard, engine, sources={"log.rego": LOG_POLICY})
    agent = Agent(id="bot", roles=("payer",), attributes={"ssn": "x", "team": "ops"})
    args = {**pay().args, "amount": 5000}
    guard.authorize(ToolCall(tool="make_payment", args=args, session_id="s", agent=agent))
    (event,) = events_of(log, sink)
    assert "transaction_id" not in event["input"]["call"]["args"]
    assert event["input"]["call"]["args"]["amount"] == "**REDACTED**"
    assert event["input"]["agent"]["attributes"] == {"team": "ops"}
    assert event["erased"] == ["/input/agent/attributes/ssn", "/input/call/args/transaction_id"]
    assert event["masked"] == ["/input/call/args/amount"]  # a pointer to nothing is ignored, not listed
    log.close()


def test_a_rego_drop_rule_keeps_the_decision_out_of_the_log(make_guard, engine):
    guard, log, sink = logged(make_guard, engine, sources={"log.rego": LOG_POLICY})
    guard.authorize(ToolCall(tool="lookup_customer", args={"customer_id": "c1"}, session_id="s", agent=PAYER))
    assert events_of(log, sink) == []
    assert log.dropped_by_policy == 1 and log.dropped == 0  # chosen, not lost
    log.close()


@pytest.mark.parametrize(
    "rule",
    [
        'mask contains "/labels/id"',  # OPA only masks /input and /result
        'mask contains {"op": "rename", "path": "/input/call"}',
        "mask := 42",
    ],
    ids=["outside-input-and-result", "unknown-op", "not-a-set"],
)
def test_a_broken_mask_policy_logs_the_decision_without_its_input(make_guard, rule):
    policy = f"package railguard.log\nimport rego.v1\n{rule}\n"
    guard, log, sink = logged(make_guard, sources={"log.rego": policy})
    decision = guard.authorize(pay())
    (event,) = events_of(log, sink)
    assert "input" not in event and event["erased"] == ["/input"]
    assert event["decision_id"] == decision.decision_id and event["result"]["verdict"] == "deny"
    assert log.mask_errors == 1
    log.close()


def test_an_engine_failure_while_masking_fails_closed(make_guard):
    class Broken:
        def document(self, path, input):
            raise RuntimeError("engine down")

    guard, log, sink = logged(make_guard)
    log.engine = Broken()
    guard.authorize(pay())
    (event,) = events_of(log, sink)
    assert "input" not in event and log.mask_errors == 1
    log.close()


def test_without_a_log_policy_the_engine_is_asked_once_per_policy_revision(make_guard):
    guard, log, sink = logged(make_guard)
    real = guard.engine
    asked = []

    class Counting:
        revision = "r1"

        def document(self, path, input):
            asked.append(input)
            return real.document(path, input)

    log.engine = Counting()
    for n in range(5):
        guard.authorize(pay(f"t{n}"))
    assert len(events_of(log, sink)) == 5 and asked == [{}]  # the probe only: no package, no masking
    Counting.revision = "r2"  # policies reloaded: ask again
    guard.authorize(pay("t9"))
    events_of(log, sink)
    assert asked == [{}, {}]
    log.close()


# -- PII --------------------------------------------------------------------------------------------
def decision_with(findings=(), reasons=()):
    return Decision(
        verdict=Verdict.DENY if reasons else Verdict.ALLOW,
        checkpoint=Checkpoint.AUTHORIZE,
        stage="policy",
        findings=findings,
        reasons=reasons,
        session_id="s",
        call_id="c",
    )


def test_fields_a_screener_flagged_are_replaced_by_a_typed_placeholder(sink):
    # Paths are matched by walking the arguments as the screeners did. Their format cannot tell
    # the key "a.b" from the key b inside a: both places are masked, the safe reading.
    log = DecisionLog([sink], pii_scan=False)
    findings = (
        Finding(kind="pii", detail="EMAIL_ADDRESS", path="$.to[1]", start=0, end=5),
        Finding(kind="pii", detail="PHONE_NUMBER", path="$.note", start=0, end=5),
        Finding(kind="pii", detail="EMAIL_ADDRESS", path="$.note", start=9, end=15),
        Finding(kind="pii", detail="EMAIL_ADDRESS", path="$.a.b#key", start=0, end=3),
        Finding(kind="injection", detail="ignore_previous", path="$.x"),
    )
    args = {"to": ["ok", "e@x.io"], "note": "p 1 and e", "a.b": "a dotted key", "a": {"b": 1}, "x": "ignore"}
    event = log.event(decision_with(findings), {"input": {"call": {"args": args}}})
    assert event["input"]["call"]["args"] == {
        "to": ["ok", "<EMAIL_ADDRESS>"],
        "note": "<EMAIL_ADDRESS,PHONE_NUMBER>",
        "<EMAIL_ADDRESS>": "a dotted key",
        "a": {"<EMAIL_ADDRESS>": 1},
        "x": "ignore",
    }
    assert event["masked"] == [
        "/input/call/args/<EMAIL_ADDRESS>",
        "/input/call/args/a/<EMAIL_ADDRESS>",
        "/input/call/args/note",
        "/input/call/args/to/1",
    ]
    log.close()


def test_pii_quoted_in_reasons_and_findings_is_masked_by_the_scan():
    pytest.importorskip("numpy", reason="the screening extra is part of the test install")
    log = DecisionLog([ListSink()])
    reasons = (Reason(code="recipient_domain_not_allowed", message="recipient jane.roe@evil.test is out", source="r"),)
    findings = (Finding(kind="schema", detail="'4111 1111 1111 1111' is not of type 'integer'", path="$.n"),)
    event = log.event(decision_with(findings, reasons), {"agent": {"id": "bot", "roles": []}})
    text = json.dumps(event)
    assert "jane.roe@evil.test" not in text and "4111 1111 1111 1111" not in text
    assert event["result"]["reasons"][0]["message"] == "recipient <EMAIL_ADDRESS> is out"
    assert event["masked"] == ["/result/findings/0/detail", "/result/reasons/0/message"]
    log.close()


def test_the_pii_corpus_leaves_no_value_in_the_decision_log(tmp_path):
    # Every text of the PII corpus through the four checkpoints of the payments deployment with
    # screening on (user input, tool arguments, tool outputs good and broken, failed tools, final
    # output, a denied e-mail), logged to a file; then grep every line for every raw value.
    pytest.importorskip("numpy", reason="the screening extra is part of the test install")
    from guardrails.screening import InjectionScreener, PiiActions, PiiScreener

    rows = [json.loads(line) for line in (ROOT / "tests/data/pii/corpus.jsonl").read_text().splitlines()]
    values = {row["text"][s["start"] : s["end"]] for row in rows for s in row["spans"]}
    assert len(values) > 100
    engine = create_engine("auto")
    log = DecisionLog([FileSink(tmp_path / "decisions.log")], engine=engine)
    screeners = [PiiScreener(PiiActions(default="redact")), InjectionScreener()]
    guard = payments_guard(tmp_path / "l.db", engine=engine, screeners=screeners, observers=[log])
    agent = Agent(id="bot", roles=("payments_agent",))
    for n, row in enumerate(rows):
        session, text = f"c{n % 7}", row["text"]
        guard.screen_input(text, session_id=session)
        call = ToolCall(tool="lookup_customer", args={"customer_id": text[:64]}, session_id=session, agent=agent)
        guard.authorize(call)
        output = {"note": text} if n % 3 else f"<html>{text}</html>"  # some results are not JSON
        guard.check_result(ToolResult(call_id=call.id, session_id=session, output=output))
        failed = ToolCall(tool="lookup_customer", args={"customer_id": f"x{n}"}, session_id=session, agent=agent)
        guard.authorize(failed)
        guard.check_result(ToolResult(call_id=failed.id, session_id=session, ok=False, error=f"upstream said: {text}"))
        email = {"to": text[:40] + "@evil.test", "subject": "hi", "body": text}  # Rego quotes the recipient
        guard.authorize(ToolCall(tool="send_email", args=email, session_id=session, agent=agent))
        guard.check_output({"answer": text}, session_id=session)
    assert log.flush(60)
    guard.close()
    log.close()
    lines = (tmp_path / "decisions.log").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 7 * len(rows) and log.dropped == 0
    raw = "\n".join(lines)
    leaked = sorted(v for v in values if v in raw or v.replace(" ", "") in raw)
    assert leaked == []
    events = [json.loads(line) for line in lines]
    assert all(VALIDATOR.is_valid(event) for event in events[:50])
    # The scan layer is what caught the values Rego and the schema quoted back in messages.
    assert any(m.startswith("/result/reasons/") for event in events for m in event.get("masked", ()))


# -- never in the caller's way --------------------------------------------------------------------
def test_a_full_queue_drops_and_counts_instead_of_blocking(sink):
    gate = threading.Event()

    class Slow(ListSink):
        def write(self, lines):
            gate.wait(10)
            super().write(lines)

    slow = Slow()
    log = DecisionLog([slow], pii_scan=False, max_pending=5, batch=1)
    started = time.perf_counter()
    for _ in range(50):
        log.on_decision(decision_with(), {})
    assert time.perf_counter() - started < 5  # one blocked write would hold the caller 10 s
    assert 40 <= log.dropped_queue_full <= 45 and log.dropped == log.dropped_queue_full
    gate.set()
    log.close()
    assert len(slow.events) + log.dropped == 50


def test_a_sink_that_raises_is_counted_and_the_others_still_get_the_line(make_guard):
    class Failing(ListSink):
        name = "failing"

        def write(self, lines):
            raise OSError("disk full")

    good = ListSink()
    log = DecisionLog([Failing(), good], pii_scan=False)
    guard = make_guard(observers=[log])
    decision = guard.authorize(pay())
    assert decision.verdict is Verdict.DENY and guard.observer_failures == 0
    assert log.flush(5)
    assert len(good.events) == 1 and log.sink_errors == 1 and log.dropped == 1
    log.close()


def test_a_closed_log_drops_new_decisions_without_raising(sink):
    log = DecisionLog([sink], pii_scan=False)
    log.close()
    log.on_decision(decision_with(), {})
    assert log.dropped == 1


# -- sinks ------------------------------------------------------------------------------------------
def test_the_file_sink_rotates_by_size_and_keeps_owner_only_files(tmp_path):
    path = tmp_path / "logs" / "decisions.log"
    sink = FileSink(path, max_bytes=4096, backups=2)
    log = DecisionLog([sink], pii_scan=False)
    for _ in range(100):
        log.on_decision(decision_with(), {"tool": "t"})
    log.close()
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["decisions.log", "decisions.log.1", "decisions.log.2"]
    for p in path.parent.iterdir():
        assert p.stat().st_size <= 4096
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
        assert all(json.loads(line)["tool"] == "t" for line in p.read_text().splitlines())


def test_the_stream_sink_writes_one_json_line_per_decision():
    stream = io.StringIO()
    log = DecisionLog([StreamSink(stream)], pii_scan=False)
    log.on_decision(decision_with(), {})
    log.on_decision(decision_with(), {})
    log.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["path"] == "railguard/tool_call" for line in lines)


def test_a_sink_is_never_written_from_the_callers_thread(make_guard):
    threads = set()

    class Recording(ListSink):
        def write(self, lines):
            threads.add(threading.get_ident())
            super().write(lines)

    log = DecisionLog([Recording()], pii_scan=False)
    guard = make_guard(observers=[log])
    guard.authorize(pay())
    assert log.flush(5)
    assert threads and threading.get_ident() not in threads
    log.close()


def test_a_file_sink_size_below_a_kilobyte_is_a_config_error():
    from guardrails.errors import ConfigError

    with pytest.raises(ConfigError, match="max_bytes"):
        FileSink("decisions.log", max_bytes=10)


def test_a_file_that_cannot_be_written_is_counted_as_dropped(tmp_path):
    sink = FileSink(tmp_path / "d.log")
    (tmp_path / "d.log").mkdir()  # opening it for append fails on the first write
    log = DecisionLog([sink], pii_scan=False)
    log.on_decision(decision_with(), {})
    log.close()
    assert log.dropped == 1 and log.written == 1
