"""ECMA-262 semantics for the regular expressions of JSON Schema.

Why this module exists
----------------------
JSON Schema says the ``pattern`` and ``patternProperties`` keywords, and the ``regex`` format, are
ECMA-262 (JavaScript) regular expressions. The ``jsonschema`` library hands them to Python's ``re``
unchanged, and the two dialects read the same text differently. The differences are not cosmetic:
with ``re`` the schema ``{"type": "string", "pattern": "^[A-Z]{3}$"}`` accepts ``"EUR\\n"``, because
Python's ``$`` also matches before a final newline. A guardrail that checks a currency code, an
account id or a file name with such a pattern lets a trailing newline (or a non-ASCII digit, or an
odd space) through to the tool. The ECMA-262 readings this module enforces:

* ``^`` and ``$`` match only at the start and the end of the string (no multiline mode);
* ``.`` matches any character except the line terminators ``\\n``, ``\\r``, U+2028 and U+2029;
* ``\\d``, ``\\w`` and ``\\b`` are ASCII-only (Python's are Unicode-aware: ``"٣"`` is a ``\\d``);
* ``\\s`` is the ECMA-262 WhiteSpace and LineTerminator set (U+FEFF is a space, U+001C is not);
* ``(?<name>...)``, ``\\k<name>``, ``\\cX``, ``\\uXXXX`` and ``\\/`` are ECMA-262 syntax ``re`` lacks.

:func:`translate` parses an ECMA-262 pattern (no flags) and writes the Python pattern that means the
same. A pattern that Python would read one way and JavaScript another, or that is not ECMA-262 at
all, is refused with :class:`ValueError` rather than guessed at: ``(?P<name>...)``, ``\\A``, ``\\Z``,
inline flags such as ``(?i)``, ``(?#...)`` comments, atomic groups and possessive quantifiers all
mean something in Python and nothing (or something else) in ECMA-262. Refusing happens once, when
the schemas are loaded (:func:`check_patterns`), so a bad schema stops start-up instead of quietly
matching the wrong strings for months.

:func:`ecma_validator` extends a ``jsonschema`` validator class so that every keyword that matches a
regex uses :func:`search`. That is ``pattern`` and ``patternProperties``, and also
``additionalProperties`` and ``unevaluatedProperties``: they decide which keys ``patternProperties``
covered, and if they kept Python's reading a key such as ``"x-id\\n"`` would be skipped by the
ECMA-262 ``patternProperties`` yet not count as additional, so it would escape both checks.

Choices worth knowing
---------------------
* Matching is by code point, as with the ``u`` flag, because Python strings are code points and JSON
  Schema 2020-12 asks for Unicode support. A pattern's ``\\uD83D\\uDE00`` pair is read as the one
  character U+1F600; a lone surrogate escape is refused.
* The syntax is that of a pattern with no flags, Annex B included where Python can say the same
  thing: a brace that does not make a quantifier (``a{,5}``) is a literal brace, ``[\\w-.]`` is the
  union of ``\\w``, ``-`` and ``.``. Annex B readings that are almost always a mistake are refused
  instead: identity escapes of letters and digits (``\\a`` is not a bell, ``\\z`` not an anchor),
  legacy octal escapes (``\\01``), ``\\c`` without a letter, ``\\x`` or ``\\u`` without their digits.
* Not supported (refused): ``\\p{...}`` property escapes (they need the ``u`` flag, and ``re`` has no
  Unicode property tables), ``\\u{...}``, lookbehinds Python cannot run (not fixed-width), and
  backreferences whose ECMA-262 meaning Python cannot reproduce (to a group not yet closed, or to one
  inside a quantified group or a negative lookaround). A backreference to a group that did not take
  part in the match matches the empty string, as in ECMA-262.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError, ValidationError
from referencing.jsonschema import lookup_recursive_ref

__all__ = ["check_patterns", "ecma_validator", "search", "translate"]

_Ranges = tuple[tuple[int, int], ...]

_MAX_CODE_POINT = 0x10FFFF
_DIGIT: _Ranges = ((0x30, 0x39),)
_WORD: _Ranges = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
# ECMA-262 WhiteSpace (TAB, VT, FF, ZWNBSP and the Space_Separator category) plus LineTerminator.
_SPACE: _Ranges = (
    (0x09, 0x0D),
    (0x20, 0x20),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
    (0xFEFF, 0xFEFF),
)
_LINE_TERMINATORS: _Ranges = ((0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029))


def _complement(ranges: _Ranges) -> _Ranges:
    out: list[tuple[int, int]] = []
    start = 0
    for lo, hi in ranges:
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= _MAX_CODE_POINT:
        out.append((start, _MAX_CODE_POINT))
    return tuple(out)


_CLASS_ESCAPES: dict[str, _Ranges] = {
    "d": _DIGIT,
    "D": _complement(_DIGIT),
    "w": _WORD,
    "W": _complement(_WORD),
    "s": _SPACE,
    "S": _complement(_SPACE),
}
# re's \b with ASCII \w is ECMA-262's; re's \B is not (it never matches in an empty string), so spell it out.
_WORD_BOUNDARY = r"(?a:\b)"
_NOT_WORD_BOUNDARY = r"(?:(?<=[0-9A-Z_a-z])(?=[0-9A-Z_a-z])|(?<![0-9A-Z_a-z])(?![0-9A-Z_a-z]))"
_CONTROL_ESCAPES = {"f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}
_SYNTAX_CHARACTERS = frozenset("^$\\.*+?()[]{}|")
_HEX = frozenset("0123456789abcdefABCDEF")
_DECIMAL = frozenset("0123456789")
# Printable ASCII that means nothing special to ``re``, inside or outside a character class.
_PLAIN_ASCII = frozenset("_@:/,;'\"%!<>=`# ")
_BRACE_QUANTIFIER = re.compile(r"\{([0-9]+)(,([0-9]*))?\}")
_PYTHON_ANCHORS = {"A": "start of string", "Z": "end of string", "z": "end of string", "G": "end of previous match"}


class PatternError(ValueError):
    """A pattern that is not ECMA-262, or that this module cannot run with ECMA-262 meaning."""


def _char(cp: int) -> str:
    """One code point written so that ``re`` reads it as that literal character, in or out of a class."""
    ch = chr(cp)
    if ch.isascii() and (ch.isalnum() or ch in _PLAIN_ASCII):
        return ch
    if not ch.isascii() and ch.isprintable():
        return ch
    if cp <= 0xFF:
        return f"\\x{cp:02x}"
    if cp <= 0xFFFF:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def _literal(cp: int) -> str:
    """One code point outside a character class, where only the syntax characters need care."""
    ch = chr(cp)
    if ch.isascii() and ch.isprintable() and ch not in _SYNTAX_CHARACTERS:
        return ch
    return _char(cp)


def _char_class(ranges: _Ranges, negate: bool = False) -> str:
    if not ranges:
        # ECMA-262 ``[]`` matches nothing and ``[^]`` matches anything; ``re`` has no empty class.
        ranges, negate = ((0, _MAX_CODE_POINT),), not negate
    body = "".join(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}" for lo, hi in ranges)
    return f"[{'^' if negate else ''}{body}]"


@dataclass(eq=False)
class _Frame:
    """An open or closed group: what a backreference check needs to know about it."""

    negative_lookaround: bool = False
    quantified: bool = False


@dataclass(eq=False)
class _Capture:
    number: int
    name: str | None
    ancestors: tuple[_Frame, ...]
    closed: bool = False


class _Translator:
    """A recursive-descent parser of ECMA-262 ``Pattern`` that writes the equivalent ``re`` pattern."""

    def __init__(self, pattern: str) -> None:
        self.src = pattern
        self.pos = 0
        self.out: list[str] = []
        self.stack: list[_Frame] = []
        self.captures: list[_Capture] = []
        self.names: dict[str, _Capture] = {}
        self.backrefs: list[tuple[_Capture, int]] = []

    # -- helpers ---------------------------------------------------------------------------------

    def fail(self, reason: str, at: int | None = None) -> PatternError:
        where = self.pos if at is None else at
        return PatternError(f"pattern {self.src!r}: {reason} (at index {where})")

    def peek(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.src[i] if i < len(self.src) else ""

    def brace_quantifier(self) -> re.Match[str] | None:
        return _BRACE_QUANTIFIER.match(self.src, self.pos) if self.peek() == "{" else None

    # -- grammar ---------------------------------------------------------------------------------

    def run(self) -> str:
        self.disjunction()
        if self.pos < len(self.src):
            raise self.fail("unmatched ')'")
        for capture, at in self.backrefs:
            if any(frame.quantified or frame.negative_lookaround for frame in capture.ancestors):
                raise self.fail(
                    f"a backreference to group {capture.number}, which sits inside a quantified group or a "
                    "negative lookaround, is not supported (ECMA-262 resets such captures, Python keeps them)",
                    at,
                )
        return "".join(self.out)

    def disjunction(self) -> None:
        self.alternative()
        while self.peek() == "|":
            self.pos += 1
            self.out.append("|")
            self.alternative()

    def alternative(self) -> None:
        while self.pos < len(self.src) and self.peek() not in "|)":
            self.term()

    def term(self) -> None:
        start = self.pos
        ch = self.peek()
        if ch in ("*", "+", "?") or self.brace_quantifier():
            raise self.fail(f"nothing to repeat before {ch!r}")
        is_assertion, frame = self.atom()
        if not self.quantifier():
            return
        if is_assertion:
            raise self.fail(f"an assertion ({self.src[start : self.pos]!r}) cannot be quantified", start)
        if frame is not None:
            frame.quantified = True
        if self.peek() in ("*", "+", "?") or self.brace_quantifier():
            raise self.fail(
                "a quantifier cannot follow a quantifier (Python reads 'x*+' as possessive; ECMA-262 rejects it)"
            )

    def quantifier(self) -> bool:
        ch = self.peek()
        if ch in ("*", "+", "?"):
            self.pos += 1
            self.out.append(ch)
        elif (m := self.brace_quantifier()) is not None:
            low, has_comma, high = m.group(1), m.group(2) is not None, m.group(3)
            if high and int(low) > int(high):
                raise self.fail(f"numbers out of order in quantifier {m.group(0)!r}")
            self.pos = m.end()
            self.out.append("{" + str(int(low)) + ("," if has_comma else "") + (str(int(high)) if high else "") + "}")
        else:
            return False
        if self.peek() == "?":
            self.pos += 1
            self.out.append("?")
        return True

    def atom(self) -> tuple[bool, _Frame | None]:
        """Parse one atom or assertion; return (is_assertion, the group's frame if it is a group)."""
        ch = self.peek()
        if ch == "^":
            self.pos += 1
            self.out.append(r"\A")
            return True, None
        if ch == "$":
            self.pos += 1
            self.out.append(r"\Z")
            return True, None
        if ch == ".":
            self.pos += 1
            self.out.append(_char_class(_LINE_TERMINATORS, negate=True))
            return False, None
        if ch == "(":
            return self.group()
        if ch == "[":
            self.out.append(self.char_class())
            return False, None
        if ch == "\\":
            return self.atom_escape(), None
        # Any other character, including a '{' that starts no quantifier and a lone ']' or '}' (Annex B).
        self.pos += 1
        self.out.append(_literal(ord(ch)))
        return False, None

    def group(self) -> tuple[bool, _Frame | None]:
        start = self.pos
        self.pos += 1  # '('
        capture: _Capture | None = None
        frame = _Frame()
        is_assertion = False
        if self.peek() != "?":
            capture = self.new_capture(None)
            opener = "("
        else:
            head = self.src[self.pos : self.pos + 3]
            if head.startswith("?:"):
                opener = "(?:"
            elif head.startswith(("?=", "?!")):
                opener, is_assertion = "(" + head[:2], True
                frame.negative_lookaround = head[1] == "!"
            elif head in ("?<=", "?<!"):
                opener, is_assertion = "(" + head, True
                frame.negative_lookaround = head[2] == "!"
            elif head.startswith("?<"):
                end = self.src.find(">", self.pos + 2)
                name = self.src[self.pos + 2 : end] if end != -1 else ""
                if not name.isidentifier():
                    raise self.fail(f"invalid or unsupported capture group name {name!r}", start)
                if name in self.names:
                    raise self.fail(f"duplicate capture group name {name!r}", start)
                capture = self.new_capture(name)
                opener = f"(?P<{name}>"
                self.pos = end + 1
            else:
                raise self.fail(self.unsupported_group(), start)
            if capture is None:
                self.pos += len(opener) - 1
        self.out.append(opener)
        self.stack.append(frame)
        self.disjunction()
        if self.peek() != ")":
            raise self.fail("missing ')' for the group opened", start)
        self.pos += 1
        self.stack.pop()
        self.out.append(")")
        if capture is not None:
            capture.closed = True
        return is_assertion, frame

    def unsupported_group(self) -> str:
        rest = self.src[self.pos :]
        if rest.startswith(("?P<", "?P=", "?P>")):
            return "'(?P<name>...)' and '(?P=name)' are Python-only; ECMA-262 writes '(?<name>...)' and '\\k<name>'"
        if rest.startswith("?#"):
            return "'(?#...)' comments are Python-only"
        if rest.startswith("?>"):
            return "atomic groups '(?>...)' are not ECMA-262"
        if rest.startswith("?("):
            return "conditional groups '(?(...)...)' are not ECMA-262"
        if re.match(r"\?[aiLmsux-]", rest):
            return "inline flags such as '(?i)' or '(?i:...)' are not supported: a schema pattern takes no flags"
        return f"'({rest[:2]}' is not an ECMA-262 group"

    def new_capture(self, name: str | None) -> _Capture:
        capture = _Capture(len(self.captures) + 1, name, tuple(self.stack))
        self.captures.append(capture)
        if name is not None:
            self.names[name] = capture
        return capture

    # -- escapes ---------------------------------------------------------------------------------

    def atom_escape(self) -> bool:
        """Parse an escape outside a class; return whether it is an assertion (``\\b``, ``\\B``)."""
        start = self.pos
        ch = self.peek(1)
        if ch in ("b", "B"):
            self.pos += 2
            self.out.append(_WORD_BOUNDARY if ch == "b" else _NOT_WORD_BOUNDARY)
            return True
        if ch in _CLASS_ESCAPES:
            self.pos += 2
            self.out.append(_char_class(_CLASS_ESCAPES[ch]))
            return False
        if ch in _DECIMAL and ch != "0":
            m = re.compile(r"[0-9]+").match(self.src, self.pos + 1)
            assert m is not None
            self.pos = m.end()
            self.backreference(int(m.group(0)), None, start)
            return False
        if ch == "k":
            m = re.compile(r"k<([^>]*)>").match(self.src, self.pos + 1)
            if m is None or m.group(1) not in self.names:
                raise self.fail("'\\k' must name a capture group defined before it: '\\k<name>'", start)
            self.pos = m.end()
            capture = self.names[m.group(1)]
            self.backreference(capture.number, capture.name, start)
            return False
        self.out.append(_literal(self.character_escape()))
        return False

    def backreference(self, number: int, name: str | None, start: int) -> None:
        if number > len(self.captures) or not self.captures[number - 1].closed:
            raise self.fail(
                f"backreference to group {number}, which is not closed before it (a forward or self reference "
                "matches the empty string in ECMA-262; a number with no group is a legacy octal escape)",
                start,
            )
        capture = self.captures[number - 1]
        self.backrefs.append((capture, start))
        # ECMA-262: a group that took no part in the match is undefined and a reference to it matches "".
        ref = f"(?P={name})" if name is not None else f"\\{number}"
        self.out.append(f"(?({name if name is not None else number}){ref}|)")

    def character_escape(self) -> int:
        """Parse ``\\`` CharacterEscape at ``self.pos`` and return its code point."""
        start = self.pos
        ch = self.peek(1)
        if ch == "":
            raise self.fail("'\\' at end of pattern", start)
        self.pos += 2
        if ch in _CONTROL_ESCAPES:
            return _CONTROL_ESCAPES[ch]
        if ch == "c":
            letter = self.peek()
            if not (letter.isascii() and letter.isalpha()):
                raise self.fail("'\\c' must be followed by an ASCII letter", start)
            self.pos += 1
            return ord(letter) % 32
        if ch == "0":
            if self.peek() in _DECIMAL:
                raise self.fail("legacy octal escapes such as '\\01' are not supported", start)
            return 0
        if ch == "x":
            digits = self.src[self.pos : self.pos + 2]
            if len(digits) != 2 or not set(digits) <= _HEX:
                raise self.fail("'\\x' must be followed by two hex digits", start)
            self.pos += 2
            return int(digits, 16)
        if ch == "u":
            return self.unicode_escape(start)
        if ch in ("p", "P"):
            raise self.fail(f"'\\{ch}{{...}}' property escapes need the u flag and are not supported", start)
        if ch in _PYTHON_ANCHORS:
            raise self.fail(f"'\\{ch}' is a Python anchor ({_PYTHON_ANCHORS[ch]}), not ECMA-262; use '^' or '$'", start)
        if ch.isascii() and ch.isalnum():
            raise self.fail(f"'\\{ch}' is not an ECMA-262 escape (Python and ECMA-262 read it differently)", start)
        # An identity escape of a syntax character, '/', '-' or any other punctuation: the character itself.
        return ord(ch)

    def unicode_escape(self, start: int) -> int:
        digits = self.src[self.pos : self.pos + 4]
        if self.peek() == "{":
            raise self.fail("'\\u{...}' needs the u flag and is not supported", start)
        if len(digits) != 4 or not set(digits) <= _HEX:
            raise self.fail("'\\u' must be followed by four hex digits", start)
        self.pos += 4
        unit = int(digits, 16)
        if 0xD800 <= unit <= 0xDBFF:
            m = re.compile(r"\\u([dD][c-fC-F][0-9a-fA-F]{2})").match(self.src, self.pos)
            if m is not None:
                self.pos = m.end()
                return 0x10000 + ((unit - 0xD800) << 10) + (int(m.group(1), 16) - 0xDC00)
        if 0xD800 <= unit <= 0xDFFF:
            raise self.fail("a lone surrogate escape cannot be matched by code point and is not supported", start)
        return unit

    # -- character classes -----------------------------------------------------------------------

    def char_class(self) -> str:
        start = self.pos
        self.pos += 1  # '['
        negate = self.peek() == "^"
        if negate:
            self.pos += 1
        items: list[tuple[int, int]] = []
        while True:
            if self.pos >= len(self.src):
                raise self.fail("unterminated character class", start)
            if self.peek() == "]":
                self.pos += 1
                break
            first = self.class_atom()
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.pos += 1
                second = self.class_atom()
                if isinstance(first, int) and isinstance(second, int):
                    if first > second:
                        raise self.fail("range out of order in character class", start)
                    items.append((first, second))
                else:
                    # Annex B: a range with a class escape at one end is the union of both ends and '-'.
                    for end in (first, second, ord("-")):
                        items.extend(((end, end),) if isinstance(end, int) else end)
            else:
                items.extend(((first, first),) if isinstance(first, int) else first)
        return _char_class(tuple(items), negate)

    def class_atom(self) -> int | _Ranges:
        ch = self.peek()
        if ch != "\\":
            self.pos += 1
            return ord(ch)
        esc = self.peek(1)
        if esc in _CLASS_ESCAPES:
            self.pos += 2
            return _CLASS_ESCAPES[esc]
        if esc == "b":
            self.pos += 2
            return 0x08
        if esc == "-":
            self.pos += 2
            return ord("-")
        if esc in _DECIMAL and esc != "0":
            raise self.fail(f"'\\{esc}' in a character class is a legacy octal escape and is not supported")
        return self.character_escape()


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise TypeError(f"a pattern must be a string, not {type(pattern).__name__}")
    try:
        python = _Translator(pattern).run()
    except RecursionError:
        raise PatternError(f"pattern {pattern!r}: groups nested too deeply") from None
    try:
        return re.compile(python)
    except (re.error, OverflowError, RecursionError) as exc:
        raise PatternError(f"pattern {pattern!r} cannot be run by Python's re as {python!r}: {exc}") from None


def translate(pattern: str) -> str:
    """The Python ``re`` pattern that matches what the ECMA-262 ``pattern`` (no flags) matches.

    Raises :class:`ValueError` for a pattern that is not ECMA-262, that Python would read differently
    and ECMA-262 rejects, or whose ECMA-262 meaning ``re`` cannot reproduce.
    """
    return _compiled(pattern).pattern


def search(pattern: str, instance: str) -> bool:
    """Whether the ECMA-262 ``pattern`` matches somewhere in ``instance`` (JSON Schema never anchors)."""
    return _compiled(pattern).search(instance) is not None


# -- jsonschema keywords ---------------------------------------------------------------------------
# Each mirrors the function of the same keyword in jsonschema (``_keywords`` / ``_legacy_keywords``,
# jsonschema 4.26), errors and messages included, with ``re.search`` replaced by ``search``.

_Errors = Iterator[ValidationError]


def _pattern(validator: Any, patrn: str, instance: Any, schema: Mapping[str, Any]) -> _Errors:
    if validator.is_type(instance, "string") and not search(patrn, instance):
        yield ValidationError(f"{instance!r} does not match {patrn!r}")


def _pattern_properties(validator: Any, pattern_properties: Any, instance: Any, schema: Mapping[str, Any]) -> _Errors:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        for k, v in instance.items():
            if search(pattern, k):
                yield from validator.descend(v, subschema, path=k, schema_path=pattern)


def _extras_msg(extras: list[Any]) -> tuple[str, str]:
    verb = "was" if len(extras) == 1 else "were"
    return ", ".join(repr(extra) for extra in extras), verb


def _find_additional_properties(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> Iterator[str]:
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    for prop in instance:
        # jsonschema joins the patterns with '|'; one search per pattern means the same and keeps group names apart.
        if prop not in properties and not any(search(pattern, prop) for pattern in patterns):
            yield prop


def _additional_properties(validator: Any, ap: Any, instance: Any, schema: Mapping[str, Any]) -> _Errors:
    if not validator.is_type(instance, "object"):
        return
    extras = set(_find_additional_properties(instance, schema))
    if validator.is_type(ap, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], ap, path=extra)
    elif not ap and extras:
        if "patternProperties" in schema:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(each) for each in sorted(extras))
            patterns = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {patterns}")
        else:
            error = "Additional properties are not allowed (%s %s unexpected)"
            yield ValidationError(error % _extras_msg(sorted(extras, key=str)))


