"""``railguard serve`` and ``railguard keys``: wired into ``guardrails.cli`` with ``add_parsers``."""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import re
import socket
import sys
from pathlib import Path
from typing import Any

from guardrails.errors import ConfigError

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
#: The embedded OPA engine's Go garbage collector target: measured, GOGC=400 halves its p99 on the
#: bundled policies at an unchanged p50 (see guardrails/engines/opa.py).
GOGC = "400"
_REEXEC_MARK = "RAILGUARD_SERVE_REEXEC"
KEYS_FILE = "railguard-keys.db"
DSN_PREFIXES = ("postgresql://", "postgres://")


def add_parsers(sub: Any) -> None:
    """Add ``serve`` and ``keys`` to ``railguard``'s subcommands (``sub`` from ``add_subparsers``)."""
    serve = sub.add_parser("serve", help="run the sidecar: /v1 HTTP API, reviewer console, /metrics")
    _paths(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (each runs its own Guard)")
    serve.add_argument("--max-body-bytes", type=int, default=1024 * 1024, help="largest request body (413 beyond)")
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="log every HTTP request (off: decisions are in the ledger, the decision log and /metrics)",
    )
    serve.add_argument(
        "--no-reexec",
        action="store_true",
        help=f"do not restart the process to give the OPA engine GOGC={GOGC} (set GOGC yourself)",
    )
    serve.set_defaults(run=run_serve)

    keys = sub.add_parser("keys", help="API keys of the sidecar: create, list, revoke").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser("create", help="a new key for NAME; prints the key once")
    create.add_argument("name")
    create.add_argument(
        "--role", action="append", required=True, help="reviewer, or agent:ROLE (a role of [params.roles]); repeatable"
    )
    _paths(create)
    create.set_defaults(run=run_keys_create)
    listing = keys.add_parser("list", help="the keys (never their secrets)")
    _paths(listing)
    listing.set_defaults(run=run_keys_list)
    revoke = keys.add_parser("revoke", help="revoke NAME's key (its console sessions end too)")
    revoke.add_argument("name")
    _paths(revoke)
    revoke.set_defaults(run=run_keys_revoke)


def _paths(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, help="railguard.toml (default: the bundled payments example)")
    parser.add_argument(
        "--ledger",
        default=None,
        help="ledger path or postgresql:// DSN (default: the config's; ./railguard.db without)",
    )
    parser.add_argument("--keys", default=None, help=f"API key store (default: {KEYS_FILE} beside the ledger)")


def _resolve(args: argparse.Namespace) -> tuple[Path, str, Path]:
    """(config, ledger, key store): without ``--config`` the bundled example, with a ledger in the
    working directory (never beside the example, which may sit in site-packages). The ledger is a
    resolved file path, or a ``postgresql://`` DSN as given; with a DSN the key store defaults to
    the working directory."""
    from guardrails.cli import default_config
    from guardrails.config import load_settings

    config = Path(args.config) if args.config else default_config()
    if args.ledger:
        target = str(args.ledger)
    elif args.config is None:
        target = str(Path.cwd() / "railguard.db")
    else:
        settings = load_settings(config)
        given = settings.railguard.ledger
        target = given if given.startswith(DSN_PREFIXES) else str(settings.path(given))
    if target.startswith(DSN_PREFIXES):
        # Not a Path: Path() folds the DSN's "//" and the Guard would open a SQLite file by that name.
        keys = Path(args.keys) if args.keys else Path.cwd() / KEYS_FILE
        return config, target, keys.resolve()
    ledger = Path(target).resolve()
    keys = Path(args.keys) if args.keys else ledger.parent / KEYS_FILE
    return config, str(ledger), keys.resolve()


def _shown(ledger: str) -> str:
    """The ledger for a log line: a DSN's password masked."""
    return re.sub(r"^(postgres(?:ql)?://[^:@/]*):[^@/]*@", r"\1:***@", ledger)


