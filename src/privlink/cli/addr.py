"""``privlink addr``: where a VPC address lives on this machine."""

from __future__ import annotations

import argparse

from .common import CliError, add_endpoint_arg, call_extension, endpoint_url

HELP = "print the host (realm) address of a VPC address, or the reverse"
EXAMPLE = """examples:
  privlink addr vpc-0a1b2c3d4e5f60718 10.20.1.20     # -> 127.3.1.20
  privlink addr --reverse 127.3.1.20                  # -> vpc-0a1b2c3d4e5f60718 10.20.1.20
"""


def register(sub) -> None:
    p = sub.add_parser(
        "addr",
        help=HELP,
        description=HELP + ".",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("args", nargs="+", metavar="VPC_ID IP | HOST_IP")
    p.add_argument(
        "--reverse", action="store_true", help="map a host address back to its VPC and VPC address"
    )
    add_endpoint_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    base = endpoint_url(args)
    if args.reverse:
        if len(args.args) != 1:
            raise CliError(
                "--reverse takes one host address, e.g. privlink addr --reverse 127.3.1.20"
            )
        out = call_extension(base, "addr", {"host": args.args[0]})
        print(f"{out['vpc_id']} {out['vpc_address']}")
        return 0
    if len(args.args) != 2:
        raise CliError(
            "give a VPC id and an address in it, e.g. privlink addr vpc-0a1b2c3d4e5f60718 10.20.1.20"
        )
    vpc, ip = args.args
    out = call_extension(base, "addr", {"vpc": vpc, "ip": ip})
    print(out["host_address"])
    return 0
