"""Each engine behind the one protocol; every regopy hazard of ENGINES.md neutralised."""

import subprocess
import sys
import threading

import pytest

from guardrails import PolicyError, PolicySet, create_engine
from guardrails.engines import opa
from guardrails.engines.regopy import RegopyEngine
from guardrails.errors import EngineError
from guardrails.stages.policy import interpret

from .conftest import ENGINES

SIMPLE = """package railguard.tool_call
import rego.v1
default allow := false
allow if input.amount > 1000
deny contains {"code": "big", "message": "m"} if input.amount > 5000
"""


def prepared(engine: str, source: str = SIMPLE, name: str = "p.rego"):
    e = create_engine(engine)
    e.prepare(PolicySet.from_sources({name: source}))
    return e


def test_auto_prefers_the_real_opa_engine_when_installed():
    assert create_engine("auto").name == ("opa" if opa.available() else "regopy")


def test_unknown_engine_is_refused():
    with pytest.raises(PolicyError) as caught:
        create_engine("wasm")
    assert caught.value.code == "engine_unknown"


def test_syntax_error_fails_at_start_up_with_file_and_line(engine):
    with pytest.raises(PolicyError) as caught:
        prepared(engine, "package railguard.tool_call\nimport rego.v1\n\nallow if {\n", name="broken.rego")
    assert caught.value.location is not None
    assert caught.value.location.startswith("broken.rego:")
    assert caught.value.location.split(":")[1].isdigit()


def test_false_and_undefined_are_told_apart(engine):
    e = prepared(engine)
    assert e.evaluate("railguard.tool_call", {"amount": 1}).allow == [False]
    assert e.evaluate("railguard.tool_call", {"amount": 2000}).allow == [True]
    undefined = prepared(engine, "package railguard.tool_call\nimport rego.v1\nallow if input.amount > 1\n")
    assert undefined.evaluate("railguard.tool_call", {"amount": 0}).allow == []


@pytest.mark.parametrize("amount", [2**53, 9007199254740993, 2**63, 2**64, 10**30])
def test_big_integers_are_compared_exactly_or_refused_before(engine, amount):
    # regopy's dict input wraps 2^63 to -2^63 (so `amount > 1000` is false). The Guard refuses
    # anything beyond 2^53 before any engine; the engine layer itself passes JSON text.
    e = prepared(engine)
    answer = e.evaluate("railguard.tool_call", {"amount": amount})
    assert answer.allow == [True]
    assert [d["code"] for d in answer.deny[0]] == ["big"]


def test_regopy_refuses_with_because_it_crashes_the_process():
    source = SIMPLE + '\nt if { allow with input as {"amount": 5} }\n'
    with pytest.raises(PolicyError) as caught:
        prepared("regopy", source)
    assert caught.value.code == "policy_construct_refused"
    assert caught.value.location == "p.rego:7"


def test_regopy_refuses_print_because_it_writes_to_stdout():
    with pytest.raises(PolicyError) as caught:
        prepared("regopy", SIMPLE + 'x if { print("hi"); true }\n')
    assert caught.value.code == "policy_construct_refused"


def test_the_word_with_inside_a_message_is_not_refused():
    prepared("regopy", SIMPLE + 'deny contains {"code": "c", "message": "pay with care"} if input.x\n')


def test_regopy_never_answers_from_stale_input_after_a_failed_set(monkeypatch):
    e = prepared("regopy")
    assert e.evaluate("railguard.tool_call", {"amount": 9000}).allow == [True]
    import guardrails.engines.regopy as module

    real_dumps = module.json.dumps
    monkeypatch.setattr(module.json, "dumps", lambda *a, **k: '{"amount": ')  # a set that fails
    with pytest.raises(EngineError):
        e.evaluate("railguard.tool_call", {"amount": 1})
    monkeypatch.setattr(module.json, "dumps", real_dumps)
    # The next, valid input is judged on its own: the old 9000 is gone.
    assert e.evaluate("railguard.tool_call", {"amount": 1}).allow == [False]


