# Payment amount limits, the approval threshold and the recipient allow-list.
# Arguments are schema-checked before policy; the type checks here are a second line.
package railguard.tool_call

import rego.v1

_pay_cfg := object.get(input.config, "payments", {})

_paying if input.call.tool in object.get(_pay_cfg, "tools", ["make_payment"])

_amount := object.get(input.call.args, object.get(_pay_cfg, "amount_arg", "amount"), null)

_max := object.get(_pay_cfg, "max_amount", 10000)

_threshold := object.get(_pay_cfg, "escalate_above", 1000)

deny contains {
	"code": "amount_invalid",
	"message": sprintf("amount must be a number, got %v", [_amount]),
	"source": "policies/payment_limits.rego",
} if {
	_paying
	not is_number(_amount)
}

deny contains {
	"code": "amount_over_limit",
	"message": sprintf("amount %v is over the limit of %v", [_amount, _max]),
	"source": "policies/payment_limits.rego",
} if {
	_paying
	is_number(_amount)
	_amount > _max
}

escalate contains {
	"code": "amount_needs_approval",
	"message": sprintf("amount %v is above the approval threshold of %v", [_amount, _threshold]),
	"source": "policies/payment_limits.rego",
} if {
	_paying
	is_number(_amount)
	_amount > _threshold
	_amount <= _max
}

deny contains {
	"code": "recipient_not_allowed",
	"message": sprintf("recipient %v is not an allowed recipient", [_recipient]),
	"source": "policies/payment_limits.rego",
} if {
	_paying
	allowed := _pay_cfg.allowed_recipients
	not _recipient in allowed
}

_recipient := object.get(input.call.args, object.get(_pay_cfg, "recipient_arg", "recipient"), null)
