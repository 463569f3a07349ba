"""Railguard: guardrail and policy enforcement between an AI agent and its tools.

from guardrails import Guard, ToolCall
guard = Guard.from_config("railguard.toml")
decision = guard.authorize(ToolCall(tool="make_payment", args={...}, session_id="s1"))
"""

from guardrails.canonical import Limits
from guardrails.engines import PolicyEngine, PolicySet, create_engine
from guardrails.errors import (
    ConfigError,
    DeniedError,
    EngineError,
    EscalationPending,
    InputError,
    LedgerError,
    PolicyError,
    RailguardError,
)
from guardrails.factory import guard_from_config
from guardrails.ledger import LedgerStore, SQLiteLedger
from guardrails.model import Agent, Checkpoint, Decision, Finding, Reason, ToolCall, ToolResult, Verdict
from guardrails.pipeline import Guard
from guardrails.registry import ToolRegistry

__version__ = "0.1.0"

__all__ = [
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
