package railguard.tool_call_test

import data.railguard.tool_call
import rego.v1

mail(to) := object.union(email, {"call": {"args": {"to": to}}})

test_email_domains_allowed_domain_is_allowed if {
	count(tool_call.deny) == 0 with input as email
	tool_call.allow with input as email
}

test_email_domains_external_domain_denies if {
	codes_of(tool_call.deny) == {"recipient_domain_not_allowed"} with input as mail("eve@evil.test")
}

test_email_domains_uppercase_domain_matches if {
	count(tool_call.deny) == 0 with input as mail("Ann@EXAMPLE.COM")
}

test_email_domains_one_bad_recipient_in_a_list_denies if {
	codes_of(tool_call.deny) == {"recipient_domain_not_allowed"} with input as mail(["a@example.com", "b@evil.test"])
}

test_email_domains_lookalike_subdomain_denies if {
	codes_of(tool_call.deny) == {"recipient_domain_not_allowed"} with input as mail("x@example.com.evil.test")
}

test_email_domains_unicode_domain_denies if {
	codes_of(tool_call.deny) == {"recipient_domain_not_allowed"} with input as mail("x@exаmple.com")
}

test_email_domains_address_without_at_is_invalid if {
	codes_of(tool_call.deny) == {"recipient_address_invalid"} with input as mail("not-an-address")
	codes_of(tool_call.deny) == {"recipient_address_invalid"} with input as mail("trailing@")
}
