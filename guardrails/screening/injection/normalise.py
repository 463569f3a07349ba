"""Undo the obfuscations an injection hides behind, in linear time, with hard caps.

``normalise(text)`` returns the views the rules and the model read:

- ``text``: NFKC, casefolded, invisible and bidi characters removed, Unicode tag
  characters decoded, homoglyphs mapped to Latin, HTML comments and hidden markup
  exposed as plain text, tags dropped;
- ``decoded``: text recovered from base64 / hex / URL-encoded chunks (nested at most
  ``MAX_DECODE_DEPTH`` levels, ``MAX_DECODED_CHARS`` in all);
- ``deleet``: the text with leetspeak digits read as letters (only for tokens that mix both);
- ``rot13``: the text under rot13 (rules only: a model reading it would see noise);
- ``signals``: what was undone (``invisible_characters``, ``homoglyphs``, ``hidden_markup``,
  ``encoded_payload:base64``...), so a caller can see *why* a text looked different.

Every regular expression here is a single pass without nested quantifiers over
unbounded input, and each decode step is capped, so 1 MB of hostile input costs
milliseconds, not minutes.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

import numpy as np

# The longest text screened as a whole; the rest is cut and flagged (fail closed: the
# detector escalates a truncated text rather than pass what it did not read).
MAX_INPUT_CHARS = 1_000_000
# Nested encodings: deeper than this is itself a signal, not something to unwrap.
MAX_DECODE_DEPTH = 3
# Total characters recovered from encodings per text, and per chunk.
MAX_DECODED_CHARS = 64_000
MAX_CHUNK_CHARS = 16_000
MAX_CHUNKS = 64

SIGNAL_INVISIBLE = "invisible_characters"
SIGNAL_BIDI = "bidi_control"
SIGNAL_TAG_SMUGGLING = "unicode_tag_smuggling"
SIGNAL_HOMOGLYPHS = "homoglyphs"
SIGNAL_HIDDEN_MARKUP = "hidden_markup"
SIGNAL_INVALID_UNICODE = "invalid_unicode"
SIGNAL_TRUNCATED = "input_truncated"
SIGNAL_NESTED_ENCODING = "nested_encoding"

_SURROGATES = re.compile("[\ud800-\udfff]")
# Zero-width and other invisible format characters (Unicode category Cf, minus the tag
# block handled apart) plus a few invisible letters models tokenise but readers never see.
_BIDI_CHARS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_BIDI_RE = re.compile(f"[{_BIDI_CHARS}]")
_INVISIBLE_CHARS = (
    "".join(
        chr(cp) for cp in range(0x80, 0x30000) if unicodedata.category(chr(cp)) == "Cf" and chr(cp) not in _BIDI_CHARS
    )
    + "\u115f\u1160\u3164\uffa0\u2800"
)
_INVISIBLE_RE = re.compile("[" + "".join(re.escape(c) for c in _INVISIBLE_CHARS) + "]")
_TAGS = re.compile("[\U000e0000-\U000e007f]+")

# Which of the characters above a text holds, read in one numpy pass over its code points:
# the invisible class alone cost the regex engine ~40 ns a character (a megabyte: 40 ms)
# before it found nothing, and most texts hold none of these.
_HAS_SURROGATE, _HAS_TAG, _HAS_BIDI, _HAS_INVISIBLE = 1, 2, 4, 8
_CHAR_FLAGS = np.zeros(0x110000, dtype=np.uint8)
_CHAR_FLAGS[0xD800:0xE000] = _HAS_SURROGATE
_CHAR_FLAGS[0xE0000:0xE0080] = _HAS_TAG
_CHAR_FLAGS[[ord(c) for c in _BIDI_CHARS]] = _HAS_BIDI
_CHAR_FLAGS[[ord(c) for c in _INVISIBLE_CHARS]] |= _HAS_INVISIBLE

# Homoglyphs NFKC leaves alone: Cyrillic, Greek and Armenian letters that look Latin.
_CONFUSABLE_FROM = (
    "\u0430\u0432\u0441\u0435\u0451\u04bb\u0456\u0457\u0458\u043a\u043c\u043d\u043e\u0440\u051b\u0455"
    "\u0442\u0443\u0445\u051d\u044c\u0261\u04cf\u028f\u026a\u1d0f\u1d04\u03b1\u03b2\u03b5\u03b7\u03b9"
    "\u03ba\u03bd\u03bf\u03c1\u03c4\u03c5\u03c7\u03b3\u03c9\u057d\u0585\u0581\u0566\u0131\u2113"
)
_CONFUSABLE_TO = "abceehiijkmhopqstyxwbglyiocabenikvoptuxywuogqil"
_CONFUSABLES = str.maketrans(_CONFUSABLE_FROM, _CONFUSABLE_TO)
_CONFUSABLE_KEYS = frozenset(_CONFUSABLE_FROM)
_CONFUSABLE_RE = re.compile("[" + _CONFUSABLE_FROM + "]")
_LATIN_WORD = re.compile(r"[a-z]")

# Markup. Comments are exposed (their text stays), tags are dropped, hidden elements flagged.
# A comment is "<!--", at most MAX_COMMENT_CHARS characters, then the first "-->" (see _comments).
MAX_COMMENT_CHARS = 20_000
# Markup that hides text: a tag ``<x ...>`` whose attributes (at most 500 characters either side)
# hold one of these. Found from the keyword out, not from every ``<``: the one-regex form read 500
# characters after every tag start, ~20 s on 1 MB of ``<a `` (tests pin both forms' answers).
_HIDDEN_KEYWORD = re.compile(
    r"(?=(display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0|opacity\s*:\s*0[;\"']"
    r"|color\s*:\s*(?:#fff\b|#ffffff|white)|aria-hidden\s*=\s*[\"']?true|\bhidden\b))",
    re.IGNORECASE,
)
_TAG_START = re.compile(r"<[a-z]", re.IGNORECASE)
_TAG_END = re.compile(r"[^>]{0,500}>")
# Every keyword holds one of these words, in any case. The keyword regex tries its branches at
# every character (~150 ns each, a lookahead defeats the engine's skipping); text.lower() and
# ``in`` rule most texts out at ~5 ns a character. Beyond ASCII, the regex's ignore-case also
# matches U+0130 and U+0131 (dotted capital, dotless small i) to "i" and U+017F (long s) to "s",
# which lower() does not: a text holding one of those goes to the regex.
_HIDDEN_WORDS = ("hidden", "display", "visibility", "font-size", "opacity", "color")
_FOLDS_TO_ASCII = ("\u0130", "\u0131", "\u017f")


def _hides_text(text: str) -> bool:
    """True when a keyword sits inside a tag: ``<`` + letter, then at most 500 characters without
    ``>`` up to the keyword, and at most 500 more before the tag's ``>``."""
    if not _may_hold_hidden_keyword(text):
        return False
    for found in _HIDDEN_KEYWORD.finditer(text):
        start, end = found.start(), found.start() + len(found[1])
        low = max(0, start - 502)  # "<", a letter, then up to 500 characters
        low = max(low, text.rfind(">", low, start) + 1)
        if _TAG_START.search(text, low, start) and _TAG_END.match(text, end):
            return True
    return False


