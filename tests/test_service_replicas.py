"""Two ``railguard serve`` replicas on one PostgreSQL ledger, as a load balancer would use them.

Many agents (threads with httpx) and reviewers hit both replicas at once: a ticket resolves
once however many reviewers press approve at the same moment, an approval releases one call,
a session's call budget holds across replicas, and when a replica is SIGKILLed mid-load every
answer it (or the other) acknowledged is in the ledger and no ticket is lost.

PostgreSQL runs in a throw-away cluster (tests/pg_cluster.py); the skip/fail rule is the one of
tests/test_ledger_postgres.py: skipped where it cannot start, a failure in CI (``CI`` or
``RAILGUARD_REQUIRE_POSTGRES`` set). Loopback only; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from guardrails import codes
from guardrails.service.keys import KeyStore
from tests.pg_cluster import Cluster, ClusterUnavailable, create_cluster
from tests.test_service_serve import COMMAND, ROOT, environment, free_port

REQUIRED = bool(os.environ.get("CI") or os.environ.get("RAILGUARD_REQUIRE_POSTGRES"))
EXAMPLE = ROOT / "examples" / "payments"
PAYMENT = {"currency": "EUR", "recipient": "ACME-SUPPLIES-001"}
#: The per-tool budget of lookup_customer in this deployment (the example's budgets, plus this one).
LOOKUP_BUDGET = 25


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"PostgreSQL is required here (CI) but unavailable: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    try:
        import psycopg  # noqa: F401 - the driver the ledger needs
    except ImportError as exc:
        _unavailable(str(exc))
    try:
        found = create_cluster()
    except ClusterUnavailable as exc:
        _unavailable(str(exc))
        raise
    yield found
    found.remove()


def fresh_schema(cluster: Cluster) -> str:
    """A DSN onto an empty schema of the cluster: one ledger for one pair of replicas."""
    import psycopg

    schema = f"r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{cluster.dsn}?options=-csearch_path%3D{schema}"


def query(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        return list(conn.execute(sql, params).fetchall())


# -- the replicas -------------------------------------------------------------------------------------
@dataclass
class Replica:
    base: str
    process: subprocess.Popen[str]
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        # Keep-alive per replica, as a load balancer's upstream pool; httpx.Client is thread-safe.
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        self.client = httpx.Client(base_url=self.base, timeout=30, limits=limits)

    def post(self, path: str, body: dict[str, Any] | None, key: str) -> httpx.Response:
        return self.client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})

    def get(self, path: str, key: str) -> httpx.Response:
        return self.client.get(path, headers={"Authorization": f"Bearer {key}"})


@dataclass
class Deployment:
    dsn: str
    replicas: list[Replica]
    agent: str
    alice: str
    bob: str

    def authorize(self, replica: Replica, tool: str, args: dict[str, Any], session: str, call_id: str) -> Any:
        body = {"tool": tool, "args": args, "session_id": session, "call_id": call_id}
        return replica.post("/v1/authorize", body, self.agent)

    def escalate(self, amount: float, first: Replica, second: Replica) -> tuple[str, str, dict[str, Any]]:
        """(session, ticket, args): the fraud check on one replica, the payment on the other."""
        session, txn = f"s-{uuid.uuid4().hex[:10]}", f"t-{uuid.uuid4().hex[:10]}"
        check = self.authorize(first, "fraud_check", {"transaction_id": txn}, session, f"fc-{txn}")
        assert check.status_code == 200 and check.json()["verdict"] == "allow", check.text
        result = {"call_id": f"fc-{txn}", "session_id": session, "output": {"status": "passed"}}
        assert first.post("/v1/results", result, self.agent).json()["verdict"] == "allow"
        args = {**PAYMENT, "transaction_id": txn, "amount": amount}
        paid = self.authorize(second, "make_payment", args, session, f"pay-{txn}")
        assert paid.status_code == 200 and paid.json()["verdict"] == "escalate", paid.text
        return session, str(paid.json()["ticket"]), args


def _deployment_file(where: Path) -> Path:
    text = (EXAMPLE / "railguard.toml").read_text()
    text = text.replace('"../../policies"', f'"{ROOT / "policies"}"').replace(
        '"tools.json"', f'"{EXAMPLE / "tools.json"}"'
    )
    text = text.replace("make_payment = 20,", f"make_payment = 20, lookup_customer = {LOOKUP_BUDGET},")
    assert f"lookup_customer = {LOOKUP_BUDGET}" in text
    (where / "railguard.toml").write_text(text)
    return where / "railguard.toml"


def start_replicas(where: Path, dsn: str, count: int = 2) -> Deployment:
    config = _deployment_file(where)
    keys = KeyStore(where / "keys.db")  # one key store file, shared by the replicas on this host
    made = [
        keys.create("payments-bot", ["agent:payments_agent"]),
        keys.create("alice", ["reviewer"]),
        keys.create("bob", ["reviewer"]),
    ]
    keys.close()
    replicas = []
    for _ in range(count):
        port = free_port()
        process = subprocess.Popen(
            [*COMMAND, "serve", "--config", str(config), "--ledger", dsn, "--keys", str(where / "keys.db"),
             "--port", str(port)],
            cwd=where, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        replicas.append(Replica(f"http://127.0.0.1:{port}", process))
    for replica in replicas:
        _wait_ready(replica)
    return Deployment(dsn, replicas, *made)


def _wait_ready(replica: Replica) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert replica.process.poll() is None, replica.process.communicate()[1]
        try:
            if replica.client.get("/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the replica did not start"
        time.sleep(0.2)


def stop_replicas(deployment: Deployment) -> None:
    for replica in deployment.replicas:
        replica.client.close()
        if replica.process.poll() is None:
            replica.process.send_signal(signal.SIGTERM)
    for replica in deployment.replicas:
        try:
            replica.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            replica.process.kill()
            replica.process.communicate()


@pytest.fixture(scope="module")
def pair(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    deployment = start_replicas(tmp_path_factory.mktemp("replicas"), fresh_schema(cluster))
    yield deployment
    stop_replicas(deployment)


def at_once(*actions: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Run the actions in threads released by one barrier: as close to simultaneous as it gets."""
    barrier = threading.Barrier(len(actions))

    def run(action: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait(timeout=10)
        return action()

    with ThreadPoolExecutor(len(actions)) as pool:
        return list(pool.map(run, actions))


def events_of(dsn: str, kind: str, ticket: str) -> int:
    rows = query(dsn, "SELECT payload FROM events WHERE type = %s", kind)
    return sum(1 for (payload,) in rows if orjson.loads(payload).get("ticket") == ticket)


# -- tickets ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("round_", range(8))
def test_two_reviewers_on_two_replicas_resolve_a_ticket_exactly_once(pair: Deployment, round_: int) -> None:
    a, b = pair.replicas
    _, ticket, _ = pair.escalate(2500, a, b)
    answers = at_once(
        lambda: a.post(f"/v1/tickets/{ticket}/approve", {"note": "alice"}, pair.alice),
        lambda: b.post(f"/v1/tickets/{ticket}/approve", {"note": "bob"}, pair.bob),
    )
    assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
    loser = next(r for r in answers if r.status_code == 409)
    assert loser.json()["code"] == codes.TICKET_ALREADY_RESOLVED
    winner = next(r for r in answers if r.status_code == 200).json()
    assert winner["state"] == "approved" and len(winner["approvals"]) == 1
    assert events_of(pair.dsn, "escalation_resolved", ticket) == 1
    assert events_of(pair.dsn, "ticket_approved", ticket) == 1


def test_the_two_person_rule_counts_both_reviewers_across_replicas(pair: Deployment) -> None:
    a, b = pair.replicas
    _, ticket, _ = pair.escalate(7000, b, a)  # above two_person_above = 5000
    answers = at_once(
        lambda: a.post(f"/v1/tickets/{ticket}/approve", None, pair.alice),
        lambda: b.post(f"/v1/tickets/{ticket}/approve", None, pair.bob),
    )
    assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
    found = a.get(f"/v1/tickets/{ticket}", pair.alice).json()
    assert found["state"] == "approved" and sorted(x["by"] for x in found["approvals"]) == ["alice", "bob"]
    assert events_of(pair.dsn, "escalation_resolved", ticket) == 1


def test_an_approval_releases_one_retry_across_replicas(pair: Deployment) -> None:
    a, b = pair.replicas
    session, ticket, args = pair.escalate(2500, a, b)
    assert a.post(f"/v1/tickets/{ticket}/approve", None, pair.alice).status_code == 200
    retries = at_once(
        *(
            (lambda r=replica, n=n: pair.authorize(r, "make_payment", args, session, f"retry-{n}-{ticket}"))
            for n, replica in enumerate([a, b, a, b])
        )
    )
    assert all(r.status_code == 200 for r in retries)
    assert [r.json()["verdict"] for r in retries].count("allow") == 1, [r.json()["verdict"] for r in retries]


# -- budgets ------------------------------------------------------------------------------------------
def test_a_sessions_call_budget_is_never_overspent_across_replicas(pair: Deployment) -> None:
    session = f"s-budget-{uuid.uuid4().hex[:8]}"
    attempts = LOOKUP_BUDGET * 3

    def lookup(n: int) -> httpx.Response:
        replica = pair.replicas[n % 2]
        return pair.authorize(replica, "lookup_customer", {"customer_id": f"c{n}"}, session, f"lk-{session}-{n}")

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lookup, range(attempts)))
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers if r.status_code != 200]
    verdicts = [r.json()["verdict"] for r in answers]
    assert verdicts.count("allow") == LOOKUP_BUDGET
    refused = {c["code"] for r in answers if r.json()["verdict"] == "deny" for c in r.json()["reasons"]}
    assert refused == {"tool_call_budget_exceeded"}
    counted = query(pair.dsn, "SELECT n FROM call_counts WHERE session_id = %s AND tool = 'lookup_customer'", session)
    assert counted == [(LOOKUP_BUDGET,)]


