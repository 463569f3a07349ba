package railguard.tool_call_test

import data.railguard.tool_call
import rego.v1

with_facts(f) := object.union(payment, {"session": {"facts": f}})

test_call_budget_under_limit_is_allowed if {
	count(tool_call.deny) == 0 with input as with_facts({"calls": {"total": 9}})
}

test_call_budget_session_total_at_limit_denies if {
	codes_of(tool_call.deny) == {"session_call_budget_exceeded"} with input as with_facts({"calls": {"total": 10}})
}

test_call_budget_per_tool_at_limit_denies if {
	inp := with_facts({"calls": {"total": 3, "by_tool": {"make_payment": 2}}})
	codes_of(tool_call.deny) == {"tool_call_budget_exceeded"} with input as inp
}

test_call_budget_per_tool_does_not_limit_other_tools if {
	inp := object.union(email, {"session": {"facts": {"calls": {"total": 3, "by_tool": {"make_payment": 2}}}}})
	count(tool_call.deny) == 0 with input as inp
}

test_call_budget_tokens_exhausted_denies if {
	codes_of(tool_call.deny) == {"token_budget_exceeded"} with input as with_facts({"usage": {"tokens": 1000}})
}

test_call_budget_spend_exhausted_denies if {
	codes_of(tool_call.deny) == {"spend_budget_exceeded"} with input as with_facts({"usage": {"cost": 5.5}})
}

test_call_budget_no_token_budget_configured_means_no_token_limit if {
	inp := json.patch(with_facts({"usage": {"tokens": 99999999}}), [{"op": "remove", "path": "/config/budgets/max_tokens"}])
	count(tool_call.deny) == 0 with input as inp
}
