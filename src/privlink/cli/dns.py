"""``privlink dns``: where a VPC's resolver (or the public view) listens."""

from __future__ import annotations

import argparse
import re

from .common import CliError, add_endpoint_arg, call_extension, endpoint_url

HELP = "print the address and port of a VPC's DNS resolver (or of the public view)"
EXAMPLE = """examples:
  privlink dns vpc-0a1b2c3d4e5f6a7b8          # -> 127.3.0.2 53
  privlink dns --public                       # -> 127.0.2.53 53
  read addr port < <(privlink dns vpc-0a1b2c3d4e5f6a7b8)
  dig @$addr -p $port +short payments.internal.example.com
"""

_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8}([0-9a-f]{9})?$")


def register(sub) -> None:
    p = sub.add_parser(
        "dns",
        help=HELP,
        description=HELP + ", as one line: ADDRESS PORT.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("vpc_id", nargs="?", metavar="VPC_ID", help="the VPC whose resolver to show")
    g.add_argument("--public", action="store_true", help="the public view (the internet's DNS)")
    add_endpoint_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    if args.public:
        params = {"public": "1"}
    else:
        if not _VPC_ID.match(args.vpc_id):
            raise CliError(f"'{args.vpc_id}' is not a VPC id (like vpc-0a1b2c3d4e5f6a7b8)")
        params = {"vpc": args.vpc_id}
    base = endpoint_url(args)
    try:
        out = call_extension(base, "dns", params)
    except CliError as e:
        if str(e).startswith("no privlink API at"):
            raise CliError(
                f"the privlink server at {base} runs without DNS (dns_enabled = false)"
            ) from None
        raise
    try:
        print(f"{out['address']} {int(out['port'])}")
    except (KeyError, TypeError, ValueError):
        raise CliError(
            "the privlink server gave an answer this command does not understand"
        ) from None
    return 0