def _is_valid(errors: Iterator[Any]) -> bool:
    return next(errors, None) is None


def _evaluated_keys(validator: Any, instance: Any, schema: Any, draft2019: bool) -> list[str]:
    """jsonschema's ``find_evaluated_property_keys_by_schema`` (2020-12 or, with ``draft2019``, 2019-09)."""
    if validator.is_type(schema, "boolean"):
        return []
    keys: list[str] = []

    def follow(resolved: Any) -> None:
        evolved = validator.evolve(schema=resolved.contents, _resolver=resolved.resolver)
        keys.extend(_evaluated_keys(evolved, instance, resolved.contents, draft2019))

    if (ref := schema.get("$ref")) is not None:
        follow(validator._resolver.lookup(ref))
    if draft2019:
        if "$recursiveRef" in schema:
            follow(lookup_recursive_ref(validator._resolver))
        for keyword in ("properties", "additionalProperties", "unevaluatedProperties"):
            if keyword in schema:
                value = schema[keyword]
                if validator.is_type(value, "boolean") and value:
                    keys += instance.keys()
                elif validator.is_type(value, "object"):
                    keys += [prop for prop in value if prop in instance]
    else:
        if (dynamic_ref := schema.get("$dynamicRef")) is not None:
            follow(validator._resolver.lookup(dynamic_ref))
        properties = schema.get("properties")
        if validator.is_type(properties, "object"):
            keys += properties.keys() & instance.keys()
        for keyword in ("additionalProperties", "unevaluatedProperties"):
            if (subschema := schema.get(keyword)) is not None:
                keys += [key for key, value in instance.items() if _is_valid(validator.descend(value, subschema))]

    if "patternProperties" in schema:
        for prop in instance:
            for pattern in schema["patternProperties"]:
                if search(pattern, prop):
                    keys.append(prop)

    if "dependentSchemas" in schema:
        for prop, subschema in schema["dependentSchemas"].items():
            if prop in instance:
                keys += _evaluated_keys(validator, instance, subschema, draft2019)

    for keyword in ("allOf", "oneOf", "anyOf"):
        for subschema in schema.get(keyword, []):
            if _is_valid(validator.descend(instance, subschema)):
                keys += _evaluated_keys(validator, instance, subschema, draft2019)

    if "if" in schema:
        if validator.evolve(schema=schema["if"]).is_valid(instance):
            keys += _evaluated_keys(validator, instance, schema["if"], draft2019)
            if "then" in schema:
                keys += _evaluated_keys(validator, instance, schema["then"], draft2019)
        elif "else" in schema:
            keys += _evaluated_keys(validator, instance, schema["else"], draft2019)
    return keys


