"""Stable reason codes: the API that tests pin, policies emit and dashboards group by.

Codes produced by Railguard itself live here, one constant each, with the text
that documents it. Codes emitted by Rego policies (``fraud_check_required``,
``amount_over_limit``...) are documented beside the policy in ``policies/``.
"""

from __future__ import annotations

from typing import Final

# -- input canonicalisation (before any stage looks at the payload) ---------------
MALFORMED_JSON: Final = "malformed_json"
INVALID_ENCODING: Final = "invalid_encoding"
INPUT_TOO_LARGE: Final = "input_too_large"
INPUT_TOO_DEEP: Final = "input_too_deep"
NUMBER_OUT_OF_RANGE: Final = "number_out_of_range"
NUMBER_NOT_FINITE: Final = "number_not_finite"
INVALID_UNICODE: Final = "invalid_unicode"
UNSUPPORTED_TYPE: Final = "unsupported_type"

# -- schema stages ----------------------------------------------------------------
UNKNOWN_TOOL: Final = "unknown_tool"
ARGS_SCHEMA_MISMATCH: Final = "args_schema_mismatch"
RESULT_SCHEMA_MISMATCH: Final = "result_schema_mismatch"
RESULT_NOT_JSON: Final = "result_not_json"
RESULT_TOOL_FAILED: Final = "result_tool_failed"
OUTPUT_SCHEMA_MISMATCH: Final = "output_schema_mismatch"

# -- ledger-bound checks ----------------------------------------------------------
UNKNOWN_CALL: Final = "unknown_call"
RESULT_FOR_UNAUTHORIZED_CALL: Final = "result_for_unauthorized_call"
CALL_ID_CONFLICT: Final = "call_id_conflict"
RESULT_ALREADY_RECORDED: Final = "result_already_recorded"
LEDGER_ERROR: Final = "ledger_error"

# -- policy stage -----------------------------------------------------------------
NOT_ALLOWED: Final = "not_allowed"
POLICY_UNDEFINED: Final = "policy_undefined"
ENGINE_ERROR: Final = "engine_error"
STAGE_FAILED: Final = "stage_failed"

# -- confidence -------------------------------------------------------------------
LOW_CONFIDENCE: Final = "low_confidence"

# -- screening --------------------------------------------------------------------
PII_BLOCKED: Final = "pii_blocked"
PII_NEEDS_REVIEW: Final = "pii_needs_review"
PROMPT_INJECTION: Final = "prompt_injection"
PROMPT_INJECTION_SUSPECTED: Final = "prompt_injection_suspected"

# -- escalation queue (guardrails/escalation) ---------------------------------------
APPROVED_BY_REVIEWER: Final = "approved_by_reviewer"
DENIED_BY_REVIEWER: Final = "denied_by_reviewer"
ESCALATION_TERMS_INVALID: Final = "escalation_terms_invalid"
UNKNOWN_TICKET: Final = "unknown_ticket"
TICKET_ALREADY_RESOLVED: Final = "ticket_already_resolved"
TICKET_EXPIRED: Final = "ticket_expired"
TICKET_CLAIMED_BY_OTHER: Final = "ticket_claimed_by_other"
NOT_A_REVIEWER: Final = "not_a_reviewer"
AGENT_CANNOT_REVIEW: Final = "agent_cannot_review"
SELF_APPROVAL: Final = "self_approval"
DUPLICATE_APPROVAL: Final = "duplicate_approval"
ARGS_HASH_MISMATCH: Final = "args_hash_mismatch"
NOTE_REQUIRED: Final = "note_required"
NOTE_INVALID: Final = "note_invalid"
NOTE_TOO_LONG: Final = "note_too_long"
PII_ACTIONS_INVALID: Final = "pii_actions_invalid"

# -- OPA server engine (guardrails/engines/opa_server.py) ----------------------------
OPA_UNAVAILABLE: Final = "opa_unavailable"
OPA_TIMEOUT: Final = "opa_timeout"
OPA_HTTP_ERROR: Final = "opa_http_error"
OPA_BAD_RESPONSE: Final = "opa_bad_response"
OPA_CIRCUIT_OPEN: Final = "opa_circuit_open"
FAIL_OPEN: Final = "fail_open"  # the kind of a finding on an allow the engine could not decide

