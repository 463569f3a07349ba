"""``python -m guardrails.service serve|keys ...``: the same commands as ``railguard serve|keys``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from guardrails.cli import run
from guardrails.service.cli import add_parsers


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m guardrails.service")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