# -- a replica dies -----------------------------------------------------------------------------------
@dataclass
class Acknowledged:
    """What the replicas answered with 200, by call id (and the tickets they opened)."""

    verdicts: dict[str, str] = field(default_factory=dict)
    tickets: dict[str, str] = field(default_factory=dict)
    approvals: set[str] = field(default_factory=set)
    failures: int = 0
    errors: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def guarded(self, loop: Callable[..., None], *args: Any) -> threading.Thread:
        """A thread running ``loop``; an assertion failing inside it is kept for the test to raise."""

        def run() -> None:
            try:
                loop(*args)
            except BaseException as exc:  # re-raised in the test's own thread
                with self.lock:
                    self.errors.append(exc)

        return threading.Thread(target=run)

    def record(self, call_id: str, response: httpx.Response) -> dict[str, Any]:
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        with self.lock:
            self.verdicts[call_id] = body["verdict"]
            if body["verdict"] == "escalate":
                self.tickets[call_id] = body["ticket"]
        return body


def _agent(deployment: Deployment, seen: Acknowledged, stop: threading.Event, seed: int) -> None:
    """An agent's loop: a fraud check, its result, then a payment that escalates; each request to
    a random replica. A request the dead replica cannot answer ends the iteration."""
    rng = random.Random(seed)
    for _ in range(200):  # bounded even if the stop never comes
        if stop.is_set():
            return
        session, txn = f"s-{seed}-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"
        try:
            replica = rng.choice(deployment.replicas)
            check = deployment.authorize(replica, "fraud_check", {"transaction_id": txn}, session, f"fc-{txn}")
            if seen.record(f"fc-{txn}", check)["verdict"] != "allow":
                continue
            result = {"call_id": f"fc-{txn}", "session_id": session, "output": {"status": "passed"}}
            assert rng.choice(deployment.replicas).post("/v1/results", result, deployment.agent).status_code == 200
            args = {**PAYMENT, "transaction_id": txn, "amount": rng.choice([50, 2500])}
            paid = deployment.authorize(rng.choice(deployment.replicas), "make_payment", args, session, f"pay-{txn}")
            seen.record(f"pay-{txn}", paid)
        except httpx.TransportError:
            with seen.lock:
                seen.failures += 1


