"""Network interfaces, and the allocator that hands out subnet addresses.

Load balancer nodes and endpoint ENIs are made by :func:`create_service_eni`; users make
their own with CreateNetworkInterface. Either way an address comes from
:func:`allocate_address`: never one of the subnet's five reserved addresses (network,
router, DNS, future use, broadcast), never one already in use.
"""

from __future__ import annotations

import ipaddress
import secrets

from ...api.errors import AwsError
from ...state.ec2 import NetworkInterface, SecurityGroup, Subnet
from ..base import RequestContext, new_id, operation
from .common import apply_filters, find_owned, paginate, select_by_ids, tag_list, tags_from_specs
from .tags import taggable

taggable("eni-", NetworkInterface, "network-interface", "InvalidNetworkInterfaceID.NotFound")

RESERVED_AT_START = 4  # network address, VPC router, DNS, reserved for future use


def reserved_addresses(cidr: str) -> set[str]:
    net = ipaddress.IPv4Network(cidr)
    first = int(net.network_address)
    out = {str(ipaddress.IPv4Address(first + i)) for i in range(RESERVED_AT_START)}
    out.add(str(net.broadcast_address))
    return out


def usable_count(cidr: str) -> int:
    return ipaddress.IPv4Network(cidr).num_addresses - RESERVED_AT_START - 1


def addresses_in_use(tx, subnet: Subnet) -> set[str]:
    return {
        e.private_ip_address
        for e in tx.owned(NetworkInterface, subnet.account, subnet.region)
        if e.subnet_id == subnet.id
    }


def available_ip_count(tx, subnet: Subnet) -> int:
    return usable_count(subnet.cidr_block) - len(addresses_in_use(tx, subnet))


def allocate_address(tx, subnet: Subnet, requested: str | None = None) -> str:
    """A free, non-reserved address of ``subnet`` (``requested`` if given and free)."""
    net = ipaddress.IPv4Network(subnet.cidr_block)
    used = addresses_in_use(tx, subnet)
    reserved = reserved_addresses(subnet.cidr_block)
    if requested is not None:
        try:
            ip = ipaddress.IPv4Address(requested)
        except ValueError:
            raise AwsError(
                "InvalidParameterValue", f"Invalid private IP address {requested}"
            ) from None
        if ip not in net:
            raise AwsError(
                "InvalidParameterValue",
                f"Address {requested} does not fall within the subnet's address range",
            )
        if str(ip) in reserved:
            raise AwsError("InvalidParameterValue", f"Address {requested} is reserved by AWS")
        if str(ip) in used:
            raise AwsError("InvalidIPAddress.InUse", f"Address {requested} is in use.")
        return str(ip)
    first = int(net.network_address) + RESERVED_AT_START
    last = int(net.broadcast_address) - 1
    for n in range(first, last + 1):
        # the dotted quad without an IPv4Address per candidate (a subnet with hundreds of
        # endpoint ENIs is scanned past all of them on every allocation)
        candidate = f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
        if candidate not in used:
            return candidate
    raise AwsError(
        "InsufficientFreeAddressesInSubnet",
        f"The specified subnet {subnet.id} does not have enough free addresses to satisfy the request.",
    )


def _mac() -> str:
    return "02:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(5))


def create_service_eni(
    tx,
    subnet: Subnet,
    *,
    now: float,
    description: str,
    interface_type: str,
    requester_id: str | None,
    created_by: str,
    security_group_ids: list[str] | None = None,
    private_ip: str | None = None,
    attachment_owner: str | None = None,
    attached: bool = True,
) -> NetworkInterface:
    """An ENI made by a service (load balancer node, endpoint) in a subnet: owned by the
    subnet's account, requester-managed, in use."""
    eni = NetworkInterface(
        id=new_id("eni-"),
        account=subnet.account,
        region=subnet.region,
        subnet_id=subnet.id,
        vpc_id=subnet.vpc_id,
        availability_zone=subnet.availability_zone,
        availability_zone_id=subnet.availability_zone_id,
        private_ip_address=allocate_address(tx, subnet, private_ip),
        mac_address=_mac(),
        description=description,
        interface_type=interface_type,
        status="in-use",
        requester_id=requester_id,
        requester_managed=True,
        security_group_ids=list(security_group_ids or []),
        source_dest_check=True,
        attachment_id=new_id("ela-attach-") if attached else None,
        attachment_owner=attachment_owner,
        created_by=created_by,
        created_at=now,
    )
    tx.put(eni)
    return eni


def eni_out(ctx: RequestContext, eni: NetworkInterface) -> dict:
    groups = []
    for gid in eni.security_group_ids:
        g = ctx.tx.get(SecurityGroup, gid)
        groups.append({"GroupId": gid, "GroupName": g.group_name if g else ""})
    dns = (
        "ip-"
        + eni.private_ip_address.replace(".", "-")
        + (".ec2.internal" if eni.region == "us-east-1" else f".{eni.region}.compute.internal")
    )
    out = {
        "NetworkInterfaceId": eni.id,
        "OwnerId": eni.account,
        "SubnetId": eni.subnet_id,
        "VpcId": eni.vpc_id,
        "AvailabilityZone": eni.availability_zone,
        "AvailabilityZoneId": eni.availability_zone_id,
        "Description": eni.description,
        "Groups": groups,
        "InterfaceType": eni.interface_type,
        "Ipv6Addresses": [],
        "MacAddress": eni.mac_address,
        "PrivateDnsName": dns,
        "PrivateIpAddress": eni.private_ip_address,
        "PrivateIpAddresses": [
            {"Primary": True, "PrivateIpAddress": eni.private_ip_address, "PrivateDnsName": dns}
        ],
        "RequesterManaged": eni.requester_managed,
        "SourceDestCheck": eni.source_dest_check,
        "Status": eni.status,
        "TagSet": tag_list(eni.tags),
    }
    if eni.requester_id:
        out["RequesterId"] = eni.requester_id
    if eni.attachment_id and eni.status == "in-use":
        att = {
            "AttachmentId": eni.attachment_id,
            "DeviceIndex": 1,
            "Status": "attached",
            "DeleteOnTermination": False,
        }
        if eni.attachment_owner:
            att["InstanceOwnerId"] = eni.attachment_owner
        out["Attachment"] = att
    return out


