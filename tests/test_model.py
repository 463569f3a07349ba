import pydantic
import pytest

from guardrails import Checkpoint, Decision, Finding, Reason, ToolCall, Verdict
from guardrails.codes import DOCUMENTED


def test_decision_round_trips_through_json():
    decision = Decision(
        verdict=Verdict.DENY,
        checkpoint=Checkpoint.AUTHORIZE,
        stage="policy",
        reasons=(Reason(code="fraud_check_required", message="m", source="policies/fraud_check.rego"),),
        findings=(Finding(kind="schema", detail="d", path="$.amount"),),
        latency_ms={"policy": 0.1},
        policy_revision="abc",
        call_id="c1",
        session_id="s1",
    )
    again = Decision.model_validate_json(decision.model_dump_json())
    assert again == decision
    assert again.codes == ("fraud_check_required",)


def test_models_are_immutable():
    call = ToolCall(tool="t", session_id="s")
    with pytest.raises(pydantic.ValidationError):
        call.tool = "other"  # type: ignore[misc]


def test_unknown_fields_are_rejected():
    with pytest.raises(pydantic.ValidationError):
        ToolCall.model_validate({"tool": "t", "session_id": "s", "argz": {}})


def test_only_allow_lets_a_step_through():
    assert [v for v in Verdict if not v.blocks] == [Verdict.ALLOW]


def test_reason_codes_are_snake_case_and_documented():
    import re

    for code, text in DOCUMENTED.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code), code
        assert text.endswith(".")
