"""One exception tree, rooted at :class:`RailguardError`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guardrails.model import Decision


class RailguardError(Exception):
    """Base of every error Railguard raises. ``code`` is a stable snake_case string."""

    code: str = "railguard_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigError(RailguardError):
    """A configuration file, tool registry or setting is invalid. Raised at start-up."""

    code = "config_error"


class PolicyError(RailguardError):
    """A policy could not be loaded or compiled. ``location`` is ``file:line`` when known."""

    code = "policy_error"

    def __init__(self, message: str, *, location: str | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.location = location

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class EngineError(RailguardError):
    """The policy engine failed while evaluating. Always turned into an ``error`` verdict."""

    code = "engine_error"


class InputError(RailguardError):
    """A payload was rejected by canonicalisation (size, depth, numbers, unicode, types)."""

    code = "input_invalid"

    def __init__(self, message: str, *, code: str, path: str = "") -> None:
        super().__init__(message, code=code)
        self.path = path


class LedgerError(RailguardError):
    """The session ledger could not be read or written."""

    code = "ledger_error"


class EscalationError(RailguardError):
    """A ticket action was refused (unknown ticket, already resolved, not a reviewer...)."""

    code = "escalation_error"


class DeniedError(RailguardError):
    """Raised by adapters when a checkpoint denies; carries the Decision."""

    code = "denied"

    def __init__(self, decision: Decision) -> None:
        codes = ", ".join(r.code for r in decision.reasons) or decision.verdict
        super().__init__(f"{decision.checkpoint} denied: {codes}")
        self.decision = decision


class EscalationPending(RailguardError):
    """Raised by adapters when a person must decide; carries the Decision and its ticket."""

    code = "escalation_pending"

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"{decision.checkpoint} escalated: ticket {decision.ticket}")
        self.decision = decision
