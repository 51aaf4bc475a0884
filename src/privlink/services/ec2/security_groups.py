"""Security groups and their rules, in the forms AWS accepts and returns.

Rules are stored one per (protocol, port range, peer) — :class:`SecurityGroupRule` — which
is both what DescribeSecurityGroupRules lists and what the data plane evaluates; the
``IpPermissions`` view groups them back by protocol and ports as EC2 does.
"""

from __future__ import annotations

import ipaddress

from ...api.errors import AwsError
from ...state.ec2 import NetworkInterface, SecurityGroup, SecurityGroupRule, Vpc
from ..base import RequestContext, new_id, operation
from .common import apply_filters, check_tags, find_owned, paginate, tag_list, tags_from_specs
from .tags import taggable

taggable("sg-", SecurityGroup, "security-group", "InvalidGroup.NotFound")

MAX_RULES = 60

_PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}


def group_not_found(gid: str) -> str:
    return f"The security group '{gid}' does not exist"


def get_group(ctx: RequestContext, gid: str) -> SecurityGroup:
    return find_owned(ctx, SecurityGroup, gid, "InvalidGroup.NotFound", group_not_found(gid))


def _groups_named(ctx: RequestContext, name: str, vpc_id: str | None = None) -> list:
    found = [
        g
        for g in ctx.tx.owned(SecurityGroup, ctx.account, ctx.region)
        if g.group_name == name and (vpc_id is None or g.vpc_id == vpc_id)
    ]
    if not found:
        raise AwsError("InvalidGroup.NotFound", f"The security group '{name}' does not exist")
    return sorted(found, key=lambda g: g.id)


def _group_by_name(ctx: RequestContext, name: str, vpc_id: str | None = None) -> SecurityGroup:
    """The one group called ``name`` (in ``vpc_id`` if given). A name alone means the
    default VPC's group in AWS; privlink has no default VPC, so a name two VPCs share is
    refused rather than acting on either group."""
    found = _groups_named(ctx, name, vpc_id)
    if len(found) > 1:
        raise AwsError(
            "VPCIdNotSpecified",
            f"No default VPC for this user: security group name '{name}' is used in "
            f"{len(found)} VPCs; name the group by its id.",
        )
    return found[0]


def normalise_protocol(proto) -> str:
    p = str(proto).strip().lower()
    p = _PROTOCOL_NAMES.get(p, p)
    if p in ("tcp", "udp", "icmp", "icmpv6", "-1"):
        return p
    if p.isdigit() and 0 <= int(p) <= 255:
        return p
    raise AwsError(
        "InvalidParameterValue", f"Invalid value '{proto}' for IP protocol. Unknown protocol."
    )


def _ports(proto: str, perm: dict) -> tuple[int | None, int | None]:
    lo, hi = perm.get("FromPort"), perm.get("ToPort")
    if proto in ("tcp", "udp"):
        if lo is None or hi is None:
            raise AwsError(
                "InvalidParameterValue",
                "Invalid value for portRange. Must specify both from and to ports with TCP/UDP.",
            )
        if not (0 <= lo <= 65535 and 0 <= hi <= 65535) or lo > hi:
            raise AwsError("InvalidParameterValue", f"Invalid value for portRange: {lo}-{hi}")
        return lo, hi
    if proto in ("icmp", "icmpv6"):
        lo = -1 if lo is None else lo
        hi = -1 if hi is None else hi
        if not (-1 <= lo <= 255 and -1 <= hi <= 255):
            raise AwsError("InvalidParameterValue", f"Invalid value for ICMP type/code: {lo}/{hi}")
        return lo, hi
    return None, None


def _check_cidr(value: str, v6: bool) -> str:
    try:
        net = (ipaddress.IPv6Network if v6 else ipaddress.IPv4Network)(value, strict=False)
    except ValueError:
        raise AwsError(
            "InvalidParameterValue",
            f"Value ({value}) for parameter cidrIp{'v6' if v6 else ''} is invalid. This is not a valid CIDR block.",
        ) from None
    if str(net) != value and net.with_prefixlen != value:
        raise AwsError(
            "InvalidParameterValue",
            f"CIDR block {value} is malformed",
        )
    return value


