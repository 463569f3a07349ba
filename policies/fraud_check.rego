# A payment needs a verified, passed fraud check for the SAME transaction first.
# `facts.results` only holds results that passed the check-result checkpoint, so an
# HTML error page from the fraud service never counts as "passed".
package railguard.tool_call

import rego.v1

_payments := object.get(input.config, "payments", {})

_is_payment if input.call.tool in object.get(_payments, "tools", ["make_payment"])

_txn_arg := object.get(_payments, "transaction_arg", "transaction_id")

_check_tool := object.get(_payments, "fraud_check_tool", "fraud_check")

_txn := input.call.args[_txn_arg]

_check := input.session.facts.results[_check_tool][_txn]

# A helper rule, not `not is_string(_txn)`: negating a call on an undefined value is
# itself undefined in OPA, and a missing argument must deny, not slip through.
_has_txn if is_string(_txn)

deny contains {
	"code": "transaction_id_missing",
	"message": sprintf("payment has no %v argument to bind a fraud check to", [_txn_arg]),
	"source": "policies/fraud_check.rego",
} if {
	_is_payment
	not _has_txn
}

deny contains {
	"code": "fraud_check_required",
	"message": sprintf("no verified fraud check for transaction %v", [_txn]),
	"source": "policies/fraud_check.rego",
} if {
	_is_payment
	_has_txn
	not _check
}

deny contains {
	"code": "fraud_check_failed",
	"message": sprintf("fraud check for transaction %v is %v, not passed", [_txn, object.get(_check, "status", null)]),
	"source": "policies/fraud_check.rego",
} if {
	_is_payment
	_check
	object.get(_check, "status", null) != "passed"
}