# -- serve ----------------------------------------------------------------------------------------
def run_serve(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536 or args.workers < 1 or args.max_body_bytes < 1024:
        raise ConfigError("--port 1-65535, --workers >= 1 and --max-body-bytes >= 1024", code="invalid_argument")
    if not args.no_reexec:
        _reexec_with_gogc()
    try:
        import uvicorn

        from guardrails.factory import guard_from_config
        from guardrails.service import app as service_app
        from guardrails.service.keys import KeyStore
    except ImportError as exc:
        raise ConfigError(
            f"railguard serve needs the service extra (pip install 'railguard[service]'): {exc}"
        ) from None

    config, ledger, keys_path = _resolve(args)
    # Every configuration problem surfaces here, before a port is bound (the CLI exits 2 with it).
    guard = guard_from_config(config, ledger_path=ledger)
    keys = KeyStore(keys_path)
    if not keys.list():
        print(f"railguard: no API keys yet; create one: railguard keys create NAME --role reviewer --keys {keys_path}",
              file=sys.stderr)  # fmt: skip
    _warn_if_exposed(args.host)
    print(f"railguard: serving {config} (policy {guard.revision}, engine {guard.engine.name}) on "
          f"http://{args.host}:{args.port}, ledger {_shown(ledger)}, keys {keys_path}", file=sys.stderr)  # fmt: skip
    if args.workers == 1:
        app = service_app.create_app(guard, keys, max_body_bytes=args.max_body_bytes, close_on_shutdown=True)
        # uvicorn turns SIGINT/SIGTERM into a graceful shutdown: in-flight requests finish, then the
        # lifespan closes the Guard (ledger checkpoint thread, ticket sweeper) and the key store.
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level="info",
            access_log=args.access_log,
            timeout_graceful_shutdown=30,
        )
        return EXIT_OK
    guard.close()
    keys.close()
    os.environ.update(
        {
            service_app.ENV_CONFIG: str(config),
            service_app.ENV_LEDGER: str(ledger),
            service_app.ENV_KEYS: str(keys_path),
            service_app.ENV_MAX_BODY: str(args.max_body_bytes),
        }
    )
    listener = _listening_socket(args.host, args.port)
    uvicorn.run(
        "guardrails.service.app:app_from_environment",
        factory=True,
        fd=listener.fileno(),
        workers=args.workers,
        log_level="info",
        access_log=args.access_log,
        timeout_graceful_shutdown=30,
    )
    return EXIT_OK


def _listening_socket(host: str, port: int) -> socket.socket:
    """The socket ``--workers N`` share, bound here (uvicorn gets its fd) rather than by uvicorn.

    uvicorn's own socket has no protocol number, so asyncio does not set TCP_NODELAY on the
    connections it accepts (it checks ``proto == IPPROTO_TCP``; uvicorn's ``fd=`` path loses it
    too), and every response on a keep-alive connection then waits for the client's delayed
    ACK: measured, /health took 44 ms per sequential request with two workers against 1.4 ms
    with one. Accepted connections inherit TCP_NODELAY from the listening socket (Linux)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}", code="invalid_argument") from None
    listener.set_inheritable(True)
    return listener


def _reexec_with_gogc() -> None:
    """Restart this very command with ``GOGC`` set, when the OPA engine is installed and the
    operator did not choose a value.

    The Go runtime inside ``opa_bindings`` reads ``GOGC`` once, when the library loads, and
    ``guardrails.engines`` loads it on import, long before this runs: setting ``os.environ`` now
    would be too late (measured). Worker processes (``--workers N``) would inherit the
    environment, but the single-process server runs here. ``os.execv`` keeps the process id, so a
    supervisor's SIGTERM still reaches the server."""
    if "GOGC" in os.environ or os.environ.get(_REEXEC_MARK) or importlib.util.find_spec("opa_bindings") is None:
        return
    os.environ["GOGC"] = GOGC
    os.environ[_REEXEC_MARK] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # noqa: S606 - our own command line


def _warn_if_exposed(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        print("railguard: warning: listening beyond loopback without TLS; put a TLS proxy in front "
              "(the console's cookie is Secure only over https)", file=sys.stderr)  # fmt: skip


# -- keys -----------------------------------------------------------------------------------------
def _store(args: argparse.Namespace) -> Any:
    from guardrails.service.keys import KeyStore

    return KeyStore(_resolve(args)[2])


def run_keys_create(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        key = store.create(args.name, args.role)
    finally:
        store.close()
    print(key)
    print(f"railguard: the key for {args.name} is shown once; store it now. Keys file: {store.path}", file=sys.stderr)
    return EXIT_OK


def run_keys_list(args: argparse.Namespace) -> int:
    from guardrails.service.console import when

    store = _store(args)
    try:
        found = store.list()
    finally:
        store.close()
    for info in found:
        state = f"revoked {when(info.revoked_at)}" if info.revoked_at else "live"
        print(f"{info.name}\t{','.join(info.roles)}\t{info.key_id}\tcreated {when(info.created_at)}\t{state}")
    return EXIT_OK


def run_keys_revoke(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        revoked = store.revoke(args.name)
    finally:
        store.close()
    if not revoked:
        print(f"railguard: {args.name} has no live key", file=sys.stderr)
        return EXIT_FAIL
    print(f"revoked {args.name}")
    return EXIT_OK
