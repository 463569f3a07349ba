"""``railguard.toml``: one file that names the policies, tools, ledger and parameters.

Every key is checked at start-up (unknown keys are errors, not silently ignored)
and paths are resolved relative to the file, so a deployment is reproducible.

    [railguard]
    policies = "policies"          # directory of .rego files
    tools = "tools.json"           # tool registry: per tool, args/output JSON Schema
    ledger = "railguard.db"        # SQLite file, or "postgresql://user@host/db" for several replicas
    engine = "auto"                # auto | opa | regopy
    durability = "normal"          # normal (survives a crash) | full (survives power loss)

    [limits]
    max_bytes = 262144
    max_depth = 32

    [thresholds]
    result_confidence = 0.5

    [screening]                    # PII and prompt-injection screeners at every checkpoint
    pii = true
    injection = true
    pii_actions = { default = "redact", CREDIT_CARD = "block" }

    [escalation]                   # the human queue
    deadline_s = 3600              # unanswered tickets resolve to deny at their deadline
    approvers = { amount_needs_approval = 2 }   # two-person rule per reason code
    webhook = { url = "https://ops.example/hooks/railguard" }   # signed: RAILGUARD_WEBHOOK_SECRET

    [params]                       # becomes data.railguard.config for the policies
    roles = { payer = ["make_payment", "fraud_check"] }
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from guardrails.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RailguardSection(_Strict):
    policies: str = "policies"
    tools: str = "tools.json"
    ledger: str = "railguard.db"
    engine: str = "auto"
    durability: str = "normal"


class LimitsSection(_Strict):
    max_bytes: int = Field(default=256 * 1024, gt=0)
    max_depth: int = Field(default=32, gt=0, le=256)
    max_nodes: int = Field(default=5_000, gt=0)


class ThresholdsSection(_Strict):
    result_confidence: float | None = Field(default=None, ge=0, le=1)
    output_confidence: float | None = Field(default=None, ge=0, le=1)


class ScreeningSection(_Strict):
    """``[screening]``: which screeners run at every checkpoint, and what happens to each PII type.

    ``pii_actions`` maps an entity type (``EMAIL_ADDRESS``, ``CREDIT_CARD``, ``API_KEY``...) or
    ``default`` to ``allow | redact | mask | hash | block | escalate``. Needs the ``screening`` extra.
    """

    pii: bool = False
    injection: bool = False
    pii_actions: dict[str, str] = Field(default_factory=dict)
    vault: str | None = None  # SQLite file for the sealed values behind placeholders (key: RAILGUARD_VAULT_KEY)


class WebhookSection(_Strict):
    """``[escalation.webhook]``: POSTed when a ticket opens and resolves, signed with an HMAC of the body."""

    url: str = Field(pattern=r"^https?://")
    secret_env: str = "RAILGUARD_WEBHOOK_SECRET"  # noqa: S105 - the NAME of the variable holding the signing key
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    retries: int = Field(default=5, ge=0, le=20)


class EscalationSection(_Strict):
    """``[escalation]``: the human queue's terms. A policy's escalate entry may ask for stricter ones."""

    deadline_s: float = Field(default=3600.0, gt=0, le=30 * 86400)  # unanswered tickets resolve to deny then
    approval_ttl_s: float = Field(default=3600.0, gt=0, le=30 * 86400)  # how long an approval stays usable
    approvers: dict[str, int] = Field(default_factory=dict)  # distinct approvers per reason code (two-person rule)
    sweep_interval_s: float | None = Field(default=30.0, gt=0)  # the periodic deadline sweep; none: start-up only
    webhook: WebhookSection | None = None

    @field_validator("approvers")
    @classmethod
    def _approvers(cls, value: dict[str, int]) -> dict[str, int]:
        bad = {code: n for code, n in value.items() if isinstance(n, bool) or not 1 <= n <= 10}
        if bad:
            raise ValueError(f"approvers per reason code must be 1 to 10, got {bad}")
        return value


class OpaServerSection(_Strict):
    """``[opa_server]``, when ``engine = "opa-server"``: an OPA server over HTTP (docs/opa-server.md)."""

    url: str = Field(default="http://127.0.0.1:8181", pattern=r"^https?://")
    mode: str = Field(default="push", pattern="^(push|served)$")  # push: load policies/ at start; served: use its own
    bundle: str | None = None  # served mode: the bundle whose manifest revision stamps decisions
    timeout_s: float = Field(default=0.5, gt=0, le=60)
    setup_timeout_s: float = Field(default=10.0, gt=0, le=600)
    failure_threshold: int = Field(default=5, ge=1)
    cooldown_s: float = Field(default=10.0, ge=0)
    fail_open_tools: list[str] = Field(default_factory=list)  # outages allow these tools (recorded on the decision)
    token_env: str | None = None  # the NAME of the environment variable holding OPA's bearer token


class DecisionLogSection(_Strict):
    """``[observability.decision_log]``: one JSON line per decision in OPA's decision-log format."""

    path: str | None = None  # a rotated file
    max_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    backups: int = Field(default=5, ge=0)
    stdout: bool = False
    url: str | None = Field(default=None, pattern=r"^https?://")  # batched, gzipped POSTs, retried with backoff
    token_env: str | None = None  # the NAME of the environment variable holding the sink's bearer token
    pii_scan: bool = True  # scan every string for PII before it leaves (needs the screening extra)
    labels: dict[str, str] = Field(default_factory=dict)


class ObservabilitySection(_Strict):
    """``[observability]``: decision log, Prometheus metrics, OpenTelemetry spans (needs the extra)."""

    decision_log: DecisionLogSection | None = None
    metrics: bool = False
    tracing: bool = False
    tracing_capture_arguments: bool = False  # arguments as span attributes, PII-masked


class Settings(_Strict):
    railguard: RailguardSection = RailguardSection()
    observability: ObservabilitySection = ObservabilitySection()
    opa_server: OpaServerSection | None = None
    screening: ScreeningSection = ScreeningSection()
    escalation: EscalationSection = EscalationSection()
    limits: LimitsSection = LimitsSection()
    thresholds: ThresholdsSection = ThresholdsSection()
    params: dict[str, Any] = Field(default_factory=dict)
    base_dir: Path = Path(".")

    def path(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else self.base_dir / p


def read_document(path: Path, what: str, parse: Callable[[str], Any], syntax: str) -> Any:
    """Read and parse a deployment file; every failure is a :class:`ConfigError` naming the file."""
    try:
        return parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except (ValueError, UnicodeDecodeError) as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise ConfigError(f"{path}: not valid {syntax}: {exc}") from None


def load_settings(path: str | Path) -> Settings:
    path = Path(path)
    data = read_document(path, "config file", tomllib.loads, "TOML")
    try:
        return Settings.model_validate({**data, "base_dir": path.parent})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from None