def eni_not_found(eni_id: str) -> str:
    return f"The networkInterface ID '{eni_id}' does not exist"


_FILTERS = {
    "network-interface-id": lambda e: e.id,
    "vpc-id": lambda e: e.vpc_id,
    "subnet-id": lambda e: e.subnet_id,
    "description": lambda e: e.description,
    "requester-id": lambda e: e.requester_id,
    "requester-managed": lambda e: e.requester_managed,
    "interface-type": lambda e: e.interface_type,
    "status": lambda e: e.status,
    "group-id": lambda e: e.security_group_ids,
    "availability-zone": lambda e: e.availability_zone,
    "private-ip-address": lambda e: e.private_ip_address,
    "addresses.private-ip-address": lambda e: e.private_ip_address,
    "addresses.primary": lambda e: True,
    "mac-address": lambda e: e.mac_address,
    "owner-id": lambda e: e.account,
    "source-dest-check": lambda e: e.source_dest_check,
    "attachment.instance-owner-id": lambda e: e.attachment_owner if e.status == "in-use" else None,
    "attachment.attachment-id": lambda e: e.attachment_id if e.status == "in-use" else None,
    "attachment.status": lambda e: "attached" if e.attachment_id and e.status == "in-use" else None,
}


@operation("ec2")
def describe_network_interfaces(ctx: RequestContext, params: dict) -> dict:
    enis = select_by_ids(
        ctx,
        NetworkInterface,
        params.get("NetworkInterfaceIds"),
        "InvalidNetworkInterfaceID.NotFound",
        eni_not_found,
    )
    enis = apply_filters(enis, params.get("Filters"), _FILTERS)
    page, token = paginate(ctx, enis, params, ids_param="NetworkInterfaceIds")
    return {"NetworkInterfaces": [eni_out(ctx, e) for e in page], "NextToken": token}


def _groups_for(ctx: RequestContext, vpc_id: str, group_ids: list[str] | None) -> list[str]:
    from .vpcs import get_vpc

    if not group_ids:
        return [get_vpc(ctx, vpc_id).default_security_group_id]
    out = []
    for gid in group_ids:
        g = ctx.tx.get(SecurityGroup, gid)
        if g is None or g.owner != (ctx.account, ctx.region):
            raise AwsError("InvalidGroup.NotFound", f"The security group '{gid}' does not exist")
        if g.vpc_id != vpc_id:
            raise AwsError(
                "InvalidParameter",
                f"Security group {gid} and subnet belong to different networks.",
            )
        out.append(gid)
    return out


@operation("ec2")
def create_network_interface(ctx: RequestContext, params: dict) -> dict:
    from .subnets import get_subnet

    subnet = get_subnet(ctx, params["SubnetId"])
    groups = _groups_for(ctx, subnet.vpc_id, params.get("Groups"))
    tags = tags_from_specs(params, "network-interface")
    eni = NetworkInterface(
        id=new_id("eni-"),
        account=ctx.account,
        region=ctx.region,
        subnet_id=subnet.id,
        vpc_id=subnet.vpc_id,
        availability_zone=subnet.availability_zone,
        availability_zone_id=subnet.availability_zone_id,
        private_ip_address=allocate_address(ctx.tx, subnet, params.get("PrivateIpAddress")),
        mac_address=_mac(),
        description=params.get("Description", ""),
        interface_type="interface",
        status="available",
        requester_managed=False,
        security_group_ids=groups,
        tags=tags,
        created_at=ctx.now,
    )
    ctx.tx.put(eni)
    return {"NetworkInterface": eni_out(ctx, eni)}


def get_eni(ctx: RequestContext, eni_id: str) -> NetworkInterface:
    return find_owned(
        ctx, NetworkInterface, eni_id, "InvalidNetworkInterfaceID.NotFound", eni_not_found(eni_id)
    )


@operation("ec2")
def delete_network_interface(ctx: RequestContext, params: dict) -> dict:
    eni = get_eni(ctx, params["NetworkInterfaceId"])
    if eni.status == "in-use" or eni.requester_managed:
        raise AwsError(
            "InvalidNetworkInterface.InUse",
            f"The network interface '{eni.id}' is currently in use.",
        )
    ctx.tx.delete(eni)
    return {}


@operation("ec2")
def modify_network_interface_attribute(ctx: RequestContext, params: dict) -> dict:
    eni = get_eni(ctx, params["NetworkInterfaceId"])
    mine = ctx.tx.edit(eni)
    if params.get("Groups") is not None:
        if eni.requester_managed:
            raise AwsError(
                "InvalidParameterValue",
                "You cannot change the security groups of a requester-managed network interface here; "
                "change them on the resource that owns it.",
            )
        mine.security_group_ids = _groups_for(ctx, eni.vpc_id, params["Groups"])
    if params.get("Description") is not None:
        mine.description = params["Description"].get("Value", "")
    if params.get("SourceDestCheck") is not None:
        mine.source_dest_check = bool(params["SourceDestCheck"].get("Value"))
    return {}
