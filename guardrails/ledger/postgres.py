"""PostgreSQL ledger: the store for several sidecar replicas sharing one database.

``PostgresLedger("postgresql://railguard@db/railguard")`` has the tables, facts and answers
of the SQLite ledger (``guardrails/ledger/sqlite.py``); a test suite runs on both.

How replicas stay correct:

- A session's write transaction first takes a transaction-scoped advisory lock on the
  session, so two replicas deciding for one session run one after the other: a budget is
  never overspent, a ticket resolves exactly once. The transaction is READ COMMITTED on
  purpose: every statement after the lock sees what the previous holder committed (a
  REPEATABLE READ snapshot would date from before the wait).
- ``read()`` is a REPEATABLE READ, READ ONLY snapshot: consistent, never waits, never writes.
- An event is acknowledged once COMMIT returned. ``synchronous_commit=off`` would break
  that promise, so a connection that has it is switched back on.
- Payloads are TEXT holding orjson's output, not JSONB: JSONB refuses ``\\u0000``, reorders
  keys and re-prints numbers, and a stored payload must read back exactly as written.
- PostgreSQL text cannot hold a NUL character: a session id, tool or key value with one is
  refused with ``LedgerError`` (the decision fails closed), where SQLite would store it.
- The hash chain (guardrails/ledger/chain.py) binds an event's seq, so the seq is drawn
  (``nextval``) before the INSERT. A write transaction holds ROW EXCLUSIVE on ``events`` from
  its start, and ``anchor()`` takes SHARE ROW EXCLUSIVE: an anchor waits for every transaction
  that may hold a drawn seq, so no event below its ``last_seq`` can commit after it.

The SQL mirrors sqlite.py statement for statement (the SQLite hot path keeps its literal
SQL); the row shapes both return live in ``guardrails/ledger/rows.py``. Needs the
``postgres`` extra: ``psycopg[binary]`` and ``psycopg-pool``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import orjson

from guardrails.errors import LedgerError
from guardrails.ledger.base import (
    APPROVAL_USED,
    CALL_REQUESTED,
    DECISION,
    ESCALATION_OPENED,
    ESCALATION_RESOLVED,
    EVENT_TYPES,
    LABELS_ADDED,
    RESULT_RECORDED,
    TICKET_APPROVED,
    TICKET_CLAIMED,
    TICKET_EVENTS,
    USAGE_REPORTED,
    CallRecord,
    Event,
    FactsQuery,
)
from guardrails.ledger.chain import GENESIS, Anchor, StoredEvent, event_hash, heads_text, next_fold, parse_heads
from guardrails.ledger.rows import (
    FACT_TABLES,
    OUTCOMES,
    TICKET_COLUMNS,
    agent_of,
    history_view,
    payload_text,
    ticket_dict,
    trail_entry,
    utc_day,
)

try:
    import psycopg
    from psycopg import pq
    from psycopg_pool import ConnectionPool
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("PostgresLedger needs the postgres extra: pip install 'railguard[postgres]'") from exc

_Connection = psycopg.Connection[tuple[Any, ...]]

# Every failure a database call can raise: the driver's, and a string Postgres cannot take
# (a lone surrogate fails to encode before it reaches the server).
_DB_ERRORS = (psycopg.Error, UnicodeError)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq BIGSERIAL PRIMARY KEY,
    session_id TEXT NOT NULL, type TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, call_id TEXT, payload TEXT NOT NULL,
    prev_hash TEXT, hash TEXT);
ALTER TABLE events ADD COLUMN IF NOT EXISTS prev_hash TEXT;
ALTER TABLE events ADD COLUMN IF NOT EXISTS hash TEXT;
CREATE INDEX IF NOT EXISTS events_by_session ON events (session_id, seq);
CREATE TABLE IF NOT EXISTS anchors (
    number BIGINT PRIMARY KEY, at DOUBLE PRECISION NOT NULL, last_seq BIGINT NOT NULL, events BIGINT NOT NULL,
    heads TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS calls (
    session_id TEXT NOT NULL, call_id TEXT NOT NULL, tool TEXT NOT NULL, args_hash TEXT NOT NULL,
    key_value TEXT, verdict TEXT NOT NULL DEFAULT '', decision_seq BIGINT,
    has_result BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (session_id, call_id));
ALTER TABLE calls ADD COLUMN IF NOT EXISTS agent_id TEXT;
CREATE TABLE IF NOT EXISTS call_counts (
    session_id TEXT NOT NULL, tool TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (session_id, tool));
CREATE TABLE IF NOT EXISTS repeats (
    session_id TEXT NOT NULL, args_hash TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (session_id, args_hash));
CREATE TABLE IF NOT EXISTS pending (
    session_id TEXT NOT NULL, tool TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (session_id, tool));
CREATE TABLE IF NOT EXISTS results (
    session_id TEXT NOT NULL, tool TEXT NOT NULL, key_value TEXT NOT NULL, fact TEXT NOT NULL,
    PRIMARY KEY (session_id, key_value, tool));
CREATE TABLE IF NOT EXISTS failures (
    session_id TEXT NOT NULL, tool TEXT NOT NULL, consecutive BIGINT NOT NULL, last_failure_at DOUBLE PRECISION,
    PRIMARY KEY (session_id, tool));
CREATE TABLE IF NOT EXISTS usage (
    session_id TEXT PRIMARY KEY, tokens BIGINT NOT NULL, cost DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS labels (
    session_id TEXT NOT NULL, label TEXT NOT NULL, PRIMARY KEY (session_id, label));
CREATE TABLE IF NOT EXISTS by_key (
    session_id TEXT NOT NULL, key_value TEXT NOT NULL, tool TEXT NOT NULL,
    pending BIGINT NOT NULL DEFAULT 0, succeeded BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0, unknown BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (session_id, key_value, tool));
CREATE TABLE IF NOT EXISTS configs (revision TEXT PRIMARY KEY, config TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agent_usage (
    agent_id TEXT NOT NULL, day TEXT NOT NULL, tokens BIGINT NOT NULL, cost DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (agent_id, day));
CREATE TABLE IF NOT EXISTS tickets (
    ticket TEXT PRIMARY KEY, session_id TEXT NOT NULL, call_id TEXT, checkpoint TEXT NOT NULL,
    tool TEXT, binding TEXT NOT NULL, agent_id TEXT NOT NULL, codes TEXT NOT NULL, state TEXT NOT NULL,
    opened_at DOUBLE PRECISION NOT NULL, deadline DOUBLE PRECISION NOT NULL, approvers_needed BIGINT NOT NULL,
    default_outcome TEXT NOT NULL, approvals TEXT NOT NULL DEFAULT '[]', claimed_by TEXT,
    resolved_at DOUBLE PRECISION, resolved_by TEXT NOT NULL DEFAULT '[]', note TEXT,
    approval_expires DOUBLE PRECISION, used_by TEXT, opened_seq BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS tickets_by_binding ON tickets (session_id, binding, agent_id);
CREATE INDEX IF NOT EXISTS tickets_by_state ON tickets (state, opened_at);
"""

