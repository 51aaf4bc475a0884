"""``privlink terraform-provider``: the Terraform AWS provider block for the running server."""

from __future__ import annotations

import argparse
import re

from .. import __version__
from ..terraform import PROVIDER_VERSION, provider_block
from .common import CliError, add_endpoint_arg, endpoint_url, server_health

HELP = "print the Terraform AWS provider block that points every service at this privlink"
DESCRIPTION = f"""{HELP}.

The block sets the endpoint of every service privlink serves (ec2, elbv2, sts, route53, sns,
cloudwatch, logs, iam) to the server's URL, and the skip flags Terraform needs off AWS (no
EC2 metadata lookup, no region validation). A 12-digit access key acts as that account's
root; --assume-role-arn makes the provider act as a role, as a second account usually does.
Verified with hashicorp/aws {PROVIDER_VERSION}."""

EXAMPLE = """examples:
  privlink terraform-provider > provider.tf
  privlink terraform-provider --alias provider --access-key 111111111111 >  providers.tf
  privlink terraform-provider --alias consumer --access-key 222222222222 \\
      --assume-role-arn arn:aws:iam::222222222222:role/payments-client-prod >> providers.tf
  # then: resource "aws_vpc" "x" { provider = aws.consumer ... }
"""

_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_ROLE_ARN = re.compile(r"^arn:aws:iam::\d{12}:role/[\w+=,.@/-]+$")
_KEY = re.compile(r"^[A-Za-z0-9/+=]{1,128}$")


def register(sub) -> None:
    p = sub.add_parser(
        "terraform-provider",
        help=HELP,
        description=DESCRIPTION,
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--alias", help="the provider alias (for a second account: aws.<alias>)")
    p.add_argument(
        "--access-key",
        metavar="KEY",
        help="the access key Terraform signs with; a 12-digit key acts as that account's root "
        "(default: the server's default account)",
    )
    p.add_argument(
        "--secret-key",
        metavar="SECRET",
        default="privlink",
        help="the secret key (privlink checks signatures only for keys declared with a "
        "secret; default: %(default)s)",
    )
    p.add_argument(
        "--assume-role-arn",
        metavar="ARN",
        help="a role the provider assumes (sts:AssumeRole) and then acts as",
    )
    p.add_argument("--region", help="the AWS Region (default: the server's default Region)")
    add_endpoint_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    if args.alias is not None and not _ALIAS.match(args.alias):
        raise CliError(
            f"'{args.alias}' is not a Terraform alias (letters, digits, _ and -, not starting "
            "with a digit)"
        )
    if args.region is not None and not _REGION.match(args.region):
        raise CliError(f"'{args.region}' is not an AWS Region name (like us-east-1)")
    if args.assume_role_arn is not None and not _ROLE_ARN.match(args.assume_role_arn):
        raise CliError(
            f"'{args.assume_role_arn}' is not an IAM role ARN "
            "(like arn:aws:iam::222222222222:role/payments-client-prod)"
        )
    for name in ("access_key", "secret_key"):
        value = getattr(args, name)
        if value is not None and not _KEY.match(value):
            raise CliError(f"--{name.replace('_', '-')} may hold only letters, digits and / + =")
    base = endpoint_url(args)
    health = server_health(base)
    access_key = args.access_key or str(health.get("default_account") or "000000000000")
    region = args.region or str(health.get("default_region") or "us-east-1")
    print(
        f"# privlink {health.get('version', __version__)} at {base}; "
        f"verified with hashicorp/aws {PROVIDER_VERSION}"
    )
    print(
        provider_block(
            base,
            alias=args.alias,
            access_key=access_key,
            secret_key=args.secret_key,
            region=region,
            assume_role_arn=args.assume_role_arn,
        ),
        end="",
    )
    return 0
