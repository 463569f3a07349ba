"""Benchmark: PII screening, Railguard's recognizers against presidio's default engine, in one run.

Rows, for synthetic texts of 1, 10 and 100 KB (tests/data/pii/corpus.jsonl texts, with and
without PII, concatenated in a seeded order):
  railguard           - PiiScanner.scan: our recognizers called directly;
  railguard/presidio  - the same recognizers inside a presidio AnalyzerEngine (analyzer_engine());
  presidio default    - presidio's AnalyzerEngine with its predefined recognizers. Its default
                        constructor would download a spaCy model; here it gets presidio's
                        NoOpNlpEngine (no model, so no NER: PERSON/LOCATION/ORGANIZATION are out
                        of scope for every row), and tldextract reads its bundled suffix list.
p50 in ms over --reps-scaled repetitions; the ratio presidio/railguard at 10 KB is the headline.

Then precision and recall of railguard and presidio on the corpus (300 texts, half PII-free with
hard negatives). A finding counts when its entity type matches a labelled span it overlaps;
presidio's findings of types outside the label set (URL, DATE_TIME, UUID...) are left out.

    python bench/screen_pii.py            # full run (under ~2 minutes)
    python bench/screen_pii.py --quick    # smoke (under ~20 s)
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from guardrails.screening.pii import SUPPORTED_ENTITIES, PiiScanner, analyzer_engine  # noqa: E402
from guardrails.screening.pii.presidio import LANGUAGE, offline_tldextract  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "pii" / "corpus.jsonl"
SIZES_KB = (1, 10, 100)

Span = tuple[str, int, int]


def load_corpus() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]


def synthetic_text(rows: list[dict[str, Any]], size: int, seed: int) -> str:
    """Corpus texts in a seeded order, joined by blank lines, up to ``size`` characters."""
    rng = random.Random(seed)
    parts: list[str] = []
    length = 0
    while length < size:
        text = rng.choice(rows)["text"]
        parts.append(text)
        length += len(text) + 2
    return "\n\n".join(parts)[:size]


def presidio_default() -> Any:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    offline_tldextract()
    nlp_engine = NoOpNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": "no_op"}])
    return AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=[LANGUAGE])


def p50_ms(fn: Callable[[], object], reps: int) -> float:
    fn()  # warm-up: compiled patterns, lazy loads
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def score(gold: list[list[Span]], predicted: list[list[Span]]) -> tuple[float, float, Counter[str], Counter[str]]:
    """Overlap-based precision and recall; per-entity counts of labelled spans found and of all labelled."""
    true_positive = predicted_total = found = 0
    found_by_entity: Counter[str] = Counter()
    gold_by_entity: Counter[str] = Counter()
    for gold_spans, predicted_spans in zip(gold, predicted, strict=True):
        predicted_total += len(predicted_spans)
        true_positive += sum(1 for p in predicted_spans if any(_match(p, g) for g in gold_spans))
        for g in gold_spans:
            gold_by_entity[g[0]] += 1
            if any(_match(p, g) for p in predicted_spans):
                found += 1
                found_by_entity[g[0]] += 1
    gold_total = sum(gold_by_entity.values())
    precision = true_positive / predicted_total if predicted_total else 1.0
    recall = found / gold_total if gold_total else 1.0
    return precision, recall, found_by_entity, gold_by_entity


def _match(predicted: Span, gold: Span) -> bool:
    return predicted[0] == gold[0] and predicted[1] < gold[2] and gold[1] < predicted[2]


def spans_of(results: Iterable[Any]) -> list[Span]:
    return [(r.entity_type, r.start, r.end) for r in results if r.entity_type in SUPPORTED_ENTITIES]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    args = parser.parse_args(argv)

    rows = load_corpus()
    scanner = PiiScanner()
    ours_in_presidio = analyzer_engine()
    presidio = presidio_default()

    # Repetitions per size: ours is cheap, presidio's default is superlinear.
    if args.quick:
        reps = {1: (50, 5), 10: (20, 2), 100: (5, 1)}
    else:
        reps = {1: (300, 30), 10: (100, 10), 100: (20, 3)}

    print("## PII screening: p50 per text (ms)\n")
    print("| text | railguard | railguard/presidio | presidio default | presidio default / railguard |")
    print("|---|---|---|---|---|")
    headline = 0.0
    for kb in SIZES_KB:
        text = synthetic_text(rows, kb * 1024, seed=kb)
        ours_reps, presidio_reps = reps[kb]
        ours = p50_ms(lambda text=text: scanner.scan(text), ours_reps)
        wrapped = p50_ms(lambda text=text: ours_in_presidio.analyze(text, language=LANGUAGE), max(3, ours_reps // 10))
        theirs = p50_ms(lambda text=text: presidio.analyze(text, language=LANGUAGE), presidio_reps)
        ratio = theirs / ours
        if kb == 10:
            headline = ratio
        print(f"| {kb} KB | {ours:.2f} | {wrapped:.2f} | {theirs:.1f} | {ratio:.0f}x |")

    gold = [[(s["entity_type"], s["start"], s["end"]) for s in row["spans"]] for row in rows]
    ours_spans = [[(s.entity_type, s.start, s.end) for s in scanner.scan(row["text"])] for row in rows]
    presidio_spans = [spans_of(presidio.analyze(row["text"], language=LANGUAGE)) for row in rows]
    ours_p, ours_r, ours_found, gold_count = score(gold, ours_spans)
    theirs_p, theirs_r, theirs_found, _ = score(gold, presidio_spans)
    exact = sum(len(set(g) & set(o)) for g, o in zip(gold, ours_spans, strict=True)) / max(1, sum(map(len, gold)))
    clean_rows = [i for i, row in enumerate(rows) if row["kind"] == "clean"]

    print(f"\n## Precision / recall on {CORPUS.relative_to(ROOT)} ({len(rows)} texts, {len(clean_rows)} PII-free)\n")
    print("| engine | precision | recall | findings on PII-free texts |")
    print("|---|---|---|---|")
    for name, precision, recall, predicted in (
        ("railguard", ours_p, ours_r, ours_spans),
        ("presidio default", theirs_p, theirs_r, presidio_spans),
    ):
        false_alarms = sum(len(predicted[i]) for i in clean_rows)
        print(f"| {name} | {precision:.2f} | {recall:.2f} | {false_alarms} |")
    print(f"\nrailguard spans with exact boundaries: {exact:.2f} of labelled spans\n")

    print("| entity | labelled | railguard found | presidio found |")
    print("|---|---|---|---|")
    for entity in sorted(gold_count):
        print(f"| {entity} | {gold_count[entity]} | {ours_found[entity]} | {theirs_found[entity]} |")

    print(f"\nheadline: at 10 KB railguard is {headline:.0f}x faster than presidio's default engine")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
