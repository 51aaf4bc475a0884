"""VPC endpoints (the consumer side of PrivateLink), the provider's view of them as
connections, and the acceptance gate.

States follow AWS exactly (lowerCamel on the wire): an interface endpoint to a service that
requires acceptance starts ``pendingAcceptance``; otherwise ``pending`` then ``available``.
Accept → ``pending`` → ``available``; Reject → ``rejected``; Delete → ``deleting`` →
``deleted``, and deleted endpoints stay visible for a while, as in AWS.
"""

from __future__ import annotations

import json
import re

from ...api.errors import AwsError
from ...state.aws_services import AwsService, aws_service_by_name, aws_services
from ...state.ec2 import NetworkInterface, RouteTable, SecurityGroup, Subnet, Vpc
from ...state.privatelink import EndpointService, VpcEndpoint
from ..base import RequestContext, TimerContext, new_id, on_timer, operation
from .common import apply_filters, failed_item, find_owned, paginate, tag_list, tags_from_specs
from .enis import create_service_eni
from .plcommon import (
    endpoint_dns_entries,
    find_service_by_name,
    new_dns_suffix,
    notify,
    private_dns_name_of,
    service_zone_ids,
)
from .security_groups import GROUP_DEPENDENCY_HOOKS
from .tags import taggable
from .vpcs import VPC_DEPENDENCY_HOOKS, get_vpc

taggable("vpce-", VpcEndpoint, "vpc-endpoint", "InvalidVpcEndpointId.NotFound")

POLICY_MAX = 20480
FULL_ACCESS_POLICY = json.dumps(
    {
        "Version": "2008-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
    }
)


def endpoint_not_found(eid: str) -> str:
    return f"The Vpc Endpoint Id '{eid}' does not exist"


def get_endpoint(ctx: RequestContext, eid: str) -> VpcEndpoint:
    if not re.fullmatch(r"vpce-[0-9a-f]{17}", eid or ""):
        raise AwsError(
            "InvalidVpcEndpointId.Malformed",
            f'Invalid Id: "{eid}" (expecting "vpce-xxxxxxxxxxxxxxxxx")',
        )
    ep = find_owned(ctx, VpcEndpoint, eid, "InvalidVpcEndpointId.NotFound", endpoint_not_found(eid))
    return ep


def _service_of(ctx, ep: VpcEndpoint) -> EndpointService | None:
    return ctx.tx.get(EndpointService, ep.service_id) if ep.service_id else None


def endpoint_out(ctx: RequestContext, ep: VpcEndpoint) -> dict:
    vpc = ctx.tx.get(Vpc, ep.vpc_id)
    subnets = [s for s in (ctx.tx.get(Subnet, sid) for sid in ep.subnet_ids) if s is not None]
    groups = []
    for gid in ep.security_group_ids:
        g = ctx.tx.get(SecurityGroup, gid)
        groups.append({"GroupId": gid, "GroupName": g.group_name if g else ""})
    out = {
        "VpcEndpointId": ep.id,
        "VpcEndpointType": ep.endpoint_type,
        "VpcId": ep.vpc_id,
        "ServiceName": ep.service_name,
        "State": ep.state,
        "PolicyDocument": ep.policy_document,
        "RouteTableIds": list(ep.route_table_ids),
        "SubnetIds": list(ep.subnet_ids),
        "Groups": groups,
        "IpAddressType": ep.ip_address_type,
        "PrivateDnsEnabled": ep.private_dns_enabled,
        "RequesterManaged": False,
        "NetworkInterfaceIds": list(ep.network_interface_ids),
        "DnsEntries": endpoint_dns_entries(ctx, ep, vpc, subnets)
        if vpc and ep.state != "deleted"
        else [],
        "CreationTimestamp": ep.created_at,
        "Tags": tag_list(ep.tags),
        "OwnerId": ep.account,
        "ServiceRegion": ep.region,
    }
    if ep.endpoint_type == "Interface":
        out["DnsOptions"] = {"DnsRecordIpType": ep.dns_record_ip_type}
        if ep.private_dns_only_for_inbound_resolver_endpoint is not None:
            out["DnsOptions"]["PrivateDnsOnlyForInboundResolverEndpoint"] = (
                ep.private_dns_only_for_inbound_resolver_endpoint
            )
    if ep.last_error_code:
        out["LastError"] = {"Code": ep.last_error_code, "Message": ep.last_error_message}
    return out


