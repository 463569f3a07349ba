"""PII and secret detection: what is found (exact spans), what is not (look-alikes), and in what time."""

from __future__ import annotations

import base64
import importlib.util
import itertools
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from guardrails import codes
from guardrails.errors import ConfigError, InputError
from guardrails.screening import pii
from guardrails.screening.pii import SUPPORTED_ENTITIES, PiiScanner, PiiSpan
from guardrails.screening.pii.checksums import (
    base58check_address_valid,
    iban_valid,
    jwt_header_valid,
    luhn_valid,
    segwit_address_valid,
    ssn_valid,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "pii"
SCANNER = PiiScanner()

JWT_IO = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TRUNCATED_PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA"
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n-----END RSA PRIVATE KEY-----"
)


def found(text: str, scanner: PiiScanner = SCANNER) -> list[tuple[str, str]]:
    return [(span.entity_type, text[span.start : span.end]) for span in scanner.scan(text)]


# -- positives: the entity is found, with exact boundaries ------------------------------------

POSITIVES = [
    # email
    ("EMAIL_ADDRESS", "mail jane.doe@example.org today", "jane.doe@example.org"),
    ("EMAIL_ADDRESS", "<John.Smith+billing@Mail.Example.CO.UK>", "John.Smith+billing@Mail.Example.CO.UK"),
    ("EMAIL_ADDRESS", "Kontakt: jürgen.müller@beispiel.de — danke", "jürgen.müller@beispiel.de"),
    ("EMAIL_ADDRESS", "📧 søren@example.io 🙂", "søren@example.io"),
    ("EMAIL_ADDRESS", '{"to": "ops-team@corp.internal"}', "ops-team@corp.internal"),
    ("EMAIL_ADDRESS", "write to a.b@xn--bcher-kva.example.", "a.b@xn--bcher-kva.example"),
    # phone: US
    ("PHONE_NUMBER", "call (415) 555-2671 now", "(415) 555-2671"),
    ("PHONE_NUMBER", "cell: 415-555-2671", "415-555-2671"),
    ("PHONE_NUMBER", "415.555.2671 (office)", "415.555.2671"),
    ("PHONE_NUMBER", "toll free 1-800-555-0199.", "1-800-555-0199"),
    ("PHONE_NUMBER", "E.164 +14155552671", "+14155552671"),
    ("PHONE_NUMBER", "mobile +1 415 555 2671", "+1 415 555 2671"),
    ("PHONE_NUMBER", "tel:+1-415-555-2671", "+1-415-555-2671"),
    ("PHONE_NUMBER", "phone 4155552671", "4155552671"),
    # phone: UK
    ("PHONE_NUMBER", "London office 020 7946 0958", "020 7946 0958"),
    ("PHONE_NUMBER", "my mobile is 07700 900123", "07700 900123"),
    ("PHONE_NUMBER", "ring +44 20 7946 0958 after 5", "+44 20 7946 0958"),
    ("PHONE_NUMBER", "+44 (0)20 7946 0958", "+44 (0)20 7946 0958"),
    ("PHONE_NUMBER", "from abroad 0044 20 7946 0958", "0044 20 7946 0958"),
    # phone: DE
    ("PHONE_NUMBER", "Telefon: 030 901820", "030 901820"),
    ("PHONE_NUMBER", "Handy 0151 23456789", "0151 23456789"),
    ("PHONE_NUMBER", "Büro 089/1234567, Fax folgt", "089/1234567"),
    ("PHONE_NUMBER", "Rückruf unter +49 (0)30 901820", "+49 (0)30 901820"),
    ("PHONE_NUMBER", "+49 151 23456789", "+49 151 23456789"),
    # phone: FR
    ("PHONE_NUMBER", "Téléphone : 01 42 68 53 00", "01 42 68 53 00"),
    ("PHONE_NUMBER", "portable 06.12.34.56.78", "06.12.34.56.78"),
    ("PHONE_NUMBER", "appelez le +33 1 42 68 53 00", "+33 1 42 68 53 00"),
    # phone: elsewhere (E.164)
    ("PHONE_NUMBER", "東京オフィス: +81 3-1234-5678", "+81 3-1234-5678"),
    # credit cards
    ("CREDIT_CARD", "card 4111 1111 1111 1111 exp 12/27", "4111 1111 1111 1111"),
    ("CREDIT_CARD", "карта 4111-1111-1111-1111", "4111-1111-1111-1111"),
    ("CREDIT_CARD", "pan=5500000000000004;", "5500000000000004"),
    ("CREDIT_CARD", "amex 3782 822463 10005", "3782 822463 10005"),
    ("CREDIT_CARD", "mc 2223 0031 2200 3222", "2223 0031 2200 3222"),
    ("CREDIT_CARD", "discover 6011111111111117", "6011111111111117"),
    ("CREDIT_CARD", "visa 4111 1111 1111 1111 123 (cvv)", "4111 1111 1111 1111"),
    ("CREDIT_CARD", "card number 4222222222222", "4222222222222"),
    # IBAN
    ("IBAN_CODE", "IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX", "DE89 3704 0044 0532 0130 00"),
    ("IBAN_CODE", "pay to GB82WEST12345698765432.", "GB82WEST12345698765432"),
    ("IBAN_CODE", "FR14 2004 1010 0505 0001 3M02 606", "FR14 2004 1010 0505 0001 3M02 606"),
    ("IBAN_CODE", "NL91ABNA0417164300", "NL91ABNA0417164300"),
    ("IBAN_CODE", "BE68 5390 0754 7034 THEN more", "BE68 5390 0754 7034"),
    # US SSN
    ("US_SSN", "SSN 536-22-1234", "536-22-1234"),
    ("US_SSN", "his number is 078-12-3456.", "078-12-3456"),
    ("US_SSN", "social security number: 536 22 1234", "536 22 1234"),
    ("US_SSN", "ssn=536221234", "536221234"),
    # IP addresses
    ("IP_ADDRESS", "client 203.0.113.45 connected", "203.0.113.45"),
    ("IP_ADDRESS", "ssh admin@host from 10.0.0.12:22", "10.0.0.12"),
    ("IP_ADDRESS", "v6 2001:db8:85a3::8a2e:370:7334 ok", "2001:db8:85a3::8a2e:370:7334"),
    ("IP_ADDRESS", "link fe80::1ff:fe23:4567:890a.", "fe80::1ff:fe23:4567:890a"),
    ("IP_ADDRESS", "[2001:db8::1]:443", "2001:db8::1"),
    ("IP_ADDRESS", "mapped ::ffff:192.0.2.128", "::ffff:192.0.2.128"),
    # crypto
    ("CRYPTO", "btc 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"),
    ("CRYPTO", "p2sh 3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy.", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),
    ("CRYPTO", "segwit bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
    ("CRYPTO", "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4"),
    (
        "CRYPTO",
        "taproot bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
    ),
    ("CRYPTO", "eth 0x52908400098527886E0F7030069857D2E4169EE7", "0x52908400098527886E0F7030069857D2E4169EE7"),
    # provider tokens
    ("AWS_ACCESS_KEY", "aws_access_key_id=AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("AWS_ACCESS_KEY", "temp ASIAY34FZKBOKMUTVV7A here", "ASIAY34FZKBOKMUTVV7A"),
    ("API_KEY", "token ghp_R2d2C3p0x9Y8w7V6u5T4s3R2q1P0o9N8m7L6", "ghp_R2d2C3p0x9Y8w7V6u5T4s3R2q1P0o9N8m7L6"),
    ("API_KEY", "gho_16C7e42F292c6912E7710c838347Ae178B4a", "gho_16C7e42F292c6912E7710c838347Ae178B4a"),
    (
        "API_KEY",
        "github_pat_11ABCDEFG0123456789abc_0123456789abcdefghijABCDEFGHIJ0123456789abcdefghijKLMNOPQRS",
        "github_pat_11ABCDEFG0123456789abc_0123456789abcdefghijABCDEFGHIJ0123456789abcdefghijKLMNOPQRS",
    ),
    (
        "API_KEY",
        "SLACK=xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
        "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
    ),
    ("API_KEY", "stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("API_KEY", "rk_live_51H8xKpLmNoPqRsTuVwXyZ012", "rk_live_51H8xKpLmNoPqRsTuVwXyZ012"),
    # JWTs and keys
    ("JWT", f"Authorization: Bearer {JWT_IO}", JWT_IO),
    ("JWT", f"id_token={JWT_IO}&state=xyz", JWT_IO),
    ("JWT", f"token «{JWT_IO}».", JWT_IO),
    ("PRIVATE_KEY", f"key:\n{PEM}\nthanks", PEM),
    ("PRIVATE_KEY", f"pasted:\n{TRUNCATED_PEM}\n\n(cut off)", TRUNCATED_PEM),  # no END line: still a leak
    # secrets after key names, bearer, basic, URLs
    ("SECRET", "api_key=9f8e7d6c5b4a39281706f5e4d3c2b1a0", "9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
    ("SECRET", '{"client_secret": "Xy7Zq2Lm9Np4Rs8Tu1Vw"}', "Xy7Zq2Lm9Np4Rs8Tu1Vw"),
    ("SECRET", "X-Api-Key: 3f9a8b7c6d5e4f3a2b1c0d9e", "3f9a8b7c6d5e4f3a2b1c0d9e"),
    ("SECRET", "password: hunter22", "hunter22"),
    ("SECRET", "DB_PASSWORD=s3cr3t!Pw", "s3cr3t!Pw"),
    ("SECRET", 'passphrase = "correct horse battery staple"', "correct horse battery staple"),
    ("SECRET", "--api-key=Zm9vYmFyYmF6cXV4MTIz", "Zm9vYmFyYmF6cXV4MTIz"),
    ("SECRET", "Authorization: Bearer 8f14e45fceea167a5a36dedd4bea2543.", "8f14e45fceea167a5a36dedd4bea2543"),
    ("SECRET", "Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ("SECRET", "postgres://app:s3cr3tPw@db.internal:5432/app", "s3cr3tPw"),
    ("SECRET", f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET),
]


@pytest.mark.parametrize(("entity", "text", "expected"), POSITIVES, ids=[f"{e}:{x[:40]}" for e, _, x in POSITIVES])
def test_entity_is_found_with_exact_span(entity: str, text: str, expected: str) -> None:
    start = text.index(expected)
    spans = SCANNER.scan(text)
    assert (entity, start, start + len(expected)) in [(s.entity_type, s.start, s.end) for s in spans], found(text)


def test_every_entity_has_positive_cases() -> None:
    assert {entity for entity, _, _ in POSITIVES} == SUPPORTED_ENTITIES


def test_spans_are_sorted_disjoint_and_carry_their_recognizer() -> None:
    text = " ".join(t for _, t, _ in POSITIVES[:40])
    spans = SCANNER.scan(text)
    assert spans == sorted(spans, key=lambda s: s.start)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
    assert all(0 < s.score <= 1 and s.recognizer.endswith("Recognizer") for s in spans)


def test_a_provider_token_after_a_key_name_is_reported_once_as_the_provider_token() -> None:
    token = "ghp_R2d2C3p0x9Y8w7V6u5T4s3R2q1P0o9N8m7L6"
    assert found(f"GITHUB_TOKEN={token}") == [("API_KEY", token)]


def test_a_bearer_jwt_is_reported_as_a_jwt_not_a_generic_secret() -> None:
    assert found(f"Authorization: Bearer {JWT_IO}") == [("JWT", JWT_IO)]


def test_the_secret_span_is_the_value_not_the_key_name() -> None:
    text = "api_key=9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    (span,) = SCANNER.scan(text)
    assert text[: span.start] == "api_key="


# -- look-alikes: nothing is found ------------------------------------------------------------

LOOKALIKES = [
    "Order #100234567 shipped; order number 4000123456789012 ref 2024-0001-7781",
    "Order #0123-4567-8901 is ready",
    "ISBN 978-3-16-148410-0 and ISBN-13: 9780306406157, ISBN 0-306-40615-2",
    "request id 550e8400-e29b-41d4-a716-446655440000 trace 7f3c1a2b-9d4e-4f11-8a2b-0c1d2e3f4a5b",
    "Released v1.2.3.4 today",
    "version 1.2.3.4 fixes the crash; bump to 2.1.0.3; pip install foo==1.0.0.0",
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 merged (short a1b2c3d)",
    "md5 d41d8cd98f00b204e9800998ecf8427e",
    "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "UPS 1Z999AA10123456784 and 1Z 999 AA1 01 2345 6784",
    "FedEx 123456789012, USPS 9400 1000 0000 0000 0000 00",
    "card 4111 1111 1111 1112 fails Luhn, so do 1234567812345678 and 1234 5678 9012 3456",
    "IBAN DE89 3704 0044 0532 0130 01 (bad checksum) and GB82WEST12345698765433",
    "IBAN XX89 3704 0044 0532 0130 00 (no such country)",
    "SSN 000-12-3456 and 666-12-3456 and 912-12-3456 and 536-00-1234 and 536-22-0000",
    "btc 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3 (one character flipped)",
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5 has a bad checksum",
    "bc1QW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4 mixes case",
    "Meeting at 12:30:45 on 2024-01-15 in room 4B; budget $1,234,567.89; +5% growth",
    "MAC 00:1A:2B:3C:4D:5E, std::vector<int>, a[1::2], use std::io::Result",
    "max_tokens: 4096, token_type: bearer, password_length: 12, password: incorrect",
    "Use the api_key parameter; password: ${DB_PASSWORD}; token = os.environ['TOKEN']",
    "api_key=<your-api-key>, password: ********, secret: null, token: REDACTED",
    "password: SecretStr, token: EventLoopToken | None = None, first_pass = use_encoder_hidden_states",
    "access_key, secret_key = s3_example_simple",
    "logo@2x.png icon@3x.webp, npm i lodash@4.17.21, docker pull nginx@sha256:abc",
    "git clone git@github.com:org/repo.git",
    "Open 0800-1700. Dates 05.03.2024, 03/04/2024. Coordinates 51.5074, -0.1278",
    "Natick, MA 01760-2098, USA",
    "AKIAXXXXXXXXXXXXXXXX ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX xoxb-your-token-here sk_live_xxxxxxxxxxxxxxxxxxxx",
    "eyJ0eXAiOiJKV1QifQ is only a header; abc.def.ghi is not a token",
    "eyJub3QiOiJhIGp3dCJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl has no alg",
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----",
    "Section 2.1.3.4 says so; OID 1.3.6.1.4.1.311; not IPs: 999.1.1.1, 1.2.3, 01.02.03.04",
    "Error: token: invalid_signature; password reset link sent",
    "Build 20240115123045 finished in 1234567 ms; epoch 1705312245; seed 6981396440634228121",
    "loopback 127.0.0.1 and 0.0.0.0 and ::1 identify no one",
    "part no. 555-123-4567, invoice INV-2024-00042, case 00012345",
]


@pytest.mark.parametrize("text", LOOKALIKES, ids=[t[:40] for t in LOOKALIKES])
def test_lookalike_is_not_pii(text: str) -> None:
    assert found(text) == []


# -- realistic text without PII yields nothing -----------------------------------------------

PII_FREE = [
    """Hi Priya,

Thanks for the quick turnaround on the Q3 report. I went through sections 2 and 4 and left
comments in the doc; the only open point is the churn chart (it still uses the March data).
Can we sync on Thursday at 10:30? I'll book room 4.12.

Best,
Tom""",
    """Ticket #48213 — Checkout fails with HTTP 502
Steps: add 3 items, apply code SPRING24, click Pay. Expected: order confirmation. Actual: 502 after ~30 s.
Browser: Firefox 126.0.1 on macOS 14.5. Happens ~1 in 5 attempts since deploy 2024-06-11 14:02 UTC.
Workaround: retry. Severity: high. Component: payments-gateway v3.8.2.""",
    """## 2.14.0 (2024-06-12)
### Added
- `--dry-run` flag for `railguard policy test` (#412)
- Support for Python 3.13
### Fixed
- Crash when a policy file is empty (#398)
- Memory grows by ~2 MB per 10,000 decisions when the ledger is on NFS (#401)
### Changed
- Bump opa to 0.65.0, orjson to 3.10.3; minimum pydantic is now 2.7""",
    """Release checklist: tag v2.14.0, build wheels for cp311-cp313 (manylinux_2_28 x86_64 and aarch64),
upload to TestPyPI, smoke test `pip install railguard==2.14.0`, then publish. sha256 of the sdist:
3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b""",
    """{"level": "info", "ts": "2024-06-12T08:15:30.123Z", "msg": "decision", "verdict": "allow",
 "latency_ms": 0.97, "decision_id": "3f6c2d1e-8a9b-4c7d-9e0f-1a2b3c4d5e6f", "policy_revision": "r-1042",
 "stage": "policy", "tool": "lookup_order", "args_hash": "9b74c9897bac770ffc029102a200c5de"}""",
    """Standup notes 12/06: Ana finished the SQLite WAL migration (p50 write 0.015 ms). Li is on the
escalation queue: tickets now expire after 15 min by default. Blockers: none. Next: load test with
4 replicas behind the LB, target 2,000 decisions/s at p99 < 20 ms.""",
    """def authorize(call: ToolCall, *, timeout: float = 2.0) -> Decision:
    token = session.token_for(call.agent)
    password_policy = load_policy("password_rules.rego")
    if call.args.get("amount", 0) > 10_000:
        return deny("amount_over_limit")
    return engine.evaluate(password_policy, {"call": call.model_dump(), "token_present": bool(token)})""",
    """Your order 112-4839201-5571623 has shipped! Estimated delivery: Tue, Jun 18. Track your package
in the app. Items: USB-C cable (2 m) x2, 65 W charger x1. Subtotal €54.97, shipping €0.00.""",
    """Bitte beachten: Die Wartung findet am 15.06.2024 zwischen 22:00 und 02:00 Uhr statt. Betroffen sind
die Dienste API v2 und das Dashboard. Version 4.2.1 bringt Fehlerbehebungen. Vielen Dank für Ihr Verständnis!""",
    """Rapport hebdomadaire : 1 248 requêtes traitées, temps moyen 0,8 s, 3 incidents mineurs (réf. INC-2291,
INC-2293, INC-2301). Prochaine mise à jour prévue le 21/06.""",
    """model:
  name: injection-small
  max_tokens: 512
  temperature: 0.0
  token_limit: 4096
  secret_name: prod/railguard/db
  password_min_length: 12
  api_key_env: RAILGUARD_API_KEY""",
    """Traceback (most recent call last):
  File "/srv/app/railguard/pipeline.py", line 214, in authorize
    result = self.engine.evaluate(query, payload)
  File "/srv/app/railguard/engines/opa.py", line 88, in evaluate
    raise EngineError(f"opa returned {resp.status_code}")
guardrails.errors.EngineError: opa returned 503""",
]


@pytest.mark.parametrize("text", PII_FREE, ids=[f"pii_free_{i}" for i in range(len(PII_FREE))])
def test_pii_free_text_yields_nothing(text: str) -> None:
    assert found(text) == []


# -- the synthetic corpus ------------------------------------------------------------------------


def _load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("pii_corpus_generator", DATA / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_corpus_file_is_what_the_seeded_generator_makes() -> None:
    generator = _load_generator()
    assert (DATA / "corpus.jsonl").read_text(encoding="utf-8") == generator.render(generator.build_corpus())


def test_corpus_is_half_pii_half_clean() -> None:
    rows = [json.loads(line) for line in (DATA / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 300
    assert sum(row["kind"] == "clean" and not row["spans"] for row in rows) == 150


def test_corpus_spans_are_found_exactly_and_nothing_else() -> None:
    mismatches = []
    for line in (DATA / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        expected = sorted((s["entity_type"], s["start"], s["end"]) for s in row["spans"])
        actual = sorted((s.entity_type, s.start, s.end) for s in SCANNER.scan(row["text"]))
        if actual != expected:
            mismatches.append((row["id"], expected, actual))
    assert mismatches == []


# -- checksums ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "valid"),
    [("4111111111111111", True), ("79927398713", True), ("4111111111111112", False), ("1234567812345678", False)],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


@pytest.mark.parametrize(
    ("iban", "valid"),
    [
        ("DE89370400440532013000", True),
        ("GB82WEST12345698765432", True),
        ("NO9386011117947", True),
        ("DE89370400440532013001", False),
        ("DE8937040044053201300", False),  # one character short for DE
        ("XX89370400440532013000", False),
    ],
)
def test_iban_checks_country_length_and_mod97(iban: str, valid: bool) -> None:
    assert iban_valid(iban) is valid


@pytest.mark.parametrize(
    ("area", "group", "serial", "valid"),
    [
        ("536", "22", "1234", True),
        ("000", "22", "1234", False),
        ("666", "22", "1234", False),
        ("987", "65", "4321", False),
        ("536", "00", "1234", False),
        ("536", "22", "0000", False),
    ],
)
def test_ssn_follows_ssa_rules(area: str, group: str, serial: str, valid: bool) -> None:
    assert ssn_valid(area, group, serial) is valid


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        # BIP-173 / BIP-350 test vectors
        ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", True),
        ("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", True),
        ("bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y", True),
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", False),  # checksum
        ("BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", False),  # v0 program of 16 bytes
        ("bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du", False),  # v2 with a bech32 (not bech32m) checksum
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", False),  # v0 with a bech32m checksum
    ],
)
def test_segwit_addresses_follow_bip173_and_bip350(address: str, valid: bool) -> None:
    assert segwit_address_valid(address) is valid


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", True),
        ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", True),
        ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3", False),
        ("1111111111111111111114oLvT2", True),  # the all-zero hash160 ("burn") address
        ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNV", False),  # truncated: 23 bytes
    ],
)
def test_base58check_addresses(address: str, valid: bool) -> None:
    assert base58check_address_valid(address) is valid


def test_jwt_header_must_be_json_with_alg() -> None:
    assert jwt_header_valid(JWT_IO.split(".")[0])
    assert not jwt_header_valid("eyJub3QiOiJhIGp3dCJ9")  # {"not":"a jwt"}
    assert not jwt_header_valid("eyJ!!!")


# -- linear time -------------------------------------------------------------------------------

MB = 1024 * 1024
_blob_rng = random.Random(7)
HOSTILE = {
    "1 MB of one character": "a" * MB,
    "1 MB of digits": "7" * MB,
    "1 MB of random digits": "".join(_blob_rng.choice("0123456789") for _ in range(MB)),
    "100,000 @": "@" * 100_000,
    "1 MB base64 blob": base64.b64encode(_blob_rng.randbytes(MB * 3 // 4)).decode(),
    "1 MB of 'a@'": "a@" * (MB // 2),
    "1 MB of '1 '": "1 " * (MB // 2),
    "1 MB of '+1 '": "+1 " * (MB // 3),
    "1 MB of 'eyJa.'": "eyJa." * (MB // 5),
    "1 MB of 'token'": "token" * (MB // 5),
    "1 MB of 'token=aaaaaa1A '": "token=aaaaaa1A " * (MB // 15),
    "1 MB of PEM headers": "-----BEGIN PRIVATE KEY-----\n" * (MB // 28),
    "1 MB of 'a:'": "a:" * (MB // 2),
    "1 MB of spaces": " " * MB,
    "1 MB of 'DE89 3704 '": "DE89 3704 " * (MB // 10),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_megabyte_is_scanned_in_bounded_time(name: str) -> None:
    text = HOSTILE[name]
    started = time.thread_time()  # CPU time of this thread: the bound is about work, not the machine's load
    SCANNER.scan(text)
    assert time.thread_time() - started < 5.0  # linear is ~0.3 s; quadratic on 1 MB would be minutes


def test_text_over_the_cap_is_refused_not_scanned_in_part() -> None:
    scanner = PiiScanner(max_chars=1000)
    scanner.scan("x" * 1000)
    with pytest.raises(InputError) as raised:
        scanner.scan("x" * 1001)
    assert raised.value.code == codes.INPUT_TOO_LARGE


# -- configuration ------------------------------------------------------------------------------


def test_entities_narrow_the_scan() -> None:
    text = "mail jane@example.org, card 4111 1111 1111 1111"
    assert found(text, PiiScanner(entities={"CREDIT_CARD"})) == [("CREDIT_CARD", "4111 1111 1111 1111")]


def test_entities_narrow_within_a_family() -> None:
    text = "AKIAIOSFODNN7EXAMPLE and sk_live_4eC39HqLyjWDarjtT1zdp7dc"
    assert found(text, PiiScanner(entities=["AWS_ACCESS_KEY"])) == [("AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE")]


def test_unknown_entity_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        PiiScanner(entities={"PERSON"})


def test_public_api_is_pinned() -> None:
    assert sorted(pii.__all__) == sorted(
        ["DEFAULT_MAX_CHARS", "SUPPORTED_ENTITIES", "PiiScanner", "PiiSpan", "analyzer_engine", "recognizers"]
    )
    span = PiiSpan("EMAIL_ADDRESS", 0, 1, 0.9, "EmailRecognizer")
    with pytest.raises(AttributeError):
        span.start = 3  # type: ignore[misc]


def test_importing_the_scanner_does_not_import_presidio_or_spacy() -> None:
    code = (
        "import sys, guardrails, guardrails.screening.pii as p; p.PiiScanner().scan('a@b.co');"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('presidio_analyzer', 'spacy', 'tldextract')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


# -- inside presidio -----------------------------------------------------------------------------

SAMPLE = (
    "Ticket 4821: Jane wrote from jane.doe@example.org, phone +44 20 7946 0958, card 4111 1111 1111 1111, "
    "IBAN DE89 3704 0044 0532 0130 00, SSN 536-22-1234, server 203.0.113.45, wallet "
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4, key AKIAIOSFODNN7EXAMPLE, api_key=9f8e7d6c5b4a39281706f5e4d3c2b1a0, "
    f"Authorization: Bearer {JWT_IO}. Order #100234567, version 1.2.3.4."
)


def test_recognizers_are_presidio_entity_recognizers() -> None:
    presidio = pytest.importorskip("presidio_analyzer")
    recognizers = pii.recognizers()
    assert recognizers and all(isinstance(r, presidio.EntityRecognizer) for r in recognizers)
    assert {e for r in recognizers for e in r.supported_entities} == SUPPORTED_ENTITIES
    email = next(r for r in recognizers if "EMAIL_ADDRESS" in r.supported_entities)
    (result,) = email.analyze("mail jane@example.org", ["EMAIL_ADDRESS"], None)
    assert isinstance(result, presidio.RecognizerResult)
    assert (result.entity_type, result.start, result.end) == ("EMAIL_ADDRESS", 5, 21)


def test_analyzer_engine_finds_what_the_scanner_finds() -> None:
    pytest.importorskip("presidio_analyzer")
    engine = pii.analyzer_engine()
    results = engine.analyze(SAMPLE, language="en")
    assert sorted((r.entity_type, r.start, r.end) for r in results) == sorted(
        (s.entity_type, s.start, s.end) for s in SCANNER.scan(SAMPLE)
    )
    assert len(results) == 10


def test_analyzer_engine_uses_no_nlp_model_and_keeps_tldextract_offline() -> None:
    pytest.importorskip("presidio_analyzer")
    import tldextract.tldextract
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    engine = pii.analyzer_engine()
    assert isinstance(engine.nlp_engine, NoOpNlpEngine)
    extractor = tldextract.tldextract.TLD_EXTRACTOR
    assert extractor.suffix_list_urls == () and not extractor._cache.enabled


def test_a_spacy_model_that_is_not_installed_is_refused_not_downloaded() -> None:
    pytest.importorskip("presidio_analyzer")
    import spacy.util

    if spacy.util.is_package("en_core_web_sm"):
        pytest.skip("en_core_web_sm is installed here")
    with pytest.raises(ConfigError, match="never downloads"):
        pii.analyzer_engine(spacy_model="en_core_web_sm")
