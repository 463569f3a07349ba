"""The human escalation queue: tickets, approvals bound to the exact call, two-person rule,
deadlines across restarts, exactly-once resolution, and every bad input with its code."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from guardrails import Agent, Guard, ToolCall, ToolResult, Verdict
from guardrails.errors import EscalationError
from guardrails.escalation import EscalationSettings, Identity, Terms, TicketState, reviewer
from tests.conftest import PAYER, fraud_check, pay, payments_guard, race

ALICE, BOB, CAROL = reviewer("alice"), reviewer("bob"), reviewer("carol")


class Clock:
    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


# Payments above 1,000 escalate; a call budget (max_calls) denies; everything else is allowed.
POLICY = """
package railguard.tool_call
import rego.v1
default allow := true
escalate contains {"code": "amount_needs_approval", "message": "a person decides"} if {
    input.call.tool == "make_payment"
    input.call.args.amount > 1000
}
deny contains {"code": "session_call_budget_exceeded", "message": "budget"} if {
    input.session.facts.calls.total >= object.get(data.railguard.config, "max_calls", 1000)
}
"""


@pytest.fixture
def esc_guard(make_guard: Callable[..., Guard], clock: Clock) -> Callable[..., Guard]:
    def build(**kwargs: Any) -> Guard:
        kwargs.setdefault("sources", {"p.rego": POLICY})
        kwargs.setdefault("clock", clock)
        return make_guard(**kwargs)

    return build


@pytest.fixture
def guard(esc_guard: Callable[..., Guard]) -> Guard:
    return esc_guard()


def escalated(guard: Guard, call: ToolCall) -> str:
    decision = guard.authorize(call)
    assert decision.verdict is Verdict.ESCALATE, decision.reasons
    assert decision.ticket is not None
    return decision.ticket


PAYMENTS_AGENT = Agent(id="bot", roles=("payments_agent",))


def bundled_payment(guard: Guard, txn: str, amount: float) -> ToolCall:
    """A payment under the bundled policies, its fraud check passed first."""
    check = ToolCall(tool="fraud_check", args={"transaction_id": txn}, session_id="s1", agent=PAYMENTS_AGENT)
    assert guard.authorize(check).allowed
    assert guard.check_result(ToolResult(call_id=check.id, session_id="s1", output={"status": "passed"})).allowed
    args = {"transaction_id": txn, "amount": amount, "currency": "EUR", "recipient": "ACME-SUPPLIES-001"}
    return ToolCall(tool="make_payment", args=args, session_id="s1", agent=PAYMENTS_AGENT)


def refused(code: str, fn: Callable[[], Any]) -> EscalationError:
    with pytest.raises(EscalationError) as info:
        fn()
    assert info.value.code == code, info.value
    return info.value


# -- what a ticket carries ----------------------------------------------------------------------
def test_a_ticket_carries_what_a_reviewer_needs_with_redacted_args(guard: Guard) -> None:
    call = ToolCall(
        tool="make_payment",
        args={**pay(amount=5000).args, "recipient": "ann.lee@example.com"},
        session_id="s1",
        agent=PAYER,
    )
    ticket = guard.queue.get(escalated(guard, call))
    assert ticket.state is TicketState.OPEN
    assert (ticket.tool, ticket.call_id, ticket.session_id, ticket.checkpoint) == (
        "make_payment",
        call.id,
        "s1",
        "authorize",
    )
    assert ticket.agent["id"] == "bot" and ticket.agent["roles"] == ["payer"]
    assert ticket.codes == ("amount_needs_approval",)
    assert ticket.reasons[0]["message"] and ticket.reasons[0]["source"]
    assert ticket.args["amount"] == 5000
    assert "ann.lee@example.com" not in str(ticket.args)  # redacted even with no PII screener configured
    assert ticket.binding and len(ticket.binding) == 32
    assert ticket.deadline == ticket.opened_at + 3600
    assert ticket.approvers_needed == 1 and ticket.default == "deny"
    assert "calls" in ticket.facts


# -- approval binds to the exact call ----------------------------------------------------------------
def test_an_approval_allows_the_same_call_id_once_naming_the_reviewer(guard: Guard) -> None:
    call = pay(amount=5000)
    ticket = escalated(guard, call)
    assert guard.authorize(call).ticket == ticket  # idempotent while pending: no second ticket
    guard.queue.approve(ticket, ALICE, "ok, known vendor")
    decision = guard.authorize(call)
    assert decision.verdict is Verdict.ALLOW
    assert decision.codes == ("approved_by_reviewer",)
    assert "alice" in decision.reasons[0].message and decision.ticket == ticket
    assert guard.authorize(call) == decision  # the same call id again: the same answer
    assert guard.queue.get(ticket).used_by == call.id
    again = guard.authorize(pay(amount=5000))  # a new call with the same args: not covered
    assert again.verdict is Verdict.ESCALATE and again.ticket != ticket


def test_an_approval_allows_a_new_call_id_with_identical_args_once(guard: Guard) -> None:
    ticket = escalated(guard, pay(amount=5000))
    guard.queue.approve(ticket, ALICE)
    assert guard.authorize(pay(amount=5000)).verdict is Verdict.ALLOW
    assert guard.authorize(pay(amount=5000)).verdict is Verdict.ESCALATE  # single use


@pytest.mark.parametrize(
    "other",
    [
        pay(amount=5001),
        pay(txn="t2", amount=5000),
        pay(amount=5000, session="s2"),
        ToolCall(
            tool="make_payment", args=pay(amount=5000).args, session_id="s1", agent=Agent(id="bot2", roles=("payer",))
        ),
    ],
    ids=["other-amount", "other-transaction", "other-session", "other-agent"],
)
def test_an_approval_covers_nothing_but_its_call(guard: Guard, other: ToolCall) -> None:
    ticket = escalated(guard, pay(amount=5000))
    guard.queue.approve(ticket, ALICE)
    decision = guard.authorize(other)
    assert decision.verdict is Verdict.ESCALATE and decision.ticket != ticket
    assert guard.queue.get(ticket).used_by is None


def test_a_new_reason_to_escalate_needs_a_new_review(esc_guard: Callable[..., Guard], clock: Clock) -> None:
    policy = """
