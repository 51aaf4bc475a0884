"""Load balancers: one node per Availability Zone, each an ENI with a private address from
its subnet; ``provisioning`` until a durable timer makes them ``active``; attributes with
AWS's defaults per type; subnets, security groups and address type changes.

Other layers may veto a delete or the removal of an AZ (the PrivateLink module appends to
:data:`LB_IN_USE_HOOKS` and :data:`LB_ZONE_REMOVAL_HOOKS`).
"""

from __future__ import annotations

from collections.abc import Callable

from ...api.errors import AwsError
from ...state.ec2 import NetworkInterface, SecurityGroup, Subnet, Vpc
from ...state.elbv2 import Listener, LoadBalancer, LoadBalancerNode
from ..base import RequestContext, TimerContext, on_timer, operation
from ..ec2.enis import create_service_eni
from .common import (
    ALB_HOSTED_ZONES,
    NLB_HOSTED_ZONES,
    attribute_list,
    attribute_pairs,
    check_arn,
    check_enum,
    check_name,
    find_lb,
    get_lb,
    hex16,
    invalid_config,
    lb_arn,
    paginate,
    parse_bool,
    parse_int,
    tags_from_list,
    validation,
)

# fn(tx, lb) -> None, or a short description of what uses the load balancer (e.g. the id of
# a VPC endpoint service); anything but None makes DeleteLoadBalancer fail with ResourceInUse.
LB_IN_USE_HOOKS: list[Callable[[object, LoadBalancer], str | None]] = []
# fn(tx, lb, removed_zone_ids) -> None, or the message of an InvalidConfigurationRequest that
# refuses SetSubnets removing those Availability Zones (e.g. endpoints still use them).
LB_ZONE_REMOVAL_HOOKS: list[Callable[[object, LoadBalancer, list[str]], str | None]] = []

LB_TYPES = ["application", "network", "gateway"]
SCHEMES = ["internet-facing", "internal"]
IP_ADDRESS_TYPES = ["ipv4", "dualstack", "dualstack-without-public-ipv4"]

_BOOL = "bool"
# every load balancer attribute AWS knows: key -> (kind, types that accept it)
_ALL = ("application", "network", "gateway")
_APP_NET = ("application", "network")
_APP = ("application",)
_NET = ("network",)
KNOWN_ATTRIBUTES: dict[str, tuple[str, tuple[str, ...]]] = {
    "deletion_protection.enabled": (_BOOL, _ALL),
    "load_balancing.cross_zone.enabled": (_BOOL, _ALL),
    "access_logs.s3.enabled": (_BOOL, _APP_NET),
    "access_logs.s3.bucket": ("str", _APP_NET),
    "access_logs.s3.prefix": ("str", _APP_NET),
    "ipv6.deny_all_igw_traffic": (_BOOL, _APP_NET),
    "zonal_shift.config.enabled": (_BOOL, _APP_NET),
    "dns_record.client_routing_policy": ("routing", _NET),
    "secondary_ips.auto_assigned.per_subnet": ("secondary", _NET),
    "idle_timeout.timeout_seconds": ("idle", _APP),
    "client_keep_alive.seconds": ("keepalive", _APP),
    "connection_logs.s3.enabled": (_BOOL, _APP),
    "connection_logs.s3.bucket": ("str", _APP),
    "connection_logs.s3.prefix": ("str", _APP),
    "health_check_logs.s3.enabled": (_BOOL, _APP),
    "health_check_logs.s3.bucket": ("str", _APP),
    "health_check_logs.s3.prefix": ("str", _APP),
    "routing.http.desync_mitigation_mode": ("desync", _APP),
    "routing.http.drop_invalid_header_fields.enabled": (_BOOL, _APP),
    "routing.http.preserve_host_header.enabled": (_BOOL, _APP),
    "routing.http.x_amzn_tls_version_and_cipher_suite.enabled": (_BOOL, _APP),
    "routing.http.xff_client_port.enabled": (_BOOL, _APP),
    "routing.http.xff_header_processing.mode": ("xff", _APP),
    "routing.http2.enabled": (_BOOL, _APP),
    "waf.fail_open.enabled": (_BOOL, _APP),
}
_CHOICES = {
    "routing": [
        "any_availability_zone",
        "availability_zone_affinity",
        "partial_availability_zone_affinity",
    ],
    "desync": ["monitor", "defensive", "strictest"],
    "xff": ["append", "preserve", "remove"],
}