# -- validation shared by create and modify -------------------------------------------------


def _check_subnets(
    ctx: RequestContext, vpc: Vpc, subnet_ids: list[str], service, existing: list[Subnet]
) -> list[Subnet]:
    subnets = []
    for sid in dict.fromkeys(subnet_ids):
        s = ctx.tx.get(Subnet, sid)
        if s is None or s.owner != (ctx.account, ctx.region):
            raise AwsError("InvalidSubnetID.NotFound", f"The subnet ID '{sid}' does not exist")
        if s.vpc_id != vpc.id:
            raise AwsError(
                "InvalidParameter", f"The subnet {sid} does not belong to the VPC {vpc.id}."
            )
        subnets.append(s)
    zones: dict[str, str] = {s.availability_zone_id: s.id for s in existing}
    for s in subnets:
        if s.availability_zone_id in zones:
            raise AwsError(
                "DuplicateSubnetsInSameZone",
                f"Found another VPC endpoint subnet in the availability zone of {s.id}. "
                "VPC endpoint subnets should be in different availability zones supported by the VPC endpoint service.",
            )
        zones[s.availability_zone_id] = s.id
    served = service.zone_ids if isinstance(service, AwsService) else service_zone_ids(ctx, service)
    for s in subnets:
        if s.availability_zone_id not in served:
            raise AwsError(
                "InvalidParameter",
                f"The VPC endpoint service {service.service_name} does not support the availability zone of the subnet: {s.id}.",
            )
    return subnets


def _check_groups(ctx: RequestContext, vpc: Vpc, group_ids: list[str]) -> list[str]:
    out = []
    for gid in dict.fromkeys(group_ids):
        g = ctx.tx.get(SecurityGroup, gid)
        if g is None or g.owner != (ctx.account, ctx.region):
            raise AwsError("InvalidGroup.NotFound", f"The security group '{gid}' does not exist")
        if g.vpc_id != vpc.id:
            raise AwsError(
                "InvalidParameter", f"The security group {gid} does not belong to the VPC {vpc.id}."
            )
        out.append(gid)
    return out


def _check_policy(doc: str | None) -> str | None:
    if doc is None:
        return None
    if len(doc) > POLICY_MAX:
        raise AwsError(
            "InvalidParameter",
            f"The policy document exceeds the maximum of {POLICY_MAX} characters.",
        )
    try:
        parsed = json.loads(doc)
    except ValueError:
        raise AwsError(
            "MalformedPolicyDocument", "The policy document is not valid JSON."
        ) from None
    if not isinstance(parsed, dict) or "Statement" not in parsed:
        raise AwsError(
            "MalformedPolicyDocument", "The policy document must be a JSON object with a Statement."
        )
    return doc


def private_dns_problem(
    ctx: RequestContext, ep: VpcEndpoint, vpc: Vpc, service, *, awaiting_acceptance: bool = False
) -> str | None:
    """Why private DNS cannot be enabled on ``ep``, or None. ``awaiting_acceptance``: the
    endpoint waits (or will wait) for the provider to accept it."""
    name = service.private_dns_name
    if not name:
        return f"Private DNS can't be enabled because the service {service.service_name} does not provide a private DNS name."
    if not service.private_dns_verified:
        return (
            f"Private DNS can't be enabled because the private DNS name {name} of the service "
            f"{service.service_name} has not been verified."
        )
    if awaiting_acceptance:
        return (
            f"Private DNS can't be enabled on {ep.id} until the service owner accepts the VPC "
            "endpoint connection; enable it once the endpoint is available."
        )
    if not (vpc.enable_dns_support and vpc.enable_dns_hostnames):
        return (
            f"Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes "
            f"set to true for {vpc.id}"
        )
    for other in ctx.tx.owned(VpcEndpoint, ep.account, ep.region):
        if (
            other.id != ep.id
            and other.vpc_id == vpc.id
            and other.private_dns_enabled
            and other.state not in ("deleting", "deleted", "rejected", "failed")
            and private_dns_name_of(ctx, other) == name
        ):
            return f"private-dns-enabled cannot be set because there is already a conflicting DNS domain for {name} in the VPC {vpc.id}"
    from ...state.route53 import canonical_name, private_zones_for_vpc

    # a private hosted zone for exactly that name would collide with the managed one
    if any(
        z.name == canonical_name(name) for z in private_zones_for_vpc(ctx.tx, vpc.id, vpc.region)
    ):
        return f"private-dns-enabled cannot be set because there is already a conflicting DNS domain for {name} in the VPC {vpc.id}"
    return None


