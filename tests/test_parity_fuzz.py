"""Property-based parity: random, hostile variations of real calls decide the same on both engines.

The decision cases pin what each policy must decide; this looks for inputs nobody wrote down
(type confusion in any argument, numbers at the edges, unicode, missing facts), with real OPA
as the oracle. Deterministic (derandomised) so CI never flakes.
"""

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrails import PolicySet, create_engine
from guardrails.engines import opa
from guardrails.engines.base import config_data
from guardrails.pipeline import TOOL_CALL_PACKAGE
from guardrails.policytest import decide, load_cases, split_config
from guardrails.stages.policy import PolicyStage

from .conftest import POLICIES

pytestmark = pytest.mark.skipif(not opa.available(), reason="the OPA engine is part of the test install")

BUNDLED = PolicySet.load(POLICIES)
# One realistic base per policy file; every file's base carries the same fixture config.
BASES = {case.file: split_config(case.input)[0] for case in load_cases(POLICIES)}
CONFIG = split_config(load_cases(POLICIES)[0].input)[1]


def stage(name: str) -> PolicyStage:
    engine = create_engine(name)
    engine.prepare(BUNDLED, config_data(CONFIG))
    return PolicyStage(engine, TOOL_CALL_PACKAGE)


OPA, REGOPY, REGORUS = stage("opa"), stage("regopy"), stage("regorus")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=12),
    st.sampled_from(["t1", "5000", "ACME", "ann@example.com", "x@EXAMPLE.com", "m\u0430ke_payment", "", "@"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)

ARG_NAMES = ["transaction_id", "amount", "recipient", "currency", "to", "customer_id"]
FACT_PATHS = [("repeats",), ("calls", "total"), ("usage", "tokens"), ("usage", "cost"), ("pending", "make_payment")]


def mutate(document: dict, args: dict, facts: list, tool: str | None, roles: list | None) -> dict:
    doc = {**document, "call": {**document["call"], "args": {**document["call"]["args"], **args}}}
    if tool is not None:
        doc["call"]["tool"] = tool
    if roles is not None:
        doc["agent"] = {**doc["agent"], "roles": roles}
    session_facts = {k: (dict(v) if isinstance(v, dict) else v) for k, v in doc["session"]["facts"].items()}
    for path, value in facts:
        if len(path) == 1:
            session_facts[path[0]] = value
        else:
            session_facts[path[0]] = {**(session_facts.get(path[0]) or {}), path[1]: value}
    doc["session"] = {**doc["session"], "facts": session_facts}
    return doc


def summary(outcome):
    return outcome.verdict.value, sorted(r.code for r in outcome.reasons)


# CI runs 300 derandomised examples; a longer random run by hand: RAILGUARD_FUZZ_EXAMPLES=3000 pytest this file.
EXAMPLES = int(os.environ.get("RAILGUARD_FUZZ_EXAMPLES", "300"))


@settings(
    max_examples=EXAMPLES, derandomize=EXAMPLES == 300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    base=st.sampled_from(sorted(BASES)),
    args=st.dictionaries(st.sampled_from(ARG_NAMES), values, max_size=3),
    facts=st.lists(
        st.tuples(st.sampled_from(FACT_PATHS), st.one_of(st.integers(-5, 10**6), st.floats(0, 1e6), values)), max_size=2
    ),
    tool=st.one_of(st.none(), st.sampled_from(["make_payment", "send_email", "fraud_check", "lookup_customer", "rm"])),
    roles=st.one_of(st.none(), st.lists(st.sampled_from(["payments_agent", "support_agent", "root", ""]), max_size=2)),
)
def test_every_embedded_engine_decides_as_opa_on_random_inputs(base, args, facts, tool, roles):
    document = mutate(BASES[base], args, facts, tool, roles)
    expected = summary(decide(OPA, document))
    assert summary(decide(REGOPY, document)) == expected
    assert summary(decide(REGORUS, document)) == expected
