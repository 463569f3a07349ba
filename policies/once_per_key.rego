# Money moves once. A payment tool acts once per transaction, and any tool the registry
# declares `once_per_key` acts once per value of its key argument: a second call for a key
# that already has an allowed call pending, succeeded, or of unknown outcome is denied,
# whatever its other arguments (a cent more is still the same transaction). Only a call
# the tool itself reported as failed may be retried. A new fraud check does not reopen a
# paid transaction: this rule reads what became of the payments, not of the checks.
#
# facts.by_key[tool][key] counts the allowed calls of a tool for one key value by outcome
# (pending, succeeded, failed, unknown); input.call.key is this call's key value and
# input.tool what the registry says of the tool. Both are kept by Railguard in the same
# transaction as the decision, so concurrent duplicates see each other.
package railguard.tool_call

import rego.v1

_once_payment_tools := object.get(_config, ["payments", "tools"], ["make_payment"])

_once_txn_arg := object.get(_config, ["payments", "transaction_arg"], "transaction_id")

_once_is_payment if input.call.tool in _once_payment_tools

_once_declared if input.tool.once_per_key == true

_once_applies if _once_is_payment

_once_applies if _once_declared

_once_key := object.get(input, ["call", "key"], null)

_once_state := object.get(input, ["session", "facts", "by_key", input.call.tool, _once_key], {})

_once_count(outcome) := n if {
	n := object.get(_once_state, outcome, 0)
	is_number(n)
} else := 1 # a malformed count is not proof that nothing happened

_once_blocking := {outcome: n |
	some outcome in ["pending", "succeeded", "unknown"]
	n := _once_count(outcome)
	n > 0
}

_once_code := "duplicate_payment" if _once_is_payment else := "duplicate_call"

_once_what := "transaction" if _once_is_payment else := "key"

deny contains {
	"code": _once_code,
	"message": sprintf(
		"%v for %v %v already has an allowed call (%v pending, %v succeeded, %v of unknown outcome): it acts once per %v",
		[
			input.call.tool, _once_what, _once_key, _once_count("pending"),
			_once_count("succeeded"), _once_count("unknown"), _once_what,
		],
	),
	"source": "policies/once_per_key.rego",
} if {
	_once_applies
	count(_once_blocking) > 0
}

# Fail closed when the facts cannot be trusted to find an earlier payment: the tool must be
# keyed, in the registry, by the very argument that names the transaction.
deny contains {
	"code": "payment_not_keyed",
	"message": sprintf(
		"%v must be registered with key %v (found key %v) so that each transaction is paid once",
		[input.call.tool, _once_txn_arg, object.get(input, ["tool", "key"], null)],
	),
	"source": "policies/once_per_key.rego",
} if {
	_once_is_payment
	object.get(input, ["tool", "key"], null) != _once_txn_arg
}

# A declared once-per-key tool needs a key value to count calls by (a payment without a
# transaction id is denied by fraud_check.rego already).
deny contains {
	"code": "key_missing",
	"message": sprintf("%v acts once per %v, and this call has no usable value for it", [input.call.tool, input.tool.key]),
	"source": "policies/once_per_key.rego",
} if {
	_once_declared
	not _once_is_payment
	not is_string(_once_key)
}
