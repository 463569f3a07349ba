"""The Guard: four checkpoints, each a fixed sequence of stages returning one Decision.

Side effects (ledger appends) happen here, once per checkpoint, inside the session's
transaction; stages only look at data and return outcomes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from cachetools import LRUCache
from pydantic import BaseModel

from guardrails import codes
from guardrails.calls import CanonicalCall, args_hash, key_of, key_values, record_result, without_args
from guardrails.canonical import DEFAULT_LIMITS, Limits, canonicalise, dumps
from guardrails.engines import PolicyEngine, PolicySet, create_engine
from guardrails.engines.base import config_data, config_revision, defines
from guardrails.errors import ConfigError, InputError, LedgerError
from guardrails.escalation import EscalationQueue, EscalationSettings, Ticket, TicketListener, TicketRequest
from guardrails.escalation.queue import expiry_event, reviewed, same, ticket_redactor
from guardrails.escalation.review import content_binding, review_doc
from guardrails.ledger.base import (
    CALL_REQUESTED,
    DECISION,
    LABELS_ADDED,
    RESULT_RECORDED,
    USAGE_REPORTED,
    CallRecord,
    Event,
    FactsQuery,
    LedgerStore,
    SessionTx,
)
from guardrails.ledger.fact_keys import FactKeys, deployment_secret
from guardrails.ledger.rows import utc_day
from guardrails.ledger.scrubbing import Scrubbing, ScrubbingTx
from guardrails.model import Checkpoint, Decision, Finding, ToolCall, ToolResult, Verdict
from guardrails.registry import SchemaCheck, ToolRegistry, ToolSpec
from guardrails.stages.base import PII_ACTIONS, SCREENING_SESSION, DecisionObserver, Screener, StageOutcome
from guardrails.stages.confidence import check_confidence
from guardrails.stages.policy import PolicyStage, pii_policy
from guardrails.stages.run import CheckpointRun, context_labels, run_screeners, screening_doc, timed_stage
from guardrails.stages.schema import check_args, check_output, check_result

TOOL_CALL_PACKAGE = "railguard.tool_call"


class Guard:
    """Runs the four checkpoints against one policy set, tool registry and ledger.

    >>> guard = Guard(policies=PolicySet.load("policies"), tools=ToolRegistry.from_file("tools.json"),
    ...               ledger=SQLiteLedger("railguard.db"), config={"roles": {"payer": ["make_payment"]}})
    ... # doctest: +SKIP
    >>> guard.authorize(ToolCall(tool="make_payment", args={...}, session_id="s1")).verdict  # doctest: +SKIP
    <Verdict.DENY: 'deny'>
    """

    def __init__(
        self,
        *,
        policies: PolicySet,
        tools: ToolRegistry,
        ledger: LedgerStore,
        config: Mapping[str, Any] | None = None,
        engine: PolicyEngine | str = "auto",
        screeners: Sequence[Screener] = (),
        limits: Limits = DEFAULT_LIMITS,
        result_confidence_threshold: float | None = None,
        output_confidence_threshold: float | None = None,
        clock: Callable[[], float] = time.time,
        observers: Sequence[DecisionObserver] = (),
        escalation: EscalationSettings | None = None,
        ticket_listeners: Sequence[TicketListener] = (),
    ) -> None:
        self.config = canonicalise(dict(config or {}))
        self.config_revision = config_revision(self.config)
        self.engine = create_engine(engine) if isinstance(engine, str) else engine
        self.engine.prepare(policies, config_data(self.config))
        # A policy may set PII actions per call (``pii_actions``): evaluated only when it exists and
        # a PII screener runs, before the tool's arguments are screened.
        self._pii_rule = bool(screeners) and defines(policies, TOOL_CALL_PACKAGE, "pii_actions")
        self.policy = PolicyStage(self.engine, TOOL_CALL_PACKAGE)
        problems = self.policy.config_errors()
        if problems:
            raise ConfigError(
                "the deployment parameters are invalid: " + "; ".join(r.message for r in problems),
                code=problems[0].code,
            )
        self.tools = tools
        self.ledger = ledger
        self.ledger.record_config(self.config_revision, self.config)
        self.screeners = tuple(screeners)
        # PII never rests in clear: a screener that can scrub cleans what the ledger stores.
        scrubbers = [s.scrub for s in self.screeners if isinstance(s, Scrubbing)]
        self._scrub: Callable[[Any], Any] | None = scrubbers[0] if scrubbers else None
        self._fact_keys = FactKeys(secret=deployment_secret()) if self._scrub is not None else None
        self.limits = limits
        self.result_confidence_threshold = result_confidence_threshold
        self.output_confidence_threshold = output_confidence_threshold
        self.clock = clock
        self._schemas: LRUCache[str, SchemaCheck] = LRUCache(maxsize=256)
        self._schema_lock = threading.Lock()
        self.observers = list(observers)
        self.observer_failures = 0
        # The human queue on the same ledger; overdue tickets expire now (they may have passed
        # their deadline while nothing ran) and, when configured, periodically.
        self.escalation = escalation or EscalationSettings()
        self.queue = EscalationQueue(self.ledger, self.escalation, clock=clock, listeners=ticket_listeners)
        self.queue.expire()
        if self.escalation.sweep_interval_s:
            self.queue.start_sweeper(self.escalation.sweep_interval_s)
        self._ticket_redact: Callable[[Any], Any] = ticket_redactor() if self._scrub is None else same

    @property
    def revision(self) -> str:
        return self.engine.revision

    @contextmanager
    def _write(self, session_id: str) -> Iterator[SessionTx]:
        """The ledger's write transaction, with stored payloads scrubbed of PII when screening is on."""
        with self.ledger.session(session_id) as tx:
            yield self._scrubbing(tx)

    def _scrubbing(self, tx: SessionTx) -> SessionTx:
        if self._scrub is None or self._fact_keys is None:
            return tx
        return ScrubbingTx(tx, self._scrub, self._fact_keys)

    def _run(self, checkpoint: Checkpoint) -> CheckpointRun:
        return CheckpointRun(checkpoint, self.clock, self.engine.revision, self.config_revision)

    def close(self) -> None:
        """Release the ledger (connections and its checkpoint thread) and the ticket sweeper."""
        self.queue.close()
        for observer in self.observers:  # a decision log writes out what it holds
            close_observer = getattr(observer, "close", None)
            if callable(close_observer):
                close_observer()
        self.ledger.close()
        close_engine = getattr(self.engine, "close", None)  # an OPA server's connections
        if callable(close_engine):
            close_engine()

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- checkpoint 1 -------------------------------------------------------------------
    def screen_input(self, payload: Any, *, session_id: str, channel: str = "user") -> Decision:
        """Screen user text, tool output or tool arguments. Screeners plug in here."""
        run = self._run(Checkpoint.SCREEN_INPUT)
        self._screen(run, payload, channel, session_id)
        decision = run.decision(session_id, None)
        return self._record_plain(session_id, decision, {"channel": channel}, payload)

    def _screen(
        self, run: CheckpointRun, payload: Any, channel: str, session_id: str, pii: Mapping[str, str] | None = None
    ) -> bool:
        """Run the screeners (PII, injection) on a payload; False when one of them stopped the checkpoint.
        ``pii``: the PII actions a policy asked for this call, over the deployment's."""
        token = SCREENING_SESSION.set(session_id)  # placeholders stay stable within the session
        asked = PII_ACTIONS.set(pii)
        try:
            return run_screeners(run, self.screeners, payload, channel)
        finally:
            PII_ACTIONS.reset(asked)
            SCREENING_SESSION.reset(token)

    # -- checkpoint 2 -------------------------------------------------------------------
    def authorize(self, call: ToolCall) -> Decision:
        """Decide whether ``call`` may run: canonical input, argument schema, then Rego."""
        run = self._run(Checkpoint.AUTHORIZE)
        spec = self.tools.get(call.tool)
        canon = CanonicalCall(call, self.limits)
        asked: dict[str, str] = {}
        ok = (
            run.stage_run("canonical", canon.check)
            and run.stage_run("schema", lambda: check_args(spec, call.tool, canon.args))
            and (
                not self._pii_rule
                or run.stage_run(
                    "pii_policy", lambda: pii_policy(self.engine, TOOL_CALL_PACKAGE, call, canon, spec, asked)
                )
            )
            and self._screen(run, canon.args, "tool_args", call.session_id, asked)
        )
        call_hash = args_hash(call.tool, canon.stored_args)
        key_value = key_of(canon.args, spec.key_arg) if spec is not None and canon.rejected is None else None

        def judge(tx: SessionTx) -> tuple[dict[str, Any], StageOutcome, float]:
            policy_input = self._policy_input(tx, call, canon, spec, key_value, call_hash, run.outcome.findings)
            return policy_input, *timed_stage("policy", lambda: self.policy.run(policy_input))

        try:
            # Decide outside the write lock, on a snapshot of the session, so that threads on
            # other sessions evaluate in parallel; then append only if the session did not move
            # on meanwhile, else decide again inside the lock (the result is as if serial).
            judged: tuple[dict[str, Any], StageOutcome, float] | None = None
            if ok:
                with self.ledger.read(call.session_id) as raw_snapshot:
                    snapshot = self._scrubbing(raw_snapshot)
                    if snapshot.find_call(call.id) is None:
                        seen = snapshot.version()
                        judged = judge(snapshot)
            with self._write(call.session_id) as tx:
                earlier = tx.find_call(call.id)
                if earlier is not None:
                    answer = self._retry(tx, earlier, call, call_hash, run)
                    if answer is not None:
                        return answer
                policy_input: dict[str, Any] | None = None
                if ok:
                    if judged is None or tx.version() != seen:
                        judged = judge(tx)
                    policy_input, outcome, ms = judged
                    run.fold("policy", outcome, ms)
                decision = run.decision(call.session_id, call.id)
                decision = self._append_call(
                    tx, call, canon, call_hash, key_value, decision, policy_input, run.outcome.terms, earlier is None
                )
        except LedgerError as exc:
            return self._notify(_ledger_failure(run, call.session_id, call.id, exc), {"tool": call.tool})
        return self._notify(decision, {"tool": call.tool, "agent": canon.stored_agent, "input": policy_input})

    def _policy_input(
        self,
        tx: SessionTx,
        call: ToolCall,
        canon: CanonicalCall,
        spec: ToolSpec | None,
        key_value: str | None,
        call_hash: str,
        findings: Sequence[Finding],
    ) -> dict[str, Any]:
        needs = self.policy.needs
        facts = tx.facts(
            FactsQuery(
                tool=call.tool,
                args_hash=call_hash,
                key_values=key_values(canon.args),
                all_results="all_results" in needs,
                agent_id=str(canon.agent.get("id", "")),
                day=utc_day(self.clock()),
            )
        )
        # Earlier reviews of this exact call (approved, denied, pending): the bundled policy denies
        # what a reviewer denied; an approval is applied after the policy (see escalation.review).
        facts["review"] = review_doc(tx.reviews(call_hash, str(canon.agent.get("id", ""))), self.clock())
        session: dict[str, Any] = {"id": call.session_id, "facts": facts}
        if "history" in needs:
            session["history"] = tx.history(1000)
        return {
            "call": {"id": call.id, "tool": call.tool, "args": canon.args, "key": key_value},
            "tool": spec.traits if spec is not None else {},
            "agent": canon.agent,
            "session": session,
            "screening": screening_doc(findings),
            "now": self.clock(),
        }

    def _append_call(
        self,
        tx: SessionTx,
        call: ToolCall,
        canon: CanonicalCall,
        call_hash: str,
        key_value: str | None,
        decision: Decision,
        policy_input: Mapping[str, Any] | None,
        asked: Sequence[Mapping[str, Any]],
        new_call: bool,
    ) -> Decision:
        call_doc = {"id": call.id, "tool": call.tool, "args": canon.stored_args, "agent": canon.stored_agent}
        now = decision.at
        if new_call:  # a retry after a review decides again under the same call id
            tx.append(
                Event(
                    call.session_id,
                    CALL_REQUESTED,
                    now,
                    {"call": call_doc, "args_hash": call_hash, "key_value": key_value},
                    call.id,
                )
            )
        facts = policy_input["session"]["facts"] if policy_input is not None else {}
        request = TicketRequest(
            binding=call_hash,
            agent=canon.stored_agent,
            tool=call.tool,
            args=self._ticket_redact(canon.stored_args),
            facts=facts,
        )
        decision = self._reviewed(tx, decision, request, asked, deny_on_denial=False)
        tx.append(
            Event(
                call.session_id,
                DECISION,
                now,
                {
                    "checkpoint": Checkpoint.AUTHORIZE.value,
                    "tool": call.tool,
                    "args_hash": call_hash,
                    "key_value": key_value,
                    "decision": decision.model_dump(mode="json"),
                    # The arguments are stored once, with the call: replay puts them back.
                    "input": without_args(policy_input),
                },
                call.id,
            )
        )
        return decision

    def _retry(
        self, tx: SessionTx, earlier: CallRecord, call: ToolCall, call_hash: str, run: CheckpointRun
    ) -> Decision | None:
        """The same call id again: the same answer, and no second ledger entry; ``None`` when the
        call escalated and its ticket has been resolved since: then it is decided again."""
        if earlier.tool != call.tool or earlier.args_hash != call_hash or not earlier.decision:
            run.outcome = StageOutcome.deny(
                codes.CALL_ID_CONFLICT, f"call id {call.id!r} was already used for another call", "railguard.ledger"
            )
            run.stage = "ledger"
            return run.decision(call.session_id, call.id)
        decision = Decision.model_validate(earlier.decision)
        if decision.verdict is not Verdict.ESCALATE or decision.ticket is None:
            return decision
        ticket = tx.ticket(decision.ticket)
        if ticket is None or (ticket["state"] in ("open", "claimed") and ticket["deadline"] > self.clock()):
            return decision  # still waiting for a person
        if ticket["state"] in ("open", "claimed"):
            tx.append(expiry_event(ticket, self.clock(), self.escalation.approval_ttl_s))
        return None

    # -- checkpoint 3 -------------------------------------------------------------------
    def check_result(self, result: ToolResult, *, agent_id: str | None = None) -> Decision:
        """Check what a tool returned. Only an allowed, well-formed result becomes a session fact.
        ``agent_id``: only that agent's call may get this result (the sidecar passes the key's agent;
        another agent's call is answered as unknown, so its ids cannot be probed)."""
        run = self._run(Checkpoint.CHECK_RESULT)
        try:
            with self._write(result.session_id) as tx:
                record = tx.find_call(result.call_id)
                if record is not None and agent_id is not None and record.agent_id != agent_id:
                    record = None
                spec = self.tools.get(record.tool) if record else None
                if record is None or spec is None:
                    run.stage_run(
                        "ledger",
                        lambda: StageOutcome.deny(
                            codes.UNKNOWN_CALL,
                            f"no authorized call {result.call_id!r} in this session",
                            "railguard.ledger",
                        ),
                    )
                elif record.has_result:
                    run.stage_run(
                        "ledger",
                        lambda: StageOutcome.deny(
                            codes.RESULT_ALREADY_RECORDED,
                            f"call {result.call_id!r} already has a result; a call has one result",
                            "railguard.ledger",
                        ),
                    )
                elif record.verdict != Verdict.ALLOW.value:
                    run.stage_run(
                        "ledger",
                        lambda: StageOutcome.deny(
                            codes.RESULT_FOR_UNAUTHORIZED_CALL,
                            f"call {result.call_id!r} was {record.verdict or 'never decided'}, not allowed",
                            "railguard.ledger",
                        ),
                    )
                elif not result.ok:
                    run.stage_run(
                        "schema",
                        lambda: StageOutcome.deny(
                            codes.RESULT_TOOL_FAILED,
                            f"{record.tool!r} failed: {(result.error or 'no detail')[:300]}",
                            "railguard.schema",
                        ),
                    )
                elif run.stage_run("schema", lambda: check_result(spec, result.output, self.limits)) and self._screen(
                    run, run.outcome.rewritten, "tool_output", result.session_id
                ):
                    run.stage_run(
                        "confidence", lambda: check_confidence(result.confidence, self.result_confidence_threshold)
                    )
                decision = run.decision(result.session_id, result.call_id)
                if record is not None and decision.verdict is Verdict.ESCALATE:
                    output = decision.rewritten if decision.rewritten is not None else result.output
                    request = TicketRequest(
                        binding=content_binding(Checkpoint.CHECK_RESULT, result.call_id, output),
                        agent={"id": record.agent_id or ""},
                        tool=record.tool,
                        output=self._ticket_redact(output),
                        confidence=result.confidence,
                    )
                    decision = self._reviewed(tx, decision, request, run.outcome.terms, deny_on_denial=True)
                # A result waiting for a person is not recorded yet: an approval releases exactly it.
                if record is not None and not record.has_result and decision.verdict is not Verdict.ESCALATE:
                    record_result(tx, record, result, spec, decision)
                # An untrusted source taints the session whatever a detector said of its output.
                taint = ("untrusted_content",) if spec is not None and spec.untrusted_source else ()
                self._append_decision(tx, decision, {"tool": record.tool if record else None}, taint)
        except LedgerError as exc:
            return self._notify(_ledger_failure(run, result.session_id, result.call_id, exc), {"tool": None})
        return self._notify(decision, {"tool": record.tool if record else None})

    # -- checkpoint 4 -------------------------------------------------------------------
    def check_output(
        self,
        output: Any,
        *,
        session_id: str,
        schema: type[BaseModel] | Mapping[str, Any] | None = None,
        confidence: float | None = None,
    ) -> Decision:
        """Check the agent's final output against a schema (pydantic model or JSON Schema) and confidence."""
        run = self._run(Checkpoint.CHECK_OUTPUT)
        check = self._output_schema(schema) if isinstance(schema, Mapping) else schema
        if run.stage_run("schema", lambda: check_output(output, check)) and self._screen(
            run, output, "output", session_id
        ):
            run.stage_run("confidence", lambda: check_confidence(confidence, self.output_confidence_threshold))
        decision = run.decision(session_id, None)
        return self._record_plain(session_id, decision, {}, output, confidence)

    def _output_schema(self, schema: Mapping[str, Any]) -> SchemaCheck:
        """Compile an output JSON Schema once: callers pass the same schema dict on every output."""
        key = dumps(canonicalise(dict(schema)))
        with self._schema_lock:
            check = self._schemas.get(key)
        if check is None:
            check = SchemaCheck.compile(schema, "output schema")
            with self._schema_lock:
                self._schemas[key] = check
        return check

    def recorded_result(self, session_id: str, call_id: str, *, agent_id: str | None = None) -> tuple[bool, Any]:
        """``(True, output)`` when the call already has a verified result (as the agent was given it,
        redacted where screening rewrote it), else ``(False, None)``: adapters answer a retried call
        from here instead of running the tool again. ``agent_id``: only that agent's call (the sidecar)."""
        with self.ledger.read(session_id) as tx:
            record = tx.find_call(call_id)
        if record is None or not record.has_result or (agent_id is not None and record.agent_id != agent_id):
            return False, None
        for event in self.ledger.events(session_id):
            if event.type == RESULT_RECORDED and event.call_id == call_id:
                return bool(event.payload.get("verified")), event.payload.get("output")
        return False, None

    # -- the one way back from a placeholder ------------------------------------------------------
    def reveal(self, args: Any, *, session_id: str, tool: str, call_id: str | None = None) -> Any:
        """The arguments ``tool`` runs with: placeholders of the entity types its registry entry lists
        in ``receives_pii`` replaced by the real values (from the PII vault). Call it right before the
        tool runs, after ``authorize`` allowed the call; never show the result to the agent or a log.
        ``call_id``: the allowed call of ``tool`` the values are for; anything else gets the placeholders.
        """
        spec = self.tools.get(tool)
        if spec is None or not spec.receives_pii:
            return args
        if call_id is not None:
            with self.ledger.read(session_id) as tx:
                record = tx.find_call(call_id)
            if record is None or record.tool != tool or record.verdict != Verdict.ALLOW.value:
                return args
        for screener in self.screeners:
            reveal = getattr(screener, "reveal", None)
            if reveal is not None:
                return reveal(args, session_id, frozenset(spec.receives_pii))
        return args

    # -- session bookkeeping ---------------------------------------------------------------
    def report_usage(self, session_id: str, *, tokens: int = 0, cost: float = 0.0, agent_id: str | None = None) -> None:
        """Add tokens and spend to the session, for budget policies; ``agent_id`` attributes it for
        ``railguard audit usage`` (where did the money go)."""
        if isinstance(tokens, bool) or not isinstance(tokens, int) or not isinstance(cost, int | float):
            raise InputError("tokens must be an integer and cost a number", code=codes.UNSUPPORTED_TYPE)
        if agent_id is not None and (not isinstance(agent_id, str) or not 0 < len(agent_id) <= 256):
            raise InputError(
                "agent_id must be a non-empty string of at most 256 characters", code=codes.UNSUPPORTED_TYPE
            )
        usage = canonicalise({"tokens": tokens, "cost": float(cost), **({"agent": agent_id} if agent_id else {})})
        if tokens < 0 or cost < 0:
            raise InputError("usage must be non-negative", code=codes.NUMBER_OUT_OF_RANGE)
        with self._write(session_id) as tx:
            tx.append(Event(session_id, USAGE_REPORTED, self.clock(), usage))
        self._observe("on_usage", session_id, agent_id, tokens, float(cost))  # usage metrics

    def add_labels(self, session_id: str, labels: Sequence[str]) -> None:
        """Attach labels that only ever accumulate (``untrusted_content``, ``pii:EMAIL_ADDRESS``)."""
        labels = canonicalise(list(labels))
        if not all(isinstance(label, str) and 0 < len(label) <= 256 for label in labels):
            raise InputError("labels must be non-empty strings of at most 256 characters", code=codes.UNSUPPORTED_TYPE)
        with self._write(session_id) as tx:
            tx.append(Event(session_id, LABELS_ADDED, self.clock(), {"labels": sorted(set(labels))}))

    def _record_plain(
        self,
        session_id: str,
        decision: Decision,
        extra: Mapping[str, Any],
        payload: Any = None,
        confidence: float | None = None,
    ) -> Decision:
        try:
            with self._write(session_id) as tx:
                if decision.verdict is Verdict.ESCALATE:
                    content = decision.rewritten if decision.rewritten is not None else payload
                    request = TicketRequest(
                        binding=content_binding(decision.checkpoint, None, content),
                        agent={"id": ""},
                        output=self._ticket_redact(content),
                        confidence=confidence,
                    )
                    decision = self._reviewed(tx, decision, request, (), deny_on_denial=True)
                self._append_decision(tx, decision, extra)
        except LedgerError as exc:
            run = self._run(decision.checkpoint)
            return self._notify(_ledger_failure(run, session_id, decision.call_id, exc), extra)
        return self._notify(decision, extra)

    def _reviewed(
        self,
        tx: SessionTx,
        decision: Decision,
        request: TicketRequest,
        asked: Sequence[Mapping[str, Any]],
        *,
        deny_on_denial: bool,
    ) -> Decision:
        return reviewed(tx, decision, request, asked, self.escalation, self.clock(), deny_on_denial=deny_on_denial)

    def wait(self, ticket: str, timeout: float = 30.0) -> Ticket:
        """Wait up to ``timeout`` seconds for a person to resolve ``ticket``; the ticket, resolved or not.
        Retry the call afterwards: an approval allows it once."""
        return self.queue.wait(ticket, timeout)

    def _notify(self, decision: Decision, context: Mapping[str, Any]) -> Decision:
        """Tell the observers (decision log, metrics, traces) of a decision, once it is committed.
        An observer that fails is counted and never changes or delays the decision. The policy
        input they see is scrubbed of PII as the ledger's is, when a PII screener runs."""
        self.queue.decision_opened(decision)
        if not self.observers:
            return decision
        if self._scrub is not None and context.get("input") is not None:
            context = {**context, "input": self._scrub(context["input"])}
        self._observe("on_decision", decision, context)
        return decision

    def _observe(self, event: str, *args: Any) -> None:
        """Call ``event`` on every observer that has it; what one raises is counted, never passed on."""
        for observer in self.observers:
            method = getattr(observer, event, None)
            if callable(method):
                try:
                    method(*args)
                except Exception:
                    self.observer_failures += 1

    def _append_decision(
        self, tx: SessionTx, decision: Decision, extra: Mapping[str, Any], labels: Sequence[str] = ()
    ) -> None:
        tx.append(
            Event(
                decision.session_id,
                DECISION,
                decision.at,
                {"checkpoint": decision.checkpoint.value, "decision": decision.model_dump(mode="json"), **extra},
                decision.call_id,
            )
        )
        # What entered the agent's context (user text, tool output) labels the session for good.
        if decision.checkpoint in (Checkpoint.SCREEN_INPUT, Checkpoint.CHECK_RESULT):
            found = sorted({*context_labels(decision.findings), *labels})
            if found:
                tx.append(Event(decision.session_id, LABELS_ADDED, decision.at, {"labels": found}, decision.call_id))

    def session(self, session_id: str) -> AbstractContextManager[SessionTx]:
        return self.ledger.session(session_id)


def _ledger_failure(run: CheckpointRun, session_id: str, call_id: str | None, exc: LedgerError) -> Decision:
    # Without a durable record nothing may go ahead: fail closed.
    run.outcome = StageOutcome.error(codes.LEDGER_ERROR, str(exc)[:300], "railguard.ledger")
    run.stage = "ledger"
    return run.decision(session_id, call_id)
