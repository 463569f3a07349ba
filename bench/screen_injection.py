"""Benchmark: the prompt-injection detector's latency, model size and measured accuracy.

p50 / p99 of ``InjectionDetector.detect`` (cache off) on realistic tool outputs of 1 KB,
10 KB and 100 KB, the shipped model's size on disk, and the evaluation table that
``scripts/train_injection.py`` wrote beside the model (held-out sources never trained on).

    python bench/screen_injection.py            # 200 / 100 / 20 calls per size
    python bench/screen_injection.py --quick    # smoke
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from guardrails.screening.injection import InjectionDetector  # noqa: E402

PACKAGE = ROOT / "guardrails/screening/injection"
PARAGRAPH = (
    "From: Dana Okafor <dana@northwind.com>\nSubject: Re: Q3 planning\n\nHi Sam, please ignore my previous email; "
    "the review moved to Thursday at 10:30 in Room 4B. Bring your laptop and make sure the billing dashboard is "
    "updated. Do not forward this outside the company. Latency on the API gateway improved by 12% after the cache "
    "change. Run `make migrate` before you deploy.\n\n"
)


def text_of(size: int, salt: int) -> str:
    body = (PARAGRAPH * (size // len(PARAGRAPH) + 1))[: size - 12]
    return f"{body}[{salt:010d}]"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    started = time.perf_counter()
    detector = InjectionDetector(cache_size=0)
    detector.detect("warm up")
    print(f"load (model + thresholds, first call): {(time.perf_counter() - started) * 1e3:.0f} ms")
    for model in sorted(PACKAGE.glob("model*.npz")):
        print(f"model file: {model.stat().st_size / 1e6:.2f} MB ({model.name})")
    print("\n| size | calls | p50 ms | p99 ms | ms per KB |\n|---|---|---|---|---|")
    for size, calls in ((1_000, 200), (10_000, 100), (100_000, 20)):
        calls = max(3, calls // 10) if args.quick else calls
        times = []
        for i in range(calls):
            text = text_of(size, i)
            t0 = time.perf_counter()
            detector.detect(text, "tool_output")
            times.append((time.perf_counter() - t0) * 1e3)
        times.sort()
        p50 = statistics.median(times)
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(f"| {size // 1000} KB | {calls} | {p50:.2f} | {p99:.2f} | {p50 / (size / 1000):.3f} |")
    cached = InjectionDetector()
    text = text_of(10_000, 0)
    cached.detect(text, "tool_output")
    t0 = time.perf_counter()
    for _ in range(1000):
        cached.detect(text, "tool_output")
    print(f"\ncache hit (10 KB): {(time.perf_counter() - t0):.3f} ms per call (hash of the text + LRU lookup)")

    evaluation = PACKAGE / "evaluation.json"
    if evaluation.exists():
        table = json.loads(evaluation.read_text())["table"]
        print("\nevaluation (from scripts/train_injection.py):")
        print("| split | source | channel | pos | neg | AUC | R@1%FPR | R@5%FPR | R@escalate | FPR@escalate |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in table:
            cells = [
                r["split"],
                r["source"],
                r["channel"],
                r["n_pos"],
                r["n_neg"],
                r["auc"],
                r["recall_at_1pct_fpr"],
                r["recall_at_5pct_fpr"],
                r["recall_at_escalate"],
                r["fpr_at_escalate"],
            ]
            print("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