def default_attributes(lb_type: str, scheme: str) -> dict[str, str]:
    internal = "true" if scheme == "internal" else "false"
    if lb_type == "gateway":
        return {
            "deletion_protection.enabled": "false",
            "load_balancing.cross_zone.enabled": "false",
        }
    common = {
        "deletion_protection.enabled": "false",
        "access_logs.s3.enabled": "false",
        "access_logs.s3.bucket": "",
        "access_logs.s3.prefix": "",
        "ipv6.deny_all_igw_traffic": internal,
        "zonal_shift.config.enabled": "false",
    }
    if lb_type == "network":
        return {
            **common,
            "load_balancing.cross_zone.enabled": "false",
            "dns_record.client_routing_policy": "any_availability_zone",
            "secondary_ips.auto_assigned.per_subnet": "0",
        }
    return {
        **common,
        "load_balancing.cross_zone.enabled": "true",
        "idle_timeout.timeout_seconds": "60",
        "client_keep_alive.seconds": "3600",
        "connection_logs.s3.enabled": "false",
        "connection_logs.s3.bucket": "",
        "connection_logs.s3.prefix": "",
        "health_check_logs.s3.enabled": "false",
        "health_check_logs.s3.bucket": "",
        "health_check_logs.s3.prefix": "",
        "routing.http.desync_mitigation_mode": "defensive",
        "routing.http.drop_invalid_header_fields.enabled": "false",
        "routing.http.preserve_host_header.enabled": "false",
        "routing.http.x_amzn_tls_version_and_cipher_suite.enabled": "false",
        "routing.http.xff_client_port.enabled": "false",
        "routing.http.xff_header_processing.mode": "append",
        "routing.http2.enabled": "true",
        "waf.fail_open.enabled": "false",
    }


def eni_description(lb: LoadBalancer) -> str:
    """What AWS writes on a load balancer node's ENI (Terraform's delete poll looks for it)."""
    return f"ELB {lb.arn_suffix}"


def dns_name(lb_type: str, scheme: str, name: str, lb_id: str, region: str) -> str:
    """NLB: ``<name>-<id>.elb.<region>.amazonaws.com`` for both schemes (the id is the ARN's;
    AWS adds no ``internal-`` prefix to NLB names). ALB: ``[internal-]<name>-<n>.<region>.elb
    .amazonaws.com``. Gateway Load Balancers have no DNS name."""
    if lb_type == "network":
        return f"{name}-{lb_id}.elb.{region}.amazonaws.com"
    if lb_type == "application":
        number = int(lb_id[:8], 16) % 10**10
        prefix = "internal-" if scheme == "internal" else ""
        return f"{prefix}{name}-{number}.{region}.elb.amazonaws.com"
    return ""


def hosted_zone(lb_type: str, region: str) -> str:
    if lb_type == "network":
        return NLB_HOSTED_ZONES.get(region, "")
    if lb_type == "application":
        return ALB_HOSTED_ZONES.get(region, "")
    return ""


# -- output


def lb_out(lb: LoadBalancer) -> dict:
    zones = []
    for node in sorted(lb.nodes, key=lambda n: n.availability_zone):
        addresses = []
        if lb.type == "network" and lb.scheme == "internal":
            addresses.append({"PrivateIPv4Address": node.private_ip})
        elif node.allocation_id:
            addresses.append({"AllocationId": node.allocation_id})
        zones.append(
            {
                "ZoneName": node.availability_zone,
                "SubnetId": node.subnet_id,
                "LoadBalancerAddresses": addresses,
            }
        )
    out = {
        "LoadBalancerArn": lb.arn,
        "DNSName": lb.dns_name or None,
        "CanonicalHostedZoneId": lb.canonical_hosted_zone_id or None,
        "CreatedTime": lb.created_at,
        "LoadBalancerName": lb.name,
        "Scheme": lb.scheme,
        "VpcId": lb.vpc_id,
        "State": {"Code": lb.state, "Reason": lb.state_reason},
        "Type": lb.type,
        "AvailabilityZones": zones,
        "IpAddressType": lb.ip_address_type,
    }
    if lb.security_groups:
        out["SecurityGroups"] = list(lb.security_groups)
        if lb.type == "network":
            out["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] = (
                lb.enforce_sg_inbound_on_privatelink or "on"
            )
    return out


