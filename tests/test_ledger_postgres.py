"""The ledger stores behave alike: SQLite and PostgreSQL run one behaviour suite.

PostgreSQL runs in a throw-away cluster (tests/pg_cluster.py). Where it cannot start, its
half of the suite is skipped, except in CI (``CI`` or ``RAILGUARD_REQUIRE_POSTGRES`` set),
where that is a failure.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest

from guardrails import Guard, LedgerError, PolicySet, SQLiteLedger, ToolCall, ToolRegistry, ToolResult, Verdict
from guardrails.errors import EscalationError
from guardrails.escalation import EscalationQueue, EscalationSettings, TicketState, reviewer
from guardrails.ledger import Event, FactsQuery, LedgerStore
from tests.conftest import PAYMENTS, POLICIES, pay, race
from tests.pg_cluster import Cluster, ClusterUnavailable, create_cluster
from tests.test_escalation import POLICY  # payments above 1,000 escalate; max_calls budgets

ALICE, BOB = reviewer("alice"), reviewer("bob")
REQUIRED = bool(os.environ.get("CI") or os.environ.get("RAILGUARD_REQUIRE_POSTGRES"))


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"PostgreSQL is required here (CI) but unavailable: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


def _new_cluster() -> Cluster:
    try:
        import guardrails.ledger.postgres  # noqa: F401 - the driver must be installed too
    except ImportError as exc:
        _unavailable(str(exc))
    try:
        return create_cluster()
    except ClusterUnavailable as exc:
        _unavailable(str(exc))
        raise


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    cluster = _new_cluster()
    yield cluster
    cluster.remove()


def _schema_dsn(cluster: Cluster) -> str:
    """A DSN onto a fresh schema of the cluster: each test starts from an empty ledger."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{cluster.dsn}?options=-csearch_path%3D{schema}"


def _open(spec: tuple[str, str]) -> LedgerStore:
    """A ledger from a picklable ``(kind, where)``: what another process or replica opens."""
    kind, where = spec
    if kind == "sqlite":
        return SQLiteLedger(where)
    from guardrails.ledger.postgres import PostgresLedger

    return PostgresLedger(where)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """Where the ledger lives: every ledger opened on it (a "replica") shares its events."""
    if request.param == "sqlite":
        return ("sqlite", str(tmp_path / "ledger.db"))
    return ("postgres", _schema_dsn(request.getfixturevalue("pg_cluster")))


@pytest.fixture
def open_ledger(store: tuple[str, str]) -> Iterator[Callable[[], LedgerStore]]:
    opened: list[LedgerStore] = []

    def replica() -> LedgerStore:
        opened.append(_open(store))
        return opened[-1]

    yield replica
    for ledger in opened:
        ledger.close()


@pytest.fixture
def ledger(open_ledger: Callable[[], LedgerStore]) -> LedgerStore:
    return open_ledger()


@pytest.fixture
def make_guard(open_ledger: Callable[[], LedgerStore]) -> Iterator[Callable[..., Guard]]:
    guards: list[Guard] = []

    def build(config: dict[str, Any] | None = None, **kwargs: Any) -> Guard:
        guard = Guard(
            policies=PolicySet.from_sources({"p.rego": POLICY}),
            tools=ToolRegistry.from_file(PAYMENTS / "tools.json"),
            ledger=open_ledger(),
            config={"roles": {"payer": ["make_payment", "fraud_check"]}, **(config or {})},
            **kwargs,
        )
        guards.append(guard)
        return guard

    yield build
    for guard in guards:
        guard.queue.close()


def escalated(guard: Guard, call: ToolCall) -> str:
    decision = guard.authorize(call)
    assert decision.verdict is Verdict.ESCALATE and decision.ticket is not None, decision.reasons
    return decision.ticket


def requested(sid: str, call_id: str, tool: str = "make_payment", key: str | None = "t1") -> Event:
    call = {"id": call_id, "tool": tool, "args": {"transaction_id": key}}
    return Event(sid, "call_requested", 1.0, {"call": call, "args_hash": f"h-{call_id}", "key_value": key}, call_id)