package railguard.tool_call
import rego.v1
default allow := true
escalate contains {"code": "amount_needs_approval", "message": "m"} if input.call.args.amount > 1000
escalate contains {"code": "tainted", "message": "m"} if "untrusted_content" in input.session.facts.labels
"""
    guard = esc_guard(sources={"p.rego": policy})
    ticket = escalated(guard, pay(amount=5000))
    guard.queue.approve(ticket, ALICE)
    guard.add_labels("s1", ["untrusted_content"])
    decision = guard.authorize(pay(amount=5000))
    assert decision.verdict is Verdict.ESCALATE and set(decision.codes) == {"amount_needs_approval", "tainted"}


def test_a_deny_still_wins_over_an_approval(esc_guard: Callable[..., Guard], clock: Clock) -> None:
    guard = esc_guard(config={"max_calls": 1})
    ticket = escalated(guard, pay(amount=5000))
    guard.queue.approve(ticket, ALICE)
    assert guard.authorize(fraud_check("t1")).verdict is Verdict.ALLOW  # spends the budget
    decision = guard.authorize(pay(amount=5000))
    assert decision.verdict is Verdict.DENY and "session_call_budget_exceeded" in decision.codes
    assert guard.queue.get(ticket).used_by is None


def test_a_reviewers_denial_is_final_for_those_args(tmp_path: Path, clock: Clock) -> None:
    guard = payments_guard(tmp_path / "l.db", clock=clock)
    call = bundled_payment(guard, "t9", 5000)
    ticket = escalated(guard, call)
    guard.queue.deny(ticket, ALICE, "vendor is under review")
    for retry in (call, ToolCall(tool=call.tool, args=call.args, session_id="s1", agent=PAYMENTS_AGENT)):
        decision = guard.authorize(retry)
        assert decision.verdict is Verdict.DENY and decision.codes == ("denied_by_reviewer",)
        assert "vendor is under review" in decision.reasons[0].message
    guard.close()


def test_three_parallel_tickets_resolve_independently_in_reverse_order(guard: Guard) -> None:
    calls = [pay(txn=f"t{i}", amount=2000 + i) for i in range(3)]
    tickets = [escalated(guard, c) for c in calls]
    assert len(set(tickets)) == 3
    guard.queue.approve(tickets[2], ALICE)
    guard.queue.deny(tickets[1], ALICE, "no")
    guard.queue.approve(tickets[0], BOB)
    verdicts = [guard.authorize(c) for c in calls]
    assert [d.verdict for d in verdicts] == [Verdict.ALLOW, Verdict.ESCALATE, Verdict.ALLOW]
    assert [d.ticket for d in verdicts if d.verdict is Verdict.ALLOW] == [tickets[0], tickets[2]]


# -- who may decide --------------------------------------------------------------------------
def test_two_person_rule_per_reason_code(esc_guard: Callable[..., Guard], clock: Clock) -> None:
    guard = esc_guard(escalation=EscalationSettings(approvers_by_code={"amount_needs_approval": 2}))
    call = pay(amount=5000)
    ticket = escalated(guard, call)
    assert guard.queue.approve(ticket, ALICE).state is TicketState.OPEN
    refused("duplicate_approval", lambda: guard.queue.approve(ticket, ALICE))
    refused("duplicate_approval", lambda: guard.queue.approve(ticket, reviewer("Alice")))
    assert guard.authorize(call).verdict is Verdict.ESCALATE  # one of two is not enough
    resolved = guard.queue.approve(ticket, BOB, "second pair of eyes")
    assert resolved.state is TicketState.APPROVED and set(resolved.resolved_by) == {"alice", "bob"}
    decision = guard.authorize(call)
    assert decision.verdict is Verdict.ALLOW and "alice" in decision.reasons[0].message


def test_one_denial_denies_a_two_person_ticket(esc_guard: Callable[..., Guard], clock: Clock) -> None:
    guard = esc_guard(escalation=EscalationSettings(approvers_by_code={"amount_needs_approval": 2}))
    ticket = escalated(guard, pay(amount=5000))
    guard.queue.approve(ticket, ALICE)
    assert guard.queue.deny(ticket, BOB, "no").state is TicketState.DENIED
    refused("ticket_already_resolved", lambda: guard.queue.approve(ticket, CAROL))


def test_the_policy_sets_approvers_deadline_and_default(esc_guard: Callable[..., Guard], clock: Clock) -> None:
    policy = """
