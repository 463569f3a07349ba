# The same tool with the same arguments again and again: an agent stuck in a loop.
# facts.repeats counts earlier ALLOWED calls with this tool and the same canonical
# arguments, so with max_repeats 3 the fourth identical call is denied.
package railguard.tool_call

import rego.v1

deny contains {
	"code": "loop_detected",
	"message": sprintf("%v with the same arguments: %v earlier calls, the limit is %v", [input.call.tool, repeats, limit]),
	"source": "policies/loop_detection.rego",
} if {
	repeats := object.get(input, ["session", "facts", "repeats"], 0)
	limit := object.get(_config, ["loop", "max_repeats"], 3)
	is_number(repeats) # numbers only: OPA orders every string above every number
	is_number(limit)
	repeats >= limit
}