def _add_enis(ctx: RequestContext, ep: VpcEndpoint, subnets: list[Subnet]) -> None:
    for s in subnets:
        eni = create_service_eni(
            ctx.tx,
            s,
            now=ctx.now,
            description=f"VPC Endpoint Interface {ep.id}",
            interface_type="vpc_endpoint"
            if ep.endpoint_type == "Interface"
            else "gateway_load_balancer_endpoint",
            requester_id="amazon-vpce",
            created_by=ep.id,
            security_group_ids=ep.security_group_ids if ep.endpoint_type == "Interface" else [],
            attached=False,
        )
        ep.subnet_ids.append(s.id)
        ep.network_interface_ids.append(eni.id)


def _remove_enis(ctx: RequestContext, ep: VpcEndpoint, subnet_ids: list[str] | None = None) -> None:
    keep_subnets, keep_enis = [], []
    for sid, eid in zip(ep.subnet_ids, ep.network_interface_ids, strict=False):
        if subnet_ids is None or sid in subnet_ids:
            eni = ctx.tx.get(NetworkInterface, eid)
            if eni is not None:
                ctx.tx.delete(eni)
        else:
            keep_subnets.append(sid)
            keep_enis.append(eid)
    ep.subnet_ids, ep.network_interface_ids = keep_subnets, keep_enis


def _set_state(ctx, ep: VpcEndpoint, state: str) -> None:
    ep.state = state
    ep.state_changed_at = ctx.now


# -- operations -----------------------------------------------------------------------------


_DEFAULT_DNS_RECORD_TYPE = {"ipv4": "ipv4", "dualstack": "dualstack", "ipv6": "ipv6"}
# which DNS record types an endpoint of each IP address type can publish
_DNS_RECORD_TYPES = {
    "ipv4": ("ipv4", "service-defined"),
    "dualstack": ("ipv4", "dualstack", "ipv6", "service-defined"),
    "ipv6": ("ipv6", "service-defined"),
}


def _check_ip_types(service, name: str, ip_type: str, dns_type: str) -> None:
    """An endpoint's IP address type must be one its service supports (dualstack needs both
    families), and its DNS record type must fit the IP address type."""
    if ip_type not in _DNS_RECORD_TYPES:
        raise AwsError("InvalidParameter", f"Invalid IpAddressType '{ip_type}'")
    if dns_type not in ("ipv4", "dualstack", "ipv6", "service-defined"):
        raise AwsError("InvalidParameter", f"Invalid DnsRecordIpType '{dns_type}'")
    supported = set(service.supported_ip_address_types or ("ipv4",))
    needed = {"ipv4", "ipv6"} if ip_type == "dualstack" else {ip_type}
    if not needed <= supported:
        raise AwsError(
            "InvalidParameter",
            f"The VPC endpoint service {name} does not support the IP address type {ip_type}.",
        )
    if dns_type not in _DNS_RECORD_TYPES[ip_type]:
        raise AwsError(
            "InvalidParameter",
            f"DnsRecordIpType {dns_type} is not supported for a VPC endpoint with IpAddressType {ip_type}.",
        )


