"""Tool wrappers and framework integrations (in-process and over the sidecar).

``from adapters import guarded, registry_from, railguard_context`` guards plain functions;
``adapters.openai`` and ``adapters.langchain`` plug the same wrapper into those frameworks
(their packages are extras, imported only there); ``adapters.remote.SidecarClient`` puts the
same tools in front of ``railguard serve`` (remote mode, httpx).
"""

from adapters.checkpoints import Checkpoints
from adapters.context import RailguardContext, current_context, railguard_context
from adapters.core import GuardedTool, guarded, registry_from, report_usage
from adapters.errors import ApprovalPending, ResultRejected, ToolTimeout
from adapters.schemas import IDEMPOTENCY_PARAM, ArgumentsInvalid
from guardrails.errors import DeniedError, EscalationPending

__all__ = [
    "IDEMPOTENCY_PARAM",
    "ApprovalPending",
    "ArgumentsInvalid",
    "Checkpoints",
    "DeniedError",
    "EscalationPending",
    "GuardedTool",
    "RailguardContext",
    "ResultRejected",
    "ToolTimeout",
    "current_context",
    "guarded",
    "railguard_context",
    "registry_from",
    "report_usage",
]
