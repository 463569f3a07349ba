package railguard.tool_call_test

import data.railguard.tool_call
import rego.v1

failing(n, at, pending) := object.union(payment, {
	"now": 1000,
	"session": {"facts": {"failures": {"make_payment": {"consecutive": n, "last_failure_at": at}}, "pending": pending}},
})

test_circuit_breaker_closed_below_threshold if {
	count(tool_call.deny) == 0 with input as failing(2, 999, {})
}

test_circuit_breaker_open_during_cool_down if {
	codes_of(tool_call.deny) == {"circuit_open"} with input as failing(3, 990, {})
}

test_circuit_breaker_probe_allowed_after_cool_down if {
	count(tool_call.deny) == 0 with input as failing(3, 970, {})
}

test_circuit_breaker_second_probe_denied_while_first_in_flight if {
	codes_of(tool_call.deny) == {"circuit_probe_in_flight"} with input as failing(5, 900, {"make_payment": 1})
}

test_circuit_breaker_other_tools_unaffected if {
	inp := object.union(failing(9, 999, {}), {"call": {"tool": "send_email", "args": {"to": "a@example.com", "subject": "s", "body": "b"}}})
	count(tool_call.deny) == 0 with input as inp
}
