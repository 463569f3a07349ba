"""Benchmark: authorize through the sidecar's HTTP stack (``railguard serve``), open loop.

For each ledger (SQLite, PostgreSQL) and worker count (1, 2): start ``railguard serve`` on a
loopback port, time calls one at a time on one connection (the service time), then send
POST /v1/authorize at fixed rates (default 50, 100, 250, 500, 750 req/s,
--duration seconds each). Open loop: request i is due at start + i/rate whatever the earlier
answers, and its latency counts from when it was due, so a server that falls behind shows it
(no coordinated omission). A rate whose p99 passes 1 s or that leaves answers missing ends the
ladder for that server: higher rates would only measure the queue.

In the same run, ``Guard.authorize`` in-process on the same deployment and ledger kind, closed
loop: HTTP p50 / in-process p50 is the HTTP stack's cost (keys, JSON, uvicorn, threadpool).
Calls are customer look-ups (allowed, distinct arguments) over 100 sessions, budgets raised.

    python bench/serve.py                        # full ladder, SQLite and PostgreSQL
    python bench/serve.py --quick                # smoke: SQLite, 1 worker, a few hundred requests
    python bench/serve.py --rates 200,400 --duration 5 --ledgers sqlite --workers 1

Loopback only; every step is bounded in requests and time. PostgreSQL runs in a throw-away
cluster (tests/pg_cluster.py) and is left out, with a note, where it cannot start. Absolute
figures on a shared 2-core machine are noisy (the load generator shares the cores): read ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from guardrails import Agent, ToolCall, Verdict  # noqa: E402
from guardrails.factory import guard_from_config  # noqa: E402
from guardrails.service.keys import KeyStore  # noqa: E402

EXAMPLE = ROOT / "examples" / "payments"
SESSIONS = 100
TARGET_P99_MS = 10.0
#: A step whose p99 passes this is past saturation: the ladder stops for that server.
GIVE_UP_P99_MS = 1000.0
CONNECTIONS = 32
AGENT = Agent(id="bench", roles=("payments_agent",))


# -- the deployment -----------------------------------------------------------------------------------
def write_deployment(where: Path) -> Path:
    """The payments example with absolute paths and budgets out of the way (a long run would hit them)."""
    text = (EXAMPLE / "railguard.toml").read_text()
    replacements = {
        '"../../policies"': f'"{ROOT / "policies"}"',
        '"tools.json"': f'"{EXAMPLE / "tools.json"}"',
        "max_calls_total = 200": "max_calls_total = 1000000000",
        "max_calls_per_tool = { make_payment = 20, send_email = 50 }": "max_calls_per_tool = {}",
    }
    for old, new in replacements.items():
        if old not in text:
            raise SystemExit(f"bench/serve.py: the example railguard.toml no longer has {old!r}; update the bench")
        text = text.replace(old, new)
    (where / "railguard.toml").write_text(text)
    return where / "railguard.toml"


def call_body(i: int, run: str) -> dict[str, Any]:
    return {
        "tool": "lookup_customer",
        "args": {"customer_id": f"c-{run}-{i}"},
        "session_id": f"{run}-{i % SESSIONS}",
    }


# -- in-process ---------------------------------------------------------------------------------------
@dataclass
class Row:
    ledger: str
    workers: str
    rate: str
    sent: int
    ok: int
    achieved: float
    lat_ms: tuple[float, float] | None
    note: str = ""


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def in_process(config: Path, ledger: str, calls: int, label: str) -> Row:
    guard = guard_from_config(config, ledger_path=ledger)
    run = uuid.uuid4().hex[:6]
    try:
        for i in range(min(100, calls)):  # warm-up
            _inproc_call(guard, call_body(-1 - i, run))
        samples = []
        t0 = time.perf_counter()
        for i in range(calls):
            body = call_body(i, run)
            started = time.perf_counter()
            _inproc_call(guard, body)
            samples.append(time.perf_counter() - started)
        elapsed = time.perf_counter() - t0
    finally:
        guard.close()
    return Row(label, "-", "closed loop", calls, calls, calls / elapsed, percentiles(samples), "Guard.authorize")


def _inproc_call(guard: Any, body: dict[str, Any]) -> None:
    decision = guard.authorize(
        ToolCall(tool=body["tool"], args=body["args"], session_id=body["session_id"], agent=AGENT)
    )
    if decision.verdict is not Verdict.ALLOW:
        raise SystemExit(f"bench/serve.py: in-process call not allowed: {decision.codes}")


# -- the server ---------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(config: Path, ledger: str, keys: Path, workers: int) -> Iterator[int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("GOGC", "RAILGUARD_SERVE_REEXEC")}
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "guardrails.service", "serve", "--config", str(config), "--ledger", ledger,
               "--keys", str(keys), "--port", str(port), "--workers", str(workers)]  # fmt: skip
    # uvicorn logs every request; to a pipe nobody reads it would block the server, so: /dev/null.
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _ready(port):
            if server.poll() is not None:
                raise SystemExit(f"bench/serve.py: railguard serve exited with {server.returncode}")
            if time.monotonic() > deadline:
                raise SystemExit("bench/serve.py: railguard serve did not become ready in 60 s")
            time.sleep(0.2)
        yield port
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /ready HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


# -- the load generator -------------------------------------------------------------------------------
def request_bytes(body: dict[str, Any], key: str) -> bytes:
    """A whole HTTP/1.1 request, built before the clock starts: the client spends little per call."""
    payload = orjson.dumps(body)
    head = (
        f"POST /v1/authorize HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


@dataclass
class Step:
    latencies: list[float] = field(default_factory=list)
    failed: int = 0


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bool:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length)
    return head.startswith(b"HTTP/1.1 200") and b'"verdict":"allow"' in body


async def _open_loop(port: int, requests: list[bytes], rate: float, limit_s: float) -> Step:
    loop = asyncio.get_running_loop()
    due: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    step = Step()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (item := await due.get()) is not None:
                at, request = item
                try:
                    ok = await _exchange(reader, writer, request)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    step.failed += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                if ok:
                    step.latencies.append(loop.time() - at)
                else:
                    step.failed += 1
        finally:
            writer.close()

    start = loop.time() + 0.05
    workers = [asyncio.create_task(connection()) for _ in range(CONNECTIONS)]
    for i, request in enumerate(requests):
        at = start + i / rate
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        due.put_nowait((at, request))
    for _ in workers:
        due.put_nowait(None)
    _, pending = await asyncio.wait(workers, timeout=max(0.0, start + limit_s - loop.time()))
    for task in pending:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    return step


async def _serial(port: int, requests: list[bytes]) -> Step:
    """One connection, each request sent when the last is answered: the service time of one call."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    step = Step()
    try:
        for request in requests:
            started = time.perf_counter()
            if await _exchange(reader, writer, request):
                step.latencies.append(time.perf_counter() - started)
            else:
                step.failed += 1
    finally:
        writer.close()
    return step


