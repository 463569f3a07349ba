"""API keys: who is calling the sidecar. Stored hashed, mapped to an identity and its roles.

A key reads ``rg_<key id>_<secret>``. The key id is public (it names the row, like a user name);
the secret is 32 random bytes shown once, at creation. At rest only ``SHA-256(secret)`` is kept.

Why SHA-256 and not scrypt/argon2: those slow hashes protect *low-entropy* passwords from
offline guessing. A 256-bit random secret cannot be guessed whatever the hash, and a slow hash
would cost every request tens of milliseconds of CPU (and hand an attacker a cheap way to burn
it). The row is found by its public key id and the digests are compared with
``hmac.compare_digest``, so the time a check takes says nothing about the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from guardrails.errors import ConfigError
from guardrails.escalation import Identity
from guardrails.model import Agent

#: ``reviewer``, or ``agent:<role>`` where the role is one of ``[params.roles]``.
_ROLE = re.compile(r"^(reviewer|agent:[A-Za-z0-9_.-]{1,64})$")
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,128}$")
_KEY = re.compile(r"^rg_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_sha256 BLOB NOT NULL,
    roles TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_live_name ON api_keys(name) WHERE revoked_at IS NULL;
CREATE TABLE IF NOT EXISTS service_secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
"""


@dataclass(frozen=True)
class KeyInfo:
    """A key as ``keys list`` shows it: never its secret."""

    key_id: str
    name: str
    roles: tuple[str, ...]
    created_at: float
    revoked_at: float | None


@dataclass(frozen=True)
class Caller:
    """The identity behind a verified key."""

    key_id: str
    identity: Identity

    @property
    def agent(self) -> Agent:
        """The Rego ``input.agent``: the identity's id and its ``agent:<role>`` roles, unprefixed."""
        roles = tuple(r.removeprefix("agent:") for r in self.identity.roles if r.startswith("agent:"))
        return Agent(id=self.identity.id, roles=roles)


def check_roles(roles: tuple[str, ...]) -> tuple[str, ...]:
    """Refuse unknown role shapes, no role at all, and an identity that is both agent and reviewer."""
    if not roles:
        raise ConfigError("a key needs at least one role: reviewer or agent:<role>", code="invalid_role")
    for role in roles:
        if not _ROLE.match(role):
            raise ConfigError(f"role {role!r} is neither 'reviewer' nor 'agent:<role>'", code="invalid_role")
    if "reviewer" in roles and any(r.startswith("agent:") for r in roles):
        # Separation of duties: an agent never reviews, so a mixed key would be a reviewer in name only.
        raise ConfigError("a key is either a reviewer or an agent, not both", code="invalid_role")
    return tuple(sorted(set(roles)))


class KeyStore:
    """API keys in a SQLite file of their own (beside the ledger by default).

    >>> store = KeyStore("railguard-keys.db")  # doctest: +SKIP
    >>> secret = store.create("alice", ["reviewer"])  # doctest: +SKIP
    >>> store.verify(secret).identity.roles  # doctest: +SKIP
    ('reviewer',)
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the key store {self.path}: {exc}", code="keystore_unavailable") from exc

    def create(self, name: str, roles: list[str] | tuple[str, ...]) -> str:
        """A new key for identity ``name``; returns the key, which is never shown again."""
        if not _NAME.match(name):
            raise ConfigError(f"identity name {name!r}: 1-128 of A-Z a-z 0-9 _ . @ -", code="invalid_name")
        clean = check_roles(tuple(roles))
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT INTO api_keys (key_id, name, secret_sha256, roles, created_at) VALUES (?, ?, ?, ?, ?)",
                    (key_id, name, _digest(secret), orjson.dumps(clean).decode(), time.time()),
                )
            except sqlite3.IntegrityError:
                raise ConfigError(f"{name!r} already has a live key; revoke it first", code="key_exists") from None
        return f"rg_{key_id}_{secret}"

    def list(self) -> list[KeyInfo]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT key_id, name, roles, created_at, revoked_at FROM api_keys ORDER BY name, created_at"
            ).fetchall()
        return [KeyInfo(k, n, tuple(orjson.loads(r)), c, v) for k, n, r, c, v in rows]

    def revoke(self, name: str) -> bool:
        """Revoke ``name``'s live key; False when it has none."""
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (time.time(), name)
            )
        return cursor.rowcount > 0

    def verify(self, key: str) -> Caller | None:
        """The caller a presented key belongs to; ``None`` when malformed, unknown or revoked."""
        found = _KEY.match(key)
        if found is None:
            return None
        key_id, secret = found.groups()
        row = self._row(key_id)
        # Compared even when the row is missing, so that a hit and a miss take the same time.
        stored = row[1] if row is not None else b"\0" * 32
        if not hmac.compare_digest(stored, _digest(secret)) or row is None:
            return None
        return Caller(key_id, Identity(id=row[0], roles=tuple(orjson.loads(row[2]))))

    def live(self, key_id: str) -> Caller | None:
        """The caller of a key id still live (a console session re-checks its key on every request)."""
        row = self._row(key_id)
        if row is None:
            return None
        return Caller(key_id, Identity(id=row[0], roles=tuple(orjson.loads(row[2]))))

    def _row(self, key_id: str) -> tuple[str, bytes, str] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT name, secret_sha256, roles FROM api_keys WHERE key_id = ? AND revoked_at IS NULL", (key_id,)
            ).fetchone()
        return None if row is None else (row[0], bytes(row[1]), row[2])

    def secret(self, name: str) -> bytes:
        """A random server secret, made once and shared by every worker on this store (cookie signing)."""
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO service_secrets (name, value) VALUES (?, ?)", (name, secrets.token_bytes(32))
            )
            row = self._conn.execute("SELECT value FROM service_secrets WHERE name = ?", (name,)).fetchone()
        return bytes(row[0])

    def reachable(self) -> bool:
        try:
            with self._lock:
                self._conn.execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()
