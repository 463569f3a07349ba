"""Each adapter example runs (scripted model, no network) and tells the payment story."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import ROOT

EXAMPLES = ROOT / "examples" / "adapters"

STORY = {
    "openai_dispatch.py": [
        "pay 250 EUR before a fraud check: deny ['fraud_check_required']",
        "pay 250 EUR after it: allow",
        "pay 2500 EUR: escalate ['amount_needs_approval']",
        "reviewer approved, same call again: allow",
    ],
    "openai_agents.py": [
        "c1: deny ['fraud_check_required']",
        "c3: allow",
        "c5: escalate, interrupted for approval, ticket",
        "c5: allow",
    ],
    "langchain_agent.py": [
        "c1: deny ['fraud_check_required']",
        "c3: allow",
        "lc-c5: escalate ['amount_needs_approval'], interrupted, ticket",
        "c5: allow",
    ],
}


@pytest.mark.parametrize("name", sorted(STORY))
def test_adapter_example_tells_the_payment_story(name):
    done = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    for line in STORY[name]:
        assert line in done.stdout, done.stdout
    assert done.stdout.count("payment_id") == 2  # the allowed payment and the approved one, each once