def rules_from_permissions(
    ctx: RequestContext, group: SecurityGroup, perms: list[dict]
) -> list[SecurityGroupRule]:
    rules = []
    for perm in perms:
        if "IpProtocol" not in perm:
            raise AwsError(
                "MissingParameter",
                "The request must contain the parameter ipPermissions.ipProtocol",
            )
        proto = normalise_protocol(perm["IpProtocol"])
        lo, hi = _ports(proto, perm)
        peers = []
        for r in perm.get("IpRanges") or []:
            peers.append(
                {
                    "cidr_ipv4": _check_cidr(r.get("CidrIp", ""), False),
                    "description": r.get("Description"),
                }
            )
        for r in perm.get("Ipv6Ranges") or []:
            peers.append(
                {
                    "cidr_ipv6": _check_cidr(r.get("CidrIpv6", ""), True),
                    "description": r.get("Description"),
                }
            )
        for r in perm.get("PrefixListIds") or []:
            pl = r.get("PrefixListId") or ""
            if not pl.startswith("pl-"):
                raise AwsError(
                    "InvalidPrefixListId.Malformed", f"The prefix list ID '{pl}' is malformed"
                )
            peers.append({"prefix_list_id": pl, "description": r.get("Description")})
        for r in perm.get("UserIdGroupPairs") or []:
            if r.get("GroupId"):
                ref_owner = r.get("UserId") or ctx.account
                ref = ctx.tx.get(SecurityGroup, r["GroupId"])
                if ref is None or ref.account != ref_owner:
                    raise AwsError("InvalidGroup.NotFound", group_not_found(r["GroupId"]))
            elif r.get("GroupName"):
                ref = _group_by_name(ctx, r["GroupName"], group.vpc_id)
            else:
                raise AwsError("MissingParameter", "A group pair must name a GroupId or GroupName")
            peers.append(
                {
                    "referenced_group_id": ref.id,
                    "referenced_group_owner": ref.account,
                    "description": r.get("Description"),
                }
            )
        if not peers:
            raise AwsError(
                "InvalidParameterValue",
                "Each IP permission must name at least one source or destination "
                "(IpRanges, Ipv6Ranges, PrefixListIds or UserIdGroupPairs).",
            )
        for peer in peers:
            rules.append(
                SecurityGroupRule(
                    rule_id=new_id("sgr-"), ip_protocol=proto, from_port=lo, to_port=hi, **peer
                )
            )
    return rules


def _legacy_permissions(ctx: RequestContext, params: dict) -> list[dict]:
    perms = list(params.get("IpPermissions") or [])
    if params.get("IpProtocol") or params.get("CidrIp") or params.get("SourceSecurityGroupName"):
        perm = {
            "IpProtocol": params.get("IpProtocol", "-1"),
            "FromPort": params.get("FromPort"),
            "ToPort": params.get("ToPort"),
        }
        if params.get("CidrIp"):
            perm["IpRanges"] = [{"CidrIp": params["CidrIp"]}]
        if params.get("SourceSecurityGroupName"):
            perm["UserIdGroupPairs"] = [
                {
                    "GroupName": params["SourceSecurityGroupName"],
                    "UserId": params.get("SourceSecurityGroupOwnerId"),
                }
            ]
        perms.append({k: v for k, v in perm.items() if v is not None})
    return perms


def _rule_key(r: SecurityGroupRule) -> tuple:
    return (
        r.ip_protocol,
        r.from_port,
        r.to_port,
        r.cidr_ipv4,
        r.cidr_ipv6,
        r.referenced_group_id,
        r.prefix_list_id,
    )


def _describe_rule(r: SecurityGroupRule) -> str:
    peer = r.cidr_ipv4 or r.cidr_ipv6 or r.referenced_group_id or r.prefix_list_id
    proto = r.ip_protocol.upper() if r.ip_protocol != "-1" else "ALL"
    ports = f", from port: {r.from_port}, to port: {r.to_port}" if r.from_port is not None else ""
    return f"peer: {peer}, {proto}{ports}, ALLOW"


