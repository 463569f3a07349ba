"""The OPA server engine: decisions over OPA's REST API, every failure a declared outcome.

The server is ``tests/opa_dataapi_server.py``: OPA's Data/Policy API answered by the real
OPA engine (no OPA binary installs here), told to misbehave where a test needs it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opa_client")

from guardrails import Agent, Guard, PolicySet, ToolCall, Verdict, codes
from guardrails.engines import SERVER_ENGINE, create_engine, installed, opa
from guardrails.engines.base import config_data
from guardrails.engines.opa_server import CircuitBreaker, OpaServerEngine
from guardrails.errors import EngineError, PolicyError
from guardrails.policytest import case_outcome, load_cases, run_cases

from .conftest import POLICIES, payments_guard

if not opa.available():  # the test double evaluates with the real OPA engine
    pytest.skip("the OPA engine (opa-golib-python-bindings) is part of the test install", allow_module_level=True)

from .opa_dataapi_server import OpaDouble

PACKAGE = "railguard.tool_call"
AGENT = Agent(id="bot", roles=("payments_agent",))
TIMEOUT_S = 0.3


class Clock:
    """Monotonic seconds that only move when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[OpaDouble]:
    with OpaDouble(slow_s=1.5) as double:
        yield double


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def guard(tmp_path: Path, server: OpaDouble, clock: Clock) -> Iterator[Guard]:
    """The bundled payments deployment, deciding on the server; lookup_customer fails open."""
    engine = OpaServerEngine(
        server.url,
        timeout_s=TIMEOUT_S,
        fail_open_tools={"lookup_customer"},
        failure_threshold=3,
        cooldown_s=10,
        clock=clock,
    )
    guard = payments_guard(tmp_path / "l.db", engine=engine)  # type: ignore[arg-type]
    yield guard
    guard.close()
    engine.close()


def lookup(customer: str = "c1", session: str = "s1") -> ToolCall:
    return ToolCall(tool="lookup_customer", args={"customer_id": customer}, session_id=session, agent=AGENT)


def check(txn: str = "t1", session: str = "s1") -> ToolCall:
    return ToolCall(tool="fraud_check", args={"transaction_id": txn}, session_id=session, agent=AGENT)


def payment(txn: str = "t1", session: str = "s1") -> ToolCall:
    args = {"transaction_id": txn, "amount": 100, "currency": "EUR", "recipient": "ACME-SUPPLIES-001"}
    return ToolCall(tool="make_payment", args=args, session_id=session, agent=AGENT)


def engine_of(guard: Guard) -> OpaServerEngine:
    assert isinstance(guard.engine, OpaServerEngine)
    return guard.engine


# -- decisions -------------------------------------------------------------------------------
def test_decision_cases_pass_on_the_server_exactly_as_on_the_embedded_engine(server: OpaDouble) -> None:
    policies, cases = PolicySet.load(POLICIES), load_cases(POLICIES)
    on_server = run_cases(policies, OpaServerEngine(server.url, timeout_s=5), cases)
    embedded = run_cases(policies, "opa", cases)

    def summary(outcome: Any) -> tuple[str, list[str], list[str]]:
        return outcome.verdict.value, sorted(r.code for r in outcome.reasons), sorted(r.source for r in outcome.reasons)

    assert len(on_server) == len(embedded) == len(cases) >= 60
    failed = [o.detail for o in (case_outcome(c, r) for c, r in on_server) if not o.passed]
    assert failed == []
    diffs = [
        (case.name, summary(a), summary(b))
        for (case, a), (_, b) in zip(embedded, on_server, strict=True)
        if summary(a) != summary(b)
    ]
    assert diffs == []


