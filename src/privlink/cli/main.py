"""The ``privlink`` command."""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from .common import CliError

DESCRIPTION = """AWS PrivateLink on one machine: the real AWS API (EC2 endpoints and endpoint
services, ELBv2, Route 53, SNS, STS, CloudWatch, Logs) with real traffic and per-VPC DNS."""

EPILOG = """example:
  privlink up --ephemeral &
  AWS_ENDPOINT_URL=http://127.0.0.1:4566 aws sts get-caller-identity
"""

COMMANDS = ["up", "lab", "target", "addr", "dns", "terraform-provider"]


def build_parser() -> argparse.ArgumentParser:
    import importlib

    p = argparse.ArgumentParser(
        prog="privlink",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"privlink {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"privlink.cli.{name.replace('-', '_')}").register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except CliError as e:
        print(f"privlink: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