def _may_hold_hidden_keyword(text: str) -> bool:
    """False when no keyword can match: no word of ``_HIDDEN_WORDS``, in any case."""
    if not text.isascii() and any(char in text for char in _FOLDS_TO_ASCII):
        return True
    lowered = text.lower()
    return any(word in lowered for word in _HIDDEN_WORDS)


_TAG = re.compile(r"</?[a-z][a-z0-9:-]{0,30}(?:\s[^<>]{0,2000})?/?>", re.IGNORECASE)
_ATTR_TEXT = re.compile(r"\b(?:alt|title|aria-label|data-[a-z-]{1,30})\s*=\s*[\"']([^\"'<>]{1,2000})[\"']", re.I)
# Four or more words in a comment. Tried only where a run of letters starts: a match from
# inside a run exists iff one from its start does, and trying every position of a run made a
# comment of 20,000 letters cost ten seconds.
_WORDY = re.compile(r"(?<![a-z])[a-z]{3,}(?:\s+[a-z]{2,}){3,}")

# Encoded chunks: bounded repetition keeps each match linear in the input.
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){8,}(?![0-9A-Fa-f])|(?:\\x[0-9A-Fa-f]{2}){4,}")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")

# Leetspeak and rot13 map ASCII to ASCII, so they run as bytes.translate over UTF-8 (where an
# ASCII byte is always an ASCII character): str.translate with a dict costs ~100 ns a
# character on any text that holds one non-ASCII character, bytes.translate ~1 ns.
# The whole text is read as leet: digits that stand alone ("3 days" -> "e days") do no harm to
# rules that look for words, and a per-token regex callback cost 10x more.
_LEET = bytes.maketrans(b"013457@$|", b"oieastasl")
_ROT13 = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", b"NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm"
)
_SPACES = re.compile(r"[ \t\f\v]+")
# Without tabs, form feeds or vertical tabs, only runs of two or more spaces change: found from
# their literal "  " (the engine's fast search), not from every space (~50 ns each).
_SPACE_RUNS = re.compile(r"   *")


