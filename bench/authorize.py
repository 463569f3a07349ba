"""Benchmark: authorize a tool call in-process with the bundled policies.

For sessions with 0, 100 and 1,000 prior calls, side by side in one run:
  railguard  - Guard.authorize end to end (canonicalise, schema, session facts from
               SQLite, Rego over the facts, ledger append), p50/p99 over --calls calls;
  bare       - the same engine evaluating the same bundled Rego on the same (facts)
               input, alone: railguard/bare is the middleware's own overhead;
  opa-full   - the real OPA engine judging the fraud-check rule over the full history
               passed as input (what every peer does);
  regopy-full- the same with regopy (fewer iterations: it is slow).
Ratios are what to read; absolute times on a shared machine are noisy.

Then: throughput with 1, 2 and 4 threads; the largest inputs the default limits accept,
decided end to end; ledger bytes per decision against the call's canonical size.

    python bench/authorize.py                     # full run (10,000 calls per size)
    python bench/authorize.py --calls 300 --quick # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from guardrails import Agent, ToolCall, ToolRegistry, ToolResult, Verdict  # noqa: E402
from guardrails.calls import with_args  # noqa: E402
from guardrails.canonical import DEFAULT_LIMITS, dumps  # noqa: E402
from guardrails.config import load_settings  # noqa: E402
from guardrails.engines import PolicySet, create_engine  # noqa: E402
from guardrails.engines import opa as opa_engine  # noqa: E402
from guardrails.factory import guard_from_settings  # noqa: E402
from guardrails.pipeline import TOOL_CALL_PACKAGE, Guard  # noqa: E402

CONFIG = ROOT / "examples" / "payments" / "railguard.toml"
AGENT = Agent(id="bench", roles=("payments_agent",))
SESSIONS = 50


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def timed(fn: Any, n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return percentiles(samples)


def seed_session(guard: Guard, session: str, history: int) -> list[dict[str, Any]]:
    """``history`` prior calls (fraud checks with results, customer look-ups); returns them as peers see them."""
    events: list[dict[str, Any]] = []
    for i in range(history):
        if i % 2 == 0:
            call = ToolCall(tool="fraud_check", args={"transaction_id": f"t-{i}"}, session_id=session, agent=AGENT)
            output: dict[str, Any] = {"status": "passed", "score": 0.01}
        else:
            call = ToolCall(tool="lookup_customer", args={"customer_id": f"c-{i}"}, session_id=session, agent=AGENT)
            output = {"name": "x"}
        decision = guard.authorize(call)
        if decision.verdict is not Verdict.ALLOW:
            raise SystemExit(f"seeding failed: {call.tool} {decision.codes}")
        guard.check_result(ToolResult(call_id=call.id, session_id=session, output=output))
        events.append({"tool": call.tool, "args": call.args, "result": output})
    return events


def clone_session(db: Path, template: str, copies: list[str]) -> None:
    """Copy a seeded session's rows under new ids (cheaper than seeding each one)."""
    conn = sqlite3.connect(db)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        if "session_id" not in cols:
            continue
        keep = [c for c in cols if c != "seq"]
        select = ", ".join("?" if c == "session_id" else c for c in keep)
        for sid in copies:
            conn.execute(
                f"INSERT INTO {table} ({', '.join(keep)}) SELECT {select} FROM {table} WHERE session_id = ?",
                (sid, template),
            )
    conn.commit()
    conn.close()


def payment(session: str, i: int) -> ToolCall:
    # Checked transaction t-0 when the session has history; alternate amounts so some escalate.
    amount = 100 + i % 800 if i % 4 else 2000 + i % 800  # distinct args: no loop detection
    return ToolCall(
        tool="make_payment",
        session_id=session,
        agent=AGENT,
        args={"transaction_id": "t-0", "amount": amount, "currency": "EUR", "recipient": "ACME-SUPPLIES-001"},
    )


