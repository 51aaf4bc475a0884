"""The Terraform AWS provider configuration that points every service privlink emulates
at a running privlink (``privlink terraform-provider`` prints it)."""

from __future__ import annotations

# the hashicorp/aws version privlink's Terraform suite verifies (tests/test_terraform_*.py)
PROVIDER_VERSION = "5.100.0"

# every service the provider may call for privlink's resources, by its endpoints-block name
ENDPOINT_SERVICES = ["ec2", "elbv2", "sts", "route53", "sns", "cloudwatch", "logs", "iam"]


def provider_block(
    endpoint: str,
    *,
    alias: str | None = None,
    access_key: str = "000000000000",
    secret_key: str = "privlink",
    region: str = "us-east-1",
    assume_role_arn: str | None = None,
) -> str:
    lines = ['provider "aws" {']
    if alias:
        lines.append(f'  alias                       = "{alias}"')
    lines += [
        f'  region                      = "{region}"',
        f'  access_key                  = "{access_key}"',
        f'  secret_key                  = "{secret_key}"',
        "  skip_metadata_api_check     = true  # never ask EC2 instance metadata for credentials",
        "  skip_region_validation      = true",
        "  skip_credentials_validation = false # privlink answers sts:GetCallerIdentity",
        "  skip_requesting_account_id  = false # ARNs Terraform builds need the account id",
    ]
    if assume_role_arn:
        lines += [
            "  assume_role {",
            f'    role_arn     = "{assume_role_arn}"',
            '    session_name = "terraform"',
            "  }",
        ]
    lines.append("  endpoints {")
    width = max(len(s) for s in ENDPOINT_SERVICES)
    for svc in ENDPOINT_SERVICES:
        lines.append(f'    {svc.ljust(width)} = "{endpoint}"')
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"
