"""Scored signature rules: the attacks whose wording is known, named so a reviewer sees why.

Each rule is a few bounded regular expressions over the normalised, casefolded text
and a weight: the probability-like evidence one match carries. Matches combine as a
noisy-OR, ``1 - prod(1 - weight)``, so two weak signals add up and no sum passes 1.

Weights were set by hand against the benign tool outputs in the training set: a rule
that fires on an email asking its reader to "ignore the previous message" is too broad.
Obfuscation signals from the normaliser (``homoglyphs``, ``hidden_markup``...) carry
small weights: hiding text is suspicious, but the content decides.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from dataclasses import dataclass
from typing import Final

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
# A letter next to a leetspeak digit or symbol ("1gn0re"): only then is the leet view read.
_MIXED_LEET = re.compile(r"[a-z][013457@$|]|[013457@$|][a-z]")


# How line-start patterns ("^\s*" + body) are searched: see _matches_at_line_start.
_LEADING_SPACE = re.compile(r"\s*")
_NEWLINE_AND_SPACE = re.compile(r"\n\s*")
# A line-start body must begin with a character that is not whitespace: "#", an optional "["
# before a group of words, or a group of words (that group not optional).
_VISIBLE_START = re.compile(r"#(?![?*]|\{0)|(?:\\\[\?)?\(\?:[a-z](?:[a-z ]|\|(?=[a-z]))*\)(?![?*{])")


@dataclass(frozen=True, slots=True)
class Rule:
    """A named attack pattern. ``pattern`` is the whole rule as one regex (the reference);
    ``matches`` answers the same question as ``pattern.search`` faster (see ``_rule``)."""

    name: str
    weight: float
    anchors: tuple[str, ...]
    pattern: re.Pattern[str]
    word_patterns: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...]
    plain_patterns: tuple[re.Pattern[str], ...]
    line_bodies: re.Pattern[str] | None

    def matches(self, view: str) -> bool:
        """Whether ``pattern`` matches anywhere in ``view``."""
        if not any(a in view for a in self.anchors):
            return False
        if any(_matches_at_word_start(fast, exact, view) for fast, exact in self.word_patterns):
            return True
        if any(p.search(view) for p in self.plain_patterns):
            return True
        return self.line_bodies is not None and _matches_at_line_start(self.line_bodies, view)


def _rule(name: str, anchors: str | tuple[str, ...], weight: float, *patterns: str) -> Rule:
    # The anchors are literals one of which every match contains: ``in`` finds them at memory
    # speed, so the regexes run only on texts that have one. Then each pattern is searched
    # on its own, in the form the regex engine scans fastest (measured on 10 KB of prose:
    # ~30 ns a character for a pattern that starts with "\b" or "^", whatever follows, against
    # ~1 ns for one that starts with a literal and ~10 ns with a few possible first letters).
    # One alternation of them all cost the sum of its parts: the engine tries every branch at
    # every position.
    word: list[tuple[re.Pattern[str], re.Pattern[str]]] = []
    plain: list[re.Pattern[str]] = []
    bodies: list[str] = []
    for p in patterns:
        if p.startswith(r"\b"):
            word.append((re.compile(p[2:], re.MULTILINE), re.compile(p, re.MULTILINE)))
        elif p.startswith(r"^\s*"):
            if not _VISIBLE_START.match(p[4:]):
                raise ValueError(f"rule {name}: a line-start pattern must go on with a visible character: {p!r}")
            bodies.append(p[4:])
        else:
            plain.append(re.compile(p, re.MULTILINE))
    line_bodies = re.compile("|".join(f"(?:{b})" for b in bodies), re.MULTILINE) if bodies else None
    return Rule(
        name,
        weight,
        # Anchors are "|"-separated, or a tuple when one of them holds a "|".
        anchors if isinstance(anchors, tuple) else tuple(anchors.split("|")),
        re.compile("|".join(f"(?:{p})" for p in patterns), re.MULTILINE),
        tuple(word),
        tuple(plain),
        line_bodies,
    )


def _matches_at_word_start(fast: re.Pattern[str], exact: re.Pattern[str], view: str) -> bool:
    # ``fast`` is ``exact`` without its leading "\b", so it matches wherever ``exact`` does (and
    # a few places more: "use" inside "because"); the engine finds its candidates by their first
    # letters. Each candidate is confirmed with ``exact`` at that position, in the whole view
    # (so "\b" still sees the character before it).
    pos = 0
    while (m := fast.search(view, pos)) is not None:
        if exact.match(view, m.start()):
            return True
        pos = m.start() + 1
    return False


def _matches_at_line_start(bodies: re.Pattern[str], view: str) -> bool:
    # "^\s*" + body, where body starts with a visible character, matches at a line start q iff
    # body matches where the whitespace run from q ends: "\s*" can stop nowhere else. Every line
    # start inside one run of whitespace leads to the same place, so each run is tried once.
    # Searched as a regex, "^\s*#" read the whole run again from every newline in it: a text of
    # 40,000 newlines and a "#" took minutes.
    start = _LEADING_SPACE.match(view)
    if start is not None and bodies.match(view, start.end()):
        return True
    return any(bodies.match(view, m.end()) for m in _NEWLINE_AND_SPACE.finditer(view))


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
        "ai|a.i.|llm|model|chatbot|assistant|agent|gpt|claude|copilot|the user|developer|system|admin|openai|anthropic",
        0.55,
        r"\b(?:if you are|if you're|attention|note to|message (?:to|for)|dear|hey) (?:an? |the |any )?"
        r"(?:ai|a\.i\.|llm|large language model|language model|chatbot|ai assistant|assistant|agent|gpt|claude|copilot)"
        r"(?:s)?\b(?! (?:manager|director|editor|coach|professor|teacher))"  # a job title, not an AI
        r"[^.\n]{0,60}?\b(?:reading|processing|summari[sz]ing|parsing|analy[sz]ing|that|who|you must|please)\b",
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


def match_rules(view: str, skip: Container[str] = ()) -> list[str]:
    """Names of the rules that match one view of a text, in rule order (``skip``: already known)."""
    return [rule.name for rule in RULES if rule.name not in skip and rule.matches(view)]


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
    while pos < n:
        m = _MIXED_LEET.search(text, pos)
        if m is None:
            break
        start = text.rfind("\n", 0, m.start())
        start = text.rfind("\n", 0, start) + 1 if start > 0 else 0  # one line before
        end = text.find("\n", m.end())
        end = n if end < 0 else text.find("\n", end + 1)  # one line after
        end = n if end < 0 else end
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
        pos = end + 1
    if sum(b - a for a, b in spans) > n // 2:
        return deleet
    return "\n.\n".join(deleet[a:b] for a, b in spans)


def rule_score(signals: Iterable[str]) -> float:
    """Noisy-OR of the weights of ``signals``; unknown names weigh nothing."""
    keep = 1.0
    for name in signals:
        keep *= 1.0 - _WEIGHTS.get(name, 0.0)
    return 1.0 - keep


_WEIGHTS: Final[dict[str, float]] = {rule.name: rule.weight for rule in RULES} | SIGNAL_WEIGHTS
