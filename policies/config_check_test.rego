package railguard.tool_call_test

import data.railguard.tool_call
import rego.v1

configured(c) := object.union(payment, {"config": c})

test_config_check_well_typed_config_is_accepted if {
	allowed(payment)
	allowed(configured({"email": {"to_arg": ["to", "cc"]}}))
}

test_config_check_absent_config_is_no_config_error if {
	count(tool_call.config_errors) == 0 with data.railguard.config as {}
	allowed(json.patch(payment, [
		{"op": "remove", "path": "/config/payments"},
		{"op": "remove", "path": "/config/budgets"},
		{"op": "remove", "path": "/config/loop"},
		{"op": "remove", "path": "/config/circuit_breaker"},
	]))
}

test_config_check_string_limit_denies_instead_of_disabling_the_rule if {
	# "10000" is above every number in OPA's order: nothing would ever be over the limit.
	denied_with(configured({"payments": {"max_amount": "10000"}}), {"config_invalid"})
	denied_with(object.union(configured({"payments": {"max_amount": "10000"}}), {"call": {"args": {"amount": 20000}}}), {"config_invalid"})
	denied_with(object.union(configured({"payments": {"escalate_above": "1000"}}), {"call": {"args": {"amount": 5000}}}), {"config_invalid"})
}

test_config_check_every_mistyped_limit_denies if {
	denied_with(configured({"payments": {"escalate_above": null}}), {"config_invalid"})
	denied_with(configured({"budgets": {"max_calls_total": "100"}}), {"config_invalid"})
	denied_with(configured({"budgets": {"max_tokens": true}}), {"config_invalid"})
	denied_with(configured({"budgets": {"max_cost": [5]}}), {"config_invalid"})
	denied_with(configured({"loop": {"max_repeats": "3"}}), {"config_invalid"})
	denied_with(configured({"circuit_breaker": {"failure_threshold": "3"}}), {"config_invalid"})
}

test_config_check_per_tool_budgets_must_be_numbers if {
	denied_with(configured({"budgets": {"max_calls_per_tool": {"make_payment": "2"}}}), {"config_invalid"})
	denied_with(configured({"budgets": {"max_calls_per_tool": ["make_payment"]}}), {"config_invalid"})
}

test_config_check_tool_list_given_as_a_string_denies if {
	# `tool in "make_payment"` is undefined: no call would be a payment.
	denied_with(configured({"payments": {"tools": "make_payment"}}), {"config_invalid"})
	denied_with(configured({"email": {"tools": "send_email"}}), {"config_invalid"})
}

test_config_check_sections_must_be_objects if {
	denied_with(configured({"payments": ["make_payment"]}), {"config_invalid"})
	denied_with(configured({"budgets": "strict"}), {"config_invalid"})
	denied_with(configured({"loop": 3}), {"config_invalid"})
}

# The parameters below are not checked here: a wrong type already fails closed.

test_config_check_mistyped_argument_name_fails_closed_by_itself if {
	denied_with(configured({"payments": {"transaction_arg": 1}}), {"transaction_id_missing", "payment_not_keyed"})
	denied_with(configured({"payments": {"amount_arg": null}}), {"amount_invalid"})
}

test_config_check_mistyped_allow_list_fails_closed_by_itself if {
	denied_with(configured({"payments": {"allowed_recipients": "ACME"}}), {"recipient_not_allowed"})
	denied_with(configured({"payments": {"allowed_recipients": null}}), {"recipient_not_allowed"})
	denied_with(object.union(email, {"config": {"email": {"allowed_domains": "example.com"}}}), {"recipient_domain_not_allowed"})
}

test_config_check_mistyped_role_list_fails_closed_by_itself if {
	inp := object.union(configured({"roles": {"support_agent": "send_email"}}), {"agent": {"roles": ["support_agent"]}, "call": email.call, "tool": email.tool})
	denied_with(inp, {"tool_not_allowed_for_role"})
	denied_with(object.union(payment, {"config": "payments"}), {"tool_not_allowed_for_role"})
}

test_config_check_mistyped_cool_down_fails_closed_by_itself if {
	inp := object.union(configured({"circuit_breaker": {"cooldown_seconds": "30"}}), {
		"session": {"facts": {"failures": {"make_payment": {"consecutive": 3, "last_failure_at": 0}}}},
	})
	denied_with(inp, {"circuit_open"})
}

test_config_check_unknown_keys_are_left_to_their_owners if {
	# Parameters for a deployment's own policies are not the bundled policies' business.
	allowed(configured({"payments": {"known_recipients": "anything"}, "custom": 1}))
}

test_config_check_message_names_the_key_and_the_value if {
	message_of(tool_call.config_errors, "config_invalid") == `config payments.max_amount must be a number, got the string "10000"` with data.railguard.config as {"payments": {"max_amount": "10000"}}
	message_of(tool_call.config_errors, "config_invalid") == "config loop.max_repeats must be a number, got null" with data.railguard.config as {"loop": {"max_repeats": null}}
	message_of(tool_call.config_errors, "config_invalid") == `config payments.tools must be a list of tool names, got the string "make_payment"` with data.railguard.config as {"payments": {"tools": "make_payment"}}
}

test_config_check_errors_do_not_depend_on_the_call if {
	# Checked once at start-up, with an empty input: no rule may read the input.
	count(tool_call.config_errors) == 1 with data.railguard.config as {"loop": {"max_repeats": "3"}} with input as {}
	count(tool_call.config_errors) == 1 with data.railguard.config as {"loop": {"max_repeats": "3"}} with input as input_of(payment)
}
