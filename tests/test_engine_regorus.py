"""The regorus engine (gordon-to-regorus): every hazard of ENGINES.md neutralised in the engine layer."""

import gc
import sys
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("regorus")

import regorus

from guardrails.engines.base import PolicySet
from guardrails.engines.regorus import _PER_THREAD, RegorusEngine, _binding, native
from guardrails.errors import EngineError, PolicyError

from .conftest import POLICIES

PACKAGE = "railguard.tool_call"

SIMPLE = """package railguard.tool_call
import rego.v1
default allow := false
allow if input.amount <= 1000
deny contains {"code": "big", "message": sprintf("amount %v", [input.amount])} if input.amount > 5000
deny contains {"code": "negative", "message": "below zero"} if input.amount < 0
escalate contains {"code": "approve", "message": "a person decides"} if input.amount > 1000
"""

TESTS = """package railguard.tool_call_test
import rego.v1
import data.railguard.tool_call

test_small_is_allowed if {
    tool_call.allow with input as {"amount": 5}
}

test_limit_comes_from_data if {
    count(tool_call.deny) == 1 with input as {"amount": 50} with data.railguard.config as {"max": 10}
}

test_fails if {
    tool_call.allow with input as {"amount": 5000}
}
"""

PRINTING = (
    SIMPLE
    + """deny contains {"code": "p", "message": "m"} if {
  print("amount is", input.amount)
  false
}
"""
)

WITH_CONFIG = """package railguard.tool_call
import rego.v1
deny contains {"code": "big", "message": "over the configured max"} if input.amount > data.railguard.config.max
"""


def prepared(sources=None, data=None, *, with_tests=False, **options):
    engine = RegorusEngine(**options)
    engine.prepare(PolicySet.from_sources(sources or {"p.rego": SIMPLE}), data, with_tests=with_tests)
    return engine


def expected(amount):
    deny = []
    if amount > 5000:
        deny.append({"code": "big", "message": f"amount {amount}"})
    if amount < 0:
        deny.append({"code": "negative", "message": "below zero"})
    escalate = [{"code": "approve", "message": "a person decides"}] if amount > 1000 else []
    return [deny], [escalate], [amount <= 1000]


def test_protocol_attributes():
    engine = prepared()
    assert engine.name == "regorus"
    assert engine.supports_with is True
    assert engine.revision == PolicySet.from_sources({"p.rego": SIMPLE}).revision


def test_eight_threads_get_correct_answers_and_no_panic():
    engine = prepared()
    amounts = [(i * 37) % 9000 - 500 for i in range(1600)]
    threads = set()

    def check(amount):
        threads.add(threading.get_ident())
        answer = engine.evaluate(PACKAGE, {"amount": amount})
        return (answer.deny, answer.escalate, answer.allow) == expected(amount)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(check, amounts))  # a PanicException would escape here
    assert all(results)
    assert len(threads) > 1


def test_a_new_prepare_reaches_threads_that_built_engines_before():
    engine = prepared()
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(a.allow == [True] for a in pool.map(lambda _: engine.evaluate(PACKAGE, {"amount": 5}), range(40)))
        engine.prepare(PolicySet.from_sources({"p.rego": SIMPLE.replace("<= 1000", "<= 1")}))
        assert all(a.allow == [False] for a in pool.map(lambda _: engine.evaluate(PACKAGE, {"amount": 5}), range(40)))


def test_an_engine_collected_while_its_threads_live_leaves_them_to_drop_its_natives(monkeypatch):
    # A native engine dropped by another thread than its own is leaked with a RuntimeError.
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    barrier = threading.Barrier(2)

    def on_both_threads(pool, call, *args):
        def task(_):
            barrier.wait(timeout=10)  # two tasks, two workers: each worker runs one
            return call(*args)

        return list(pool.map(task, range(2)))

    with ThreadPoolExecutor(max_workers=2) as pool:
        engine = prepared()
        assert all(a.allow == [True] for a in on_both_threads(pool, engine.evaluate, PACKAGE, {"amount": 5}))
        collected = weakref.ref(engine)
        del engine
        gc.collect()
        assert collected() is None
        other = prepared()
        assert all(a.allow == [True] for a in on_both_threads(pool, other.evaluate, PACKAGE, {"amount": 5}))
        owners = on_both_threads(pool, lambda: [owner() for owner, _ in _PER_THREAD.states.values()])
        assert owners == [[other], [other]]  # the collected engine's natives were dropped in their threads
    gc.collect()
    assert unraisable == []


