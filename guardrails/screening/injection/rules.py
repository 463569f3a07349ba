"""Scored signature rules: the attacks whose wording is known, named so a reviewer sees why.

Each rule is a few bounded regular expressions over the normalised, casefolded text
and a weight: the probability-like evidence one match carries. Matches combine as a
noisy-OR, ``1 - prod(1 - weight)``, so two weak signals add up and no sum passes 1.

Weights were set by hand against the benign tool outputs in the training set: a rule
that fires on an email asking its reader to "ignore the previous message" is too broad.
Obfuscation signals from the normaliser (``homoglyphs``, ``hidden_markup``...) carry
small weights: hiding text is suspicious, but the content decides.

Rules are matched through an index (see ``Trigger``): each pattern is read once, at import,
for the literal texts its matches open with and the whole words those texts hold; per view,
one C-speed pass collects the view's words, and a pattern is tried only where one of its
opening texts occurs, in a view that holds their words. ``Rule.pattern`` stays the reference:
the equivalence tests check ``Rule.matches`` against it on every view of every pinned sample.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from re import _constants as _sre  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any, Final

from .normalise import Normalised

INSTRUCTION_OVERRIDE: Final = "instruction_override"
ROLEPLAY_JAILBREAK: Final = "roleplay_jailbreak"
SYSTEM_PROMPT_EXFILTRATION: Final = "system_prompt_exfiltration"
TOOL_HIJACK: Final = "tool_hijack"
EXFILTRATION_LINK: Final = "exfiltration_link"
FAKE_TURN: Final = "fake_turn"
ADDRESSED_TO_AI: Final = "addressed_to_ai"

_GAP = r"[^.\n]{0,40}?"  # a short stretch of the same sentence
# What an injected "system" line goes on to say. A markdown "### System" heading or a
# "Developer note:" label in a README is benign; followed by one of these, it is a fake turn.
_TURN_BODY = (
    r"(?:you\b|ignore|disregard|forget|override|bypass|new (?:task|instructions?|rules)|from now on|respond|reply only"
    r"|do not (?:tell|mention|reveal|inform|ask)|the (?:assistant|ai|model|user)\b|act as|pretend|reveal|print"
    r"|output|send|forward|call|execute|run \w+ on|append|before (?:you )?(?:answer|respond|reply)"
    r"|when (?:you )?(?:answer|respond|reply|summari))"
)
# Benign things named "prompt"/"instructions" that an attack does not target: a form field, a
# template file, the steps in this guide, the label on a parcel.
_NOT_TARGET = (
    r"(?!\s+(?:field|template|file|box|text ?box)s?\b|\s+(?:in|of) this (?:guide|manual"
    r"|readme|policy)\b|\s+on the (?:label|screen|box|package)\b)"
)
# A leetspeak digit or symbol next to a letter ("1gn0re"): only then is the leet view read. Found
# from the symbol (a class the engine skips to), the letter looked for either side: the form
# "[a-z][013457@$|]|[013457@$|][a-z]" tried both branches at every character (~45 ns each).
_MIXED_LEET = re.compile(r"[013457@$|](?:(?<=[a-z].)|(?=[a-z]))")


# -- where a pattern can match -------------------------------------------------------------
# Searching each pattern over each view cost ~45 searches per view, most at ~15 ns a character
# (a pattern that opens with one of a few words): ~2 ms per 10 KB view. Now a pattern is tried
# only at the occurrences (str.find) of the texts its matches open with ("ignore", "you are dan",
# "<|im_start|>"), and only in a view that holds words those matches must hold: "you are dan" is
# not looked for in a view without the word "dan".

# Words most English texts (or tool outputs) hold: a trigger needing one of them, or filed under
# one, would be tried on most views.
_COMMON_WORDS = frozenset(
    b"a an the this that these to of in on at for from with by as and or not no do is are be will can you your"
    b" we it all any every new now what if user users mode data file text email message system input".split()
)

# Bytes that are part of a word; every other byte (punctuation, spaces, any byte of a non-ASCII
# character) ends one. A pattern's whole words (letters, digits, "_" between two non-word
# characters or boundaries) are then whole words of this split of any view it matches in.
_WORD_BYTES = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")
_WORD_BREAKS = bytes(byte if byte in _WORD_BYTES else 0x20 for byte in range(256))
# In an opening text, a zero-width boundary (\b, ^, $): the characters either side of it are
# not both word characters, so it ends a word as a space would.
_BOUNDARY = "\0"
# An opening text is expanded through alternations and optional parts; past this many
# variants the expansion stops (the texts stay valid openings, only shorter).
_MAX_OPENINGS = 256


def view_words(view: str) -> frozenset[bytes]:
    """The words of ``view`` as rules see them: runs of ASCII letters, digits and "_"."""
    return frozenset(view.encode("utf-8", "surrogatepass").translate(_WORD_BREAKS).split())


@dataclass(frozen=True, slots=True)
class Trigger:
    """Where one pattern can match: at an occurrence of ``head`` (every match that opens with it
    starts with it), in a view that holds a word of each of ``needs``. A ``line_start`` pattern is
    the body of a ``^\\s*`` one: it matches where the whitespace after a line start ends."""

    head: str
    needs: tuple[frozenset[bytes], ...]
    pattern: re.Pattern[str]
    line_start: bool

    def fires(self, view: str, words: frozenset[bytes]) -> bool:
        """Whether the pattern matches in ``view`` (whose ``view_words`` are ``words``)."""
        for need in self.needs:
            if words.isdisjoint(need):
                return False
        # A step per occurrence, in Python, until that would cost more than the engine's own
        # scan of the rest (a megabyte of "#" is a million occurrences).
        patience = _PATIENCE + len(view) // 32
        at = view.find(self.head)
        while at >= 0:
            if self.pattern.match(view, at) and (not self.line_start or _opens_line(view, at)):
                return True
            patience -= 1
            if not patience:
                return self._matches_from(view, at)
            at = view.find(self.head, at + 1)
        return False

    def _matches_from(self, view: str, at: int) -> bool:
        if self.line_start:
            return _matches_at_line_start(self.pattern, view)
        return self.pattern.search(view, at) is not None


@dataclass(frozen=True, slots=True)
class _Opening:
    """A text that matches of a pattern (or of a part of it) open with; zero-width boundaries
    are marked ``_BOUNDARY``."""

    text: str

    @property
    def literal(self) -> str:
        return self.text.replace(_BOUNDARY, "")

    @property
    def words(self) -> list[bytes]:
        """The whole words of the text, in order: those with a word break on both sides inside it."""
        split = self.text.replace(_BOUNDARY, " ").encode("utf-8", "surrogatepass").translate(_WORD_BREAKS)
        words = split.split()
        if words and not split.startswith(b" "):
            words = words[1:]  # may be the tail of a longer word
        if words and not split.endswith(b" "):
            words = words[:-1]  # may go on
        return words


# Opening texts are grouped by the first four characters of their first word: "agent" and
# "agents", "http" and "https" share one head, looked for once.
_FIRST_WORD = re.compile(r"[A-Za-z0-9_]{1,4}|.", re.DOTALL)


def _triggers(rule: str, pattern: str, *, line_start: bool = False) -> list[Trigger]:
    """The triggers of one pattern: its opening texts grouped by how their first word starts,
    each group needing its own words and those of the pattern's later parts."""
    compiled = re.compile(pattern, re.MULTILINE)
    openings, *later_parts = _parts(_parser.parse(pattern).data)
    if any(not opening.literal for opening in openings):
        raise ValueError(f"rule {rule}: a pattern must open with literal text: {pattern!r}")
    later = [need for part in later_parts for need in _needs(part)]
    groups: dict[str, list[_Opening]] = {}
    for opening in openings:
        first = _FIRST_WORD.match(opening.literal)
        assert first is not None  # the literal is not empty
        groups.setdefault(first[0], []).append(opening)
    triggers = []
    for group in groups.values():
        needs = _fewest({*_needs(group), *later})
        triggers.append(Trigger(_common_prefix([o.literal for o in group]), needs, compiled, line_start))
    return triggers