def test_a_guard_on_the_server_decides_as_on_the_embedded_engine(guard: Guard, tmp_path: Path) -> None:
    embedded = payments_guard(tmp_path / "embedded.db", engine="opa")
    for call in (lookup(), check(), payment(), lookup("c2", session="s2")):
        on_server, reference = guard.authorize(call), embedded.authorize(call)
        assert (on_server.verdict, on_server.codes) == (reference.verdict, reference.codes), call.tool
        assert on_server.policy_revision == reference.policy_revision == PolicySet.load(POLICIES).revision
    embedded.close()


def test_decisions_reuse_one_connection(guard: Guard, server: OpaDouble) -> None:
    guard.authorize(lookup())
    before = server.connections
    for index in range(5):
        guard.authorize(lookup(f"c{index}"))
    assert server.connections == before


def test_threads_share_the_engine_and_each_gets_its_own_answer(server: OpaDouble) -> None:
    engine = OpaServerEngine(server.url, timeout_s=5)
    engine.prepare(PolicySet.from_sources({"small.rego": SMALL}))
    tools = ["lookup_customer", "make_payment"] * 20

    def decide(tool: str) -> tuple[str, list[Any]]:
        return tool, engine.evaluate(PACKAGE, {"call": {"tool": tool}}).allow

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(decide, tools))
    assert answers == [(tool, [tool == "lookup_customer"]) for tool in tools]
    assert engine.breaker_state == "closed"


def test_an_undefined_package_denies_as_policy_undefined(guard: Guard, server: OpaDouble) -> None:
    server.fail("undefined")
    decision = guard.authorize(check())
    assert decision.verdict is Verdict.DENY and decision.codes == (codes.POLICY_UNDEFINED,)


# -- failures ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("http_500", codes.OPA_HTTP_ERROR),
        ("http_503", codes.OPA_HTTP_ERROR),
        ("http_404", codes.OPA_HTTP_ERROR),
        ("slow", codes.OPA_TIMEOUT),
        ("malformed", codes.OPA_BAD_RESPONSE),
        ("not_object", codes.OPA_BAD_RESPONSE),
        ("close", codes.OPA_UNAVAILABLE),
    ],
)
def test_a_server_failure_is_an_error_decision_with_its_code(
    guard: Guard, server: OpaDouble, fault: str, code: str
) -> None:
    server.fail(fault, times=1)
    decision = guard.authorize(check())
    assert decision.verdict is Verdict.ERROR and decision.codes == (code,)
    assert decision.stage == "policy" and decision.reasons[0].source == "engine:opa-server"
    assert guard.authorize(check("t2")).verdict is not Verdict.ERROR  # the next call is decided again


def test_a_refused_connection_is_opa_unavailable(guard: Guard, server: OpaDouble) -> None:
    server.stop()
    decision = guard.authorize(check())
    assert decision.verdict is Verdict.ERROR and decision.codes == (codes.OPA_UNAVAILABLE,)


def test_a_slow_server_is_cut_off_at_the_timeout(guard: Guard, server: OpaDouble) -> None:
    server.fail("slow", times=1)
    started = time.perf_counter()
    decision = guard.authorize(check())
    elapsed = time.perf_counter() - started
    assert decision.codes == (codes.OPA_TIMEOUT,)
    assert TIMEOUT_S <= elapsed < server.slow_s


CONFLICT = """package railguard.tool_call
import rego.v1
default allow := false
allow := true if input.call.tool == "lookup_customer"
allow := false if input.call.args.customer_id == "boom"
"""


def test_a_policy_evaluation_error_is_engine_error_as_on_the_embedded_engine(
    make_guard: Any, server: OpaDouble
) -> None:
    engine = OpaServerEngine(server.url, timeout_s=TIMEOUT_S, fail_open_tools={"lookup_customer"}, failure_threshold=2)
    on_server = make_guard(engine=engine, sources={"conflict.rego": CONFLICT}, db="server.db")
    embedded = make_guard(engine="opa", sources={"conflict.rego": CONFLICT}, db="embedded.db")
    for _ in range(3):
        decision = on_server.authorize(lookup("boom"))
        assert decision.verdict is Verdict.ERROR and decision.codes == (codes.ENGINE_ERROR,)
        assert re.search(r"conflict\.rego:\d+: eval_conflict_error", decision.reasons[0].message)
    assert embedded.authorize(lookup("boom")).codes == (codes.ENGINE_ERROR,)
    # The server answered: an input that makes a policy fail neither opens the breaker nor fails open.
    assert engine.breaker_state == "closed"


