package railguard.tool_call_test

import data.railguard.tool_call
import rego.v1

repeated(n) := object.union(payment, {"session": {"facts": {"repeats": n}}})

test_loop_detection_below_the_limit_is_allowed if {
	allowed(repeated(0))
	allowed(repeated(2))
}

test_loop_detection_at_the_limit_denies if {
	denied_with(repeated(3), {"loop_detected"})
}

test_loop_detection_far_above_the_limit_denies if {
	denied_with(repeated(1000000), {"loop_detected"})
}

test_loop_detection_limit_is_configurable if {
	denied_with(object.union(repeated(1), {"config": {"loop": {"max_repeats": 1}}}), {"loop_detected"})
	allowed(object.union(repeated(5), {"config": {"loop": {"max_repeats": 6}}}))
}

test_loop_detection_default_limit_is_3 if {
	inp := json.patch(repeated(3), [{"op": "remove", "path": "/config/loop"}])
	denied_with(inp, {"loop_detected"})
	allowed(json.patch(repeated(2), [{"op": "remove", "path": "/config/loop"}]))
}

test_loop_detection_missing_repeats_fact_does_not_fire if {
	allowed(json.patch(payment, [{"op": "remove", "path": "/session/facts/repeats"}]))
}

test_loop_detection_malformed_repeats_are_never_compared if {
	allowed(repeated("5"))
	allowed(repeated(null))
}

test_loop_detection_applies_to_every_tool if {
	denied_with(object.union(lookup, {"session": {"facts": {"repeats": 3}}}), {"loop_detected"})
}

test_loop_detection_message_names_the_tool_and_the_count if {
	message_of(tool_call.deny, "loop_detected") == "make_payment with the same arguments: 4 earlier calls, the limit is 3" with input as input_of(repeated(4)) with data.railguard.config as config_of(repeated(4))
}
