package railguard.tool_call_test

import data.railguard.tool_call
import rego.v1

mail(to) := object.union(email, {"call": {"args": {"to": to}}})

mail_allowing(to, domains) := object.union(mail(to), {"config": {"email": {"allowed_domains": domains}}})

test_email_domains_allowed_domain_is_allowed if {
	allowed(email)
	allowed(mail("ann+invoices@example.com"))
}

test_email_domains_external_domain_denies if {
	denied_with(mail("eve@evil.test"), {"recipient_domain_not_allowed"})
}

test_email_domains_ascii_case_is_ignored if {
	allowed(mail("Ann@EXAMPLE.COM"))
	allowed(mail_allowing("ann@example.com", ["Example.COM"]))
}

test_email_domains_list_of_allowed_recipients_is_allowed if {
	allowed(mail(["a@example.com", "b@EXAMPLE.com"]))
}

test_email_domains_one_bad_recipient_in_a_list_denies if {
	denied_with(mail(["a@example.com", "b@evil.test"]), {"recipient_domain_not_allowed"})
}

test_email_domains_lookalike_and_sub_domains_deny if {
	denied_with(mail("x@example.com.evil.test"), {"recipient_domain_not_allowed"})
	denied_with(mail("x@evil-example.com"), {"recipient_domain_not_allowed"})
	denied_with(mail("x@mail.example.com"), {"recipient_domain_not_allowed"})
	denied_with(mail("x@example.com."), {"recipient_domain_not_allowed"})
}

test_email_domains_unicode_homoglyph_domain_denies if {
	denied_with(mail("x@exаmple.com"), {"recipient_domain_not_allowed"}) # Cyrillic "а"
}

test_email_domains_unicode_domain_listed_as_written_is_allowed if {
	allowed(mail_allowing("zoë@exämple.com", ["exämple.com"]))
}

test_email_domains_non_ascii_letters_are_not_case_folded if {
	# Engines disagree on lower-casing "Ä": it must be listed as written.
	denied_with(mail_allowing("zoe@EXÄMPLE.com", ["exämple.com"]), {"recipient_domain_not_allowed"})
}

test_email_domains_address_without_at_or_with_empty_parts_is_invalid if {
	denied_with(mail("not-an-address"), {"recipient_address_invalid"})
	denied_with(mail("trailing@"), {"recipient_address_invalid"})
	denied_with(mail("@example.com"), {"recipient_address_invalid"})
	denied_with(mail(""), {"recipient_address_invalid"})
}

test_email_domains_address_with_two_at_signs_is_invalid if {
	# Which "@" a mail system splits on is its choice: neither domain can be trusted.
	denied_with(mail("eve@evil.test@example.com"), {"recipient_address_invalid"})
	denied_with(mail("x@example.com@evil.test"), {"recipient_address_invalid"})
}

test_email_domains_a_list_in_one_string_is_invalid if {
	denied_with(mail("eve@evil.test, ann@example.com"), {"recipient_address_invalid"})
	denied_with(mail("eve@evil.test;ann@example.com"), {"recipient_address_invalid"})
	denied_with(mail("eve, ann@example.com"), {"recipient_address_invalid"})
}

test_email_domains_display_names_and_routes_are_invalid if {
	denied_with(mail("Eve <eve@evil.test>"), {"recipient_address_invalid"})
	denied_with(mail("\"eve@evil.test\" <ann@example.com>"), {"recipient_address_invalid"})
	denied_with(mail("eve%evil.test@example.com"), {"recipient_address_invalid"})
	denied_with(mail("ann@example.com\nBcc: eve@evil.test"), {"recipient_address_invalid"})
}

test_email_domains_recipients_of_the_wrong_type_are_invalid if {
	denied_with(mail(5), {"recipient_address_invalid"})
	denied_with(mail(null), {"recipient_address_invalid"})
	denied_with(mail({"to": "eve@evil.test"}), {"recipient_address_invalid"})
	denied_with(mail([["eve@evil.test"]]), {"recipient_address_invalid"})
	denied_with(mail(["ann@example.com", 7]), {"recipient_address_invalid"})
}

test_email_domains_no_recipient_is_invalid if {
	denied_with(json.patch(email, [{"op": "remove", "path": "/call/args/to"}]), {"recipient_address_invalid"})
	denied_with(mail([]), {"recipient_address_invalid"})
}

test_email_domains_invalid_and_foreign_recipients_give_both_codes if {
	denied_with(mail(["eve@evil.test", "nobody"]), {"recipient_address_invalid", "recipient_domain_not_allowed"})
}

test_email_domains_any_domain_when_no_list_is_configured if {
	inp := json.patch(mail("eve@evil.test"), [{"op": "remove", "path": "/config/email/allowed_domains"}])
	allowed(inp)
	# Still one plain address each.
	denied_with(object.union(inp, {"call": {"args": {"to": "a@x.test, b@y.test"}}}), {"recipient_address_invalid"})
}

test_email_domains_empty_list_allows_no_domain if {
	denied_with(mail_allowing("ann@example.com", []), {"recipient_domain_not_allowed"})
}

test_email_domains_checks_every_configured_recipient_argument if {
	inp := object.union(email, {
		"call": {"args": {"bcc": ["eve@evil.test"]}},
		"config": {"email": {"to_arg": ["to", "cc", "bcc"]}},
	})
	denied_with(inp, {"recipient_domain_not_allowed"})
	allowed(object.union(inp, {"call": {"args": {"bcc": ["audit@example.com"]}}}))
}

test_email_domains_recipient_argument_is_configurable if {
	inp := object.union(json.patch(email, [{"op": "remove", "path": "/call/args/to"}]), {
		"call": {"args": {"recipients": ["eve@evil.test"]}},
		"config": {"email": {"to_arg": "recipients"}},
	})
	denied_with(inp, {"recipient_domain_not_allowed"})
}

test_email_domains_do_not_apply_to_other_tools if {
	allowed(object.union(lookup, {"call": {"args": {"to": "eve@evil.test"}}}))
	allowed(object.union(lookup, {"call": {"args": {"to": "eve@evil.test, nobody"}}}))
	allowed(lookup) # no recipient: not an email
}

test_email_domains_messages_name_the_address if {
	message_of(tool_call.deny, "recipient_domain_not_allowed") == `recipient eve@evil.test is outside the allowed domains ["example.com"]` with input as input_of(mail("eve@evil.test")) with data.railguard.config as config_of(mail("eve@evil.test"))
	message_of(tool_call.deny, "recipient_address_invalid") == "recipient a@x, b@y is not a single plain e-mail address" with input as input_of(mail("a@x, b@y")) with data.railguard.config as config_of(mail("a@x, b@y"))
}