@operation("ec2")
def create_vpc_endpoint(ctx: RequestContext, params: dict) -> dict:
    token = params.get("ClientToken")
    if token:
        for ep in ctx.tx.owned(VpcEndpoint, ctx.account, ctx.region):
            if ep.client_token == token:
                return {"VpcEndpoint": endpoint_out(ctx, ep), "ClientToken": token}
    etype = params.get("VpcEndpointType", "Gateway")
    if etype not in ("Interface", "Gateway", "GatewayLoadBalancer"):
        raise AwsError(
            "InvalidParameter", f"privlink does not support VPC endpoints of type {etype}."
        )
    vpc = get_vpc(ctx, params["VpcId"])
    name = params.get("ServiceName")
    if not name:
        raise AwsError("MissingParameter", "The request must contain the parameter ServiceName")
    service = find_service_by_name(ctx, name)
    if service is None or (not isinstance(service, AwsService) and service.state != "Available"):
        raise AwsError("InvalidServiceName", f"The Vpc Endpoint Service '{name}' does not exist")
    types = service.types if isinstance(service, AwsService) else (service.service_type,)
    if etype not in types:
        raise AwsError(
            "InvalidVpcEndpointType",
            f"The Vpc Endpoint Service '{name}' does not support the endpoint type {etype}.",
        )
    subnet_ids = list(params.get("SubnetIds") or []) + [
        c["SubnetId"] for c in params.get("SubnetConfigurations") or [] if c.get("SubnetId")
    ]
    if etype == "Gateway":
        if subnet_ids:
            raise AwsError(
                "InvalidParameter",
                "Subnet IDs are only supported for Interface and GatewayLoadBalancer type VPC Endpoints.",
            )
        if params.get("SecurityGroupIds"):
            raise AwsError(
                "InvalidParameter",
                "Security group IDs are only supported for Interface type VPC Endpoints.",
            )
    elif params.get("RouteTableIds"):
        raise AwsError(
            "InvalidParameter", "Route table IDs are only supported for Gateway type VPC Endpoints."
        )
    if etype == "GatewayLoadBalancer" and len(subnet_ids) != 1:
        raise AwsError(
            "InvalidParameter", "A Gateway Load Balancer endpoint needs exactly one subnet."
        )
    if etype in ("Interface", "GatewayLoadBalancer"):
        live = [
            e
            for e in ctx.tx.owned(VpcEndpoint, ctx.account, ctx.region)
            if e.vpc_id == vpc.id
            and e.endpoint_type != "Gateway"
            and e.state not in ("deleted", "deleting")
        ]
        if len(live) >= ctx.settings.quotas.interface_endpoints_per_vpc:
            raise AwsError(
                "VpcEndpointLimitExceeded",
                "You've reached the limit on the number of VPC endpoints that you can create in the VPC.",
            )
    subnets = _check_subnets(ctx, vpc, subnet_ids, service, []) if etype != "Gateway" else []
    groups = []
    if etype == "Interface":
        groups = _check_groups(ctx, vpc, params.get("SecurityGroupIds") or []) or [
            vpc.default_security_group_id
        ]
    route_tables = []
    for rid in params.get("RouteTableIds") or []:
        rt = ctx.tx.get(RouteTable, rid)
        if rt is None or rt.owner != (ctx.account, ctx.region) or rt.vpc_id != vpc.id:
            raise AwsError(
                "InvalidRouteTableId.NotFound", f"The routeTable ID '{rid}' does not exist"
            )
        route_tables.append(rid)
    policy = _check_policy(params.get("PolicyDocument"))
    ip_type = params.get("IpAddressType", "ipv4")
    dns_opts = params.get("DnsOptions") or {}
    dns_type = dns_opts.get("DnsRecordIpType") or _DEFAULT_DNS_RECORD_TYPE.get(ip_type, "ipv4")
    _check_ip_types(service, name, ip_type, dns_type)
    eid = new_id("vpce-")
    ep = VpcEndpoint(
        id=eid,
        account=ctx.account,
        region=ctx.region,
        vpc_id=vpc.id,
        service_name=name,
        service_id=service.id,
        service_owner=service.account,
        endpoint_type=etype,
        security_group_ids=groups,
        route_table_ids=route_tables,
        policy_document=policy
        if policy is not None
        else (FULL_ACCESS_POLICY if etype != "GatewayLoadBalancer" else None),
        ip_address_type=ip_type,
        dns_record_ip_type=dns_type if etype == "Interface" else "ipv4",
        private_dns_only_for_inbound_resolver_endpoint=dns_opts.get(
            "PrivateDnsOnlyForInboundResolverEndpoint"
        ),
        dns_suffix=new_dns_suffix(),
        connection_id=new_id("vpce-con-"),
        client_token=token,
        tags=tags_from_specs(params, "vpc-endpoint"),
        created_at=ctx.now,
        state_changed_at=ctx.now,
    )
    if etype == "Interface":
        wanted = params.get("PrivateDnsEnabled")
        if wanted is None:
            # AWS's default is true where the service offers a private name; privlink turns it on
            # only when that can succeed, rather than failing a call that did not ask for it
            wanted = (
                private_dns_problem(
                    ctx, ep, vpc, service, awaiting_acceptance=service.acceptance_required
                )
                is None
            )
        if wanted:
            problem = private_dns_problem(
                ctx, ep, vpc, service, awaiting_acceptance=service.acceptance_required
            )
            if problem:
                raise AwsError("InvalidParameter", problem)
        ep.private_dns_enabled = bool(wanted)
    elif params.get("PrivateDnsEnabled"):
        raise AwsError(
            "InvalidParameter", "Private DNS is only supported for Interface type VPC Endpoints."
        )
    _add_enis(ctx, ep, subnets)
    if service.acceptance_required:
        ep.state = "pendingAcceptance"
    else:
        ep.state = "pending"
        ctx.schedule(
            ctx.settings.timing.endpoint_pending, "privatelink.endpoint_ready", endpoint_id=eid
        )
    ctx.tx.put(ep)
    notify(ctx, "Connect", ep, service if isinstance(service, EndpointService) else None)
    out = {"VpcEndpoint": endpoint_out(ctx, ep)}
    if token:
        out["ClientToken"] = token
    return out


