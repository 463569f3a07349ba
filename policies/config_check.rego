# A mistyped deployment parameter (data.railguard.config, the [params] of railguard.toml) must not
# switch a rule off. OPA orders every string above every number, so with
# max_amount = "10000" no amount is ever over it; with tools = "make_payment" no call is
# ever a payment (`tool in "make_payment"` is undefined).
#
# The parameters are data, fixed at start-up, so they are checked once, not per call (this
# check was a third of a decision's evaluation): Railguard evaluates `config_errors` when it
# prepares the policies and refuses to start while it is not empty, naming each key
# (the contract's start-up check, docs/rego-contract.md). Only the parameters whose wrong
# type fails OPEN are checked here. The others fail closed by themselves: a mistyped argument name finds no argument
# (denied as missing), a mistyped allow-list admits nobody, a mistyped role list grants
# nothing, a mistyped cool-down never ends. Absent keys are fine: each policy has a default.
package railguard.tool_call

import rego.v1

# The deployment's parameters, every policy reads them through this one rule. They are
# OPA data (data.railguard.config, loaded once at start-up), not input: the engine parses
# its input on every call. Absent, or not an object: every policy uses its defaults
# (an empty object, never undefined, so that `object.get` fallbacks apply).
default _config := {}

_config := data.railguard.config if is_object(data.railguard.config)

# Limits and thresholds: compared with numbers only.
_config_numbers := {
	"payments": ["max_amount", "escalate_above", "two_person_above"],
	"budgets": ["max_calls_total", "max_tokens", "max_cost", "max_cost_per_agent_per_day", "max_tokens_per_agent_per_day"],
	"loop": ["max_repeats"],
	"circuit_breaker": ["failure_threshold"],
}

# %v prints a string without quotes: quote it, or "10000" would read like a number.
# The quotes go into the format, never into a computed string argument: one engine
# (regopy) garbles computed strings inside sprintf.
_config_got(value) := "the string \"%v\"" if is_string(value)

_config_got(value) := "%v" if not is_string(value)

config_errors contains {
	"code": "config_invalid",
	"message": sprintf(concat("", ["config %v must be an object, got ", _config_got(value)]), [section, value]),
	"source": "policies/config_check.rego",
} if {
	some section in ["payments", "email", "budgets", "loop", "circuit_breaker"]
	value := _config[section] # absent: the policies' defaults apply
	not is_object(value)
}

config_errors contains {
	"code": "config_invalid",
	"message": sprintf(concat("", ["config %v.%v must be a number, got ", _config_got(value)]), [section, key, value]),
	"source": "policies/config_check.rego",
} if {
	some section, keys in _config_numbers
	some key in keys
	value := _config[section][key]
	not is_number(value)
}

config_errors contains {
	"code": "config_invalid",
	"message": sprintf(concat("", ["config %v.tools must be a list of tool names, got ", _config_got(value)]), [section, value]),
	"source": "policies/config_check.rego",
} if {
	some section in ["payments", "email"]
	value := _config[section].tools
	not is_array(value)
}

config_errors contains {
	"code": "config_invalid",
	"message": sprintf(concat("", ["config budgets.max_calls_per_tool must be an object of numbers, got ", _config_got(value)]), [value]),
	"source": "policies/config_check.rego",
} if {
	value := _config.budgets.max_calls_per_tool
	not _config_numbers_by_name(value)
}

_config_numbers_by_name(value) if {
	is_object(value)
	every n in value {
		is_number(n)
	}
}
