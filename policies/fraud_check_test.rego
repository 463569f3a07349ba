package railguard.tool_call_test

import data.railguard.tool_call
import rego.v1

paying_for(txn) := object.union(payment, {"call": {"args": {"transaction_id": txn}}})

with_check(result) := json.patch(payment, [{"op": "replace", "path": "/session/facts/results", "value": {"fraud_check": {"t1": result}}}])

without_results := json.patch(payment, [{"op": "replace", "path": "/session/facts/results", "value": {}}])

test_fraud_check_passed_for_the_same_transaction_allows_the_payment if {
	allowed(payment)
}

test_fraud_check_missing_denies_the_payment if {
	denied_with(without_results, {"fraud_check_required"})
}

test_fraud_check_for_another_transaction_does_not_count if {
	denied_with(paying_for("t2"), {"fraud_check_required"})
}

test_fraud_check_failed_denies_the_payment if {
	denied_with(with_check({"status": "failed", "ok": true, "at": 100}), {"fraud_check_failed"})
}

test_fraud_check_under_review_denies_the_payment if {
	denied_with(with_check({"status": "review"}), {"fraud_check_failed"})
}

test_fraud_check_status_must_be_exactly_passed if {
	denied_with(with_check({"status": "PASSED"}), {"fraud_check_failed"})
	denied_with(with_check({"status": true}), {"fraud_check_failed"})
}

test_fraud_check_result_without_status_denies if {
	denied_with(with_check({"ok": true, "at": 100}), {"fraud_check_failed"})
}

test_fraud_check_malformed_result_counts_as_no_check if {
	denied_with(with_check(null), {"fraud_check_required"})
	denied_with(with_check("passed"), {"fraud_check_required"})
	denied_with(with_check(true), {"fraud_check_required"})
	denied_with(with_check(["passed"]), {"fraud_check_required"})
}

test_fraud_check_missing_or_null_facts_deny if {
	denied_with(json.patch(payment, [{"op": "remove", "path": "/session/facts/results"}]), {"fraud_check_required"})
	denied_with(json.patch(payment, [{"op": "replace", "path": "/session/facts/results", "value": null}]), {"fraud_check_required"})
	denied_with(json.patch(payment, [{"op": "remove", "path": "/session/facts"}]), {"fraud_check_required"})
	denied_with(object.remove(payment, ["session"]), {"fraud_check_required"})
}

test_fraud_check_without_transaction_id_denies if {
	denied_with(json.patch(payment, [{"op": "remove", "path": "/call/args/transaction_id"}]), {"transaction_id_missing"})
}

test_fraud_check_transaction_id_of_the_wrong_type_denies if {
	# A number must not find the check stored under the string "1".
	inp := object.union(paying_for(1), {"session": {"facts": {"results": {"fraud_check": {"1": {"status": "passed"}}}}}})
	denied_with(inp, {"transaction_id_missing"})
	denied_with(paying_for(null), {"transaction_id_missing"})
	denied_with(paying_for(["t1"]), {"transaction_id_missing"})
	denied_with(paying_for({"id": "t1"}), {"transaction_id_missing"})
}

test_fraud_check_empty_transaction_id_denies if {
	denied_with(paying_for(""), {"transaction_id_missing"})
}

test_fraud_check_without_args_denies if {
	denied_with(json.patch(payment, [{"op": "remove", "path": "/call/args"}]), {"transaction_id_missing", "amount_invalid", "recipient_not_allowed"})
}

test_fraud_check_unicode_transaction_id_needs_its_own_check if {
	allowed(object.union(paying_for("überweisung-ß-1"), {"session": {"facts": {"results": {"fraud_check": {"überweisung-ß-1": {"status": "passed"}}}}}}))
	# A zero-width space makes it another transaction.
	denied_with(paying_for("t1\u200b"), {"fraud_check_required"})
}

test_fraud_check_arg_and_tool_names_are_configurable if {
	inp := {
		"call": {"tool": "make_payment", "key": "p7", "args": {"payment_ref": "p7", "amount": 10, "recipient": "ACME"}},
		"tool": {"key": "payment_ref", "once_per_key": true},
		"agent": payment.agent,
		"session": {"id": "s1", "facts": {"results": {"risk_check": {"p7": {"status": "passed"}}}}},
		"config": object.union(config, {"payments": {"transaction_arg": "payment_ref", "fraud_check_tool": "risk_check"}}),
		"now": 1000,
	}
	allowed(inp)
	denied_with(json.patch(inp, [{"op": "remove", "path": "/session/facts/results/risk_check"}]), {"fraud_check_required"})
}

test_fraud_check_does_not_apply_to_other_tools if {
	allowed(json.patch(lookup, [{"op": "replace", "path": "/session/facts/results", "value": {}}]))
	# Even with a failed check for a transaction the call names.
	allowed(object.union(lookup, {
		"call": {"args": {"transaction_id": "t1"}},
		"session": {"facts": {"results": {"fraud_check": {"t1": {"status": "failed"}}}}},
	}))
}

test_fraud_check_messages_name_the_transaction if {
	message_of(tool_call.deny, "transaction_id_missing") == "payment needs a non-empty string transaction_id to bind a fraud check to, got 1" with input as input_of(paying_for(1)) with data.railguard.config as config_of(paying_for(1))
	message_of(tool_call.deny, "transaction_id_missing") == `payment needs a non-empty string transaction_id to bind a fraud check to, got the string ""` with input as input_of(paying_for("")) with data.railguard.config as config_of(paying_for(""))
	message_of(tool_call.deny, "fraud_check_required") == "no verified fraud_check result for transaction t2: run fraud_check for this transaction first" with input as input_of(paying_for("t2")) with data.railguard.config as config_of(paying_for("t2"))
	message_of(tool_call.deny, "fraud_check_failed") == "fraud_check for transaction t1 has status failed, not passed" with input as input_of(with_check({"status": "failed"})) with data.railguard.config as config_of(with_check({"status": "failed"}))
}