@on_timer("privatelink.endpoint_ready")
def _ready(tctx: TimerContext, args: dict) -> None:
    ep = tctx.tx.get(VpcEndpoint, args["endpoint_id"])
    if ep is None or ep.state != "pending":
        return
    mine = tctx.tx.edit(ep)
    problem = _provisioning_problem(tctx, ep)
    if problem:
        # the provider changed the service under a waiting endpoint (say it swapped its NLB
        # for one in fewer AZs before accepting): provisioning fails, as on AWS
        mine.state, mine.state_changed_at = "failed", tctx.now
        mine.last_error_code, mine.last_error_message = "InvalidParameter", problem
        return
    mine.state, mine.state_changed_at = "available", tctx.now


def _provisioning_problem(tctx: TimerContext, ep: VpcEndpoint) -> str | None:
    """Why an endpoint to a provider's service cannot come up, if the service no longer
    serves it."""
    svc = tctx.tx.get(EndpointService, ep.service_id) if ep.service_id else None
    if svc is None:
        return None  # an AWS service: always there
    if svc.state != "Available":
        return f"The VPC endpoint service {svc.service_name} is not available."
    served = service_zone_ids(tctx, svc)
    for sid in ep.subnet_ids:
        sub = tctx.tx.get(Subnet, sid)
        if sub is not None and sub.availability_zone_id not in served:
            return (
                f"The VPC endpoint service {svc.service_name} does not support the "
                f"availability zone of the subnet: {sid}."
            )
    return None


_FILTERS = {
    "vpc-endpoint-id": lambda e: e.id,
    "vpc-id": lambda e: e.vpc_id,
    "service-name": lambda e: e.service_name,
    "vpc-endpoint-state": lambda e: e.state,
    "vpc-endpoint-type": lambda e: e.endpoint_type,
    "ip-address-type": lambda e: e.ip_address_type,
    "service-region": lambda e: e.region,
}


@operation("ec2")
def describe_vpc_endpoints(ctx: RequestContext, params: dict) -> dict:
    if params.get("VpcEndpointIds"):
        eps = [get_endpoint(ctx, eid) for eid in dict.fromkeys(params["VpcEndpointIds"])]
    else:
        eps = list(ctx.tx.owned(VpcEndpoint, ctx.account, ctx.region))
    eps = apply_filters(eps, params.get("Filters"), _FILTERS)
    page, token = paginate(ctx, eps, params)
    return {"VpcEndpoints": [endpoint_out(ctx, e) for e in page], "NextToken": token}


