# Circuit breaker per tool. After failure_threshold consecutive failed (or invalid)
# results, the tool is refused for cooldown_seconds after the last failure. Then one probe
# may go: while its result is pending, further calls are refused. A good result resets
# `consecutive` in the facts (the circuit closes); another failure restarts the cool-down.
package railguard.tool_call

import rego.v1

_breaker_consecutive := object.get(input, ["session", "facts", "failures", input.call.tool, "consecutive"], 0)

_breaker_last_failure := object.get(input, ["session", "facts", "failures", input.call.tool, "last_failure_at"], null)

_breaker_threshold := object.get(_config, ["circuit_breaker", "failure_threshold"], 3)

_breaker_cooldown := object.get(_config, ["circuit_breaker", "cooldown_seconds"], 30)

_breaker_now := object.get(input, "now", null)

_breaker_open if {
	is_number(_breaker_consecutive)
	is_number(_breaker_threshold)
	_breaker_consecutive >= _breaker_threshold
}

# Cooled down only when the clock says so: a missing or malformed time keeps it open.
_breaker_cooled_down if {
	is_number(_breaker_now)
	is_number(_breaker_last_failure)
	is_number(_breaker_cooldown)
	_breaker_now - _breaker_last_failure >= _breaker_cooldown
}

deny contains {
	"code": "circuit_open",
	"message": sprintf(
		"%v: %v consecutive failures (threshold %v), refused for %v s after the last failure at %v (now %v)",
		[input.call.tool, _breaker_consecutive, _breaker_threshold, _breaker_cooldown, _breaker_last_failure, _breaker_now],
	),
	"source": "policies/circuit_breaker.rego",
} if {
	_breaker_open
	not _breaker_cooled_down
}

deny contains {
	"code": "circuit_probe_in_flight",
	"message": sprintf("a probe call of %v is already in flight (%v pending); its result decides whether the circuit closes", [input.call.tool, pending]),
	"source": "policies/circuit_breaker.rego",
} if {
	_breaker_open
	_breaker_cooled_down
	pending := object.get(input, ["session", "facts", "pending", input.call.tool], 0)
	is_number(pending)
	pending > 0
}