def _reviewer(deployment: Deployment, seen: Acknowledged, stop: threading.Event, key: str, seed: int) -> None:
    """A reviewer's loop: list open tickets on one replica, approve one on another."""
    rng = random.Random(seed)
    for _ in range(200):
        if stop.is_set():
            return
        try:
            listing = rng.choice(deployment.replicas).get("/v1/tickets?state=open&limit=20", key)
            open_ = [t["id"] for t in listing.json()] if listing.status_code == 200 else []
            if not open_:
                time.sleep(0.02)
                continue
            ticket = rng.choice(open_)
            answer = rng.choice(deployment.replicas).post(f"/v1/tickets/{ticket}/approve", None, key)
            if answer.status_code == 200:
                with seen.lock:
                    seen.approvals.add(ticket)
            else:
                assert answer.status_code == 409, answer.text  # the other reviewer was first
        except httpx.TransportError:
            with seen.lock:
                seen.failures += 1


@pytest.mark.slow
def test_a_replica_killed_mid_load_loses_no_acknowledged_decision_and_no_ticket(
    cluster: Cluster, tmp_path: Path
) -> None:
    deployment = start_replicas(tmp_path, fresh_schema(cluster))
    seen, stop = Acknowledged(), threading.Event()
    workers = [seen.guarded(_agent, deployment, seen, stop, n) for n in range(12)]
    workers += [
        seen.guarded(_reviewer, deployment, seen, stop, key, 100 + n)
        for n, key in enumerate([deployment.alice, deployment.bob])
    ]
    try:
        for worker in workers:
            worker.start()
        time.sleep(2.0)
        before_kill = len(seen.verdicts)
        deployment.replicas[0].process.send_signal(signal.SIGKILL)
        time.sleep(2.0)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
        survivor = deployment.replicas[1]
        survivor_alive = survivor.process.poll() is None
        listed = survivor.get("/v1/tickets?limit=1000", deployment.alice) if survivor_alive else None
        stop_replicas(deployment)

    assert not any(w.is_alive() for w in workers)
    if seen.errors:
        raise seen.errors[0]
    assert before_kill > 50 and len(seen.verdicts) > before_kill  # load on both sides of the kill
    assert seen.failures > 0  # the dead replica was still being asked
    assert survivor_alive

    decided = {
        call_id: orjson.loads(payload)["decision"]["verdict"]
        for call_id, payload in query(
            deployment.dsn, "SELECT call_id, payload FROM events WHERE type = 'decision' AND call_id = ANY(%s)",
            list(seen.verdicts),
        )
        if orjson.loads(payload)["checkpoint"] == "authorize"
    }  # fmt: skip
    missing = sorted(set(seen.verdicts) - set(decided))
    assert missing == [], f"{len(missing)} acknowledged decisions not in the ledger: {missing[:5]}"
    assert {c: decided[c] for c in seen.verdicts} == seen.verdicts

    stored = dict(query(deployment.dsn, "SELECT ticket, state FROM tickets"))
    assert seen.tickets and set(seen.tickets.values()) <= set(stored)
    assert all(stored[t] == "approved" for t in seen.approvals)
    assert listed is not None and {t["id"] for t in listed.json()} >= set(seen.tickets.values())


