# Tool allow-list per agent role: a tool runs only if one of the agent's roles lists it.
# This is the only file that defines `allow`; an unknown tool is therefore denied by default.
package railguard.tool_call

import rego.v1

default allow := false

allow if _permitted

_roles := object.get(object.get(input, "agent", {}), "roles", [])

_permitted if {
	some role in _roles
	input.call.tool in object.get(object.get(input.config, "roles", {}), role, [])
}

deny contains {
	"code": "tool_not_allowed_for_role",
	"message": sprintf("tool %v is not allowed for roles %v", [input.call.tool, _roles]),
	"source": "policies/allowlist.rego",
} if not _permitted
