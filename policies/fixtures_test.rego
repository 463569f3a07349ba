# Shared fixtures for the bundled policy tests: an allowed, realistic payment call, the
# same session sending an email, and the contract's verdict rule. Each test changes one
# thing with object.union (a recursive merge) or json.patch (to remove a field).
package railguard.tool_call_test

import data.railguard.tool_call
import rego.v1

config := {
	"roles": {
		"payments_agent": ["fraud_check", "make_payment", "send_email", "lookup_customer"],
		"support_agent": ["send_email", "lookup_customer"],
	},
	"payments": {
		"tools": ["make_payment"], "transaction_arg": "transaction_id", "amount_arg": "amount",
		"recipient_arg": "recipient", "fraud_check_tool": "fraud_check", "max_amount": 10000,
		"escalate_above": 1000, "allowed_recipients": ["ACME", "GLOBEX"],
	},
	"email": {"tools": ["send_email"], "to_arg": "to", "allowed_domains": ["example.com"]},
	"budgets": {"max_calls_total": 10, "max_calls_per_tool": {"make_payment": 2}, "max_tokens": 1000, "max_cost": 5},
	"loop": {"max_repeats": 3},
	"circuit_breaker": {"failure_threshold": 3, "cooldown_seconds": 30},
}

facts := {
	"calls": {"total": 1, "by_tool": {"fraud_check": 1}},
	"repeats": 0,
	"pending": {},
	"results": {"fraud_check": {"t1": {"status": "passed", "ok": true, "at": 100}}},
	"failures": {},
	"usage": {"tokens": 10, "cost": 0.1},
	"labels": [],
	"by_key": {},
}

payment := {
	"call": {"id": "c1", "tool": "make_payment", "key": "t1", "args": {"transaction_id": "t1", "amount": 100, "currency": "EUR", "recipient": "ACME"}},
	"tool": {"key": "transaction_id", "once_per_key": true, "untrusted_source": false, "outbound": true},
	"agent": {"id": "bot", "roles": ["payments_agent"], "attributes": {}},
	"session": {"id": "s1", "facts": facts},
	"screening": {"pii": [], "injection": {"score": 0, "signals": []}},
	"config": config,
	"now": 1000,
}

email := object.union(payment, {
	"call": {"tool": "send_email", "key": null, "args": {"to": "ann@example.com", "subject": "s", "body": "b"}},
	"tool": {"key": null, "once_per_key": false, "outbound": true},
})

lookup := object.union(payment, {
	"call": {"tool": "lookup_customer", "key": null, "args": {"customer_id": "c9"}},
	"tool": {"key": null, "once_per_key": false, "outbound": false},
})

# Fixtures carry the deployment's parameters beside the input, under "config", so a test
# changes one parameter as it changes one argument. They reach the policies where a
# deployment puts them, data.railguard.config; the input never holds a config.
input_of(doc) := object.remove(doc, ["config"])

config_of(doc) := object.get(doc, "config", {})

# The reason codes of a deny or escalate set.
codes_of(entries) := {e.code | some e in entries}

# The contract's verdict rule, as {"verdict": ..., "codes": {...}}: a config with errors
# is refused at start-up (nothing is allowed: config_invalid), else deny entries deny,
# else escalate entries escalate, else allow must be true (false denies with not_allowed).
decision(inp) := {"verdict": "deny", "codes": problems} if {
	problems := codes_of(tool_call.config_errors) with data.railguard.config as config_of(inp)
	count(problems) > 0
} else := {"verdict": "deny", "codes": denied} if {
	denied := codes_of(tool_call.deny) with input as input_of(inp) with data.railguard.config as config_of(inp)
	count(denied) > 0
} else := {"verdict": "escalate", "codes": escalated} if {
	escalated := codes_of(tool_call.escalate) with input as input_of(inp) with data.railguard.config as config_of(inp)
	count(escalated) > 0
} else := {"verdict": "allow", "codes": set()} if {
	tool_call.allow with input as input_of(inp) with data.railguard.config as config_of(inp)
} else := {"verdict": "deny", "codes": {"not_allowed"}}

allowed(inp) if decision(inp) == {"verdict": "allow", "codes": set()}

denied_with(inp, codes) if decision(inp) == {"verdict": "deny", "codes": codes}

escalated_with(inp, codes) if decision(inp) == {"verdict": "escalate", "codes": codes}

# The message of the one entry with this code (tests pin that messages carry the values).
message_of(entries, code) := m if {
	some e in entries
	e.code == code
	m := e.message
}

test_fixtures_are_allowed_calls if {
	allowed(payment)
	allowed(email)
	allowed(lookup)
}

test_fixtures_every_entry_names_its_policy_file if {
	inp := object.union(payment, {"call": {"args": {"amount": 20000, "recipient": "MALLORY"}}})
	sources := {e.source | some e in tool_call.deny} with input as input_of(inp) with data.railguard.config as config_of(inp)
	sources == {"policies/payment_limits.rego"}
}