def decided(sid: str, call_id: str, verdict: str, tool: str = "make_payment", key: str | None = "t1") -> Event:
    payload = {
        "checkpoint": "authorize",
        "tool": tool,
        "args_hash": f"h-{call_id}",
        "key_value": key,
        "decision": {"verdict": verdict, "checkpoint": "authorize", "reasons": [{"code": f"c-{verdict}"}]},
    }
    return Event(sid, "decision", 2.0, payload, call_id)


def recorded(sid: str, call_id: str, **flags: Any) -> Event:
    payload = {"tool": "make_payment", "key_value": "t1", "was_allowed": True, "fact": {"status": "ok"}, **flags}
    return Event(sid, "result_recorded", 3.0, payload, call_id)


# A session's life in events, touching every fact table.
LIFE = [
    requested("s", "c1"),
    decided("s", "c1", "allow"),
    recorded("s", "c1", verified=True, outcome="succeeded"),
    requested("s", "c2"),
    decided("s", "c2", "allow"),
    recorded("s", "c2", failed=True, outcome="failed"),
    requested("s", "c3", tool="fraud_check", key=None),
    decided("s", "c3", "deny", tool="fraud_check", key=None),
    Event("s", "usage_reported", 4.0, {"tokens": 7, "cost": 0.25}),
    Event("s", "usage_reported", 5.0, {"tokens": 3, "cost": 0.5}),
    Event("s", "labels_added", 6.0, {"labels": ["untrusted_content", "pii:EMAIL", "pii:EMAIL"]}),
    requested("other", "c1"),
]
MORE = [
    requested("s", "c4"),
    decided("s", "c4", "allow"),
    recorded("s", "c4", verified=True, outcome="unknown"),
    requested("s", "c5", key="t2"),
    decided("s", "c5", "allow", key="t2"),
    Event("s", "usage_reported", 7.0, {"tokens": 1, "cost": 1.0}),
    Event("s", "labels_added", 8.0, {"labels": ["pii:EMAIL", "a"]}),
]
ALL = FactsQuery(tool="make_payment", args_hash="h-c1", key_values=["t1", "t2"], all_results=True)


def lived(ledger: LedgerStore) -> None:
    for event in LIFE:
        with ledger.session(event.session_id) as tx:
            tx.append(event)


# -- the log and its facts --------------------------------------------------------------------
def test_events_are_appended_in_order_and_read_back(ledger: LedgerStore) -> None:
    lived(ledger)
    events = list(ledger.events("s"))
    assert [e.type for e in events] == [e.type for e in LIFE if e.session_id == "s"]
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    assert [e.payload for e in events] == [e.payload for e in LIFE if e.session_id == "s"]
    assert ledger.sessions() == ["other", "s"]
    assert len(list(ledger.events())) == len(LIFE)


def test_facts_fold_every_event(ledger: LedgerStore) -> None:
    lived(ledger)
    with ledger.read("s") as tx:
        facts = tx.facts(ALL)
    assert facts == {
        "calls": {"total": 2, "by_tool": {"make_payment": 2}},
        "repeats": 1,
        "pending": {},
        "results": {"make_payment": {"t1": {"status": "ok"}}},
        "by_key": {"make_payment": {"t1": {"pending": 0, "succeeded": 1, "failed": 1, "unknown": 0}}},
        "failures": {"make_payment": {"consecutive": 1, "last_failure_at": 3.0}},
        "usage": {"tokens": 10, "cost": 0.75},
        "agent_usage": {"day": None, "tokens": 0, "cost": 0},  # asked for no agent
        "labels": ["pii:EMAIL", "untrusted_content"],
    }


