"""``python -m guardrails.service serve|keys ...``: the same commands as ``railguard serve|keys``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from guardrails.errors import RailguardError
from guardrails.service.cli import EXIT_USAGE, add_parsers


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m guardrails.service")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        result: int = args.run(args)
        return result
    except RailguardError as exc:
        print(f"railguard: error [{exc.code}]: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