def rule_out(group: SecurityGroup, r: SecurityGroupRule, egress: bool) -> dict:
    out = {
        "SecurityGroupRuleId": r.rule_id,
        "GroupId": group.id,
        "GroupOwnerId": group.account,
        "IsEgress": egress,
        "IpProtocol": r.ip_protocol,
        "FromPort": r.from_port if r.from_port is not None else -1,
        "ToPort": r.to_port if r.to_port is not None else -1,
        "SecurityGroupRuleArn": f"arn:aws:ec2:{group.region}:{group.account}:security-group-rule/{r.rule_id}",
        "Tags": tag_list(r.tags),
    }
    if r.cidr_ipv4:
        out["CidrIpv4"] = r.cidr_ipv4
    if r.cidr_ipv6:
        out["CidrIpv6"] = r.cidr_ipv6
    if r.prefix_list_id:
        out["PrefixListId"] = r.prefix_list_id
    if r.referenced_group_id:
        out["ReferencedGroupInfo"] = {
            "GroupId": r.referenced_group_id,
            "UserId": r.referenced_group_owner,
        }
    if r.description is not None:
        out["Description"] = r.description
    return out


def permissions_out(rules: list[SecurityGroupRule]) -> list[dict]:
    grouped: dict[tuple, dict] = {}
    for r in rules:
        key = (r.ip_protocol, r.from_port, r.to_port)
        perm = grouped.get(key)
        if perm is None:
            perm = {
                "IpProtocol": r.ip_protocol,
                "IpRanges": [],
                "Ipv6Ranges": [],
                "PrefixListIds": [],
                "UserIdGroupPairs": [],
            }
            if r.from_port is not None:
                perm["FromPort"] = r.from_port
                perm["ToPort"] = r.to_port
            grouped[key] = perm
        desc = {"Description": r.description} if r.description is not None else {}
        if r.cidr_ipv4:
            perm["IpRanges"].append({"CidrIp": r.cidr_ipv4, **desc})
        elif r.cidr_ipv6:
            perm["Ipv6Ranges"].append({"CidrIpv6": r.cidr_ipv6, **desc})
        elif r.prefix_list_id:
            perm["PrefixListIds"].append({"PrefixListId": r.prefix_list_id, **desc})
        elif r.referenced_group_id:
            perm["UserIdGroupPairs"].append(
                {"GroupId": r.referenced_group_id, "UserId": r.referenced_group_owner, **desc}
            )
    return list(grouped.values())


def group_out(g: SecurityGroup) -> dict:
    return {
        "GroupId": g.id,
        "GroupName": g.group_name,
        "Description": g.description,
        "OwnerId": g.account,
        "VpcId": g.vpc_id,
        "SecurityGroupArn": f"arn:aws:ec2:{g.region}:{g.account}:security-group/{g.id}",
        "IpPermissions": permissions_out(g.ingress),
        "IpPermissionsEgress": permissions_out(g.egress),
        "Tags": tag_list(g.tags),
    }


@operation("ec2")
def create_security_group(ctx: RequestContext, params: dict) -> dict:
    name = params["GroupName"]
    description = params["Description"]
    vpc_id = params.get("VpcId")
    if not vpc_id:
        raise AwsError("VPCIdNotSpecified", "No default VPC for this user")
    vpc = find_owned(
        ctx, Vpc, vpc_id, "InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist"
    )
    if not name or len(name) > 255:
        raise AwsError("InvalidParameterValue", "Group name must be 1 to 255 characters")
    if name.lower().startswith("sg-"):
        raise AwsError("InvalidParameterValue", "Group names may not be in the format sg-*.")
    if name == "default":
        raise AwsError("InvalidGroup.Reserved", "The security group 'default' is reserved")
    if len(description) > 255:
        raise AwsError("InvalidParameterValue", "Group description must be at most 255 characters")
    for g in ctx.tx.owned(SecurityGroup, ctx.account, ctx.region):
        if g.vpc_id == vpc.id and g.group_name == name:
            raise AwsError(
                "InvalidGroup.Duplicate",
                f"The security group '{name}' already exists for VPC '{vpc.id}'",
            )
    g = SecurityGroup(
        id=new_id("sg-"),
        account=ctx.account,
        region=ctx.region,
        vpc_id=vpc.id,
        group_name=name,
        description=description,
        egress=[SecurityGroupRule(rule_id=new_id("sgr-"), ip_protocol="-1", cidr_ipv4="0.0.0.0/0")],
        tags=tags_from_specs(params, "security-group"),
        created_at=ctx.now,
    )
    ctx.tx.put(g)
    return {
        "GroupId": g.id,
        "SecurityGroupArn": f"arn:aws:ec2:{g.region}:{g.account}:security-group/{g.id}",
        "Tags": tag_list(g.tags),
    }


