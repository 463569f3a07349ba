"""Every runnable example runs and tells the story it promises."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_example_denies_then_allows():
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "pay before the fraud check: deny ['fraud_check_required']" in done.stdout
    assert "pay after it: allow []" in done.stdout
