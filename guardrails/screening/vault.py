"""The PII vault: the real values behind redaction placeholders, encrypted, apart from the ledger.

A placeholder (``<EMAIL_ADDRESS_1>``) is reversible only here, and only through
``Guard.reveal(...)`` for a tool whose registry entry lists the entity type in
``receives_pii``: the agent and the logs never get the value. Values are sealed with
AES-256-GCM under a key from the deployment (``RAILGUARD_VAULT_KEY``, 32 bytes in base64); the
session, entity type and placeholder number are the authenticated data, so a sealed value moved
to another row does not open. Without a vault nothing is kept and placeholders are one-way.

The vault also keeps the numbering (by a keyed digest of the value), so a placeholder stays the
same for the whole session, across restarts and replicas sharing the file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
from pathlib import Path

from guardrails.errors import ConfigError

KEY_ENV = "RAILGUARD_VAULT_KEY"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pii_vault (
    session_id TEXT NOT NULL, entity TEXT NOT NULL, digest BLOB NOT NULL, number INTEGER NOT NULL,
    sealed BLOB NOT NULL, PRIMARY KEY (session_id, entity, digest));
CREATE UNIQUE INDEX IF NOT EXISTS pii_vault_by_number ON pii_vault (session_id, entity, number);
"""


def key_from_env() -> bytes:
    """The deployment's vault key from ``RAILGUARD_VAULT_KEY`` (base64 of 32 random bytes)."""
    raw = os.environ.get(KEY_ENV)
    if not raw:
        raise ConfigError(f"the PII vault needs a key: set {KEY_ENV} to base64 of 32 random bytes")
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{KEY_ENV} is not base64") from None
    if len(key) != 32:
        raise ConfigError(f"{KEY_ENV} must decode to 32 bytes, not {len(key)}")
    return key


class PiiVault:
    """``PiiVault("vault.db", key)``: sealed values by (session, entity, number)."""

    def __init__(self, path: str | Path, key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(key) != 32:
            raise ConfigError("the vault key must be 32 bytes")
        self._aead = AESGCM(key)
        # Values are numbered by a keyed digest derived from the vault key: stable across restarts.
        self._digest_key = hmac.new(key, b"railguard vault digest", hashlib.sha256).digest()
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)

    def number(self, session_id: str, entity: str, value: str) -> int:
        """The placeholder number of this value in this session, sealing the value on first sight."""
        digest = hmac.new(self._digest_key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute(
                    "SELECT number FROM pii_vault WHERE session_id = ? AND entity = ? AND digest = ?",
                    (session_id, entity, digest),
                ).fetchone()
                if row is not None:
                    self._conn.execute("COMMIT")
                    return int(row[0])
                top = self._conn.execute(
                    "SELECT COALESCE(MAX(number), 0) FROM pii_vault WHERE session_id = ? AND entity = ?",
                    (session_id, entity),
                ).fetchone()
                number = int(top[0]) + 1
                self._conn.execute(
                    "INSERT INTO pii_vault (session_id, entity, digest, number, sealed) VALUES (?, ?, ?, ?, ?)",
                    (session_id, entity, digest, number, self._seal(session_id, entity, number, value)),
                )
                self._conn.execute("COMMIT")
                return number
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def value(self, session_id: str, entity: str, number: int) -> str | None:
        """The real value behind ``<entity_number>`` in this session, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT sealed FROM pii_vault WHERE session_id = ? AND entity = ? AND number = ?",
                (session_id, entity, number),
            ).fetchone()
        if row is None:
            return None
        return self._open(session_id, entity, number, bytes(row[0]))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @staticmethod
    def _aad(session_id: str, entity: str, number: int) -> bytes:
        return f"{session_id}\0{entity}\0{number}".encode("utf-8", "surrogatepass")

    def _seal(self, session_id: str, entity: str, number: int, value: str) -> bytes:
        nonce = secrets.token_bytes(12)
        plain = value.encode("utf-8", "surrogatepass")
        return nonce + self._aead.encrypt(nonce, plain, self._aad(session_id, entity, number))

    def _open(self, session_id: str, entity: str, number: int, sealed: bytes) -> str:
        from cryptography.exceptions import InvalidTag

        try:
            plain = self._aead.decrypt(sealed[:12], sealed[12:], self._aad(session_id, entity, number))
        except InvalidTag:
            raise ConfigError("a vault entry does not open with this key (wrong key, or tampered)") from None
        return plain.decode("utf-8", "surrogatepass")
