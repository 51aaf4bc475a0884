"""VPCs, with the default security group, main route table and default network ACL each one
gets, and their attributes."""

from __future__ import annotations

import ipaddress

from ...api.errors import AwsError
from ...net.realm import free_block
from ...state.ec2 import (
    NetworkAcl,
    NetworkAclEntry,
    NetworkInterface,
    Route,
    RouteTable,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
    Vpc,
)
from ..base import RequestContext, new_id, operation
from .common import apply_filters, find_owned, paginate, select_by_ids, tag_list, tags_from_specs
from .tags import taggable

taggable("vpc-", Vpc, "vpc", "InvalidVpcID.NotFound")
taggable("rtb-", RouteTable, "route-table", "InvalidRouteTableID.NotFound")
taggable("acl-", NetworkAcl, "network-acl", "InvalidNetworkAclID.NotFound")


def vpc_not_found(vpc_id: str) -> str:
    return f"The vpc ID '{vpc_id}' does not exist"


def get_vpc(ctx: RequestContext, vpc_id: str) -> Vpc:
    return find_owned(ctx, Vpc, vpc_id, "InvalidVpcID.NotFound", vpc_not_found(vpc_id))


def parse_cidr(value: str, param: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        raise AwsError(
            "InvalidParameterValue",
            f"Value ({value}) for parameter {param} is invalid. This is not a valid CIDR block.",
        ) from None
    return net


def vpc_out(vpc: Vpc) -> dict:
    return {
        "VpcId": vpc.id,
        "OwnerId": vpc.account,
        "CidrBlock": vpc.cidr_block,
        "State": vpc.state,
        "DhcpOptionsId": vpc.dhcp_options_id,
        "InstanceTenancy": vpc.instance_tenancy,
        "IsDefault": vpc.is_default,
        "CidrBlockAssociationSet": [
            {
                "AssociationId": vpc.cidr_association_id,
                "CidrBlock": vpc.cidr_block,
                "CidrBlockState": {"State": "associated"},
            }
        ],
        "Ipv6CidrBlockAssociationSet": [],
        "Tags": tag_list(vpc.tags),
    }


def _default_group(ctx: RequestContext, vpc_id: str) -> SecurityGroup:
    gid = new_id("sg-")
    return SecurityGroup(
        id=gid,
        account=ctx.account,
        region=ctx.region,
        vpc_id=vpc_id,
        group_name="default",
        description="default VPC security group",
        ingress=[
            SecurityGroupRule(
                rule_id=new_id("sgr-"),
                ip_protocol="-1",
                referenced_group_id=gid,
                referenced_group_owner=ctx.account,
            )
        ],
        egress=[SecurityGroupRule(rule_id=new_id("sgr-"), ip_protocol="-1", cidr_ipv4="0.0.0.0/0")],
        created_at=ctx.now,
    )


@operation("ec2")
def create_vpc(ctx: RequestContext, params: dict) -> dict:
    cidr = params.get("CidrBlock")
    if not cidr:
        if params.get("Ipv4IpamPoolId"):
            raise AwsError(
                "InvalidParameterValue", "privlink does not emulate IPAM pools; give a CidrBlock"
            )
        raise AwsError(
            "MissingParameter", "Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided."
        )
    net = parse_cidr(cidr, "cidrBlock")
    if not 16 <= net.prefixlen <= 28:
        raise AwsError("InvalidVpc.Range", f"The CIDR '{cidr}' is invalid.")
    tenancy = params.get("InstanceTenancy", "default")
    if tenancy not in ("default", "dedicated"):
        raise AwsError(
            "InvalidParameterValue", f"Value ({tenancy}) for parameter instanceTenancy is invalid."
        )
    tags = tags_from_specs(params, "vpc")
    mine = list(ctx.tx.owned(Vpc, ctx.account, ctx.region))
    if len(mine) >= ctx.settings.quotas.vpcs_per_region:
        raise AwsError("VpcLimitExceeded", "The maximum number of VPCs has been reached.")
    first, last = ctx.settings.realm_blocks
    used = {v.realm_block for v in ctx.tx.all(Vpc)}
    claims = ctx.runtime.hooks.get("realm_claims")
    block = None
    while True:
        block = free_block(used, first, last)
        if block is None or claims is None or claims.claim(block):
            break
        used.add(block)  # another privlink on this machine holds it
    if block is None:
        raise AwsError(
            "VpcLimitExceeded",
            "The maximum number of VPCs has been reached (privlink's address realm has no free block left).",
        )
    vpc_id = new_id("vpc-")
    sg = _default_group(ctx, vpc_id)
    rtb = RouteTable(
        id=new_id("rtb-"),
        account=ctx.account,
        region=ctx.region,
        vpc_id=vpc_id,
        main=True,
        main_association_id=new_id("rtbassoc-"),
        routes=[Route(destination_cidr_block=str(net))],
    )
    acl = NetworkAcl(
        id=new_id("acl-"),
        account=ctx.account,
        region=ctx.region,
        vpc_id=vpc_id,
        is_default=True,
        entries=[
            NetworkAclEntry(100, "-1", "allow", False, cidr_block="0.0.0.0/0"),
            NetworkAclEntry(32767, "-1", "deny", False, cidr_block="0.0.0.0/0"),
            NetworkAclEntry(100, "-1", "allow", True, cidr_block="0.0.0.0/0"),
            NetworkAclEntry(32767, "-1", "deny", True, cidr_block="0.0.0.0/0"),
        ],
    )
    vpc = Vpc(
        id=vpc_id,
        account=ctx.account,
        region=ctx.region,
        cidr_block=str(net),
        cidr_association_id=new_id("vpc-cidr-assoc-"),
        realm_block=block,
        instance_tenancy=tenancy,
        default_security_group_id=sg.id,
        main_route_table_id=rtb.id,
        default_network_acl_id=acl.id,
        tags=tags,
        created_at=ctx.now,
    )
    for obj in (vpc, sg, rtb, acl):
        ctx.tx.put(obj)
    return {"Vpc": vpc_out(vpc)}


_VPC_FILTERS = {
    "vpc-id": lambda v: v.id,
    "cidr": lambda v: v.cidr_block,
    "cidr-block-association.cidr-block": lambda v: v.cidr_block,
    "cidr-block-association.association-id": lambda v: v.cidr_association_id,
    "cidr-block-association.state": lambda v: "associated",
    "dhcp-options-id": lambda v: v.dhcp_options_id,
    "is-default": lambda v: v.is_default,
    "owner-id": lambda v: v.account,
    "state": lambda v: v.state,
}


@operation("ec2")
def describe_vpcs(ctx: RequestContext, params: dict) -> dict:
    vpcs = select_by_ids(ctx, Vpc, params.get("VpcIds"), "InvalidVpcID.NotFound", vpc_not_found)
    vpcs = apply_filters(vpcs, params.get("Filters"), _VPC_FILTERS)
    page, token = paginate(ctx, vpcs, params, ids_param="VpcIds")
    return {"Vpcs": [vpc_out(v) for v in page], "NextToken": token}


def vpc_dependencies(ctx: RequestContext, vpc: Vpc) -> list[str]:
    """Ids of what still lives in the VPC (and so blocks DeleteVpc)."""
    deps = []
    owner = (ctx.account, ctx.region)
    for cls in (Subnet, NetworkInterface):
        deps += [o.id for o in ctx.tx.owned(cls, *owner) if o.vpc_id == vpc.id]
    deps += [
        g.id for g in ctx.tx.owned(SecurityGroup, *owner) if g.vpc_id == vpc.id and not g.is_default
    ]
    deps += [r.id for r in ctx.tx.owned(RouteTable, *owner) if r.vpc_id == vpc.id and not r.main]
    deps += [
        a.id for a in ctx.tx.owned(NetworkAcl, *owner) if a.vpc_id == vpc.id and not a.is_default
    ]
    for hook in VPC_DEPENDENCY_HOOKS:
        deps += hook(ctx, vpc)
    return deps


# other modules (endpoints, load balancers …) add "what blocks deleting this VPC"
VPC_DEPENDENCY_HOOKS: list = []
# … and "what goes away with the VPC" (flow logs …)
VPC_CASCADE_HOOKS: list = []


@operation("ec2")
def delete_vpc(ctx: RequestContext, params: dict) -> dict:
    vpc = get_vpc(ctx, params["VpcId"])
    if vpc_dependencies(ctx, vpc):
        raise AwsError(
            "DependencyViolation", f"The vpc '{vpc.id}' has dependencies and cannot be deleted."
        )
    owner = (ctx.account, ctx.region)
    for hook in VPC_CASCADE_HOOKS:
        hook(ctx, vpc)
    for cls in (SecurityGroup, RouteTable, NetworkAcl):
        for o in ctx.tx.owned(cls, *owner):
            if o.vpc_id == vpc.id:
                ctx.tx.delete(o)
    ctx.tx.delete(vpc)
    claims = ctx.runtime.hooks.get("realm_claims")
    if claims is not None:
        ctx.tx.after_commit(lambda: claims.release(vpc.realm_block))
    return {}


_ATTRS = {
    "enableDnsSupport": ("EnableDnsSupport", "enable_dns_support"),
    "enableDnsHostnames": ("EnableDnsHostnames", "enable_dns_hostnames"),
    "enableNetworkAddressUsageMetrics": (
        "EnableNetworkAddressUsageMetrics",
        "enable_network_address_usage_metrics",
    ),
}


@operation("ec2")
def describe_vpc_attribute(ctx: RequestContext, params: dict) -> dict:
    vpc = get_vpc(ctx, params["VpcId"])
    attr = params["Attribute"]
    if attr not in _ATTRS:
        raise AwsError(
            "InvalidParameterValue", f"Value ({attr}) for parameter attribute is invalid."
        )
    member, field = _ATTRS[attr]
    return {"VpcId": vpc.id, member: {"Value": getattr(vpc, field)}}


@operation("ec2")
def modify_vpc_attribute(ctx: RequestContext, params: dict) -> dict:
    vpc = get_vpc(ctx, params["VpcId"])
    given = [(m, f) for m, f in _ATTRS.values() if params.get(m) is not None]
    if len(given) != 1:
        raise AwsError(
            "InvalidParameterCombination",
            "Exactly one attribute may be modified per request (enableDnsSupport, "
            "enableDnsHostnames or enableNetworkAddressUsageMetrics).",
        )
    member, field = given[0]
    value = params[member].get("Value")
    if value is None:
        raise AwsError("MissingParameter", f"The request must contain the parameter {member}.Value")
    mine = ctx.tx.edit(vpc)
    setattr(mine, field, bool(value))
    return {}


# ---- route tables and network ACLs (the defaults every VPC has) -------------------------


def _subnets_of(ctx: RequestContext, vpc_id: str) -> list[Subnet]:
    return [s for s in ctx.tx.owned(Subnet, ctx.account, ctx.region) if s.vpc_id == vpc_id]


def route_table_out(ctx: RequestContext, rt: RouteTable) -> dict:
    assocs = []
    if rt.main:
        assocs.append(
            {
                "Main": True,
                "RouteTableAssociationId": rt.main_association_id,
                "RouteTableId": rt.id,
                "AssociationState": {"State": "associated"},
            }
        )
    for aid, sid in rt.subnet_associations.items():
        assocs.append(
            {
                "Main": False,
                "RouteTableAssociationId": aid,
                "RouteTableId": rt.id,
                "SubnetId": sid,
                "AssociationState": {"State": "associated"},
            }
        )
    return {
        "RouteTableId": rt.id,
        "VpcId": rt.vpc_id,
        "OwnerId": rt.account,
        "Associations": assocs,
        "PropagatingVgws": [],
        "Routes": [
            {
                "DestinationCidrBlock": r.destination_cidr_block,
                "GatewayId": r.gateway_id,
                "Origin": r.origin,
                "State": r.state,
            }
            for r in rt.routes
        ],
        "Tags": tag_list(rt.tags),
    }


_RTB_FILTERS = {
    "route-table-id": lambda r: r.id,
    "vpc-id": lambda r: r.vpc_id,
    "owner-id": lambda r: r.account,
    "association.main": lambda r: r.main,
    "association.route-table-association-id": lambda r: (
        ([r.main_association_id] if r.main else []) + list(r.subnet_associations)
    ),
    "association.subnet-id": lambda r: list(r.subnet_associations.values()),
    "association.route-table-id": lambda r: r.id,
    "route.destination-cidr-block": lambda r: [x.destination_cidr_block for x in r.routes],
    "route.gateway-id": lambda r: [x.gateway_id for x in r.routes],
}


@operation("ec2")
def describe_route_tables(ctx: RequestContext, params: dict) -> dict:
    rts = select_by_ids(
        ctx,
        RouteTable,
        params.get("RouteTableIds"),
        "InvalidRouteTableID.NotFound",
        lambda i: f"The routeTable ID '{i}' does not exist",
    )
    rts = apply_filters(rts, params.get("Filters"), _RTB_FILTERS)
    page, token = paginate(ctx, rts, params, high=100, ids_param="RouteTableIds")
    return {"RouteTables": [route_table_out(ctx, r) for r in page], "NextToken": token}


def network_acl_out(ctx: RequestContext, acl: NetworkAcl) -> dict:
    assocs = []
    if acl.is_default:
        for s in _subnets_of(ctx, acl.vpc_id):
            assocs.append(
                {
                    "NetworkAclAssociationId": "aclassoc-"
                    + s.id.split("-", 1)[1][:8]
                    + acl.id.split("-", 1)[1][:9],
                    "NetworkAclId": acl.id,
                    "SubnetId": s.id,
                }
            )
    return {
        "NetworkAclId": acl.id,
        "VpcId": acl.vpc_id,
        "OwnerId": acl.account,
        "IsDefault": acl.is_default,
        "Associations": assocs,
        "Entries": [
            {
                "RuleNumber": e.rule_number,
                "Protocol": e.protocol,
                "RuleAction": e.rule_action,
                "Egress": e.egress,
                "CidrBlock": e.cidr_block,
            }
            for e in acl.entries
        ],
        "Tags": tag_list(acl.tags),
    }


_ACL_FILTERS = {
    "network-acl-id": lambda a: a.id,
    "vpc-id": lambda a: a.vpc_id,
    "default": lambda a: a.is_default,
    "owner-id": lambda a: a.account,
}


@operation("ec2")
def describe_network_acls(ctx: RequestContext, params: dict) -> dict:
    acls = select_by_ids(
        ctx,
        NetworkAcl,
        params.get("NetworkAclIds"),
        "InvalidNetworkAclID.NotFound",
        lambda i: f"The networkAcl ID '{i}' does not exist",
    )
    spec = dict(_ACL_FILTERS)
    spec["association.subnet-id"] = lambda a: (
        [s.id for s in _subnets_of(ctx, a.vpc_id)]
        if a.is_default
        else list(a.associations.values())
    )
    acls = apply_filters(acls, params.get("Filters"), spec)
    page, token = paginate(ctx, acls, params, ids_param="NetworkAclIds")
    return {"NetworkAcls": [network_acl_out(ctx, a) for a in page], "NextToken": token}