# -- subnets and nodes


def _resolve_subnets(
    ctx: RequestContext, params: dict, lb_type: str, scheme: str, *, required: bool = True
) -> tuple[list[tuple[Subnet, dict]], str | None]:
    subnets = params.get("Subnets")
    mappings = params.get("SubnetMappings")
    if subnets and mappings:
        raise validation("You can specify subnets or subnet mappings, but not both")
    specs = [{"SubnetId": s} for s in subnets] if subnets else list(mappings or [])
    if not specs:
        if lb_type == "application":
            raise validation(
                "At least two subnets in two different Availability Zones must be specified"
            )
        raise validation("At least one subnet must be specified")
    out: list[tuple[Subnet, dict]] = []
    seen_zones: set[str] = set()
    vpc_id = None
    for spec in specs:
        sid = spec.get("SubnetId")
        if not sid:
            raise validation("A subnet ID must be specified in each subnet mapping")
        subnet = ctx.tx.get(Subnet, sid)
        if subnet is None or subnet.owner != (ctx.account, ctx.region):
            raise AwsError("SubnetNotFound", f"The subnet ID '{sid}' is not valid")
        if any(s.id == sid for s, _ in out):
            raise validation(f"Subnet '{sid}' is specified more than once")
        if subnet.availability_zone_id in seen_zones:
            raise invalid_config(
                "A load balancer cannot be attached to multiple subnets in the same Availability Zone"
            )
        seen_zones.add(subnet.availability_zone_id)
        if vpc_id is None:
            vpc_id = subnet.vpc_id
        elif subnet.vpc_id != vpc_id:
            raise AwsError(
                "InvalidSubnet", "All the subnets of a load balancer must belong to the same VPC"
            )
        if spec.get("PrivateIPv4Address"):
            if lb_type != "network":
                raise invalid_config(
                    "Private IPv4 addresses can be specified only for Network Load Balancers"
                )
            if scheme != "internal":
                raise invalid_config(
                    "Private IPv4 addresses can be specified only for internal load balancers"
                )
        if spec.get("AllocationId"):
            if lb_type != "network" or scheme == "internal":
                raise invalid_config(
                    "Elastic IP addresses can be assigned only to internet-facing Network Load Balancers"
                )
            raise AwsError(
                "AllocationIdNotFound", f"Elastic IP allocation '{spec['AllocationId']}' not found"
            )
        if spec.get("IPv6Address") or spec.get("SourceNatIpv6Prefix"):
            raise AwsError("InvalidSubnet", f"Subnet '{sid}' does not have an IPv6 CIDR block")
        out.append((subnet, spec))
    if lb_type == "application" and len(seen_zones) < 2:
        raise validation(
            "At least two subnets in two different Availability Zones must be specified"
        )
    return out, vpc_id


def _make_node(
    ctx: RequestContext, lb: LoadBalancer, subnet: Subnet, spec: dict
) -> LoadBalancerNode:
    iface = {"network": "network_load_balancer", "gateway": "gateway_load_balancer"}.get(
        lb.type, "interface"
    )
    owner = "amazon-elb" if lb.type == "application" else "amazon-aws"
    try:
        eni = create_service_eni(
            ctx.tx,
            subnet,
            now=ctx.now,
            description=eni_description(lb),
            interface_type=iface,
            requester_id="amazon-elb",
            created_by=lb.arn,
            security_group_ids=list(lb.security_groups),
            private_ip=spec.get("PrivateIPv4Address"),
            attachment_owner=owner,
        )
    except AwsError as e:
        if e.code == "InsufficientFreeAddressesInSubnet":
            raise invalid_config(
                f"Not enough IP space available in {subnet.id}. ELB requires at least 8 free IP "
                "addresses in each subnet."
            ) from None
        if e.code == "InvalidIPAddress.InUse":
            raise invalid_config(
                f"The private IPv4 address {spec.get('PrivateIPv4Address')} is already in use"
            ) from None
        raise validation(e.message) from None
    return LoadBalancerNode(
        subnet_id=subnet.id,
        availability_zone=subnet.availability_zone,
        availability_zone_id=subnet.availability_zone_id,
        eni_id=eni.id,
        private_ip=eni.private_ip_address,
    )


