"""The tamper-evident ledger: every edit made beside Railguard is found, and where.

A ledger is built through the payments deployment, then edited with sqlite3 (or psycopg)
directly, the way someone with the database file would.
"""

from __future__ import annotations

import argparse
import itertools
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guardrails import Guard, PolicySet, SQLiteLedger, ToolRegistry, ToolResult
from guardrails.ledger import Event
from guardrails.ledger.chain import GENESIS, event_hash
from guardrails.ledger.verify import (
    ANCHOR_MISMATCH,
    EVENT_ALTERED,
    EVENT_DELETED,
    EVENT_INSERTED,
    EVENTS_REORDERED,
    VerifyReport,
    add_audit_verify,
    verify,
)
from tests.conftest import PAYMENTS, POLICIES, fraud_check, pay, payments_guard

# One more key in the stored JSON object: the edit an SQL client makes (both dialects).
EDITED = """substr(payload, 1, length(payload) - 1) || ',"forged":true}'"""


def live(guard: Guard, session: str, txn: str) -> None:
    """A fraud check with its result, then a payment: three checkpoints' worth of events."""
    check = fraud_check(txn, session)
    guard.authorize(check)
    guard.check_result(ToolResult(call_id=check.id, session_id=session, output={"status": "passed", "score": 0.1}))
    guard.authorize(pay(txn, 100, session))


def build(guard: Guard) -> None:
    """Session s1, then s2, then s1 again: s1's events are not contiguous in the global seq."""
    live(guard, "s1", "t1")
    live(guard, "s2", "t2")
    live(guard, "s1", "t3")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "ledger.db"
    guard = payments_guard(path)
    build(guard)
    guard.ledger.anchor()
    guard.ledger.close()
    yield path


def checked(path: Path) -> VerifyReport:
    ledger = SQLiteLedger(path, anchor_interval_s=None)
    try:
        return verify(ledger)
    finally:
        ledger.close()


def seqs(path: Path, session: str) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT seq FROM events WHERE session_id = ? ORDER BY seq", (session,))]


def edit(path: Path, sql: str, *params: Any) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(sql, params)
    conn.close()


def where(report: VerifyReport) -> set[tuple[str, str | None, int | None]]:
    return {(f.code, f.session_id, f.seq) for f in report.findings}


def test_a_clean_ledger_verifies(db: Path) -> None:
    report = checked(db)
    assert report.ok, report.render()
    assert report.events == len(seqs(db, "s1")) + len(seqs(db, "s2"))
    assert report.anchors == 1
    assert report.unchained == 0