# -- fail-open, per tool ----------------------------------------------------------------------
def test_a_tool_that_opted_in_fails_open_and_the_decision_records_why(guard: Guard, server: OpaDouble) -> None:
    server.fail("http_503")
    decision = guard.authorize(lookup())
    assert decision.verdict is Verdict.ALLOW and decision.codes == ()
    [finding] = decision.findings
    assert finding.kind == codes.FAIL_OPEN and finding.source == "engine:opa-server"
    assert finding.detail.startswith(f"{codes.OPA_HTTP_ERROR}: ")
    [event] = [e for e in guard.ledger.events("s1") if e.type == "decision"]
    assert event.payload["decision"]["findings"] == [finding.model_dump(mode="json")]


def test_a_tool_that_did_not_opt_in_fails_closed(guard: Guard, server: OpaDouble) -> None:
    server.fail("http_503")
    assert guard.authorize(check()).codes == (codes.OPA_HTTP_ERROR,)
    assert guard.authorize(payment()).codes == (codes.OPA_HTTP_ERROR,)


@pytest.mark.parametrize("fault", ["http_404", "undefined"])
def test_fail_open_is_for_outages_only(guard: Guard, server: OpaDouble, fault: str) -> None:
    server.fail(fault)
    assert guard.authorize(lookup()).verdict is not Verdict.ALLOW


def test_a_tool_that_opted_in_fails_open_while_the_circuit_is_open(guard: Guard, server: OpaDouble) -> None:
    server.fail("close")
    for index in range(3):
        guard.authorize(check(f"t{index}"))
    assert engine_of(guard).breaker_state == "open"
    decision = guard.authorize(lookup())
    assert decision.verdict is Verdict.ALLOW
    assert decision.findings[0].detail.startswith(f"{codes.OPA_CIRCUIT_OPEN}: ")


# -- the circuit breaker ----------------------------------------------------------------------
def test_the_circuit_opens_after_consecutive_outages_and_stops_calling(guard: Guard, server: OpaDouble) -> None:
    server.fail("http_500")
    for index in range(3):
        assert guard.authorize(check(f"t{index}")).codes == (codes.OPA_HTTP_ERROR,)
    assert engine_of(guard).breaker_state == "open"
    seen = server.decisions
    decision = guard.authorize(check("t9"))
    assert decision.verdict is Verdict.ERROR and decision.codes == (codes.OPA_CIRCUIT_OPEN,)
    assert server.decisions == seen  # refused without a request


def test_after_the_cool_down_one_probe_closes_the_circuit(guard: Guard, server: OpaDouble, clock: Clock) -> None:
    server.fail("http_500", times=3)
    for index in range(3):
        guard.authorize(check(f"t{index}"))
    clock.now += 9.9
    assert engine_of(guard).breaker_state == "open"
    assert guard.authorize(check()).codes == (codes.OPA_CIRCUIT_OPEN,)
    clock.now += 0.1
    assert engine_of(guard).breaker_state == "half_open"
    assert guard.authorize(check()).verdict is not Verdict.ERROR  # the probe
    assert engine_of(guard).breaker_state == "closed"