def _drop_node(ctx: RequestContext, node: LoadBalancerNode) -> None:
    eni = ctx.tx.get(NetworkInterface, node.eni_id)
    if eni is not None:
        ctx.tx.delete(eni)


def _check_security_groups(ctx: RequestContext, vpc_id: str, groups: list[str]) -> list[str]:
    out = []
    for gid in groups:
        g = ctx.tx.get(SecurityGroup, gid)
        if g is None or g.owner != (ctx.account, ctx.region):
            raise AwsError("InvalidSecurityGroup", f"Security group '{gid}' does not exist")
        if g.vpc_id != vpc_id:
            raise AwsError(
                "InvalidSecurityGroup",
                f"Security group '{gid}' does not belong to VPC '{vpc_id}'",
            )
        if gid not in out:
            out.append(gid)
    if len(out) > 5:
        raise validation("A load balancer can have at most 5 security groups")
    return out


def _check_ip_type(lb_type: str, ip_type: str | None) -> str:
    ip_type = ip_type or "ipv4"
    check_enum(ip_type, IP_ADDRESS_TYPES, "ipAddressType")
    if ip_type == "dualstack-without-public-ipv4" and lb_type != "application":
        raise validation(
            "IP address type 'dualstack-without-public-ipv4' is supported only by Application Load Balancers"
        )
    if ip_type != "ipv4":
        raise AwsError(
            "InvalidSubnet",
            f"IP address type '{ip_type}' needs subnets with IPv6 CIDR blocks; privlink's subnets are IPv4 only",
        )
    return ip_type


# -- operations


def _same_settings(lb: LoadBalancer, params: dict, lb_type: str, scheme: str) -> bool:
    subnets = params.get("Subnets") or [
        m.get("SubnetId") for m in params.get("SubnetMappings") or []
    ]
    return (
        lb.type == lb_type
        and lb.scheme == scheme
        and sorted(subnets) == sorted(n.subnet_id for n in lb.nodes)
        and (params.get("IpAddressType") or "ipv4") == lb.ip_address_type
        and (
            not params.get("SecurityGroups")
            or sorted(params["SecurityGroups"]) == sorted(lb.security_groups)
        )
    )


@operation("elbv2")
def create_load_balancer(ctx: RequestContext, params: dict) -> dict:
    name = params["Name"]
    check_name(name, "Load balancer", forbid_internal=True)
    lb_type = params.get("Type") or "application"
    check_enum(lb_type, LB_TYPES, "type")
    if lb_type == "gateway" and params.get("Scheme"):
        raise validation("A scheme cannot be specified for a Gateway Load Balancer")
    scheme = params.get("Scheme") or ("internal" if lb_type == "gateway" else "internet-facing")
    check_enum(scheme, SCHEMES, "scheme")
    tags = tags_from_list(params.get("Tags"))
    for lb in ctx.tx.owned(LoadBalancer, ctx.account, ctx.region):
        if lb.name == name:
            if _same_settings(lb, params, lb_type, scheme):
                # as AWS: creating a load balancer again with the same settings succeeds
                return {"LoadBalancers": [lb_out(lb)]}
            raise AwsError(
                "DuplicateLoadBalancerName",
                f"A load balancer with the name '{name}' already exists",
            )
    quota = ctx.settings.quotas.network_load_balancers_per_region
    same_type = [
        lb for lb in ctx.tx.owned(LoadBalancer, ctx.account, ctx.region) if lb.type == lb_type
    ]
    if len(same_type) >= quota:
        raise AwsError(
            "TooManyLoadBalancers",
            f"The maximum number of load balancers of type '{lb_type}' ({quota}) has been reached",
        )
    ip_type = _check_ip_type(lb_type, params.get("IpAddressType"))
    pairs, vpc_id = _resolve_subnets(ctx, params, lb_type, scheme)
    groups = list(params.get("SecurityGroups") or [])
    if lb_type == "gateway" and groups:
        raise validation("Security groups cannot be specified for a Gateway Load Balancer")
    if lb_type == "application" and not groups:
        vpc = ctx.tx.get(Vpc, vpc_id)
        groups = [vpc.default_security_group_id] if vpc and vpc.default_security_group_id else []
    groups = _check_security_groups(ctx, vpc_id, groups)
    if params.get("CustomerOwnedIpv4Pool"):
        raise validation("Customer-owned address pools are for load balancers on Outposts")
    lb_id = hex16()
    arn = lb_arn(ctx.region, ctx.account, lb_type, name, lb_id)
    lb = LoadBalancer(
        id=arn,
        account=ctx.account,
        region=ctx.region,
        name=name,
        lb_id=lb_id,
        type=lb_type,
        scheme=scheme,
        vpc_id=vpc_id,
        dns_name=dns_name(lb_type, scheme, name, lb_id, ctx.region),
        canonical_hosted_zone_id=hosted_zone(lb_type, ctx.region),
        state="provisioning",
        ip_address_type=ip_type,
        security_groups=groups,
        enforce_sg_inbound_on_privatelink="on" if (lb_type == "network" and groups) else None,
        attributes=default_attributes(lb_type, scheme),
        tags=tags,
        created_at=ctx.now,
    )
    lb.nodes = [_make_node(ctx, lb, subnet, spec) for subnet, spec in pairs]
    ctx.tx.put(lb)
    ctx.schedule(
        ctx.settings.timing.load_balancer_provisioning, "elbv2.load_balancer_active", arn=arn
    )
    return {"LoadBalancers": [lb_out(lb)]}