def test_history_version_and_find_call(ledger: LedgerStore) -> None:
    lived(ledger)
    with ledger.session("s") as tx:
        history = tx.history(3)
        assert [h["type"] for h in history] == ["usage_reported", "usage_reported", "labels_added"]
        assert history[-1]["labels"] == ["untrusted_content", "pii:EMAIL", "pii:EMAIL"]
        assert tx.version() == max(e.seq for e in ledger.events("s"))
        call = tx.find_call("c1")
        assert call is not None and (call.tool, call.key_value, call.verdict, call.has_result) == (
            "make_payment",
            "t1",
            "allow",
            True,
        )
        assert call.decision == {"verdict": "allow", "checkpoint": "authorize", "reasons": [{"code": "c-allow"}]}
        assert tx.find_call("nope") is None
    with ledger.read("empty") as tx:
        assert tx.version() == 0 and tx.history(10) == []


def test_a_failed_transaction_leaves_no_trace(ledger: LedgerStore) -> None:
    with pytest.raises(RuntimeError), ledger.session("s") as tx:
        tx.append(Event("s", "usage_reported", 1.0, {"tokens": 5, "cost": 0.5}))
        raise RuntimeError("decision failed half-way")
    assert list(ledger.events("s")) == []
    with ledger.session("s") as tx:
        assert tx.facts(FactsQuery())["usage"] == {"tokens": 0, "cost": 0}


@pytest.mark.parametrize(
    "event",
    [Event("s", "made_up", 1.0, {}), Event("other", "usage_reported", 1.0, {"tokens": 1})],
    ids=["unknown-type", "other-session"],
)
def test_events_a_session_cannot_take_are_refused(ledger: LedgerStore, event: Event) -> None:
    with pytest.raises(LedgerError), ledger.session("s") as tx:
        tx.append(event)
    assert list(ledger.events()) == []


def test_a_payload_reads_back_exactly_as_orjson_loads_it(ledger: LedgerStore) -> None:
    payload = {
        "z": 1,
        "a": [0.1, 1e300, -0.0, 2**63 - 1, 1.5e-300, True, None],
        "nul": "a\u0000b",
        "text": "é中😀\u202e<script>",
        "nested": {"b": {}, "a": []},
    }
    with ledger.session("s") as tx:
        tx.append(Event("s", "usage_reported", 1.0, {"tokens": 1, "cost": 0.0, "extra": payload}))
    (event,) = ledger.events("s")
    assert orjson.dumps(event.payload["extra"]) == orjson.dumps(payload)


def test_rebuilt_facts_equal_the_incremental_ones(ledger: LedgerStore) -> None:
    lived(ledger)
    with ledger.read("s") as tx:
        before = tx.facts(ALL), tx.history(100)
    ledger.rebuild_facts()
    with ledger.read("s") as tx:
        assert (tx.facts(ALL), tx.history(100)) == before


def test_config_records_are_kept_once_per_revision(ledger: LedgerStore) -> None:
    ledger.record_config("r1", {"max_calls": 3, "roles": {"payer": ["make_payment"]}})
    ledger.record_config("r1", {"max_calls": 99})  # a revision is its content: the first stays
    assert ledger.config("r1") == {"max_calls": 3, "roles": {"payer": ["make_payment"]}}
    assert ledger.config("r2") is None


# -- through the Guard ------------------------------------------------------------------------
def test_repeating_a_call_id_is_the_same_decision_and_no_new_spend(make_guard: Callable[..., Guard]) -> None:
    guard = make_guard()
    call = pay(amount=100)
    first = guard.authorize(call)
    assert first.verdict is Verdict.ALLOW
    assert guard.authorize(call) == first
    with guard.ledger.read("s1") as tx:
        assert tx.facts(FactsQuery())["calls"]["total"] == 1


