"""The observability benchmark runs and prints its table (figures are read by people, not asserted)."""

import subprocess
import sys

import pytest

from .conftest import ROOT


def test_observability_benchmark_prints_ratios_against_no_observers():
    pytest.importorskip("prometheus_client")
    pytest.importorskip("opentelemetry")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "observability.py"), "--calls", "150", "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    names = [row.split("|")[1].strip() for row in rows]
    assert {"none", "metrics+tracing", "decision log", "all"} <= set(names)
    assert "| none |" in done.stdout and "1.00x | 1.00x |" in done.stdout
    assert "0 dropped" in done.stdout
