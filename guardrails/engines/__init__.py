"""Policy engines behind one protocol; ``create_engine`` picks one by name."""

from __future__ import annotations

from guardrails.engines import opa, regopy
from guardrails.engines.base import PolicyAnswer, PolicyEngine, PolicyModule, PolicySet
from guardrails.errors import PolicyError

ENGINES = ("auto", "opa", "regopy")


def create_engine(name: str = "auto", *, pool_size: int | None = None) -> PolicyEngine:
    """``auto`` takes the real OPA engine when installed (faster, exact OPA semantics), else regopy.

    ``pool_size`` sizes the OPA engine's pool of native engines (default: one per core, at most 4).
    """
    if name == "auto":
        name = "opa" if opa.available() else "regopy"
    if name == "opa":
        return opa.OpaEmbeddedEngine(pool_size)
    if name == "regopy":
        return regopy.RegopyEngine()
    raise PolicyError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}", code="engine_unknown")


__all__ = ["ENGINES", "PolicyAnswer", "PolicyEngine", "PolicyModule", "PolicySet", "create_engine"]
