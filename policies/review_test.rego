package railguard.tool_call_test

import data.railguard.tool_call
import rego.v1

reviewed(doc, review) := object.union(doc, {"session": {"facts": {"review": review}}})

denial := {"approved": null, "denied": {"ticket": "t1", "by": ["alice"], "note": "not this vendor"}, "pending": null}

test_review_a_denied_call_is_denied_again if {
	denied_with(reviewed(lookup, denial), {"denied_by_reviewer"})
}

test_review_denial_note_reaches_the_message if {
	inp := reviewed(lookup, denial)
	entries := tool_call.deny with input as input_of(inp) with data.railguard.config as config_of(inp)
	some entry in entries
	contains(entry.message, "not this vendor")
}

test_review_denial_without_a_note if {
	inp := reviewed(lookup, object.union(denial, {"denied": {"note": null}}))
	entries := tool_call.deny with input as input_of(inp) with data.railguard.config as config_of(inp)
	some entry in entries
	contains(entry.message, "no note")
}

test_review_no_review_changes_nothing if {
	allowed(reviewed(lookup, {"approved": null, "denied": null, "pending": null}))
	allowed(lookup)
}

test_review_an_approval_alone_does_not_allow_in_policy if {
	# approvals are applied after policy, by Railguard: the policy still escalates
	inp := reviewed(object.union(payment, {"call": {"args": {"amount": 5000}}}), {"approved": {"ticket": "t1", "by": ["alice"], "codes": ["amount_needs_approval"]}, "denied": null, "pending": null})
	escalated_with(inp, {"amount_needs_approval"})
}