package railguard.tool_call
import rego.v1
default allow := true
escalate contains {"code": "big", "message": "m", "approvers": 3, "deadline_s": 60, "default": "allow"} if {
    input.call.args.amount > 1000
}
"""
    guard = esc_guard(sources={"p.rego": policy})
    ticket = guard.queue.get(escalated(guard, pay(amount=5000)))
    assert (ticket.approvers_needed, ticket.deadline - ticket.opened_at, ticket.default) == (3, 60, "allow")


@pytest.mark.parametrize(
    "terms", ['"approvers": 0', '"approvers": "2"', '"deadline_s": -1', '"default": "maybe"', '"approvers": true']
)
def test_malformed_terms_from_a_policy_deny(esc_guard: Callable[..., Guard], terms: str) -> None:
    policy = f"""
package railguard.tool_call
import rego.v1
default allow := true
escalate contains {{"code": "big", "message": "m", {terms}}} if input.call.args.amount > 1000
"""
    decision = esc_guard(sources={"p.rego": policy}).authorize(pay(amount=5000))
    assert decision.verdict is Verdict.DENY and decision.codes == ("escalation_terms_invalid",)


def test_the_bundled_payments_policy_asks_two_approvers_above_its_threshold(tmp_path: Path, clock: Clock) -> None:
    guard = payments_guard(tmp_path / "l.db", clock=clock)
    call = bundled_payment(guard, "t1", 6000)
    assert guard.queue.get(escalated(guard, call)).approvers_needed == 2
    guard.close()


@pytest.mark.parametrize(
    ("who", "code"),
    [
        (Identity(id="bot9", roles=("agent:payer",)), "agent_cannot_review"),
        (Identity(id="x", roles=("agent", "reviewer")), "agent_cannot_review"),
        (Identity(id="mallory", roles=()), "not_a_reviewer"),
        (Identity(id="bot", roles=("reviewer",)), "self_approval"),
        (Identity(id="ann", roles=("reviewer",)), "self_approval"),
        (Identity(id="BOT", roles=("reviewer",)), "self_approval"),
        (Identity(id="\uff41nn", roles=("reviewer",)), "self_approval"),  # full-width a
    ],
    ids=["agent", "agent-and-reviewer", "no-role", "reviewer-is-the-agent", "on-behalf-of", "case", "full-width"],
)
def test_who_may_not_resolve(guard: Guard, who: Identity, code: str) -> None:
    agent = Agent(id="bot", roles=("payer",), attributes={"on_behalf_of": "ann"})
    call = ToolCall(tool="make_payment", args=pay(amount=5000).args, session_id="s1", agent=agent)
    ticket = escalated(guard, call)
    refused(code, lambda: guard.queue.approve(ticket, who))
    refused(code, lambda: guard.queue.deny(ticket, who, "no"))
    assert guard.queue.get(ticket).state is TicketState.OPEN


def test_the_agent_may_withdraw_its_own_ticket(guard: Guard) -> None:
    ticket = escalated(guard, pay(amount=5000))
    refused("agent_cannot_review", lambda: guard.queue.cancel(ticket, Identity(id="other", roles=("agent",))))
    assert guard.queue.cancel(ticket, Identity(id="bot", roles=("agent",))).state is TicketState.CANCELLED


def test_claims_are_recorded_and_exclusive(guard: Guard) -> None:
    ticket = escalated(guard, pay(amount=5000))
    assert guard.queue.claim(ticket, ALICE).claimed_by == "alice"
    refused("ticket_claimed_by_other", lambda: guard.queue.claim(ticket, BOB))
    assert guard.queue.approve(ticket, ALICE).state is TicketState.APPROVED
    kinds = [e["type"] for e in guard.queue.get(ticket).trail]
    assert kinds == ["escalation_opened", "ticket_claimed", "ticket_approved", "escalation_resolved"]


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("ticket_id", ["nope", "", "x" * 300, "\x00", 42, None])
def test_unknown_tickets(guard: Guard, ticket_id: Any) -> None:
    refused("unknown_ticket", lambda: guard.queue.approve(ticket_id, ALICE))
    refused("unknown_ticket", lambda: guard.queue.get(ticket_id))


def test_resolving_twice(guard: Guard) -> None:
    ticket = escalated(guard, pay(amount=5000))
    guard.queue.approve(ticket, ALICE)
    refused("ticket_already_resolved", lambda: guard.queue.approve(ticket, BOB))
    refused("ticket_already_resolved", lambda: guard.queue.deny(ticket, BOB, "late"))


def test_approval_for_a_different_args_hash(guard: Guard) -> None:
    ticket = escalated(guard, pay(amount=5000))
    refused("args_hash_mismatch", lambda: guard.queue.approve(ticket, ALICE, args_hash="0" * 32))
    binding = guard.queue.get(ticket).binding
    assert guard.queue.approve(ticket, ALICE, args_hash=binding).state is TicketState.APPROVED


@pytest.mark.parametrize(
    ("note", "code"),
    [
        ("x" * 10_000_000, "note_too_long"),
        ("ok\x00", "note_invalid"),
        ("ok\x1b[31m", "note_invalid"),
        ("pay \u202eevil", "note_invalid"),
        ("", "note_required"),
        ("   ", "note_required"),
    ],
    ids=["10MB", "NUL", "ANSI", "bidi-override", "empty", "blank"],
)
def test_malformed_notes(guard: Guard, note: str, code: str) -> None:
    ticket = escalated(guard, pay(amount=5000))
    refused(code, lambda: guard.queue.deny(ticket, ALICE, note))
    assert guard.queue.get(ticket).state is TicketState.OPEN


def test_html_in_a_note_is_kept_as_text(guard: Guard) -> None:
    ticket = escalated(guard, pay(amount=5000))
    note = '<script>alert(1)</script>"><img src=x onerror=alert(1)>\nline two'
    assert guard.queue.deny(ticket, ALICE, note).note == note


# -- deadlines -------------------------------------------------------------------------------------
def test_an_unanswered_ticket_expires_to_deny_and_cannot_be_approved_after(guard: Guard, clock: Clock) -> None:
    call = pay(amount=5000)
    ticket = escalated(guard, call)
    clock.now += 3601
    refused("ticket_expired", lambda: guard.queue.approve(ticket, ALICE))
    expired = guard.queue.get(ticket)
    assert expired.state is TicketState.EXPIRED and expired.outcome == "deny"
    assert guard.queue.expire() == []  # already expired: no second event
    retry = guard.authorize(call)
    assert retry.verdict is Verdict.ESCALATE and retry.ticket != ticket  # asked again: a new ticket


def test_deadlines_are_enforced_at_start_up_after_a_restart(esc_guard: Callable[..., Guard], clock: Clock) -> None:
    first = esc_guard(db="shared.db")
    ticket = escalated(first, pay(amount=5000))
    first.close()
    clock.now += 7200  # nothing ran at the deadline
    second = esc_guard(db="shared.db")
    expired = second.queue.get(ticket)
    assert expired.state is TicketState.EXPIRED
    assert [e["type"] for e in expired.trail].count("escalation_resolved") == 1


def test_default_allow_at_the_deadline_releases_the_call_once(esc_guard: Callable[..., Guard], clock: Clock) -> None:
    policy = """