def test_an_approval_allows_its_call_once_and_a_rebuild_keeps_the_tickets(make_guard: Callable[..., Guard]) -> None:
    guard = make_guard()
    call = pay(amount=5000)
    ticket = escalated(guard, call)
    assert guard.authorize(call).ticket == ticket  # pending: no second ticket
    other = escalated(guard, pay(txn="t2", amount=5000))
    guard.queue.claim(other, BOB)
    assert guard.queue.approve(ticket, ALICE, "known vendor").state is TicketState.APPROVED
    decision = guard.authorize(call)
    assert decision.verdict is Verdict.ALLOW and decision.codes == ("approved_by_reviewer",)
    assert guard.queue.get(ticket).used_by == call.id
    assert guard.authorize(pay(amount=5000)).verdict is Verdict.ESCALATE  # single use
    kinds = [e["type"] for e in guard.queue.get(ticket).trail]
    assert kinds == ["escalation_opened", "ticket_approved", "escalation_resolved", "approval_used"]
    before = [t.model_dump() for t in guard.queue.list()]
    guard.ledger.rebuild_facts()
    assert [t.model_dump() for t in guard.queue.list()] == before
    assert [t.id for t in guard.queue.list(states=["claimed"])] == [other]


def test_two_person_rule_and_resolving_twice(make_guard: Callable[..., Guard]) -> None:
    guard = make_guard(escalation=EscalationSettings(approvers_by_code={"amount_needs_approval": 2}))
    ticket = escalated(guard, pay(amount=5000))
    assert guard.queue.approve(ticket, ALICE).state is TicketState.OPEN
    with pytest.raises(EscalationError) as info:
        guard.queue.approve(ticket, ALICE)
    assert info.value.code == "duplicate_approval"
    assert set(guard.queue.approve(ticket, BOB).resolved_by) == {"alice", "bob"}
    with pytest.raises(EscalationError) as info:
        guard.queue.deny(ticket, reviewer("carol"), "late")
    assert info.value.code == "ticket_already_resolved"


def test_overdue_tickets_expire_once(make_guard: Callable[..., Guard]) -> None:
    now = [1_750_000_000.0]
    guard = make_guard(clock=lambda: now[0])
    ticket = escalated(guard, pay(amount=5000))
    assert guard.ledger.overdue(now[0]) == []
    now[0] += 3601
    assert guard.ledger.overdue(now[0]) == [(ticket, "s1")]
    assert guard.queue.expire() == [ticket]
    assert guard.queue.expire() == []
    assert guard.queue.get(ticket).state is TicketState.EXPIRED


# -- replicas and threads ---------------------------------------------------------------------
def test_eight_threads_on_two_replicas_spend_a_budget_of_one_once(make_guard: Callable[..., Guard]) -> None:
    replicas = [make_guard(config={"max_calls": 1}), make_guard(config={"max_calls": 1})]
    barrier = threading.Barrier(8)

    def attempt(n: int) -> bool:
        barrier.wait()
        return replicas[n % 2].authorize(pay(txn=f"t{n}", amount=10)).allowed

    with ThreadPoolExecutor(8) as pool:
        allowed = list(pool.map(attempt, range(8)))
    assert sum(allowed) == 1


def test_two_replicas_approving_one_ticket_at_once_one_wins(make_guard: Callable[..., Guard]) -> None:
    guard = make_guard()
    queues = [guard.queue, make_guard().queue]
    for round_ in range(3):
        ticket = escalated(guard, pay(txn=f"r{round_}", amount=5000))

        def act(i: int, ticket: str = ticket) -> None:
            queues[i % 2].approve(ticket, reviewer(f"r{i}"))

        assert race(6, act) == ["ticket_already_resolved"] * 5 + ["won"]
        assert [e["type"] for e in guard.queue.get(ticket).trail].count("escalation_resolved") == 1


def _approve_in_process(spec: tuple[str, str], ticket: str, name: str, start: Any, results: Any) -> None:
    queue = EscalationQueue(_open(spec))
    start.wait()
    try:
        queue.approve(ticket, reviewer(name))
        results.put("won")
    except EscalationError as exc:
        results.put(exc.code)
    queue.ledger.close()