def _pick_group(ctx: RequestContext, params: dict) -> SecurityGroup:
    if params.get("GroupId"):
        return get_group(ctx, params["GroupId"])
    if params.get("GroupName"):
        return _group_by_name(ctx, params["GroupName"])
    raise AwsError(
        "MissingParameter", "The request must contain the parameter groupId or groupName"
    )


def _authorize(ctx: RequestContext, params: dict, egress: bool) -> dict:
    group = _pick_group(ctx, params)
    new_rules = rules_from_permissions(ctx, group, _legacy_permissions(ctx, params))
    rule_tags = tags_from_specs(params, "security-group-rule")
    mine = ctx.tx.edit(group)
    existing = mine.egress if egress else mine.ingress
    keys = {_rule_key(r) for r in existing}
    for r in new_rules:
        k = _rule_key(r)
        if k in keys:
            raise AwsError(
                "InvalidPermission.Duplicate",
                f'the specified rule "{_describe_rule(r)}" already exists',
            )
        keys.add(k)
        r.tags = dict(rule_tags)
        existing.append(r)
    if len(existing) > MAX_RULES:
        raise AwsError(
            "RulesPerSecurityGroupLimitExceeded",
            "The maximum number of rules per security group has been reached.",
        )
    return {"Return": True, "SecurityGroupRules": [rule_out(mine, r, egress) for r in new_rules]}


def _revoke(ctx: RequestContext, params: dict, egress: bool) -> dict:
    group = _pick_group(ctx, params)
    mine = ctx.tx.edit(group)
    rules = mine.egress if egress else mine.ingress
    ids = params.get("SecurityGroupRuleIds")
    if ids:
        have = {r.rule_id for r in rules}
        for rid in ids:
            if rid not in have:
                raise AwsError(
                    "InvalidSecurityGroupRuleId.NotFound",
                    f"The security group rule ID '{rid}' does not exist",
                )
        rules[:] = [r for r in rules if r.rule_id not in set(ids)]
        return {"Return": True}
    wanted = rules_from_permissions(ctx, group, _legacy_permissions(ctx, params))
    keys = {_rule_key(r) for r in rules}
    unknown = [w for w in wanted if _rule_key(w) not in keys]
    if unknown and len(unknown) == len(wanted):
        raise AwsError(
            "InvalidPermission.NotFound",
            "The specified rule does not exist in this security group.",
        )
    drop = {_rule_key(w) for w in wanted}
    rules[:] = [r for r in rules if _rule_key(r) not in drop]
    out = {"Return": True}
    if unknown:
        out["UnknownIpPermissions"] = permissions_out(unknown)
    return out


@operation("ec2")
def authorize_security_group_ingress(ctx: RequestContext, params: dict) -> dict:
    return _authorize(ctx, params, egress=False)


@operation("ec2")
def authorize_security_group_egress(ctx: RequestContext, params: dict) -> dict:
    return _authorize(ctx, params, egress=True)


@operation("ec2")
def revoke_security_group_ingress(ctx: RequestContext, params: dict) -> dict:
    return _revoke(ctx, params, egress=False)


@operation("ec2")
def revoke_security_group_egress(ctx: RequestContext, params: dict) -> dict:
    return _revoke(ctx, params, egress=True)


def _perm_values(rules: list[SecurityGroupRule], attr: str):
    return [getattr(r, attr) for r in rules if getattr(r, attr) is not None]


