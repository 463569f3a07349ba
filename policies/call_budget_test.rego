package railguard.tool_call_test

import data.railguard.tool_call
import rego.v1

# config.budgets in the fixtures: 10 calls a session, 2 payments, 1000 tokens, cost 5.
with_facts(f) := object.union(payment, {"session": {"facts": f}})

test_call_budget_under_every_limit_is_allowed if {
	allowed(with_facts({"calls": {"total": 9, "by_tool": {"make_payment": 1}}, "usage": {"tokens": 999, "cost": 4.99}}))
}

test_call_budget_session_total_at_the_limit_denies if {
	denied_with(with_facts({"calls": {"total": 10}}), {"session_call_budget_exceeded"})
	denied_with(with_facts({"calls": {"total": 11}}), {"session_call_budget_exceeded"})
}

test_call_budget_per_tool_at_the_limit_denies if {
	denied_with(with_facts({"calls": {"total": 3, "by_tool": {"make_payment": 2}}}), {"tool_call_budget_exceeded"})
}

test_call_budget_per_tool_budget_does_not_limit_other_tools if {
	allowed(object.union(email, {"session": {"facts": {"calls": {"total": 3, "by_tool": {"make_payment": 2}}}}}))
}

test_call_budget_tool_without_a_per_tool_budget_has_only_the_session_budget if {
	allowed(object.union(lookup, {"session": {"facts": {"calls": {"total": 9, "by_tool": {"lookup_customer": 9}}}}}))
}

test_call_budget_per_tool_budget_for_a_unicode_tool_name if {
	inp := object.union(payment, {
		"call": {"tool": "überweisung", "args": {}},
		"config": {"roles": {"payments_agent": ["überweisung"]}, "budgets": {"max_calls_per_tool": {"überweisung": 1}}},
		"session": {"facts": {"calls": {"by_tool": {"überweisung": 1}}}},
	})
	denied_with(inp, {"tool_call_budget_exceeded"})
}

test_call_budget_tokens_exhausted_denies if {
	denied_with(with_facts({"usage": {"tokens": 1000}}), {"token_budget_exceeded"})
}

test_call_budget_spend_exhausted_denies if {
	denied_with(with_facts({"usage": {"cost": 5}}), {"spend_budget_exceeded"})
	denied_with(with_facts({"usage": {"cost": 5.5}}), {"spend_budget_exceeded"})
}

test_call_budget_both_usage_budgets_exhausted_give_both_codes if {
	denied_with(with_facts({"usage": {"tokens": 5000, "cost": 50}}), {"token_budget_exceeded", "spend_budget_exceeded"})
}

test_call_budget_no_token_or_spend_budget_configured_means_no_limit if {
	inp := json.patch(with_facts({"usage": {"tokens": 99999999, "cost": 1e12}}), [
		{"op": "remove", "path": "/config/budgets/max_tokens"},
		{"op": "remove", "path": "/config/budgets/max_cost"},
	])
	allowed(inp)
}

test_call_budget_default_session_budget_is_100 if {
	inp := json.patch(with_facts({"calls": {"total": 99, "by_tool": {}}}), [{"op": "remove", "path": "/config/budgets"}])
	allowed(inp)
	denied_with(object.union(inp, {"session": {"facts": {"calls": {"total": 100}}}}), {"session_call_budget_exceeded"})
}

test_call_budget_missing_facts_count_as_zero if {
	allowed(json.patch(payment, [
		{"op": "remove", "path": "/session/facts/calls"},
		{"op": "remove", "path": "/session/facts/usage"},
	]))
}

test_call_budget_malformed_facts_are_never_compared if {
	# OPA orders strings above numbers: "5" >= 10 would be true, and null below any number.
	allowed(with_facts({"calls": {"total": "5"}, "usage": {"tokens": "5", "cost": null}}))
}

test_call_budget_messages_name_the_count_and_the_budget if {
	message_of(tool_call.deny, "session_call_budget_exceeded") == "10 calls in this session, the budget is 10" with input as input_of(with_facts({"calls": {"total": 10}})) with data.railguard.config as config_of(with_facts({"calls": {"total": 10}}))
	message_of(tool_call.deny, "tool_call_budget_exceeded") == "make_payment: 2 calls in this session, the budget for this tool is 2" with input as input_of(with_facts({"calls": {"by_tool": {"make_payment": 2}}})) with data.railguard.config as config_of(with_facts({"calls": {"by_tool": {"make_payment": 2}}}))
}

agent_spent(doc, cost, tokens) := object.union(doc, {"session": {"facts": {"agent_usage": {"day": "2026-12-01", "cost": cost, "tokens": tokens}}}})

test_budget_agent_daily_spend_denies_at_the_limit if {
	inp := object.union(agent_spent(lookup, 25, 0), {"config": {"budgets": {"max_cost_per_agent_per_day": 25}}})
	denied_with(inp, {"agent_daily_spend_exceeded"})
}

test_budget_agent_daily_spend_under_the_limit_allows if {
	allowed(object.union(agent_spent(lookup, 24.99, 0), {"config": {"budgets": {"max_cost_per_agent_per_day": 25}}}))
}

test_budget_agent_daily_tokens_deny_at_the_limit if {
	inp := object.union(agent_spent(lookup, 0, 5000), {"config": {"budgets": {"max_tokens_per_agent_per_day": 5000}}})
	denied_with(inp, {"agent_daily_token_budget_exceeded"})
}

test_budget_no_daily_budget_configured_allows if {
	allowed(agent_spent(lookup, 1000000, 1000000))
}
