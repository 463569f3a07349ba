package railguard.tool_call_test

import data.railguard.tool_call
import rego.v1

as_agent(roles) := object.union(payment, {"agent": {"roles": roles}})

calling(tool) := object.union(payment, {"call": {"tool": tool}})

test_allowlist_allows_a_tool_of_the_agents_role if {
	allowed(payment)
	tool_call.allow with input as input_of(payment) with data.railguard.config as config_of(payment)
}

test_allowlist_allows_when_any_of_several_roles_lists_the_tool if {
	allowed(as_agent(["support_agent", "payments_agent"]))
}

test_allowlist_denies_a_tool_outside_the_agents_roles if {
	denied_with(as_agent(["support_agent"]), {"tool_not_allowed_for_role"})
	not tool_call.allow with input as input_of(as_agent(["support_agent"])) with data.railguard.config as config_of(as_agent(["support_agent"]))
}

test_allowlist_support_agent_may_send_email if {
	allowed(object.union(email, {"agent": {"roles": ["support_agent"]}}))
}

test_allowlist_denies_an_agent_without_roles if {
	denied_with(as_agent([]), {"tool_not_allowed_for_role"})
}

test_allowlist_denies_missing_roles if {
	denied_with(json.patch(payment, [{"op": "remove", "path": "/agent/roles"}]), {"tool_not_allowed_for_role"})
}

test_allowlist_denies_a_missing_agent if {
	denied_with(object.remove(payment, ["agent"]), {"tool_not_allowed_for_role"})
}

test_allowlist_roles_that_are_not_a_list_grant_nothing if {
	denied_with(as_agent("payments_agent"), {"tool_not_allowed_for_role"})
	denied_with(as_agent(null), {"tool_not_allowed_for_role"})
	# An object's values must not be taken for roles.
	denied_with(as_agent({"r": "payments_agent"}), {"tool_not_allowed_for_role"})
}

test_allowlist_non_string_roles_grant_nothing if {
	denied_with(as_agent([1, null, true, ["payments_agent"]]), {"tool_not_allowed_for_role"})
}

test_allowlist_denies_an_unknown_role if {
	denied_with(as_agent(["root"]), {"tool_not_allowed_for_role"})
}

test_allowlist_role_names_are_case_sensitive if {
	denied_with(as_agent(["Payments_Agent"]), {"tool_not_allowed_for_role"})
}

test_allowlist_denies_a_homoglyph_tool_name if {
	# Cyrillic "а" (U+0430) in "mаke_payment": not the tool the role lists.
	denied_with(calling("mаke_payment"), {"tool_not_allowed_for_role"})
}

test_allowlist_denies_a_tool_name_with_a_zero_width_space if {
	denied_with(calling("make\u200b_payment"), {"tool_not_allowed_for_role"})
}

test_allowlist_tool_names_are_case_sensitive if {
	denied_with(calling("Make_Payment"), {"tool_not_allowed_for_role"})
}

test_allowlist_allows_a_unicode_tool_name_listed_exactly if {
	inp := object.union(calling("überweisung_prüfen"), {"config": {"roles": {"payments_agent": ["überweisung_prüfen"]}}})
	allowed(inp)
}

test_allowlist_denies_a_missing_or_null_tool if {
	denied_with(json.patch(payment, [{"op": "remove", "path": "/call/tool"}]), {"tool_not_allowed_for_role"})
	denied_with(calling(null), {"tool_not_allowed_for_role"})
}

test_allowlist_role_mapped_to_anything_but_a_list_grants_nothing if {
	# `in` would look into an object's values: {"x": "make_payment"} must not grant it.
	denied_with(object.union(payment, {"config": {"roles": {"payments_agent": {"x": "make_payment"}}}}), {"tool_not_allowed_for_role"})
	denied_with(object.union(payment, {"config": {"roles": {"payments_agent": "make_payment"}}}), {"tool_not_allowed_for_role"})
}

test_allowlist_without_roles_config_allows_nothing if {
	denied_with(json.patch(payment, [{"op": "remove", "path": "/config/roles"}]), {"tool_not_allowed_for_role"})
}

test_allowlist_without_any_config_allows_nothing if {
	inp := object.union(object.remove(payment, ["config"]), {"call": {"tool": "lookup_customer", "args": {}}})
	denied_with(inp, {"tool_not_allowed_for_role"})
}

test_allowlist_empty_input_is_denied_not_undefined if {
	not tool_call.allow with input as input_of({}) with data.railguard.config as config_of({})
	codes_of(tool_call.deny) == {"tool_not_allowed_for_role"} with input as input_of({}) with data.railguard.config as config_of({})
}

test_allowlist_message_names_the_tool_and_the_roles if {
	message_of(tool_call.deny, "tool_not_allowed_for_role") == `tool make_payment is not allowed for roles ["support_agent"]` with input as input_of(as_agent(["support_agent"])) with data.railguard.config as config_of(as_agent(["support_agent"]))
}