_FILTERS = {
    "group-id": lambda g: g.id,
    "group-name": lambda g: g.group_name,
    "vpc-id": lambda g: g.vpc_id,
    "description": lambda g: g.description,
    "owner-id": lambda g: g.account,
    "ip-permission.cidr": lambda g: _perm_values(g.ingress, "cidr_ipv4"),
    "ip-permission.ipv6-cidr": lambda g: _perm_values(g.ingress, "cidr_ipv6"),
    "ip-permission.from-port": lambda g: _perm_values(g.ingress, "from_port"),
    "ip-permission.to-port": lambda g: _perm_values(g.ingress, "to_port"),
    "ip-permission.protocol": lambda g: _perm_values(g.ingress, "ip_protocol"),
    "ip-permission.group-id": lambda g: _perm_values(g.ingress, "referenced_group_id"),
    "ip-permission.prefix-list-id": lambda g: _perm_values(g.ingress, "prefix_list_id"),
    "egress.ip-permission.cidr": lambda g: _perm_values(g.egress, "cidr_ipv4"),
    "egress.ip-permission.from-port": lambda g: _perm_values(g.egress, "from_port"),
    "egress.ip-permission.to-port": lambda g: _perm_values(g.egress, "to_port"),
    "egress.ip-permission.protocol": lambda g: _perm_values(g.egress, "ip_protocol"),
    "egress.ip-permission.group-id": lambda g: _perm_values(g.egress, "referenced_group_id"),
}


@operation("ec2")
def describe_security_groups(ctx: RequestContext, params: dict) -> dict:
    groups = list(ctx.tx.owned(SecurityGroup, ctx.account, ctx.region))
    if params.get("GroupIds"):
        groups = [get_group(ctx, gid) for gid in dict.fromkeys(params["GroupIds"])]
    if params.get("GroupNames"):
        groups = [g for n in dict.fromkeys(params["GroupNames"]) for g in _groups_named(ctx, n)]
    groups = apply_filters(groups, params.get("Filters"), _FILTERS)
    page, token = paginate(ctx, groups, params, ids_param="GroupIds")
    return {"SecurityGroups": [group_out(g) for g in page], "NextToken": token}


def _dependents(ctx: RequestContext, group: SecurityGroup) -> list[str]:
    deps = [
        e.id
        for e in ctx.tx.owned(NetworkInterface, ctx.account, ctx.region)
        if group.id in e.security_group_ids
    ]
    for g in ctx.tx.owned(SecurityGroup, ctx.account, ctx.region):
        if g.id != group.id and any(
            r.referenced_group_id == group.id for r in g.ingress + g.egress
        ):
            deps.append(g.id)
    for hook in GROUP_DEPENDENCY_HOOKS:
        deps += hook(ctx, group)
    return deps


# other modules (endpoints …) add "what still uses this group"
GROUP_DEPENDENCY_HOOKS: list = []


@operation("ec2")
def delete_security_group(ctx: RequestContext, params: dict) -> dict:
    group = _pick_group(ctx, params)
    if group.is_default:
        raise AwsError(
            "CannotDelete",
            f'the specified group: "{group.id}" name: "default" cannot be deleted by a user',
        )
    if _dependents(ctx, group):
        raise AwsError("DependencyViolation", f"resource {group.id} has a dependent object")
    ctx.tx.delete(group)
    return {"Return": True, "GroupId": group.id}


_RULE_FILTERS = {
    "group-id": lambda row: row[0].id,
    "security-group-rule-id": lambda row: row[1].rule_id,
}


class _RuleRow(tuple):
    @property
    def tags(self):
        return self[1].tags


@operation("ec2")
def describe_security_group_rules(ctx: RequestContext, params: dict) -> dict:
    rows = []
    for g in ctx.tx.owned(SecurityGroup, ctx.account, ctx.region):
        rows += [_RuleRow((g, r, False)) for r in g.ingress]
        rows += [_RuleRow((g, r, True)) for r in g.egress]
    ids = params.get("SecurityGroupRuleIds")
    if ids:
        have = {row[1].rule_id for row in rows}
        for rid in ids:
            if rid not in have:
                raise AwsError(
                    "InvalidSecurityGroupRuleId.NotFound",
                    f"The security group rule ID '{rid}' does not exist",
                )
        rows = [row for row in rows if row[1].rule_id in ids]
    rows = apply_filters(rows, params.get("Filters"), _RULE_FILTERS)
    page, token = paginate(ctx, rows, params, key=lambda row: row[1].rule_id, low=5, high=1000)
    return {"SecurityGroupRules": [rule_out(g, r, e) for g, r, e in page], "NextToken": token}