@operation("ec2")
def modify_vpc_endpoint(ctx: RequestContext, params: dict) -> dict:
    ep = get_endpoint(ctx, params["VpcEndpointId"])
    if ep.state in ("deleting", "deleted"):
        raise AwsError("IncorrectState", f"The VPC endpoint {ep.id} is being deleted.")
    vpc = get_vpc(ctx, ep.vpc_id)
    mine = ctx.tx.edit(ep)
    service = _service_of(ctx, ep) or aws_service_by_name(ep.region, ep.service_name)
    if service is None:
        raise AwsError(
            "InvalidServiceName", f"The Vpc Endpoint Service '{ep.service_name}' does not exist"
        )
    remove = params.get("RemoveSubnetIds") or []
    add = params.get("AddSubnetIds") or []
    if (add or remove) and ep.endpoint_type == "Gateway":
        raise AwsError(
            "InvalidParameter",
            "Subnet IDs are only supported for Interface and GatewayLoadBalancer type VPC Endpoints.",
        )
    for sid in remove:
        if sid not in mine.subnet_ids:
            raise AwsError(
                "InvalidParameter",
                f"The subnet {sid} is not associated with the VPC endpoint {ep.id}.",
            )
    if remove:
        _remove_enis(ctx, mine, remove)
    if add:
        existing = [ctx.tx.get(Subnet, sid) for sid in mine.subnet_ids]
        new = _check_subnets(ctx, vpc, add, service, [s for s in existing if s is not None])
        _add_enis(ctx, mine, new)
    if ep.endpoint_type == "Interface" and (
        params.get("AddSecurityGroupIds") or params.get("RemoveSecurityGroupIds")
    ):
        groups = list(mine.security_group_ids)
        for gid in _check_groups(ctx, vpc, params.get("AddSecurityGroupIds") or []):
            if gid not in groups:
                groups.append(gid)
        for gid in params.get("RemoveSecurityGroupIds") or []:
            if gid not in groups:
                raise AwsError(
                    "InvalidGroup.NotFound",
                    f"The security group '{gid}' is not associated with {ep.id}",
                )
            groups.remove(gid)
        if not groups:
            raise AwsError(
                "InvalidParameter", "A VPC endpoint must keep at least one security group."
            )
        mine.security_group_ids = groups
        for eid in mine.network_interface_ids:
            eni = ctx.tx.get(NetworkInterface, eid)
            if eni is not None:
                ctx.tx.edit(eni).security_group_ids = list(groups)
    if params.get("ResetPolicy"):
        mine.policy_document = FULL_ACCESS_POLICY
    elif params.get("PolicyDocument") is not None:
        mine.policy_document = _check_policy(params["PolicyDocument"])
    for add_key, rem_key in (("AddRouteTableIds", "RemoveRouteTableIds"),):
        for rid in params.get(add_key) or []:
            rt = ctx.tx.get(RouteTable, rid)
            if rt is None or rt.owner != (ctx.account, ctx.region) or rt.vpc_id != vpc.id:
                raise AwsError(
                    "InvalidRouteTableId.NotFound", f"The routeTable ID '{rid}' does not exist"
                )
            if rid not in mine.route_table_ids:
                mine.route_table_ids.append(rid)
        for rid in params.get(rem_key) or []:
            if rid in mine.route_table_ids:
                mine.route_table_ids.remove(rid)
    if params.get("IpAddressType") or (params.get("DnsOptions") or {}).get("DnsRecordIpType"):
        ip_type = params.get("IpAddressType") or mine.ip_address_type
        dns_type = (params.get("DnsOptions") or {}).get("DnsRecordIpType") or (
            mine.dns_record_ip_type
            if not params.get("IpAddressType")
            else _DEFAULT_DNS_RECORD_TYPE.get(ip_type, "ipv4")
        )
        _check_ip_types(service, ep.service_name, ip_type, dns_type)
        mine.ip_address_type, mine.dns_record_ip_type = ip_type, dns_type
    if params.get("DnsOptions"):
        opts = params["DnsOptions"]
        if "PrivateDnsOnlyForInboundResolverEndpoint" in opts:
            mine.private_dns_only_for_inbound_resolver_endpoint = opts[
                "PrivateDnsOnlyForInboundResolverEndpoint"
            ]
    if params.get("PrivateDnsEnabled") is not None:
        if ep.endpoint_type != "Interface":
            raise AwsError(
                "InvalidParameter",
                "Private DNS is only supported for Interface type VPC Endpoints.",
            )
        if params["PrivateDnsEnabled"] and not ep.private_dns_enabled:
            problem = private_dns_problem(
                ctx, mine, vpc, service, awaiting_acceptance=ep.state == "pendingAcceptance"
            )
            if problem:
                raise AwsError("InvalidParameter", problem)
        mine.private_dns_enabled = params["PrivateDnsEnabled"]
    return {"Return": True}