def _unevaluated_properties(draft2019: bool) -> Callable[[Any, Any, Any, Mapping[str, Any]], _Errors]:
    def unevaluated_properties(validator: Any, up: Any, instance: Any, schema: Mapping[str, Any]) -> _Errors:
        if not validator.is_type(instance, "object"):
            return
        evaluated = _evaluated_keys(validator, instance, schema, draft2019)
        unevaluated: list[str] = []
        for prop in instance:
            if prop not in evaluated:
                # As in jsonschema: the key is listed once per error under ``up``.
                unevaluated += [prop for _ in validator.descend(instance[prop], up, path=prop, schema_path=prop)]
        if unevaluated:
            if up is False:
                error = "Unevaluated properties are not allowed (%s %s unexpected)"
                yield ValidationError(error % _extras_msg(sorted(unevaluated, key=str)))
            else:
                error = "Unevaluated properties are not valid under the given schema (%s %s unevaluated and invalid)"
                yield ValidationError(error % _extras_msg(unevaluated))

    return unevaluated_properties


def _is_ecma_regex(instance: object) -> bool:
    if isinstance(instance, str):
        translate(instance)
    return True


def _format_checker(base: Any) -> Any:
    """A copy of ``base`` whose ``regex`` format means "a pattern :func:`translate` accepts"."""
    if base is None or "regex" not in base.checkers:
        return base
    checker = copy.copy(base)
    checker.checkers = dict(base.checkers)
    checker.checks("regex", raises=ValueError)(_is_ecma_regex)
    return checker