def _common_prefix(texts: list[str]) -> str:
    first, last = min(texts), max(texts)  # what all share, the least and the greatest share
    return first[: next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), len(first))]


def _needs(openings: list[_Opening]) -> list[frozenset[bytes]]:
    """Sets of words a view holds one of, if a match opens with one of ``openings``: the rarest
    whole word of each text, the next rarest of each... as far as every text has one."""
    ranked = [sorted(set(opening.words), key=_commonness) for opening in openings]
    return [frozenset(words[k] for words in ranked) for k in range(min(map(len, ranked)))]


def _commonness(word: bytes) -> tuple[bool, int, bytes]:
    """Orders words from the least likely in a benign view: not a common word, then the longest."""
    return (word in _COMMON_WORDS, -len(word), word)


def _fewest(needs: set[frozenset[bytes]]) -> tuple[frozenset[bytes], ...]:
    """``needs`` without those that hold another (met whenever that one is), in a stable order."""
    return tuple(sorted((need for need in needs if not any(other < need for other in needs)), key=sorted))


def _parts(items: list[tuple[Any, Any]]) -> Iterator[list[_Opening]]:
    """The opening texts of a parsed pattern, then of each part that follows a stretch that no
    text describes (``[^.\\n]{0,40}?``...): every match holds one text of every part."""
    start = 0
    while start < len(items):
        texts, used = _openings(items[start:])
        yield [_Opening(text) for text, _ in texts]
        start += used


