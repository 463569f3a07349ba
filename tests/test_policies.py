"""The bundled policies: their OPA-style tests, their decision cases on every engine, and parity.

The parity suite runs every decision case (adversarial ones included) through the
embedded engines and requires identical verdicts and reason codes, with the real
OPA engine as the oracle.
"""

import pytest

from guardrails import PolicySet
from guardrails.engines import opa
from guardrails.policytest import case_outcome, load_cases, rego_tests, run_cases, run_rego_tests

from .conftest import ENGINES, POLICIES

BUNDLED = PolicySet.load(POLICIES)
CASES = load_cases(POLICIES)
needs_opa = pytest.mark.skipif(not opa.available(), reason="the OPA engine is part of the test install")


def test_every_policy_has_tests_and_cases():
    policies = {m.name.removesuffix(".rego") for m in BUNDLED.modules}
    tested = {t.name.removesuffix("_test.rego") for t in BUNDLED.tests}
    with_cases = {c.file.removesuffix(".json") for c in CASES}
    assert policies <= tested, policies - tested
    assert policies <= with_cases, policies - with_cases
    assert len(CASES) >= 60


@pytest.mark.parametrize("engine", [e for e in ENGINES if e in ("opa", "regorus")])
def test_rego_tests_all_pass(engine):
    outcomes = run_rego_tests(BUNDLED, engine)
    assert len(outcomes) == len(list(rego_tests(BUNDLED))) >= 40
    failed = [f"{o.name}: {o.detail}" for o in outcomes if not o.passed]
    assert failed == []


@pytest.fixture(scope="module")
def decided() -> dict[str, list]:
    return {engine: run_cases(BUNDLED, engine, CASES) for engine in ENGINES}


@pytest.mark.parametrize("engine", ENGINES)
def test_decision_cases_pass(decided, engine):
    failed = [f"{o.name}: {o.detail}" for o in (case_outcome(c, r) for c, r in decided[engine]) if not o.passed]
    assert failed == []


@needs_opa
def test_parity_embedded_engines_decide_identically(decided):
    def summary(outcome):
        return outcome.verdict, sorted(r.code for r in outcome.reasons), sorted(r.source for r in outcome.reasons)

    diffs = [
        (other, case.name, summary(a), summary(b))
        for other in ENGINES
        if other != "opa"
        for (case, a), (_, b) in zip(decided["opa"], decided[other], strict=True)
        if summary(a) != summary(b)
    ]
    assert diffs == []


def test_cases_cover_adversarial_inputs():
    names = " ".join(c.name.lower() for c in CASES)
    for topic in ("string", "null", "2^53", "missing", "unicode"):
        assert topic in names, topic
