"""bench/serve.py runs end to end on loopback and prints its table (figures are read by people,
not asserted): a real ``railguard serve``, the open-loop ladder, the in-process row."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_serve_benchmark_prints_its_table() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "serve.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "| ledger | workers | rate req/s | sent | ok |" in done.stdout
    assert "| sqlite | - | closed loop |" in done.stdout  # the in-process baseline
    served = [line for line in done.stdout.splitlines() if line.startswith("| sqlite | 1 |")]
    assert served and all(line.split("|")[4] == line.split("|")[5] for line in served)  # every request answered
    assert "highest rate holding p99 <= 10 ms" in done.stdout