def _openings(items: list[tuple[Any, Any]]) -> tuple[list[tuple[str, bool]], int]:
    """``(text, whole)`` pairs: every match of the parsed sequence ``items`` opens with one of the
    texts; ``whole`` when the text is all the sequence matched (so what follows may extend it).
    Then how many of ``items`` the texts account for (at least one)."""
    texts = [("", True)]
    for used, (op, arg) in enumerate(items, 1):
        after = _item_openings(op, arg)
        extended = [(text + more, whole_more) for text, whole in texts if whole for more, whole_more in after]
        if len(extended) > _MAX_OPENINGS:
            return [(text, False) for text, _ in texts], used
        texts = [(text, whole) for text, whole in texts if not whole] + extended
        if not any(whole for _, whole in texts):
            return texts, used
    return texts, len(items)


def _item_openings(op: Any, arg: Any) -> list[tuple[str, bool]]:
    # The few regex items rule patterns open with; anything else ends the opening text there.
    if op is _sre.LITERAL:
        return [(chr(arg), True)]
    if op is _sre.AT:
        return [("", True)] if arg is _sre.AT_NON_BOUNDARY else [(_BOUNDARY, True)]
    if op in (_sre.ASSERT, _sre.ASSERT_NOT):
        return [("", True)]  # zero-width, and says nothing certain about the text
    if op is _sre.SUBPATTERN and not arg[1] and not arg[2]:  # a group without inline flags
        return _openings(arg[3].data)[0]
    if op is _sre.BRANCH:
        return [opening for branch in arg[1] for opening in _openings(branch.data)[0]]
    if op is _sre.IN and len(arg) <= 8 and all(kind is _sre.LITERAL for kind, _ in arg):
        return [(chr(char), True) for _, char in arg]
    if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT):
        low, high, body = arg
        inner = _openings(body.data)[0]
        if high == 1:
            return ([("", True)] if low == 0 else []) + inner
        if low >= 1:
            return [(text, False) for text, _ in inner]
    return [("", False)]


def _opens_line(view: str, at: int) -> bool:
    """Whether ``^\\s*`` (multiline) can end at ``at``: the whitespace right before it holds a
    line break or runs back to the start of the view.

    Read backwards over that whitespace only (in chunks, doubling), so the candidates of one view
    read each character at most once: as a regex, "^\\s*#" read a whole run of whitespace again
    from every newline in it (a text of 40,000 newlines and a "#" took minutes).
    """
    end, size = at, 64
    while end > 0:
        start = max(0, end - size)
        chunk = view[start:end]
        visible = len(chunk.rstrip())
        if chunk.find("\n", visible) >= 0:
            return True
        if visible:
            return False
        end, size = start, size * 2
    return True


def _matches_at_line_start(body: re.Pattern[str], view: str) -> bool:
    # "^\s*" + body, where body starts with a visible character, matches at a line start q iff
    # body matches where the whitespace run from q ends: "\s*" can stop nowhere else. Every line
    # start inside one run of whitespace leads to the same place, so each run is tried once.
    start = _LEADING_SPACE.match(view)
    if start is not None and body.match(view, start.end()):
        return True
    return any(body.match(view, m.end()) for m in _NEWLINE_AND_SPACE.finditer(view))