package railguard.tool_call
import rego.v1
default allow := true
escalate contains {"code": "big", "message": "m", "deadline_s": 10, "default": "allow"} if input.call.args.amount > 1000
"""
    guard = esc_guard(sources={"p.rego": policy})
    call = pay(amount=5000)
    ticket = escalated(guard, call)
    clock.now += 11
    assert guard.queue.expire() == [ticket]
    decision = guard.authorize(call)
    assert decision.verdict is Verdict.ALLOW and "railguard:deadline" in decision.reasons[0].message
    assert guard.authorize(pay(amount=5000)).verdict is Verdict.ESCALATE


def test_an_approval_itself_expires(esc_guard: Callable[..., Guard], clock: Clock) -> None:
    guard = esc_guard(escalation=EscalationSettings(approval_ttl_s=60))
    ticket = escalated(guard, pay(amount=5000))
    guard.queue.approve(ticket, ALICE)
    clock.now += 61
    assert guard.authorize(pay(amount=5000)).verdict is Verdict.ESCALATE


def test_deadline_terms_from_the_deployment(esc_guard: Callable[..., Guard], clock: Clock) -> None:
    guard = esc_guard(escalation=EscalationSettings(terms=Terms(deadline_s=30)))
    ticket = guard.queue.get(escalated(guard, pay(amount=5000)))
    assert ticket.deadline - ticket.opened_at == 30


def test_the_sweeper_thread_expires_overdue_tickets(esc_guard: Callable[..., Guard], clock: Clock) -> None:
    guard = esc_guard(escalation=EscalationSettings(sweep_interval_s=0.02))
    ticket = escalated(guard, pay(amount=5000))
    clock.now += 4000
    assert guard.wait(ticket, timeout=5).state is TicketState.EXPIRED


# -- waiting and resuming -------------------------------------------------------------------------
def test_wait_returns_pending_at_its_timeout_and_the_resolution_when_it_comes(guard: Guard) -> None:
    ticket = escalated(guard, pay(amount=5000))
    assert guard.wait(ticket, timeout=0.05).state is TicketState.OPEN
    timer = threading.Timer(0.1, lambda: guard.queue.approve(ticket, ALICE))
    timer.start()
    assert guard.wait(ticket, timeout=10).state is TicketState.APPROVED
    timer.join()


def test_a_restart_loses_no_ticket_and_no_approval(esc_guard: Callable[..., Guard], clock: Clock) -> None:
    first = esc_guard(db="restart.db")
    call = pay(amount=5000)
    ticket = escalated(first, call)
    first.queue.approve(ticket, ALICE)
    first.close()
    second = esc_guard(db="restart.db")
    assert second.queue.get(ticket).state is TicketState.APPROVED
    assert second.authorize(call).verdict is Verdict.ALLOW


def test_rebuild_derives_the_same_tickets_from_events(guard: Guard) -> None:
    tickets = [escalated(guard, pay(txn=f"t{i}", amount=5000)) for i in range(4)]
    guard.queue.approve(tickets[0], ALICE)
    guard.queue.deny(tickets[1], ALICE, "no")
    guard.queue.claim(tickets[2], BOB)
    guard.authorize(pay(txn="t0", amount=5000))
    before = [t.model_dump() for t in guard.queue.list()]
    guard.ledger.rebuild_facts()
    assert [t.model_dump() for t in guard.queue.list()] == before
    assert [t.state for t in guard.queue.list()] == [
        TicketState.CLAIMED,
        TicketState.OPEN,
        TicketState.APPROVED,
        TicketState.DENIED,
    ]


# -- exactly-once resolution --------------------------------------------------------------------------
def test_two_reviewers_at_once_in_threads_one_wins(guard: Guard) -> None:
    for round_ in range(3):
        ticket = escalated(guard, pay(txn=f"r{round_}", amount=5000))

        def act(i: int, ticket: str = ticket) -> None:
            if i % 2:
                guard.queue.approve(ticket, reviewer(f"r{i}"))
            else:
                guard.queue.deny(ticket, reviewer(f"r{i}"), "no")

        assert race(8, act) == ["ticket_already_resolved"] * 7 + ["won"]
        trail = [e["type"] for e in guard.queue.get(ticket).trail]
        assert trail.count("escalation_resolved") == 1


def _resolve_in_process(db: str, ticket: str, name: str, start: Any, results: Any) -> None:
    from guardrails import SQLiteLedger
    from guardrails.escalation import EscalationQueue

    queue = EscalationQueue(SQLiteLedger(db))
    start.wait()
    try:
        queue.approve(ticket, reviewer(name))
        results.put("won")
    except EscalationError as exc:
        results.put(exc.code)
    queue.ledger.close()


def test_two_reviewers_at_once_in_processes_one_wins(esc_guard: Callable[..., Guard], tmp_path: Path) -> None:
    guard = esc_guard(db="procs.db", clock=time.time)  # the other processes read the real clock
    ticket = escalated(guard, pay(amount=5000))
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_resolve_in_process, args=(str(tmp_path / "procs.db"), ticket, f"p{i}", start, results))
        for i in range(3)
    ]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
    got = sorted(results.get(timeout=5) for _ in procs)
    assert got == ["ticket_already_resolved", "ticket_already_resolved", "won"]
    assert guard.queue.get(ticket).state is TicketState.APPROVED


def test_two_retries_racing_for_one_approval_get_one_allow(guard: Guard) -> None:
    ticket = escalated(guard, pay(amount=5000))
    guard.queue.approve(ticket, ALICE)
    barrier = threading.Barrier(8)
    verdicts: list[Verdict] = []

    def retry() -> None:
        barrier.wait()
        verdicts.append(guard.authorize(pay(amount=5000)).verdict)

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert verdicts.count(Verdict.ALLOW) == 1


# -- confidence routing --------------------------------------------------------------------------------
def test_a_low_confidence_result_waits_for_a_person_and_an_approval_releases_exactly_it(
    esc_guard: Callable[..., Guard], clock: Clock
) -> None:
    guard = esc_guard(result_confidence_threshold=0.8)
    call = ToolCall(tool="lookup_customer", args={"customer_id": "c1"}, session_id="s1", agent=PAYER)
    assert guard.authorize(call).verdict is Verdict.ALLOW
    output = {"customer_id": "c1", "name": "Ann", "email": "ann@example.com"}
    result = ToolResult(call_id=call.id, session_id="s1", output=output, confidence=0.3)
    first = guard.check_result(result)
    assert first.verdict is Verdict.ESCALATE and first.codes == ("low_confidence",)
    ticket = guard.queue.get(first.ticket or "")
    assert ticket.checkpoint == "check_result" and ticket.confidence == 0.3 and ticket.tool == "lookup_customer"
    assert guard.check_result(result).ticket == first.ticket  # the same content: the same ticket
    other = ToolResult(call_id=call.id, session_id="s1", output={**output, "name": "Bob"}, confidence=0.3)
    assert guard.check_result(other).ticket != first.ticket  # other content: its own ticket
    guard.queue.approve(first.ticket or "", ALICE)
    released = guard.check_result(result)
    assert released.verdict is Verdict.ALLOW and released.codes == ("approved_by_reviewer",)
    assert guard.check_result(result).codes == ("result_already_recorded",)


def test_a_denied_low_confidence_output_stays_denied(esc_guard: Callable[..., Guard]) -> None:
    guard = esc_guard(output_confidence_threshold=0.9)
    first = guard.check_output({"answer": 42}, session_id="s1", confidence=0.5)
    assert first.verdict is Verdict.ESCALATE
    guard.queue.deny(first.ticket or "", ALICE, "wrong answer")
    again = guard.check_output({"answer": 42}, session_id="s1", confidence=0.5)
    assert again.verdict is Verdict.DENY and again.codes == ("denied_by_reviewer",)
    approve_other = guard.check_output({"answer": 43}, session_id="s1", confidence=0.5)
    assert approve_other.verdict is Verdict.ESCALATE


def test_replay_reproduces_approved_and_re_decided_calls(tmp_path: Path, clock: Clock) -> None:
    from guardrails.engines import PolicySet
    from guardrails.replay import replay
    from tests.conftest import POLICIES

    guard = payments_guard(tmp_path / "replay.db", clock=clock)
    call = bundled_payment(guard, "t1", 5000)
    ticket = escalated(guard, call)
    guard.queue.approve(ticket, ALICE)
    assert guard.authorize(call).verdict is Verdict.ALLOW  # the same call id, decided again
    guard.close()
    report = replay(tmp_path / "replay.db", PolicySet.load(POLICIES))
    assert report.replayed >= 3 and report.changes == [], report.render()
