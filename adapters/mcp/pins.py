"""Tool pinning: a server's tool definitions as first seen, so a later change (a rug pull) is caught.

A definition is the tool's name, title, description, input schema and output schema; its pin
is a SHA-256 over their canonical JSON. The pin file is a small JSON document beside the proxy
config, written atomically. Trust on first use is per *server*: the first time a server is
seen, all its tools are pinned; afterwards a changed tool is ``tool_definition_changed`` and a
new one ``tool_not_pinned`` until an operator approves (``railguard mcp-proxy approve-pins``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from guardrails.errors import ConfigError

_VERSION = 1


class PinStatus(StrEnum):
    PINNED = "pinned"  # the definition matches its pin
    CHANGED = "changed"  # the server is pinned and this tool's definition differs
    UNPINNED = "unpinned"  # the server is pinned and this tool is new


def definition_hash(definition: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` over what the model reads and what Railguard checks of one tool."""
    subject = {
        key: definition.get(key)
        for key in ("name", "title", "description", "inputSchema", "outputSchema")
        if definition.get(key) is not None
    }
    text = json.dumps(subject, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PinReview:
    """What approving a server's current listing would change."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]


class PinStore:
    """The pin file: ``{"version": 1, "servers": {name: {"tools": {tool: {"hash", "pinned_at"}}}}}``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._servers: dict[str, dict[str, Any]] = {}
        self._mtime: float | None = None
        self.reload()

    def reload(self) -> None:
        """Read the file again when it changed on disk (an operator approved pins meanwhile)."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self._servers, self._mtime = {}, None
            return
        if mtime == self._mtime:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            # A pin file that cannot be read must not turn into "nothing pinned yet" (= trust all).
            raise ConfigError(f"{self.path}: pin file unreadable: {exc}") from None
        if not isinstance(data, dict) or data.get("version") != _VERSION or not isinstance(data.get("servers"), dict):
            raise ConfigError(f"{self.path}: not a version {_VERSION} pin file")
        self._servers, self._mtime = data["servers"], mtime

    def knows(self, server: str) -> bool:
        return server in self._servers

    def status(self, server: str, tool: str, digest: str) -> PinStatus:
        pinned = self._servers.get(server, {}).get("tools", {}).get(tool)
        if pinned is None:
            return PinStatus.UNPINNED
        return PinStatus.PINNED if pinned.get("hash") == digest else PinStatus.CHANGED

    def review(self, server: str, digests: Mapping[str, str]) -> PinReview:
        pinned = self._servers.get(server, {}).get("tools", {})
        return PinReview(
            added=tuple(sorted(set(digests) - set(pinned))),
            changed=tuple(sorted(t for t in digests if t in pinned and pinned[t].get("hash") != digests[t])),
            removed=tuple(sorted(set(pinned) - set(digests))),
        )

    def pin(self, server: str, digests: Mapping[str, str]) -> None:
        """Pin exactly ``digests`` for ``server`` (its whole current listing) and write the file."""
        now = time.time()
        previous = self._servers.get(server, {}).get("tools", {})
        tools = {
            name: previous[name] if previous.get(name, {}).get("hash") == digest else {"hash": digest, "pinned_at": now}
            for name, digest in sorted(digests.items())
        }
        self._servers = {**self._servers, server: {"tools": tools}}
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": _VERSION, "servers": self._servers}, indent=2, sort_keys=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._mtime = self.path.stat().st_mtime_ns
