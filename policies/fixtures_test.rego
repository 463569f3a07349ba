# Shared fixtures for the bundled policy tests: an allowed, realistic payment call.
# Each test changes one thing with object.union (a recursive merge).
package railguard.tool_call_test

import rego.v1

config := {
	"roles": {"payments_agent": ["fraud_check", "make_payment", "send_email"], "support_agent": ["send_email"]},
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
}

payment := {
	"call": {"id": "c1", "tool": "make_payment", "args": {"transaction_id": "t1", "amount": 100, "currency": "EUR", "recipient": "ACME"}},
	"agent": {"id": "bot", "roles": ["payments_agent"], "attributes": {}},
	"session": {"id": "s1", "facts": facts},
	"screening": {"pii": [], "injection": {"score": 0, "signals": []}},
	"config": config,
	"now": 1000,
}

email := object.union(payment, {"call": {"tool": "send_email", "args": {"to": "ann@example.com", "subject": "s", "body": "b"}}})

# The reason codes of a deny or escalate set.
codes_of(set) := {d.code | some d in set}
