"""Build a Guard from ``railguard.toml``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from guardrails.canonical import Limits
from guardrails.config import OpaServerSection, Settings, load_settings
from guardrails.engines import SERVER_ENGINE, PolicyEngine, PolicySet, create_engine
from guardrails.errors import ConfigError
from guardrails.escalation import EscalationSettings, Terms, TicketListener
from guardrails.ledger import SQLiteLedger
from guardrails.ledger.base import LedgerStore
from guardrails.pipeline import Guard
from guardrails.registry import ToolRegistry
from guardrails.stages.base import DecisionObserver, Screener


def guard_from_config(path: str | Path, *, ledger_path: str | Path | None = None, engine: str | None = None) -> Guard:
    """Start a Guard as a deployment describes it; every problem surfaces here, at start-up."""
    return guard_from_settings(load_settings(path), ledger_path=ledger_path, engine=engine)


def guard_from_settings(
    settings: Settings,
    *,
    ledger_path: str | Path | None = None,
    engine: str | None = None,
    tools: ToolRegistry | None = None,
    screeners: Sequence[Screener] | None = None,
) -> Guard:
    """``tools`` / ``screeners``: what an adapter brings instead of the deployment's (the MCP proxy
    takes its registry from the upstream servers)."""
    rg = settings.railguard
    guard = Guard(
        policies=PolicySet.load(settings.path(rg.policies)),
        tools=tools if tools is not None else ToolRegistry.from_file(settings.path(rg.tools)),
        ledger=ledger_from(settings, ledger_path),
        config=settings.params,
        engine=engine_from(settings, engine or rg.engine),
        limits=Limits(settings.limits.max_bytes, settings.limits.max_depth, settings.limits.max_nodes),
        result_confidence_threshold=settings.thresholds.result_confidence,
        output_confidence_threshold=settings.thresholds.output_confidence,
        screeners=screeners if screeners is not None else screeners_from(settings),
        escalation=escalation_from(settings),
        ticket_listeners=ticket_listeners_from(settings),
    )
    try:
        guard.observers.extend(observers_from(settings, guard))
    except BaseException:
        guard.close()
        raise
    return guard


def observers_from(settings: Settings, guard: Guard) -> list[DecisionObserver]:
    """The decision log, metrics and tracer ``[observability]`` asks for (they need the extra)."""
    section = settings.observability
    found: list[DecisionObserver] = []
    if section.decision_log is None and not section.metrics and not section.tracing:
        return found
    try:
        from guardrails.observability.decision_log import DecisionLog
        from guardrails.observability.metrics import DecisionMetrics
        from guardrails.observability.sinks import FileSink, HttpSink, Sink, StreamSink
        from guardrails.observability.tracing import DecisionTracer
    except ImportError as exc:
        raise ConfigError(f"[observability] needs the observability extra: {exc}") from None
    log: DecisionLog | None = None
    if section.decision_log is not None:
        dl = section.decision_log
        sinks: list[Sink] = []
        if dl.path is not None:
            sinks.append(FileSink(settings.path(dl.path), max_bytes=dl.max_bytes, backups=dl.backups))
        if dl.stdout:
            sinks.append(StreamSink())
        if dl.url is not None:
            headers = {}
            if dl.token_env is not None:
                token = os.environ.get(dl.token_env)
                if not token:
                    raise ConfigError(f"[observability.decision_log] token_env names {dl.token_env}, which is not set")
                headers["Authorization"] = f"Bearer {token}"
            sinks.append(HttpSink(dl.url, headers=headers))
        if not sinks:
            raise ConfigError("[observability.decision_log] needs a path, stdout = true or a url")
        log = DecisionLog(sinks, engine=guard.engine, pii_scan=dl.pii_scan, labels=dl.labels)
        found.append(log)
    if section.metrics:
        metrics = DecisionMetrics(tools=guard.tools)
        metrics.watch_guard(guard)
        metrics.watch_escalations(guard.queue.depth, guard.queue.oldest_age)
        breaker = getattr(guard.engine, "breaker_state", None)
        if breaker is not None:
            metrics.watch_breakers(lambda: {guard.engine.name: str(getattr(guard.engine, "breaker_state", ""))})
        if log is not None:
            metrics.watch_decision_log(log)
        found.append(metrics)
    if section.tracing:
        found.append(DecisionTracer(capture_arguments=section.tracing_capture_arguments))
    return found


def ledger_from(settings: Settings, ledger_path: str | Path | None = None) -> LedgerStore:
    """SQLite at a path (the default), or PostgreSQL for several replicas (``postgresql://…``)."""
    target = str(ledger_path) if ledger_path is not None else settings.railguard.ledger
    if target.startswith(("postgresql://", "postgres://")):
        from guardrails.ledger import PostgresLedger

        return PostgresLedger(target)
    path = Path(target) if ledger_path is not None else settings.path(target)
    return SQLiteLedger(path, durability=settings.railguard.durability)


def engine_from(settings: Settings, name: str) -> PolicyEngine | str:
    """An engine name, or the OPA-server engine built from ``[opa_server]``."""
    if name != SERVER_ENGINE:
        return name
    section = settings.opa_server or OpaServerSection()
    options = section.model_dump(exclude={"token_env"})
    if section.token_env is not None:
        token = os.environ.get(section.token_env)
        if not token:
            raise ConfigError(f"[opa_server] token_env names {section.token_env}, which is not set")
        options["token"] = token
    return create_engine(SERVER_ENGINE, **options)


def escalation_from(settings: Settings) -> EscalationSettings:
    section = settings.escalation
    return EscalationSettings(
        terms=Terms(deadline_s=section.deadline_s),
        approvers_by_code=dict(section.approvers),
        approval_ttl_s=section.approval_ttl_s,
        sweep_interval_s=section.sweep_interval_s,
    )


def ticket_listeners_from(settings: Settings) -> list[TicketListener]:
    hook = settings.escalation.webhook
    if hook is None:
        return []
    from guardrails.escalation.webhook import WebhookNotifier

    secret = os.environ.get(hook.secret_env, "")
    if not secret:
        raise ConfigError(f"[escalation.webhook] needs a signing secret in the environment variable {hook.secret_env}")
    return [WebhookNotifier(hook.url, secret.encode(), timeout_s=hook.timeout_s, retries=hook.retries)]


def screeners_from(settings: Settings) -> list[Screener]:
    """The screeners ``[screening]`` asks for (imported only then: they need the screening extra)."""
    section = settings.screening
    found: list[Screener] = []
    if section.pii:
        from guardrails.screening import PiiActions, PiiScreener

        actions = dict(section.pii_actions)
        default = actions.pop("default", "redact")
        vault = None
        if section.vault is not None:
            from guardrails.screening.vault import PiiVault, key_from_env

            vault = PiiVault(settings.path(section.vault), key_from_env())
        found.append(PiiScreener(PiiActions(default=default, by_entity=actions), vault=vault))
    if section.injection:
        try:
            from guardrails.screening import InjectionScreener
        except ImportError as exc:
            raise ConfigError(f"[screening] injection needs the screening extra: {exc}") from None
        found.append(InjectionScreener())
    return found
