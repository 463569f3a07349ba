"""The proxy's configuration: which upstream MCP servers, which Railguard deployment, who the agent is.

TOML or JSON (by extension), checked at start-up; unknown keys are errors and relative paths
resolve against the file, as in ``railguard.toml``::

    railguard = "../payments/railguard.toml"   # policies, params, ledger, screening of the Guard
    ledger = "proxy.db"                        # optional: overrides the deployment's ledger
    pins = "mcp-proxy.pins.json"               # default: <this file's stem>.pins.json beside it
    naming = "auto"                            # auto: tool names as-is unless two servers share one
    call_timeout_s = 30
    escalation_wait_s = 0                      # > 0: hold an escalated call that long for a reviewer

    [agent]                                    # input.agent for every call through this proxy
    id = "payments-bot"
    roles = ["payments_agent"]

    [[servers]]
    name = "payments"
    command = "python"
    args = ["payments_server.py"]
    env = { PAYMENTS_MODE = "test" }

    [[servers]]
    name = "search"
    url = "http://127.0.0.1:8000/mcp"
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from guardrails.config import read_document
from guardrails.errors import ConfigError

#: ``<server>__<tool>`` must survive MCP's tool-name rules; a server name is kept simple.
_SERVER_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentSection(_Strict):
    id: str = Field(default="mcp-agent", min_length=1, max_length=256)
    roles: tuple[str, ...] = ()
    attributes: dict[str, Any] = Field(default_factory=dict)


class ServerSection(_Strict):
    """One upstream: a command launched over stdio, or a streamable-HTTP URL."""

    name: str = Field(pattern=_SERVER_NAME)
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = Field(default=None, pattern=r"^https?://")
    # Registry traits per tool (key, facts, once_per_key, outbound, untrusted_source, receives_pii),
    # by upstream tool name: what the deployment's tools.json does not already say.
    tools: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Tools whose description is trusted without the injection screener (documented exceptions).
    trust_descriptions: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_transport(self) -> ServerSection:
        if (self.command is None) == (self.url is None):
            raise ValueError(f"server {self.name!r} needs exactly one of 'command' or 'url'")
        return self


class ProxyConfig(_Strict):
    railguard: str
    ledger: str | None = None
    pins: str | None = None
    naming: Literal["auto", "prefixed"] = "auto"
    session: str | None = Field(default=None, min_length=1, max_length=128)
    call_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    connect_timeout_s: float = Field(default=20.0, gt=0, le=600)
    escalation_wait_s: float = Field(default=0.0, ge=0, le=3600)
    screen_descriptions: bool = True
    screen_results: bool = True  # add the injection screener to the Guard when the deployment has none
    agent: AgentSection = AgentSection()
    servers: list[ServerSection] = Field(min_length=1)
    base_dir: Path = Path(".")
    source: Path = Path("mcp-proxy.toml")

    @model_validator(mode="after")
    def _unique_names(self) -> ProxyConfig:
        names = [s.name for s in self.servers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"server names must be unique; repeated: {duplicates}")
        return self

    def path(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else self.base_dir / p

    @property
    def railguard_path(self) -> Path:
        return self.path(self.railguard)

    @property
    def pins_path(self) -> Path:
        return self.path(self.pins) if self.pins else self.source.with_name(self.source.stem + ".pins.json")


def load_proxy_config(path: str | Path) -> ProxyConfig:
    """Read and check the proxy's configuration; every problem is a :class:`ConfigError` naming the file."""
    path = Path(path)
    if path.suffix == ".json":
        data = read_document(path, "MCP proxy config", json.loads, "JSON")
    else:
        data = read_document(path, "MCP proxy config", tomllib.loads, "TOML")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be an object / table")
    try:
        return ProxyConfig.model_validate({**data, "base_dir": path.parent, "source": path})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from None


def exposed_name(server: str, tool: str, prefixed: bool) -> str:
    """The name the agent sees (and policies are written against)."""
    return f"{server}__{tool}" if prefixed else tool


def valid_tool_name(name: str) -> bool:
    # MCP tool names: 1-128 of [A-Za-z0-9_.-]; anything else is refused rather than escaped.
    return re.fullmatch(r"[A-Za-z0-9_.\-]{1,128}", name) is not None