#: Every code Railguard itself emits, with the sentence a reader sees in the docs.
DOCUMENTED: Final[dict[str, str]] = {
    MALFORMED_JSON: "The request body or file is not valid JSON.",
    INVALID_ENCODING: "The payload is not valid UTF-8.",
    INPUT_TOO_LARGE: "The payload exceeds the configured size or node limit.",
    INPUT_TOO_DEEP: "The payload nests deeper than the configured depth limit.",
    NUMBER_OUT_OF_RANGE: "An integer outside +/-2^53 or a float beyond 1e+/-300: engines disagree there.",
    NUMBER_NOT_FINITE: "A float is NaN or infinite.",
    INVALID_UNICODE: "A string holds lone surrogates or other text that is not valid Unicode.",
    UNSUPPORTED_TYPE: "A value is not a JSON type (object, array, string, number, bool, null).",
    UNKNOWN_TOOL: "No schema is registered for the tool; unknown tools never reach policy.",
    ARGS_SCHEMA_MISMATCH: "The call's arguments do not match the tool's JSON Schema.",
    RESULT_SCHEMA_MISMATCH: "The tool's result does not match its output schema.",
    RESULT_NOT_JSON: "The tool promised JSON and returned something else (e.g. an HTML page).",
    RESULT_TOOL_FAILED: "The tool reported a failure instead of a result.",
    OUTPUT_SCHEMA_MISMATCH: "The agent's output does not match the expected schema.",
    UNKNOWN_CALL: "A result was recorded for a call the ledger has never seen.",
    RESULT_FOR_UNAUTHORIZED_CALL: "A result was recorded for a call that was not allowed.",
    CALL_ID_CONFLICT: "A call id was reused with a different tool or arguments.",
    RESULT_ALREADY_RECORDED: "A second result for a call that has one; the first one stands.",
    LEDGER_ERROR: "The session ledger could not be read or written; nothing was allowed.",
    NOT_ALLOWED: "The policy's allow rule is false for this call.",
    POLICY_UNDEFINED: "The policy gave no usable answer (undefined, empty or malformed).",
    ENGINE_ERROR: "The policy engine failed while evaluating; treated as deny.",
    STAGE_FAILED: "A stage (e.g. a screener) raised instead of answering; treated as deny.",
    LOW_CONFIDENCE: "The result's confidence is below the threshold; a person decides.",
    PII_BLOCKED: "The payload carries PII or a secret whose configured action is block.",
    PII_NEEDS_REVIEW: "The payload carries PII whose configured action is escalate; a person decides.",
    PROMPT_INJECTION: "The text scores above the channel's deny threshold for prompt injection.",
    PROMPT_INJECTION_SUSPECTED: "The text is in the channel's uncertain band for prompt injection; a person decides.",
    APPROVED_BY_REVIEWER: "Reviewers approved this exact call (or result); the approval is spent by this decision.",
    DENIED_BY_REVIEWER: "A reviewer denied this exact call; the denial stands for these arguments.",
    ESCALATION_TERMS_INVALID: "A policy's escalate entry asked for approvers, deadline_s or default with bad values.",
    UNKNOWN_TICKET: "No ticket has this id.",
    TICKET_ALREADY_RESOLVED: "The ticket was already resolved (approved, denied, expired or cancelled).",
    TICKET_EXPIRED: "The ticket's deadline passed; it resolved to its default and can no longer be approved.",
    TICKET_CLAIMED_BY_OTHER: "Another reviewer has claimed the ticket.",
    NOT_A_REVIEWER: "Only identities with the reviewer role resolve tickets.",
    AGENT_CANNOT_REVIEW: "An agent identity can never resolve a ticket.",
    SELF_APPROVAL: "A reviewer cannot resolve a ticket raised by or on behalf of their own identity.",
    DUPLICATE_APPROVAL: "This reviewer already approved the ticket; a second approver must be someone else.",
    ARGS_HASH_MISMATCH: "The approval names arguments (hash) other than the ticket's call.",
    NOTE_REQUIRED: "A denial needs a note saying why.",
    NOTE_INVALID: "A note holds control or bidi-override characters.",
    NOTE_TOO_LONG: "A note is longer than 2,000 characters.",
    PII_ACTIONS_INVALID: "The policy's pii_actions is not an object of entity type to a known action.",
    OPA_UNAVAILABLE: "The OPA server could not be reached, or dropped the connection; treated as deny.",
    OPA_TIMEOUT: "The OPA server did not answer within the engine's per-call timeout; treated as deny.",
    OPA_HTTP_ERROR: "The OPA server answered with an HTTP error status other than a policy evaluation error.",
    OPA_BAD_RESPONSE: "The OPA server's answer is not a JSON object; treated as deny.",
    OPA_CIRCUIT_OPEN: "The OPA server failed repeatedly: calls are refused until a probe after the cool-down succeeds.",
    FAIL_OPEN: "Finding on an allowed call: the OPA server was unavailable and the tool opted into fail-open.",
}

# -- the sidecar (guardrails/service): HTTP problem details ----------------------------
UNAUTHORIZED: Final = "unauthorized"
FORBIDDEN: Final = "forbidden"
BODY_TOO_LARGE: Final = "body_too_large"
INVALID_REQUEST: Final = "invalid_request"
NOT_FOUND: Final = "not_found"
METHOD_NOT_ALLOWED: Final = "method_not_allowed"
UNSUPPORTED_MEDIA_TYPE: Final = "unsupported_media_type"
CSRF_FAILED: Final = "csrf_failed"
INTERNAL_ERROR: Final = "internal_error"
DOCUMENTED.update(
    {
        UNAUTHORIZED: "No API key, or one that is unknown or revoked (Authorization: Bearer <key>).",
        FORBIDDEN: "The API key's identity lacks the role this endpoint needs (agent or reviewer).",
        BODY_TOO_LARGE: "The request body exceeds the sidecar's limit; it was refused while being read.",
        INVALID_REQUEST: "The request does not match the endpoint's schema; errors[] lists each problem.",
        NOT_FOUND: "No such endpoint, or nothing with this id that the caller may see.",
        METHOD_NOT_ALLOWED: "The endpoint exists but not with this HTTP method.",
        UNSUPPORTED_MEDIA_TYPE: "A /v1 request body must be JSON (Content-Type: application/json).",
        CSRF_FAILED: "A console form was posted without this session's CSRF token.",
        INTERNAL_ERROR: "The sidecar failed unexpectedly; nothing was decided. The log has the detail.",
    }
)
