"""The sidecar: Railguard over HTTP (``railguard serve``), with a reviewer console.

Needs the ``service`` extra (FastAPI, uvicorn, Jinja2, python-multipart). Imported lazily, so
that ``guardrails.service.cli`` (wired into ``railguard``) loads without the extra installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guardrails.service.app import create_app
    from guardrails.service.keys import Caller, KeyStore

__all__ = ["Caller", "KeyStore", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from guardrails.service.app import create_app

        return create_app
    if name in ("Caller", "KeyStore"):
        from guardrails.service import keys

        return getattr(keys, name)
    raise AttributeError(f"module 'guardrails.service' has no attribute {name!r}")
