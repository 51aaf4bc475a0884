"""Route 53: public and private hosted zones, record sets, changes and tags.

Route 53 is global: the dispatcher hands every call region ``us-east-1``; a hosted zone
belongs to the calling account and is invisible (``NoSuchHostedZone``) to every other.
The DNS server and the PrivateLink control plane read zones through
:mod:`privlink.state.route53`.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import secrets
import string

from ..api.errors import AwsError
from ..state.route53 import (
    GLOBAL_REGION,
    AliasTarget,
    BadName,
    HostedZone,
    RecordSet,
    ZoneChange,
    ZoneVpc,
    canonical_name,
    labels_reversed,
    quoted_strings,
    record_order,
    reversed_key,
    within,
    zone_record_sets,
)
from .base import RequestContext, operation

_STATUS = {
    "NoSuchHostedZone": 404,
    "NoSuchChange": 404,
    "NoSuchHealthCheck": 404,
    "VPCAssociationNotFound": 404,
    "HostedZoneAlreadyExists": 409,
    "NotAuthorizedException": 401,
}

_ALNUM = string.ascii_uppercase + string.digits
_VPC_ID = re.compile(r"^vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
_ROUTING_MEMBERS = (
    "Weight",
    "Region",
    "GeoLocation",
    "Failover",
    "MultiValueAnswer",
    "CidrRoutingConfig",
    "GeoProximityLocation",
)
_OTHER_MEMBERS = ("HealthCheckId", "TrafficPolicyInstanceId")
_RR_TYPES = {
    "SOA", "A", "TXT", "NS", "CNAME", "MX", "NAPTR", "PTR", "SRV", "SPF", "AAAA", "CAA", "DS",
    "TLSA", "SSHFP", "SVCB", "HTTPS",
}  # fmt: skip
_NS_TTL = 172800
_SOA_TTL = 900
_PRIVATE_NAME_SERVERS = [
    "ns-1536.awsdns-00.co.uk",
    "ns-0.awsdns-00.com",
    "ns-1024.awsdns-00.org",
    "ns-512.awsdns-00.net",
]
_MAX_CHANGES_KEPT = 1000


def _err(code: str, message: str) -> AwsError:
    return AwsError(code, message, _STATUS.get(code, 400))


def _rand_id(prefix: str, n: int = 20) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(n))


def _vpc_exists(tx, vpc_id: str, region: str) -> bool:
    """Does the VPC exist in that region?"""
    from ..state.ec2 import Vpc

    vpc = tx.get(Vpc, vpc_id)
    return vpc is not None and vpc.region == region


# ------------------------------------------------------------------------------ helpers


def _bare_zone_id(raw: str) -> str:
    raw = raw.strip()
    for prefix in ("/hostedzone/", "hostedzone/"):
        if raw.startswith(prefix):
            return raw[len(prefix) :]
    return raw


def _zone(ctx: RequestContext, raw_id: str) -> HostedZone:
    zid = _bare_zone_id(raw_id)
    zone = ctx.tx.get(HostedZone, zid)
    if zone is None or zone.account != ctx.account:
        raise _err("NoSuchHostedZone", f"No hosted zone found with ID: {zid}")
    return zone


def _max_items(raw, default: int, cap: int) -> int:
    if raw is None:
        return default
    try:
        n = int(str(raw).strip())
    except ValueError:
        raise _err("InvalidInput", f"Invalid value for MaxItems: {raw}") from None
    if n < 1:
        raise _err("InvalidInput", f"Invalid value for MaxItems: {raw}")
    return min(n, cap)


def _new_change(ctx: RequestContext, comment: str | None, zone_id: str | None) -> ZoneChange:
    delay = max(0.0, float(ctx.settings.timing.route53_change_propagation))
    ch = ZoneChange(
        id=_rand_id("C"),
        account=ctx.account,
        region=GLOBAL_REGION,
        submitted_at=ctx.now,
        insync_at=ctx.now + delay,
        comment=comment,
        zone_id=zone_id,
    )
    ctx.tx.put(ch)
    # keep the change log bounded: the oldest entries of the account go first
    mine = ctx.tx.owned(ZoneChange, ctx.account, GLOBAL_REGION)
    if len(mine) > _MAX_CHANGES_KEPT:
        mine.sort(key=lambda c: (c.submitted_at, c.id))
        for old in mine[: len(mine) - _MAX_CHANGES_KEPT]:
            if old.id != ch.id:
                ctx.tx.delete(old)
    return ch


def _change_info(ch: ZoneChange, now: float) -> dict:
    out = {
        "Id": "/change/" + ch.id,
        "Status": "INSYNC" if now >= ch.insync_at else "PENDING",
        "SubmittedAt": ch.submitted_at,
    }
    if ch.comment:
        out["Comment"] = ch.comment
    return out


def _zone_shape(z: HostedZone) -> dict:
    config: dict = {"PrivateZone": z.private}
    if z.comment:
        config["Comment"] = z.comment
    return {
        "Id": z.api_id,
        "Name": z.name,
        "CallerReference": z.caller_reference,
        "Config": config,
        "ResourceRecordSetCount": z.record_count,
    }


def _vpc_shape(v: ZoneVpc) -> dict:
    return {"VPCRegion": v.vpc_region, "VPCId": v.vpc_id}


def _check_vpc(tx, vpc: dict | None) -> ZoneVpc:
    vpc = vpc or {}
    vpc_id = vpc.get("VPCId")
    region = vpc.get("VPCRegion")
    if not vpc_id:
        raise _err("InvalidVPCId", "The VPC ID is missing; VPC.VPCId is required.")
    if not region:
        raise _err("InvalidInput", "Invalid request: VPC.VPCRegion is required with VPC.VPCId.")
    if not _VPC_ID.match(vpc_id):
        raise _err("InvalidVPCId", f"The VPC ID '{vpc_id}' is not valid.")
    if not _REGION.match(region):
        raise _err("InvalidInput", f"Invalid request: '{region}' is not a valid VPCRegion.")
    if not _vpc_exists(tx, vpc_id, region):
        raise _err("InvalidVPCId", f"The VPC '{vpc_id}' does not exist in region '{region}'.")
    return ZoneVpc(vpc_id=vpc_id, vpc_region=region)


def _conflicting_private_zone(tx, name: str, vpc: ZoneVpc, except_id: str | None = None):
    for z in tx.all(HostedZone):
        if (
            z.private
            and z.name == name
            and z.id != except_id
            and any(v.vpc_id == vpc.vpc_id and v.vpc_region == vpc.vpc_region for v in z.vpcs)
        ):
            return z
    return None


def _public_name_servers() -> list[str]:
    """Four name servers, one per Route 53 top-level domain, numbered as Route 53 numbers
    them (``.com`` 0–511, ``.net`` 512–1023, ``.org`` 1024–1535, ``.co.uk`` 1536–2047)."""
    out = []
    for base, tld in ((0, "com"), (512, "net"), (1024, "org"), (1536, "co.uk")):
        out.append(f"ns-{base + secrets.randbelow(512)}.awsdns-{secrets.randbelow(64):02d}.{tld}")
    return out


# --------------------------------------------------------------------------- hosted zones


@operation("route53", "CreateHostedZone")
def create_hosted_zone(ctx: RequestContext, params: dict) -> dict:
    raw_name = params["Name"]
    try:
        name = canonical_name(raw_name)
    except BadName as e:
        raise _err("InvalidDomainName", f"{raw_name} is not a valid domain name: {e}.") from None
    ref = params["CallerReference"]
    if not 1 <= len(ref) <= 128:
        raise _err("InvalidInput", "Invalid request: CallerReference must be 1 to 128 characters.")
    config = params.get("HostedZoneConfig") or {}
    comment = config.get("Comment")
    if comment is not None and len(comment) > 256:
        raise _err("InvalidInput", "Invalid request: the comment is longer than 256 characters.")
    vpc_param = params.get("VPC")
    private = bool(vpc_param) or bool(config.get("PrivateZone"))
    if config.get("PrivateZone") and not vpc_param:
        raise _err(
            "InvalidInput",
            "When you're creating a private hosted zone (when you specify true for "
            "PrivateZone), you must also specify values for VPCId and VPCRegion.",
        )
    if params.get("DelegationSetId"):
        if private:
            raise _err(
                "InvalidInput",
                "Invalid request: a private hosted zone cannot use a delegation set.",
            )
        raise _err(
            "NoSuchDelegationSet",
            f"A reusable delegation set with the ID {params['DelegationSetId']} does not exist.",
        )
    vpc = _check_vpc(ctx.tx, vpc_param) if private else None
    if not private and len(labels_reversed(name)) < 2:
        raise _err("InvalidDomainName", f"{name} is reserved by AWS!")

    mine = ctx.tx.owned(HostedZone, ctx.account, GLOBAL_REGION)
    for z in mine:
        if z.caller_reference != ref:
            continue
        same_vpc = (not private and not z.vpcs) or (
            vpc is not None
            and z.vpcs
            and (z.vpcs[0].vpc_id, z.vpcs[0].vpc_region) == (vpc.vpc_id, vpc.vpc_region)
        )
        if z.name == name and z.private == private and z.comment == comment and same_vpc:
            ch = ctx.tx.get(ZoneChange, z.create_change_id)
            if ch is None:
                ch = _new_change(ctx, None, z.id)
            return _create_response(z, ch, ctx.now)
        raise _err(
            "HostedZoneAlreadyExists",
            "A hosted zone has already been created with the specified caller reference.",
        )
    quota = ctx.settings.quotas.hosted_zones_per_account
    if len(mine) >= quota:
        raise _err(
            "TooManyHostedZones",
            f"This operation would exceed the limit of {quota} hosted zones for the account.",
        )
    if vpc is not None:
        other = _conflicting_private_zone(ctx.tx, name, vpc)
        if other is not None:
            raise _err(
                "ConflictingDomainExists",
                f"The VPC {vpc.vpc_id} in {vpc.vpc_region} region has already been associated "
                f"with the hosted zone {other.id} with the same domain name.",
            )

    zid = _rand_id("Z")
    while ctx.tx.get(HostedZone, zid) is not None:  # pragma: no cover - 36**20 ids
        zid = _rand_id("Z")
    ns = list(_PRIVATE_NAME_SERVERS) if private else _public_name_servers()
    ch = _new_change(ctx, None, zid)
    zone = HostedZone(
        id=zid,
        account=ctx.account,
        region=GLOBAL_REGION,
        name=name,
        caller_reference=ref,
        comment=comment,
        private=private,
        vpcs=[vpc] if vpc else [],
        name_servers=ns,
        record_count=2,
        created_at=ctx.now,
        create_change_id=ch.id,
    )
    ctx.tx.put(zone)
    ctx.tx.put(
        RecordSet(
            id=RecordSet.key(zid, name, "NS", None),
            account=ctx.account,
            region=GLOBAL_REGION,
            zone_id=zid,
            name=name,
            type="NS",
            ttl=_NS_TTL,
            values=[n + "." for n in ns],
        )
    )
    ctx.tx.put(
        RecordSet(
            id=RecordSet.key(zid, name, "SOA", None),
            account=ctx.account,
            region=GLOBAL_REGION,
            zone_id=zid,
            name=name,
            type="SOA",
            ttl=_SOA_TTL,
            values=[f"{ns[0]}. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"],
        )
    )
    return _create_response(zone, ch, ctx.now)


def _create_response(zone: HostedZone, ch: ZoneChange, now: float) -> dict:
    out = {
        "HostedZone": _zone_shape(zone),
        "ChangeInfo": _change_info(ch, now),
        "DelegationSet": {"NameServers": list(zone.name_servers)},
        "Location": f"https://route53.amazonaws.com/2013-04-01/hostedzone/{zone.id}",
    }
    if zone.private and zone.vpcs:
        out["VPC"] = _vpc_shape(zone.vpcs[0])
    return out


@operation("route53", "GetHostedZone")
def get_hosted_zone(ctx: RequestContext, params: dict) -> dict:
    zone = _zone(ctx, params["Id"])
    out: dict = {"HostedZone": _zone_shape(zone)}
    if zone.private:
        out["VPCs"] = [_vpc_shape(v) for v in zone.vpcs]
    else:
        out["DelegationSet"] = {"NameServers": list(zone.name_servers)}
    return out


@operation("route53", "GetHostedZoneCount")
def get_hosted_zone_count(ctx: RequestContext, params: dict) -> dict:
    return {"HostedZoneCount": len(ctx.tx.owned(HostedZone, ctx.account, GLOBAL_REGION))}


@operation("route53", "ListHostedZones")
def list_hosted_zones(ctx: RequestContext, params: dict) -> dict:
    if params.get("DelegationSetId"):
        raise _err(
            "NoSuchDelegationSet",
            f"A reusable delegation set with the ID {params['DelegationSetId']} does not exist.",
        )
    kind = params.get("HostedZoneType")
    if kind is not None and kind != "PrivateHostedZone":
        raise _err("InvalidInput", f"Invalid request: unknown HostedZoneType '{kind}'.")
    max_items = _max_items(params.get("MaxItems"), 100, 100)
    zones = sorted(ctx.tx.owned(HostedZone, ctx.account, GLOBAL_REGION), key=lambda z: z.id)
    if kind == "PrivateHostedZone":
        zones = [z for z in zones if z.private]
    marker = params.get("Marker")
    if marker:
        marker = _bare_zone_id(marker)
        zones = [z for z in zones if z.id >= marker]
    page, rest = zones[:max_items], zones[max_items:]
    out = {
        "HostedZones": [_zone_shape(z) for z in page],
        "Marker": params.get("Marker") or "",
        "IsTruncated": bool(rest),
        "MaxItems": str(max_items),
    }
    if rest:
        out["NextMarker"] = rest[0].id
    return out


@operation("route53", "ListHostedZonesByName")
def list_hosted_zones_by_name(ctx: RequestContext, params: dict) -> dict:
    dns_name = params.get("DNSName")
    start_id = params.get("HostedZoneId")
    if start_id and not dns_name:
        raise _err(
            "InvalidInput",
            "Invalid request: if you specify HostedZoneId, you must also specify DNSName.",
        )
    max_items = _max_items(params.get("MaxItems"), 100, 100)
    zones = sorted(
        ctx.tx.owned(HostedZone, ctx.account, GLOBAL_REGION),
        key=lambda z: (reversed_key(z.name), z.id),
    )
    start_name = None
    if dns_name:
        try:
            start_name = canonical_name(dns_name)
        except BadName as e:
            raise _err(
                "InvalidDomainName", f"{dns_name} is not a valid domain name: {e}."
            ) from None
        start = (reversed_key(start_name), _bare_zone_id(start_id) if start_id else "")
        zones = [z for z in zones if (reversed_key(z.name), z.id) >= start]
    page, rest = zones[:max_items], zones[max_items:]
    out: dict = {
        "HostedZones": [_zone_shape(z) for z in page],
        "IsTruncated": bool(rest),
        "MaxItems": str(max_items),
    }
    if dns_name:
        out["DNSName"] = start_name
    if start_id:
        out["HostedZoneId"] = _bare_zone_id(start_id)
    if rest:
        out["NextDNSName"] = rest[0].name
        out["NextHostedZoneId"] = rest[0].id
    return out


def _token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def _untoken(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _err("InvalidPaginationToken", "The value of NextToken is not valid.") from None


@operation("route53", "ListHostedZonesByVPC")
def list_hosted_zones_by_vpc(ctx: RequestContext, params: dict) -> dict:
    vpc = _check_vpc(ctx.tx, {"VPCId": params["VPCId"], "VPCRegion": params["VPCRegion"]})
    max_items = _max_items(params.get("MaxItems"), 100, 100)
    # Only the caller's own zones: cross-account associations need
    # CreateVPCAssociationAuthorization, which privlink does not serve.
    zones = sorted(
        (
            z
            for z in ctx.tx.owned(HostedZone, ctx.account, GLOBAL_REGION)
            if z.private
            and any(v.vpc_id == vpc.vpc_id and v.vpc_region == vpc.vpc_region for v in z.vpcs)
        ),
        key=lambda z: z.id,
    )
    if params.get("NextToken"):
        after = _untoken(params["NextToken"])
        zones = [z for z in zones if z.id > after]
    page, rest = zones[:max_items], zones[max_items:]
    out: dict = {
        "HostedZoneSummaries": [
            {"HostedZoneId": z.id, "Name": z.name, "Owner": {"OwningAccount": z.account}}
            for z in page
        ],
        "MaxItems": str(max_items),
    }
    if rest:
        out["NextToken"] = _token(page[-1].id)
    return out


@operation("route53", "DeleteHostedZone")
def delete_hosted_zone(ctx: RequestContext, params: dict) -> dict:
    zone = _zone(ctx, params["Id"])
    records = zone_record_sets(ctx.tx, zone)
    extra = [r for r in records if not (r.name == zone.name and r.type in ("NS", "SOA"))]
    if extra:
        raise _err(
            "HostedZoneNotEmpty",
            "The specified hosted zone contains non-required resource record sets and so "
            "cannot be deleted.",
        )
    for r in records:
        ctx.tx.delete(r)
    ctx.tx.delete(zone)
    ch = _new_change(ctx, None, zone.id)
    return {"ChangeInfo": _change_info(ch, ctx.now)}


@operation("route53", "AssociateVPCWithHostedZone")
def associate_vpc_with_hosted_zone(ctx: RequestContext, params: dict) -> dict:
    zone = _zone(ctx, params["HostedZoneId"])
    if not zone.private:
        raise _err(
            "PublicZoneVPCAssociation",
            "You're trying to associate a VPC with a public hosted zone. Amazon Route 53 "
            "doesn't support associating a VPC with a public hosted zone.",
        )
    vpc = _check_vpc(ctx.tx, params["VPC"])
    other = _conflicting_private_zone(ctx.tx, zone.name, vpc)
    if other is not None:
        raise _err(
            "ConflictingDomainExists",
            f"The VPC {vpc.vpc_id} in {vpc.vpc_region} region has already been associated with "
            f"the hosted zone {other.id} with the same domain name.",
        )
    mine = ctx.tx.edit(zone)
    mine.vpcs.append(vpc)
    ch = _new_change(ctx, params.get("Comment"), zone.id)
    return {"ChangeInfo": _change_info(ch, ctx.now)}


@operation("route53", "DisassociateVPCFromHostedZone")
def disassociate_vpc_from_hosted_zone(ctx: RequestContext, params: dict) -> dict:
    zone = _zone(ctx, params["HostedZoneId"])
    vpc_param = params["VPC"] or {}
    vpc_id, region = vpc_param.get("VPCId"), vpc_param.get("VPCRegion")
    if not vpc_id:
        raise _err("InvalidVPCId", "The VPC ID is missing; VPC.VPCId is required.")
    match = [
        i
        for i, v in enumerate(zone.vpcs)
        if v.vpc_id == vpc_id and (region is None or v.vpc_region == region)
    ]
    if not zone.private or not match:
        raise _err(
            "VPCAssociationNotFound",
            "The specified VPC and hosted zone are not currently associated.",
        )
    if len(zone.vpcs) == 1:
        raise _err(
            "LastVPCAssociation",
            "The VPC that you're trying to disassociate from the private hosted zone is the "
            "last VPC that is associated with the hosted zone. Amazon Route 53 doesn't support "
            "disassociating the last VPC from a hosted zone.",
        )
    mine = ctx.tx.edit(zone)
    del mine.vpcs[match[0]]
    ch = _new_change(ctx, params.get("Comment"), zone.id)
    return {"ChangeInfo": _change_info(ch, ctx.now)}


@operation("route53", "GetChange")
def get_change(ctx: RequestContext, params: dict) -> dict:
    cid = params["Id"].strip()
    for prefix in ("/change/", "change/"):
        if cid.startswith(prefix):
            cid = cid[len(prefix) :]
    ch = ctx.tx.get(ZoneChange, cid)
    if ch is None or ch.account != ctx.account:
        raise _err("NoSuchChange", f"A change with the specified change ID {cid} does not exist.")
    return {"ChangeInfo": _change_info(ch, ctx.now)}


# -------------------------------------------------------------------------- record sets


def _describe(action: str, name: str, rtype: str, set_id: str | None) -> str:
    sid = "null" if set_id is None else set_id
    return f"[Action={action}, Name={name}, Type={rtype}, SetIdentifier={sid}]"


def _rrset_label(name: str, rtype: str, set_id: str | None) -> str:
    extra = f", set-identifier='{set_id}'" if set_id is not None else ""
    return f"[name='{name}', type='{rtype}'{extra}]"


def _fatal(code: str, why: str, value: str) -> str:
    return f"Invalid Resource Record: 'FATAL problem: {code} ({why}) encountered with '{value}''"


def _check_rdata(rtype: str, values: list[str]) -> list[str]:
    """Messages for RDATA Route 53 would refuse (empty list: all good)."""
    errs: list[str] = []
    seen = set()
    for v in values:
        if v in seen:
            errs.append(f"Duplicate Resource Record: '{v}'")
        seen.add(v)
        if rtype == "A":
            try:
                ipaddress.IPv4Address(v.strip())
            except ValueError:
                errs.append(
                    _fatal("ARRDATAIllegalIPv4Address", "Value is not a valid IPv4 address", v)
                )
        elif rtype == "AAAA":
            try:
                ipaddress.IPv6Address(v.strip())
            except ValueError:
                errs.append(
                    _fatal("AAAARRDATAIllegalIPv6Address", "Value is not a valid IPv6 address", v)
                )
        elif rtype in ("TXT", "SPF"):
            parts = quoted_strings(v)
            if parts is None:
                errs.append(
                    _fatal(
                        "InvalidCharacterString", "Value should be enclosed in quotation marks", v
                    )
                )
            elif any(len(p) > 255 for p in parts):
                errs.append(_fatal("CharacterStringTooLong", "Value is too long", v))
        elif rtype == "MX":
            f = v.split()
            if len(f) != 2:
                errs.append(_fatal("MXRRDATANotTwoFields", "MX record doesn't have 2 fields", v))
            elif not f[0].isdigit() or int(f[0]) > 65535:
                errs.append(
                    _fatal("MXRRDATABadPriority", "Priority must be between 0 and 65535", v)
                )
        elif rtype == "SRV":
            f = v.split()
            if len(f) != 4 or not all(x.isdigit() for x in f[:3]):
                errs.append(_fatal("SRVRRDATANotFourFields", "SRV record doesn't have 4 fields", v))
        elif rtype in ("CNAME", "NS", "PTR"):
            try:
                canonical_name(v)
            except BadName:
                errs.append(_fatal("DomainLabelEmpty", "Domain label is empty", v))
    return errs


class _Proposed:
    """One change of a batch, validated for shape (InvalidInput) but not yet against the zone."""

    def __init__(self, zone: HostedZone, change: dict, account: str):
        self.action = change["Action"]
        rr = change["ResourceRecordSet"]
        raw_name = rr["Name"]
        rtype = rr["Type"]
        if rtype not in _RR_TYPES:
            raise _err("InvalidInput", f"Invalid request: '{rtype}' is not a valid record type.")
        set_id = rr.get("SetIdentifier")
        self.errors: list[str] = []
        if self.action not in ("CREATE", "DELETE", "UPSERT"):
            raise _err("InvalidInput", f"Invalid request: unknown Action '{self.action}'.")
        try:
            name = canonical_name(raw_name)
        except BadName as e:
            raise _err("InvalidChangeBatch", f"[Invalid DNS name {raw_name}: {e}]") from None
        where = _describe(self.action, name, rtype, set_id)
        has_alias = rr.get("AliasTarget") is not None
        has_rr = rr.get("TTL") is not None or rr.get("ResourceRecords") is not None
        has_tp = rr.get("TrafficPolicyInstanceId") is not None
        if has_rr and not (rr.get("TTL") is not None and rr.get("ResourceRecords") is not None):
            missing = "TTL" if rr.get("TTL") is None else "ResourceRecords"
            if not has_alias:
                raise _err(
                    "InvalidInput",
                    f"Invalid request: Missing field '{missing}' in Change with {where}",
                )
        if int(has_alias) + int(has_rr) + int(has_tp) != 1:
            found = "none" if not (has_alias or has_rr or has_tp) else "more than one"
            raise _err(
                "InvalidInput",
                "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and "
                f"ResourceRecords], or TrafficPolicyInstanceId], but found {found} in Change "
                f"with {where}",
            )
        routing = {k: rr[k] for k in _ROUTING_MEMBERS if rr.get(k) is not None}
        if set_id is not None and not routing:
            raise _err(
                "InvalidInput",
                "Invalid request: Expected exactly one of [Weight, Region, Failover, "
                "GeoLocation, MultiValueAnswer, GeoProximityLocation, or CidrRoutingConfig], "
                f"but found none in Change with {where}",
            )
        if routing and set_id is None:
            raise _err(
                "InvalidInput",
                f"Invalid request: Missing field 'SetIdentifier' in Change with {where}",
            )
        if len(routing) > 1:
            raise _err(
                "InvalidInput",
                "Invalid request: Expected exactly one of [Weight, Region, Failover, "
                "GeoLocation, MultiValueAnswer, GeoProximityLocation, or CidrRoutingConfig], "
                f"but found more than one in Change with {where}",
            )
        if set_id is not None and not 1 <= len(set_id) <= 128:
            raise _err(
                "InvalidInput",
                f"Invalid request: SetIdentifier must be 1 to 128 characters in Change with {where}",
            )
        for k in _OTHER_MEMBERS:
            if rr.get(k) is not None:
                routing[k] = rr[k]
        ttl = rr.get("TTL")
        if ttl is not None and not 0 <= ttl <= 2147483647:
            raise _err(
                "InvalidInput", f"Invalid request: TTL {ttl} is out of range in Change with {where}"
            )
        values = [r["Value"] for r in rr.get("ResourceRecords") or []]
        if has_rr and not values:
            raise _err(
                "InvalidInput",
                f"Invalid request: ResourceRecords must not be empty in Change with {where}",
            )
        alias = None
        if has_alias:
            at = rr["AliasTarget"]
            try:
                target = canonical_name(at["DNSName"])
            except BadName:
                raise _err(
                    "InvalidChangeBatch",
                    f"[Invalid alias target DNS name {at['DNSName']}]",
                ) from None
            alias = AliasTarget(
                hosted_zone_id=_bare_zone_id(at["HostedZoneId"]),
                dns_name=target,
                evaluate_target_health=bool(at.get("EvaluateTargetHealth")),
            )
        self.errors.extend(_check_rdata(rtype, values))
        if rtype == "CNAME" and len(values) > 1:
            self.errors.append(
                f"RRSet of type CNAME with DNS name {name} contains more than one resource record"
            )
        self.key = RecordSet.key(zone.id, name, rtype, set_id)
        self.name, self.type, self.set_id = name, rtype, set_id
        self.record = RecordSet(
            id=self.key,
            account=account,
            region=GLOBAL_REGION,
            zone_id=zone.id,
            name=name,
            type=rtype,
            set_identifier=set_id,
            ttl=ttl,
            values=values,
            alias=alias,
            routing=routing,
        )


def _same_record(a: RecordSet, b: RecordSet) -> bool:
    return (
        a.ttl == b.ttl
        and sorted(a.values) == sorted(b.values)
        and a.alias == b.alias
        and a.routing == b.routing
    )


@operation("route53", "ChangeResourceRecordSets")
def change_resource_record_sets(ctx: RequestContext, params: dict) -> dict:
    zone = _zone(ctx, params["HostedZoneId"])
    batch = params["ChangeBatch"]
    changes = batch.get("Changes") or []
    if not changes:
        raise _err("InvalidInput", "Invalid request: ChangeBatch.Changes must not be empty.")
    if len(changes) > 1000:
        raise _err("InvalidChangeBatch", "[Number of records limit of 1000 exceeded.]")
    proposed = [_Proposed(zone, c, ctx.account) for c in changes]

    errors: list[str] = []
    # the same record set may appear at most once, except DELETE followed by CREATE
    sequences: dict[str, list[str]] = {}
    for p in proposed:
        sequences.setdefault(p.key, []).append(p.action)
    bad_keys = set()
    for p in proposed:
        seq = sequences[p.key]
        if len(seq) > 1 and seq != ["DELETE", "CREATE"] and p.key not in bad_keys:
            bad_keys.add(p.key)
            errors.append(
                "The request contains an invalid set of changes for a resource record set "
                f"'{p.type} {p.name}'"
            )

    before = {r.id: r for r in zone_record_sets(ctx.tx, zone, ordered=False)}
    working = dict(before)
    by_name: dict[str, set[str]] = {}
    for r in before.values():
        by_name.setdefault(r.name, set()).add(r.id)
    for p in proposed:
        errors.extend(p.errors)
        if p.key in bad_keys:
            continue
        label = _rrset_label(p.name, p.type, p.set_id)
        if not within(p.name, zone.name):
            errors.append(f"RRSet with DNS name {p.name} is not permitted in zone {zone.name}")
            continue
        current = working.get(p.key)
        apex = p.name == zone.name
        if p.action == "DELETE":
            if current is None:
                errors.append(f"Tried to delete resource record set {label} but it was not found")
            elif not _same_record(current, p.record):
                errors.append(
                    f"Tried to delete resource record set {label} but the values provided do "
                    "not match the current values"
                )
            elif apex and p.type == "SOA":
                errors.append("A HostedZone must contain exactly one SOA record.")
            elif apex and p.type == "NS":
                errors.append(
                    "A HostedZone must contain at least one NS record for the zone itself."
                )
            else:
                del working[p.key]
                by_name[p.name].discard(p.key)
            continue
        if p.action == "CREATE" and current is not None:
            errors.append(f"Tried to create resource record set {label} but it already exists")
            continue
        same_name = [working[k] for k in by_name.get(p.name, ()) if k != p.key]
        problem = _placement_problem(zone, p, same_name, working, ctx.tx)
        if problem:
            errors.append(problem)
            continue
        working[p.key] = p.record
        by_name.setdefault(p.name, set()).add(p.key)

    if errors:
        raise _err("InvalidChangeBatch", "[" + ", ".join(errors) + "]")

    for key, old in before.items():
        if key not in working:
            ctx.tx.delete(old)
    for key, rec in working.items():
        if before.get(key) is not rec:  # new or replaced: a fresh object, never a shared one
            ctx.tx.put(rec)
    mine = ctx.tx.edit(zone)
    mine.record_count = len(working)
    ch = _new_change(ctx, batch.get("Comment"), zone.id)
    return {"ChangeInfo": _change_info(ch, ctx.now)}


def _placement_problem(
    zone: HostedZone, p: _Proposed, same_name: list[RecordSet], working: dict, tx
) -> str | None:
    """Why the record set cannot sit where it is asked to (None: it can). ``same_name``:
    the other record sets at the name, as the batch has left them so far."""
    name, rtype = p.name, p.type
    if rtype == "SOA" and name != zone.name:
        return f"RRSet of type SOA with DNS name {name} is not permitted because SOA records are only allowed at the zone apex {zone.name}"
    if rtype == "CNAME" and name == zone.name:
        return (
            f"RRSet of type CNAME with DNS name {name} is not permitted at apex in zone {zone.name}"
        )
    if rtype == "CNAME" and any(r.type != "CNAME" for r in same_name):
        return (
            f"RRSet of type CNAME with DNS name {name} is not permitted as it conflicts with "
            f"other records with the same DNS name in zone {zone.name}"
        )
    if rtype != "CNAME" and any(r.type == "CNAME" for r in same_name):
        return (
            f"RRSet of type {rtype} with DNS name {name} is not permitted as it conflicts with "
            f"other records with the same DNS name in zone {zone.name}"
        )
    same_type = [r for r in same_name if r.type == rtype]
    if p.set_id is None and any(r.set_identifier is not None for r in same_type):
        return (
            f"RRSet with DNS name {name}, type {rtype} cannot be created as other RRSets exist "
            "with the same name and type that have a routing policy"
        )
    if p.set_id is not None and any(r.set_identifier is None for r in same_type):
        return (
            f"RRSet with DNS name {name}, type {rtype}, SetIdentifier {p.set_id} cannot be "
            "created as a non-weighted set exists with the same name and type."
        )
    alias = p.record.alias
    if alias is not None:
        target_zone = tx.get(HostedZone, alias.hosted_zone_id)
        if target_zone is not None and target_zone.account == zone.account:
            where = f"targets {alias.dns_name}, type {rtype} in zone {alias.hosted_zone_id}"
            if not within(alias.dns_name, target_zone.name):
                return (
                    f"Tried to create an alias that {where}, but the alias target name does "
                    "not lie within the target zone"
                )
            if target_zone.id == zone.id:
                found = any(r.name == alias.dns_name and r.type == rtype for r in working.values())
            else:
                found = any(
                    r.name == alias.dns_name and r.type == rtype
                    for r in zone_record_sets(tx, target_zone)
                )
            if not found:
                return f"Tried to create an alias that {where}, but that target was not found"
    return None


def _record_shape(r: RecordSet) -> dict:
    out: dict = {"Name": r.name, "Type": r.type}
    if r.set_identifier is not None:
        out["SetIdentifier"] = r.set_identifier
    for k, v in r.routing.items():
        out[k] = v
    if r.alias is not None:
        out["AliasTarget"] = {
            "HostedZoneId": r.alias.hosted_zone_id,
            "DNSName": r.alias.dns_name,
            "EvaluateTargetHealth": r.alias.evaluate_target_health,
        }
    else:
        if r.ttl is not None:
            out["TTL"] = r.ttl
        if r.values:
            out["ResourceRecords"] = [{"Value": v} for v in r.values]
    return out


@operation("route53", "ListResourceRecordSets")
def list_resource_record_sets(ctx: RequestContext, params: dict) -> dict:
    zone = _zone(ctx, params["HostedZoneId"])
    start_name = params.get("StartRecordName")
    start_type = params.get("StartRecordType")
    start_id = params.get("StartRecordIdentifier")
    if start_type and not start_name:
        raise _err(
            "InvalidInput", "The input is not valid: StartRecordType requires StartRecordName."
        )
    if start_id and not (start_name and start_type):
        raise _err(
            "InvalidInput",
            "The input is not valid: StartRecordIdentifier requires StartRecordName and "
            "StartRecordType.",
        )
    max_items = _max_items(params.get("MaxItems"), 300, 300)
    rows = zone_record_sets(ctx.tx, zone)
    if start_name:
        try:
            cname = canonical_name(start_name)
        except BadName as e:
            raise _err("InvalidInput", f"The input is not valid: {start_name}: {e}.") from None
        start: tuple = (reversed_key(cname),)
        if start_type:
            start += (start_type,)
            if start_id:
                start += (start_id,)
        rows = [r for r in rows if record_order(r) >= start]
    page, rest = rows[:max_items], rows[max_items:]
    out: dict = {
        "ResourceRecordSets": [_record_shape(r) for r in page],
        "IsTruncated": bool(rest),
        "MaxItems": str(max_items),
    }
    if rest:
        nxt = rest[0]
        out["NextRecordName"] = nxt.name
        out["NextRecordType"] = nxt.type
        if nxt.set_identifier is not None:
            out["NextRecordIdentifier"] = nxt.set_identifier
    return out


# ---------------------------------------------------------------------------------- tags


def _tag_zone(ctx: RequestContext, rtype: str, rid: str) -> HostedZone:
    if rtype == "healthcheck":
        raise _err("NoSuchHealthCheck", f"No health check exists with the ID {rid}")
    if rtype != "hostedzone":
        raise _err("InvalidInput", f"Invalid request: unknown ResourceType '{rtype}'.")
    return _zone(ctx, rid)


@operation("route53", "ChangeTagsForResource")
def change_tags_for_resource(ctx: RequestContext, params: dict) -> dict:
    zone = _tag_zone(ctx, params["ResourceType"], params["ResourceId"])
    add = params.get("AddTags") or []
    remove = params.get("RemoveTagKeys") or []
    if not add and not remove:
        raise _err("InvalidInput", "Invalid request: specify AddTags or RemoveTagKeys.")
    if len(add) > 10 or len(remove) > 10:
        raise _err("InvalidInput", "Invalid request: at most 10 tags may be changed at once.")
    tags = dict(zone.tags)
    for t in add:
        key = t.get("Key")
        if not key or len(key) > 128:
            raise _err(
                "InvalidInput", "Invalid request: every tag needs a Key of 1 to 128 characters."
            )
        value = t.get("Value") or ""
        if len(value) > 256:
            raise _err("InvalidInput", f"Invalid request: the value of tag {key} is too long.")
        tags[key] = value
    for k in remove:
        tags.pop(k, None)
    if len(tags) > 50:
        raise _err("InvalidInput", "Invalid request: a hosted zone can have at most 50 tags.")
    ctx.tx.edit(zone).tags = tags
    return {}


def _tag_set(zone: HostedZone) -> dict:
    return {
        "ResourceType": "hostedzone",
        "ResourceId": zone.id,
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(zone.tags.items())],
    }


@operation("route53", "ListTagsForResource")
def list_tags_for_resource(ctx: RequestContext, params: dict) -> dict:
    zone = _tag_zone(ctx, params["ResourceType"], params["ResourceId"])
    return {"ResourceTagSet": _tag_set(zone)}


@operation("route53", "ListTagsForResources")
def list_tags_for_resources(ctx: RequestContext, params: dict) -> dict:
    ids = params["ResourceIds"] or []
    if not 1 <= len(ids) <= 10:
        raise _err("InvalidInput", "Invalid request: give 1 to 10 ResourceIds.")
    return {
        "ResourceTagSets": [_tag_set(_tag_zone(ctx, params["ResourceType"], rid)) for rid in ids]
    }