@on_timer("elbv2.load_balancer_active")
def _load_balancer_active(tctx: TimerContext, args: dict) -> None:
    lb = tctx.tx.get(LoadBalancer, args["arn"])
    if lb is not None and lb.state == "provisioning":
        tctx.tx.edit(lb).state = "active"


def _ordered(lbs) -> list[LoadBalancer]:
    return sorted(lbs, key=lambda lb: (lb.created_at, lb.id))


@operation("elbv2")
def describe_load_balancers(ctx: RequestContext, params: dict) -> dict:
    arns = params.get("LoadBalancerArns")
    names = params.get("Names")
    if arns and names:
        raise validation(
            "Load balancer names and load balancer ARNs cannot be specified at the same time"
        )
    if arns:
        if len(arns) > 20:
            raise validation("At most 20 load balancer ARNs can be specified")
        found = []
        for arn in dict.fromkeys(arns):
            check_arn(arn, "loadbalancer", "load balancer")
            lb = find_lb(ctx, arn)
            if lb is None:
                raise AwsError("LoadBalancerNotFound", "One or more load balancers not found")
            found.append(lb)
        lbs = _ordered(found)
    elif names:
        if len(names) > 20:
            raise validation("At most 20 load balancer names can be specified")
        mine = {lb.name: lb for lb in ctx.tx.owned(LoadBalancer, ctx.account, ctx.region)}
        missing = [n for n in dict.fromkeys(names) if n not in mine]
        if missing:
            raise AwsError(
                "LoadBalancerNotFound", f"Load balancers '[{', '.join(missing)}]' not found"
            )
        lbs = _ordered(mine[n] for n in dict.fromkeys(names))
    else:
        lbs = _ordered(ctx.tx.owned(LoadBalancer, ctx.account, ctx.region))
    page, marker = paginate(lbs, params)
    return {"LoadBalancers": [lb_out(lb) for lb in page], "NextMarker": marker}


@operation("elbv2")
def delete_load_balancer(ctx: RequestContext, params: dict) -> dict:
    arn = params["LoadBalancerArn"]
    check_arn(arn, "loadbalancer", "load balancer")
    lb = find_lb(ctx, arn)
    if lb is None:
        return {}
    if lb.attributes.get("deletion_protection.enabled") == "true":
        raise AwsError(
            "OperationNotPermitted",
            f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled",
        )
    for hook in LB_IN_USE_HOOKS:
        user = hook(ctx.tx, lb)
        if user:
            raise AwsError(
                "ResourceInUse",
                f"Load balancer '{arn}' cannot be deleted because it is currently associated "
                f"with another service ({user})",
            )
    for ln in list(ctx.tx.all(Listener)):
        if ln.load_balancer_arn == arn:
            ctx.tx.delete(ln)
    for node in lb.nodes:
        _drop_node(ctx, node)
    ctx.tx.delete(lb)
    return {}


