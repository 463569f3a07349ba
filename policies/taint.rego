# Taint that does not depend on a detector. Labels only ever accumulate in a session:
# `untrusted_content` once a tool declared `untrusted_source` returned (web fetch, read
# email: whether or not a detector fired) or a screener found injection signals, and
# `pii:<TYPE>` once personal data entered the context. The attack they stop is split across
# turns: the injection arrives in one tool output, the exfiltrating call comes calls later.
#
# * after untrusted content, every `outbound` tool (send email, pay, HTTP POST) escalates:
#   a person confirms it was the user's intent, not the page's;
# * after PII, an outbound call that names a recipient outside the allowed domains is
#   denied. Recipients are the values of `taint.recipient_args`; an e-mail address is judged
#   by its domain, a URL by its host; other values (account ids) are left to their policy.
package railguard.tool_call

import rego.v1

# Anything but a list carries no label (iterating a string is an error in regorus, undefined in OPA).
_taint_labels := labels if {
	labels := object.get(input, ["session", "facts", "labels"], [])
	is_array(labels)
} else := []

_taint_outbound if input.tool.outbound == true

_taint_untrusted if "untrusted_content" in _taint_labels

_taint_pii contains label if {
	some label in _taint_labels
	startswith(label, "pii:")
}

_taint_escalates := object.get(_config, ["taint", "escalate_outbound_after_untrusted"], true)

escalate contains {
	"code": "outbound_after_untrusted_content",
	"message": sprintf("%v sends data out after the session read untrusted content: a person confirms", [input.call.tool]),
	"source": "policies/taint.rego",
} if {
	_taint_outbound
	_taint_untrusted
	_taint_escalates != false
}

# Where data may go once the session holds PII: taint.allowed_domains, else email.allowed_domains.
_taint_domains := object.get(_config, ["taint", "allowed_domains"], object.get(_config, ["email", "allowed_domains"], []))

_taint_allowed := {_email_ascii_lower(d) | some d in _taint_domains; is_string(d)} if is_array(_taint_domains) else := set()

_taint_recipient_args := object.get(_config, ["taint", "recipient_args"], ["to", "cc", "bcc", "recipient", "url", "endpoint"])

_taint_values contains value if {
	is_array(_taint_recipient_args)
	some name in _taint_recipient_args
	value := input.call.args[name]
	is_string(value)
}

_taint_values contains value if {
	is_array(_taint_recipient_args)
	some name in _taint_recipient_args
	is_array(input.call.args[name])
	some value in input.call.args[name]
	is_string(value)
}

# The domain a value sends to: the host of an http(s) URL, the part after the last "@" of an
# address. Anything else has no domain here.
_taint_domain(value) := _email_ascii_lower(host) if {
	parts := regex.find_all_string_submatch_n(`^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/@?#]*@)?([^/:?#]+)`, value, 1)
	count(parts) == 1
	host := parts[0][1]
} else := _email_ascii_lower(domain) if {
	contains(value, "@")
	parts := split(value, "@")
	domain := parts[count(parts) - 1]
}

deny contains {
	"code": "pii_exfiltration",
	"message": sprintf(
		"%v would send to %v after the session saw %v: only %v may receive it",
		[input.call.tool, value, sort(_taint_pii), sort(_taint_allowed)],
	),
	"source": "policies/taint.rego",
} if {
	_taint_outbound
	count(_taint_pii) > 0
	some value in _taint_values
	domain := _taint_domain(value)
	not domain in _taint_allowed
}