def test_engines_are_safe_across_threads(engine):
    # regopy crashes when one interpreter is shared by threads; OPA serves them from a pool.
    e = prepared(engine)
    errors: list[str] = []

    def worker(amount: int) -> None:
        for _ in range(50):
            got = e.evaluate("railguard.tool_call", {"amount": amount}).allow
            if got != [amount > 1000]:
                errors.append(f"{amount}: {got}")

    threads = [threading.Thread(target=worker, args=(a,)) for a in (1, 2000, 3, 4000, 5, 6000, 7, 8000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.parametrize("engine_name", ENGINES)
def test_engines_write_nothing_to_stdout_even_on_parse_errors(engine_name):
    # stdout is the MCP stdio transport: a byte there corrupts the protocol.
    script = f"""
from guardrails import PolicySet, create_engine, PolicyError
e = create_engine({engine_name!r})
try:
    e.prepare(PolicySet.from_sources({{"b.rego": "package x\\nallow if {{"}}))
except PolicyError:
    pass
e.prepare(PolicySet.from_sources({{"p.rego": {SIMPLE!r}}}))
e.evaluate("railguard.tool_call", {{"amount": 3}})
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b""


def test_evaluation_errors_are_engine_errors_not_answers(engine):
    e = prepared(
        engine,
        "package railguard.tool_call\nimport rego.v1\ndefault allow := false\n"
        "allow if { x := 1 / input.zero; x > 0 }\n",
    )
    try:
        answer = e.evaluate("railguard.tool_call", {"zero": 0})
    except EngineError:
        return
    # OPA (non-strict) treats 1/0 as undefined: the rule does not fire, default stays false.
    assert answer.allow == [False]


def test_conflicting_values_are_an_engine_error_never_an_allow(engine):
    e = prepared(engine, "package railguard.tool_call\nimport rego.v1\nallow := input.a\nallow := input.b\n")
    with pytest.raises(EngineError):
        answer = e.evaluate("railguard.tool_call", {"a": True, "b": False})
        if interpret(answer, "x").verdict.value != "allow":  # some engines report the conflict as undefined
            raise EngineError("no allow")


def test_regopy_class_refuses_nothing_valid():
    RegopyEngine().prepare(PolicySet.from_sources({"p.rego": SIMPLE}))


COMPUTED_MESSAGE = """package railguard.tool_call
import rego.v1
default allow := true
deny contains {"code": "shouted", "message": sprintf("%v is loud", [lower(input.word)]), "source": "p.rego"} if {
    upper(input.word) == input.word
}
"""


def test_regopy_unserialisable_messages_keep_the_decision_and_say_so():
    # regopy emits builtin-produced strings with unescaped quotes: its answer is not JSON.
    e = prepared("regopy", COMPUTED_MESSAGE)
    outcome = interpret(e.evaluate("railguard.tool_call", {"word": "HEY"}), "data.railguard.tool_call")
    assert outcome.verdict.value == "deny"
    assert [(r.code, r.source) for r in outcome.reasons] == [("shouted", "p.rego")]
    assert "message not available" in outcome.reasons[0].message
    assert e.evaluate("railguard.tool_call", {"word": "hey"}).deny == [[]]


def test_regopy_codes_only_answer_keeps_malformed_entries_malformed():
    source = COMPUTED_MESSAGE + 'deny contains "not an object" if input.word == "HEY"\n'
    e = prepared("regopy", source)
    outcome = interpret(e.evaluate("railguard.tool_call", {"word": "HEY"}), "data.railguard.tool_call")
    assert outcome.verdict.value == "deny" and [r.code for r in outcome.reasons] == ["policy_undefined"]


UNSAFE_DENY = "package railguard.tool_call\nimport rego.v1\ndefault allow := true\ndeny contains x if { input.a }\n"
UNKNOWN_FUNCTION = "package railguard.tool_call\nimport rego.v1\ndefault allow := false\nallow if nosuchfn(input.x)\n"


@pytest.mark.parametrize("source", [UNSAFE_DENY, UNKNOWN_FUNCTION], ids=["unsafe-var", "unknown-function"])
def test_policies_opa_refuses_are_refused_at_start_up_whichever_engine_evaluates(engine, source):
    # rego-cpp alone would accept the unsafe deny rule and never fire it: a silent allow.
    with pytest.raises(PolicyError) as caught:
        prepared(engine, source)
    assert caught.value.location == "p.rego:4"


def test_regopy_without_opa_refuses_what_fails_to_evaluate_and_never_allows_the_rest(monkeypatch):
    import guardrails.engines.regopy as module

    monkeypatch.setattr(module.opa, "available", lambda: False)
    with pytest.raises(PolicyError) as caught:
        prepared("regopy", UNKNOWN_FUNCTION.replace("nosuchfn(input.x)", "nosuchfn(1)"))
    assert caught.value.code == "policy_eval_error"
    # An error that depends on the input cannot be seen at start-up: it is an error verdict per call.
    e = prepared("regopy", UNKNOWN_FUNCTION)
    with pytest.raises(EngineError):
        e.evaluate("railguard.tool_call", {"x": 1})


def test_regopy_start_up_probe_does_not_refuse_policies_only_its_quoting_bug_breaks():
    source = COMPUTED_MESSAGE + 'greeting := sprintf("%v", [lower("HELLO")])\n'
    e = prepared("regopy", source)
    assert e.evaluate("railguard.tool_call", {"word": "hey"}).allow == [True]