@operation("elbv2")
def set_subnets(ctx: RequestContext, params: dict) -> dict:
    lb = get_lb(ctx, params["LoadBalancerArn"])
    pairs, vpc_id = _resolve_subnets(ctx, params, lb.type, lb.scheme)
    if vpc_id != lb.vpc_id:
        raise AwsError(
            "InvalidSubnet", f"The subnets must belong to the load balancer's VPC '{lb.vpc_id}'"
        )
    ip_type = lb.ip_address_type
    if params.get("IpAddressType"):
        ip_type = _check_ip_type(lb.type, params["IpAddressType"])
    wanted = {s.availability_zone_id for s, _ in pairs}
    removed = [n.availability_zone_id for n in lb.nodes if n.availability_zone_id not in wanted]
    if removed:
        for hook in LB_ZONE_REMOVAL_HOOKS:
            message = hook(ctx.tx, lb, removed)
            if message:
                raise invalid_config(message)
    mine = ctx.tx.edit(lb)
    keep = {n.subnet_id: n for n in lb.nodes}
    nodes: list[LoadBalancerNode] = []
    for subnet, spec in pairs:
        node = keep.pop(subnet.id, None)
        wanted_ip = spec.get("PrivateIPv4Address")
        if node is not None and (not wanted_ip or wanted_ip == node.private_ip):
            nodes.append(node)
            continue
        if node is not None:
            _drop_node(ctx, node)
        nodes.append(_make_node(ctx, mine, subnet, spec))
    for node in keep.values():
        _drop_node(ctx, node)
    mine.nodes = nodes
    mine.ip_address_type = ip_type
    out = lb_out(mine)
    return {"AvailabilityZones": out["AvailabilityZones"], "IpAddressType": ip_type}


@operation("elbv2")
def set_security_groups(ctx: RequestContext, params: dict) -> dict:
    lb = get_lb(ctx, params["LoadBalancerArn"])
    if lb.type == "gateway":
        raise invalid_config("Security groups cannot be set on a Gateway Load Balancer")
    groups = _check_security_groups(ctx, lb.vpc_id, list(params.get("SecurityGroups") or []))
    enforce = params.get("EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic")
    check_enum(enforce, ["on", "off"], "enforceSecurityGroupInboundRulesOnPrivateLinkTraffic")
    if lb.type == "application":
        if enforce is not None:
            raise invalid_config(
                "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic applies only to Network Load Balancers"
            )
        if not groups:
            raise validation("An Application Load Balancer must have at least one security group")
    else:
        if groups and not lb.security_groups:
            raise invalid_config(
                "You cannot add security groups to a Network Load Balancer that was created "
                "without security groups"
            )
        if not groups and lb.security_groups:
            raise invalid_config(
                "You cannot remove all security groups from a Network Load Balancer that was "
                "created with security groups"
            )
        if enforce is not None and not groups:
            raise invalid_config(
                "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic can be set only on a "
                "Network Load Balancer with security groups"
            )
    mine = ctx.tx.edit(lb)
    mine.security_groups = groups
    if lb.type == "network" and groups:
        mine.enforce_sg_inbound_on_privatelink = (
            enforce or lb.enforce_sg_inbound_on_privatelink or "on"
        )
    for node in lb.nodes:
        eni = ctx.tx.get(NetworkInterface, node.eni_id)
        if eni is not None:
            ctx.tx.edit(eni).security_group_ids = list(groups)
    out = {"SecurityGroupIds": groups}
    if lb.type == "network" and groups:
        out["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] = (
            mine.enforce_sg_inbound_on_privatelink
        )
    return out


@operation("elbv2")
def set_ip_address_type(ctx: RequestContext, params: dict) -> dict:
    lb = get_lb(ctx, params["LoadBalancerArn"])
    ip_type = _check_ip_type(lb.type, params["IpAddressType"])
    if ip_type != lb.ip_address_type:
        ctx.tx.edit(lb).ip_address_type = ip_type
    return {"IpAddressType": ip_type}