# Two replicas starting at once would race on CREATE TABLE IF NOT EXISTS (it is not atomic
# in PostgreSQL); the schema is created under this advisory lock.
_SCHEMA_LOCK = 0x5241494C4755  # "RAILGU"
_BEGIN_WRITE = "BEGIN ISOLATION LEVEL READ COMMITTED"
_BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
_TICKET_TYPES = sorted(TICKET_EVENTS)
_HOLD_SEQS = "LOCK TABLE events IN ROW EXCLUSIVE MODE"  # see the module docstring: anchors wait for it
_STORED = "SELECT seq, session_id, type, at, call_id, payload, prev_hash, hash FROM events"
_ANCHORS = "SELECT number, at, last_seq, events, heads, prev_hash, hash FROM anchors"
# The session's last hash and the seq its next event gets, in one round trip.
_CHAIN_HEAD = (
    "SELECT nextval('events_seq_seq'), (SELECT hash FROM events WHERE session_id = %s ORDER BY seq DESC LIMIT 1)"
)


def session_lock_key(session_id: str) -> int:
    """The advisory-lock key of a session: 64 bits of BLAKE2b (fewer collisions than
    ``hashtext``'s 32; a collision only makes two sessions wait for each other)."""
    digest = hashlib.blake2b(session_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresLedger:
    """``PostgresLedger("postgresql://user@host/db", pool_size=8)``: the ledger of several replicas.

    ``pool_size`` connections at most (one per concurrent decision); ``lock_timeout_s`` bounds
    the wait for a session another replica is deciding (then ``LedgerError``: fail closed);
    ``acquire_timeout_s`` the wait for a free pooled connection.

    >>> ledger = PostgresLedger("postgresql://railguard@127.0.0.1/railguard")  # doctest: +SKIP
    >>> guard = Guard(policies=..., tools=..., ledger=ledger)  # doctest: +SKIP
    """

    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = 8,
        connect_timeout_s: float = 10.0,
        acquire_timeout_s: float = 10.0,
        lock_timeout_s: float = 10.0,
    ) -> None:
        if pool_size < 1:
            raise LedgerError(f"pool_size must be at least 1, not {pool_size}")
        self._lock_timeout_ms = max(1, int(lock_timeout_s * 1000))
        self._acquire_timeout_s = acquire_timeout_s
        try:
            # One direct connection first: a refused connection or bad credentials fail here,
            # at once and with the server's message, not as a pool timeout.
            with psycopg.connect(dsn, autocommit=True, connect_timeout=max(1, int(connect_timeout_s))) as conn:
                conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({_SCHEMA_LOCK}); {_SCHEMA} COMMIT")
        except _DB_ERRORS as exc:
            raise LedgerError(f"cannot open ledger: {exc}") from exc
        self._pool: ConnectionPool[_Connection] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(connect_timeout_s))},
            configure=self._configure,
            open=False,
            timeout=acquire_timeout_s,
            name="railguard-ledger",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s)
        except _DB_ERRORS as exc:
            self._pool.close()
            raise LedgerError(f"cannot open ledger: {exc}") from exc

    def _configure(self, conn: _Connection) -> None:
        conn.execute(f"SET lock_timeout = {self._lock_timeout_ms}")
        row = conn.execute("SELECT current_setting('synchronous_commit')").fetchone()
        if row and row[0] == "off":  # an acknowledged event must survive a server crash
            conn.execute("SET synchronous_commit = on")

    # -- transactions ------------------------------------------------------------------------
    @contextmanager
    def session(self, session_id: str) -> Iterator[_PostgresSessionTx]:
        """One write transaction, serial per session across threads, processes and replicas."""
        key = session_lock_key(session_id)
        with self._transaction(f"{_BEGIN_WRITE}; SELECT pg_advisory_xact_lock({key}); {_HOLD_SEQS}", "write") as conn:
            yield _PostgresSessionTx(conn, session_id)

    @contextmanager
    def read(self, session_id: str) -> Iterator[_PostgresSessionTx]:
        """A consistent, read-only snapshot of one session (appending in it fails)."""
        with self._transaction(_BEGIN_READ, "read") as conn:
            yield _PostgresSessionTx(conn, session_id)

    @contextmanager
    def _transaction(self, begin: str, what: str) -> Iterator[_Connection]:
        """A pooled connection inside ``begin``; committed when the block ends, rolled back when
        it raises. Every database failure leaves as ``LedgerError``."""
        conn = self._begin(begin)
        try:
            try:
                yield conn
            except _DB_ERRORS as exc:  # server gone, disk full, lock_timeout, NUL in a string
                _rollback(conn)
                raise LedgerError(f"ledger {what} failed: {exc}") from exc
            except BaseException:
                _rollback(conn)
                raise
            # A statement that failed inside (and was caught by the caller) aborts the whole
            # transaction; PostgreSQL then answers COMMIT with a silent ROLLBACK.
            if conn.info.transaction_status != pq.TransactionStatus.INTRANS:
                _rollback(conn)
                raise LedgerError(f"ledger {what} failed: the transaction was aborted")
            try:
                conn.execute("COMMIT")
            except _DB_ERRORS as exc:
                _rollback(conn)
                raise LedgerError(f"ledger commit failed: {exc}") from exc
        finally:
            self._pool.putconn(conn)

    def _begin(self, begin: str) -> _Connection:
        """A pooled connection inside a fresh transaction. A pooled connection the server has
        dropped (a restart, an idle timeout) fails its first statement; nothing was written
        yet, so one fresh connection is tried before giving up."""
        for attempt in (1, 2):
            try:
                conn = self._pool.getconn(timeout=self._acquire_timeout_s)
            except _DB_ERRORS as exc:
                raise LedgerError(f"ledger unavailable: {exc}") from exc
            try:
                conn.execute(begin)
                return conn
            except _DB_ERRORS as exc:
                _rollback(conn)
                self._pool.putconn(conn)  # the pool discards a broken connection
                if attempt == 2 or not conn.broken:
                    raise LedgerError(f"ledger unavailable: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def _connection(self, what: str) -> Iterator[_Connection]:
        """A pooled connection in autocommit mode, for one-statement reads and writes."""
        try:
            with self._pool.connection(timeout=self._acquire_timeout_s) as conn:
                yield conn
        except _DB_ERRORS as exc:
            raise LedgerError(f"ledger {what} failed: {exc}") from exc

    # -- the log ------------------------------------------------------------------------------
    def events(self, session_id: str | None = None) -> Iterator[Event]:
        with self._connection("read") as conn:
            if session_id is None:
                rows = conn.execute("SELECT seq, session_id, type, at, call_id, payload FROM events ORDER BY seq")
            else:
                rows = conn.execute(
                    "SELECT seq, session_id, type, at, call_id, payload FROM events WHERE session_id = %s ORDER BY seq",
                    (session_id,),
                )
            found = rows.fetchall()
        for seq, sid, kind, at, call_id, payload in found:
            yield Event(session_id=sid, type=kind, at=at, payload=orjson.loads(payload), call_id=call_id, seq=seq)

    def sessions(self) -> list[str]:
        with self._connection("read") as conn:
            rows = conn.execute("SELECT DISTINCT session_id FROM events").fetchall()
        # Sorted here, by code point (SQLite's order), whatever the database's collation.
        return sorted(row[0] for row in rows)

    def record_config(self, revision: str, config: Mapping[str, Any]) -> None:
        """Keep the deployment parameters a decision was made under, by revision (for replay)."""
        with self._connection("write") as conn:
            conn.execute(
                "INSERT INTO configs (revision, config) VALUES (%s, %s) ON CONFLICT (revision) DO NOTHING",
                (revision, payload_text(config)),
            )

    def config(self, revision: str) -> dict[str, Any] | None:
        with self._connection("read") as conn:
            row = conn.execute("SELECT config FROM configs WHERE revision = %s", (revision,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def rebuild_facts(self) -> None:
        """Recompute every fact from the event log: the log is the truth, facts a cache of it.
        New events wait (EXCLUSIVE lock on ``events``) until the rebuild commits."""
        with self._transaction(f"{_BEGIN_WRITE}; LOCK TABLE events IN EXCLUSIVE MODE", "rebuild") as conn:
            for table in FACT_TABLES:
                conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            rows = conn.execute("SELECT seq, session_id, type, at, call_id, payload FROM events ORDER BY seq")
            for seq, sid, kind, at, call_id, payload in rows.fetchall():
                _apply(conn, Event(sid, kind, at, orjson.loads(payload), call_id, seq))

    # -- the chain ----------------------------------------------------------------------------
    def anchor(self) -> Anchor | None:
        """Seal the events appended since the last anchor (see guardrails/ledger/chain.py).
        Writers wait (SHARE ROW EXCLUSIVE on ``events``) for the few milliseconds it takes."""
        with self._transaction(f"{_BEGIN_WRITE}; LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE", "anchor") as conn:
            row = conn.execute(f"{_ANCHORS} ORDER BY number DESC LIMIT 1").fetchone()
            latest = _anchor_of(row) if row else None
            fold = next_fold(latest)
            fold.add_all(_stored(conn.execute(f"{_STORED} WHERE seq > %s ORDER BY seq", (fold.last_seq,))))
            if fold.events == 0:
                return latest
            anchor = fold.seal((latest.number if latest else 0) + 1, time.time())
            conn.execute(
                "INSERT INTO anchors (number, at, last_seq, events, heads, prev_hash, hash) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    anchor.number,
                    anchor.at,
                    anchor.last_seq,
                    anchor.events,
                    heads_text(anchor.heads),
                    anchor.prev_hash,
                    anchor.hash,
                ),
            )
            return anchor

    def anchors(self) -> list[Anchor]:
        with self._connection("read") as conn:
            rows = conn.execute(f"{_ANCHORS} ORDER BY number").fetchall()
        return [_anchor_of(row) for row in rows]

    def stored_events(self, session_id: str | None = None) -> Iterator[StoredEvent]:
        """Every event as stored, in seq order: one snapshot, streamed through a server-side cursor."""
        where, params = ("", ()) if session_id is None else (" WHERE session_id = %s", (session_id,))
        with self._transaction(_BEGIN_READ, "read") as conn, conn.cursor(name="railguard_stored_events") as cursor:
            cursor.itersize = 2000
            cursor.execute(f"{_STORED}{where} ORDER BY seq", params)
            yield from _stored(cursor)

    # -- tickets ------------------------------------------------------------------------------
    def ticket(self, ticket_id: str) -> dict[str, Any] | None:
        with self._transaction(_BEGIN_READ, "read") as conn:  # one snapshot: row, opening and trail agree
            row = _ticket_row(conn, "ticket = %s", (ticket_id,))
            if row is None:
                return None
            opened = conn.execute("SELECT payload FROM events WHERE seq = %s", (row["opened_seq"],)).fetchone()
            trail = conn.execute(
                "SELECT type, at, payload FROM events WHERE session_id = %s AND seq >= %s AND type = ANY(%s) "
                "ORDER BY seq",
                (row["session_id"], row["opened_seq"], _TICKET_TYPES),
            ).fetchall()
        row["opened"] = orjson.loads(opened[0]) if opened else {}
        row["trail"] = [
            trail_entry(kind, at, payload)
            for kind, at, raw in trail
            if (payload := orjson.loads(raw)).get("ticket") == ticket_id
        ]
        return row

    def tickets(
        self, *, states: Sequence[str] = (), session_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        where: list[str] = ["TRUE"]
        params: list[Any] = []
        if states:
            where.append("state = ANY(%s)")
            params.append(list(states))
        if session_id is not None:
            where.append("session_id = %s")
            params.append(session_id)
        with self._connection("read") as conn:
            rows = conn.execute(
                f"SELECT {TICKET_COLUMNS} FROM tickets WHERE {' AND '.join(where)} "  # noqa: S608 - fixed columns
                "ORDER BY CASE WHEN state IN ('open', 'claimed') THEN 0 ELSE 1 END, opened_at, opened_seq LIMIT %s",
                (*params, max(0, int(limit))),
            ).fetchall()
        return [ticket_dict(r) for r in rows]

    def overdue(self, now: float) -> list[tuple[str, str]]:
        with self._connection("read") as conn:
            rows = conn.execute(
                "SELECT ticket, session_id FROM tickets WHERE state IN ('open', 'claimed') AND deadline <= %s "
                "ORDER BY deadline",
                (now,),
            ).fetchall()
        return [(t, sid) for t, sid in rows]

    def close(self) -> None:
        self._pool.close()


def _rollback(conn: _Connection) -> None:
    """Roll back what is open; a connection already broken has nothing left to roll back."""
    if conn.broken or conn.closed:
        return
    try:
        conn.execute("ROLLBACK")
    except _DB_ERRORS:
        pass  # the connection is unusable: the pool discards it, the server drops the transaction


class _PostgresSessionTx:
    def __init__(self, conn: _Connection, session_id: str) -> None:
        self.connection = conn
        self.session_id = session_id

    def facts(self, query: FactsQuery) -> dict[str, Any]:
        conn, sid = self.connection, self.session_id
        by_tool: dict[str, int] = dict(
            conn.execute("SELECT tool, n FROM call_counts WHERE session_id = %s", (sid,)).fetchall()
        )
        repeats = 0
        if query.args_hash is not None:
            row = conn.execute(
                "SELECT n FROM repeats WHERE session_id = %s AND args_hash = %s", (sid, query.args_hash)
            ).fetchone()
            repeats = row[0] if row else 0
        pending: dict[str, int] = dict(
            conn.execute("SELECT tool, n FROM pending WHERE session_id = %s AND n > 0", (sid,)).fetchall()
        )
        keys = list(query.key_values)
        if query.all_results:
            rows = conn.execute("SELECT tool, key_value, fact FROM results WHERE session_id = %s", (sid,)).fetchall()
        elif keys:
            rows = conn.execute(
                "SELECT tool, key_value, fact FROM results WHERE session_id = %s AND key_value = ANY(%s)", (sid, keys)
            ).fetchall()
        else:
            rows = []
        results: dict[str, dict[str, Any]] = {}
        for tool, key, fact in rows:
            results.setdefault(tool, {})[key] = orjson.loads(fact)
        by_key: dict[str, dict[str, Any]] = {}
        if keys:
            for tool, key, key_pending, succeeded, failed, unknown in conn.execute(
                "SELECT tool, key_value, pending, succeeded, failed, unknown FROM by_key WHERE session_id = %s "
                "AND key_value = ANY(%s)",
                (sid, keys),
            ).fetchall():
                by_key.setdefault(tool, {})[key] = {
                    "pending": key_pending,
                    "succeeded": succeeded,
                    "failed": failed,
                    "unknown": unknown,
                }
        failures = {
            tool: {"consecutive": n, "last_failure_at": at}
            for tool, n, at in conn.execute(
                "SELECT tool, consecutive, last_failure_at FROM failures WHERE session_id = %s", (sid,)
            ).fetchall()
        }
        usage_row = conn.execute("SELECT tokens, cost FROM usage WHERE session_id = %s", (sid,)).fetchone()
        agent_row = None
        if query.agent_id is not None and query.day is not None:
            agent_row = conn.execute(
                "SELECT tokens, cost FROM agent_usage WHERE agent_id = %s AND day = %s", (query.agent_id, query.day)
            ).fetchone()
        labels = sorted(r[0] for r in conn.execute("SELECT label FROM labels WHERE session_id = %s", (sid,)))
        return {
            "calls": {"total": sum(by_tool.values()), "by_tool": by_tool},
            "repeats": repeats,
            "pending": pending,
            "results": results,
            "by_key": by_key,
            "failures": failures,
            "usage": {"tokens": usage_row[0], "cost": usage_row[1]} if usage_row else {"tokens": 0, "cost": 0},
            "agent_usage": {
                "day": query.day,
                "tokens": agent_row[0] if agent_row else 0,
                "cost": agent_row[1] if agent_row else 0,
            },
            "labels": labels,
        }

    def version(self) -> int:
        """The sequence number of the session's last event: what a decision was made after."""
        row = self.connection.execute(
            "SELECT MAX(seq) FROM events WHERE session_id = %s", (self.session_id,)
        ).fetchone()
        return int(row[0] or 0) if row else 0

    def history(self, limit: int) -> list[dict[str, Any]]:
        rows = self.connection.execute(
            "SELECT seq, type, at, call_id, payload FROM events WHERE session_id = %s ORDER BY seq DESC LIMIT %s",
            (self.session_id, limit),
        ).fetchall()
        return [
            {"seq": seq, "type": kind, "at": at, "call_id": call_id, **history_view(kind, orjson.loads(payload))}
            for seq, kind, at, call_id, payload in reversed(rows)
        ]

    def find_call(self, call_id: str) -> CallRecord | None:
        row = self.connection.execute(
            "SELECT tool, args_hash, key_value, verdict, decision_seq, has_result, agent_id FROM calls "
            "WHERE session_id = %s AND call_id = %s",
            (self.session_id, call_id),
        ).fetchone()
        if row is None:
            return None
        tool, args_hash, key_value, verdict, decision_seq, has_result, agent_id = row
        decision: Mapping[str, Any] = {}
        if decision_seq is not None:  # the decision is stored once, in its event
            found = self.connection.execute("SELECT payload FROM events WHERE seq = %s", (decision_seq,)).fetchone()
            decision = orjson.loads(found[0]).get("decision", {}) if found else {}
        return CallRecord(call_id, tool, args_hash, key_value, verdict, decision, bool(has_result), agent_id)

    def ticket(self, ticket_id: str) -> dict[str, Any] | None:
        return _ticket_row(self.connection, "ticket = %s AND session_id = %s", (ticket_id, self.session_id))

    def reviews(self, binding: str, agent_id: str) -> list[dict[str, Any]]:
        rows = self.connection.execute(
            f"SELECT {TICKET_COLUMNS} FROM tickets WHERE session_id = %s AND binding = %s AND agent_id = %s "  # noqa: S608
            "ORDER BY opened_seq DESC",
            (self.session_id, binding, agent_id),
        ).fetchall()
        return [ticket_dict(r) for r in rows]

    def append(self, event: Event) -> int:
        if event.session_id != self.session_id:
            raise LedgerError(f"event for session {event.session_id!r} appended to {self.session_id!r}")
        if event.type not in EVENT_TYPES:
            raise LedgerError(f"unknown event type {event.type!r}")
        payload = payload_text(event.payload)
        head = self.connection.execute(_CHAIN_HEAD, (event.session_id,)).fetchone()
        if head is None:  # pragma: no cover - a SELECT without FROM always returns its row
            raise LedgerError("ledger write failed: no sequence number")
        seq, prev_hash = int(head[0]), head[1] or GENESIS
        digest = event_hash(event.session_id, seq, event.type, event.at, event.call_id, payload, prev_hash)
        self.connection.execute(
            "INSERT INTO events (seq, session_id, type, at, call_id, payload, prev_hash, hash) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (seq, event.session_id, event.type, event.at, event.call_id, payload, prev_hash, digest),
        )
        _apply(self.connection, replace(event, seq=seq))
        return seq


def _stored(rows: Iterable[Sequence[Any]]) -> Iterator[StoredEvent]:
    for seq, sid, kind, at, call_id, payload, prev_hash, digest in rows:
        yield StoredEvent(seq, sid, kind, at, call_id, payload, prev_hash, digest)


def _anchor_of(row: Sequence[Any]) -> Anchor:
    number, at, last_seq, events, heads, prev_hash, digest = row
    return Anchor(number, at, last_seq, events, parse_heads(heads), prev_hash, digest)


def _ticket_row(conn: _Connection, where: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT {TICKET_COLUMNS} FROM tickets WHERE {where}", params).fetchone()  # noqa: S608
    return ticket_dict(row) if row else None


# The folding below is sqlite.py's ``_apply``/``_apply_ticket`` in PostgreSQL's dialect
# (``%s``, ``GREATEST``, qualified columns in ``ON CONFLICT``); tests/test_ledger_postgres.py
# feeds both stores the same events and compares every fact.
def _apply_ticket(conn: _Connection, event: Event) -> None:
    """Fold a ticket event into the ``tickets`` table (its state is derived from the events)."""
    p = event.payload
    ticket = p["ticket"]
    if event.type == ESCALATION_OPENED:
        conn.execute(
            f"INSERT INTO tickets ({TICKET_COLUMNS}) VALUES "  # noqa: S608 - fixed columns
            "(%s, %s, %s, %s, %s, %s, %s, %s, 'open', %s, %s, %s, %s, '[]', NULL, NULL, '[]', NULL, NULL, NULL, %s)",
            (
                ticket,
                event.session_id,
                event.call_id,
                p["checkpoint"],
                p.get("tool"),
                p["binding"],
                p.get("agent_id", ""),
                payload_text(sorted(p.get("codes", []))),
                event.at,
                float(p["deadline"]),
                int(p.get("approvers", 1)),
                p.get("default", "deny"),
                event.seq,
            ),
        )
    elif event.type == TICKET_CLAIMED:
        conn.execute(
            "UPDATE tickets SET state = 'claimed', claimed_by = %s WHERE ticket = %s AND state IN ('open', 'claimed')",
            (p["by"], ticket),
        )
    elif event.type == TICKET_APPROVED:
        row = conn.execute("SELECT approvals FROM tickets WHERE ticket = %s", (ticket,)).fetchone()
        approvals = [*orjson.loads(row[0]), {"by": p["by"], "at": event.at, "note": p.get("note")}] if row else []
        conn.execute("UPDATE tickets SET approvals = %s WHERE ticket = %s", (payload_text(approvals), ticket))
    elif event.type == ESCALATION_RESOLVED:
        conn.execute(
            "UPDATE tickets SET state = %s, resolved_at = %s, resolved_by = %s, note = %s, approval_expires = %s "
            "WHERE ticket = %s",
            (p["state"], event.at, payload_text(p.get("by", [])), p.get("note"), p.get("approval_expires"), ticket),
        )
    elif event.type == APPROVAL_USED:
        conn.execute(
            "UPDATE tickets SET used_by = %s WHERE ticket = %s", (p.get("call_id") or p["decision_id"], ticket)
        )


def _apply(conn: _Connection, event: Event) -> None:
    """Fold one event into the session facts. The only place facts change."""
    sid, p = event.session_id, event.payload
    if event.type == CALL_REQUESTED:
        call = p["call"]
        conn.execute(
            "INSERT INTO calls (session_id, call_id, tool, args_hash, key_value, agent_id) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (sid, call["id"], call["tool"], p["args_hash"], p.get("key_value"), agent_of(call)),
        )
    elif event.type == DECISION and p.get("checkpoint") == "authorize":
        decision = p["decision"]
        conn.execute(
            "UPDATE calls SET verdict = %s, decision_seq = %s WHERE session_id = %s AND call_id = %s",
            (decision["verdict"], event.seq, sid, event.call_id),
        )
        if decision["verdict"] == "allow":
            tool = p["tool"]
            _bump(conn, "call_counts", "tool", sid, tool, 1)
            _bump(conn, "repeats", "args_hash", sid, p["args_hash"], 1)
            _bump(conn, "pending", "tool", sid, tool, 1)
            if p.get("key_value") is not None:
                conn.execute(
                    "INSERT INTO by_key (session_id, key_value, tool, pending) VALUES (%s, %s, %s, 1) "
                    "ON CONFLICT (session_id, key_value, tool) DO UPDATE SET pending = by_key.pending + 1",
                    (sid, p["key_value"], tool),
                )
    elif event.type == RESULT_RECORDED:
        tool = p["tool"]
        conn.execute("UPDATE calls SET has_result = 1 WHERE session_id = %s AND call_id = %s", (sid, event.call_id))
        if p.get("was_allowed"):
            conn.execute("UPDATE pending SET n = GREATEST(n - 1, 0) WHERE session_id = %s AND tool = %s", (sid, tool))
            outcome = p.get("outcome")
            if p.get("key_value") is not None and outcome in OUTCOMES:
                conn.execute(
                    f"UPDATE by_key SET pending = GREATEST(pending - 1, 0), {outcome} = {outcome} + 1 "  # noqa: S608
                    "WHERE session_id = %s AND key_value = %s AND tool = %s",
                    (sid, p["key_value"], tool),
                )
        if p.get("verified"):
            conn.execute(
                "INSERT INTO failures (session_id, tool, consecutive, last_failure_at) VALUES (%s, %s, 0, NULL) "
                "ON CONFLICT (session_id, tool) DO UPDATE SET consecutive = 0",
                (sid, tool),
            )
            if p.get("key_value") is not None:
                conn.execute(
                    "INSERT INTO results (session_id, tool, key_value, fact) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (session_id, key_value, tool) DO UPDATE SET fact = excluded.fact",
                    (sid, tool, p["key_value"], payload_text(p.get("fact", {}))),
                )
        elif p.get("failed"):
            conn.execute(
                "INSERT INTO failures (session_id, tool, consecutive, last_failure_at) VALUES (%s, %s, 1, %s) "
                "ON CONFLICT (session_id, tool) DO UPDATE SET consecutive = failures.consecutive + 1, "
                "last_failure_at = excluded.last_failure_at",
                (sid, tool, event.at),
            )
    elif event.type == USAGE_REPORTED:
        conn.execute(
            "INSERT INTO usage (session_id, tokens, cost) VALUES (%s, %s, %s) ON CONFLICT (session_id) "
            "DO UPDATE SET tokens = usage.tokens + excluded.tokens, cost = usage.cost + excluded.cost",
            (sid, int(p.get("tokens", 0)), float(p.get("cost", 0.0))),
        )
        if p.get("agent"):
            conn.execute(
                "INSERT INTO agent_usage (agent_id, day, tokens, cost) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (agent_id, day) DO UPDATE SET tokens = agent_usage.tokens + excluded.tokens, "
                "cost = agent_usage.cost + excluded.cost",
                (p["agent"], utc_day(event.at), int(p.get("tokens", 0)), float(p.get("cost", 0.0))),
            )
    elif event.type == LABELS_ADDED:
        for label in p["labels"]:
            conn.execute("INSERT INTO labels (session_id, label) VALUES (%s, %s) ON CONFLICT DO NOTHING", (sid, label))
    elif event.type in TICKET_EVENTS:
        _apply_ticket(conn, event)


def _bump(conn: _Connection, table: str, column: str, sid: str, key: str, by: int) -> None:
    conn.execute(
        f"INSERT INTO {table} (session_id, {column}, n) VALUES (%s, %s, %s) "  # noqa: S608 - fixed names
        f"ON CONFLICT (session_id, {column}) DO UPDATE SET n = {table}.n + excluded.n",
        (sid, key, by),
    )