@dataclass(frozen=True, slots=True)
class Normalised:
    """The views of one text that the rules and the model read (see the module docstring)."""

    text: str
    decoded: tuple[str, ...]
    deleet: str
    rot13: str
    signals: tuple[str, ...]


def normalise(text: str) -> Normalised:
    """Return the de-obfuscated views of ``text``; never raises on any ``str``."""
    signals: list[str] = []
    if len(text) > MAX_INPUT_CHARS:
        text = text[:MAX_INPUT_CHARS]
        signals.append(SIGNAL_TRUNCATED)
    flags = _char_flags(text)
    if flags & _HAS_SURROGATE:
        text = _SURROGATES.sub("\ufffd", text)
        signals.append(SIGNAL_INVALID_UNICODE)
    text = _strip_invisible(text, signals, flags)
    text = unicodedata.normalize("NFKC", text)
    text = _expose_markup(text, signals)
    folded = text.casefold()
    mapped = folded
    if not folded.isascii() and _CONFUSABLE_RE.search(folded):
        mapped = folded.translate(_CONFUSABLES)
        if _mixes_scripts(folded):
            signals.append(SIGNAL_HOMOGLYPHS)
    mapped = _collapse_spaces(mapped)
    decoded = _decode_chunks(text, signals)
    return Normalised(
        text=mapped,
        decoded=decoded,
        deleet=_translate_ascii(mapped, _LEET),
        rot13=_translate_ascii(mapped, _ROT13),
        signals=tuple(dict.fromkeys(signals)),
    )


def _char_flags(text: str) -> int:
    """Which of the surrogate, tag, bidi and invisible classes occur in ``text`` (all non-ASCII)."""
    if text.isascii():
        return 0
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return int(np.bitwise_or.reduce(_CHAR_FLAGS[cps]))


def _translate_ascii(text: str, table: bytes) -> str:
    return text.encode("utf-8", "surrogatepass").translate(table).decode("utf-8", "surrogatepass")


def _collapse_spaces(text: str) -> str:
    # Runs of spaces and tabs become one space. A lone space is left as it is, so a text with
    # neither a double space nor a tab, form feed or vertical tab skips the regex (one match a word).
    if "\t" in text or "\f" in text or "\v" in text:
        return _SPACES.sub(" ", text)
    if "  " in text:
        return _SPACE_RUNS.sub(" ", text)
    return text


def _strip_invisible(text: str, signals: list[str], flags: int) -> str:
    # ZWJ inside emoji sequences is common and harmless, so only several invisible
    # characters (or any bidi control or tag character) make a signal. ``flags`` were read
    # before the tag characters were decoded: decoding adds only ASCII, removes only tags.
    if flags & _HAS_TAG:
        signals.append(SIGNAL_TAG_SMUGGLING)
        text = _TAGS.sub(
            lambda m: " " + "".join(chr(ord(c) - 0xE0000) for c in m.group(0) if ord(c) > 0xE001F) + " ", text
        )
    if flags & _HAS_BIDI:
        signals.append(SIGNAL_BIDI)
        text = _BIDI_RE.sub("", text)
    if not flags & _HAS_INVISIBLE:
        return text
    stripped = _INVISIBLE_RE.sub("", text)
    if len(text) - len(stripped) >= 3:
        signals.append(SIGNAL_INVISIBLE)
    return stripped


def _expose_markup(text: str, signals: list[str]) -> str:
    if "<" not in text:
        return text
    comments = list(_comments(text))
    hidden = any(_WORDY.search(text[start + 4 : close].casefold()) for start, close in comments)
    if not hidden and _hides_text(text):
        hidden = True
    if hidden:
        signals.append(SIGNAL_HIDDEN_MARKUP)
    if comments:
        parts: list[str] = []
        pos = 0
        for start, close in comments:
            parts += (text[pos:start], " ", text[start + 4 : close], " ")
            pos = close + 3
        parts.append(text[pos:])
        text = "".join(parts)
    # Alt text and titles are read by models even though a browser barely shows them.
    text = _TAG.sub(lambda m: " " + " ".join(a.group(1) for a in _ATTR_TEXT.finditer(m.group(0))) + " ", text)
    return text


def _comments(text: str) -> Iterator[tuple[int, int]]:
    """``(start, close)`` of each comment, left to right: ``text[start:start + 4] == "<!--"`` and
    ``close`` is the first "-->" after it, at most MAX_COMMENT_CHARS on.

    The same comments as the regex ``<!--(.{0,20000}?)-->`` (DOTALL) finds, in linear time: the
    regex read up to 20,000 characters after every "<!--" that had no close, so a megabyte of
    "<!--" took minutes. Here the next "-->" is found once and reused until it is passed.
    """
    pos, close = 0, -1
    while (start := text.find("<!--", pos)) >= 0:
        if close < start + 4:
            close = text.find("-->", start + 4)
            if close < 0:
                return
        if close - (start + 4) <= MAX_COMMENT_CHARS:
            yield start, close
            pos = close + 3
        else:
            pos = start + 1