_LEADING_SPACE = re.compile(r"\s*")
_NEWLINE_AND_SPACE = re.compile(r"\n\s*")
# Occurrences of a head tried one by one before the rest of the view is left to the regex engine.
_PATIENCE = 64


# A line-start body must begin with a character that is not whitespace: "#", an optional "["
# before a group of words, or a group of words (that group not optional).
_VISIBLE_START = re.compile(r"#(?![?*]|\{0)|(?:\\\[\?)?\(\?:[a-z](?:[a-z ]|\|(?=[a-z]))*\)(?![?*{])")


@dataclass(frozen=True, slots=True)
class Rule:
    """A named attack pattern. ``pattern`` is the whole rule as one regex (the reference);
    ``matches`` answers the same question as ``pattern.search`` faster, through ``triggers``."""

    name: str
    weight: float
    anchors: tuple[str, ...]
    pattern: re.Pattern[str]
    triggers: tuple[Trigger, ...]

    def matches(self, view: str, words: frozenset[bytes] | None = None) -> bool:
        """Whether ``pattern`` matches anywhere in ``view`` (``words``: its ``view_words``, if known)."""
        if words is None:
            words = view_words(view)
        if not any(trigger.fires(view, words) for trigger in self.triggers):
            return False
        # The anchors were a prefilter (every match holds one); still asked, after, so the answer
        # stays the reference's whatever a future pattern holds.
        return any(a in view for a in self.anchors)


def _rule(name: str, anchors: str | tuple[str, ...], weight: float, *patterns: str) -> Rule:
    # "^\s*" + body matches at a line start iff body matches where the whitespace after that
    # line start ends (see _opens_line); so the body must open with a visible character. A rule's
    # bodies are searched as one alternation: a head they share ("system") is looked for once.
    triggers: list[Trigger] = []
    bodies: list[str] = []
    for p in patterns:
        if p.startswith(r"^\s*"):
            if not _VISIBLE_START.match(p[4:]):
                raise ValueError(f"rule {name}: a line-start pattern must go on with a visible character: {p!r}")
            bodies.append(p[4:])
        else:
            triggers += _triggers(name, p)
    if bodies:
        body = "|".join(f"(?:{b})" for b in bodies)
        triggers += _triggers(name, body, line_start=True)
    return Rule(
        name,
        weight,
        # Anchors are "|"-separated, or a tuple when one of them holds a "|".
        anchors if isinstance(anchors, tuple) else tuple(anchors.split("|")),
        re.compile("|".join(f"(?:{p})" for p in patterns), re.MULTILINE),
        tuple(triggers),
    )


