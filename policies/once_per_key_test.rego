package railguard.tool_call_test

import data.railguard.tool_call
import rego.v1

# The payment fixture, after earlier allowed payments for the same transaction ended as `state`.
paid(state) := object.union(payment, {"session": {"facts": {"by_key": {"make_payment": {"t1": state}}}}})

test_once_per_key_first_payment_for_a_checked_transaction_is_allowed if {
	allowed(payment)
	allowed(paid({"pending": 0, "succeeded": 0, "failed": 0, "unknown": 0}))
}

test_once_per_key_second_payment_while_the_first_is_pending_is_denied if {
	denied_with(paid({"pending": 1, "succeeded": 0, "failed": 0, "unknown": 0}), {"duplicate_payment"})
}

test_once_per_key_second_payment_after_a_succeeded_one_is_denied if {
	denied_with(paid({"pending": 0, "succeeded": 1, "failed": 0, "unknown": 0}), {"duplicate_payment"})
}

test_once_per_key_payment_of_unknown_outcome_blocks_a_retry if {
	# The result did not pass its check (an HTML page, low confidence): the money may have moved.
	denied_with(paid({"pending": 0, "succeeded": 0, "failed": 0, "unknown": 1}), {"duplicate_payment"})
}

test_once_per_key_payment_the_tool_reported_failed_may_be_retried if {
	allowed(paid({"pending": 0, "succeeded": 0, "failed": 2, "unknown": 0}))
}

test_once_per_key_other_amount_same_transaction_is_still_a_duplicate if {
	inp := object.union(paid({"succeeded": 1}), {"call": {"args": {"amount": 99.99}}})
	denied_with(inp, {"duplicate_payment"})
}

test_once_per_key_a_new_passed_fraud_check_does_not_reopen_a_paid_transaction if {
	fresh := {"fraud_check": {"t1": {"status": "passed", "ok": true, "at": 999}}}
	inp := object.union(paid({"succeeded": 1}), {"session": {"facts": {"results": fresh}}})
	denied_with(inp, {"duplicate_payment"})
}

test_once_per_key_payment_for_another_transaction_is_not_a_duplicate if {
	other := object.union(payment, {
		"call": {"key": "t2", "args": {"transaction_id": "t2"}},
		"session": {"facts": {
			"by_key": {"make_payment": {"t1": {"succeeded": 1}}},
			"results": {"fraud_check": {"t2": {"status": "passed", "ok": true, "at": 100}}},
		}},
	})
	allowed(other)
}

test_once_per_key_malformed_counts_count_as_something_happened if {
	denied_with(paid({"succeeded": "0"}), {"duplicate_payment"})
	denied_with(paid({"pending": null}), {"duplicate_payment"})
}

test_once_per_key_payment_tool_not_keyed_by_the_transaction_is_denied if {
	denied_with(object.union(payment, {"tool": {"key": "recipient"}}), {"payment_not_keyed"})
	denied_with(object.union(payment, {"tool": {"key": null, "once_per_key": false}}), {"payment_not_keyed"})
	denied_with(object.remove(payment, ["tool"]), {"payment_not_keyed"})
}

test_once_per_key_declared_tool_is_denied_on_a_second_call_for_the_same_key if {
	ticket := object.union(lookup, {
		"call": {"tool": "lookup_customer", "key": "c9"},
		"tool": {"key": "customer_id", "once_per_key": true},
		"session": {"facts": {"by_key": {"lookup_customer": {"c9": {"succeeded": 1}}}}},
	})
	denied_with(ticket, {"duplicate_call"})
	allowed(json.patch(ticket, [{"op": "replace", "path": "/session/facts/by_key", "value": {}}]))
}

test_once_per_key_declared_tool_without_a_key_value_is_denied if {
	inp := object.union(lookup, {"tool": {"key": "customer_id", "once_per_key": true}})
	denied_with(inp, {"key_missing"})
}

test_once_per_key_tools_not_declared_once_per_key_repeat_freely if {
	inp := object.union(lookup, {
		"call": {"key": "c9"},
		"session": {"facts": {"by_key": {"lookup_customer": {"c9": {"succeeded": 5}}}}},
	})
	allowed(inp)
}

test_once_per_key_message_names_the_transaction_and_the_counts if {
	inp := paid({"pending": 1, "succeeded": 0, "failed": 3, "unknown": 0})
	message_of(tool_call.deny, "duplicate_payment") == "make_payment for transaction t1 already has an allowed call (1 pending, 0 succeeded, 0 of unknown outcome): it acts once per transaction" with input as input_of(inp) with data.railguard.config as config_of(inp)
}