def ladder(
    port: int, key: str, rates: list[float], duration: float, serial: int, ledger: str, workers: int
) -> list[Row]:
    run = uuid.uuid4().hex[:6]
    warm = [request_bytes(call_body(-1 - i, run), key) for i in range(100)]
    asyncio.run(_open_loop(port, warm, 200.0, 30.0))
    requests = [request_bytes(call_body(-1000 - i, run), key) for i in range(serial)]
    t0 = time.perf_counter()
    step = asyncio.run(asyncio.wait_for(_serial(port, requests), timeout=60 + serial))
    elapsed = time.perf_counter() - t0
    lat = percentiles(step.latencies) if step.latencies else None
    rows = [
        Row(ledger, str(workers), "serial, 1 conn", serial, len(step.latencies), len(step.latencies) / elapsed, lat)
    ]
    offset = 0
    for rate in rates:
        count = max(1, int(rate * duration))
        requests = [request_bytes(call_body(offset + i, run), key) for i in range(count)]
        offset += count
        t0 = time.perf_counter()
        # Bounded: whatever is unanswered 10 s after the last request was due counts as failed.
        step = asyncio.run(_open_loop(port, requests, rate, duration + 10.0))
        elapsed = time.perf_counter() - t0
        ok = len(step.latencies)
        lat = percentiles(step.latencies) if step.latencies else None
        rows.append(Row(ledger, str(workers), f"{rate:g}", count, ok, ok / elapsed, lat))
        if ok < count or lat is None or lat[1] > GIVE_UP_P99_MS:
            rows[-1].note = "saturated: higher rates skipped"
            break
    return rows


# -- PostgreSQL ---------------------------------------------------------------------------------------
@contextmanager
def postgres() -> Iterator[Callable[[], str] | None]:
    """A function giving a DSN onto a fresh schema of a throw-away cluster; None where none starts."""
    try:
        import psycopg

        from tests.pg_cluster import ClusterUnavailable, create_cluster
    except ImportError as exc:
        print(f"note: PostgreSQL left out: {exc}", file=sys.stderr)
        yield None
        return
    try:
        cluster = create_cluster()
    except ClusterUnavailable as exc:
        print(f"note: PostgreSQL left out: {exc}", file=sys.stderr)
        yield None
        return

    def fresh() -> str:
        schema = f"b_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        return f"{cluster.dsn}?options=-csearch_path%3D{schema}"

    try:
        yield fresh
    finally:
        cluster.remove()


