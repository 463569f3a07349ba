"""JSON Schema regexes are ECMA-262 regexes: ``guardrails.schema_regex`` makes them so."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import jsonschema
import pytest

from guardrails.schema_regex import check_patterns, ecma_validator, search, translate

Ecma2020 = ecma_validator(jsonschema.Draft202012Validator)
DRAFTS = [
    pytest.param(jsonschema.Draft7Validator, id="draft7"),
    pytest.param(jsonschema.Draft201909Validator, id="2019-09"),
    pytest.param(jsonschema.Draft202012Validator, id="2020-12"),
]
UNEVALUATED_DRAFTS = DRAFTS[1:]


def messages(validator_class: type, schema: dict, instance: object) -> list[str]:
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    return [error.message for error in validator.iter_errors(instance)]


# -- the hole that started it ----------------------------------------------------------------------


@pytest.mark.parametrize("base", DRAFTS)
def test_a_trailing_newline_does_not_pass_an_anchored_pattern(base):
    assert messages(ecma_validator(base), {"type": "string", "pattern": "^[A-Z]{3}$"}, "EUR\n") == [
        "'EUR\\n' does not match '^[A-Z]{3}$'"
    ]


@pytest.mark.parametrize("base", DRAFTS)
def test_the_anchored_pattern_still_accepts_the_plain_code(base):
    assert messages(ecma_validator(base), {"type": "string", "pattern": "^[A-Z]{3}$"}, "EUR") == []


# -- where ECMA-262 and Python's re disagree -------------------------------------------------------

DIFFERS_FROM_PYTHON = [
    pytest.param(r"^[A-Z]{3}$", "EUR\n", False, id="$-before-final-newline"),
    pytest.param(r"^\d$", "٣", False, id="d-arabic-indic-digit"),
    pytest.param(r"^[\d]$", "٣", False, id="d-in-class-arabic-indic-digit"),
    pytest.param(r"^\D$", "٣", True, id="D-arabic-indic-digit"),
    pytest.param(r"^\w$", "é", False, id="w-e-acute"),
    pytest.param(r"^[\w]$", "é", False, id="w-in-class-e-acute"),
    pytest.param(r"^\W$", "é", True, id="W-e-acute"),
    pytest.param(r"^a\b", "aé", True, id="b-before-e-acute"),
    pytest.param(r"^.$", "\r", False, id="dot-carriage-return"),
    pytest.param(r"^.$", "\u2028", False, id="dot-line-separator"),
    pytest.param(r"^.$", "\u2029", False, id="dot-paragraph-separator"),
    pytest.param(r"^\s$", "\ufeff", True, id="s-zero-width-no-break-space"),
    pytest.param(r"^\s$", "\x1c", False, id="s-file-separator"),
    pytest.param(r"^\s$", "\x85", False, id="s-next-line"),
    pytest.param(r"^[\s]$", "\x1c", False, id="s-in-class-file-separator"),
    pytest.param(r"^\S$", "\x1c", True, id="S-file-separator"),
    pytest.param(r"^[^\s]$", "\ufeff", False, id="not-s-in-class-zero-width-no-break-space"),
    pytest.param(r"^(?:(a)|b)\1$", "b", True, id="backreference-to-unset-group-matches-empty"),
    pytest.param(r"^a{,2}$", "a{,2}", True, id="brace-without-a-lower-bound-is-literal"),
]


@pytest.mark.parametrize(("pattern", "instance", "ecma"), DIFFERS_FROM_PYTHON)
def test_search_gives_the_ecma_262_answer(pattern, instance, ecma):
    assert search(pattern, instance) is ecma


@pytest.mark.parametrize(("pattern", "instance", "ecma"), DIFFERS_FROM_PYTHON)
def test_each_difference_is_real_python_re_answers_otherwise(pattern, instance, ecma):
    try:
        python = re.search(pattern, instance) is not None
    except re.error:
        python = None  # re cannot even read it
    assert python is not ecma


@pytest.mark.parametrize(("pattern", "instance", "ecma"), DIFFERS_FROM_PYTHON)
def test_the_pattern_keyword_gives_the_ecma_262_answer(pattern, instance, ecma):
    assert Ecma2020({"pattern": pattern}).is_valid(instance) is ecma


# -- ECMA-262 syntax Python's re lacks, and the whitespace set -------------------------------------

ECMA_SYNTAX = [
    pytest.param(r"^\s$", "\u00a0", True, id="s-no-break-space"),
    pytest.param(r"^\s$", "\u2003", True, id="s-em-space"),
    pytest.param(r"^\s$", "\u2029", True, id="s-paragraph-separator"),
    pytest.param(r"^\s$", "\u2013", False, id="s-en-dash"),
    pytest.param(r"^\cC$", "\x03", True, id="control-escape-upper"),
    pytest.param(r"^\cc$", "\x03", True, id="control-escape-lower"),
    pytest.param(r"^\t$", "\t", True, id="tab-escape"),
    pytest.param(r"^\u00e9$", "é", True, id="unicode-escape"),
    pytest.param(r"^\uD83D\uDE00$", "😀", True, id="surrogate-pair-escape"),
    pytest.param(r"^a\/b$", "a/b", True, id="escaped-slash"),
    pytest.param(r"^\0$", "\x00", True, id="nul-escape"),
    pytest.param(r"^[\b]$", "\b", True, id="backspace-in-class"),
    pytest.param(r"^(?<q>['\"]).*\k<q>$", "'quoted'", True, id="named-group-backreference"),
    pytest.param(r"^(?<q>['\"]).*\k<q>$", "'quoted\"", False, id="named-group-backreference-mismatch"),
    pytest.param(r"^[]$", "", False, id="empty-class-matches-nothing"),
    pytest.param(r"^[^]$", "\n", True, id="negated-empty-class-matches-anything"),
    pytest.param(r"^[\w-.]+$", "a-b.c", True, id="class-escape-at-range-end-is-a-union"),
    pytest.param(r"\B", "", True, id="B-in-empty-string"),  # re's \B never matches here before Python 3.14
]


@pytest.mark.parametrize(("pattern", "instance", "ecma"), ECMA_SYNTAX)
def test_ecma_262_syntax_is_understood(pattern, instance, ecma):
    assert search(pattern, instance) is ecma


# -- everyday patterns are unchanged ---------------------------------------------------------------

EVERYDAY = [
    pytest.param(r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$", "ops@example.com", True, id="email"),
    pytest.param(r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$", "ops@example", False, id="email-without-tld"),
    pytest.param(r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$", "ops@example.com\n", False, id="email-newline"),
    pytest.param(r"^\d{4}-\d{2}-\d{2}$", "2024-05-01", True, id="date"),
    pytest.param(r"^\d{4}-\d{2}-\d{2}$", "2024-5-01", False, id="date-short-month"),
    pytest.param(r"^[\]a]+$", "]a]", True, id="escaped-bracket-in-class"),
    pytest.param(r"^[\]a]+$", "b", False, id="escaped-bracket-in-class-other-char"),
    pytest.param(r"^[^$]+$", "abc", True, id="negated-dollar-class"),
    pytest.param(r"^[^$]+$", "a$c", False, id="negated-dollar-class-with-dollar"),
    pytest.param(r"^\$\d+$", "$12", True, id="escaped-dollar"),
    pytest.param(r"^\$\d+$", "12", False, id="escaped-dollar-missing"),
    pytest.param(r"^[$]$", "$", True, id="dollar-in-class"),
    pytest.param(r"^[^-]+-[^-]+$", "ab-cd", True, id="dash-in-class"),
    pytest.param(r"^(ab)+$", "abab", True, id="quantified-group"),
    pytest.param(r"^a+?b*?$", "aab", True, id="lazy-quantifiers"),
    pytest.param(r"^(?=.*\d)(?!.*\s).{8,}$", "secret12", True, id="lookarounds"),
    pytest.param(r"(?<=\$)\d+", "cost $5", True, id="lookbehind"),
    pytest.param(r"cat|dog", "hotdog", True, id="unanchored-alternation"),
]


@pytest.mark.parametrize(("pattern", "instance", "expected"), EVERYDAY)
def test_everyday_patterns_behave_as_before(pattern, instance, expected):
    assert search(pattern, instance) is expected


# -- patternProperties and the keywords that depend on it ------------------------------------------


@pytest.mark.parametrize("base", DRAFTS)
def test_pattern_properties_does_not_apply_to_a_key_the_pattern_does_not_match(base):
    schema = {"type": "object", "patternProperties": {r"^x-\d+$": {"type": "integer"}}}
    assert messages(ecma_validator(base), schema, {"x-٣": "text"}) == []


@pytest.mark.parametrize("base", DRAFTS)
def test_pattern_properties_applies_to_a_key_the_pattern_matches(base):
    schema = {"type": "object", "patternProperties": {r"^x-\d+$": {"type": "integer"}}}
    assert messages(ecma_validator(base), schema, {"x-3": "text"}) == ["'text' is not of type 'integer'"]


@pytest.mark.parametrize("base", DRAFTS)
def test_a_key_with_a_trailing_newline_is_an_additional_property(base):
    schema = {"type": "object", "patternProperties": {"^[a-z]+$": {"type": "integer"}}, "additionalProperties": False}
    assert messages(ecma_validator(base), schema, {"ok": 1, "abc\n": 1}) == [
        "'abc\\n' does not match any of the regexes: '^[a-z]+$'"
    ]


@pytest.mark.parametrize("base", UNEVALUATED_DRAFTS)
def test_a_key_with_a_trailing_newline_is_an_unevaluated_property(base):
    schema = {"type": "object", "patternProperties": {"^[a-z]+$": True}, "unevaluatedProperties": False}
    assert messages(ecma_validator(base), schema, {"ok": 1, "abc\n": 1}) == [
        "Unevaluated properties are not allowed ('abc\\n' was unexpected)"
    ]


@pytest.mark.parametrize("base", UNEVALUATED_DRAFTS)
def test_unevaluated_properties_sees_pattern_properties_through_all_of(base):
    schema = {"allOf": [{"patternProperties": {"^[a-z]+$": True}}], "unevaluatedProperties": False}
    assert messages(ecma_validator(base), schema, {"ok": 1}) == []


# -- constructs that are refused -------------------------------------------------------------------

PYTHON_ONLY = [
    pytest.param(r"(?P<code>[A-Z]{3})", r"\(\?P<name>", id="python-named-group"),
    pytest.param(r"(?<c>a)(?P=c)", r"\(\?P=name\)", id="python-named-backreference"),
    pytest.param(r"\A[A-Z]{3}", r"'\\A' is a Python anchor", id="A-anchor"),
    pytest.param(r"[A-Z]{3}\Z", r"'\\Z' is a Python anchor", id="Z-anchor"),
    pytest.param(r"[A-Z]{3}\z", r"'\\z' is a Python anchor", id="z-anchor"),
    pytest.param(r"(?i)^[a-z]{3}$", "inline flags", id="inline-flag"),
    pytest.param(r"(?i:[a-z]{3})", "inline flags", id="scoped-flag"),
    pytest.param(r"(?#currency)[A-Z]{3}", "comments", id="comment"),
    pytest.param(r"(?>a+)b", "atomic", id="atomic-group"),
    pytest.param(r"a*+b", "quantifier cannot follow a quantifier", id="possessive-star"),
    pytest.param(r"a++b", "quantifier cannot follow a quantifier", id="possessive-plus"),
    pytest.param(r"a{2}+", "quantifier cannot follow a quantifier", id="possessive-brace"),
    pytest.param(r"(a)?(?(1)b|c)", "conditional", id="conditional-group"),
    pytest.param(r"\N{BULLET}", r"'\\N' is not an ECMA-262 escape", id="named-unicode-escape"),
    pytest.param(r"\U0001F600", r"'\\U' is not an ECMA-262 escape", id="long-unicode-escape"),
    pytest.param(r"\a", r"'\\a' is not an ECMA-262 escape", id="bell-escape"),
    pytest.param(r"(a)\g<1>", r"'\\g' is not an ECMA-262 escape", id="python-group-reference"),
]


@pytest.mark.parametrize(("pattern", "reason"), PYTHON_ONLY)
def test_python_only_syntax_is_refused_with_its_reason(pattern, reason):
    with pytest.raises(ValueError, match=reason):
        translate(pattern)


NOT_SUPPORTED = [
    pytest.param(r"\p{Letter}", "property escapes", id="unicode-property"),
    pytest.param(r"\u{1F600}", r"'\\u\{...\}' needs the u flag", id="braced-unicode-escape"),
    pytest.param(r"\uD83D", "lone surrogate", id="lone-surrogate"),
    pytest.param(r"\01", "legacy octal", id="legacy-octal"),
    pytest.param(r"[\1]", "legacy octal", id="legacy-octal-in-class"),
    pytest.param(r"\1(a)", "not closed before it", id="forward-reference"),
    pytest.param(r"(?:(a)|b)*\1", "quantified group", id="reference-into-a-loop"),
    pytest.param(r"(?<=a+)b", "cannot be run by Python", id="variable-length-lookbehind"),
    pytest.param(r"(?<a$>x)", "group name", id="dollar-in-group-name"),
]


@pytest.mark.parametrize(("pattern", "reason"), NOT_SUPPORTED)
def test_ecma_262_that_python_cannot_reproduce_is_refused(pattern, reason):
    with pytest.raises(ValueError, match=reason):
        translate(pattern)


INVALID = [
    pytest.param("(", id="unclosed-group"),
    pytest.param(")", id="unmatched-paren"),
    pytest.param("[a", id="unterminated-class"),
    pytest.param("*a", id="nothing-to-repeat"),
    pytest.param("^*", id="quantified-anchor"),
    pytest.param("a{2,1}", id="quantifier-out-of-order"),
    pytest.param("[z-a]", id="range-out-of-order"),
    pytest.param("a\\", id="trailing-backslash"),
    pytest.param(r"\k<missing>", id="unknown-group-name"),
    pytest.param(r"\c1", id="control-escape-without-letter"),
    pytest.param(r"\xZ1", id="short-hex-escape"),
]


@pytest.mark.parametrize("pattern", INVALID)
def test_invalid_patterns_are_refused(pattern):
    with pytest.raises(ValueError, match=re.escape(repr(pattern))):
        translate(pattern)


# -- the start-up check ----------------------------------------------------------------------------


def test_check_patterns_accepts_a_schema_of_ecma_patterns():
    schema = {"properties": {"code": {"pattern": "^[A-Z]{3}$"}}, "patternProperties": {"^x-": {}}}
    assert check_patterns(schema) is None


CHECK_PATHS = [
    pytest.param({"properties": {"code": {"pattern": r"\Z"}}}, "$.properties.code.pattern", id="pattern"),
    pytest.param(
        {"properties": {"meta": {"patternProperties": {"(?i)^x-": {}}}}},
        '$.properties.meta.patternProperties["(?i)^x-"]',
        id="pattern-properties-key",
    ),
    pytest.param({"anyOf": [{}, {"pattern": "(?#c)"}]}, "$.anyOf[1].pattern", id="in-a-list"),
    pytest.param({"$defs": {"id": {"pattern": r"\A"}}}, "$.$defs.id.pattern", id="in-defs"),
    pytest.param({"properties": {"a b": {"pattern": "a*+"}}}, '$.properties["a b"].pattern', id="quoted-name"),
]


@pytest.mark.parametrize(("schema", "path"), CHECK_PATHS)
def test_check_patterns_names_the_path_of_the_bad_pattern(schema, path):
    with pytest.raises(ValueError, match="^" + re.escape(path + ": ")):
        check_patterns(schema)


def test_check_patterns_reads_a_property_named_pattern_as_a_property():
    assert check_patterns({"properties": {"pattern": {"type": "string", "minLength": 1}}}) is None


def test_check_patterns_checks_a_schema_under_a_property_named_enum():
    with pytest.raises(ValueError, match=re.escape("$.properties.enum.pattern")):
        check_patterns({"properties": {"enum": {"pattern": "(?i)x"}}})


@pytest.mark.parametrize("keyword", ["const", "enum", "default", "examples"])
def test_check_patterns_ignores_data_that_looks_like_a_schema(keyword):
    assert check_patterns({keyword: [{"pattern": "(?i)not a schema"}]}) is None


# -- the validator class as a whole ----------------------------------------------------------------


def test_check_schema_accepts_ecma_only_syntax():
    assert Ecma2020.check_schema({"pattern": r"^(?<q>['\"]).*\k<q>$|^\cJ$"}) is None


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param({"pattern": r"[A-Z]{3}\Z"}, id="pattern"),
        pytest.param({"patternProperties": {"(?i)^x-": {}}}, id="pattern-properties"),
    ],
)
def test_check_schema_refuses_python_only_syntax(schema):
    with pytest.raises(jsonschema.SchemaError, match="is not a 'regex'"):
        Ecma2020.check_schema(schema)


@pytest.mark.parametrize(("instance", "valid"), [("(?<n>a)\\k<n>", True), ("(?i)a", False)])
def test_the_regex_format_means_an_ecma_262_pattern(instance, valid):
    assert Ecma2020({"format": "regex"}, format_checker=Ecma2020.FORMAT_CHECKER).is_valid(instance) is valid


def test_ecma_validator_returns_the_same_class_for_the_same_base():
    assert ecma_validator(jsonschema.Draft202012Validator) is Ecma2020


def test_ecma_validator_leaves_the_base_class_alone():
    base = jsonschema.Draft202012Validator
    assert base.VALIDATORS["pattern"].__module__ == "jsonschema._keywords"
    assert base.FORMAT_CHECKER is not Ecma2020.FORMAT_CHECKER


def test_validator_for_still_returns_the_stock_class():
    base = jsonschema.Draft202012Validator
    assert jsonschema.validators.validator_for({"$schema": base.META_SCHEMA["$id"]}) is base


# -- the tables above are what JavaScript says -----------------------------------------------------


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the patterns as JavaScript")
def test_the_expected_answers_are_javascripts():
    rows = [row.values for row in DIFFERS_FROM_PYTHON + ECMA_SYNTAX + EVERYDAY]
    script = "const rows = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
    script += "console.log(JSON.stringify(rows.map(([p, s]) => new RegExp(p).test(s))));"
    found = subprocess.run(
        ["node", "-e", script], input=json.dumps(rows), capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(found.stdout) == [expected for _, _, expected in rows]


# -- through the tool registry: every schema the Guard compiles is ECMA-262 ----------------
def test_bundled_payment_currency_with_a_trailing_newline_is_refused():
    from guardrails import ToolRegistry

    from .conftest import PAYMENTS

    spec = ToolRegistry.from_file(PAYMENTS / "tools.json").get("make_payment")
    args = {"transaction_id": "t1", "amount": 1, "recipient": "ACME"}
    assert spec.args.errors({**args, "currency": "EUR"}, "t") == ()
    for value in ("EUR\n", "EUR\r\n", "\nEUR", "EU\nR"):
        assert spec.args.errors({**args, "currency": value}, "t"), value


def test_every_pattern_in_the_bundled_tools_refuses_a_newline_suffixed_value():
    import json

    from guardrails import ToolRegistry

    from .conftest import PAYMENTS

    tools = json.loads((PAYMENTS / "tools.json").read_text())
    registry = ToolRegistry.from_file(PAYMENTS / "tools.json")
    checked = 0
    for name, entry in tools.items():
        for arg, prop in entry["args"].get("properties", {}).items():
            if "pattern" in prop:
                assert registry.get(name).args.errors({arg: "EUR\n"}, "t"), f"{name}.{arg}"
                checked += 1
    assert checked >= 1


def test_registry_refuses_a_python_only_pattern_at_start_up():
    from guardrails import ToolRegistry
    from guardrails.errors import ConfigError

    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "(?i)^abc\\Z"}}}
    with pytest.raises(ConfigError, match="code"):
        ToolRegistry.from_mapping({"t": {"args": schema}})


def test_output_schemas_passed_to_check_output_are_ecma_too(make_guard):
    guard = make_guard()
    schema = {"type": "object", "properties": {"id": {"type": "string", "pattern": "^[0-9]+$"}}}
    assert guard.check_output({"id": "123"}, session_id="s", schema=schema).allowed
    assert guard.check_output({"id": "123\n"}, session_id="s", schema=schema).codes == ("output_schema_mismatch",)
    assert guard.check_output({"id": "١٢٣"}, session_id="s", schema=schema).codes == ("output_schema_mismatch",)
