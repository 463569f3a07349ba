"""Screening: PII and secrets (``pii``), prompt injection (``injection``), as pipeline screeners.

Needs the ``screening`` extra (numpy for the injection model; presidio-analyzer only for
presidio's own API). ``Guard(screeners=[PiiScreener(), InjectionScreener()])``, or
``[screening]`` in ``railguard.toml``.
"""

from guardrails.screening.redaction import ACTIONS, PiiActions
from guardrails.screening.screeners import InjectionScreener, PiiScreener

__all__ = ["ACTIONS", "InjectionScreener", "PiiActions", "PiiScreener"]