def test_every_event_links_to_the_previous_event_of_its_session(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT prev_hash, hash FROM events WHERE session_id = 's1' ORDER BY seq").fetchall()
    assert rows[0][0] == GENESIS
    assert all(later[0] == earlier[1] for earlier, later in itertools.pairwise(rows))


def test_an_edited_payload_is_found_at_its_seq(db: Path) -> None:
    target = seqs(db, "s1")[2]
    edit(db, f"UPDATE events SET payload = {EDITED} WHERE seq = ?", target)
    report = checked(db)
    assert not report.ok
    assert (EVENT_ALTERED, "s1", target) in where(report)


@pytest.mark.parametrize(
    ("column", "value"),
    [("type", "usage_reported"), ("at", 1.0), ("call_id", "forged-call"), ("session_id", "s2")],
)
def test_an_edited_field_is_found_at_its_seq(db: Path, column: str, value: Any) -> None:
    target = seqs(db, "s1")[1]
    edit(db, f"UPDATE events SET {column} = ? WHERE seq = ?", value, target)
    assert (EVENT_ALTERED, value if column == "session_id" else "s1", target) in where(checked(db))


def test_a_deleted_event_in_the_middle_is_found_where_the_chain_skips(db: Path) -> None:
    s1 = seqs(db, "s1")
    edit(db, "DELETE FROM events WHERE seq = ?", s1[3])
    report = checked(db)
    assert (EVENT_DELETED, "s1", s1[4]) in where(report)
    assert any(f.code == ANCHOR_MISMATCH for f in report.findings)


def test_a_deleted_tail_is_found_by_the_anchor(db: Path) -> None:
    s1 = seqs(db, "s1")
    edit(db, "DELETE FROM events WHERE session_id = 's1' AND seq > ?", s1[-4])  # the chain alone looks whole
    report = checked(db)
    assert (EVENT_DELETED, "s1", s1[-1]) in where(report)
    assert any(f.code == ANCHOR_MISMATCH for f in report.findings)


def test_a_whole_deleted_session_is_found_by_the_anchor(db: Path) -> None:
    last = seqs(db, "s2")[-1]
    edit(db, "DELETE FROM events WHERE session_id = 's2'")
    assert (EVENT_DELETED, "s2", last) in where(checked(db))


def test_swapped_seqs_are_reported_as_reordered(db: Path) -> None:
    a, b = seqs(db, "s1")[1:3]
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE events SET seq = -1 WHERE seq = ?", (a,))
        conn.execute("UPDATE events SET seq = ? WHERE seq = ?", (a, b))
        conn.execute("UPDATE events SET seq = ? WHERE seq = -1", (b,))
    conn.close()
    found = where(checked(db))
    assert {(EVENTS_REORDERED, "s1", a), (EVENTS_REORDERED, "s1", b)} <= found
    assert not {f for f in found if f[0] in (EVENT_ALTERED, EVENT_DELETED, EVENT_INSERTED)}


def test_a_forged_row_without_a_hash_is_found_as_inserted(db: Path) -> None:
    edit(
        db,
        "INSERT INTO events (session_id, type, at, call_id, payload) VALUES ('s1', 'usage_reported', ?, NULL, ?)",
        time.time(),
        '{"tokens":0,"cost":0}',
    )
    forged = seqs(db, "s1")[-1]
    assert (EVENT_INSERTED, "s1", forged) in where(checked(db))


def test_a_forged_row_with_a_valid_hash_is_found_as_inserted(db: Path) -> None:
    # Someone who knows the encoding forges a session start before everything else.
    payload = '{"tokens":0,"cost":0}'
    digest = event_hash("s1", 0, "usage_reported", 1.0, None, payload, GENESIS)
    edit(
        db,
        "INSERT INTO events (seq, session_id, type, at, call_id, payload, prev_hash, hash) "
        "VALUES (0, 's1', 'usage_reported', 1.0, NULL, ?, ?, ?)",
        payload,
        GENESIS,
        digest,
    )
    report = checked(db)
    assert (EVENT_INSERTED, "s1", 0) in where(report)
    assert any(f.code == ANCHOR_MISMATCH for f in report.findings)


def test_an_event_rewritten_with_a_recomputed_hash_is_found(db: Path) -> None:
    target = seqs(db, "s1")[2]
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT session_id, seq, type, at, call_id, payload, prev_hash FROM events WHERE seq = ?", (target,)
        ).fetchone()
    payload = row[5][:-1] + ',"forged":true}'
    digest = event_hash(row[0], row[1], row[2], row[3], row[4], payload, row[6])
    edit(db, "UPDATE events SET payload = ?, hash = ? WHERE seq = ?", payload, digest, target)
    assert (EVENT_ALTERED, "s1", target) in where(checked(db))


def test_an_edited_anchor_is_found(db: Path) -> None:
    edit(db, "UPDATE anchors SET hash = ? WHERE number = 1", "f" * 64)
    assert [f.code for f in checked(db).findings] == [ANCHOR_MISMATCH]


def test_rebuilding_the_facts_keeps_the_chain(db: Path) -> None:
    ledger = SQLiteLedger(db, anchor_interval_s=None)
    ledger.rebuild_facts()
    ledger.close()
    assert checked(db).ok


def test_events_appended_after_an_anchor_verify_and_the_next_anchor_seals_them(db: Path) -> None:
    guard = payments_guard(db)
    live(guard, "s3", "t9")
    anchor = guard.ledger.anchor()
    guard.ledger.close()
    assert anchor is not None and anchor.number == 2 and "s3" in anchor.heads
    assert checked(db).ok


def test_anchoring_with_nothing_new_writes_nothing(db: Path) -> None:
    ledger = SQLiteLedger(db, anchor_interval_s=None)
    first = ledger.anchor()
    assert ledger.anchor() == first
    assert len(ledger.anchors()) == 1
    ledger.close()


def test_the_checkpoint_thread_anchors_new_events(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "l.db", checkpoint_interval_s=0.02, anchor_interval_s=0.05)
    with ledger.session("s") as tx:
        tx.append(Event("s", "usage_reported", 1.0, {"tokens": 1, "cost": 0.0}))
    deadline = time.time() + 5
    while time.time() < deadline and not ledger.anchors():
        time.sleep(0.02)
    assert [a.last_seq for a in ledger.anchors()] == [1]
    ledger.close()