@operation("ec2")
def modify_security_group_rules(ctx: RequestContext, params: dict) -> dict:
    group = get_group(ctx, params["GroupId"])
    mine = ctx.tx.edit(group)
    by_id = {r.rule_id: (r, False) for r in mine.ingress}
    by_id.update({r.rule_id: (r, True) for r in mine.egress})
    for upd in params["SecurityGroupRules"]:
        rid = upd["SecurityGroupRuleId"]
        if rid not in by_id:
            raise AwsError(
                "InvalidSecurityGroupRuleId.NotFound",
                f"The security group rule ID '{rid}' does not exist",
            )
        rule, egress = by_id[rid]
        req = upd.get("SecurityGroupRule") or {}
        perm = {
            "IpProtocol": req.get("IpProtocol", rule.ip_protocol),
            "FromPort": req.get("FromPort", rule.from_port),
            "ToPort": req.get("ToPort", rule.to_port),
        }
        if req.get("CidrIpv4"):
            perm["IpRanges"] = [{"CidrIp": req["CidrIpv4"]}]
        elif req.get("CidrIpv6"):
            perm["Ipv6Ranges"] = [{"CidrIpv6": req["CidrIpv6"]}]
        elif req.get("ReferencedGroupId"):
            perm["UserIdGroupPairs"] = [{"GroupId": req["ReferencedGroupId"]}]
        elif req.get("PrefixListId"):
            perm["PrefixListIds"] = [{"PrefixListId": req["PrefixListId"]}]
        else:
            raise AwsError(
                "MissingParameter", "A security group rule must name a CIDR, group or prefix list"
            )
        (new,) = rules_from_permissions(
            ctx, group, [{k: v for k, v in perm.items() if v is not None}]
        )
        rule.ip_protocol, rule.from_port, rule.to_port = new.ip_protocol, new.from_port, new.to_port
        rule.cidr_ipv4, rule.cidr_ipv6 = new.cidr_ipv4, new.cidr_ipv6
        rule.referenced_group_id, rule.referenced_group_owner = (
            new.referenced_group_id,
            new.referenced_group_owner,
        )
        rule.prefix_list_id = new.prefix_list_id
        rule.description = req.get("Description", rule.description)
        rules = mine.egress if egress else mine.ingress
        keys = [_rule_key(r) for r in rules]
        if len(keys) != len(set(keys)):
            raise AwsError(
                "InvalidPermission.Duplicate",
                f'the specified rule "{_describe_rule(rule)}" already exists',
            )
    return {"Return": True}


def _update_descriptions(ctx: RequestContext, params: dict, egress: bool) -> dict:
    group = _pick_group(ctx, params)
    mine = ctx.tx.edit(group)
    rules = mine.egress if egress else mine.ingress
    for upd in params.get("SecurityGroupRuleDescriptions") or []:
        for r in rules:
            if r.rule_id == upd.get("SecurityGroupRuleId"):
                r.description = upd.get("Description")
    if params.get("IpPermissions"):
        wanted = rules_from_permissions(ctx, group, params["IpPermissions"])
        for w in wanted:
            for r in rules:
                if _rule_key(r) == _rule_key(w):
                    r.description = w.description
    return {"Return": True}


@operation("ec2")
def update_security_group_rule_descriptions_ingress(ctx: RequestContext, params: dict) -> dict:
    return _update_descriptions(ctx, params, egress=False)


@operation("ec2")
def update_security_group_rule_descriptions_egress(ctx: RequestContext, params: dict) -> dict:
    return _update_descriptions(ctx, params, egress=True)


__all__ = ["check_tags", "group_out", "get_group", "normalise_protocol"]