# -- the report ---------------------------------------------------------------------------------------
def print_report(rows: list[Row], baselines: dict[str, Row], args: argparse.Namespace) -> None:
    print(
        f"\nauthorize through railguard serve (uvicorn, {CONNECTIONS} keep-alive connections, open loop, "
        f"{args.duration:g} s per rate) and in-process Guard.authorize; customer look-ups over {SESSIONS} sessions\n"
    )
    print("| ledger | workers | rate req/s | sent | ok | achieved req/s | p50 / p99 ms | p50 vs in-process | note |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        lat = "n/a" if row.lat_ms is None else f"{row.lat_ms[0]:.2f} / {row.lat_ms[1]:.2f}"
        base = baselines.get(row.ledger)
        ratio = "n/a"
        if row.lat_ms is not None and base is not None and base.lat_ms is not None:
            ratio = f"{row.lat_ms[0] / base.lat_ms[0]:.2f}x"
        print(
            f"| {row.ledger} | {row.workers} | {row.rate} | {row.sent} | {row.ok} | {row.achieved:,.0f} "
            f"| {lat} | {ratio} | {row.note} |"
        )
    print(f"\nhighest rate holding p99 <= {TARGET_P99_MS:g} ms (that rate and every lower one, no failures):\n")
    for (ledger, workers), held in _held(rows).items():
        print(f"- {ledger}, {workers} worker(s): {held}")


def _held(rows: list[Row]) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for row in rows:
        if row.workers == "-" or row.rate.startswith("serial"):
            continue
        key = (row.ledger, row.workers)
        if found.get(key, "").endswith("!"):
            continue  # an earlier rate already missed
        if row.ok == row.sent and row.lat_ms is not None and row.lat_ms[1] <= TARGET_P99_MS:
            found[key] = f"{row.rate} req/s"
        else:
            found[key] = (found.get(key) or "none of the rates tried") + "!"
    return {k: v.rstrip("!") for k, v in found.items()}


def main() -> int:
    if "GOGC" not in os.environ:
        # As railguard serve does for itself: the embedded OPA engine reads GOGC at process start.
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "GOGC": "400"})
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default=None, help="request rates, req/s (default 50,100,250,500,750)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per rate (default 3)")
    parser.add_argument("--ledgers", default=None, help="sqlite,postgres (default both)")
    parser.add_argument("--workers", default=None, help="worker counts (default 1,2)")
    parser.add_argument("--quick", action="store_true", help="smoke: SQLite, 1 worker, a few hundred requests")
    args = parser.parse_args()
    quick = {"rates": "50,100", "duration": 1.5, "ledgers": "sqlite", "workers": "1"}
    full = {"rates": "50,100,250,500,750", "duration": 3.0, "ledgers": "sqlite,postgres", "workers": "1,2"}
    for name, default in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    rates = [float(r) for r in args.rates.split(",")]
    ledgers = [name.strip() for name in args.ledgers.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]
    if not rates or min(rates) <= 0 or args.duration <= 0 or set(ledgers) - {"sqlite", "postgres"}:
        parser.error("--rates > 0, --duration > 0, --ledgers of sqlite,postgres")
    inproc_calls, serial = (200, 50) if args.quick else (3000, 500)
    load_before = os.getloadavg()[0]

    rows: list[Row] = []
    baselines: dict[str, Row] = {}
    databases = postgres() if "postgres" in ledgers else nullcontext(None)
    with tempfile.TemporaryDirectory(prefix="railguard-bench-serve-") as tmp_name, databases as fresh_dsn:
        tmp = Path(tmp_name)
        config = write_deployment(tmp)
        keys_path = tmp / "keys.db"
        keys = KeyStore(keys_path)
        key = keys.create("bench-agent", ["agent:payments_agent"])
        keys.close()
        files = itertools.count()

        def fresh_ledger(kind: str) -> str:
            """Each server and the in-process run start on an empty ledger of their own."""
            return fresh_dsn() if kind == "postgres" and fresh_dsn else str(tmp / f"ledger-{next(files)}.db")

        for ledger in ledgers:
            if ledger == "postgres" and fresh_dsn is None:
                continue
            baselines[ledger] = in_process(config, fresh_ledger(ledger), inproc_calls, ledger)
            rows.append(baselines[ledger])
            for workers in worker_counts:
                with serving(config, fresh_ledger(ledger), keys_path, workers) as port:
                    rows.extend(ladder(port, key, rates, args.duration, serial, ledger, workers))
    print_report(rows, baselines, args)
    load_after, cores = os.getloadavg()[0], os.cpu_count() or 1
    print(f"\nload average (1 min) {load_before:.1f} before, {load_after:.1f} after, on {cores} cores", end="")
    print(
        ": the machine was busy with other work, absolute figures are inflated"
        if max(load_before, load_after) > cores
        else ""
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
