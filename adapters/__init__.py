"""Tool wrappers and framework integrations (in-process and over the sidecar).

The foundation ships only this package's place; the adapters themselves follow in
their own issue and build on :class:`guardrails.Guard`.
"""
