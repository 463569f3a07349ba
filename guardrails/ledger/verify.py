"""``railguard audit verify``: walk every session's hash chain and every anchor; name what broke.

One pass over the events in seq order recomputes each event's hash, checks it links to the
previous event of its session and folds it into the anchor that sealed it. A session that
fails is read again on its own and diagnosed, so a finding says *what* happened and *where*:

============================  ================================================================
``event_altered``             an event's contents no longer match its hash (payload, type, time,
                              call id or seq edited), or it was rewritten with a new hash
``event_deleted``             the chain skips events: deleted from the middle, the start, or
                              (seen by an anchor) the session's tail
``event_inserted``            an event no chain leads to, or one with no hash written after
                              chaining began: added beside Railguard
``events_reordered``          an event's seq was changed (its hash matches another seq)
``anchor_mismatch``           an anchor no longer matches the events it sealed or the anchor before
============================  ================================================================

Events written before chaining existed have no hash: they are counted as *unchained*, not
reported as tampering (an anchor taken since still seals them).

What this cannot see (see guardrails/ledger/chain.py): the tail written after the last anchor,
and a rewrite that recomputed every hash and anchor, unless an anchor hash was kept elsewhere.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from guardrails.errors import InputError
from guardrails.ledger.base import LedgerStore
from guardrails.ledger.chain import GENESIS, Anchor, AnchorFold, StoredEvent

EVENT_ALTERED = "event_altered"
EVENT_DELETED = "event_deleted"
EVENT_INSERTED = "event_inserted"
EVENTS_REORDERED = "events_reordered"
ANCHOR_MISMATCH = "anchor_mismatch"

# A moved event is found by trying the seqs of the session's other broken events; past this
# many, each is reported as altered (the search is quadratic).
_MOVE_SEARCH_LIMIT = 64


@dataclass(frozen=True)
class Finding:
    """One thing that broke: a stable ``code``, where (session, seq) and what, in words."""

    code: str
    session_id: str | None
    seq: int | None
    message: str

    def __str__(self) -> str:
        where = " ".join(
            part
            for part in (
                f"session {self.session_id!r}" if self.session_id is not None else "",
                f"seq {self.seq}" if self.seq is not None else "",
            )
            if part
        )
        return f"{self.code}: {where + ': ' if where else ''}{self.message}"


@dataclass
class VerifyReport:
    """What ``verify`` found. ``ok`` when nothing was tampered with."""

    events: int = 0
    sessions: int = 0
    unchained: int = 0
    unchained_sessions: int = 0
    anchors: int = 0
    anchored_seq: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def render(self) -> str:
        lines = [
            f"{self.events:,} events in {self.sessions:,} sessions; {self.anchors:,} anchors"
            + (f" (sealed up to seq {self.anchored_seq:,})" if self.anchors else "")
        ]
        if self.unchained:
            lines.append(
                f"note: {self.unchained:,} events in {self.unchained_sessions:,} sessions are unchained "
                "(written before chaining)"
            )
        if self.ok:
            lines.append("ok: every chain and anchor verifies")
        else:
            lines.append(f"TAMPERED: {len(self.findings)} finding(s)")
            lines.extend(f"  {finding}" for finding in self.findings)
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def verify(ledger: LedgerStore) -> VerifyReport:
    """Walk every session's chain and every anchor of ``ledger``.

    >>> report = verify(SQLiteLedger("railguard.db"))  # doctest: +SKIP
    >>> report.ok, [str(f) for f in report.findings]  # doctest: +SKIP
    """
    anchors = ledger.anchors()  # read first: every event an anchor sealed is then in the walk
    walk = _Walk(anchors)
    for event in ledger.stored_events():
        walk.add(event)
    walk.finish()
    findings = list(walk.findings)
    broken = {sid: list(ledger.stored_events(sid)) for sid in sorted(walk.broken)}
    # A link to a hash its session does not hold: the event may live on in another session.
    wanted: set[str] = set()
    for events in broken.values():
        own = {e.hash for e in events}
        wanted.update(e.prev_hash for e in events if e.prev_hash not in own and e.prev_hash not in (None, GENESIS))
    elsewhere = {e.hash: e for e in ledger.stored_events() if e.hash in wanted} if wanted else {}
    for events in broken.values():
        findings.extend(diagnose(events, walk.first_chained, walk.gaps, elsewhere))
    altered = {(f.session_id, f.seq) for f in findings if f.code == EVENT_ALTERED}
    # An event moved into another session is on no chain there: altered says more than inserted.
    unique = [f for f in dict.fromkeys(findings) if f.code != EVENT_INSERTED or (f.session_id, f.seq) not in altered]
    unique.sort(key=lambda f: (f.code == ANCHOR_MISMATCH, f.session_id or "", f.seq or 0, f.code))
    return VerifyReport(
        events=walk.events,
        sessions=len(walk.heads),
        unchained=sum(walk.unchained.values()),
        unchained_sessions=len(walk.unchained),
        anchors=len(anchors),
        anchored_seq=anchors[-1].last_seq if anchors else 0,
        findings=unique,
    )


class _Walk:
    """The single pass: per-session links, content hashes and the anchors' folds."""

    def __init__(self, anchors: Sequence[Anchor]) -> None:
        self.anchors = anchors
        self.events = 0
        self.heads: dict[str, tuple[int, str]] = {}  # the last event of each session so far
        self.last_hash: dict[str, str] = {}  # the stored hash of each session's last chained event
        self.unchained: Counter[str] = Counter()
        self.broken: set[str] = set()
        self.first_chained: int | None = None
        self.gaps: list[tuple[int, int]] = []  # (a, b): no event has a seq strictly between them
        self.findings: list[Finding] = []
        self._seq = 0
        self._next = 0
        self._fold = self._open(0)

    def _open(self, index: int) -> AnchorFold | None:
        if index >= len(self.anchors):
            return None
        anchor = self.anchors[index]
        expected = self.anchors[index - 1].hash if index else GENESIS
        after = self.anchors[index - 1].last_seq if index else 0
        if anchor.prev_hash != expected or anchor.last_seq < after:
            self.findings.append(
                Finding(
                    ANCHOR_MISMATCH,
                    None,
                    None,
                    f"anchor #{anchor.number} does not follow anchor #{anchor.number - 1}: "
                    "an anchor was edited or removed",
                )
            )
        return AnchorFold(anchor.prev_hash, after)

    def add(self, event: StoredEvent) -> None:
        while self._fold is not None and event.seq > self.anchors[self._next].last_seq:
            self._close()
        if event.seq > self._seq + 1:
            self.gaps.append((self._seq, event.seq))
        self._seq = event.seq
        self.events += 1
        sid = event.session_id
        if self._fold is not None:
            self._fold.add(event)
        self.heads[sid] = (event.seq, event.sealed_hash)
        if event.hash is None:
            if event.prev_hash is None and self.first_chained is None:
                self.unchained[sid] += 1  # written before chaining
            else:
                self.broken.add(sid)  # no hash, yet written after chaining began
            return
        if self.first_chained is None:
            self.first_chained = event.seq
        if event.computed_hash() != event.hash or event.prev_hash != self.last_hash.get(sid, GENESIS):
            self.broken.add(sid)
        self.last_hash[sid] = event.hash

    def finish(self) -> None:
        while self._fold is not None:
            self._close()

    def _close(self) -> None:
        assert self._fold is not None
        anchor, fold = self.anchors[self._next], self._fold
        for sid, (seq, sealed) in sorted(anchor.heads.items()):
            now = self.heads.get(sid)
            if now == (seq, sealed):
                continue
            if now is None or now[0] < seq:
                ends = "has no events left" if now is None else f"now ends at seq {now[0]}"
                message = f"events up to seq {seq}, sealed by anchor #{anchor.number}, are gone: the session {ends}"
                self.findings.append(Finding(EVENT_DELETED, sid, seq, message))
            elif now[0] == seq:
                message = f"rewritten since anchor #{anchor.number} sealed it (its hash changed)"
                self.findings.append(Finding(EVENT_ALTERED, sid, seq, message))
            else:
                message = f"appeared after anchor #{anchor.number} sealed the session at seq {seq}"
                self.findings.append(Finding(EVENT_INSERTED, sid, now[0], message))
        if fold.hash(anchor.at, anchor.last_seq) != anchor.hash:
            after = self._next and self.anchors[self._next - 1].last_seq
            message = (
                f"anchor #{anchor.number} (seq {after + 1} to {anchor.last_seq}) no longer matches: "
                f"it sealed {anchor.events} events, {fold.events} are there now"
            )
            self.findings.append(Finding(ANCHOR_MISMATCH, None, anchor.last_seq, message))
        self._next += 1
        self._fold = self._open(self._next)


