"""Subnets: a CIDR inside the VPC, in one Availability Zone (by name or by ID)."""

from __future__ import annotations

from ...api.errors import AwsError
from ...state.ec2 import NetworkInterface, Subnet
from ..base import RequestContext, new_id, operation
from .azs import AzMap
from .common import apply_filters, find_owned, paginate, select_by_ids, tag_list, tags_from_specs
from .enis import available_ip_count
from .tags import taggable
from .vpcs import get_vpc, parse_cidr

taggable("subnet-", Subnet, "subnet", "InvalidSubnetID.NotFound")

SUBNET_DEPENDENCY_HOOKS: list = []


def subnet_not_found(sid: str) -> str:
    return f"The subnet ID '{sid}' does not exist"


def get_subnet(ctx: RequestContext, subnet_id: str) -> Subnet:
    return find_owned(
        ctx, Subnet, subnet_id, "InvalidSubnetID.NotFound", subnet_not_found(subnet_id)
    )


def subnet_out(ctx: RequestContext, s: Subnet) -> dict:
    return {
        "SubnetId": s.id,
        "SubnetArn": f"arn:aws:ec2:{s.region}:{s.account}:subnet/{s.id}",
        "VpcId": s.vpc_id,
        "OwnerId": s.account,
        "CidrBlock": s.cidr_block,
        "AvailabilityZone": s.availability_zone,
        "AvailabilityZoneId": s.availability_zone_id,
        "AvailableIpAddressCount": available_ip_count(ctx.tx, s),
        "DefaultForAz": s.default_for_az,
        "MapPublicIpOnLaunch": s.map_public_ip_on_launch,
        "MapCustomerOwnedIpOnLaunch": False,
        "AssignIpv6AddressOnCreation": s.assign_ipv6_address_on_creation,
        "EnableDns64": s.enable_dns64,
        "Ipv6Native": False,
        "Ipv6CidrBlockAssociationSet": [],
        "State": s.state,
        "PrivateDnsNameOptionsOnLaunch": {
            "HostnameType": s.hostname_type,
            "EnableResourceNameDnsARecord": s.enable_resource_name_dns_a_record,
            "EnableResourceNameDnsAAAARecord": s.enable_resource_name_dns_aaaa_record,
        },
        "Tags": tag_list(s.tags),
    }


@operation("ec2")
def create_subnet(ctx: RequestContext, params: dict) -> dict:
    vpc = get_vpc(ctx, params["VpcId"])
    cidr = params.get("CidrBlock")
    if not cidr:
        raise AwsError("MissingParameter", "The request must contain the parameter cidrBlock")
    net = parse_cidr(cidr, "cidrBlock")
    from ipaddress import IPv4Network

    vnet = IPv4Network(vpc.cidr_block)
    if not net.subnet_of(vnet) or not 16 <= net.prefixlen <= 28:
        raise AwsError("InvalidSubnet.Range", f"The CIDR '{cidr}' is invalid.")
    for other in ctx.tx.owned(Subnet, ctx.account, ctx.region):
        if other.vpc_id == vpc.id and net.overlaps(IPv4Network(other.cidr_block)):
            raise AwsError(
                "InvalidSubnet.Conflict", f"The CIDR '{cidr}' conflicts with another subnet"
            )
    name, zone_id = AzMap.of(ctx).resolve(
        params.get("AvailabilityZone"), params.get("AvailabilityZoneId")
    )
    subnet = Subnet(
        id=new_id("subnet-"),
        account=ctx.account,
        region=ctx.region,
        vpc_id=vpc.id,
        cidr_block=str(net),
        availability_zone=name,
        availability_zone_id=zone_id,
        tags=tags_from_specs(params, "subnet"),
        created_at=ctx.now,
    )
    ctx.tx.put(subnet)
    return {"Subnet": subnet_out(ctx, subnet)}


_FILTERS = {
    "subnet-id": lambda s: s.id,
    "vpc-id": lambda s: s.vpc_id,
    "cidr-block": lambda s: s.cidr_block,
    "cidr": lambda s: s.cidr_block,
    "cidrBlock": lambda s: s.cidr_block,
    "availability-zone": lambda s: s.availability_zone,
    "availabilityZone": lambda s: s.availability_zone,
    "availability-zone-id": lambda s: s.availability_zone_id,
    "availabilityZoneId": lambda s: s.availability_zone_id,
    "default-for-az": lambda s: s.default_for_az,
    "defaultForAz": lambda s: s.default_for_az,
    "map-public-ip-on-launch": lambda s: s.map_public_ip_on_launch,
    "owner-id": lambda s: s.account,
    "state": lambda s: s.state,
    "subnet-arn": lambda s: f"arn:aws:ec2:{s.region}:{s.account}:subnet/{s.id}",
}


@operation("ec2")
def describe_subnets(ctx: RequestContext, params: dict) -> dict:
    subnets = select_by_ids(
        ctx, Subnet, params.get("SubnetIds"), "InvalidSubnetID.NotFound", subnet_not_found
    )
    subnets = apply_filters(subnets, params.get("Filters"), _FILTERS)
    page, token = paginate(ctx, subnets, params, ids_param="SubnetIds")
    return {"Subnets": [subnet_out(ctx, s) for s in page], "NextToken": token}


@operation("ec2")
def delete_subnet(ctx: RequestContext, params: dict) -> dict:
    subnet = get_subnet(ctx, params["SubnetId"])
    deps = [
        e.id
        for e in ctx.tx.owned(NetworkInterface, ctx.account, ctx.region)
        if e.subnet_id == subnet.id
    ]
    for hook in SUBNET_DEPENDENCY_HOOKS:
        deps += hook(ctx, subnet)
    if deps:
        raise AwsError(
            "DependencyViolation",
            f"The subnet '{subnet.id}' has dependencies and cannot be deleted.",
        )
    ctx.tx.delete(subnet)
    return {}


_BOOL_ATTRS = {
    "MapPublicIpOnLaunch": "map_public_ip_on_launch",
    "AssignIpv6AddressOnCreation": "assign_ipv6_address_on_creation",
    "EnableDns64": "enable_dns64",
    "EnableResourceNameDnsARecordOnLaunch": "enable_resource_name_dns_a_record",
    "EnableResourceNameDnsAAAARecordOnLaunch": "enable_resource_name_dns_aaaa_record",
}


@operation("ec2")
def modify_subnet_attribute(ctx: RequestContext, params: dict) -> dict:
    subnet = get_subnet(ctx, params["SubnetId"])
    mine = ctx.tx.edit(subnet)
    changed = False
    for member, field in _BOOL_ATTRS.items():
        if params.get(member) is not None:
            setattr(mine, field, bool(params[member].get("Value")))
            changed = True
    if params.get("PrivateDnsHostnameTypeOnLaunch"):
        value = params["PrivateDnsHostnameTypeOnLaunch"]
        if value not in ("ip-name", "resource-name"):
            raise AwsError(
                "InvalidParameterValue",
                f"Invalid value '{value}' for PrivateDnsHostnameTypeOnLaunch",
            )
        mine.hostname_type = value
        changed = True
    if not changed:
        raise AwsError("MissingParameter", "The request must contain an attribute to modify")
    return {}
