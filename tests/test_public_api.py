import guardrails


def test_public_api_is_pinned():
    assert sorted(guardrails.__all__) == sorted(
        [
            "Agent",
            "Checkpoint",
            "ConfigError",
            "Decision",
            "DeniedError",
            "EngineError",
            "EscalationPending",
            "Finding",
            "Guard",
            "InputError",
            "LedgerError",
            "LedgerStore",
            "Limits",
            "PolicyEngine",
            "PolicyError",
            "PolicySet",
            "RailguardError",
            "Reason",
            "SQLiteLedger",
            "ToolCall",
            "ToolRegistry",
            "ToolResult",
            "Verdict",
            "create_engine",
            "guard_from_config",
        ]
    )
    for name in guardrails.__all__:
        assert getattr(guardrails, name) is not None


def test_every_error_is_a_railguard_error():
    for name in (
        "ConfigError",
        "DeniedError",
        "EngineError",
        "EscalationPending",
        "InputError",
        "LedgerError",
        "PolicyError",
    ):
        assert issubclass(getattr(guardrails, name), guardrails.RailguardError)


def test_package_is_typed():
    from pathlib import Path

    assert (Path(guardrails.__file__).parent / "py.typed").exists()