def test_a_failed_probe_opens_the_circuit_again(guard: Guard, server: OpaDouble, clock: Clock) -> None:
    server.fail("slow")
    for index in range(3):
        guard.authorize(check(f"t{index}"))
    clock.now += 10
    seen = server.decisions
    assert guard.authorize(check()).codes == (codes.OPA_TIMEOUT,)  # the probe, sent and failed
    assert server.decisions == seen + 1
    assert engine_of(guard).breaker_state == "open"
    assert guard.authorize(check()).codes == (codes.OPA_CIRCUIT_OPEN,)
    clock.now += 10
    server.heal()
    assert guard.authorize(check()).verdict is not Verdict.ERROR
    assert engine_of(guard).breaker_state == "closed"


def test_a_success_resets_the_count_of_consecutive_outages(guard: Guard, server: OpaDouble) -> None:
    for _ in range(3):
        server.fail("http_500", times=2)
        guard.authorize(check())
        guard.authorize(check())
        guard.authorize(check())  # answered
    assert engine_of(guard).breaker_state == "closed"


def test_client_errors_are_not_outages(guard: Guard, server: OpaDouble) -> None:
    server.fail("http_404")
    for index in range(5):
        assert guard.authorize(check(f"t{index}")).codes == (codes.OPA_HTTP_ERROR,)
    assert engine_of(guard).breaker_state == "closed"


def test_only_one_probe_goes_through_at_a_time(clock: Clock) -> None:
    breaker = CircuitBreaker(threshold=1, cooldown_s=5, clock=clock)
    assert breaker.admit() is False
    breaker.record(outage=True, probe=False)
    assert breaker.state == "open" and breaker.admit() is None
    clock.now += 5
    assert breaker.admit() is True  # the probe
    assert breaker.state == "half_open"
    assert [breaker.admit() for _ in range(3)] == [None, None, None]
    breaker.record(outage=False, probe=True)
    assert breaker.state == "closed" and breaker.admit() is False


def test_a_late_answer_from_before_the_circuit_opened_does_not_close_it(clock: Clock) -> None:
    breaker = CircuitBreaker(threshold=1, cooldown_s=5, clock=clock)
    breaker.record(outage=True, probe=False)
    breaker.record(outage=False, probe=False)  # a call admitted while it was still closed
    assert breaker.state == "open"