@operation("ec2")
def delete_vpc_endpoints(ctx: RequestContext, params: dict) -> dict:
    unsuccessful = []
    for eid in params["VpcEndpointIds"]:
        ep = ctx.tx.get(VpcEndpoint, eid)
        if ep is None or ep.owner != (ctx.account, ctx.region) or ep.state == "deleted":
            unsuccessful.append(
                failed_item(eid, "InvalidVpcEndpoint.NotFound", endpoint_not_found(eid))
            )
            continue
        if ep.state == "deleting":
            continue
        mine = ctx.tx.edit(ep)
        _set_state(ctx, mine, "deleting")
        ctx.schedule(
            ctx.settings.timing.endpoint_deleting, "privatelink.endpoint_deleted", endpoint_id=eid
        )
        notify(ctx, "Delete", mine, _service_of(ctx, ep))
    return {"Unsuccessful": unsuccessful}


@on_timer("privatelink.endpoint_deleted")
def _deleted(tctx: TimerContext, args: dict) -> None:
    ep = tctx.tx.get(VpcEndpoint, args["endpoint_id"])
    if ep is None or ep.state != "deleting":
        return
    mine = tctx.tx.edit(ep)
    for eid in mine.network_interface_ids:
        eni = tctx.tx.get(NetworkInterface, eid)
        if eni is not None:
            tctx.tx.delete(eni)
    mine.network_interface_ids = []
    mine.private_dns_enabled = False
    mine.state, mine.state_changed_at = "deleted", tctx.now
    from .notifications import cleanup_for

    cleanup_for(tctx, endpoint=mine)
    tctx.schedule(
        tctx.settings.timing.deleted_endpoint_visible,
        "privatelink.endpoint_forget",
        endpoint_id=ep.id,
    )


@on_timer("privatelink.endpoint_forget")
def _forget(tctx: TimerContext, args: dict) -> None:
    ep = tctx.tx.get(VpcEndpoint, args["endpoint_id"])
    if ep is not None and ep.state == "deleted":
        tctx.tx.delete(ep)


# -- the provider's view: connections and the acceptance gate ---------------------------------


def _my_service(ctx: RequestContext, sid: str) -> EndpointService:
    from .endpoint_services import get_service

    return get_service(ctx, sid)


def connection_out(ctx: RequestContext, ep: VpcEndpoint, svc: EndpointService) -> dict:
    vpc = ctx.tx.get(Vpc, ep.vpc_id)
    subnets = [s for s in (ctx.tx.get(Subnet, sid) for sid in ep.subnet_ids) if s is not None]
    return {
        "ServiceId": svc.id,
        "VpcEndpointId": ep.id,
        "VpcEndpointOwner": ep.account,
        "VpcEndpointState": ep.state,
        "CreationTimestamp": ep.created_at,
        "DnsEntries": endpoint_dns_entries(ctx, ep, vpc, subnets) if vpc else [],
        "NetworkLoadBalancerArns": list(svc.network_load_balancer_arns),
        "GatewayLoadBalancerArns": list(svc.gateway_load_balancer_arns),
        "IpAddressType": ep.ip_address_type,
        "VpcEndpointConnectionId": ep.connection_id,
        "Tags": [],
        "VpcEndpointRegion": ep.region,
    }


@operation("ec2")
def describe_vpc_endpoint_connections(ctx: RequestContext, params: dict) -> dict:
    mine = {s.id: s for s in ctx.tx.owned(EndpointService, ctx.account, ctx.region)}
    eps = [e for e in ctx.tx.all(VpcEndpoint) if e.service_id in mine and e.state != "deleted"]
    eps = apply_filters(
        eps,
        params.get("Filters"),
        {
            "service-id": lambda e: e.service_id,
            "vpc-endpoint-owner": lambda e: e.account,
            "vpc-endpoint-state": lambda e: e.state,
            "vpc-endpoint-id": lambda e: e.id,
            "ip-address-type": lambda e: e.ip_address_type,
            "vpc-endpoint-region": lambda e: e.region,
        },
    )
    page, token = paginate(ctx, eps, params, low=5, high=1000)
    return {
        "VpcEndpointConnections": [connection_out(ctx, e, mine[e.service_id]) for e in page],
        "NextToken": token,
    }