# -- the command line ---------------------------------------------------------------------------------
@pytest.mark.parametrize("given", ["flag", "config"])
def test_serve_keeps_a_postgres_dsn_as_given(tmp_path: Path, given: str) -> None:
    """A DSN is no path: resolved as one, ``//`` folds and the Guard opens a SQLite file by that name."""
    from guardrails.service.cli import _resolve

    dsn = "postgresql://railguard@127.0.0.1:5432/postgres?options=-csearch_path%3Dx"
    config = _deployment_file(tmp_path)
    if given == "config":
        config.write_text(config.read_text().replace('ledger = "railguard.db"', f'ledger = "{dsn}"'))
    args = argparse.Namespace(config=str(config), ledger=dsn if given == "flag" else None, keys=None)
    _, ledger, keys = _resolve(args)
    assert ledger == dsn
    assert keys == Path.cwd().resolve() / "railguard-keys.db"


def test_the_workers_socket_gives_its_connections_tcp_nodelay() -> None:
    from guardrails.service.cli import _listening_socket

    listener = _listening_socket("127.0.0.1", 0)
    listener.listen()
    with listener, socket.create_connection(listener.getsockname()):
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_serve_with_two_workers_answers_a_keep_alive_client_without_delayed_acks(tmp_path: Path) -> None:
    """Without TCP_NODELAY each sequential response waits ~40 ms for the client's delayed ACK."""
    port = free_port()
    server = subprocess.Popen(
        [*COMMAND, "serve", "--port", str(port), "--workers", "2"],
        cwd=tmp_path, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    replica = Replica(f"http://127.0.0.1:{port}", server)
    try:
        _wait_ready(replica)
        timings = []
        for _ in range(30):
            started = time.perf_counter()
            assert replica.client.get("/health").status_code == 200
            timings.append(time.perf_counter() - started)
    finally:
        replica.client.close()
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert sorted(timings)[len(timings) // 2] < 0.025, f"median {sorted(timings)[15] * 1000:.1f} ms"
    assert server.returncode in (0, -signal.SIGTERM), stderr
