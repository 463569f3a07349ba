"""The benchmark runs and prints its table (figures are read by people, not asserted)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_prints_its_table():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "authorize.py"), "--calls", "200", "--histories", "0,100", "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "| history | railguard authorize |" in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith("| 0 |") or line.startswith("| 100 |")]
    assert len(rows) == 2


def test_screening_benchmark_prints_its_table():
    import pytest

    pytest.importorskip("presidio_analyzer", reason="the screening extra is part of the test install")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "screen.py"), "--quick"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert "| 10 KB |" in done.stdout and "presidio / railguard" in done.stdout
