# Outbound email only to allowed domains: the exfiltration path most agents have.
#
# Each recipient must be one plain address: exactly one "@", a non-empty local part and
# domain, and none of the characters that make a list, a display name or a relay route
# (spaces, commas, semicolons, angle brackets, quotes, "%", "!"...). Mail APIs split
# "eve@evil.test, ann@example.com" or "Eve <eve@evil.test>" into recipients of their own,
# so a lenient parse would check one domain and send to another.
#
# Domains match exactly after ASCII lower-casing: DNS ignores case for ASCII letters
# only, and engines disagree on lower-casing other letters, so a non-ASCII domain must be
# listed as it is written (or in its punycode form). Subdomains are other domains.
package railguard.tool_call

import rego.v1

_email_tools := object.get(_config, ["email", "tools"], ["send_email"])

_email_applies if input.call.tool in _email_tools

# to_arg names the recipient argument; a list of names (["to", "cc", "bcc"]) checks each.
_email_to_arg := object.get(_config, ["email", "to_arg"], "to")

_email_recipient_args contains _email_to_arg if is_string(_email_to_arg)

_email_recipient_args contains name if {
	is_array(_email_to_arg)
	some name in _email_to_arg
}

# Each value given for a recipient argument: one address, or a list of addresses.
# A value of any other type (number, null, object) is itself an invalid recipient.
_email_recipients contains value if {
	some name in _email_recipient_args
	value := input.call.args[name]
	not is_array(value)
}

_email_recipients contains address if {
	some name in _email_recipient_args
	value := input.call.args[name]
	is_array(value)
	some address in value
}

# Characters that never occur in one plain address: list separators, display-name brackets
# and quotes, whitespace (header injection), relay routes. Replacing each with "" tests for
# all of them in one builtin call.
_email_not_in_address := {
	" ": "", "\t": "", "\r": "", "\n": "", ",": "", ";": "", ":": "", "<": "", ">": "",
	"\"": "", "'": "", "(": "", ")": "", "[": "", "]": "", "\\": "", "%": "", "!": "",
}

_email_plain(address) if {
	is_string(address)
	parts := split(address, "@")
	count(parts) == 2
	parts[0] != ""
	parts[1] != ""
	strings.replace_n(_email_not_in_address, address) == address
}

_email_domain(address) := _email_ascii_lower(split(address, "@")[1]) if _email_plain(address)

# strings.replace_n, not lower(): engines agree on ASCII letters, not on the others.
_email_ascii_lower(s) := strings.replace_n(_email_ascii_fold, s)

_email_ascii_fold := {
	"A": "a", "B": "b", "C": "c", "D": "d", "E": "e", "F": "f", "G": "g", "H": "h", "I": "i",
	"J": "j", "K": "k", "L": "l", "M": "m", "N": "n", "O": "o", "P": "p", "Q": "q", "R": "r",
	"S": "s", "T": "t", "U": "u", "V": "v", "W": "w", "X": "x", "Y": "y", "Z": "z",
}

deny contains {
	"code": "recipient_address_invalid",
	"message": sprintf("recipient %v is not a single plain e-mail address", [address]),
	"source": "policies/email_domains.rego",
} if {
	_email_applies
	some address in _email_recipients
	not _email_plain(address)
}

# Where an email goes must be known: no recipient at all is not "nobody to check".
deny contains {
	"code": "recipient_address_invalid",
	"message": sprintf("no recipient given in %v", [_email_to_arg]),
	"source": "policies/email_domains.rego",
} if {
	_email_applies
	count(_email_recipients) == 0
}

# Messages name only input values (the address, the configured list): the domain itself
# is computed, and one engine (regopy) garbles computed strings inside sprintf.
deny contains {
	"code": "recipient_domain_not_allowed",
	"message": sprintf("recipient %v is outside the allowed domains %v", [address, configured]),
	"source": "policies/email_domains.rego",
} if {
	_email_applies
	configured := _config.email.allowed_domains # absent: any domain
	allowed := _email_allowed_domains(configured)
	some address in _email_recipients
	_email_plain(address) # an invalid address has its own code
	not _email_domain(address) in allowed
}

# A mistyped list (a string, a number) admits nobody. Iterating a string is undefined in
# OPA but an evaluation error in regorus: check the type first, so every engine agrees.
_email_allowed_domains(configured) := {_email_ascii_lower(d) | some d in configured; is_string(d)} if {
	is_array(configured)
} else := set()
