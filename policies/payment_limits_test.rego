package railguard.tool_call_test

import data.railguard.tool_call
import rego.v1

pay(amount) := object.union(payment, {"call": {"args": {"amount": amount}}})

test_payment_limits_exactly_at_threshold_is_allowed if {
	count(tool_call.escalate) == 0 with input as pay(1000)
	count(tool_call.deny) == 0 with input as pay(1000)
}

test_payment_limits_above_threshold_escalates if {
	codes_of(tool_call.escalate) == {"amount_needs_approval"} with input as pay(1000.01)
}

test_payment_limits_exactly_at_max_escalates_not_denies if {
	codes_of(tool_call.escalate) == {"amount_needs_approval"} with input as pay(10000)
	count(tool_call.deny) == 0 with input as pay(10000)
}

test_payment_limits_over_max_denies if {
	codes_of(tool_call.deny) == {"amount_over_limit"} with input as pay(10001)
	count(tool_call.escalate) == 0 with input as pay(10001)
}

test_payment_limits_huge_number_denies if {
	codes_of(tool_call.deny) == {"amount_over_limit"} with input as pay(9007199254740993)
	codes_of(tool_call.deny) == {"amount_over_limit"} with input as pay(1e30)
}

test_payment_limits_string_amount_is_invalid_not_compared if {
	# OPA orders strings above numbers: "5000" > 10000 would be true. Never compare across types.
	codes_of(tool_call.deny) == {"amount_invalid"} with input as pay("5000")
}

test_payment_limits_null_and_bool_amounts_are_invalid if {
	codes_of(tool_call.deny) == {"amount_invalid"} with input as pay(null)
	codes_of(tool_call.deny) == {"amount_invalid"} with input as pay(true)
}

test_payment_limits_recipient_outside_allow_list_denies if {
	inp := object.union(payment, {"call": {"args": {"recipient": "MALLORY"}}})
	codes_of(tool_call.deny) == {"recipient_not_allowed"} with input as inp
}

test_payment_limits_any_recipient_when_no_list_is_configured if {
	inp := json.patch(payment, [
		{"op": "remove", "path": "/config/payments/allowed_recipients"},
		{"op": "replace", "path": "/call/args/recipient", "value": "ANYONE"},
	])
	count(tool_call.deny) == 0 with input as inp
}
