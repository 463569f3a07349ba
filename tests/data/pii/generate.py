"""Generate the synthetic PII corpus ``corpus.jsonl`` (deterministic: fixed seed).

    python tests/data/pii/generate.py            # rewrite corpus.jsonl
    python tests/data/pii/generate.py --check    # exit 1 if corpus.jsonl is not what the generator makes

Each line: ``{"id", "kind", "text", "spans": [{"entity_type", "start", "end"}]}``. ``kind`` is
``pii`` (one to three identifiers or secrets in realistic surroundings: tickets, chat, logs,
configs, JSON) or ``clean`` (no PII, but the look-alikes that fool recognizers: order numbers,
ISBNs, UUIDs, version strings, git SHAs, hashes, tracking numbers, Luhn-failing card numbers,
IBANs and BTC addresses with a broken checksum, SSNs the SSA never issues, placeholders).

Valid identifiers are built here with their own checksum code (Luhn, mod-97, base58check,
bech32), written independently of ``guardrails.screening.pii.checksums`` so that a bug there
is not silently mirrored in the data.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

SEED = 20240615
N_PII = 150
N_CLEAN = 150
HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus.jsonl"

Piece = tuple[str, str | None]  # (text, entity type or None for plain text)


# -- identifiers with valid checksums ------------------------------------------------------


def luhn_complete(prefix_and_body: str) -> str:
    """Append the Luhn check digit."""
    total = 0
    for i, char in enumerate(reversed(prefix_and_body)):
        d = int(char)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return prefix_and_body + str((10 - total % 10) % 10)


def card_number(rng: random.Random) -> tuple[str, str]:
    """(digits, layout) for a random brand."""
    brand = rng.choice(["visa", "visa", "mc", "mc2", "amex", "discover", "jcb"])
    if brand == "visa":
        prefix, length = "4", 16
    elif brand == "mc":
        prefix, length = str(rng.randint(51, 55)), 16
    elif brand == "mc2":
        prefix, length = str(rng.randint(2221, 2720)), 16
    elif brand == "amex":
        prefix, length = rng.choice(["34", "37"]), 15
    elif brand == "discover":
        prefix, length = "6011", 16
    else:
        prefix, length = str(rng.randint(3528, 3589)), 16
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return luhn_complete(body), brand


def format_card(digits: str, rng: random.Random) -> str:
    style = rng.choice(["plain", "space", "dash"])
    if style == "plain":
        return digits
    sep = " " if style == "space" else "-"
    if len(digits) == 15:
        return sep.join([digits[:4], digits[4:10], digits[10:]])
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


def luhn_failing_16(rng: random.Random) -> str:
    digits, _ = card_number(rng)
    while len(digits) != 16:
        digits, _ = card_number(rng)
    last = (int(digits[-1]) + rng.randint(1, 9)) % 10
    return digits[:-1] + str(last)


IBAN_FORMATS = {  # country: BBAN layout (n digits, a upper-case letters, c alphanumerics)
    "DE": "18n",
    "GB": "4a14n",
    "FR": "10n11c2n",
    "NL": "4a10n",
    "ES": "20n",
    "IT": "1a10n12c",
    "CH": "5n12c",
    "BE": "12n",
    "AT": "16n",
    "PL": "24n",
}


def iban(rng: random.Random, *, valid: bool = True) -> str:
    country = rng.choice(sorted(IBAN_FORMATS))
    bban = ""
    spec = IBAN_FORMATS[country]
    number = ""
    for char in spec:
        if char.isdigit():
            number += char
            continue
        alphabet = {"n": string.digits, "a": string.ascii_uppercase, "c": string.digits + string.ascii_uppercase}[char]
        bban += "".join(rng.choice(alphabet) for _ in range(int(number)))
        number = ""
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    if not valid:
        check = (check + rng.randint(1, 50)) % 97 + 2 if check < 90 else check - 7
    return f"{country}{check:02d}{bban}"


def group_iban(code: str) -> str:
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58check(version: int, payload: bytes) -> str:
    raw = bytes([version]) + payload
    raw += hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
    number = int.from_bytes(raw, "big")
    out = ""
    while number:
        number, rem = divmod(number, 58)
        out = B58[rem] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values: list[int]) -> int:
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def segwit_address(version: int, program: bytes, hrp: str = "bc") -> str:
    data, acc, bits = [version], 0, 0
    for byte in program:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            data.append((acc >> bits) & 31)
    if bits:
        data.append((acc << (5 - bits)) & 31)
    const = 1 if version == 0 else 0x2BC830A3
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    poly = _polymod(expanded + data + [0] * 6) ^ const
    checksum = [(poly >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(BECH32[d] for d in data + checksum)


def btc_address(rng: random.Random) -> str:
    kind = rng.choice(["p2pkh", "p2sh", "v0", "v1"])
    if kind == "p2pkh":
        return base58check(0, rng.randbytes(20))
    if kind == "p2sh":
        return base58check(5, rng.randbytes(20))
    if kind == "v0":
        return segwit_address(0, rng.randbytes(rng.choice([20, 32])))
    return segwit_address(1, rng.randbytes(32))


def flipped(address: str, rng: random.Random) -> str:
    """The address with one character changed (its checksum then fails)."""
    alphabet = BECH32 if address.startswith("bc1") else B58
    start = 3 if address.startswith("bc1") else 1
    i = rng.randrange(start, len(address))
    replacement = rng.choice([c for c in alphabet if c != address[i]])
    return address[:i] + replacement + address[i + 1 :]


def ssn(rng: random.Random) -> tuple[str, str, str]:
    area = rng.choice([n for n in range(1, 900) if n != 666])
    return f"{area:03d}", f"{rng.randint(1, 99):02d}", f"{rng.randint(1, 9999):04d}"


def alnum(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(rng: random.Random) -> str:
    header = {"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}
    payload = {"sub": str(rng.randint(1000, 99999)), "iat": 1700000000 + rng.randint(0, 10**7), "scope": "read"}
    return ".".join(
        [b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode()), b64url(rng.randbytes(32))]
    )


def pem_key(rng: random.Random) -> str:
    kind = rng.choice(["RSA ", "EC ", "", "OPENSSH "])
    body = base64.b64encode(rng.randbytes(rng.randint(90, 200))).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {kind}PRIVATE KEY-----\n" + "\n".join(lines) + f"\n-----END {kind}PRIVATE KEY-----"


# -- names, places, filler ------------------------------------------------------------------

FIRST = ["anna", "li", "marta", "jose", "olivier", "priya", "tom", "chen", "fatima", "lukas", "noah", "zoë", "søren"]
LAST = ["smith", "nguyen", "garcia", "müller", "dubois", "khan", "rossi", "kowalski", "silva", "okafor"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.co.uk", "example.de", "example.fr", "example.io"]


def email(rng: random.Random) -> str:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = rng.choice([f"{first}.{last}", f"{first}{rng.randint(1, 99)}", f"{first[0]}{last}", f"{first}+billing"])
    address = f"{local}@{rng.choice(DOMAINS)}"
    return address.upper() if rng.random() < 0.1 else address


def phone(rng: random.Random) -> str:
    d = lambda n: "".join(rng.choice(string.digits) for _ in range(n))  # noqa: E731
    area = f"{rng.randint(2, 9)}{d(2)}"
    exchange = f"{rng.randint(2, 9)}{d(2)}"
    line = d(4)
    uk_mobile = f"7{rng.randint(400, 999)}{d(6)}"
    de_city = rng.choice(["30", "40", "89", "69", "221"])
    de_sub = d(10 - len(de_city))
    fr = f"{rng.randint(1, 9)}{d(8)}"
    choices = [
        f"({area}) {exchange}-{line}",
        f"{area}-{exchange}-{line}",
        f"{area}.{exchange}.{line}",
        f"+1 {area} {exchange} {line}",
        f"+1{area}{exchange}{line}",
        f"1-{area}-{exchange}-{line}",
        f"+44 20 {d(4)} {d(4)}",
        f"020 {d(4)} {d(4)}",
        f"0{uk_mobile[:4]} {uk_mobile[4:]}",
        f"+44 {uk_mobile[:4]} {uk_mobile[4:]}",
        f"+44 (0)20 {d(4)} {d(4)}",
        f"+49 {de_city} {de_sub}",
        f"0{de_city} {de_sub}",
        f"+49 151 {d(8)}",
        f"0151 {d(8)}",
        f"0{de_city}/{de_sub}",
        " ".join([f"0{fr[0]}", fr[1:3], fr[3:5], fr[5:7], fr[7:9]]),
        ".".join([f"0{fr[0]}", fr[1:3], fr[3:5], fr[5:7], fr[7:9]]),
        f"+33 {fr[0]} {fr[1:3]} {fr[3:5]} {fr[5:7]} {fr[7:9]}",
        f"+33 (0){fr[0]} {fr[1:3]} {fr[3:5]} {fr[5:7]} {fr[7:9]}",
        f"{area} {exchange} {line}",
        f"+1-{area}-{exchange}-{line}",
        f"0044 20 {d(4)} {d(4)}",
        f"+49-{de_city}-{de_sub}",
    ]
    return rng.choice(choices)


def ipv4(rng: random.Random) -> str:
    first = rng.choice([10, 172, 192, 203, 85, 151, 8])
    return ".".join(str(x) for x in [first, rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254)])


def ipv6(rng: random.Random) -> str:
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    style = rng.choice(["full", "compressed", "doc"])
    if style == "full":
        return ":".join(groups)
    if style == "compressed":
        return ":".join(groups[:3]) + "::" + ":".join(groups[6:])
    return f"2001:db8::{groups[0]}:{groups[1]}"


def secret_piece(rng: random.Random) -> list[Piece]:
    """A credential with its surroundings; only the secret itself is a span."""
    kind = rng.choice(["aws", "github", "slack", "stripe", "jwt", "bearer", "pem", "apikey", "json", "password", "url"])
    if kind == "aws":
        return [
            ("aws_access_key_id = ", None),
            ("AKIA" + alnum(rng, 16, string.ascii_uppercase + "234567"), "AWS_ACCESS_KEY"),
        ]
    if kind == "github":
        return [("GITHUB_TOKEN=", None), ("ghp_" + alnum(rng, 36), "API_KEY")]
    if kind == "slack":
        token = f"xoxb-{rng.randint(10**10, 10**11)}-{rng.randint(10**12, 10**13)}-{alnum(rng, 24)}"
        return [("slack bot token ", None), (token, "API_KEY")]
    if kind == "stripe":
        return [("stripe key: ", None), ("sk_live_" + alnum(rng, 24), "API_KEY")]
    if kind == "jwt":
        return [("id_token ", None), (jwt(rng), "JWT")]
    if kind == "bearer":
        return [("Authorization: Bearer ", None), (jwt(rng), "JWT")]
    if kind == "pem":
        return [("key file:\n", None), (pem_key(rng), "PRIVATE_KEY"), ("\n", None)]
    if kind == "apikey":
        return [("api_key=", None), (alnum(rng, 32, "0123456789abcdef"), "SECRET")]
    if kind == "json":
        return [('{"client_secret": "', None), (alnum(rng, 28), "SECRET"), ('"}', None)]
    if kind == "password":
        pw = alnum(rng, 6, string.ascii_lowercase) + str(rng.randint(10, 99)) + rng.choice("!#%")
        return [("DB_PASSWORD=", None), (pw, "SECRET")]
    pw = alnum(rng, 10)
    return [("postgres://app:", None), (pw, "SECRET"), (f"@db.internal:5432/app{rng.randint(1, 9)}", None)]


IDENTIFIERS: dict[str, Callable[[random.Random], list[Piece]]] = {
    "EMAIL_ADDRESS": lambda r: [(email(r), "EMAIL_ADDRESS")],
    "PHONE_NUMBER": lambda r: [(phone(r), "PHONE_NUMBER")],
    "CREDIT_CARD": lambda r: [(format_card(card_number(r)[0], r), "CREDIT_CARD")],
    "IBAN_CODE": lambda r: [((lambda c: group_iban(c) if r.random() < 0.5 else c)(iban(r)), "IBAN_CODE")],
    "US_SSN": lambda r: [("SSN ", None), ("-".join(ssn(r)), "US_SSN")],
    "IP_ADDRESS": lambda r: (
        [(ipv4(r), "IP_ADDRESS"), (f":{r.choice([22, 443, 8080])}", None)]
        if r.random() < 0.15
        else [("[", None), (ipv6(r), "IP_ADDRESS"), (f"]:{r.choice([22, 443, 8080])}", None)]
        if r.random() < 0.15
        else [((ipv4(r) if r.random() < 0.6 else ipv6(r)), "IP_ADDRESS")]
    ),
    "CRYPTO": lambda r: [((btc_address(r) if r.random() < 0.7 else "0x" + alnum(r, 40, "0123456789abcdef")), "CRYPTO")],
    "SECRET": secret_piece,
}

PII_TEMPLATES = [
    ["Hi team, customer wrote in from ", 0, " asking about a refund. Please follow up today."],
    ["Ticket #", "N", ": user cannot log in. Contact: ", 0, ". Priority: high."],
    ["2024-05-0", "D", "T10:15:22Z INFO payment accepted for ", 0, " (attempt 1)"],
    ["Bonjour, vous pouvez me joindre au ", 0, " ou par courriel. Merci d'avance !"],
    ["config:\n  service: billing\n  ", 0, "\n  retries: 3\n"],
    ['{"event": "signup", "value": "', 0, '", "plan": "pro"}'],
    ["Please wire the deposit. Details: ", 0, " — thanks, ", 1, "."],
    ["Chat log >> agent: can you confirm? >> user: sure, it's ", 0, " and backup ", 1],
    ["Hallo, meine Daten: ", 0, "; außerdem ", 1, ". Viele Grüße"],
    ["debug dump ", 0, " | next ", 1, " | last ", 2, " | end"],
    ["• Notes from the call (", "D", " May): ", 0, ". Escalate if no reply.\n"],
    ["Support: the form rejected ", 0, " — can you update our records?"],
]


def pii_text(rng: random.Random) -> tuple[str, list[dict[str, object]]]:
    template = rng.choice(PII_TEMPLATES)
    slots = sum(1 for part in template if isinstance(part, int))
    types = rng.sample(sorted(IDENTIFIERS), k=slots)
    text, spans = "", []
    for part in template:
        pieces: list[Piece]
        if isinstance(part, int):
            pieces = IDENTIFIERS[types[part]](rng)
        elif part == "N":
            pieces = [(str(rng.randint(1000, 99999)), None)]
        elif part == "D":
            pieces = [(str(rng.randint(1, 9)), None)]
        else:
            pieces = [(part, None)]
        for piece, entity in pieces:
            if entity is not None:
                spans.append({"entity_type": entity, "start": len(text), "end": len(text) + len(piece)})
            text += piece
    return text, spans


# -- clean texts with look-alikes --------------------------------------------------------------


def lookalike(rng: random.Random) -> str:
    d = lambda n: "".join(rng.choice(string.digits) for _ in range(n))  # noqa: E731
    hexs = lambda n: alnum(rng, n, "0123456789abcdef")  # noqa: E731
    isbn12 = "978" + d(9)
    isbn = isbn12 + str((10 - sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(isbn12)) % 10) % 10)
    bad_area = rng.choice(["000", "666", f"9{d(2)}"])
    choices = [
        f"order number {d(9)}",
        f"Order #{d(4)}-{d(4)}-{d(4)}",
        f"ISBN {isbn[:3]}-{isbn[3]}-{isbn[4:6]}-{isbn[6:12]}-{isbn[12]}",
        f"ISBN-13: {isbn}",
        f"request id {uuid.UUID(int=rng.getrandbits(128), version=4)}",
        f"version {rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}",
        f"v{rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(1, 9)}",
        f"commit {hexs(40)}",
        f"short sha {hexs(7)}",
        f"md5 {hexs(32)}",
        f"sha256:{hexs(64)}",
        f"UPS tracking 1Z{alnum(rng, 6, string.ascii_uppercase + string.digits)}{d(10)}",
        f"card on file {luhn_failing_16(rng)}",
        f"IBAN {group_iban(iban(rng, valid=False))}",
        f"SSN {bad_area}-{d(2)}-{d(4)}",
        f"SSN {d(3)}-00-{d(4)}",
        f"wallet {flipped(btc_address(rng), rng)}",
        f"max_tokens: {rng.choice([256, 1024, 4096])}",
        "token_type: bearer",
        "password: ********",
        "api_key=<your-api-key>",
        "AKIAXXXXXXXXXXXXXXXX",
        f"timestamp {rng.randint(1_600_000_000, 1_800_000_000)}",
        f"at {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
        f"MAC {':'.join(hexs(2) for _ in range(6))}",
        f"total ${rng.randint(1, 999)},{d(3)}.{d(2)}",
        f"lodash@{rng.randint(1, 4)}.{rng.randint(0, 20)}.{rng.randint(0, 30)}",
        f"logo@{rng.randint(2, 3)}x.png",
        "git@github.com:acme/railguard.git",
        f"build {d(14)}",
        f"FedEx {d(12)}",
        f"part no. {d(3)}-{d(3)}-{d(4)}",
        f"section {rng.randint(1, 9)}.{rng.randint(1, 9)}.{rng.randint(1, 9)}.{rng.randint(1, 9)}",
        f"coordinates {rng.uniform(-90, 90):.4f}, {rng.uniform(-180, 180):.4f}",
        f"invoice INV-{rng.randint(2019, 2025)}-{d(5)}",
    ]
    return rng.choice(choices)


CLEAN_TEMPLATES = [
    "Release notes: {0}. Fixed a crash when {1} was missing. Thanks to all contributors!",
    "Hi Sam, the shipment with {0} left the warehouse; see {1} for details. Best, the ops team",
    "CHANGELOG\n- bump dependency to {0}\n- pin {1}\n- docs: clarify password reset flow\n",
    "Meeting notes: we discussed {0} and {1}. Action items tracked in the board.",
    "ERROR 2024-03-11 09:12:44 worker-3: retry scheduled ({0}); previous {1}",
    '{{"status": "ok", "ref": "{0}", "note": "{1}"}}',
    "Your order is confirmed ({0}). Questions? Reply to this message. ({1})",
    "Bitte prüfen: {0} sowie {1}. Danke!",
    "Rapport : {0} ; {1}. Aucune donnée personnelle.",
    "The test suite passed in 42 s; {0}; {1}; coverage 87%.",
]


def clean_text(rng: random.Random) -> str:
    return rng.choice(CLEAN_TEMPLATES).format(lookalike(rng), lookalike(rng))


def build_corpus(seed: int = SEED) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for i in range(N_PII):
        text, spans = pii_text(rng)
        rows.append({"id": f"pii-{i:03d}", "kind": "pii", "text": text, "spans": spans})
    for i in range(N_CLEAN):
        rows.append({"id": f"clean-{i:03d}", "kind": "clean", "text": clean_text(rng), "spans": []})
    return rows


def render(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)


def main(argv: list[str]) -> int:
    rendered = render(build_corpus())
    if "--check" in argv:
        return 0 if CORPUS.read_text(encoding="utf-8") == rendered else 1
    CORPUS.write_text(rendered, encoding="utf-8")
    print(f"wrote {CORPUS} ({N_PII} with PII, {N_CLEAN} clean)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