RULES: Final[tuple[Rule, ...]] = (
    _rule(
        INSTRUCTION_OVERRIDE,
        "ignor|disregard|forget|overrid|bypass|skip|drop|abandon|discard|instruction|directive|system prompt"
        "|task|from now on|instead|rather|goal|job|purpose|vergiss|oubliez|olvida",
        0.75,
        r"\b(?:ignore|disregard|forget|override|bypass|skip|drop|abandon|discard)\b"
        + _GAP
        + r"\b(?:previous|prior|above|earlier|preceding|former|original|initial|system|your|all|any)\b"
        + _GAP
        + r"\b(?:instructions?|prompts?|rules|directives?|guidelines|guardrails|constraints|commands|programming"
        r"|context|restrictions|policies|safety)\b" + _NOT_TARGET,
        r"\b(?:new|updated|revised|real|true|actual) (?:instructions?|directives?|system prompt|task)\s*(?::"
        r"|are\b|is\b)",
        r"\bfrom now on,? (?:you|your|the assistant|ignore|respond|answer|only)\b",
        r"\b(?:instead|rather),? (?:you (?:must|will|should)|do the following|your (?:new )?task is)\b",
        r"\byour (?:new|only|real) (?:task|goal|job|purpose|instructions?) (?:is|are|will be)\b",
        r"\b(?:ignoriere|ignorieren sie|vergiss|ignora|ignorez|oubliez|olvida|ignorar)\b"
        + _GAP
        + r"\b(?:anweisungen|instruktionen|istruzioni|instructions|instrucciones|regeln|règles|reglas)\b",
    ),
    _rule(
        ROLEPLAY_JAILBREAK,
        "anything now| mode|as dan|are dan|dan,|jailbr|restrict|filter|limit|rules|ethic|amoral|unethical"
        "|guideline|constraint|openai|in character",
        0.7,
        r"\bdo anything now\b",
        r"\b(?:dan|stan|dude|aim|anti-dan) mode\b",
        r"\bas dan\b",
        r"\byou are dan\b",
        r"\bdan,? (?:which stands|you)\b",
        r"\b(?:developer|god|jailbreak|unrestricted|unfiltered|evil|chaos|sudo|debug) mode\b",
        r"\bjailbr(?:eak|oken)\b",
        r"\b(?:you are|you're|act as|pretend to be|pretend you are|roleplay as|behave like|become)"
        + _GAP
        + r"\b(?:unrestricted|unfiltered|uncensored|without (?:any )?(?:restrictions|filters|limits|rules|ethics)"
        r"|no (?:restrictions|filters|limits|rules|ethics|guidelines)|amoral|unethical)\b",
        r"\b(?:free|freed|liberated) from (?:all |any |the |your )?(?:restrictions|rules|constraints"
        r"|guidelines|openai)",
        r"\bstay in character\b",
        r"\b(?:no|without) (?:any )?(?:ethical|moral|content) (?:restrictions|guidelines|filters|limits|constraints)\b",
    ),
    _rule(
        SYSTEM_PROMPT_EXFILTRATION,
        "prompt|system message|instructions|rules|configuration|above|before|told|instructed",
        0.65,
        r"\b(?:reveal|show|print|repeat|output|display|leak|dump|disclose|recite|tell me|share|write out|give me"
        r"|what (?:is|are|were))"
        + _GAP
        + r"\b(?:system prompt|system message|initial (?:prompt|instructions)|original (?:prompt|instructions)"
        r"|hidden (?:prompt|instructions)|(?:your|the) (?:instructions|prompt|rules) (?:above|you were given)"
        r"|your (?:system|initial|secret|internal) (?:prompt|instructions|rules|configuration)"
        r"|(?:the )?(?:text|words|everything) above)\b" + _NOT_TARGET,
        r"\b(?:repeat|print|output) (?:the )?(?:words|text|everything) (?:above|before)\b",
        r"\bwhat (?:were you|have you been) (?:told|instructed)\b",
    ),
    _rule(
        TOOL_HIJACK,
        "tool|function|<invoke|to=functions|delete|remove|wipe|erase|drop|forward|send|email|upload|post"
        "|transfer|exfiltrate",
        0.55,
        r"\b(?:call|invoke|use|run|execute|trigger)\b (?:the )?[`'\"]?[a-z_]{3,40}[`'\"]? (?:tool|function)\b"
        + _GAP
        + r"\b(?:with|to|and|now|immediately)\b",
        r"<(?:tool_call|function_call|function_calls|invoke|tool_use)\b",
        r"\bassistant to=functions\.",
        r"\b(?:forward|send|email|upload|post|transfer|exfiltrate)\b[^.\n]{0,60}?\b(?:all|every|the full|the entire|"
        r"the complete|any)\b[^.\n]{0,40}?\b(?:emails?|messages|contacts|customer|files|documents|passwords?|"
        r"credentials|api keys?|tokens?|secrets|history|data|records)\b[^.\n]{0,60}?(?:\bto\b|@|https?://)",
        r"\b(?:delete|remove|wipe|erase|drop)\b (?:all|every|the entire)\b[^.\n]{0,40}?\b(?:files|repositor|database"
        r"|emails|records|tables|backups)",
    ),
    _rule(
        EXFILTRATION_LINK,
        "](|url|link|image|query|http",
        0.6,
        r"!\[[^\]\n]{0,200}\]\(\s*https?://[^)\s]{1,300}\?[^)\s]{0,300}=",
        r"\b(?:append|add|include|encode|put)\b[^.\n]{0,80}?\b(?:to|in|into)\b (?:the |this |a )?(?:url|link"
        r"|image|query)",
        r"https?://[^\s)\"']{1,200}[?&][a-z_]{1,20}=(?:\[|\{|<)[a-z_ ]{1,40}(?:\]|\}|>)",
        r"\b(?:render|display|show|include)\b (?:this|the following|an?) (?:markdown )?image\b",
    ),
    _rule(
        FAKE_TURN,
        (
            "<|",
            "<<",
            "</",
            "[inst]",
            "[/inst]",
            "#",
            "system",
            "end of",
            "ends here",
            "is over here",
            "admin",
            "developer",
        ),
        0.6,
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id)\|>",
        r"\[/?inst\]",
        r"<</?sys>>",
        r"^\s*#{1,4}\s*(?:system|assistant|instructions?|new instructions)\s*:?[ \t]*(?:\n\s*)?" + _TURN_BODY,
        r"^\s*#{2,4}\s*(?:system|assistant)\s*:",
        r"^\s*\[?(?:system|system message|system prompt)\]?\s*:\s*(?:you\b|ignore|disregard|forget"
        r"|new (?:task|instructions?)"
        r"|from now on|override|respond|reply|do not|always|never|the (?:assistant|ai|user)\b)",
        r"</(?:system|user|document|untrusted|context|data|tool_output|input|instructions)>\s*\n?\s*(?:<|\w+\s*:)",
        r"\bend of (?:document|context|user input|untrusted|data)\b",
        r"\b(?:document|context) (?:ends|is over) here\b",
        r"^\s*(?:system|admin|developer)\s+override\s*:",
        r"^\s*(?:system|admin|developer)\s+(?:update|note|message)\s*:\s*" + _TURN_BODY,
    ),
    _rule(
        ADDRESSED_TO_AI,
        "ai|a.i.|llm|model|bot|assistant|agent|gpt|claude|copilot|the user|developer|system|admin|openai|anthropic",
        0.55,
        r"\b(?:if you are|if you're|attention|note to|note for|message (?:to|for)|instructions? (?:to|for)"
        r"|p\.s\.,? (?:to|for)|dear|hey) (?:an? |the |any |all |every )?"
        r"(?:ai|a\.i\.|llm|large language model|language model|chatbot|bot|ai assistant|assistant|agent|gpt|claude"
        r"|copilot)"
        r"(?:s)?\b(?! (?:manager|director|editor|coach|professor|teacher))"  # a job title, not an AI
        r"[^.\n]{0,60}?(?:\b(?:reading|processing|summari[sz]ing|parsing|analy[sz]ing|that|who|you must|please"
        r"|when you)\b|:\s*(?:please\s+)?(?:accept|approve|send|forward|delete|ignore|include|add|append|reply"
        r"|transfer|grant|share|output|print|reveal|call|use|run|execute|email|post|upload|remove)\b)",
        r"\b(?:ai|llm|assistant|agent)s? (?:reading|processing|summari[sz]ing) this\b",
        r"\b(?:do not|don't|never) (?:tell|inform|mention (?:this )?to|alert|notify) the user\b",
        r"\bwithout (?:telling|informing|notifying|alerting) the user\b",
        r"\b(?:note|message|instruction|notice) from (?:the )?(?:developer|system|admin|administrator|openai"
        r"|anthropic)s?\b",
    ),
)

