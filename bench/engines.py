"""Benchmark: the in-process Rego engines side by side on the bundled policies (same run, same input).

Per installed engine: start-up (prepare), one decision by the engine alone (p50 / p99), the same
through ``Guard.authorize``, and two threads against one. Ratios against OPA are what to read.

    python bench/engines.py                # 3,000 decisions per engine
    python bench/engines.py --calls 200    # smoke
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from authorize import AGENT, deployment, seed_session, timed  # noqa: E402

from guardrails import ToolCall  # noqa: E402
from guardrails.calls import with_args  # noqa: E402
from guardrails.engines import PolicySet, create_engine, installed  # noqa: E402
from guardrails.engines.base import config_data  # noqa: E402
from guardrails.pipeline import TOOL_CALL_PACKAGE  # noqa: E402


def lookup(session: str, i: int) -> ToolCall:
    return ToolCall(tool="lookup_customer", args={"customer_id": f"c{i}"}, session_id=session, agent=AGENT)


def measure(name: str, calls: int, tmp: Path) -> dict[str, Any]:
    guard = deployment(tmp / f"{name}.db", name)
    seed_session(guard, "seed", 20)
    for i in range(200):
        guard.authorize(lookup(f"w{i % 10}", i))
    counter = iter(range(10**9))
    ours = timed(lambda: guard.authorize(lookup(f"s{next(counter) % 50}", next(counter))), calls)
    last = next(
        e for e in reversed(list(guard.ledger.events("seed"))) if e.type == "decision" and e.payload.get("input")
    )
    call = next(e for e in guard.ledger.events("seed") if e.call_id == last.call_id and e.type == "call_requested")
    document = with_args(last.payload["input"], call.payload["call"]["args"])
    bare = timed(lambda: guard.engine.evaluate(TOOL_CALL_PACKAGE, document), calls)

    per_thread = max(50, calls // 2)
    samples: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        mine = []
        for _ in range(per_thread):
            t0 = time.perf_counter()
            guard.engine.evaluate(TOOL_CALL_PACKAGE, document)
            mine.append(time.perf_counter() - t0)
        with lock:
            samples.extend(mine)

    workers = [threading.Thread(target=work) for _ in range(2)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    two = len(samples) / (time.perf_counter() - t0)
    one = 1 / max(bare[0] / 1000, 1e-9)
    guard.close()

    engine = create_engine(name, pool_size=1)
    policies = PolicySet.load(ROOT / "policies")
    t0 = time.perf_counter()
    engine.prepare(policies, config_data({}))
    prepare_ms = (time.perf_counter() - t0) * 1000
    return {"engine": name, "bare": bare, "guard": ours, "two_threads": two / one, "prepare_ms": prepare_ms}


def main() -> int:
    if "GOGC" not in os.environ:
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "GOGC": "400"})
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="railguard-engines-") as tmp:
        rows = [measure(name, args.calls, Path(tmp)) for name in installed()]
    base = next((r for r in rows if r["engine"] == "opa"), rows[0])
    print(f"\nbundled policies, {args.calls} decisions per engine (p50 / p99 ms; ratios against {base['engine']})\n")
    print("| engine | engine alone | vs | Guard.authorize | vs | 2 threads / 1 (engine alone) | prepare ms |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['engine']} | {r['bare'][0]:.3f} / {r['bare'][1]:.3f} | {r['bare'][0] / base['bare'][0]:.2f}x "
            f"| {r['guard'][0]:.3f} / {r['guard'][1]:.3f} | {r['guard'][0] / base['guard'][0]:.2f}x "
            f"| {r['two_threads']:.2f}x | {r['prepare_ms']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