def test_native_panic_from_another_thread_becomes_engine_error():
    foreign = regorus.Engine()  # created here, used from another thread: pyo3 panics
    caught = []

    def use():
        try:
            native(foreign.eval_query_as_json, "x := 1")
        except BaseException as exc:  # what escapes is the point
            caught.append(exc)

    worker = threading.Thread(target=use)
    worker.start()
    worker.join()
    assert len(caught) == 1
    assert type(caught[0]) is not BaseException and isinstance(caught[0], EngineError)
    assert "native panic" in str(caught[0]) and "unsendable" in str(caught[0])


def test_keyboard_interrupt_and_system_exit_are_not_swallowed():
    def interrupted():
        raise KeyboardInterrupt

    def exiting():
        raise SystemExit(3)

    with pytest.raises(KeyboardInterrupt):
        native(interrupted)
    with pytest.raises(SystemExit):
        native(exiting)


@pytest.fixture
def regorus_alone(monkeypatch):
    """As after a plain install on Python < 3.14: no OPA compiler checks the policies first."""
    from guardrails.engines import opa

    monkeypatch.setattr(opa, "opa_bindings", None)


def test_syntax_error_raises_policy_error_with_file_and_line(regorus_alone):
    source = "package railguard.tool_call\nimport rego.v1\n\nallow if {\n  input.x ==\n}\n"
    with pytest.raises(PolicyError) as caught:
        prepared({"broken.rego": source})
    assert caught.value.location == "broken.rego:6"
    assert "Stack backtrace" not in str(caught.value)
    assert "expecting expression" in caught.value.message


def test_syntax_error_in_a_test_module_is_found_only_when_tests_are_loaded():
    sources = {"p.rego": SIMPLE, "p_test.rego": "package railguard.tool_call_test\nimport rego.v1\ntest_x if {\n"}
    prepared(sources)
    with pytest.raises(PolicyError) as caught:
        prepared(sources, with_tests=True)
    assert caught.value.location is not None and caught.value.location.startswith("p_test.rego:")


def test_rego_v0_syntax_is_refused_and_import_rego_v1_accepted():
    with pytest.raises(PolicyError) as caught:
        prepared({"old.rego": "package railguard.tool_call\nallow { input.amount < 5 }\n"})
    assert caught.value.location == "old.rego:2"
    assert "`if` keyword is required" in caught.value.message
    assert prepared().evaluate(PACKAGE, {"amount": 5}).allow == [True]


@pytest.mark.parametrize(
    ("body", "location", "words"),
    [
        ("allow if nosuchfunction(input.x)", "lazy.rego:3", "could not find function"),
        ("allow if y == 1", "lazy.rego:3", "unsafe"),
        ("allow := 1\nallow := 2", "lazy.rego:4", "conflicts"),
    ],
)
def test_errors_regorus_reports_lazily_stop_prepare(regorus_alone, body, location, words):
    with pytest.raises(PolicyError) as caught:
        prepared({"lazy.rego": f"package railguard.tool_call\nimport rego.v1\n{body}\n"})
    assert caught.value.location == location
    assert words in caught.value.message


def test_a_failed_prepare_keeps_the_previous_policies():
    engine = prepared()
    with pytest.raises(PolicyError):
        engine.prepare(PolicySet.from_sources({"broken.rego": "package railguard.tool_call\nallow if {\n"}))
    assert engine.evaluate(PACKAGE, {"amount": 5}).allow == [True]
    assert engine.revision == PolicySet.from_sources({"p.rego": SIMPLE}).revision


