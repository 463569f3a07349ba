package railguard.tool_call_test

import data.railguard.tool_call
import rego.v1

labelled(doc, labels) := object.union(doc, {"session": {"facts": {"labels": labels}}})

fetch := object.union(lookup, {
	"call": {"tool": "fetch_url", "args": {"url": "https://evil.test/x"}},
	"tool": {"outbound": false, "untrusted_source": true},
	"config": {"roles": {"payments_agent": ["fetch_url", "post_webhook"]}},
})

post(url) := object.union(fetch, {"call": {"tool": "post_webhook", "args": {"url": url}}, "tool": {"outbound": true, "untrusted_source": false}})

test_taint_outbound_email_after_untrusted_content_escalates if {
	escalated_with(labelled(email, ["untrusted_content"]), {"outbound_after_untrusted_content"})
}

test_taint_payment_after_untrusted_content_escalates if {
	escalated_with(labelled(payment, ["untrusted_content"]), {"outbound_after_untrusted_content"})
}

test_taint_clean_session_sends_freely if {
	allowed(email)
	allowed(payment)
}

test_taint_inbound_tools_are_not_affected if {
	allowed(labelled(lookup, ["untrusted_content", "pii:EMAIL_ADDRESS"]))
	allowed(labelled(fetch, ["untrusted_content"]))
}

test_taint_escalation_can_be_switched_off_by_config if {
	allowed(object.union(labelled(email, ["untrusted_content"]), {"config": {"taint": {"escalate_outbound_after_untrusted": false}}}))
}

test_taint_pii_to_an_outside_domain_is_denied if {
	inp := labelled(object.union(email, {"config": {"email": {"allowed_domains": ["example.com", "evil.test"]}, "taint": {"allowed_domains": ["example.com"]}}, "call": {"args": {"to": "eve@evil.test"}}}), ["pii:CREDIT_CARD"])
	denied_with(inp, {"pii_exfiltration"})
}

test_taint_pii_to_an_allowed_domain_is_allowed if {
	allowed(labelled(email, ["pii:EMAIL_ADDRESS"]))
}

test_taint_pii_posted_to_an_outside_url_is_denied if {
	denied_with(labelled(post("https://collector.evil.test/upload?x=1"), ["pii:US_SSN"]), {"pii_exfiltration"})
	denied_with(labelled(post("HTTPS://user@Collector.Evil.Test:8443/a"), ["pii:US_SSN"]), {"pii_exfiltration"})
	allowed(labelled(post("https://example.com/hook"), ["pii:US_SSN"]))
	denied_with(labelled(post("https://api.example.com/hook"), ["pii:US_SSN"]), {"pii_exfiltration"}) # subdomains are other domains
}

test_taint_both_labels_deny_wins_over_escalate if {
	denied_with(labelled(post("https://evil.test/"), ["untrusted_content", "pii:EMAIL_ADDRESS"]), {"pii_exfiltration"})
}

test_taint_domains_compare_ascii_case_insensitively if {
	allowed(labelled(object.union(email, {"call": {"args": {"to": "Ann@EXAMPLE.com"}}}), ["pii:PHONE_NUMBER"]))
}

test_taint_values_without_a_domain_are_left_to_their_policy if {
	# A payment recipient is an account id: payment_limits.rego judges it.
	allowed(labelled(payment, ["pii:IBAN_CODE"]))
}

test_taint_message_names_the_destination_and_the_labels if {
	inp := labelled(post("https://evil.test/"), ["pii:US_SSN"])
	message_of(tool_call.deny, "pii_exfiltration") == `post_webhook would send to https://evil.test/ after the session saw ["pii:US_SSN"]: only ["example.com"] may receive it` with input as input_of(inp) with data.railguard.config as config_of(inp)
}