def diagnose(
    events: Sequence[StoredEvent],
    first_chained: int | None,
    gaps: Sequence[tuple[int, int]] = (),
    elsewhere: Mapping[str, StoredEvent] | None = None,
) -> list[Finding]:
    """What happened to one session whose chain broke (its events in seq order).

    ``gaps`` are the global seq ranges holding no event; ``elsewhere`` the events of other
    sessions this one links to (by hash)."""
    found: list[Finding] = []
    chained: list[StoredEvent] = []
    for event in events:
        if event.hash is not None:
            chained.append(event)
        elif event.prev_hash is not None or (first_chained is not None and event.seq > first_chained):
            found.append(
                Finding(
                    EVENT_INSERTED,
                    event.session_id,
                    event.seq,
                    "no hash, yet written after chaining began: added beside Railguard (or its hash removed)",
                )
            )
    bad = [e for e in chained if e.computed_hash() != e.hash]
    moved: dict[int, int] = {}  # seq now -> seq it was written at
    if len(bad) <= _MOVE_SEARCH_LIMIT:
        for event in bad:
            for other in bad:
                if other.seq != event.seq and event.computed_hash(other.seq) == event.hash:
                    moved[event.seq] = other.seq
                    found.append(
                        Finding(
                            EVENTS_REORDERED,
                            event.session_id,
                            event.seq,
                            f"written as seq {other.seq}: events reordered",
                        )
                    )
                    break
    order = sorted(chained, key=lambda e: moved.get(e.seq, e.seq))
    position = {e.hash: i for i, e in enumerate(order)}
    # An event chained to an earlier one than its neighbour: the events between are on no chain.
    inserted: set[int] = set()
    for i in range(1, len(order)):
        j = position.get(order[i].prev_hash)
        if order[i].prev_hash != order[i - 1].hash and j is not None and j < i - 1:
            inserted.update(range(j + 1, i))
    kept = [e for i, e in enumerate(order) if i not in inserted]
    lost: list[StoredEvent] = [order[i] for i in sorted(inserted)]
    expected, before = GENESIS, None
    for index, event in enumerate(kept):
        if event.prev_hash != expected:
            if event.prev_hash == GENESIS:  # a second start: what came before it is on no chain
                lost.extend(kept[:index])
            elif position.get(event.prev_hash or "", -1) > position[event.hash or ""]:
                found.append(
                    Finding(
                        EVENTS_REORDERED,
                        event.session_id,
                        event.seq,
                        "chained after an event that now comes later: events reordered",
                    )
                )
            elif (moved_out := (elsewhere or {}).get(event.prev_hash or "")) is not None:
                found.append(
                    Finding(
                        EVENT_ALTERED,
                        moved_out.session_id,
                        moved_out.seq,
                        f"its session was edited: it precedes seq {event.seq} of session {event.session_id!r}",
                    )
                )
            elif before is None:
                found.append(
                    Finding(EVENT_DELETED, event.session_id, event.seq, "the session's first events are missing")
                )
            elif any(a < event.seq and b > before.seq for a, b in gaps):
                found.append(
                    Finding(
                        EVENT_DELETED,
                        event.session_id,
                        event.seq,
                        f"events between seq {before.seq} and seq {event.seq} are missing (deleted)",
                    )
                )
            else:
                found.append(
                    Finding(
                        EVENT_ALTERED,
                        before.session_id,
                        before.seq,
                        f"rewritten: seq {event.seq} was chained to a different hash",
                    )
                )
        expected, before = event.hash or GENESIS, event
    lost_seqs = {e.seq for e in lost}
    for event in sorted(set(lost), key=lambda e: e.seq):
        found.append(
            Finding(EVENT_INSERTED, event.session_id, event.seq, "on no chain of its session: added beside Railguard")
        )
    for event in bad:
        if event.seq not in moved and event.seq not in lost_seqs:
            found.append(
                Finding(
                    EVENT_ALTERED,
                    event.session_id,
                    event.seq,
                    "contents do not match its hash (payload, type, time, call id or seq edited)",
                )
            )
    return found


