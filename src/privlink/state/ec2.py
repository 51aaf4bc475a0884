"""EC2 networking resources: VPCs, subnets, security groups, network interfaces, route
tables and network ACLs."""

from __future__ import annotations

from dataclasses import dataclass, field

from .store import Resource, resource


@resource("ec2.vpc")
@dataclass(kw_only=True)
class Vpc(Resource):
    cidr_block: str
    cidr_association_id: str
    realm_block: int  # the VPC's block in the address realm (net/realm.py)
    state: str = "available"
    instance_tenancy: str = "default"
    is_default: bool = False
    enable_dns_support: bool = True
    enable_dns_hostnames: bool = False
    enable_network_address_usage_metrics: bool = False
    dhcp_options_id: str = "default"
    default_security_group_id: str = ""
    main_route_table_id: str = ""
    default_network_acl_id: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0


@resource("ec2.subnet")
@dataclass(kw_only=True)
class Subnet(Resource):
    vpc_id: str
    cidr_block: str
    availability_zone: str  # name, as the owning account sees it
    availability_zone_id: str
    state: str = "available"
    map_public_ip_on_launch: bool = False
    assign_ipv6_address_on_creation: bool = False
    enable_dns64: bool = False
    hostname_type: str = "ip-name"
    enable_resource_name_dns_a_record: bool = False
    enable_resource_name_dns_aaaa_record: bool = False
    default_for_az: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0


@dataclass
class SecurityGroupRule:
    """One rule: one protocol/port range and one peer (CIDR, IPv6 CIDR, group or prefix
    list). This is the form the data plane evaluates."""

    rule_id: str
    ip_protocol: str  # tcp | udp | icmp | icmpv6 | -1 | protocol number
    from_port: int | None = None
    to_port: int | None = None
    cidr_ipv4: str | None = None
    cidr_ipv6: str | None = None
    referenced_group_id: str | None = None
    referenced_group_owner: str | None = None
    prefix_list_id: str | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@resource("ec2.security_group")
@dataclass(kw_only=True)
class SecurityGroup(Resource):
    vpc_id: str
    group_name: str
    description: str
    ingress: list[SecurityGroupRule] = field(default_factory=list)
    egress: list[SecurityGroupRule] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0

    @property
    def is_default(self) -> bool:
        return self.group_name == "default"


@resource("ec2.network_interface")
@dataclass(kw_only=True)
class NetworkInterface(Resource):
    subnet_id: str
    vpc_id: str
    availability_zone: str
    availability_zone_id: str
    private_ip_address: str
    mac_address: str
    description: str = ""
    interface_type: str = "interface"  # interface | vpc_endpoint | network_load_balancer | …
    status: str = "available"  # available | in-use
    requester_id: str | None = None
    requester_managed: bool = False
    security_group_ids: list[str] = field(default_factory=list)
    source_dest_check: bool = True
    # the attachment AWS shows for service-managed ENIs
    attachment_id: str | None = None
    attachment_owner: str | None = None  # e.g. amazon-aws
    # what created it in privlink's terms: a vpce id, an NLB ARN, or None for the user
    created_by: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0


@dataclass
class Route:
    destination_cidr_block: str
    gateway_id: str = "local"
    state: str = "active"
    origin: str = "CreateRouteTable"


@resource("ec2.route_table")
@dataclass(kw_only=True)
class RouteTable(Resource):
    vpc_id: str
    main: bool = False
    main_association_id: str | None = None
    routes: list[Route] = field(default_factory=list)
    subnet_associations: dict[str, str] = field(default_factory=dict)  # association id -> subnet id
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class NetworkAclEntry:
    rule_number: int
    protocol: str
    rule_action: str
    egress: bool
    cidr_block: str | None = None
    ipv6_cidr_block: str | None = None
    from_port: int | None = None
    to_port: int | None = None


@resource("ec2.network_acl")
@dataclass(kw_only=True)
class NetworkAcl(Resource):
    vpc_id: str
    is_default: bool = False
    entries: list[NetworkAclEntry] = field(default_factory=list)
    associations: dict[str, str] = field(default_factory=dict)  # association id -> subnet id
    tags: dict[str, str] = field(default_factory=dict)


def _port_matches(rule: SecurityGroupRule, protocol: str, port: int) -> bool:
    if rule.ip_protocol == "-1":
        return True
    if rule.ip_protocol != protocol:
        return False
    if rule.from_port is None or rule.to_port is None:
        return True  # protocols without ports
    return rule.from_port <= port <= rule.to_port


def ingress_allows(
    groups: list[SecurityGroup], protocol: str, port: int, source_ip: str, source_groups: set[str]
) -> bool:
    """Do these security groups let a connection in? (Security groups are stateful: the
    reply traffic of an allowed connection needs no rule.) ``protocol`` is ``tcp``/``udp``;
    ``source_groups`` are the groups of the source's own network interface, for rules that
    reference a group. Prefix-list rules match nothing (privlink holds no prefix lists)."""
    import ipaddress

    src = ipaddress.ip_address(source_ip)
    for g in groups:
        for r in g.ingress:
            if not _port_matches(r, protocol, port):
                continue
            if r.cidr_ipv4 and src.version == 4 and src in ipaddress.ip_network(r.cidr_ipv4):
                return True
            if r.cidr_ipv6 and src.version == 6 and src in ipaddress.ip_network(r.cidr_ipv6):
                return True
            if r.referenced_group_id and r.referenced_group_id in source_groups:
                return True
    return False
