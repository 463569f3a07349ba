# Per-session and per-tool call budgets, token and spend budgets.
# Counts come from session facts (allowed calls before this one), not the history.
package railguard.tool_call

import rego.v1

_budgets := object.get(input.config, "budgets", {})

_facts := input.session.facts

# Numbers only: OPA orders null, booleans and strings differently from rego-cpp, so a
# comparison across types would decide differently per engine. Facts are numbers;
# anything else is undefined here and the rule does not fire.
_number(x) := x if is_number(x)

deny contains {
	"code": "session_call_budget_exceeded",
	"message": sprintf("session already made %v calls; the budget is %v", [_facts.calls.total, limit]),
	"source": "policies/call_budget.rego",
} if {
	limit := object.get(_budgets, "max_calls_total", 100)
	_number(_facts.calls.total) >= limit
}

deny contains {
	"code": "tool_call_budget_exceeded",
	"message": sprintf("%v already called %v times; the budget is %v", [input.call.tool, used, limit]),
	"source": "policies/call_budget.rego",
} if {
	limit := object.get(_budgets, "max_calls_per_tool", {})[input.call.tool]
	used := _number(object.get(_facts.calls.by_tool, input.call.tool, 0))
	used >= limit
}

deny contains {
	"code": "token_budget_exceeded",
	"message": sprintf("session used %v tokens; the budget is %v", [_facts.usage.tokens, _budgets.max_tokens]),
	"source": "policies/call_budget.rego",
} if {
	_number(_facts.usage.tokens) >= _budgets.max_tokens
}

deny contains {
	"code": "spend_budget_exceeded",
	"message": sprintf("session spent %v; the budget is %v", [_facts.usage.cost, _budgets.max_cost]),
	"source": "policies/call_budget.rego",
} if {
	_number(_facts.usage.cost) >= _budgets.max_cost
}
