"""The human escalation queue: durable tickets, approvals bound to the exact call, two-person
rule, deadlines that survive restarts. ``guard.queue`` is the in-process API; the CLI
(``railguard queue``) and the sidecar put a command line and HTTP on the same calls."""

from guardrails.escalation.model import Identity, Terms, Ticket, TicketState, reviewer
from guardrails.escalation.queue import EscalationQueue, EscalationSettings, TicketListener, TicketRequest

__all__ = [
    "EscalationQueue",
    "EscalationSettings",
    "Identity",
    "Terms",
    "Ticket",
    "TicketListener",
    "TicketRequest",
    "TicketState",
    "reviewer",
]