_UNSET: Any = object()
_extend: Callable[..., Any] = jsonschema.validators.extend  # untyped in jsonschema's stubs


@functools.cache
def ecma_validator(validator_class: Any) -> Any:
    """``validator_class`` extended so that every regex in a schema is matched as ECMA-262.

    Overrides ``pattern``, ``patternProperties``, ``additionalProperties`` and ``unevaluatedProperties``
    (whichever the class has), swaps the ``regex`` format of ``FORMAT_CHECKER`` for :func:`translate`,
    and makes ``check_schema`` use that format checker, so it accepts ``(?<name>...)`` and refuses ``\\Z``.
    The base class is untouched and ``validator_for`` does not return the new one. Cached per class.
    """
    known = validator_class.VALIDATORS
    keywords: dict[str, Callable[..., _Errors]] = {"pattern": _pattern, "patternProperties": _pattern_properties}
    if "additionalProperties" in known:
        keywords["additionalProperties"] = _additional_properties
    if "unevaluatedProperties" in known:
        keywords["unevaluatedProperties"] = _unevaluated_properties(draft2019="$dynamicRef" not in known)
    new = _extend(validator_class, keywords, format_checker=_format_checker(validator_class.FORMAT_CHECKER))
    new.__name__ = new.__qualname__ = f"Ecma{validator_class.__name__}"

    def check_schema(cls: Any, schema: Any, format_checker: Any = _UNSET) -> None:
        # jsonschema's own check_schema validates with the stock class, whose "regex" format is Python's.
        if format_checker is _UNSET:
            format_checker = cls.FORMAT_CHECKER
        meta = cls(schema=cls.META_SCHEMA, format_checker=format_checker)
        for error in meta.iter_errors(schema):
            raise SchemaError.create_from(error)

    new.check_schema = classmethod(check_schema)
    return new


