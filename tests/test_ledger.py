"""The SQLite ledger: durable, append-only, checkpointed off the hot path."""

import os
import subprocess
import sys
import time

from guardrails.ledger import Event, FactsQuery, SQLiteLedger


def test_events_are_appended_in_order_and_read_back(tmp_path):
    ledger = SQLiteLedger(tmp_path / "l.db")
    with ledger.session("s") as tx:
        tx.append(Event("s", "usage_reported", 1.0, {"tokens": 5, "cost": 0.5}))
        tx.append(Event("s", "labels_added", 2.0, {"labels": ["pii:EMAIL_ADDRESS"]}))
    assert [e.type for e in ledger.events("s")] == ["usage_reported", "labels_added"]
    assert [e.seq for e in ledger.events("s")] == sorted(e.seq for e in ledger.events("s"))
    ledger.close()


def test_a_failed_transaction_leaves_no_trace(tmp_path):
    ledger = SQLiteLedger(tmp_path / "l.db")
    try:
        with ledger.session("s") as tx:
            tx.append(Event("s", "usage_reported", 1.0, {"tokens": 5, "cost": 0.5}))
            raise RuntimeError("decision failed half-way")
    except RuntimeError:
        pass
    assert list(ledger.events("s")) == []
    with ledger.session("s") as tx:
        assert tx.facts(FactsQuery())["usage"] == {"tokens": 0, "cost": 0}
    ledger.close()


def test_unknown_event_types_are_refused(tmp_path):
    import pytest

    from guardrails import LedgerError

    ledger = SQLiteLedger(tmp_path / "l.db")
    with pytest.raises(LedgerError), ledger.session("s") as tx:
        tx.append(Event("s", "made_up", 1.0, {}))
    ledger.close()


def test_the_wal_is_checkpointed_in_the_background(tmp_path):
    ledger = SQLiteLedger(tmp_path / "l.db", checkpoint_interval_s=0.05)
    main_size = os.path.getsize(tmp_path / "l.db")  # before any write: a checkpoint may run mid-loop
    for i in range(200):
        with ledger.session("s") as tx:
            tx.append(Event("s", "usage_reported", float(i), {"tokens": 1, "cost": 0.0}))
    wal = tmp_path / "l.db-wal"
    deadline = time.time() + 5
    while time.time() < deadline and os.path.getsize(tmp_path / "l.db") == main_size:
        time.sleep(0.05)
    assert os.path.getsize(tmp_path / "l.db") > main_size  # pages were copied back from the WAL
    assert wal.exists()
    ledger.close()


def test_acknowledged_events_survive_sigkill(tmp_path):
    # A writer process acknowledges events on stdout, then is killed mid-stream with SIGKILL.
    script = f"""
import sys
from guardrails.ledger import Event, SQLiteLedger
ledger = SQLiteLedger({str(tmp_path / "k.db")!r})
i = 0
while True:
    with ledger.session("s") as tx:
        tx.append(Event("s", "usage_reported", float(i), {{"tokens": 1, "cost": 0.0}}))
    print(i, flush=True)
    i += 1
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    acknowledged = -1
    assert proc.stdout is not None
    for line in proc.stdout:
        acknowledged = int(line)
        if acknowledged >= 300:
            break
    proc.kill()
    proc.wait(timeout=30)
    ledger = SQLiteLedger(tmp_path / "k.db")
    events = list(ledger.events("s"))
    assert len(events) >= acknowledged + 1
    with ledger.session("s") as tx:
        assert tx.facts(FactsQuery())["usage"]["tokens"] == len(events)
    ledger.close()
