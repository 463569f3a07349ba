import json

import pytest

from guardrails import codes
from guardrails.canonical import Limits, canonicalise, parse_json
from guardrails.errors import InputError

HOSTILE = [
    pytest.param({"blob": "x" * (10 * 1024 * 1024)}, codes.INPUT_TOO_LARGE, id="10MB-argument-blob"),
    pytest.param({"n": 2**53 + 1}, codes.NUMBER_OUT_OF_RANGE, id="integer-over-2^53"),
    pytest.param({"n": -(2**63)}, codes.NUMBER_OUT_OF_RANGE, id="int64-min"),
    pytest.param({"n": 10**30}, codes.NUMBER_OUT_OF_RANGE, id="10^30"),
    pytest.param({"n": 1.7976931348623157e308}, codes.NUMBER_OUT_OF_RANGE, id="max-double"),
    pytest.param({"n": 5e-324}, codes.NUMBER_OUT_OF_RANGE, id="subnormal"),
    pytest.param({"n": -1e-310}, codes.NUMBER_OUT_OF_RANGE, id="negative-subnormal"),
    pytest.param({"n": float("nan")}, codes.NUMBER_NOT_FINITE, id="nan"),
    pytest.param({"n": float("inf")}, codes.NUMBER_NOT_FINITE, id="infinity"),
    pytest.param({"s": "bad \ud800 surrogate"}, codes.INVALID_UNICODE, id="lone-surrogate"),
    pytest.param({"s": {1, 2}}, codes.UNSUPPORTED_TYPE, id="python-set"),
    pytest.param({"s": b"bytes"}, codes.UNSUPPORTED_TYPE, id="bytes"),
    pytest.param({1: "int key"}, codes.UNSUPPORTED_TYPE, id="non-string-key"),
    pytest.param({"items": list(range(200_000))}, codes.INPUT_TOO_LARGE, id="too-many-values"),
]


@pytest.mark.parametrize(("payload", "code"), HOSTILE)
def test_hostile_payloads_are_refused_with_a_stable_code(payload, code):
    with pytest.raises(InputError) as caught:
        canonicalise(payload)
    assert caught.value.code == code


def nested(depth: int):
    value: object = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def test_deeply_nested_args_are_refused():
    with pytest.raises(InputError) as caught:
        canonicalise(nested(10_000))
    assert caught.value.code == codes.INPUT_TOO_DEEP


def test_nesting_within_the_limit_is_kept():
    assert canonicalise(nested(30)) == nested(30)


def test_strings_are_nfc_normalised():
    assert canonicalise({"name": "e\u0301"}) == {"name": "\u00e9"}


def test_limits_are_configurable():
    with pytest.raises(InputError):
        canonicalise({"s": "x" * 100}, Limits(max_bytes=50))


def test_exact_2_to_the_53_is_allowed():
    assert canonicalise({"n": 2**53}) == {"n": 2**53}


def test_ordinary_floats_and_zero_are_kept():
    assert canonicalise({"a": 0.0, "b": -0.0, "c": 1e-300, "d": 1e300, "e": 0.1}) == {
        "a": 0.0,
        "b": -0.0,
        "c": 1e-300,
        "d": 1e300,
        "e": 0.1,
    }


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"tool": "x", "args": ', codes.MALFORMED_JSON),
        (b"\xff\xfe not utf-8", codes.INVALID_ENCODING),
        (b'{"n": NaN}', codes.NUMBER_NOT_FINITE),
        (b'{"n": Infinity}', codes.NUMBER_NOT_FINITE),
        (b"[" * 100_000 + b"]" * 100_000, codes.INPUT_TOO_DEEP),
        (json.dumps({"n": 2**64}).encode(), codes.NUMBER_OUT_OF_RANGE),
    ],
    ids=["truncated", "non-utf8", "nan", "infinity", "deep-brackets", "2^64"],
)
def test_untrusted_json_bytes_fail_with_stable_codes(raw, code):
    with pytest.raises(InputError) as caught:
        parse_json(raw)
    assert caught.value.code == code


def test_unicode_json_parses():
    assert parse_json('{"to": "zoë@exämple.com"}'.encode()) == {"to": "zoë@exämple.com"}