# Weights of the normaliser's signals. A decoded payload is scored on its content; its
# mere presence is weak evidence (mail attachments and tokens are base64 too).
SIGNAL_WEIGHTS: Final[dict[str, float]] = {
    "hidden_markup": 0.3,
    "homoglyphs": 0.3,
    "unicode_tag_smuggling": 0.6,
    "bidi_control": 0.15,
    "invisible_characters": 0.15,
    "nested_encoding": 0.5,
    "input_truncated": 0.5,
    "invalid_unicode": 0.1,
    "encoded_payload:base64": 0.1,
    "encoded_payload:hex": 0.1,
    "encoded_payload:url": 0.05,
    "encoded_payload:rot13": 0.5,
    "leetspeak": 0.3,
}


class _TriggerIndex:
    """Every rule's triggers, filed under a word they need: a view tries only the triggers filed
    under its words (found by one set intersection) and the few that need no word."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._filed: dict[bytes, list[tuple[int, int, Trigger]]] = {}
        self._unfiled: list[tuple[int, int, Trigger]] = []
        number = 0
        for index, rule in enumerate(rules):
            for trigger in rule.triggers:
                entry = (index, number, trigger)
                number += 1
                words = _filing_words(trigger.needs)
                for word in words:
                    self._filed.setdefault(word, []).append(entry)
                if not words:
                    self._unfiled.append(entry)
        self._keys = frozenset(self._filed)

    def firing(self, view: str, words: frozenset[bytes], rules: Container[int]) -> set[int]:
        """Which of ``rules`` (indices) have a trigger that fires in ``view``, whose words are ``words``."""
        fired: set[int] = set()
        tried: set[int] = set()  # a trigger filed under several words is tried once
        for key in words & self._keys:
            for index, number, trigger in self._filed[key]:
                if index in rules and index not in fired and number not in tried:
                    tried.add(number)
                    if trigger.fires(view, words):
                        fired.add(index)
        for index, _, trigger in self._unfiled:
            if index in rules and index not in fired and trigger.fires(view, words):
                fired.add(index)
        return fired


def _filing_words(needs: tuple[frozenset[bytes], ...]) -> frozenset[bytes]:
    """Words to file a trigger under, one of which every view it can fire in holds: the need
    with the fewest and least common words. Empty for a trigger that needs no word."""
    return min(needs, key=lambda need: (len(need & _COMMON_WORDS), len(need), sorted(need)), default=frozenset())


_INDEX: Final = _TriggerIndex(RULES)


def match_rules(view: str, skip: Container[str] = ()) -> list[str]:
    """Names of the rules that match one view of a text, in rule order (``skip``: already known)."""
    open_rules = {index for index, rule in enumerate(RULES) if rule.name not in skip}
    if not open_rules:
        return []
    fired = _INDEX.firing(view, view_words(view), open_rules)
    # Every match holds one of its rule's anchors; checked after, for the rare rule that fired,
    # it keeps the answer of the reference (anchors, then the whole-rule regex) by construction.
    return [RULES[i].name for i in sorted(fired) if any(a in view for a in RULES[i].anchors)]


def scan(norm: Normalised) -> tuple[str, ...]:
    """All signals for a normalised text: rules over every view, then the normaliser's own.

    A rule that matches only the rot13 or leetspeak view is reported with that
    obfuscation as a further signal, so ``encoded_payload:rot13`` means "rot13 hid an attack".
    """
    signals: dict[str, None] = {}
    plain = match_rules(norm.text)
    signals.update(dict.fromkeys(plain))
    for view in norm.decoded:
        signals.update(dict.fromkeys(match_rules(view)))
    extra = match_rules(_leet_lines(norm.text, norm.deleet), signals) if _MIXED_LEET.search(norm.text) else []
    if extra:
        signals.update(dict.fromkeys(extra))
        signals["leetspeak"] = None
    rot = match_rules(norm.rot13, signals)
    if rot:
        signals.update(dict.fromkeys(rot))
        signals["encoded_payload:rot13"] = None
    signals.update(dict.fromkeys(norm.signals))
    return tuple(signals)


def _leet_lines(text: str, deleet: str) -> str:
    """The leetspeak view cut down to the lines (and their neighbours) that hold mixed leet.

    An e-mail address or "Q3" puts a digit next to a letter in most real texts, so the whole
    view used to be scanned a second time. Only a line with a letter next to a leet symbol can
    spell a rule's word in leet. Both views have the same length (one-to-one translation), so
    positions carry over; separate runs of lines are joined by a line that stops every rule.
    """
    spans: list[tuple[int, int]] = []
    pos, n = 0, len(text)
    covered = 0  # characters in spans; past half the text, the whole view is read
    while pos < n and covered <= n // 2:
        m = _MIXED_LEET.search(text, pos)
        if m is None:
            break
        start = text.rfind("\n", 0, m.start())
        start = text.rfind("\n", 0, start) + 1 if start > 0 else 0  # one line before
        end = text.find("\n", m.end())
        end = n if end < 0 else text.find("\n", end + 1)  # one line after
        end = n if end < 0 else end
        if spans and start <= spans[-1][1]:
            covered += end - spans[-1][1]
            spans[-1] = (spans[-1][0], end)
        else:
            covered += end - start
            spans.append((start, end))
        pos = end + 1
    if covered > n // 2:
        return deleet
    return "\n.\n".join(deleet[a:b] for a, b in spans)


def rule_score(signals: Iterable[str]) -> float:
    """Noisy-OR of the weights of ``signals``; unknown names weigh nothing."""
    keep = 1.0
    for name in signals:
        keep *= 1.0 - _WEIGHTS.get(name, 0.0)
    return 1.0 - keep


_WEIGHTS: Final[dict[str, float]] = {rule.name: rule.weight for rule in RULES} | SIGNAL_WEIGHTS
