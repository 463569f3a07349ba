"""Start-up refuses bad deployments with a clear message; nothing half-starts."""

import json
from pathlib import Path

import pytest

from guardrails import ConfigError, PolicyError, PolicySet, ToolRegistry, guard_from_config

from .conftest import PAYMENTS, POLICIES


def deployment(tmp_path: Path, *, policies: Path = POLICIES, extra: str = "", tools: Path | None = None) -> Path:
    text = (
        f'[railguard]\npolicies = "{policies}"\ntools = "{tools or PAYMENTS / "tools.json"}"\n'
        f'ledger = "{tmp_path / "l.db"}"\n{extra}'
    )
    path = tmp_path / "railguard.toml"
    path.write_text(text)
    return path


def test_the_example_deployment_starts(tmp_path):
    guard = guard_from_config(deployment(tmp_path))
    assert guard.revision == PolicySet.load(POLICIES).revision
    guard.ledger.close()


def test_a_syntax_error_stops_start_up_with_file_and_line(tmp_path):
    bad = tmp_path / "p"
    bad.mkdir()
    (bad / "ok.rego").write_text("package railguard.tool_call\nimport rego.v1\ndefault allow := false\n")
    (bad / "oops.rego").write_text("package railguard.tool_call\nimport rego.v1\n\nallow if {\n  input.x ==\n")
    with pytest.raises(PolicyError) as caught:
        guard_from_config(deployment(tmp_path, policies=bad))
    assert caught.value.location and caught.value.location.startswith("oops.rego:")


def test_a_missing_policy_directory_stops_start_up(tmp_path):
    with pytest.raises(PolicyError) as caught:
        guard_from_config(deployment(tmp_path, policies=tmp_path / "missing"))
    assert caught.value.code == "policy_dir_missing"


def test_an_empty_policy_directory_stops_start_up(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(PolicyError) as caught:
        PolicySet.load(tmp_path / "empty")
    assert caught.value.code == "policy_dir_empty"


def test_a_policy_file_that_is_not_utf8_stops_start_up(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "latin1.rego").write_bytes(b"package railguard.tool_call\n# caf\xe9\n")
    with pytest.raises(PolicyError) as caught:
        PolicySet.load(tmp_path / "p")
    assert caught.value.code == "policy_encoding" and caught.value.location == "latin1.rego"


@pytest.mark.parametrize(
    "extra",
    [
        "[railguard.typo]\nx = 1\n",
        "[limits]\nmax_depth = 0\n",
        "[thresholds]\nresult_confidence = 2\n",
        '[mystery]\nkey = "value"\n',
        "not toml at all [",
    ],
    ids=["unknown-nested", "depth-zero", "confidence-over-1", "unknown-section", "not-toml"],
)
def test_bad_settings_are_refused(tmp_path, extra):
    with pytest.raises(ConfigError):
        guard_from_config(deployment(tmp_path, extra=extra))


def test_a_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        guard_from_config(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    "tools",
    [
        {"t": {"args": {"type": "objekt"}}},
        {"t": {"output": {}}},
        {"t": {"args": {}, "surprise": 1}},
        {"t": {"args": {}, "key": 5}},
        {"t": {"args": []}},
    ],
    ids=["invalid-schema", "no-args-schema", "unknown-setting", "key-not-a-name", "schema-not-object"],
)
def test_bad_tool_registries_are_refused(tmp_path, tools):
    path = tmp_path / "tools.json"
    path.write_text(json.dumps(tools))
    with pytest.raises(ConfigError):
        ToolRegistry.from_file(path)


def test_a_tool_registry_that_is_not_json_is_refused(tmp_path):
    path = tmp_path / "tools.json"
    path.write_text("{ nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        ToolRegistry.from_file(path)


def test_a_mistyped_limit_refuses_to_start_instead_of_disabling_the_rule(tmp_path):
    # max_amount = "10000": OPA orders every string above every number, no amount would ever be over it.
    from guardrails import Guard, PolicySet, SQLiteLedger, ToolRegistry
    from guardrails.errors import ConfigError

    from .conftest import PAYMENTS, POLICIES

    with pytest.raises(ConfigError) as caught:
        Guard(
            policies=PolicySet.load(POLICIES),
            tools=ToolRegistry.from_file(PAYMENTS / "tools.json"),
            ledger=SQLiteLedger(tmp_path / "l.db"),
            config={"payments": {"max_amount": "10000"}, "loop": {"max_repeats": None}},
        )
    assert caught.value.code == "config_invalid"
    assert "payments.max_amount" in caught.value.message and "loop.max_repeats" in caught.value.message
