# Circuit breaker: after N consecutive failures of a tool, deny it for a cool-down,
# then let exactly one probe through; a good result closes the circuit again
# (the ledger resets `consecutive` on a verified result).
package railguard.tool_call

import rego.v1

_cb := object.get(input.config, "circuit_breaker", {})

_failure := input.session.facts.failures[input.call.tool]

_open if {
	is_number(_failure.consecutive) # numbers only: cross-type order differs between engines
	_failure.consecutive >= object.get(_cb, "failure_threshold", 3)
}

_cooling if input.now - _failure.last_failure_at < object.get(_cb, "cooldown_seconds", 30)

deny contains {
	"code": "circuit_open",
	"message": sprintf("%v failed %v times in a row; retry after the cool-down", [input.call.tool, _failure.consecutive]),
	"source": "policies/circuit_breaker.rego",
} if {
	_open
	_cooling
}

deny contains {
	"code": "circuit_probe_in_flight",
	"message": sprintf("a probe call to %v is already in flight", [input.call.tool]),
	"source": "policies/circuit_breaker.rego",
} if {
	_open
	not _cooling
	in_flight := object.get(input.session.facts.pending, input.call.tool, 0)
	is_number(in_flight)
	in_flight > 0
}
