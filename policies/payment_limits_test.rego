package railguard.tool_call_test

import data.railguard.tool_call
import rego.v1

pay(amount) := object.union(payment, {"call": {"args": {"amount": amount}}})

pay_to(recipient) := object.union(payment, {"call": {"args": {"recipient": recipient}}})

test_payment_limits_small_amount_is_allowed if {
	allowed(pay(100))
	allowed(pay(0.01))
}

test_payment_limits_exactly_at_the_threshold_is_allowed if {
	allowed(pay(1000))
}

test_payment_limits_just_above_the_threshold_escalates if {
	escalated_with(pay(1000.01), {"amount_needs_approval"})
	escalated_with(pay(5000), {"amount_needs_approval"})
}

test_payment_limits_exactly_at_the_limit_escalates_not_denies if {
	escalated_with(pay(10000), {"amount_needs_approval"})
}

test_payment_limits_over_the_limit_denies_without_escalating if {
	denied_with(pay(10000.01), {"amount_over_limit"})
	denied_with(pay(20000), {"amount_over_limit"})
	count(tool_call.escalate) == 0 with input as input_of(pay(20000)) with data.railguard.config as config_of(pay(20000))
}

test_payment_limits_huge_numbers_are_over_the_limit if {
	denied_with(pay(9007199254740993), {"amount_over_limit"}) # 2^53 + 1
	denied_with(pay(1e30), {"amount_over_limit"})
}

test_payment_limits_string_amount_is_invalid_not_compared if {
	# OPA orders strings above numbers: "5000" > 10000 would be true, "50" too.
	denied_with(pay("5000"), {"amount_invalid"})
	denied_with(pay("50"), {"amount_invalid"})
}

test_payment_limits_null_boolean_and_composite_amounts_are_invalid if {
	denied_with(pay(null), {"amount_invalid"})
	denied_with(pay(true), {"amount_invalid"})
	denied_with(pay(false), {"amount_invalid"})
	denied_with(pay([5]), {"amount_invalid"})
	denied_with(pay({"value": 5}), {"amount_invalid"})
}

test_payment_limits_missing_amount_is_invalid if {
	denied_with(json.patch(payment, [{"op": "remove", "path": "/call/args/amount"}]), {"amount_invalid"})
}

test_payment_limits_zero_and_negative_amounts_are_invalid if {
	denied_with(pay(0), {"amount_invalid"})
	denied_with(pay(-5), {"amount_invalid"})
	denied_with(pay(-1e30), {"amount_invalid"})
}

test_payment_limits_recipient_outside_the_allow_list_denies if {
	denied_with(pay_to("MALLORY"), {"recipient_not_allowed"})
}

test_payment_limits_recipient_match_is_exact if {
	denied_with(pay_to("acme"), {"recipient_not_allowed"})
	denied_with(pay_to("ACME "), {"recipient_not_allowed"})
	denied_with(pay_to("АCME"), {"recipient_not_allowed"}) # Cyrillic "А"
}

test_payment_limits_recipient_of_the_wrong_type_or_missing_denies if {
	denied_with(pay_to(["ACME"]), {"recipient_not_allowed"})
	denied_with(pay_to(null), {"recipient_not_allowed"})
	denied_with(json.patch(payment, [{"op": "remove", "path": "/call/args/recipient"}]), {"recipient_not_allowed"})
}

test_payment_limits_any_recipient_when_no_list_is_configured if {
	inp := json.patch(pay_to("ANYONE"), [{"op": "remove", "path": "/config/payments/allowed_recipients"}])
	allowed(inp)
}

test_payment_limits_unicode_recipient_listed_exactly_is_allowed if {
	allowed(object.union(pay_to("MÜLLER-GMBH"), {"config": {"payments": {"allowed_recipients": ["MÜLLER-GMBH"]}}}))
}

test_payment_limits_deny_wins_over_escalate if {
	inp := object.union(payment, {"call": {"args": {"amount": 5000, "recipient": "MALLORY"}}})
	denied_with(inp, {"recipient_not_allowed"})
	codes_of(tool_call.escalate) == {"amount_needs_approval"} with input as input_of(inp) with data.railguard.config as config_of(inp)
}

test_payment_limits_over_limit_and_bad_recipient_give_both_codes if {
	denied_with(object.union(payment, {"call": {"args": {"amount": 50000, "recipient": "MALLORY"}}}), {"amount_over_limit", "recipient_not_allowed"})
}

test_payment_limits_are_configurable if {
	inp := object.union(pay(300), {"config": {"payments": {"max_amount": 500, "escalate_above": 200}}})
	escalated_with(inp, {"amount_needs_approval"})
	denied_with(object.union(inp, {"call": {"args": {"amount": 501}}}), {"amount_over_limit"})
}

test_payment_limits_defaults_apply_without_payments_config if {
	inp := json.patch(pay(5000), [{"op": "remove", "path": "/config/payments"}])
	escalated_with(inp, {"amount_needs_approval"})
	denied_with(object.union(inp, {"call": {"args": {"amount": 10001}}}), {"amount_over_limit"})
}

test_payment_limits_amount_arg_is_configurable if {
	inp := json.patch(payment, [
		{"op": "move", "from": "/call/args/amount", "path": "/call/args/value"},
		{"op": "add", "path": "/config/payments/amount_arg", "value": "value"},
	])
	allowed(inp)
	denied_with(object.union(inp, {"call": {"args": {"value": 20000}}}), {"amount_over_limit"})
}

test_payment_limits_do_not_apply_to_other_tools if {
	allowed(object.union(lookup, {"call": {"args": {"amount": "lots", "recipient": "MALLORY"}}}))
	allowed(object.union(lookup, {"call": {"args": {"amount": 5000}}}))
	allowed(object.union(lookup, {"call": {"args": {"amount": 20000}}}))
}

test_payment_limits_messages_name_the_amount_and_the_limit if {
	message_of(tool_call.deny, "amount_invalid") == `amount must be a positive number, got the string "5000"` with input as input_of(pay("5000")) with data.railguard.config as config_of(pay("5000"))
	message_of(tool_call.deny, "amount_invalid") == "amount must be a positive number, got -5" with input as input_of(pay(-5)) with data.railguard.config as config_of(pay(-5))
	message_of(tool_call.deny, "amount_over_limit") == "amount 20000 is over the limit of 10000" with input as input_of(pay(20000)) with data.railguard.config as config_of(pay(20000))
	message_of(tool_call.escalate, "amount_needs_approval") == "amount 5000 is above the approval threshold of 1000" with input as input_of(pay(5000)) with data.railguard.config as config_of(pay(5000))
	message_of(tool_call.deny, "recipient_not_allowed") == `recipient MALLORY is not among the allowed recipients ["ACME", "GLOBEX"]` with input as input_of(pay_to("MALLORY")) with data.railguard.config as config_of(pay_to("MALLORY"))
}

test_limits_two_person_rule_above_its_threshold if {
	inp := object.union(payment, {"call": {"args": {"amount": 6000}}, "config": {"payments": {"two_person_above": 5000}}})
	entries := tool_call.escalate with input as input_of(inp) with data.railguard.config as config_of(inp)
	some entry in entries
	entry.code == "amount_needs_approval"
	entry.approvers == 2
}

test_limits_one_approver_at_or_below_the_two_person_threshold if {
	inp := object.union(payment, {"call": {"args": {"amount": 5000}}, "config": {"payments": {"two_person_above": 5000}}})
	entries := tool_call.escalate with input as input_of(inp) with data.railguard.config as config_of(inp)
	some entry in entries
	entry.approvers == 1
}
