"""Policy engines behind one protocol; ``create_engine`` picks one by name."""

from __future__ import annotations

from typing import Any

from guardrails.engines import opa, regopy, regorus
from guardrails.engines.base import PolicyAnswer, PolicyEngine, PolicyModule, PolicySet
from guardrails.errors import PolicyError

ENGINES = ("auto", "opa", "regorus", "regopy")
SERVER_ENGINE = "opa-server"  # not in ENGINES: it needs a server's url, not just a name
_MODULES = {"opa": opa, "regorus": regorus, "regopy": regopy}


def installed() -> list[str]:
    """The engines this environment can run, best first (``auto`` takes the first)."""
    return [name for name, module in _MODULES.items() if module.available()]


def test_engine() -> str:
    """The engine that runs ``*_test.rego`` files: the first installed one that handles ``with``."""
    for name in installed():
        if name in ("opa", "regorus"):
            return name
    raise PolicyError(
        "*_test.rego files need an engine that runs `with` (opa or regorus): pip install gordon-to-regorus",
        code="engine_unavailable",
    )


def create_engine(name: str = "auto", *, pool_size: int | None = None, **server: Any) -> PolicyEngine:
    """``auto`` takes the real OPA engine when installed (exact OPA semantics), else regorus, else regopy.

    ``pool_size`` sizes the OPA engine's pool of native engines (default: one per core, at most 4).
    ``opa-server`` is an OPA server over HTTP (never chosen by ``auto``); ``server`` holds the
    options of :class:`~guardrails.engines.opa_server.OpaServerEngine`:
    ``create_engine("opa-server", url="http://127.0.0.1:8181", timeout_s=0.5)``.
    """
    if name == SERVER_ENGINE:
        from guardrails.engines.opa_server import OpaServerEngine  # imports requests and aiohttp

        return OpaServerEngine(**server)
    if server:
        raise PolicyError(
            f"{sorted(server)}: options of the {SERVER_ENGINE} engine only", code="engine_options_invalid"
        )
    if name == "auto":
        name = next(iter(installed()), "regopy")
    if name == "opa":
        return opa.OpaEmbeddedEngine(pool_size)
    if name == "regorus":
        return regorus.RegorusEngine()
    if name == "regopy":
        return regopy.RegopyEngine()
    raise PolicyError(
        f"unknown engine {name!r}; choose one of {', '.join((*ENGINES, SERVER_ENGINE))}", code="engine_unknown"
    )


__all__ = [
    "ENGINES",
    "PolicyAnswer",
    "PolicyEngine",
    "PolicyModule",
    "PolicySet",
    "SERVER_ENGINE",
    "create_engine",
    "installed",
    "test_engine",
]
