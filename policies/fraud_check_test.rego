package railguard.tool_call_test

import data.railguard.tool_call
import rego.v1

test_fraud_check_passed_for_same_transaction_allows_payment if {
	count(tool_call.deny) == 0 with input as payment
	tool_call.allow with input as payment
}

test_fraud_check_missing_denies_payment if {
	inp := json.patch(payment, [{"op": "replace", "path": "/session/facts/results", "value": {}}])
	codes_of(tool_call.deny) == {"fraud_check_required"} with input as inp
}

test_fraud_check_for_another_transaction_does_not_count if {
	inp := object.union(payment, {"call": {"args": {"transaction_id": "t2"}}})
	codes_of(tool_call.deny) == {"fraud_check_required"} with input as inp
}

test_fraud_check_failed_denies_payment if {
	inp := object.union(payment, {"session": {"facts": {"results": {"fraud_check": {"t1": {"status": "failed"}}}}}})
	codes_of(tool_call.deny) == {"fraud_check_failed"} with input as inp
}

test_fraud_check_without_transaction_id_denies if {
	inp := json.patch(payment, [{"op": "remove", "path": "/call/args/transaction_id"}])
	"transaction_id_missing" in codes_of(tool_call.deny) with input as inp
}

test_fraud_check_numeric_transaction_id_denies if {
	inp := object.union(payment, {"call": {"args": {"transaction_id": 1}}})
	"transaction_id_missing" in codes_of(tool_call.deny) with input as inp
}

test_fraud_check_does_not_apply_to_other_tools if {
	not "fraud_check_required" in codes_of(tool_call.deny) with input as email
}
