"""Benchmark: what observers add to Guard.authorize, as ratios against no observers in the same run.

Variants, each on its own Guard and ledger with the bundled payments deployment, timed in
interleaved rounds so that machine noise falls on all of them alike:
  none              - no observers (the Guard does no observability work at all);
  none (control)    - a second Guard without observers: how far two identical set-ups differ
                      on this machine in this run (the noise floor of the ratios);
  metrics+tracing   - DecisionMetrics and DecisionTracer on the OpenTelemetry API with no SDK
                      installed as provider (every span a no-op), as a deployment without a
                      collector runs;
  decision log      - DecisionLog to a rotating file, masked by data.railguard.log on the
                      Guard's engine and PII-scanned (on its own thread);
  all               - the three together.
Then the cost of each observer's on_decision alone, on the caller's thread, in microseconds.

    python bench/observability.py                     # 5,000 calls per variant
    python bench/observability.py --calls 400 --quick # smoke
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from authorize import SESSIONS, clone_session, deployment, payment, percentiles, seed_session  # noqa: E402

from guardrails.observability.decision_log import DecisionLog  # noqa: E402
from guardrails.observability.metrics import DecisionMetrics  # noqa: E402
from guardrails.observability.sinks import FileSink  # noqa: E402
from guardrails.observability.tracing import DecisionTracer  # noqa: E402
from guardrails.pipeline import Guard  # noqa: E402

HISTORY = 10  # prior calls per session: payments are judged on real facts (allowed, escalated, denied)


def observers_for(variant: str, guard: Guard, tmp: Path) -> tuple[list[Any], DecisionLog | None]:
    log = None
    found: list[Any] = []
    if variant in ("metrics+tracing", "all"):
        found += [DecisionMetrics(tools=guard.tools), DecisionTracer()]
    if variant in ("decision log", "all"):
        sink = FileSink(tmp / f"decisions-{variant.replace(' ', '-')}.log", max_bytes=50 * 1024 * 1024, backups=1)
        log = DecisionLog([sink], engine=guard.engine)
        found.append(log)
    return found, log


def build(variant: str, tmp: Path, engine: str) -> tuple[Guard, DecisionLog | None]:
    db = tmp / f"bench-{variant.replace(' ', '-').replace('+', '-')}.db"
    guard = deployment(db, engine)
    seed_session(guard, "template", HISTORY)
    clone_session(db, "template", [f"s-{k}" for k in range(SESSIONS)])
    observers, log = observers_for(variant, guard, tmp)
    guard.observers = observers  # after seeding: only the timed decisions are observed
    return guard, log


def main() -> int:
    if "GOGC" not in os.environ:
        # As bench/authorize.py: the embedded OPA engine's Go runtime reads GOGC at process start.
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "GOGC": "400"})
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5_000, help="timed authorize calls per variant")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds the calls are split into")
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and micro-benchmark iterations (smoke)")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    per_round = max(1, args.calls // rounds)
    variants = ["none", "none (control)", "metrics+tracing", "decision log", "all"]
    with tempfile.TemporaryDirectory(prefix="railguard-bench-obs-") as tmpdir:
        tmp = Path(tmpdir)
        built = {v: build(v, tmp, args.engine) for v in variants}
        samples: dict[str, list[float]] = {v: [] for v in variants}
        counters = {v: iter(range(10**9)) for v in variants}

        def one(variant: str) -> float:
            guard = built[variant][0]
            i = next(counters[variant])
            call = payment(f"s-{i % SESSIONS}", i)
            t0 = time.perf_counter()
            guard.authorize(call)
            return time.perf_counter() - t0

        for variant in variants:  # warm-up: engine pools, caches, first file open
            for _ in range(min(200, per_round)):
                one(variant)
        for r in range(rounds):
            for variant in variants[r % len(variants) :] + variants[: r % len(variants)]:  # rotate the order
                samples[variant].extend(one(variant) for _ in range(per_round))
        drained = {}
        for variant, (_guard, log) in built.items():
            if log is not None:
                t0 = time.perf_counter()
                log.flush(120)
                drained[variant] = (time.perf_counter() - t0, log.stats())
        micro = observer_costs(built["all"][0], 500 if args.quick else 5_000)
        engine_name = built["none"][0].engine.name
        for guard, log in built.values():
            if log is not None:
                log.close()
            guard.close()

    base = percentiles(samples["none"])
    print(
        f"\nauthorize with observers, bundled payments policies, engine {engine_name}, "
        f"{per_round * rounds} calls per variant in {rounds} interleaved rounds (GOGC={os.environ.get('GOGC')})\n"
    )
    print("| observers | p50 ms | p99 ms | p50 / none | p99 / none |")
    print("|---|---|---|---|---|")
    for variant in variants:
        p50, p99 = percentiles(samples[variant])
        print(f"| {variant} | {p50:.3f} | {p99:.3f} | {p50 / base[0]:.2f}x | {p99 / base[1]:.2f}x |")
    for variant, (seconds, stats) in drained.items():
        print(
            f"\ndecision log ({variant}): {stats['written']:,} events written, {stats['dropped']} dropped, "
            f"{stats['mask_errors']} mask errors; {seconds * 1000:.0f} ms to drain after the last call"
        )
    print("\nobserver.on_decision alone, on the caller's thread (one authorize decision replayed)\n")
    print("| observer | median us |")
    print("|---|---|")
    for name, us in micro.items():
        print(f"| {name} | {us:.1f} |")
    return 0


def observer_costs(guard: Guard, n: int) -> dict[str, float]:
    """Median microseconds of each observer's on_decision for a real authorize decision."""
    captured: list[tuple[Any, Any]] = []

    class Capture:
        def on_decision(self, decision: Any, context: Any) -> None:
            captured.append((decision, context))

    observers = guard.observers
    guard.observers = [Capture()]
    guard.authorize(payment("s-0", 10**8))
    guard.observers = observers
    decision, context = captured[0]
    costs: dict[str, float] = {}
    for observer in observers:
        name = type(observer).__name__
        if name == "DecisionLog":
            name += " (enqueue)"
        costs[name] = _median_us(lambda o=observer: o.on_decision(decision, context), n)
        if name.startswith("DecisionLog"):
            observer.flush(60)
            costs["DecisionLog (mask + scan + serialise, its own thread)"] = _median_us(
                lambda o=observer: o.event(decision, context), max(50, n // 10)
            )
    return costs


def _median_us(fn: Callable[[], Any], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


if __name__ == "__main__":
    raise SystemExit(main())