# -- command line ------------------------------------------------------------------------------
def add_audit_verify(subparsers: Any) -> None:
    """``railguard audit verify`` and ``railguard audit anchor``, on an ``audit`` subparsers object.

    Both take ``--ledger PATH|DSN`` or ``--config railguard.toml`` (default ``./railguard.db``);
    verify exits 0 when the ledger verifies, 1 when it was tampered with."""
    for name, helptext, run in (
        ("verify", "check the ledger's hash chains and anchors; exit 1 when tampered with", _run_verify),
        ("anchor", "seal the events appended since the last anchor; print the anchor's hash", _run_anchor),
    ):
        parser = subparsers.add_parser(name, help=helptext)
        # SUPPRESS: given before the subcommand (``audit --ledger X verify``), the value stays.
        parser.add_argument("--ledger", default=argparse.SUPPRESS, help="SQLite path or postgresql:// DSN")
        parser.add_argument("--config", default=argparse.SUPPRESS, help="railguard.toml naming the ledger")
        parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON instead of text")
        parser.set_defaults(run=run)


def _run_verify(args: argparse.Namespace) -> int:
    ledger = open_ledger(getattr(args, "ledger", None), getattr(args, "config", None))
    try:
        report = verify(ledger)
    finally:
        ledger.close()
    if getattr(args, "json", False):
        print(orjson.dumps(report.as_json()).decode())
    else:
        print(report.render())
    return 0 if report.ok else 1