def run(history: int, calls: int, peer_calls: int, engine: str, tmp: Path) -> dict[str, Any]:
    db = tmp / f"bench-{history}.db"
    guard = deployment(db, engine)
    template = "template"
    events = seed_session(guard, template, history)
    sessions = [f"s-{k}" for k in range(SESSIONS)]
    clone_session(db, template, sessions)

    counter = iter(range(10**9))

    def authorize() -> None:
        i = next(counter)
        guard.authorize(payment(sessions[i % SESSIONS], i))

    for _ in range(min(200, calls)):
        authorize()  # warm-up
    ours = timed(authorize, calls)

    # The exact policy input the Guard built, evaluated by the engine alone.
    last = next(e for e in reversed(list(guard.ledger.events(sessions[0]))) if e.type == "decision")
    call_event = next(e for e in guard.ledger.events(sessions[0]) if e.call_id == last.call_id)
    policy_input = with_args(last.payload["input"], call_event.payload["call"]["args"])
    bare = timed(lambda: guard.engine.evaluate(TOOL_CALL_PACKAGE, policy_input), calls)

    peer_input = {"call": {"tool": "make_payment", "args": payment("x", 1).args}, "history": events}
    peers: dict[str, tuple[float, float] | None] = {"opa-full": None, "regopy-full": None}
    full = PolicySet.from_sources({"full_history.rego": (ROOT / "bench" / "full_history.rego").read_text()})
    for name, engine_name, n in (("opa-full", "opa", peer_calls), ("regopy-full", "regopy", max(20, peer_calls // 20))):
        if engine_name == "opa" and not opa_engine.available():
            continue
        if engine_name == "regopy" and history > 1000:
            continue  # its input parsing is worse than linear: seconds per call at 10,000 prior calls
        peer = create_engine(engine_name)
        peer.prepare(full)
        expected = history > 0
        got = peer.document("data.bench.full_history.allow", peer_input)
        if got != (True, expected):
            raise SystemExit(f"{name}: full-history rule answered {got}, expected {expected}")
        peers[name] = timed(lambda p=peer: p.document("data.bench.full_history.allow", peer_input), n)
    guard.close()
    return {"history": history, "ours": ours, "bare": bare, **peers, "engine": guard.engine.name}


def deployment(db: Path, engine: str, extra_tools: dict[str, Any] | None = None) -> Guard:
    """The payments deployment with budgets out of the way (a long session would hit them)."""
    settings = load_settings(CONFIG)
    budgets = {**settings.params["budgets"], "max_calls_total": 10**6, "max_calls_per_tool": {"make_payment": 10**6}}
    roles = {**settings.params["roles"], "payments_agent": [*settings.params["roles"]["payments_agent"], "bulk"]}
    params = {**settings.params, "budgets": budgets, "roles": roles}
    guard = guard_from_settings(settings.model_copy(update={"params": params}), ledger_path=db, engine=engine)
    if extra_tools:
        guard.tools = ToolRegistry.from_mapping(
            {**json.loads((CONFIG.parent / "tools.json").read_text()), **extra_tools}
        )
    return guard


def threads(calls: int, engine: str, tmp: Path) -> list[dict[str, Any]]:
    """Throughput and latency with 1, 2 and 4 threads, each on its own sessions."""
    rows = []
    for n in (1, 2, 4):
        guard = deployment(tmp / f"threads-{n}.db", engine)
        per_thread = max(50, calls // n)
        samples: list[list[float]] = [[] for _ in range(n)]

        def work(k: int, guard: Guard = guard, samples: list[list[float]] = samples, per: int = per_thread) -> None:
            for i in range(per):
                call = ToolCall(
                    tool="lookup_customer", args={"customer_id": f"c{i}"}, session_id=f"t{k}-{i % 20}", agent=AGENT
                )
                t0 = time.perf_counter()
                guard.authorize(call)
                samples[k].append(time.perf_counter() - t0)

        workers = [threading.Thread(target=work, args=(k,)) for k in range(n)]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - t0
        guard.close()
        merged = [x for per in samples for x in per]
        rows.append({"threads": n, "per_s": len(merged) / elapsed, "lat": percentiles(merged)})
    return rows


BULK = {"bulk": {"args": {"type": "object"}, "description": "accepts any object: the largest inputs the limits allow"}}


def largest_inputs(engine: str, tmp: Path, repeat: int) -> list[dict[str, Any]]:
    """The largest payloads the default limits accept, each decided ``repeat`` times: p50/p99."""
    limits = DEFAULT_LIMITS
    values = limits.max_nodes - 10
    shapes: dict[str, Any] = {
        f"array of {values:,} numbers": {"items": list(range(values))},
        # an object counts itself, each key and each value
        f"{values // 5:,} objects (~{values:,} values)": {"items": [{"a": i, "b": "x"} for i in range(values // 5)]},
        f"string of {limits.max_bytes // 1024 - 1} KiB": {"blob": "x" * (limits.max_bytes - 1024)},
        f"nested {limits.max_depth - 1} deep": _nested(limits.max_depth - 1),
    }
    guard = deployment(tmp / "inputs.db", engine, BULK)
    agent = Agent(id="bench", roles=("payments_agent",))
    rows = []
    for name, args in shapes.items():
        samples = []
        for i in range(repeat):
            call = ToolCall(tool="bulk", args=args, session_id=f"big-{i}", agent=agent)
            t0 = time.perf_counter()
            decision = guard.authorize(call)
            samples.append(time.perf_counter() - t0)
            if decision.verdict is not Verdict.ALLOW:
                raise SystemExit(f"largest input {name!r} was not decided allow: {decision.codes}")
        rows.append({"input": name, "lat": percentiles(samples)})
    guard.close()
    return rows


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def ledger_bytes(engine: str, tmp: Path) -> list[dict[str, Any]]:
    """Bytes the ledger file grows by per decision (WAL checkpointed), against the call's canonical size."""
    rows = []
    for name, size in (("payment (small arguments)", 0), ("argument of 200 KiB", 200 * 1024)):
        db = tmp / f"bytes-{size}.db"
        guard = deployment(db, engine, BULK)
        n = 200 if size == 0 else 40

        def call(i: int, size: int = size) -> ToolCall:
            if size:
                return ToolCall(tool="bulk", args={"blob": f"{i:08d}" + "y" * size}, session_id="b", agent=AGENT)
            return payment("b", i)

        guard.authorize(call(-1))
        _checkpoint(db)
        before = db.stat().st_size
        canonical = 0
        for i in range(n):
            c = call(i)
            canonical += len(dumps(c.args).encode())
            guard.authorize(c)
        guard.close()
        _checkpoint(db)
        grown = (db.stat().st_size - before) / n
        per_call = canonical / n
        rows.append({"call": name, "bytes": grown, "canonical": per_call, "ratio": grown / per_call})
    return rows


def _checkpoint(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def main() -> int:
    if "GOGC" not in os.environ:
        # The embedded OPA engine's Go runtime reads GOGC only at process start (README, Benchmark).
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "GOGC": "400"})
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000, help="authorize calls per history size")
    parser.add_argument("--histories", default="0,1000,10000")
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--quick", action="store_true", help="fewer peer iterations (smoke test)")
    parser.add_argument("--json", default=None, help="also write the rows as JSON to this file")
    args = parser.parse_args()
    peer_calls = 50 if args.quick else 1_000
    rows = []
    with tempfile.TemporaryDirectory(prefix="railguard-bench-") as tmp:
        for history in (int(h) for h in args.histories.split(",")):
            rows.append(run(history, args.calls, peer_calls, args.engine, Path(tmp)))

    def fmt(pair: tuple[float, float] | None) -> str:
        return "n/a" if pair is None else f"{pair[0]:.3f} / {pair[1]:.3f}"

    print(
        f"\nauthorize, bundled policies, engine {rows[0]['engine']}, {args.calls} calls per size "
        f"(p50 / p99 ms; history = prior calls in the session, growing by {args.calls // SESSIONS} during the run; "
        f"GOGC={os.environ.get('GOGC')})\n"
    )
    print(
        "| history | railguard authorize | bare engine eval | overhead (p50 ratio) "
        "| OPA full history | regopy full history | OPA full / railguard (p50) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        overhead = r["ours"][0] / r["bare"][0]
        vs = f"{r['opa-full'][0] / r['ours'][0]:.2f}x" if r["opa-full"] else "n/a"
        print(
            f"| {r['history']:,} | {fmt(r['ours'])} | {fmt(r['bare'])} | {overhead:.2f}x "
            f"| {fmt(r['opa-full'])} | {fmt(r['regopy-full'])} | {vs} |"
        )
    target = all(r["ours"][0] <= 0.5 and r["ours"][1] <= 1.5 for r in rows)
    print(f"\ntarget p50 <= 0.5 ms and p99 <= 1.5 ms at every size: {'met' if target else 'NOT met'} on this run")

    with tempfile.TemporaryDirectory(prefix="railguard-bench-") as tmp:
        thread_rows = threads(args.calls, args.engine, Path(tmp))
        input_rows = largest_inputs(args.engine, Path(tmp), 10 if args.quick else 100)
        byte_rows = ledger_bytes(args.engine, Path(tmp))
    single = thread_rows[0]["per_s"]
    print("\nthreads, each on its own sessions (customer look-ups)\n")
    print("| threads | decisions/s | vs 1 thread | p50 / p99 ms |")
    print("|---|---|---|---|")
    for r in thread_rows:
        print(f"| {r['threads']} | {r['per_s']:,.0f} | {r['per_s'] / single:.2f}x | {fmt(r['lat'])} |")
    four = thread_rows[-1]["lat"][1]
    print(f"\ntarget p99 <= 5 ms with 4 threads: {'met' if four <= 5 else 'NOT met'} on this run ({four:.2f} ms)")
    print(f"\nlargest inputs the default limits accept ({DEFAULT_LIMITS}), decided end to end\n")
    print("| input | p50 / p99 ms |")
    print("|---|---|")
    for r in input_rows:
        print(f"| {r['input']} | {fmt(r['lat'])} |")
    worst = max(r["lat"][1] for r in input_rows)
    print(
        f"\ntarget p99 <= 20 ms for any input within the limits: {'met' if worst <= 20 else 'NOT met'} ({worst:.1f} ms)"
    )
    print("\nledger bytes per decision (file growth after a WAL checkpoint)\n")
    print("| call | bytes per decision | canonical call size | ratio |")
    print("|---|---|---|---|")
    for r in byte_rows:
        print(f"| {r['call']} | {r['bytes']:,.0f} | {r['canonical']:,.0f} | {r['ratio']:.2f}x |")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"histories": rows, "threads": thread_rows, "inputs": input_rows, "ledger": byte_rows}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