def _decide(ctx: RequestContext, params: dict, accept: bool) -> dict:
    svc = _my_service(ctx, params["ServiceId"])
    unsuccessful = []
    for eid in params["VpcEndpointIds"]:
        ep = ctx.tx.get(VpcEndpoint, eid)
        if ep is None or ep.service_id != svc.id or ep.state in ("deleted", "deleting"):
            unsuccessful.append(
                failed_item(eid, "InvalidVpcEndpoint.NotFound", endpoint_not_found(eid))
            )
            continue
        allowed_from = (
            ("pendingAcceptance",) if accept else ("pendingAcceptance", "pending", "available")
        )
        if ep.state not in allowed_from:
            unsuccessful.append(
                failed_item(
                    eid,
                    "InvalidVpcEndpointState",
                    f"Vpc Endpoint {eid} is in state {ep.state} and cannot be {'accepted' if accept else 'rejected'}.",
                )
            )
            continue
        mine = ctx.tx.edit(ep)
        if accept:
            _set_state(ctx, mine, "pending")
            ctx.schedule(
                ctx.settings.timing.endpoint_pending, "privatelink.endpoint_ready", endpoint_id=eid
            )
            notify(ctx, "Accept", mine, svc)
        else:
            _set_state(ctx, mine, "rejected")
            notify(ctx, "Reject", mine, svc)
    return {"Unsuccessful": unsuccessful}


@operation("ec2")
def accept_vpc_endpoint_connections(ctx: RequestContext, params: dict) -> dict:
    return _decide(ctx, params, accept=True)


@operation("ec2")
def reject_vpc_endpoint_connections(ctx: RequestContext, params: dict) -> dict:
    return _decide(ctx, params, accept=False)


# -- prefix lists (Terraform reads them for every endpoint) --------------------------------


@operation("ec2")
def describe_prefix_lists(ctx: RequestContext, params: dict) -> dict:
    rows = []
    for svc in aws_services(ctx.region):
        pl = svc.prefix_list_id()
        if pl:
            rows.append(_PrefixRow(pl, svc.service_name))
    if params.get("PrefixListIds"):
        have = {r.id for r in rows}
        for p in params["PrefixListIds"]:
            if p not in have:
                raise AwsError(
                    "InvalidPrefixListID.NotFound", f"The prefix list ID '{p}' does not exist"
                )
        rows = [r for r in rows if r.id in params["PrefixListIds"]]
    rows = apply_filters(
        rows,
        params.get("Filters"),
        {"prefix-list-id": lambda r: r.id, "prefix-list-name": lambda r: r.name},
    )
    page, token = paginate(ctx, rows, params, low=5, high=1000)
    return {
        "PrefixLists": [
            {"PrefixListId": r.id, "PrefixListName": r.name, "Cidrs": []} for r in page
        ],
        "NextToken": token,
    }


class _PrefixRow:
    tags: dict = {}

    def __init__(self, pid, name):
        self.id, self.name = pid, name


# -- what endpoints block ----------------------------------------------------------------


def _vpc_deps(ctx: RequestContext, vpc: Vpc) -> list[str]:
    return [
        e.id
        for e in ctx.tx.owned(VpcEndpoint, ctx.account, ctx.region)
        if e.vpc_id == vpc.id and e.state != "deleted"
    ]


def _group_deps(ctx: RequestContext, group: SecurityGroup) -> list[str]:
    return [
        e.id
        for e in ctx.tx.owned(VpcEndpoint, ctx.account, ctx.region)
        if group.id in e.security_group_ids and e.state not in ("deleted",)
    ]


VPC_DEPENDENCY_HOOKS.append(_vpc_deps)
GROUP_DEPENDENCY_HOOKS.append(_group_deps)
