"""Benchmark: the screening checkpoint, PII + injection together, beside presidio's default engine.

Texts of 1 KB, 10 KB and 100 KB (the PII corpus's texts joined: PII-dense, with hard
negatives), screened end to end by ``PiiScreener`` + ``InjectionScreener`` (cache off: each text
once), against presidio's default ``AnalyzerEngine`` (no NLP model) on the same texts in the
same run. A repeated text hits the injection cache: that row too. Per-part tables:
``bench/screen_pii.py`` (precision/recall), ``bench/screen_injection.py`` (accuracy).

    python bench/screen.py           # 20 / 10 / 3 repetitions per size
    python bench/screen.py --quick   # smoke
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from screen_pii import SIZES_KB, load_corpus, p50_ms, presidio_default, synthetic_text  # noqa: E402

from guardrails.screening import InjectionScreener, PiiScreener  # noqa: E402
from guardrails.screening.injection import InjectionDetector  # noqa: E402
from guardrails.stages.run import screen_only  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    reps = {1: 5, 10: 3, 100: 1} if args.quick else {1: 20, 10: 10, 100: 3}
    rows = load_corpus()
    cold = [PiiScreener(cache_size=0), InjectionScreener(InjectionDetector(cache_size=0))]
    warm = [PiiScreener(), InjectionScreener()]
    presidio = presidio_default()
    print("\nscreening, PII + injection together (p50 ms; presidio: its default AnalyzerEngine, no model)\n")
    print(
        "| text | railguard PII + injection | per KB | repeated text (cache) "
        "| presidio default (PII only) | presidio / railguard |"
    )
    print("|---|---|---|---|---|---|")
    for kb in SIZES_KB:
        text = synthetic_text(rows, kb * 1024, seed=kb)
        ours = p50_ms(lambda text=text: screen_only(cold, text, "tool_output"), reps[kb])
        screen_only(warm, text, "tool_output")
        cached = p50_ms(lambda text=text: screen_only(warm, text, "tool_output"), reps[kb])
        theirs = p50_ms(lambda text=text: presidio.analyze(text=text, language="en"), max(1, reps[kb] // 2))
        print(f"| {kb} KB | {ours:.2f} | {ours / kb:.2f} | {cached:.2f} | {theirs:.1f} | {theirs / ours:.1f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
