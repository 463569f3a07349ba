"""The ledger's hash chain and anchors: one definition, used by both stores and the verifier.

Every event stores ``prev_hash`` (the ``hash`` of the previous event of its session, or
``GENESIS`` for a session's first) and its own ``hash``: SHA-256 over a canonical encoding of

    b"railguard.ledger.event.v1\\n"
    str(session_id) · i64(seq) · str(type) · f64(at) · opt(call_id) · str(payload) · opt(prev_hash)

where ``str(x)`` is a big-endian u32 byte length and the UTF-8 bytes, ``opt(None)`` is one
``0x00`` byte and ``opt(x)`` is ``0x01`` then ``str(x)``, ``i64``/``f64`` are big-endian (the
IEEE double itself, so no decimal printing is involved), and ``payload`` is the stored JSON text
byte for byte. The global ``seq`` is bound in, so moving an event breaks it too.

An **anchor** seals the global sequence up to ``last_seq``: a hash over the previous anchor's
hash and every event's hash since (in seq order), so an event deleted, added or changed anywhere
before ``last_seq``, a whole session's tail included, no longer matches. It also records each
session's head at that point (``heads``), which is how the verifier names the session whose
tail went missing.

The hashes are unkeyed: they catch edits made beside Railguard (a SQL client, a restore of
an old copy), not someone who rewrites the chain with this very module. Against that, copy
each anchor's hash somewhere the database's writers cannot reach (``railguard audit anchor``
prints it); the tail written after the last anchor is only as safe as the database.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson

# The ``prev_hash`` of a session's first chained event, and of the first anchor.
GENESIS = "0" * 64

_EVENT_TAG = b"railguard.ledger.event.v1\n"
_ANCHOR_TAG = b"railguard.ledger.anchor.v1\n"
_ABSENT = b"\x00"
_PRESENT = b"\x01"


def _text(value: str) -> bytes:
    # surrogatepass: hashing never fails on a string; whether the store takes it is the store's call.
    raw = value.encode("utf-8", "surrogatepass")
    return struct.pack(">I", len(raw)) + raw


def event_hash(
    session_id: str, seq: int, kind: str, at: float, call_id: str | None, payload: str, prev_hash: str | None
) -> str:
    """The hash an event is stored with (see the module docstring for the encoding)."""
    return hashlib.sha256(
        b"".join(
            (
                _EVENT_TAG,
                _text(session_id),
                struct.pack(">qd", seq, float(at)),
                _text(kind),
                _ABSENT if call_id is None else _PRESENT + _text(call_id),
                _text(payload),
                _ABSENT if prev_hash is None else _PRESENT + _text(prev_hash),
            )
        )
    ).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored: the payload's exact text and its place in the chain.

    ``hash`` and ``prev_hash`` are ``None`` for an event written before chaining existed."""

    seq: int
    session_id: str
    type: str
    at: float
    call_id: str | None
    payload: str
    prev_hash: str | None
    hash: str | None

    def computed_hash(self, seq: int | None = None) -> str:
        """The hash of the stored contents (as if written at ``seq``, when given)."""
        return event_hash(
            self.session_id,
            self.seq if seq is None else seq,
            self.type,
            self.at,
            self.call_id,
            self.payload,
            self.prev_hash,
        )

    @property
    def sealed_hash(self) -> str:
        """What an anchor folds in: the stored hash, or the contents' hash for an unchained event."""
        return self.hash if self.hash is not None else self.computed_hash()


@dataclass(frozen=True)
class Anchor:
    """A seal over the global sequence up to ``last_seq`` (the ``number``-th anchor)."""

    number: int
    at: float
    last_seq: int
    events: int
    heads: Mapping[str, tuple[int, str]]
    prev_hash: str
    hash: str


class AnchorFold:
    """Folds the events after one anchor, in seq order, into the next anchor's hash."""

    def __init__(self, prev_hash: str, after_seq: int) -> None:
        self.prev_hash = prev_hash
        self.last_seq = after_seq
        self.events = 0
        self.heads: dict[str, tuple[int, str]] = {}
        self._digest = hashlib.sha256(_ANCHOR_TAG)

    def add(self, event: StoredEvent) -> None:
        sealed = event.sealed_hash
        self._digest.update(struct.pack(">q", event.seq) + _text(sealed))
        self.events += 1
        self.last_seq = event.seq
        self.heads[event.session_id] = (event.seq, sealed)

    def add_all(self, events: Iterable[StoredEvent]) -> AnchorFold:
        for event in events:
            self.add(event)
        return self

    def hash(self, at: float, last_seq: int) -> str:
        """The anchor hash: previous anchor, time, range end, count and the folded events."""
        header = _text(self.prev_hash) + struct.pack(">dqq", float(at), last_seq, self.events)
        return hashlib.sha256(_ANCHOR_TAG + header + self._digest.digest()).hexdigest()

    def seal(self, number: int, at: float) -> Anchor:
        heads = dict(self.heads)
        return Anchor(number, at, self.last_seq, self.events, heads, self.prev_hash, self.hash(at, self.last_seq))


def next_fold(latest: Anchor | None) -> AnchorFold:
    """The fold that continues after ``latest`` (from the start when there is none)."""
    if latest is None:
        return AnchorFold(GENESIS, 0)
    return AnchorFold(latest.hash, latest.last_seq)


def heads_text(heads: Mapping[str, tuple[int, str]]) -> str:
    """``heads`` as stored: JSON ``{"session": [seq, "hash"], ...}`` with sorted keys."""
    return orjson.dumps({sid: [seq, h] for sid, (seq, h) in heads.items()}, option=orjson.OPT_SORT_KEYS).decode()


def parse_heads(text: str) -> dict[str, tuple[int, str]]:
    try:
        found = orjson.loads(text)
        return {str(sid): (int(pair[0]), str(pair[1])) for sid, pair in found.items()}
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError, IndexError, KeyError):
        return {}  # an unreadable heads column: the anchor's hash still decides
