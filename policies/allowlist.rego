# Tool allow-list per agent role: a tool runs only if one of the agent's roles lists it
# in config.roles ({role: [tool]}). Names match exactly, with no case folding: a look-alike
# such as "mаke_payment" (Cyrillic "а") is another tool, and no role lists it.
#
# This is the only file that defines `allow`. The other files only add deny or escalate
# entries, so a tool nobody listed is refused whatever they say.
package railguard.tool_call

import rego.v1

default allow := false

allow if _allowlist_permitted

# Roles come from the API key or the adapter. Anything but a list grants nothing
# (an object's values would otherwise be iterated as if they were roles).
_allowlist_roles := roles if {
	roles := object.get(input, ["agent", "roles"], [])
	is_array(roles)
} else := []

_allowlist_permitted if {
	some role in _allowlist_roles
	is_string(role)
	tools := object.get(_config, ["roles", role], [])
	is_array(tools)
	input.call.tool in tools
}

# Said explicitly, so the auditor sees why instead of a bare `not_allowed`.
deny contains {
	"code": "tool_not_allowed_for_role",
	"message": sprintf(
		"tool %v is not allowed for roles %v",
		[object.get(input, ["call", "tool"], null), object.get(input, ["agent", "roles"], null)],
	),
	"source": "policies/allowlist.rego",
} if not _allowlist_permitted