# -- start-up check --------------------------------------------------------------------------------

# Keywords whose value is data, not a schema: a "pattern" key inside them is not a regex.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
# Keywords whose value maps names to schemas: a key named "pattern" there is a property, not the keyword.
_NAME_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"})
_SIMPLE_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")


def _step(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if _SIMPLE_KEY.fullmatch(key) else f"{path}[{json.dumps(key)}]"


def check_patterns(schema: Any, path: str = "$") -> None:
    """Refuse a schema with a ``pattern`` or ``patternProperties`` key :func:`translate` rejects.

    Walks the schema document (not what ``$ref`` points to outside it) and raises :class:`ValueError`
    naming the JSON path of the first bad pattern, e.g. ``$.properties.code.pattern: pattern '\\\\Z': ...``.
    """
    if isinstance(schema, list):
        for index, item in enumerate(schema):
            check_patterns(item, _step(path, index))
        return
    if not isinstance(schema, Mapping):
        return
    for key, value in schema.items():
        where = _step(path, key)
        if key in _DATA_KEYWORDS:
            continue
        if key == "pattern" and isinstance(value, str):
            _check_one(value, where)
        elif key in _NAME_MAPS and isinstance(value, Mapping):
            for name, subschema in value.items():
                if key == "patternProperties":
                    _check_one(name, _step(where, name))
                check_patterns(subschema, _step(where, name))
        else:
            check_patterns(value, where)


def _check_one(pattern: str, where: str) -> None:
    try:
        translate(pattern)
    except ValueError as exc:
        raise PatternError(f"{where}: {exc}") from None
