package railguard.tool_call_test

import data.railguard.tool_call
import rego.v1

repeated(n) := object.union(payment, {"session": {"facts": {"repeats": n}}})

test_loop_detection_below_limit_is_allowed if {
	count(tool_call.deny) == 0 with input as repeated(2)
}

test_loop_detection_at_limit_denies if {
	codes_of(tool_call.deny) == {"loop_detected"} with input as repeated(3)
}

test_loop_detection_limit_is_configurable if {
	inp := object.union(repeated(1), {"config": {"loop": {"max_repeats": 1}}})
	codes_of(tool_call.deny) == {"loop_detected"} with input as inp
}
