# Outbound email only to allowed domains: the exfiltration path most agents have.
package railguard.tool_call

import rego.v1

_email_cfg := object.get(input.config, "email", {})

_emailing if input.call.tool in object.get(_email_cfg, "tools", ["send_email"])

_to := object.get(input.call.args, object.get(_email_cfg, "to_arg", "to"), [])

# One recipient or a list of them.
_recipients contains r if {
	is_string(_to)
	r := _to
}

_recipients contains r if {
	is_array(_to)
	some r in _to
}

_domain(address) := lower(parts[count(parts) - 1]) if {
	is_string(address) # split() on a non-string is an evaluation error in OPA
	parts := split(address, "@")
	count(parts) > 1
	parts[count(parts) - 1] != ""
}

deny contains {
	"code": "recipient_address_invalid",
	"message": sprintf("%v is not an e-mail address", [address]),
	"source": "policies/email_domains.rego",
} if {
	_emailing
	some address in _recipients
	not _domain(address)
}

deny contains {
	"code": "recipient_domain_not_allowed",
	# Only input strings in the message: regopy's sprintf emits computed strings
	# (from lower/split) with unescaped quotes, which breaks its answer.
	"message": sprintf("recipient %v is outside the allowed domains %v", [address, configured]),
	"source": "policies/email_domains.rego",
} if {
	_emailing
	configured := _email_cfg.allowed_domains # no list configured: any domain
	allowed := {lower(d) | some d in configured}
	some address in _recipients
	domain := _domain(address)
	not domain in allowed
}