def test_undefined_and_false_allow_are_told_apart():
    engine = prepared()
    assert engine.evaluate(PACKAGE, {"amount": 2000}).allow == [False]
    assert engine.evaluate(PACKAGE, {"amount": 5}).allow == [True]
    undefined = prepared({"p.rego": "package railguard.tool_call\nimport rego.v1\nallow if input.amount > 1\n"})
    answer = undefined.evaluate(PACKAGE, {"amount": 0})
    assert answer.allow == []
    assert answer.deny == [] and answer.escalate == []  # the package defines neither
    assert undefined.document("data.railguard.tool_call.allow", {"amount": 0}) == (False, None)
    assert undefined.document("data.railguard.tool_call.allow", {"amount": 5}) == (True, True)


def test_a_set_of_objects_as_deny_comes_back_as_a_list_of_objects():
    answer = prepared().evaluate(PACKAGE, {"amount": -9000})
    assert answer.deny == [[{"code": "negative", "message": "below zero"}]]
    both = prepared(
        {"p.rego": SIMPLE.replace("input.amount < 0", "input.amount > 6000")}  # two entries in the set
    ).evaluate(PACKAGE, {"amount": 7000})
    assert len(both.deny) == 1 and isinstance(both.deny[0], list)
    assert sorted(d["code"] for d in both.deny[0]) == ["big", "negative"]
    assert prepared().evaluate(PACKAGE, {"amount": 5}).deny == [[]]  # defined and empty


def test_after_a_failed_input_the_next_evaluation_sees_its_own_input():
    engine = prepared()
    assert engine.evaluate(PACKAGE, {"amount": 5}).allow == [True]
    # regorus refuses this number in set_input_json and keeps the previous input: the engine
    # must fail, not answer for {"amount": 5}.
    with pytest.raises(EngineError) as caught:
        engine.evaluate(PACKAGE, {"amount": 10**400})
    assert "out of range" in str(caught.value)
    answer = engine.evaluate(PACKAGE, {"amount": 6000})
    assert answer.allow == [False] and answer.deny == [[{"code": "big", "message": "amount 6000"}]]


def test_after_an_evaluation_error_the_next_evaluation_sees_its_own_input():
    source = "package railguard.tool_call\nimport rego.v1\nallow if 10 / input.n > 1\n"
    engine = prepared({"div.rego": source})
    assert engine.evaluate(PACKAGE, {"n": 1}).allow == [True]
    with pytest.raises(EngineError) as caught:
        engine.evaluate(PACKAGE, {"n": 0})
    assert str(caught.value) == "regorus: div.rego:3:13: divide by zero"
    assert engine.evaluate(PACKAGE, {"n": 100}).allow == []


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), {1j}, object()])
def test_input_that_is_not_json_is_an_engine_error(bad):
    with pytest.raises(EngineError):
        prepared().evaluate(PACKAGE, {"amount": bad})


def test_error_messages_are_short_and_carry_no_backtrace():
    source = "package railguard.tool_call\nimport rego.v1\nallow if 10 / input.n > 1" + " " * 900 + "\n"
    engine = prepared({"div.rego": source})
    with pytest.raises(EngineError) as caught:
        engine.evaluate(PACKAGE, {"n": 0})
    text = str(caught.value)
    assert "backtrace" not in text.lower() and "\n" not in text and len(text) <= 300


@pytest.mark.parametrize(
    "raw",
    [
        "{}",  # undefined: no result at all
        '{"result": []}',
        '{"result": [{"bindings": {"x": 1}}, {"bindings": {"x": 2}}]}',  # two results
        '{"result": [{"expressions": []}]}',  # no bindings
        '{"result": [{"bindings": {"y": 1}}]}',  # no x
        "not json",
        None,
    ],
)
def test_anything_but_one_binding_of_x_is_an_engine_error(raw):
    with pytest.raises(EngineError):
        _binding(raw)


