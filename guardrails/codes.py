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
}