def test_the_breaker_counts_exactly_under_threads(clock: Clock) -> None:
    breaker = CircuitBreaker(threshold=1000, cooldown_s=5, clock=clock)

    def fail_many() -> None:
        for _ in range(100):
            breaker.record(outage=True, probe=False)

    threads = [threading.Thread(target=fail_many) for _ in range(9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert breaker.state == "closed"  # 900 < 1000
    fail_many()
    assert breaker.state == "open"


# -- start-up: push mode -----------------------------------------------------------------------
SMALL = """package railguard.tool_call
import rego.v1
default allow := false
allow if input.call.tool == "lookup_customer"
"""


def test_prepare_loads_policies_and_config_under_railguard_ids(server: OpaDouble) -> None:
    engine = OpaServerEngine(server.url)
    engine.prepare(PolicySet.from_sources({"small.rego": SMALL}), config_data({"limit": 3}))
    assert set(server.modules) == {"railguard/small.rego"}
    assert server.data == {"railguard": {"config": {"limit": 3}}}
    assert engine.revision == PolicySet.from_sources({"small.rego": SMALL}).revision
    assert engine.evaluate(PACKAGE, {"call": {"tool": "lookup_customer"}}).allow == [True]


def test_prepare_deletes_what_an_earlier_push_left_and_resends_only_changes(server: OpaDouble) -> None:
    engine = OpaServerEngine(server.url)
    engine.prepare(PolicySet.load(POLICIES))
    writes = server.policy_writes
    engine.prepare(PolicySet.load(POLICIES))
    assert server.policy_writes == writes  # nothing changed, nothing sent
    engine.prepare(PolicySet.from_sources({"small.rego": SMALL}))
    assert set(server.modules) == {"railguard/small.rego"}


def test_prepare_leaves_modules_it_did_not_push(server: OpaDouble) -> None:
    server.put_policy("ops/health.rego", "package ops\nimport rego.v1\nok := true\n")
    OpaServerEngine(server.url).prepare(PolicySet.from_sources({"small.rego": SMALL}))
    assert set(server.modules) == {"ops/health.rego", "railguard/small.rego"}


def test_a_refused_module_stops_start_up_with_its_location(server: OpaDouble) -> None:
    with pytest.raises(PolicyError) as caught:
        OpaServerEngine(server.url).prepare(
            PolicySet.from_sources({"bad.rego": "package railguard.tool_call\nallow if {"})
        )
    assert caught.value.location == "bad.rego:2" and "rego_parse_error" in caught.value.message


def test_modules_that_need_each_other_cannot_be_pushed_one_by_one(server: OpaDouble) -> None:
    sources = {
        "a.rego": "package railguard.tool_call\nimport rego.v1\nallow if input.x > _b\n_a := 1\n",
        "b.rego": "package railguard.tool_call\nimport rego.v1\n_b := _a + 1\n",
    }
    with pytest.raises(PolicyError, match="serve them as a bundle"):
        OpaServerEngine(server.url).prepare(PolicySet.from_sources(sources))


def test_start_up_without_a_server_refuses_with_opa_unavailable(server: OpaDouble) -> None:
    server.stop()
    with pytest.raises(PolicyError) as caught:
        OpaServerEngine(server.url, setup_timeout_s=1).prepare(PolicySet.from_sources({"small.rego": SMALL}))
    assert caught.value.code == codes.OPA_UNAVAILABLE


# -- start-up: served (bundle) mode ------------------------------------------------------------
def serve_payments(server: OpaDouble, revision: str, config: dict[str, Any]) -> PolicySet:
    policies = PolicySet.load(POLICIES)
    server.serve_bundle("railguard", revision, {m.name: m.source for m in policies.modules}, config_data(config))
    return policies


def test_a_served_bundle_names_the_revision_of_every_decision(server: OpaDouble, tmp_path: Path) -> None:
    from guardrails.config import load_settings

    config = load_settings(POLICIES.parent / "examples" / "payments" / "railguard.toml").params
    serve_payments(server, "git-1a2b3c", config)
    engine = OpaServerEngine(server.url, mode="served", bundle="railguard")
    guard = payments_guard(tmp_path / "l.db", engine=engine)  # type: ignore[arg-type]
    assert guard.authorize(lookup()).policy_revision == "git-1a2b3c"
    server.activate_revision("git-4d5e6f")  # OPA polled a new bundle
    guard.authorize(lookup("c2"))  # reports the revision it was evaluated with
    assert engine.revision == "git-4d5e6f"
    assert guard.authorize(lookup("c3")).policy_revision == "git-4d5e6f"
    assert server.policy_writes == 0  # served mode never writes policies
    guard.close()


def test_a_missing_bundle_stops_start_up(server: OpaDouble) -> None:
    serve_payments(server, "r1", {})
    with pytest.raises(PolicyError) as caught:
        OpaServerEngine(server.url, mode="served", bundle="other").prepare(PolicySet.load(POLICIES))
    assert caught.value.code == "opa_bundle_missing"


def test_served_config_that_differs_from_the_deployments_stops_start_up(server: OpaDouble) -> None:
    policies = serve_payments(server, "r1", {"budgets": {"max_calls_total": 5}})
    with pytest.raises(PolicyError) as caught:
        OpaServerEngine(server.url, mode="served", bundle="railguard").prepare(
            policies, config_data({"budgets": {"max_calls_total": 9}})
        )
    assert caught.value.code == "opa_config_mismatch"


def test_served_files_are_named_by_a_hash_of_what_the_server_serves(server: OpaDouble) -> None:
    server.put_policy("/policies/small.rego", SMALL)  # as `opa run --server /policies` loads them
    engine = OpaServerEngine(server.url, mode="served")
    writes = server.policy_writes
    engine.prepare(PolicySet.from_sources({"other.rego": "package other\n"}), config_data({"limit": 3}))
    assert server.policy_writes == writes and set(server.modules) == {"/policies/small.rego"}
    assert server.data == {"railguard": {"config": {"limit": 3}}}  # absent on the server: written
    revision = engine.revision
    assert len(revision) == 16
    server.put_policy("/policies/small.rego", SMALL + "# changed\n")
    engine.prepare(PolicySet.from_sources({"other.rego": "package other\n"}), config_data({"limit": 3}))
    assert engine.revision != revision
    assert engine.evaluate(PACKAGE, {"call": {"tool": "lookup_customer"}}).allow == [True]


# -- construction ------------------------------------------------------------------------------
def test_create_engine_builds_the_server_engine_and_auto_never_picks_it(server: OpaDouble) -> None:
    engine = create_engine(SERVER_ENGINE, url=server.url, timeout_s=0.2)
    assert isinstance(engine, OpaServerEngine) and engine.timeout_s == 0.2
    assert SERVER_ENGINE not in installed()
    assert not isinstance(create_engine("auto"), OpaServerEngine)
    with pytest.raises(PolicyError) as caught:
        create_engine("opa", url=server.url)
    assert caught.value.code == "engine_options_invalid"


@pytest.mark.parametrize(
    "options",
    [
        {"url": "ftp://h:1"},
        {"url": "http://h:1/opa"},
        {"url": "http://user:pw@h:1"},
        {"url": "localhost:8181"},
        {"mode": "pull"},
        {"bundle": "railguard"},  # a bundle is served, never pushed
        {"mode": "served", "bundle": ""},
        {"timeout_s": 0},
    ],
)
def test_unusable_options_are_refused_at_construction(options: dict[str, Any]) -> None:
    with pytest.raises(PolicyError) as caught:
        OpaServerEngine(**options)
    assert caught.value.code == "engine_options_invalid"


def test_a_direct_evaluate_raises_engine_error_with_the_code(server: OpaDouble) -> None:
    engine = OpaServerEngine(server.url, timeout_s=TIMEOUT_S)
    engine.prepare(PolicySet.from_sources({"small.rego": SMALL}))
    server.fail("malformed", times=1)
    with pytest.raises(EngineError) as caught:
        engine.evaluate(PACKAGE, {"call": {"tool": "x"}})
    assert caught.value.code == codes.OPA_BAD_RESPONSE


def test_every_new_code_is_documented() -> None:
    new = (
        codes.OPA_UNAVAILABLE,
        codes.OPA_TIMEOUT,
        codes.OPA_HTTP_ERROR,
        codes.OPA_BAD_RESPONSE,
        codes.OPA_CIRCUIT_OPEN,
        codes.FAIL_OPEN,
    )
    assert all(codes.DOCUMENTED.get(code) for code in new)


def test_a_deployment_file_selects_the_server_engine(tmp_path: Path, server: OpaDouble) -> None:
    from guardrails.factory import guard_from_config

    payments = Path(__file__).resolve().parents[1] / "examples" / "payments"
    text = (
        (payments / "railguard.toml")
        .read_text()
        .replace('"../../policies"', f'"{payments.parent.parent / "policies"}"')
    )
    text = text.replace('tools = "tools.json"', f'tools = "{payments / "tools.json"}"')
    text = text.replace('engine = "auto"', 'engine = "opa-server"')
    text += f'\n[opa_server]\nurl = "{server.url}"\nfail_open_tools = ["lookup_customer"]\n'
    (tmp_path / "railguard.toml").write_text(text)
    guard = guard_from_config(tmp_path / "railguard.toml", ledger_path=tmp_path / "l.db")
    try:
        assert isinstance(guard.engine, OpaServerEngine)
        assert guard.authorize(payment()).codes == ("fraud_check_required",)
    finally:
        guard.close()
