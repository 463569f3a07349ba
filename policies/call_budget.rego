# Budgets per session: calls in total, calls per tool, tokens and spend.
#
# The counts are session facts: calls ALLOWED earlier in this session, not counting this
# one, so reaching the limit denies. A budget of 10 lets exactly 10 calls through.
# Tokens and cost are what the agent reported so far (Guard.report_usage).
# Facts and limits are compared only when both are numbers (see payment_limits.rego).
package railguard.tool_call

import rego.v1

deny contains {
	"code": "session_call_budget_exceeded",
	"message": sprintf("%v calls in this session, the budget is %v", [used, limit]),
	"source": "policies/call_budget.rego",
} if {
	used := object.get(input, ["session", "facts", "calls", "total"], 0)
	limit := object.get(_config, ["budgets", "max_calls_total"], 100)
	is_number(used)
	is_number(limit)
	used >= limit
}

deny contains {
	"code": "tool_call_budget_exceeded",
	"message": sprintf("%v: %v calls in this session, the budget for this tool is %v", [input.call.tool, used, limit]),
	"source": "policies/call_budget.rego",
} if {
	limit := _config.budgets.max_calls_per_tool[input.call.tool] # no entry: no per-tool budget
	used := object.get(input, ["session", "facts", "calls", "by_tool", input.call.tool], 0)
	is_number(used)
	is_number(limit)
	used >= limit
}

deny contains {
	"code": "token_budget_exceeded",
	"message": sprintf("%v tokens used in this session, the budget is %v", [used, limit]),
	"source": "policies/call_budget.rego",
} if {
	limit := _config.budgets.max_tokens # absent: no token budget
	used := object.get(input, ["session", "facts", "usage", "tokens"], 0)
	is_number(used)
	is_number(limit)
	used >= limit
}

deny contains {
	"code": "spend_budget_exceeded",
	"message": sprintf("%v spent in this session, the budget is %v", [used, limit]),
	"source": "policies/call_budget.rego",
} if {
	limit := _config.budgets.max_cost # absent: no spend budget
	used := object.get(input, ["session", "facts", "usage", "cost"], 0)
	is_number(used)
	is_number(limit)
	used >= limit
}

# Per agent, across all its sessions, per UTC day: what it reported (report_usage with its
# agent id; the sidecar attributes usage to the key's agent). Sessions cannot dodge it.
deny contains {
	"code": "agent_daily_spend_exceeded",
	"message": sprintf("agent %v spent %v today (%v, UTC) across its sessions, its daily budget is %v", [input.agent.id, used, day, limit]),
	"source": "policies/call_budget.rego",
} if {
	limit := _config.budgets.max_cost_per_agent_per_day # absent: no daily budget
	used := object.get(input, ["session", "facts", "agent_usage", "cost"], 0)
	day := object.get(input, ["session", "facts", "agent_usage", "day"], "today")
	is_number(used)
	is_number(limit)
	used >= limit
}

deny contains {
	"code": "agent_daily_token_budget_exceeded",
	"message": sprintf("agent %v used %v tokens today across its sessions, its daily budget is %v", [input.agent.id, used, limit]),
	"source": "policies/call_budget.rego",
} if {
	limit := _config.budgets.max_tokens_per_agent_per_day # absent: no daily token budget
	used := object.get(input, ["session", "facts", "agent_usage", "tokens"], 0)
	is_number(used)
	is_number(limit)
	used >= limit
}
