package railguard.tool_call_test

import data.railguard.tool_call
import rego.v1

# make_payment failed n times in a row, the last time at `at`; now is 1000, cool-down 30 s.
failing(n, at, pending) := object.union(payment, {
	"now": 1000,
	"session": {"facts": {"failures": {"make_payment": {"consecutive": n, "last_failure_at": at}}, "pending": pending}},
})

test_circuit_breaker_closed_below_the_threshold if {
	allowed(failing(2, 999, {}))
}

test_circuit_breaker_open_at_the_threshold_during_the_cool_down if {
	denied_with(failing(3, 990, {}), {"circuit_open"})
	denied_with(failing(10, 999.5, {}), {"circuit_open"})
}

test_circuit_breaker_still_open_one_second_before_the_end_of_the_cool_down if {
	denied_with(failing(3, 971, {}), {"circuit_open"})
	denied_with(failing(3, 970.001, {}), {"circuit_open"})
}

test_circuit_breaker_probe_allowed_exactly_at_the_end_of_the_cool_down if {
	allowed(failing(3, 970, {}))
	allowed(failing(3, 100, {}))
}

test_circuit_breaker_second_probe_denied_while_the_first_is_in_flight if {
	denied_with(failing(5, 900, {"make_payment": 1}), {"circuit_probe_in_flight"})
}

test_circuit_breaker_during_the_cool_down_the_circuit_is_open_not_probing if {
	denied_with(failing(5, 990, {"make_payment": 1}), {"circuit_open"})
}

test_circuit_breaker_pending_calls_of_other_tools_do_not_block_the_probe if {
	allowed(failing(5, 900, {"send_email": 3}))
}

test_circuit_breaker_pending_calls_do_not_matter_while_closed if {
	allowed(failing(0, 900, {"make_payment": 4}))
}

test_circuit_breaker_other_tools_are_unaffected if {
	allowed(object.union(failing(9, 999, {}), {"call": {"tool": "send_email", "args": {"to": "a@example.com", "subject": "s", "body": "b"}}}))
}

test_circuit_breaker_missing_clock_keeps_the_circuit_open if {
	denied_with(object.remove(failing(3, 100, {}), ["now"]), {"circuit_open"})
	denied_with(object.union(failing(3, 100, {}), {"now": "1000"}), {"circuit_open"})
	denied_with(json.patch(failing(3, 100, {}), [{"op": "remove", "path": "/session/facts/failures/make_payment/last_failure_at"}]), {"circuit_open"})
}

test_circuit_breaker_threshold_and_cool_down_are_configurable if {
	cfg := {"config": {"circuit_breaker": {"failure_threshold": 1, "cooldown_seconds": 600}}}
	denied_with(object.union(failing(1, 500, {}), cfg), {"circuit_open"})
	allowed(object.union(failing(1, 400, {}), cfg))
}

test_circuit_breaker_defaults_apply_without_config if {
	inp := json.patch(failing(3, 990, {}), [{"op": "remove", "path": "/config/circuit_breaker"}])
	denied_with(inp, {"circuit_open"})
}

test_circuit_breaker_missing_failures_fact_keeps_it_closed if {
	allowed(json.patch(payment, [{"op": "remove", "path": "/session/facts/failures"}]))
}

test_circuit_breaker_malformed_failure_count_is_never_compared if {
	allowed(failing("9", 999, {}))
	allowed(failing(null, 999, {}))
}

test_circuit_breaker_message_names_the_tool_and_the_failures if {
	message_of(tool_call.deny, "circuit_open") == "make_payment: 3 consecutive failures (threshold 3), refused for 30 s after the last failure at 990 (now 1000)" with input as input_of(failing(3, 990, {})) with data.railguard.config as config_of(failing(3, 990, {}))
}
