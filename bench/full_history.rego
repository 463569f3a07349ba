# What every peer does: the fraud-check precondition judged over the whole session
# history passed as input. Used by bench/authorize.py as the comparison baseline.
package bench.full_history

import rego.v1

default allow := false

allow if {
	some event in input.history
	event.tool == "fraud_check"
	event.args.transaction_id == input.call.args.transaction_id
	event.result.status == "passed"
}
