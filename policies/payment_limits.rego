# Payment amounts: a hard limit (deny), an approval threshold (escalate to a person) and,
# when configured, an allow-list of recipients.
#
# Arguments are schema-checked before policy; the type checks here are a second line.
# They matter: OPA orders every string above every number, so an unchecked "5000" would
# be over any limit, and null or false under any threshold. Numbers are only ever
# compared with numbers.
package railguard.tool_call

import rego.v1

_limits_tools := object.get(_config, ["payments", "tools"], ["make_payment"])

_limits_max := object.get(_config, ["payments", "max_amount"], 10000)

_limits_threshold := object.get(_config, ["payments", "escalate_above"], 1000)

_limits_amount_arg := object.get(_config, ["payments", "amount_arg"], "amount")

_limits_recipient_arg := object.get(_config, ["payments", "recipient_arg"], "recipient")

# Above this amount the approval takes two distinct reviewers (the two-person rule); unset: one.
_limits_two_person := object.get(_config, ["payments", "two_person_above"], null)

_limits_two_person_over(amount) if {
	is_number(_limits_two_person)
	amount > _limits_two_person
}

_limits_approvers(amount) := 2 if _limits_two_person_over(amount)

_limits_approvers(amount) := 1 if not _limits_two_person_over(amount)

_limits_applies if input.call.tool in _limits_tools

_limits_amount := object.get(input, ["call", "args", _limits_amount_arg], null)

_limits_recipient := object.get(input, ["call", "args", _limits_recipient_arg], null)

# A payment moves a positive amount: a negative one is not under every limit, it is not
# a payment at all (and may be a reversal in disguise).
_limits_amount_valid if {
	is_number(_limits_amount)
	_limits_amount > 0
}

# %v prints a string without quotes: say so, or "5000" would read like a number.
_limits_invalid_format := "%v must be a positive number, got the string \"%v\"" if {
	is_string(_limits_amount)
} else := "%v must be a positive number, got %v"

deny contains {
	"code": "amount_invalid",
	"message": sprintf(_limits_invalid_format, [_limits_amount_arg, _limits_amount]),
	"source": "policies/payment_limits.rego",
} if {
	_limits_applies
	not _limits_amount_valid
}

deny contains {
	"code": "amount_over_limit",
	"message": sprintf("amount %v is over the limit of %v", [_limits_amount, _limits_max]),
	"source": "policies/payment_limits.rego",
} if {
	_limits_applies
	_limits_amount_valid
	is_number(_limits_max)
	_limits_amount > _limits_max
}

escalate contains {
	"code": "amount_needs_approval",
	"message": sprintf("amount %v is above the approval threshold of %v", [_limits_amount, _limits_threshold]),
	"source": "policies/payment_limits.rego",
	"approvers": approvers,
} if {
	_limits_applies
	_limits_amount_valid
	is_number(_limits_threshold)
	is_number(_limits_max)
	_limits_amount > _limits_threshold
	_limits_amount <= _limits_max
	approvers := _limits_approvers(_limits_amount)
}

# Exact match: recipients are account identifiers, "acme" is not "ACME".
_limits_recipient_listed if {
	is_string(_limits_recipient)
	_limits_recipient in _config.payments.allowed_recipients
}

deny contains {
	"code": "recipient_not_allowed",
	"message": sprintf("recipient %v is not among the allowed recipients %v", [_limits_recipient, allowed]),
	"source": "policies/payment_limits.rego",
} if {
	_limits_applies
	allowed := _config.payments.allowed_recipients # absent: any recipient
	not _limits_recipient_listed
}
