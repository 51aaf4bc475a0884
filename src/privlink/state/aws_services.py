"""AWS-provided endpoint services (``com.amazonaws.<region>.<service>``).

privlink lists a handful of them so gateway endpoints (S3, DynamoDB) and interface
endpoints to AWS APIs can be created and described; they carry no traffic (privlink
does not emulate S3 or the other AWS APIs behind them).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .regions import REGION_AZ_IDS

# service -> endpoint types it offers
_CATALOG: dict[str, tuple[str, ...]] = {
    "s3": ("Gateway", "Interface"),
    "dynamodb": ("Gateway", "Interface"),
    "ec2": ("Interface",),
    "elasticloadbalancing": ("Interface",),
    "sts": ("Interface",),
    "sns": ("Interface",),
    "logs": ("Interface",),
    "monitoring": ("Interface",),
    "kms": ("Interface",),
    "secretsmanager": ("Interface",),
    "ssm": ("Interface",),
    "ecr.api": ("Interface",),
    "ecr.dkr": ("Interface",),
    "execute-api": ("Interface",),
}


@dataclass(frozen=True)
class AwsService:
    region: str
    short: str
    types: tuple[str, ...]

    account = "amazon"
    acceptance_required = False
    manages_vpc_endpoints = False
    state = "Available"
    allowed_principals: tuple = ()
    payer_responsibility = None
    supported_ip_address_types = ("ipv4",)

    @property
    def service_name(self) -> str:
        return f"com.amazonaws.{self.region}.{self.short}"

    @property
    def id(self) -> None:
        return None

    @property
    def private_dns_name(self) -> str | None:
        if "Interface" not in self.types or self.short in ("s3",):
            return None
        return f"{self.short}.{self.region}.amazonaws.com"

    @property
    def private_dns_verified(self) -> bool:
        return self.private_dns_name is not None

    @property
    def zone_ids(self) -> list[str]:
        return list(REGION_AZ_IDS.get(self.region, []))

    @property
    def base_dns_names(self) -> list[str]:
        return [f"{self.short}.{self.region}.vpce.amazonaws.com"]

    def prefix_list_id(self) -> str | None:
        if "Gateway" not in self.types:
            return None
        return "pl-" + hashlib.sha256(self.service_name.encode()).hexdigest()[:8]


def aws_services(region: str) -> list[AwsService]:
    if region not in REGION_AZ_IDS:
        return []
    return [AwsService(region, short, types) for short, types in _CATALOG.items()]


def aws_service_by_name(region: str, name: str) -> AwsService | None:
    prefix = f"com.amazonaws.{region}."
    if not name.startswith(prefix):
        return None
    short = name[len(prefix) :]
    if short in _CATALOG and region in REGION_AZ_IDS:
        return AwsService(region, short, _CATALOG[short])
    return None