def test_events_written_before_chaining_are_unchained_not_tampered(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    with conn:  # the events table as it was before chaining
        conn.execute(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, "
            "type TEXT NOT NULL, at REAL NOT NULL, call_id TEXT, payload TEXT NOT NULL)"
        )
        conn.executemany(
            "INSERT INTO events (session_id, type, at, call_id, payload) VALUES (?, 'usage_reported', 1.0, NULL, ?)",
            [("old", '{"tokens":1,"cost":0.0}'), ("old", '{"tokens":2,"cost":0.0}')],
        )
    conn.close()
    ledger = SQLiteLedger(path, anchor_interval_s=None)  # adds the columns
    ledger.rebuild_facts()
    with ledger.session("old") as tx:
        tx.append(Event("old", "usage_reported", 2.0, {"tokens": 3, "cost": 0.0}))
    report = verify(ledger)
    assert report.ok, report.render()
    assert (report.unchained, report.unchained_sessions) == (2, 1)
    assert "unchained (written before chaining)" in report.render()
    ledger.close()


def test_an_unchained_event_after_chaining_began_is_found(db: Path) -> None:
    target = seqs(db, "s2")[1]
    edit(db, "UPDATE events SET hash = NULL, prev_hash = NULL WHERE seq = ?", target)
    assert (EVENT_INSERTED, "s2", target) in where(checked(db))


# -- command line ------------------------------------------------------------------------------
def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="railguard")
    audit = parser.add_subparsers(dest="command").add_parser("audit")
    audit.add_argument("--ledger", default=None)
    audit.add_argument("--config", default=None)
    add_audit_verify(audit.add_subparsers(dest="audit_command"))
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


def test_the_command_exits_0_on_a_clean_ledger_and_1_on_a_tampered_one(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("audit", "verify", "--ledger", str(db)) == 0
    assert "ok" in capsys.readouterr().out
    edit(db, "DELETE FROM events WHERE seq = ?", seqs(db, "s1")[3])
    assert run("audit", "--ledger", str(db), "verify") == 1
    assert "event_deleted: session 's1'" in capsys.readouterr().out


def test_the_anchor_command_prints_the_anchor_hash(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("audit", "anchor", "--ledger", str(db)) == 0
    assert SQLiteLedger(db, anchor_interval_s=None).anchors()[-1].hash in capsys.readouterr().out


# -- PostgreSQL --------------------------------------------------------------------------------
@pytest.fixture
def pg_dsn(request: pytest.FixtureRequest) -> str:
    from tests.test_ledger_postgres import _schema_dsn

    return _schema_dsn(request.getfixturevalue("pg_cluster"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    from tests.test_ledger_postgres import _new_cluster

    cluster = _new_cluster()
    yield cluster
    cluster.remove()


def pg_guard(dsn: str) -> Guard:
    from guardrails.config import load_settings
    from guardrails.ledger import PostgresLedger

    return Guard(
        policies=PolicySet.load(POLICIES),
        tools=ToolRegistry.from_file(PAYMENTS / "tools.json"),
        ledger=PostgresLedger(dsn),
        config=load_settings(PAYMENTS / "railguard.toml").params,
    )


def test_postgres_chain_verifies_and_edits_are_found(pg_dsn: str) -> None:
    import psycopg

    guard = pg_guard(pg_dsn)
    build(guard)
    assert guard.ledger.anchor() is not None
    guard.ledger.rebuild_facts()
    assert verify(guard.ledger).ok
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        s1 = [r[0] for r in conn.execute("SELECT seq FROM events WHERE session_id = 's1' ORDER BY seq")]
        conn.execute(f"UPDATE events SET payload = {EDITED} WHERE seq = %s", (s1[2],))
        conn.execute("DELETE FROM events WHERE session_id = 's1' AND seq > %s", (s1[-3],))
    found = where(verify(guard.ledger))
    guard.ledger.close()
    assert {(EVENT_ALTERED, "s1", s1[2]), (EVENT_DELETED, "s1", s1[-1])} <= found


def test_postgres_swapped_seqs_are_reported_as_reordered(pg_dsn: str) -> None:
    import psycopg

    guard = pg_guard(pg_dsn)
    build(guard)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        a, b = [r[0] for r in conn.execute("SELECT seq FROM events WHERE session_id = 's1' ORDER BY seq")][1:3]
        conn.execute("UPDATE events SET seq = -1 WHERE seq = %s", (a,))
        conn.execute("UPDATE events SET seq = %s WHERE seq = %s", (a, b))
        conn.execute("UPDATE events SET seq = %s WHERE seq = -1", (b,))
    found = where(verify(guard.ledger))
    guard.ledger.close()
    assert {(EVENTS_REORDERED, "s1", a), (EVENTS_REORDERED, "s1", b)} <= found
