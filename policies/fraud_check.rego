# A payment needs a verified, passed fraud check for the SAME transaction first.
#
# facts.results[fraud_check_tool][transaction id] is the latest result of the check that
# passed the result checkpoint (schema, JSON, confidence): an HTML error page from the
# fraud service never becomes a result, let alone a passed one. Railguard passes only
# the results keyed by this call's own argument values, so a check of another
# transaction is simply absent here.
package railguard.tool_call

import rego.v1

_fraud_payment_tools := object.get(_config, ["payments", "tools"], ["make_payment"])

_fraud_txn_arg := object.get(_config, ["payments", "transaction_arg"], "transaction_id")

_fraud_check_tool := object.get(_config, ["payments", "fraud_check_tool"], "fraud_check")

_fraud_is_payment if input.call.tool in _fraud_payment_tools

_fraud_txn := object.get(input, ["call", "args", _fraud_txn_arg], null)

# A transaction id is a non-empty string; a number or a list binds to no check.
# A helper rule, so that `not _fraud_has_txn` is true when the argument is missing:
# a negated test of an undefined value would be undefined and let the payment slip.
_fraud_has_txn if {
	is_string(_fraud_txn)
	_fraud_txn != ""
}

_fraud_result := object.get(input, ["session", "facts", "results", _fraud_check_tool, _fraud_txn], null)

# Only an object is a result; null or any other value in the facts counts as no check.
_fraud_has_result if is_object(_fraud_result)

_fraud_status := object.get(_fraud_result, "status", null) if _fraud_has_result

_fraud_missing_format := "payment needs a non-empty string %v to bind a fraud check to, got the string \"%v\"" if {
	is_string(_fraud_txn)
} else := "payment needs a non-empty string %v to bind a fraud check to, got %v"

deny contains {
	"code": "transaction_id_missing",
	"message": sprintf(_fraud_missing_format, [_fraud_txn_arg, _fraud_txn]),
	"source": "policies/fraud_check.rego",
} if {
	_fraud_is_payment
	not _fraud_has_txn
}

deny contains {
	"code": "fraud_check_required",
	"message": sprintf(
		"no verified %v result for transaction %v: run %v for this transaction first",
		[_fraud_check_tool, _fraud_txn, _fraud_check_tool],
	),
	"source": "policies/fraud_check.rego",
} if {
	_fraud_is_payment
	_fraud_has_txn
	not _fraud_has_result
}

deny contains {
	"code": "fraud_check_failed",
	"message": sprintf("%v for transaction %v has status %v, not passed", [_fraud_check_tool, _fraud_txn, _fraud_status]),
	"source": "policies/fraud_check.rego",
} if {
	_fraud_is_payment
	_fraud_has_txn
	_fraud_status != "passed"
}
