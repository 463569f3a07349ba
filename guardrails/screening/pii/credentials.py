"""Credentials: provider tokens (AWS, GitHub, Slack, Stripe), JWTs, PEM private keys, and secret values
written after key-like names (``api_key=``, ``"token":``, ``password:``), bearer and basic credentials,
and passwords in URLs.

Provider tokens are recognised by their documented prefixes and lengths; values after a key name
only when they look machine-made (entropy and character mix) or, for passwords, when they are not a
placeholder, a template or a code reference. The span is the secret itself, never the key name, so
a redaction keeps ``api_key=<SECRET>`` readable.
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import re
from collections.abc import Iterator
from typing import Final

from guardrails.screening.pii.base import (
    API_KEY,
    AWS_ACCESS_KEY,
    JWT,
    PRIVATE_KEY,
    SECRET,
    PiiSpan,
    finditer_from,
    finditer_holding,
)
from guardrails.screening.pii.checksums import jwt_header_valid, looks_random, shannon_entropy

# -- provider tokens -----------------------------------------------------------------------

# Each pattern opens with a literal or a character class and looks behind only after it, so the
# regex engine skips to candidates in C (a leading look-behind would cost ~10x more per character).
_AWS_KEY_ID = re.compile(
    r"A(?<![A-Za-z0-9]A)(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA)(?P<body>[A-Z0-9]{16})(?![A-Za-z0-9])"
)
_GITHUB = re.compile(
    r"g(?<!\wg)(?:h[pousr]_(?P<classic>[A-Za-z0-9]{36})|ithub_pat_(?P<fine>[A-Za-z0-9]{22}_[A-Za-z0-9]{59}))(?!\w)"
)
_SLACK = re.compile(r"x(?<![\w\-]x)ox[abprs]-[0-9A-Za-z]{1,48}(?:-[0-9A-Za-z]{1,64}){1,4}(?![\w\-])")
_STRIPE = re.compile(r"[spr](?<!\w[spr])k_live_(?P<body>[0-9A-Za-z]{16,247})(?!\w)")


class ProviderTokenRecognizer:
    """Tokens whose issuer documents a prefix: AWS access key ids, GitHub, Slack and Stripe live keys.

    Placeholders with the right prefix (``ghp_XXXX...``, ``AKIAXXXXXXXXXXXXXXXX``) are refused:
    the random part must vary.
    """

    name = "ProviderTokenRecognizer"
    entities = frozenset({API_KEY, AWS_ACCESS_KEY})

    def find(self, text: str) -> Iterator[PiiSpan]:
        for match in _AWS_KEY_ID.finditer(text):
            if len(set(match["body"])) >= 6:
                yield PiiSpan(AWS_ACCESS_KEY, match.start(), match.end(), 0.95, self.name)
        for match in _GITHUB.finditer(text):
            if shannon_entropy(match["classic"] or match["fine"]) >= 3.0:
                yield PiiSpan(API_KEY, match.start(), match.end(), 0.95, self.name)
        for match in _SLACK.finditer(text):
            token = match.group()
            # Real ones carry numeric workspace/user ids: "xoxb-17653672481-19874698323-pdFZ...".
            if len(token) >= 24 and any(part.isdigit() and len(part) >= 6 for part in token.split("-")[1:]):
                yield PiiSpan(API_KEY, match.start(), match.end(), 0.9, self.name)
        for match in finditer_from(_STRIPE, text, _stripe_starts(text)):
            if shannon_entropy(match["body"]) >= 3.0:
                yield PiiSpan(API_KEY, match.start(), match.end(), 0.95, self.name)


def _stripe_starts(text: str) -> Iterator[int]:
    """Where a live key can start: the character before each "k_live_" (its "s", "p" or "r").
    The pattern opens with one of those letters, so the engine would try it at most letters of
    a text that holds one key (~15 us a kilobyte); see finditer_from."""
    at = text.find("k_live_", 1)
    while at >= 0:
        yield at - 1
        at = text.find("k_live_", at + 1)


# -- JSON Web Tokens ----------------------------------------------------------------------

# A header is a JSON object, so it starts "eyJ" ('{"' in base64url). The parts cannot contain
# '.', so each part ends at its first dot and a text is read at most three times over.
_JWT = re.compile(
    r"(?P<header>e(?<![\w\-]e)yJ[A-Za-z0-9_\-]{2,8192})\.[A-Za-z0-9_\-]{2,16384}\.[A-Za-z0-9_\-]{0,8192}(?![\w\-])"
)


class JwtRecognizer:
    """JWTs, bare or after ``Bearer``: three base64url parts whose header decodes to JSON with ``alg``."""

    name = "JwtRecognizer"
    entities = frozenset({JWT})

    def find(self, text: str) -> Iterator[PiiSpan]:
        for match in _JWT.finditer(text):
            if jwt_header_valid(match["header"]):
                yield PiiSpan(JWT, match.start(), match.end(), 0.95, self.name)


# -- PEM private keys -----------------------------------------------------------------------

_PEM_BEGIN = re.compile(r"-----BEGIN (?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END (?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY(?: BLOCK)?-----")
# The body of a key cut off before its END line (PEM headers, base64, real or escaped newlines).
_PEM_BODY = re.compile(r"[A-Za-z0-9+/=\s\\:,.\-]{0,16384}")


class PrivateKeyRecognizer:
    """PEM private-key blocks (RSA, EC, DSA, OpenSSH, encrypted, PGP), BEGIN to END line.

    A block without its END line (a truncated paste) is still a leak: the span runs to the
    end of its base64 body. BEGIN and END lines are paired in one pass, each END used once.
    """

    name = "PrivateKeyRecognizer"
    entities = frozenset({PRIVATE_KEY})

    def find(self, text: str) -> Iterator[PiiSpan]:
        begins = list(_PEM_BEGIN.finditer(text))
        if not begins:
            return
        ends = [match.end() for match in _PEM_END.finditer(text)]
        end_index = 0
        for index, begin in enumerate(begins):
            limit = begins[index + 1].start() if index + 1 < len(begins) else len(text)
            while end_index < len(ends) and ends[end_index] <= begin.end():
                end_index += 1
            if end_index < len(ends) and ends[end_index] <= limit:
                yield PiiSpan(PRIVATE_KEY, begin.start(), ends[end_index], 1.0, self.name)
                continue
            body = _PEM_BODY.match(text, begin.end(), limit)
            end = begin.end() + len(body.group().rstrip()) if body else begin.end()
            yield PiiSpan(PRIVATE_KEY, begin.start(), end, 0.9, self.name)


# -- secrets after key names, bearer/basic credentials, passwords in URLs ---------------------

# Assignments are looked for only around a key word ("pass", "token", "Key"...): the words are
# plain literals the regex engine finds in C; the key around a hit is read backwards (at most 64
# characters), then the assignment is matched from the key's start.
_KEY_HINT = re.compile(r"pass|pw|secret|token|key|cred|PASS|PW|SECRET|TOKEN|KEY|CRED|Pass|Pw|Secret|Token|Key|Cred")
_KEY_REVERSED = re.compile(r"[\w.\-]{0,64}")
_KEY_FORWARD = re.compile(r"[\w.\-]*")
# key, optional closing quote, operator, then a quoted value (may hold spaces) or a bare one.
# Possessive quantifiers: a key or value that fails never gives back characters to retry.
_ASSIGNMENT = re.compile(
    r"(?<![\w.])(?P<key>[A-Za-z_][\w.\-]{0,63}+)[\"']?[ \t]{0,3}+(?::=|=>|=|:)[ \t]{0,3}+"
    r"(?:(?P<quote>[\"'`])(?P<quoted>[^\"'`\r\n]{6,512}+)(?P=quote)|(?P<bare>[^\s\"'`,;&<>(){}\[\]=:]{6,512}+={0,2}))"
)
_KEY_SEGMENTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_PASSWORD_SEGMENTS: Final = frozenset({"password", "passwd", "passphrase", "pwd", "pass", "pw"})
_SECRET_SEGMENTS: Final = frozenset(
    {"secret", "secrets", "token", "apikey", "credential", "credentials", "privatekey", "accesskey", "secretkey"}
)
# "api_key", "accessKey", "PRIVATE-KEY": a "key" is secret only after one of these.
_KEY_QUALIFIERS: Final = frozenset(
    {"api", "access", "private", "secret", "auth", "signing", "session", "encryption", "master", "license", "app"}
)
# "token_type", "password_length", "secret_name", "api_key_id": the value describes the secret, is not it.
_DESCRIPTIVE_SEGMENTS: Final = frozenset(
    {
        "length", "len", "count", "type", "name", "names", "id", "ids", "url", "uri", "path", "file", "dir", "ttl",
        "expiry", "expires", "expiration", "limit", "max", "min", "size", "prefix", "header", "policy", "enabled",
        "required", "endpoint", "field", "format", "mode", "hint", "label", "version", "reset", "rotation",
        "strength", "hash", "usage", "tokens", "env", "ref", "arn", "location", "provider", "kind", "algorithm",
        "pattern", "regex", "template", "message", "msg", "text", "description", "help", "doc", "comment",
    }
)  # fmt: skip
_PLACEHOLDERS: Final = frozenset(
    {
        "null", "none", "nil", "true", "false", "undefined", "required", "optional", "string", "str", "bytes",
        "secret", "password", "passwd", "token", "redacted", "removed", "hidden", "masked", "empty", "default",
        "example", "sample", "placeholder", "changeit", "todo", "tbd", "notset", "unset", "missing", "invalid",
        "expired", "incorrect", "wrong", "pass", "pwd",
    }
)  # fmt: skip
_FILLER = re.compile(r"[*x.#_\-]{4,}", re.IGNORECASE)
_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_ENV_VAR_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
# Identifiers in code, not values: "first_pass = use_encoder_hidden_states", "secret_key = s3_conn",
# "password: SecretStr", "token: EventLoopToken | None".
_SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")
_CAMEL_CASE = re.compile(r"_*[A-Z][a-z]+(?:[A-Z][a-z]+)*")

_BEARER = re.compile(r"[Bb](?<!\w[Bb])earer[ \t]{1,4}(?P<token>[A-Za-z0-9._~+/\-]{16,4096}+={0,2})")
_BASIC = re.compile(r"[Bb](?<!\w[Bb])asic[ \t]{1,4}(?P<token>[A-Za-z0-9+/]{8,1024}+={0,2})(?![\w+/=])")
# "scheme://user:password@host": found from "://", the password runs to the '@'.
_URL_PASSWORD = re.compile(r":(?<=[A-Za-z0-9]:)//[^\s:/?#@\[\]]{0,128}:(?P<password>[^\s/?#@\[\]]{1,256})@")


class KeyValueSecretRecognizer:
    """Secrets that show themselves by their surroundings rather than their shape."""

    name = "KeyValueSecretRecognizer"
    entities = frozenset({SECRET})

    def find(self, text: str) -> Iterator[PiiSpan]:
        examined = 0  # hits inside a key already examined ("secret_token") are skipped
        for hit in _KEY_HINT.finditer(text):
            if hit.start() < examined:
                continue
            before = text[max(0, hit.start() - 64) : hit.start()]
            run = _KEY_REVERSED.match(before[::-1])
            key = before[len(before) - (run.end() if run else 0) :].lstrip("-.0123456789")  # "--api-key" -> "api-key"
            match = _ASSIGNMENT.match(text, hit.start() - len(key))
            if match is None:
                # The rest of this word cannot be a key either: skip its other hits ("tokentoken...").
                word = _KEY_FORWARD.match(text, hit.start())
                examined = word.end() if word else hit.end()
                continue
            examined = match.end()
            span = self._assignment(text, match)
            if span is not None:
                yield span
        for match in finditer_holding(_BEARER, text, "earer"):
            token = match["token"]
            if match.end() == len(text) or text[match.end()].isspace():
                token = token.rstrip(".")  # "... Bearer abc123." ends a sentence
            if looks_random(token, min_length=16, min_entropy=3.0) and not _provider_token_or_jwt(token):
                yield PiiSpan(SECRET, match.start("token"), match.start("token") + len(token), 0.8, self.name)
        for match in finditer_holding(_BASIC, text, "asic"):
            if _basic_credentials(match["token"]):
                yield PiiSpan(SECRET, match.start("token"), match.end("token"), 0.8, self.name)
        for match in _URL_PASSWORD.finditer(text):
            password = match["password"]
            if len(password) >= 4 and _plausible_value(password):
                yield PiiSpan(SECRET, match.start("password"), match.end("password"), 0.8, self.name)

    def _assignment(self, text: str, match: re.Match[str]) -> PiiSpan | None:
        kind = _key_kind(match["key"])
        group = "quoted" if match["quoted"] is not None else "bare"
        value, start, end = match[group], match.start(group), match.end(group)
        if group == "bare" and value.endswith(".") and (end == len(text) or text[end].isspace()):
            value, end = value.rstrip("."), end - (len(value) - len(value.rstrip(".")))  # a full stop, not the secret
        if kind is None or not value or not _plausible_value(value) or _provider_token_or_jwt(value):
            return None
        # "password = get_secret(...)", "token: cfg.token[0]": code, not a value.
        if group == "bare" and text.startswith(("(", "["), end):
            return None
        if kind == "password":
            if len(value) < 6 or not (len(value) >= 12 or _mixes_classes(value)):
                return None
            return PiiSpan(SECRET, start, end, 0.7, self.name)
        # Keys and tokens are one word; "italic #A3AAB2" after ``Token.Comment:`` is a style.
        if " " not in value and looks_random(value, min_length=12, min_entropy=3.0):
            return PiiSpan(SECRET, start, end, 0.75, self.name)
        return None


def _provider_token_or_jwt(value: str) -> bool:
    """Left to the recognizer that knows it, so one value yields one finding (presidio keeps both)."""
    jwt = _JWT.fullmatch(value)
    if jwt is not None:
        return jwt_header_valid(jwt["header"])
    return any(pattern.fullmatch(value) for pattern in (_AWS_KEY_ID, _GITHUB, _SLACK, _STRIPE))


@functools.lru_cache(maxsize=4096)  # key names repeat (configs, JSON); values are never cached
def _key_kind(key: str) -> str | None:
    """``password`` or ``secret`` when the key names one, else None."""
    segments = [segment.lower() for segment in _KEY_SEGMENTS.findall(key)]
    if not segments or segments[-1] in _DESCRIPTIVE_SEGMENTS or "public" in segments:
        return None
    # "pass" only as the last word: "db_pass", "bind_pass"; not "pass_through", "first_pass_count".
    if any(segment in _PASSWORD_SEGMENTS for segment in segments[:-1] if segment != "pass") or (
        segments[-1] in _PASSWORD_SEGMENTS
    ):
        return "password"
    if any(segment in _SECRET_SEGMENTS for segment in segments):
        return "secret"
    for before, segment in itertools.pairwise(segments):
        if segment == "key" and before in _KEY_QUALIFIERS:
            return "secret"
    return None


def _plausible_value(value: str) -> bool:
    """Not a placeholder (``<redacted>``, ``****``, ``null``), a template (``${X}``) or a reference (``os.environ``)."""
    lowered = value.lower()
    return not (
        lowered in _PLACEHOLDERS
        or len(set(value)) <= 2
        or value[0] in "$%@&{"
        or lowered.startswith(("your_", "your-", "<"))
        or "..." in value
        or _FILLER.fullmatch(value)
        or _DOTTED_NAME.fullmatch(value)
        or _ENV_VAR_NAME.fullmatch(value)
        or _SNAKE_CASE.fullmatch(value)
        or _CAMEL_CASE.fullmatch(value)
    )


def _mixes_classes(value: str) -> bool:
    classes = (
        any(char.islower() for char in value),
        any(char.isupper() for char in value),
        any(char.isdigit() for char in value),
        any(not char.isalnum() for char in value),
    )
    return sum(classes) >= 2


def _basic_credentials(token: str) -> bool:
    """True when an ``Authorization: Basic`` value decodes to printable ``user:password``."""
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    user, colon, password = decoded.partition(":")
    return bool(colon and user and password and decoded.isprintable())
