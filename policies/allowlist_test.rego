package railguard.tool_call_test

import data.railguard.tool_call
import rego.v1

test_allowlist_permits_a_tool_of_the_agents_role if {
	tool_call.allow with input as payment
}

test_allowlist_denies_a_tool_outside_the_agents_roles if {
	inp := object.union(payment, {"agent": {"roles": ["support_agent"]}})
	not tool_call.allow with input as inp
	"tool_not_allowed_for_role" in codes_of(tool_call.deny) with input as inp
}

test_allowlist_denies_an_agent_without_roles if {
	inp := object.union(payment, {"agent": {"roles": []}})
	not tool_call.allow with input as inp
}

test_allowlist_denies_an_unknown_role if {
	inp := object.union(payment, {"agent": {"roles": ["root"]}})
	"tool_not_allowed_for_role" in codes_of(tool_call.deny) with input as inp
}

test_allowlist_denies_a_homoglyph_tool_name if {
	# Cyrillic "а" in "mаke_payment": not the tool the role allows.
	inp := object.union(payment, {"call": {"tool": "mаke_payment"}})
	not tool_call.allow with input as inp
}

test_allowlist_without_config_allows_nothing if {
	inp := object.remove(payment, ["config"])
	not tool_call.allow with input as inp
}