def test_a_malformed_decision_is_an_engine_error_not_a_partial_answer():
    # The binding is well-formed, but answer_from refuses a non-object x.
    engine = prepared()
    engine._queries[PACKAGE] = "x := [1]"
    with pytest.raises(EngineError):
        engine.evaluate(PACKAGE, {"amount": 5})


def test_evaluate_before_prepare_is_an_engine_error():
    with pytest.raises(EngineError):
        RegorusEngine().evaluate(PACKAGE, {})


def test_print_in_a_policy_writes_nothing_to_stdout(capfd):
    source = PRINTING
    engine = prepared({"p.rego": source})
    capfd.readouterr()
    assert engine.evaluate(PACKAGE, {"amount": 5}).allow == [True]
    out, err = capfd.readouterr()
    assert out == ""
    assert err == ""  # gathered and discarded: not even native writes to fd 2


def test_print_lines_go_to_the_on_print_handler():
    source = PRINTING
    lines = []
    engine = prepared({"p.rego": source}, on_print=lines.append)
    engine.evaluate(PACKAGE, {"amount": 5})
    engine.evaluate(PACKAGE, {"amount": 7})
    assert lines == ["p.rego:9: amount is 5", "p.rego:9: amount is 7"]  # drained per call


def test_data_passed_to_prepare_is_visible_as_data_railguard_config():
    engine = prepared({"p.rego": WITH_CONFIG}, {"railguard": {"config": {"max": 10}}})
    assert engine.evaluate(PACKAGE, {"amount": 50}).deny == [[{"code": "big", "message": "over the configured max"}]]
    assert engine.evaluate(PACKAGE, {"amount": 5}).deny == [[]]
    assert engine.document("data.railguard.config.max", {}) == (True, 10)


def test_data_that_is_not_json_is_a_policy_error():
    with pytest.raises(PolicyError) as caught:
        prepared(data={"railguard": {"config": {"x": float("nan")}}})
    assert caught.value.code == "policy_data_invalid"


def test_with_input_and_with_data_test_rules_evaluate_true():
    sources = {"p.rego": SIMPLE, "lim.rego": WITH_CONFIG.replace("deny", "over"), "p_test.rego": TESTS}
    sources["p_test.rego"] = sources["p_test.rego"].replace("count(tool_call.deny) == 1", "count(tool_call.over) == 1")
    engine = prepared(sources, {"railguard": {"config": {"max": 1000}}}, with_tests=True)
    assert engine.document("data.railguard.tool_call_test.test_small_is_allowed", {}) == (True, True)
    assert engine.document("data.railguard.tool_call_test.test_limit_comes_from_data", {}) == (True, True)
    assert engine.document("data.railguard.tool_call_test.test_fails", {}) == (False, None)
    without = prepared(sources, {"railguard": {"config": {"max": 1000}}})
    assert without.document("data.railguard.tool_call_test.test_small_is_allowed", {}) == (False, None)


def test_the_bundled_policies_prepare_with_config_data():
    policies = PolicySet.load(POLICIES)
    engine = RegorusEngine()
    engine.prepare(policies, {"railguard": {"config": {}}})
    engine.prepare(policies, {"railguard": {"config": {}}}, with_tests=True)
    assert engine.revision == policies.revision


def test_unsafe_rule_is_an_error_verdict_on_regorus_even_without_opa(regorus_alone):
    # Without OPA's compiler at start-up, regorus finds the unsafe variable only when the
    # rule's body succeeds: an engine error (fail closed), never a deny that silently never fires.
    source = "package railguard.tool_call\nimport rego.v1\ndefault allow := true\ndeny contains x if { input.a }\n"
    e = RegorusEngine()
    e.prepare(PolicySet.from_sources({"p.rego": source}))
    with pytest.raises(EngineError, match="unsafe"):
        e.evaluate("railguard.tool_call", {"a": True})