def _mixes_scripts(folded: str) -> bool:
    # A homoglyph matters when it sits in a word that also has Latin letters ("ignore" spelt with a Cyrillic i),
    # not in genuine Cyrillic or Greek prose.
    for word in folded.split():
        if len(word) > 64:
            continue
        if any(c in _CONFUSABLE_KEYS for c in word) and _LATIN_WORD.search(word):
            return True
    return False


def _decode_chunks(text: str, signals: list[str]) -> tuple[str, ...]:
    found: list[str] = []
    budget = [MAX_DECODED_CHARS]
    _decode_level(text, 1, found, signals, budget)
    return tuple(found)


def _decode_level(text: str, depth: int, found: list[str], signals: list[str], budget: list[int]) -> None:
    runs = _Runs.of(text)
    chunks = 0
    for kind, candidates, decoder in _DECODERS:
        for raw in candidates(runs):
            if budget[0] <= 0 or chunks >= MAX_CHUNKS:
                return
            chunks += 1
            plain = decoder(raw[:MAX_CHUNK_CHARS])
            if plain is None:
                continue
            if depth > MAX_DECODE_DEPTH:
                signals.append(SIGNAL_NESTED_ENCODING)
                return
            signals.append(f"encoded_payload:{kind}")
            plain = plain[: budget[0]]
            budget[0] -= len(plain)
            found.append(_collapse_spaces(unicodedata.normalize("NFKC", plain).casefold().translate(_CONFUSABLES)))
            _decode_level(plain, depth + 1, found, signals, budget)


@dataclass(frozen=True, slots=True)
class _Runs:
    """The whitespace-free runs of a text, where encoded chunks are looked for (a chunk never
    spans whitespace). str.split finds them in one C pass; a regex with an unbounded prefix
    would retry every start of a long run."""

    text: str
    runs: list[str]
    # The runs of 16+ characters (the shortest base64 or hex chunk), joined by spaces: a space
    # ends a chunk as the end of its run did, so one regex pass over this finds, in order, the
    # chunks of every run (one search per run cost ~1.5 us each, in Python).
    long_runs: str

    @classmethod
    def of(cls, text: str) -> _Runs:
        runs = text.split()
        return cls(text, runs, " ".join(run for run in runs if len(run) >= 16))


def _regex_chunks(pattern: re.Pattern[str]) -> Callable[[_Runs], Iterator[str]]:
    def chunks(runs: _Runs) -> Iterator[str]:
        return (m.group(0) for m in pattern.finditer(runs.long_runs))

    return chunks


def _url_chunks(runs: _Runs) -> Iterator[str]:
    # Whole whitespace-free runs holding three or more %XX escapes.
    if "%" not in runs.text:
        return
    for run in runs.runs:
        if run.count("%") >= 3 and len(_PERCENT.findall(run[:MAX_CHUNK_CHARS])) >= 3:
            yield run


def _as_text(data: bytes) -> str | None:
    # Decoded bytes count only when they read as text: mostly printable, some letters, spaces.
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(s) < 8:
        return None
    printable = sum(1 for c in s if c.isprintable() or c in "\n\r\t")
    letters = sum(1 for c in s if c.isalpha())
    if printable < 0.95 * len(s) or letters < 0.5 * len(s.replace(" ", "")) or letters < 6:
        return None
    return s


def _from_base64(chunk: str) -> str | None:
    if chunk.isalpha() or chunk.isdigit() or chunk.islower() or chunk.isupper():
        return None  # a long word, number or identifier, not base64 of text
    body = chunk.rstrip("=")
    body = body[: len(body) - len(body) % 4] if len(body) % 4 == 1 else body
    try:
        if "-" in body or "_" in body:
            data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        else:
            data = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _as_text(data)


def _from_hex(chunk: str) -> str | None:
    try:
        return _as_text(bytes.fromhex(chunk.replace("\\x", "")))
    except ValueError:
        return None


def _from_url(chunk: str) -> str | None:
    return _as_text(unquote_to_bytes(chunk))


_DECODERS: tuple[tuple[str, Callable[[_Runs], Iterator[str]], Callable[[str], str | None]], ...] = (
    ("base64", _regex_chunks(_BASE64), _from_base64),
    ("hex", _regex_chunks(_HEX), _from_hex),
    ("url", _url_chunks, _from_url),
)
