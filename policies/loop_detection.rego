# The same tool with the same arguments, again and again: an agent stuck in a loop.
# `facts.repeats` counts earlier allowed calls with the same tool and canonical args hash.
package railguard.tool_call

import rego.v1

deny contains {
	"code": "loop_detected",
	"message": sprintf("%v with these arguments was already called %v times (limit %v)", [input.call.tool, input.session.facts.repeats, limit]),
	"source": "policies/loop_detection.rego",
} if {
	limit := object.get(object.get(input.config, "loop", {}), "max_repeats", 3)
	# Numbers only: OPA orders every string above every number, rego-cpp does not.
	is_number(input.session.facts.repeats)
	input.session.facts.repeats >= limit
}