def test_two_processes_approving_one_ticket_at_once_one_wins(
    make_guard: Callable[..., Guard], store: tuple[str, str]
) -> None:
    import time

    guard = make_guard(clock=time.time)  # the other processes read the real clock
    ticket = escalated(guard, pay(amount=5000))
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_approve_in_process, args=(store, ticket, f"p{i}", start, results)) for i in range(2)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
    assert sorted(results.get(timeout=5) for _ in procs) == ["ticket_already_resolved", "won"]
    assert guard.queue.get(ticket).state is TicketState.APPROVED


def test_money_moves_once_across_two_replicas(open_ledger: Callable[[], LedgerStore]) -> None:
    from guardrails import Agent
    from guardrails.config import load_settings

    params = load_settings(PAYMENTS / "railguard.toml").params
    tools = ToolRegistry.from_file(PAYMENTS / "tools.json")
    replicas = [
        Guard(policies=PolicySet.load(POLICIES), tools=tools, ledger=open_ledger(), config=params) for _ in range(2)
    ]
    agent = Agent(id="bot", roles=("payments_agent",))
    check = ToolCall(tool="fraud_check", args={"transaction_id": "tx1"}, session_id="s", agent=agent)
    assert replicas[0].authorize(check).allowed
    assert replicas[1].check_result(ToolResult(call_id=check.id, session_id="s", output={"status": "passed"})).allowed
    barrier = threading.Barrier(8)

    def attempt(n: int) -> bool:
        args = {"transaction_id": "tx1", "amount": 500.0 + n, "currency": "EUR", "recipient": "ACME-SUPPLIES-001"}
        barrier.wait()
        return replicas[n % 2].authorize(ToolCall(tool="make_payment", args=args, session_id="s", agent=agent)).allowed

    with ThreadPoolExecutor(8) as pool:
        allowed = list(pool.map(attempt, range(8)))
    assert sum(allowed) == 1
    for guard in replicas:
        guard.queue.close()


# -- the two stores agree ---------------------------------------------------------------------
def test_both_stores_fold_the_same_events_into_the_same_facts(tmp_path: Path, pg_cluster: Cluster) -> None:
    sqlite, postgres = _open(("sqlite", str(tmp_path / "l.db"))), _open(("postgres", _schema_dsn(pg_cluster)))
    try:
        for store in (sqlite, postgres):
            lived(store)
            store.rebuild_facts()
            for event in MORE:  # on rebuilt facts: the increments must carry on from them
                with store.session(event.session_id) as tx:
                    tx.append(event)

        def seen(store: LedgerStore) -> Any:
            with store.read("s") as tx:
                return tx.facts(ALL), tx.history(1000), tx.find_call("c2"), tx.version()

        assert seen(sqlite) == seen(postgres)
        assert list(sqlite.events()) == list(postgres.events())
    finally:
        sqlite.close()
        postgres.close()


# -- PostgreSQL only: failures are LedgerError, acknowledged events survive --------------------
@pytest.fixture
def pg_ledger(pg_cluster: Cluster) -> Iterator[Any]:
    from guardrails.ledger.postgres import PostgresLedger

    ledger = PostgresLedger(_schema_dsn(pg_cluster), pool_size=2)
    yield ledger
    ledger.close()


def test_a_refused_connection_is_a_ledger_error(pg_cluster: Cluster) -> None:
    from guardrails.ledger.postgres import PostgresLedger

    with pytest.raises(LedgerError, match="cannot open ledger"):
        PostgresLedger("postgresql://railguard@127.0.0.1:1/postgres", connect_timeout_s=2)


def test_text_postgres_cannot_hold_is_a_ledger_error_and_no_decision(pg_ledger: Any) -> None:
    with pytest.raises(LedgerError), pg_ledger.session("s\x00") as tx:
        tx.append(Event("s\x00", "usage_reported", 1.0, {"tokens": 1, "cost": 0.0}))
    with pytest.raises(LedgerError), pg_ledger.session("s") as tx:
        tx.append(requested("s", "c1", key="t\x00"))
    assert list(pg_ledger.events()) == []