def _run_anchor(args: argparse.Namespace) -> int:
    ledger = open_ledger(getattr(args, "ledger", None), getattr(args, "config", None))
    try:
        anchor = ledger.anchor()
    finally:
        ledger.close()
    if anchor is None:
        print("the ledger is empty: nothing to anchor", file=sys.stderr)
        return 0
    if getattr(args, "json", False):
        print(orjson.dumps({**asdict(anchor), "heads": len(anchor.heads)}).decode())
    else:
        print(f"anchor #{anchor.number} seals seq 1 to {anchor.last_seq}: {anchor.hash}")
    return 0


def open_ledger(ledger: str | None, config: str | None) -> LedgerStore:
    """The ledger to audit, without creating one, and without the background anchoring (an
    audit reads; it does not seal what it is checking)."""
    from guardrails.ledger import SQLiteLedger

    target: str | Path
    durability = "normal"
    if ledger is not None:
        target = ledger
    elif config is not None:
        from guardrails.config import load_settings

        settings = load_settings(config)
        durability = settings.railguard.durability
        named = settings.railguard.ledger
        target = named if "://" in named else settings.path(named)
    else:
        target = Path.cwd() / "railguard.db"
    if str(target).startswith(("postgresql://", "postgres://")):
        from guardrails.ledger import PostgresLedger

        return PostgresLedger(str(target))
    if not Path(target).is_file():
        raise InputError(f"no ledger at {target}", code="file_unreadable")
    return SQLiteLedger(target, durability=durability, anchor_interval_s=None)