def _check_lb_attribute(lb: LoadBalancer, key: str, value: str, current: dict) -> str:
    spec = KNOWN_ATTRIBUTES.get(key)
    if spec is None:
        raise validation(f"Load balancer attribute key '{key}' is not recognized")
    kind, types = spec
    if lb.type not in types:
        raise invalid_config(
            f"Load balancer attribute key '{key}' is not supported on load balancers with type '{lb.type}'"
        )
    what = "Load balancer"
    if kind == _BOOL:
        value = parse_bool(key, value, what)
    elif kind in _CHOICES:
        if value not in _CHOICES[kind]:
            raise validation(
                f"Load balancer attribute '{key}' must be one of {', '.join(_CHOICES[kind])}, not '{value}'"
            )
    elif kind == "secondary":
        value = parse_int(key, value, 0, 7, what)
        if int(value) < int(current.get(key, "0")):
            raise invalid_config(f"Load balancer attribute '{key}' cannot be decreased")
    elif kind == "idle":
        value = parse_int(key, value, 1, 4000, what)
    elif kind == "keepalive":
        value = parse_int(key, value, 60, 604800, what)
    if key == "load_balancing.cross_zone.enabled" and lb.type == "application" and value != "true":
        raise invalid_config(
            "Cross-zone load balancing is always enabled on Application Load Balancers"
        )
    return value


@operation("elbv2")
def modify_load_balancer_attributes(ctx: RequestContext, params: dict) -> dict:
    lb = get_lb(ctx, params["LoadBalancerArn"])
    new = dict(lb.attributes)
    for key, value in attribute_pairs(params):
        new[key] = _check_lb_attribute(lb, key, value, lb.attributes)
    for kind in ("access_logs", "connection_logs", "health_check_logs"):
        if new.get(f"{kind}.s3.enabled") == "true" and not new.get(f"{kind}.s3.bucket"):
            raise validation(
                f"The attribute '{kind}.s3.bucket' is required when {kind} are enabled"
            )
    if new != lb.attributes:
        ctx.tx.edit(lb).attributes = new
    return {"Attributes": attribute_list(new)}


@operation("elbv2")
def describe_load_balancer_attributes(ctx: RequestContext, params: dict) -> dict:
    lb = get_lb(ctx, params["LoadBalancerArn"])
    return {"Attributes": attribute_list(lb.attributes)}


# -- capacity reservations (Terraform reads them for every ALB/NLB)


def _capacity_out(lb: LoadBalancer) -> dict:
    out: dict = {"DecreaseRequestsRemaining": 2, "CapacityReservationState": []}
    if lb.capacity_units:
        out["LastModifiedTime"] = lb.capacity_modified_at
        out["MinimumLoadBalancerCapacity"] = {"CapacityUnits": lb.capacity_units}
        per_zone = lb.capacity_units / max(1, len(lb.nodes))
        out["CapacityReservationState"] = [
            {
                "AvailabilityZone": n.availability_zone,
                "State": {"Code": "provisioned"},
                "EffectiveCapacityUnits": per_zone,
            }
            for n in sorted(lb.nodes, key=lambda n: n.availability_zone)
        ]
    return out


@operation("elbv2")
def describe_capacity_reservation(ctx: RequestContext, params: dict) -> dict:
    lb = get_lb(ctx, params["LoadBalancerArn"])
    if lb.type == "gateway":
        raise AwsError(
            "OperationNotPermitted",
            "Capacity reservations are not supported for Gateway Load Balancers",
        )
    return _capacity_out(lb)


@operation("elbv2")
def modify_capacity_reservation(ctx: RequestContext, params: dict) -> dict:
    lb = get_lb(ctx, params["LoadBalancerArn"])
    if lb.type == "gateway":
        raise AwsError(
            "OperationNotPermitted",
            "Capacity reservations are not supported for Gateway Load Balancers",
        )
    units = (params.get("MinimumLoadBalancerCapacity") or {}).get("CapacityUnits")
    reset = params.get("ResetCapacityReservation")
    if reset and units is not None:
        raise validation("Specify either MinimumLoadBalancerCapacity or ResetCapacityReservation")
    if not reset and units is None:
        raise validation("Specify MinimumLoadBalancerCapacity or ResetCapacityReservation")
    if units is not None and units <= 0:
        raise validation("CapacityUnits must be a positive number")
    mine = ctx.tx.edit(lb)
    mine.capacity_units = None if reset else units
    mine.capacity_modified_at = ctx.now
    return _capacity_out(mine)


__all__ = [
    "LB_IN_USE_HOOKS",
    "LB_ZONE_REMOVAL_HOOKS",
    "default_attributes",
    "eni_description",
    "lb_out",
]
