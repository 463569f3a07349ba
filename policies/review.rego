# Reviews of the exact call: what a person decided about a ticket raised for the same tool,
# canonical arguments, agent and session (input.session.facts.review, filled by Railguard).
#
# A reviewer's denial stands for those arguments: the agent cannot get a second opinion by
# asking again. Remove or change this rule to let a denied call be escalated afresh. (An
# approval needs no rule: Railguard releases the exact call it covers once, after policy,
# and only when nothing denies and every escalate reason was part of the approved ticket.)
package railguard.tool_call

import rego.v1

deny contains {
	"code": "denied_by_reviewer",
	"message": sprintf("a reviewer denied this call (ticket %v): %v", [denied.ticket, _review_note(denied)]),
	"source": "policies/review.rego",
} if {
	denied := object.get(input, ["session", "facts", "review", "denied"], null)
	is_object(denied)
}

_review_note(denied) := denied.note if is_string(denied.note)

_review_note(denied) := "no note" if not is_string(object.get(denied, "note", null))
