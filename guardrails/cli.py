"""``railguard``: check a call, test and explain policies, replay and audit a ledger, work the escalation
queue, run the demo, the sidecar (``serve``) and the MCP proxy (``mcp-proxy``).

Exit codes: 0 success (or ``allow``), 1 a denial, failed test or changed decision,
2 bad usage, bad input or a configuration / policy error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guardrails import codes
from guardrails.canonical import parse_json
from guardrails.coverage import Coverage
from guardrails.engines import ENGINES, PolicySet, create_engine, installed, test_engine
from guardrails.engines.base import config_data
from guardrails.errors import InputError, RailguardError
from guardrails.escalation.model import TicketState
from guardrails.model import Decision, ToolCall, Verdict

if TYPE_CHECKING:
    from guardrails.escalation import EscalationQueue

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def bundled(name: str) -> Path:
    """A file shipped with Railguard: the repo checkout, or the copy inside an installed wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / name, here / "_bundled" / name):
        if candidate.exists():
            return candidate
    return here.parent / name


def default_config() -> Path:
    return bundled("examples/payments") / "railguard.toml"


def main(argv: Sequence[str] | None = None) -> int:
    return run(_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run a parsed command: a Railguard error is one line on stderr and exit 2, never a traceback."""
    try:
        result: int = args.run(args)
        return result
    except RailguardError as exc:
        print(f"railguard: error [{exc.code}]: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # pragma: no cover - e.g. piped into head
        return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="railguard", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="decide one tool call from JSON and print the decision")
    check.add_argument("call", help="JSON file with {tool, args, session_id?, agent?} or - for stdin")
    check.add_argument("--config", default=None, help="railguard.toml (default: the bundled payments example)")
    check.add_argument(
        "--ledger", default=None, help="SQLite ledger path (default: the config's; ./railguard.db without --config)"
    )
    check.add_argument("--engine", choices=ENGINES, default=None)
    check.add_argument("--json", action="store_true", help="print only the Decision JSON")
    check.set_defaults(run=_check)

    screen = sub.add_parser("screen", help="screen text for PII and prompt injection; one Decision JSON per text")
    screen.add_argument("source", nargs="?", default="-", help="a text file, or - for stdin (default)")
    screen.add_argument("--channel", choices=("user", "tool_output", "tool_args", "output"), default="user")
    screen.add_argument(
        "--jsonl", action="store_true", help='input is JSON lines {"text": ..., "channel"?: ...}; one Decision per line'
    )
    screen.add_argument(
        "--config", default=None, help="railguard.toml whose [screening] to use (default: PII + injection)"
    )
    screen.set_defaults(run=_screen)

    policy = sub.add_parser("policy", help="test, check and explain Rego policies").add_subparsers(
        dest="policy_command", required=True
    )
    test = policy.add_parser("test", help="run *_test.rego and decision cases; non-zero exit on failure")
    test.add_argument("dir", nargs="?", default=str(bundled("policies")))
    test.add_argument(
        "--engine",
        choices=(*ENGINES, "all"),
        default="all",
        help="engines for the decision cases (default: every installed engine = parity)",
    )
    test.add_argument("-v", "--verbose", action="store_true", help="print passing tests too")
    test.add_argument("--coverage", action="store_true", help="report which rules the cases fired, and which never")
    test.set_defaults(run=_policy_test)

    pcheck = policy.add_parser("check", help="compile policies; report errors as file:line")
    pcheck.add_argument("dir", nargs="?", default=str(bundled("policies")))
    pcheck.add_argument("--engine", choices=(*ENGINES, "all"), default="all")
    pcheck.set_defaults(run=_policy_check)

    explain = policy.add_parser("explain", help="show which rules fired for an input document")
    explain.add_argument("dir", nargs="?", default=str(bundled("policies")))
    explain.add_argument(
        "--input",
        required=True,
        help="JSON input document (the Rego input; a top-level 'config' becomes data.railguard.config), or - for stdin",
    )
    explain.add_argument("--engine", choices=ENGINES, default="auto")
    explain.set_defaults(run=_policy_explain)

    replay = sub.add_parser("replay", help="re-decide a recorded ledger with candidate policies; report changes")
    replay.add_argument("ledger", help="SQLite ledger file")
    replay.add_argument("--policies", default=str(bundled("policies")), help="candidate policy directory")
    replay.add_argument("--engine", choices=ENGINES, default="auto")
    replay.add_argument("--fail-on-change", action="store_true", help="exit 1 when any decision changes")
    replay.add_argument("--coverage", action="store_true", help="report which rules fired how often, and which never")
    replay.set_defaults(run=_replay)

    queue = sub.add_parser("queue", help="the human escalation queue: list, show, approve, deny, expire tickets")
    queue.add_argument("--config", default=None, help="railguard.toml (default: the bundled payments example)")
    queue.add_argument("--ledger", default=None, help="ledger path (default: the config's; ./railguard.db)")
    qsub = queue.add_subparsers(dest="queue_command", required=True)
    qlist = qsub.add_parser("list", help="tickets, unresolved first, oldest first")
    qlist.add_argument("--state", action="append", choices=[s.value for s in TicketState], default=[])
    qlist.add_argument("--limit", type=int, default=100)
    qlist.add_argument("--json", action="store_true", help="one ticket JSON per line")
    qlist.set_defaults(run=_queue_list)
    qshow = qsub.add_parser("show", help="one ticket: the call, why it stopped, approvals, its trail")
    qshow.add_argument("ticket")
    qshow.add_argument("--json", action="store_true")
    qshow.set_defaults(run=_queue_show)
    for name, helptext in (("claim", "say you are looking at it"), ("approve", "approve (one of N approvals)")):
        action = qsub.add_parser(name, help=helptext)
        action.add_argument("ticket")
        action.add_argument("--as", dest="who", required=True, metavar="REVIEWER", help="your reviewer name")
        action.add_argument("--note", default=None)
        if name == "approve":
            action.add_argument("--args-hash", default=None, help="refuse unless the ticket is for these arguments")
        action.set_defaults(run=_queue_act, action=name)
    qdeny = qsub.add_parser("deny", help="deny; the note says why")
    qdeny.add_argument("ticket")
    qdeny.add_argument("--as", dest="who", required=True, metavar="REVIEWER")
    qdeny.add_argument("--note", required=True)
    qdeny.set_defaults(run=_queue_act, action="deny")
    qexpire = qsub.add_parser("expire", help="run the deadline sweep now: overdue tickets resolve to their default")
    qexpire.set_defaults(run=_queue_expire)

    audit = sub.add_parser(
        "audit", help="who did what, on whose authority, and why: recorded decisions filtered, or usage per agent"
    )
    audit.add_argument("--config", default=None, help="railguard.toml (default: the bundled payments example)")
    audit.add_argument("--ledger", default=None, help="ledger path or postgresql:// DSN (default: ./railguard.db)")
    audit.add_argument("--tool")
    audit.add_argument("--agent")
    audit.add_argument("--verdict", choices=[v.value for v in Verdict])
    audit.add_argument("--code", help="decisions that gave this reason code")
    audit.add_argument("--session")
    audit.add_argument("--checkpoint", choices=["screen_input", "authorize", "check_result", "check_output"])
    audit.add_argument("--since", help="ISO 8601, 24h / 7d, today, yesterday or a weekday (e.g. tuesday)")
    audit.add_argument("--until")
    audit.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    audit.set_defaults(run=_audit)
    asub = audit.add_subparsers(dest="audit_command")
    spend = asub.add_parser("usage", help="tokens and spend reported, per agent or session")
    spend.add_argument("--by", choices=["agent", "session"], default="agent")
    spend.add_argument("--since")
    spend.add_argument("--json", action="store_true")
    spend.set_defaults(run=_audit_usage)
    from guardrails.ledger.verify import add_audit_verify  # audit verify, audit anchor

    add_audit_verify(asub)

    demo = sub.add_parser("demo", help="the payment workflow end to end: deny, fraud check, allow, escalate")
    demo.add_argument("--engine", choices=ENGINES, default="auto")
    demo.add_argument("--ledger", default=None, help="keep the demo ledger at this path (default: a temp file)")
    demo.set_defaults(run=_demo)

    from guardrails.service.cli import add_parsers  # serve, keys (fastapi is imported only when they run)

    add_parsers(sub)

    from adapters.mcp_proxy import add_parser as add_mcp_proxy_parser  # mcp is imported only when it runs

    add_mcp_proxy_parser(sub)
    return parser


def _read_json(source: str) -> Any:
    data = sys.stdin.buffer.read() if source == "-" else _read_file(source)
    return parse_json(data)


def _read_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", code="file_unreadable") from None


# -- check -------------------------------------------------------------------------------------
def _check(args: argparse.Namespace) -> int:
    from guardrails.factory import guard_from_config

    doc = _read_json(args.call)
    call = _call_from(doc)
    ledger = args.ledger
    if args.config is None and ledger is None:
        ledger = Path.cwd() / "railguard.db"  # never beside the bundled example (it may sit in site-packages)
    guard = guard_from_config(args.config or default_config(), ledger_path=ledger, engine=args.engine)
    decision = guard.authorize(call)
    print(decision.model_dump_json(indent=2) if args.json else render(decision))
    return EXIT_OK if decision.verdict is Verdict.ALLOW else EXIT_FAIL


def _call_from(doc: Any) -> ToolCall:
    if not isinstance(doc, dict):
        raise InputError("a call must be a JSON object {tool, args, session_id?, agent?}", code=codes.MALFORMED_JSON)
    try:
        return ToolCall.model_validate({"session_id": "cli", **doc})
    except ValueError as exc:
        raise InputError(f"not a tool call: {exc}".replace("\n", " "), code=codes.MALFORMED_JSON) from None


def render(decision: Decision) -> str:
    lines = [
        f"{decision.verdict.value.upper():8} {decision.checkpoint.value} (stage {decision.stage}, "
        f"{decision.latency_ms.get('total', 0):.3f} ms, policy {decision.policy_revision or '-'})"
    ]
    lines += [f"  - {r.code}: {r.message}  [{r.source}]" for r in decision.reasons]
    lines += [f"  * {f.kind} {f.path}: {f.detail}" for f in decision.findings[:5]]
    if decision.ticket:
        lines.append(f"  ticket {decision.ticket}")
    return "\n".join(lines)


# -- screen ------------------------------------------------------------------------------------
def _screen(args: argparse.Namespace) -> int:
    from guardrails.config import load_settings
    from guardrails.factory import screeners_from
    from guardrails.stages.run import screen_only

    if args.config is not None:
        screeners = screeners_from(load_settings(args.config))
    else:
        from guardrails.screening import InjectionScreener, PiiScreener

        screeners = [PiiScreener(), InjectionScreener()]
    raw = sys.stdin.buffer.read() if args.source == "-" else _read_file(args.source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"input is not UTF-8: {exc.reason} at byte {exc.start}", code=codes.INVALID_ENCODING) from None
    if not args.jsonl:
        decision = screen_only(screeners, text, args.channel)
        print(decision.model_dump_json())
        return EXIT_OK if decision.verdict is Verdict.ALLOW else EXIT_FAIL
    worst = EXIT_OK
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = parse_json(line)
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise InputError('each line must be {"text": "...", "channel"?: "..."}', code=codes.MALFORMED_JSON)
            channel = item.get("channel", args.channel)
            if channel not in ("user", "tool_output", "tool_args", "output"):
                raise InputError(f"unknown channel {channel!r}", code=codes.MALFORMED_JSON)
        except InputError as exc:  # one bad line is reported on its own and does not stop the rest
            print(json.dumps({"line": number, "error": {"code": exc.code, "message": exc.message}}))
            worst = EXIT_USAGE
            continue
        decision = screen_only(screeners, item["text"], channel)
        print(decision.model_dump_json())
        if decision.verdict is not Verdict.ALLOW and worst == EXIT_OK:
            worst = EXIT_FAIL
    return worst


# -- policy ------------------------------------------------------------------------------------
def _engines(choice: str) -> list[str]:
    return installed() if choice == "all" else [choice]


def _policy_test(args: argparse.Namespace) -> int:
    from guardrails.policytest import TestOutcome, case_outcome, load_cases, run_cases, run_rego_tests

    policies = PolicySet.load(args.dir)
    results: list[TestOutcome] = []
    rego_engine = ""
    if policies.tests:
        rego_engine = test_engine()
        results += run_rego_tests(policies, rego_engine)
    cases = load_cases(args.dir)
    per_engine: dict[str, list[tuple[str, Verdict, tuple[str, ...]]]] = {}
    from guardrails.pipeline import TOOL_CALL_PACKAGE

    coverage = Coverage.of(policies, TOOL_CALL_PACKAGE) if args.coverage else None
    for engine in _engines(args.engine):
        outcomes = run_cases(policies, engine, cases, coverage if engine == _engines(args.engine)[0] else None)
        per_engine[engine] = [(c.name, o.verdict, tuple(sorted(r.code for r in o.reasons))) for c, o in outcomes]
        results += [_prefixed(case_outcome(c, o), engine) for c, o in outcomes]
    results += _parity(per_engine)
    failed = [r for r in results if not r.passed]
    for r in results:
        if args.verbose or not r.passed:
            print(f"{'PASS' if r.passed else 'FAIL'}: {r.name}" + (f"\n      {r.detail}" if r.detail else ""))
    print("-" * 60)
    rego_count = sum(1 for r in results if r.name.startswith("data."))
    print(
        f"rego tests: {rego_count}{f' on {rego_engine}' if rego_engine else ''}, decision cases: {len(cases)} "
        f"x engines {', '.join(per_engine)}"
    )
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if coverage is not None:
        print(coverage.render())
    return EXIT_FAIL if failed else EXIT_OK


def _prefixed(outcome: Any, engine: str) -> Any:
    from guardrails.policytest import TestOutcome

    return TestOutcome(f"[{engine}] {outcome.name}", outcome.passed, outcome.detail)


def _parity(per_engine: dict[str, list[tuple[str, Verdict, tuple[str, ...]]]]) -> list[Any]:
    from guardrails.policytest import TestOutcome

    names = list(per_engine)
    if len(names) < 2:
        return []
    first, *others = names
    diffs = [
        TestOutcome(
            f"[parity {first}/{other}] {a[0]}",
            False,
            f"{first}: {a[1].value} {list(a[2])}; {other}: {b[1].value} {list(b[2])}",
        )
        for other in others
        for a, b in zip(per_engine[first], per_engine[other], strict=True)
        if a != b
    ]
    return diffs or [TestOutcome(f"[parity {'/'.join(names)}] {len(per_engine[first])} decisions identical", True)]


def _policy_check(args: argparse.Namespace) -> int:
    policies = PolicySet.load(args.dir)
    for name in _engines(args.engine):
        engine = create_engine(name, pool_size=1)
        if engine.supports_with:
            engine.prepare(policies, with_tests=True)
            tests = f"and {len(policies.tests)} test files "
        else:
            engine.prepare(policies)
            tests = "(test files need opa or regorus) "
        print(f"ok: {len(policies.modules)} policies {tests}compile on {name} (revision {policies.revision})")
    return EXIT_OK


def _policy_explain(args: argparse.Namespace) -> int:
    from guardrails.explain import explain
    from guardrails.policytest import split_config

    policies = PolicySet.load(args.dir)
    document, config = split_config(_read_json(args.input))  # "config" beside the input goes to data
    engine = create_engine(args.engine, pool_size=1)
    engine.prepare(policies, config_data(config))
    print(explain(engine, policies, document))
    return EXIT_OK


# -- replay ------------------------------------------------------------------------------------
def _replay(args: argparse.Namespace) -> int:
    from guardrails.replay import replay

    if not Path(args.ledger).is_file():
        raise InputError(f"no ledger at {args.ledger}", code="file_unreadable")
    from guardrails.pipeline import TOOL_CALL_PACKAGE

    policies = PolicySet.load(args.policies)
    coverage = Coverage.of(policies, TOOL_CALL_PACKAGE) if args.coverage else None
    report = replay(args.ledger, policies, args.engine, coverage)
    print(report.render())
    if coverage is not None:
        print(coverage.render())
    return EXIT_FAIL if (args.fail_on_change and report.changed) else EXIT_OK


# -- queue -------------------------------------------------------------------------------------
@contextmanager
def _queue(args: argparse.Namespace) -> Iterator[EscalationQueue]:
    """The queue over a deployment's ledger (closed after); no policy engine is started for it."""
    from guardrails.config import load_settings
    from guardrails.escalation import EscalationQueue
    from guardrails.factory import escalation_from, ledger_from

    settings = load_settings(args.config or default_config())
    ledger = args.ledger
    if ledger is None and args.config is None:
        ledger = Path.cwd() / "railguard.db"  # never beside the bundled example (it may sit in site-packages)
    queue = EscalationQueue(ledger_from(settings, ledger), escalation_from(settings))
    try:
        yield queue
    finally:
        queue.ledger.close()


def _queue_list(args: argparse.Namespace) -> int:
    with _queue(args) as queue:
        tickets = queue.list(states=args.state, limit=args.limit)
    now = time.time()
    for t in tickets:
        if args.json:
            print(t.model_dump_json())
        else:
            age = _duration(now - t.opened_at)
            due = "overdue" if t.deadline <= now and not t.resolved else f"due in {_duration(t.deadline - now)}"
            print(
                _shown(
                    f"{t.id}  {t.state.value:9} {t.checkpoint:12} {t.tool or '-':18} {','.join(t.codes):32} "
                    f"age {age:>6}  {due if not t.resolved else t.outcome}  {len(t.approvals)}/{t.approvers_needed}"
                )
            )
    if not tickets and not args.json:
        print("no tickets")
    return EXIT_OK


def _queue_show(args: argparse.Namespace) -> int:
    with _queue(args) as queue:
        ticket = queue.get(args.ticket)
    if args.json:
        print(ticket.model_dump_json(indent=2))
        return EXIT_OK
    print(_shown(f"ticket {ticket.id}: {ticket.state.value} ({ticket.checkpoint}, session {ticket.session_id})"))
    print(_shown(f"  agent {ticket.agent.get('id')} {list(ticket.agent.get('roles', []))} wants {ticket.tool or '-'}"))
    print(f"  args {json.dumps(ticket.args, ensure_ascii=True)}  (hash {ticket.binding})")
    if ticket.output is not None:
        print(f"  output {json.dumps(ticket.output, ensure_ascii=True)[:2000]}  confidence {ticket.confidence}")
    for reason in ticket.reasons:
        print(_shown(f"  - {reason.get('code')}: {reason.get('message')}  [{reason.get('source')}]"))
    approvals = [a.by for a in ticket.approvals]
    print(_shown(f"  needs {ticket.approvers_needed} approver(s); has {approvals}; default {ticket.default}"))
    for entry in ticket.trail:
        print(_shown(f"  {_stamp(entry['at'])} {entry['type']} {entry.get('by') or ''} {entry.get('note') or ''}"))
    return EXIT_OK


def _queue_act(args: argparse.Namespace) -> int:
    from guardrails.escalation import reviewer

    who = reviewer(args.who)
    with _queue(args) as queue:
        if args.action == "approve":
            ticket = queue.approve(args.ticket, who, args.note, args_hash=args.args_hash)
        elif args.action == "deny":
            ticket = queue.deny(args.ticket, who, args.note)
        else:
            ticket = queue.claim(args.ticket, who, args.note)
    print(f"ticket {ticket.id}: {ticket.state.value} ({len(ticket.approvals)}/{ticket.approvers_needed} approvals)")
    return EXIT_OK


def _queue_expire(args: argparse.Namespace) -> int:
    with _queue(args) as queue:
        expired = queue.expire()
    print(f"expired {len(expired)} ticket(s)" + "".join(f"\n  {t}" for t in expired))
    return EXIT_OK


def _shown(text: str) -> str:
    """Untrusted text for a terminal: control and bidi characters escaped (no ANSI sequences run)."""
    return "".join(
        ch if ch == "\n" or (ch.isprintable() and not 0x202A <= ord(ch) <= 0x2069) else f"\\u{ord(ch):04x}"
        for ch in text.rstrip()
    )


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- audit -------------------------------------------------------------------------------------
def _audit_ledger(args: argparse.Namespace) -> Any:
    from guardrails.config import load_settings
    from guardrails.factory import ledger_from

    ledger = args.ledger
    if ledger is None and args.config is None:
        ledger = Path.cwd() / "railguard.db"
    if ledger is not None and "://" not in str(ledger) and not Path(ledger).is_file():
        raise InputError(f"no ledger at {ledger}", code="file_unreadable")
    return ledger_from(load_settings(args.config or default_config()), ledger)


def _audit(args: argparse.Namespace) -> int:
    from guardrails.audit import AuditQuery, decisions, parse_when
    from guardrails.audit import render as render_rows

    query = AuditQuery(
        tool=args.tool,
        agent=args.agent,
        verdict=args.verdict,
        code=args.code,
        session=args.session,
        checkpoint=args.checkpoint,
        since=parse_when(args.since) if args.since else None,
        until=parse_when(args.until) if args.until else None,
    )
    ledger = _audit_ledger(args)
    try:
        rows = list(decisions(ledger, query))
    finally:
        ledger.close()
    if args.json:
        for row in rows:
            print(json.dumps(row.as_json(), ensure_ascii=True))
    else:
        print(_shown(render_rows(rows)))
    return EXIT_OK


def _audit_usage(args: argparse.Namespace) -> int:
    from guardrails.audit import parse_when, usage

    ledger = _audit_ledger(args)
    try:
        totals = usage(ledger, by=args.by, since=parse_when(args.since) if args.since else None)
    finally:
        ledger.close()
    if args.json:
        for key, entry in totals.items():
            print(json.dumps({args.by: key, **entry}, ensure_ascii=True))
        return EXIT_OK
    print(f"{args.by:32} {'tokens':>12} {'cost':>12} {'reports':>8}")
    for key, entry in totals.items():
        print(_shown(f"{key[:32]:32} {entry['tokens']:>12,.0f} {entry['cost']:>12,.2f} {entry['reports']:>8,.0f}"))
    return EXIT_OK


# -- demo --------------------------------------------------------------------------------------
def _demo(args: argparse.Namespace) -> int:
    from guardrails.demo import run_demo

    return EXIT_OK if run_demo(engine=args.engine, ledger_path=args.ledger, out=sys.stdout) else EXIT_FAIL


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