def test_appending_in_a_read_snapshot_fails(pg_ledger: Any) -> None:
    with pytest.raises(LedgerError), pg_ledger.read("s") as tx:
        tx.append(Event("s", "usage_reported", 1.0, {"tokens": 1, "cost": 0.0}))


def test_a_caught_database_error_inside_a_transaction_is_not_committed_as_success(pg_ledger: Any) -> None:
    with pytest.raises(LedgerError, match="aborted"), pg_ledger.session("s") as tx:
        tx.append(requested("s", "c1"))
        try:
            tx.append(requested("s", "c1"))  # refused by the server: the transaction is aborted
        except Exception:  # a caller that swallows: the store must still refuse
            pass
    assert list(pg_ledger.events()) == []


def test_a_session_held_past_the_lock_timeout_fails_closed(pg_cluster: Cluster) -> None:
    from guardrails.ledger.postgres import PostgresLedger

    dsn = _schema_dsn(pg_cluster)
    holder, waiter = PostgresLedger(dsn), PostgresLedger(dsn, lock_timeout_s=0.2)
    try:
        with holder.session("s") as tx:
            tx.append(Event("s", "usage_reported", 1.0, {"tokens": 1, "cost": 0.0}))
            with pytest.raises(LedgerError, match="lock"), waiter.session("s"):
                pass
            with waiter.session("other") as other:  # other sessions are not held up
                other.append(Event("other", "usage_reported", 1.0, {"tokens": 1, "cost": 0.0}))
    finally:
        holder.close()
        waiter.close()


def test_acknowledged_events_survive_a_server_crash_and_the_pool_reconnects() -> None:
    from guardrails.ledger.postgres import PostgresLedger

    cluster = _new_cluster()  # its own: this test kills the server
    try:
        ledger = PostgresLedger(cluster.dsn, pool_size=2, acquire_timeout_s=1)
        for i in range(50):
            with ledger.session("s") as tx:
                tx.append(Event("s", "usage_reported", float(i), {"tokens": 1, "cost": 0.0}))
        cluster.stop("immediate")  # no shutdown checkpoint: recovery replays the WAL
        with pytest.raises(LedgerError), ledger.session("s") as tx:
            tx.facts(FactsQuery())
        cluster.start()
        # Stale pooled connections are replaced, not fatal (a loaded machine may need a few tries
        # of the 1-second acquire timeout while the pool reconnects).
        deadline = time.monotonic() + 30
        while True:
            try:
                with ledger.session("s") as tx:
                    assert tx.facts(FactsQuery())["usage"]["tokens"] == 50
                break
            except LedgerError:
                if time.monotonic() > deadline:
                    raise
        assert len(list(ledger.events("s"))) == 50
        ledger.close()
    finally:
        cluster.remove()


def test_usage_is_summed_per_agent_and_day_across_sessions(ledger: Any) -> None:
    day = 1_764_547_200.0  # 2025-12-01T00:00:00Z
    for session, at, cost in (("a", day + 10, 1.5), ("b", day + 20, 2.0), ("c", day + 86_400, 7.0)):
        with ledger.session(session) as tx:
            tx.append(Event(session, "usage_reported", at, {"tokens": 10, "cost": cost, "agent": "bot"}))
    with ledger.session("z") as tx:
        tx.append(Event("z", "usage_reported", day + 30, {"tokens": 1, "cost": 100.0}))  # unattributed
    with ledger.read("new") as tx:
        today = tx.facts(FactsQuery(agent_id="bot", day="2025-12-01"))["agent_usage"]
        tomorrow = tx.facts(FactsQuery(agent_id="bot", day="2025-12-02"))["agent_usage"]
        stranger = tx.facts(FactsQuery(agent_id="eve", day="2025-12-01"))["agent_usage"]
    assert today == {"day": "2025-12-01", "tokens": 20, "cost": 3.5}
    assert tomorrow == {"day": "2025-12-02", "tokens": 10, "cost": 7.0}
    assert stranger == {"day": "2025-12-01", "tokens": 0, "cost": 0}
