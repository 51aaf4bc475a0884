"""Endpoint services (the provider side of PrivateLink): configurations, allowed principals,
private DNS name verification, and the consumer's view (DescribeVpcEndpointServices)."""

from __future__ import annotations

import re
import string

from ...api.errors import AwsError
from ...state.aws_services import AwsService, aws_services
from ...state.elbv2 import LoadBalancer
from ...state.privatelink import AllowedPrincipal, EndpointService, VpcEndpoint
from ..base import RequestContext, TimerContext, new_id, on_timer, operation
from .common import apply_filters, failed_item, find_owned, paginate, tag_list, tags_from_specs
from .plcommon import (
    base_dns_name,
    is_visible,
    random_token,
    service_name_for,
    service_zone_ids,
    zone_names_for,
)
from .tags import taggable

taggable(
    "vpce-svc-", EndpointService, "vpc-endpoint-service", "InvalidVpcEndpointServiceId.NotFound"
)

_LB_ARN = re.compile(
    r"^arn:aws:elasticloadbalancing:([a-z0-9-]+):(\d{12}):loadbalancer/(net|gwy|app)/[^/]+/[0-9a-f]+$"
)
_DNS_NAME = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_PRINCIPAL = re.compile(
    r"^(\*|arn:aws:iam::\d{12}:(root|role/[\w+=,.@/-]+|user/[\w+=,.@/-]+)|arn:aws:iam::\d{12}|"
    r"[a-z0-9.-]+\.amazonaws\.com|arn:aws:organizations::\d{12}:ou/o-[a-z0-9]+/ou-[a-z0-9-]+)$"
)


def service_not_found(sid: str) -> str:
    return f"The VpcEndpointService Id '{sid}' does not exist"


def get_service(ctx: RequestContext, sid: str) -> EndpointService:
    if not re.fullmatch(r"vpce-svc-[0-9a-f]{17}", sid or ""):
        raise AwsError(
            "InvalidVpcEndpointServiceId.Malformed",
            f'Invalid Id: "{sid}" (expecting "vpce-svc-xxxxxxxxxxxxxxxxx")',
        )
    svc = find_owned(
        ctx, EndpointService, sid, "InvalidVpcEndpointServiceId.NotFound", service_not_found(sid)
    )
    if svc.state == "Deleted":
        raise AwsError("InvalidVpcEndpointServiceId.NotFound", service_not_found(sid))
    return svc


def _dns_config(svc: EndpointService) -> dict:
    if not svc.private_dns_name:
        return {}
    return {
        "State": svc.private_dns_state,
        "Type": "TXT",
        "Value": svc.private_dns_txt_value,
        "Name": svc.private_dns_txt_name,
    }


def service_config_out(ctx: RequestContext, svc: EndpointService) -> dict:
    zone_ids = service_zone_ids(ctx, svc)
    out = {
        "ServiceType": [{"ServiceType": svc.service_type}],
        "ServiceId": svc.id,
        "ServiceName": svc.service_name,
        "ServiceState": svc.state,
        "AvailabilityZoneIds": zone_ids,
        "AvailabilityZones": zone_names_for(ctx, svc.account, zone_ids),
        "AcceptanceRequired": svc.acceptance_required,
        "ManagesVpcEndpoints": svc.manages_vpc_endpoints,
        "NetworkLoadBalancerArns": list(svc.network_load_balancer_arns),
        "GatewayLoadBalancerArns": list(svc.gateway_load_balancer_arns),
        "SupportedIpAddressTypes": list(svc.supported_ip_address_types),
        "BaseEndpointDnsNames": [base_dns_name(svc)],
        "PrivateDnsNameConfiguration": _dns_config(svc),
        "PayerResponsibility": svc.payer_responsibility,
        "Tags": tag_list(svc.tags),
        "SupportedRegions": [
            {"Region": r, "ServiceState": "Available"} for r in supported_regions_of(svc)
        ],
        "RemoteAccessEnabled": False,
    }
    if svc.private_dns_name:
        out["PrivateDnsName"] = svc.private_dns_name
    return out


def supported_regions_of(svc: EndpointService) -> list[str]:
    """The Regions consumers may connect from: the service's own Region always (AWS lists
    it even when no Region was asked for), then any cross-Region ones added."""
    return [svc.region] + [r for r in svc.supported_regions if r != svc.region]


def _check_lb_arns(arns: list[str]) -> None:
    for arn in arns:
        if not _LB_ARN.match(arn):
            raise AwsError("InvalidParameter", f"'{arn}' is not a valid load balancer ARN")


def _check_ip_types(types: list[str]) -> None:
    for t in types:
        if t not in ("ipv4", "ipv6"):
            raise AwsError("InvalidParameter", f"Unsupported IP address type '{t}'")


# an AWS Region code: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, us-isob-east-1
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}")


def _check_regions(regions: list[str]) -> None:
    for r in regions:
        if not _REGION.fullmatch(r):
            raise AwsError("InvalidParameter", f"The Region '{r}' is not a valid Region.")


def _lb_taken(ctx: RequestContext, arns: list[str], but: str | None = None) -> None:
    """A load balancer serves at most one endpoint service."""
    for other in ctx.tx.owned(EndpointService, ctx.account, ctx.region):
        if other.id == but or other.state == "Deleted":
            continue
        for arn in arns:
            if arn in other.load_balancer_arns:
                raise AwsError(
                    "InvalidParameter",
                    f"Load balancer {arn} is already associated with endpoint service {other.id}",
                )


def _check_dns_name(name: str) -> str:
    name = name.strip().lower().rstrip(".")
    if len(name) > 255 or not _DNS_NAME.match(name):
        raise AwsError(
            "InvalidParameter", f"The private DNS name '{name}' is not a valid domain name."
        )
    return name


def _set_private_dns_name(ctx: RequestContext, svc: EndpointService, name: str) -> None:
    svc.private_dns_name = _check_dns_name(name)
    svc.private_dns_state = "pendingVerification"
    svc.private_dns_txt_name = "_" + random_token(string.ascii_lowercase + string.digits, 20)
    svc.private_dns_txt_value = "vpce:" + random_token(string.ascii_letters + string.digits, 20)
    svc.private_dns_verification_deadline = None


@operation("ec2")
def create_vpc_endpoint_service_configuration(ctx: RequestContext, params: dict) -> dict:
    token = params.get("ClientToken")
    if token:
        for svc in ctx.tx.owned(EndpointService, ctx.account, ctx.region):
            if svc.client_token == token:
                return {"ServiceConfiguration": service_config_out(ctx, svc), "ClientToken": token}
    nlbs = params.get("NetworkLoadBalancerArns") or []
    gwlbs = params.get("GatewayLoadBalancerArns") or []
    if bool(nlbs) == bool(gwlbs):
        raise AwsError(
            "InvalidParameter",
            "exactly one of network_load_balancer_arn or gateway_load_balancer_arn is a required member",
        )
    _check_lb_arns(nlbs + gwlbs)
    ip_types = params.get("SupportedIpAddressTypes") or ["ipv4"]
    _check_ip_types(ip_types)
    _check_regions(params.get("SupportedRegions") or [])
    live = [
        s for s in ctx.tx.owned(EndpointService, ctx.account, ctx.region) if s.state != "Deleted"
    ]
    if len(live) >= ctx.settings.quotas.endpoint_services_per_region:
        raise AwsError(
            "ServiceQuotaExceeded",
            "You've reached the limit on the number of VPC endpoint services in this Region.",
        )
    _lb_taken(ctx, nlbs + gwlbs)
    sid = new_id("vpce-svc-")
    svc = EndpointService(
        id=sid,
        account=ctx.account,
        region=ctx.region,
        service_name=service_name_for(ctx.region, sid),
        service_type="Interface" if nlbs else "GatewayLoadBalancer",
        acceptance_required=params.get("AcceptanceRequired", True),
        network_load_balancer_arns=list(dict.fromkeys(nlbs)),
        gateway_load_balancer_arns=list(dict.fromkeys(gwlbs)),
        supported_ip_address_types=list(dict.fromkeys(ip_types)),
        supported_regions=list(dict.fromkeys(params.get("SupportedRegions") or [])),
        client_token=token,
        tags=tags_from_specs(params, "vpc-endpoint-service"),
        created_at=ctx.now,
    )
    if params.get("PrivateDnsName"):
        if gwlbs:
            raise AwsError(
                "InvalidParameter",
                "Private DNS names are not supported for Gateway Load Balancer endpoint services.",
            )
        _set_private_dns_name(ctx, svc, params["PrivateDnsName"])
    ctx.tx.put(svc)
    ctx.schedule(
        ctx.settings.timing.endpoint_service_pending, "privatelink.service_activate", service_id=sid
    )
    out = {"ServiceConfiguration": service_config_out(ctx, svc)}
    if token:
        out["ClientToken"] = token
    return out


def _lb_problem(tx, svc: EndpointService) -> str | None | bool:
    """Why the service cannot use its load balancers (a string), True while one is still
    provisioning, or None when all is well."""
    waiting = False
    want = "network" if svc.network_load_balancer_arns else "gateway"
    for arn in svc.load_balancer_arns:
        lb = tx.get(LoadBalancer, arn)
        if lb is None or lb.account != svc.account or lb.region != svc.region:
            return f"Load balancer {arn} was not found"
        if lb.type != want:
            return f"Load balancer {arn} is not a {want} load balancer"
        if lb.type == "network" and lb.scheme != "internal":
            return f"Load balancer {arn} is internet-facing; an endpoint service needs an internal Network Load Balancer"
        if lb.state == "provisioning":
            waiting = True
        elif lb.state == "failed":
            return f"Load balancer {arn} failed to provision"
    return True if waiting else None


@on_timer("privatelink.service_activate")
def _activate(tctx: TimerContext, args: dict) -> None:
    svc = tctx.tx.get(EndpointService, args["service_id"])
    if svc is None or svc.state not in ("Pending",):
        return
    problem = _lb_problem(tctx.tx, svc)
    if problem is True:
        tctx.schedule(0.5, "privatelink.service_activate", service_id=svc.id)
        return
    mine = tctx.tx.edit(svc)
    if problem:
        mine.state, mine.state_reason = "Failed", problem
    else:
        mine.state, mine.state_reason = "Available", None


_FILTERS = {
    "service-name": lambda s: s.service_name,
    "service-id": lambda s: s.id,
    "service-state": lambda s: s.state,
    "supported-ip-address-types": lambda s: s.supported_ip_address_types,
}


@operation("ec2")
def describe_vpc_endpoint_service_configurations(ctx: RequestContext, params: dict) -> dict:
    if params.get("ServiceIds"):
        svcs = [get_service(ctx, sid) for sid in dict.fromkeys(params["ServiceIds"])]
    else:
        svcs = [
            s
            for s in ctx.tx.owned(EndpointService, ctx.account, ctx.region)
            if s.state != "Deleted"
        ]
    svcs = apply_filters(svcs, params.get("Filters"), _FILTERS)
    page, token = paginate(ctx, svcs, params, ids_param=None)
    return {"ServiceConfigurations": [service_config_out(ctx, s) for s in page], "NextToken": token}


@operation("ec2")
def modify_vpc_endpoint_service_configuration(ctx: RequestContext, params: dict) -> dict:
    svc = get_service(ctx, params["ServiceId"])
    if svc.state in ("Deleting", "Deleted"):
        raise AwsError("InvalidParameter", f"The endpoint service {svc.id} is being deleted.")
    mine = ctx.tx.edit(svc)
    if params.get("AcceptanceRequired") is not None:
        mine.acceptance_required = params["AcceptanceRequired"]
    if params.get("PrivateDnsName") and params.get("RemovePrivateDnsName"):
        raise AwsError(
            "InvalidParameter", "PrivateDnsName and RemovePrivateDnsName cannot be used together."
        )
    if params.get("PrivateDnsName"):
        if svc.service_type == "GatewayLoadBalancer":
            raise AwsError(
                "InvalidParameter",
                "Private DNS names are not supported for Gateway Load Balancer endpoint services.",
            )
        new = _check_dns_name(params["PrivateDnsName"])
        if new != svc.private_dns_name:
            _set_private_dns_name(ctx, mine, new)
    if params.get("RemovePrivateDnsName"):
        in_use = [
            e.id
            for e in ctx.tx.all(VpcEndpoint)
            if e.service_id == svc.id
            and e.private_dns_enabled
            and e.state not in ("deleted", "deleting")
        ]
        mine.private_dns_name = mine.private_dns_state = None
        mine.private_dns_txt_name = mine.private_dns_txt_value = None
        for eid in in_use:
            ep = ctx.tx.edit(ctx.tx.get(VpcEndpoint, eid))
            ep.private_dns_enabled = False
    lists = (
        (
            "AddNetworkLoadBalancerArns",
            "RemoveNetworkLoadBalancerArns",
            "network_load_balancer_arns",
        ),
        (
            "AddGatewayLoadBalancerArns",
            "RemoveGatewayLoadBalancerArns",
            "gateway_load_balancer_arns",
        ),
        (
            "AddSupportedIpAddressTypes",
            "RemoveSupportedIpAddressTypes",
            "supported_ip_address_types",
        ),
        ("AddSupportedRegions", "RemoveSupportedRegions", "supported_regions"),
    )
    if svc.region in (params.get("RemoveSupportedRegions") or []):
        raise AwsError(
            "InvalidParameter",
            f"The service Region {svc.region} cannot be removed from the supported Regions.",
        )
    _check_ip_types(params.get("AddSupportedIpAddressTypes") or [])
    _check_regions(params.get("AddSupportedRegions") or [])
    _lb_taken(
        ctx,
        (params.get("AddNetworkLoadBalancerArns") or [])
        + (params.get("AddGatewayLoadBalancerArns") or []),
        but=svc.id,
    )
    lbs_changed = False
    for add, remove, field in lists:
        current = getattr(mine, field)
        for v in params.get(add) or []:
            if field.endswith("_arns"):
                _check_lb_arns([v])
                lbs_changed = True
            if v not in current:
                current.append(v)
        for v in params.get(remove) or []:
            if v in current:
                current.remove(v)
                lbs_changed = lbs_changed or field.endswith("_arns")
    if mine.network_load_balancer_arns and mine.gateway_load_balancer_arns:
        raise AwsError(
            "InvalidParameter",
            "An endpoint service uses Network Load Balancers or Gateway Load Balancers, not both.",
        )
    if not mine.load_balancer_arns:
        raise AwsError("InvalidParameter", "An endpoint service needs at least one load balancer.")
    if not mine.supported_ip_address_types:
        raise AwsError(
            "InvalidParameter", "An endpoint service needs at least one supported IP address type."
        )
    if lbs_changed:
        problem = _lb_problem(ctx.tx, mine)
        if isinstance(problem, str):
            raise AwsError("InvalidParameter", problem)
    return {"Return": True}


@operation("ec2")
def delete_vpc_endpoint_service_configurations(ctx: RequestContext, params: dict) -> dict:
    unsuccessful = []
    for sid in params["ServiceIds"]:
        svc = ctx.tx.get(EndpointService, sid)
        if svc is None or svc.owner != (ctx.account, ctx.region) or svc.state == "Deleted":
            unsuccessful.append(
                failed_item(sid, "InvalidVpcEndpointService.NotFound", service_not_found(sid))
            )
            continue
        live = [
            e
            for e in ctx.tx.all(VpcEndpoint)
            if e.service_id == svc.id and e.state in ("available", "pendingAcceptance", "pending")
        ]
        if live:
            unsuccessful.append(
                failed_item(
                    sid,
                    "ExistingVpcEndpointConnections",
                    f"Service has existing active VPC Endpoint connections: {', '.join(e.id for e in live)}",
                )
            )
            continue
        mine = ctx.tx.edit(svc)
        mine.state = "Deleting"
        for e in ctx.tx.all(VpcEndpoint):
            if e.service_id == svc.id and e.state not in ("deleting", "deleted", "rejected"):
                ep = ctx.tx.edit(e)
                ep.state, ep.state_changed_at = "rejected", ctx.now
        ctx.schedule(
            ctx.settings.timing.endpoint_service_pending,
            "privatelink.service_deleted",
            service_id=sid,
        )
    return {"Unsuccessful": unsuccessful}


@on_timer("privatelink.service_deleted")
def _deleted(tctx: TimerContext, args: dict) -> None:
    svc = tctx.tx.get(EndpointService, args["service_id"])
    if svc is not None and svc.state == "Deleting":
        from .notifications import cleanup_for

        cleanup_for(tctx, service=svc)
        tctx.tx.delete(svc)


# -- allowed principals --------------------------------------------------------------------


def _principal_type(p: str) -> str:
    if p == "*":
        return "All"
    if p.endswith(":root") or re.fullmatch(r"arn:aws:iam::\d{12}", p):
        return "Account"
    if ":role/" in p:
        return "Role"
    if ":user/" in p:
        return "User"
    if ":ou/" in p:
        return "OrganizationUnit"
    return "Service"


def _principal_out(svc: EndpointService, p: AllowedPrincipal) -> dict:
    return {
        "PrincipalType": p.principal_type,
        "Principal": p.principal,
        "ServicePermissionId": p.permission_id,
        "ServiceId": svc.id,
        "Tags": tag_list(p.tags),
    }


@operation("ec2")
def modify_vpc_endpoint_service_permissions(ctx: RequestContext, params: dict) -> dict:
    svc = get_service(ctx, params["ServiceId"])
    mine = ctx.tx.edit(svc)
    added = []
    have = {p.principal for p in mine.allowed_principals}
    for principal in params.get("AddAllowedPrincipals") or []:
        if not _PRINCIPAL.match(principal):
            raise AwsError("InvalidPrincipal", f"Invalid principal {principal}")
        if principal in have:
            continue
        p = AllowedPrincipal(principal, _principal_type(principal), new_id("vpce-svc-perm-"))
        mine.allowed_principals.append(p)
        have.add(principal)
        added.append({k: v for k, v in _principal_out(mine, p).items() if k != "Tags"})
    for principal in params.get("RemoveAllowedPrincipals") or []:
        mine.allowed_principals = [p for p in mine.allowed_principals if p.principal != principal]
    limit = ctx.settings.quotas.allowed_principals_per_service
    if len(mine.allowed_principals) > limit:
        raise AwsError(
            "ExceededAllowedPrincipalsLimit",
            f"You've reached the limit of {limit} allowed principals for the endpoint service {svc.id}.",
        )
    return {"AddedPrincipals": added, "ReturnValue": True}


@operation("ec2")
def describe_vpc_endpoint_service_permissions(ctx: RequestContext, params: dict) -> dict:
    svc = get_service(ctx, params["ServiceId"])
    rows = [_Row(svc, p) for p in svc.allowed_principals]
    rows = apply_filters(
        rows,
        params.get("Filters"),
        {"principal": lambda r: r.p.principal, "principal-type": lambda r: r.p.principal_type},
    )
    page, token = paginate(ctx, rows, params, key=lambda r: r.p.permission_id, low=5, high=1000)
    return {"AllowedPrincipals": [_principal_out(svc, r.p) for r in page], "NextToken": token}


class _Row:
    def __init__(self, svc, p):
        self.svc, self.p = svc, p
        self.tags = p.tags


@operation("ec2")
def modify_vpc_endpoint_service_payer_responsibility(ctx: RequestContext, params: dict) -> dict:
    svc = get_service(ctx, params["ServiceId"])
    if params["PayerResponsibility"] != "ServiceOwner":
        raise AwsError(
            "InvalidParameter",
            f"Invalid payer responsibility '{params['PayerResponsibility']}'; only ServiceOwner is supported.",
        )
    ctx.tx.edit(svc).payer_responsibility = "ServiceOwner"
    return {"ReturnValue": True}


# -- private DNS name verification --------------------------------------------------------


def txt_record_name(svc: EndpointService) -> str:
    """Where the provider publishes the verification TXT record."""
    domain = (svc.private_dns_name or "").removeprefix("*.")
    return f"{svc.private_dns_txt_name}.{domain}"


@operation("ec2")
def start_vpc_endpoint_service_private_dns_verification(ctx: RequestContext, params: dict) -> dict:
    svc = get_service(ctx, params["ServiceId"])
    if not svc.private_dns_name:
        raise AwsError(
            "InvalidParameter", f"The endpoint service {svc.id} does not have a private DNS name."
        )
    mine = ctx.tx.edit(svc)
    mine.private_dns_state = "pendingVerification"
    mine.private_dns_verification_deadline = (
        ctx.now + ctx.settings.timing.private_dns_verification_retry_window
    )
    ctx.schedule(
        ctx.settings.timing.private_dns_verification, "privatelink.verify_dns", service_id=svc.id
    )
    return {"ReturnValue": True}


@on_timer("privatelink.verify_dns")
def _verify(tctx: TimerContext, args: dict) -> None:
    svc = tctx.tx.get(EndpointService, args["service_id"])
    if svc is None or not svc.private_dns_name or svc.private_dns_state != "pendingVerification":
        return
    from ...state.route53 import find_public_txt

    values = find_public_txt(tctx.tx, txt_record_name(svc))
    if svc.private_dns_txt_value in values:
        tctx.tx.edit(svc).private_dns_state = "verified"
        return
    deadline = svc.private_dns_verification_deadline or 0
    if tctx.now >= deadline:
        tctx.tx.edit(svc).private_dns_state = "failed"
    else:
        tctx.schedule(
            min(1.0, max(0.1, deadline - tctx.now)), "privatelink.verify_dns", service_id=svc.id
        )


# -- the consumer's view -----------------------------------------------------------------


def _detail(ctx: RequestContext, svc) -> dict:
    if isinstance(svc, AwsService):
        zone_ids = svc.zone_ids
        return {
            "ServiceName": svc.service_name,
            "ServiceType": [{"ServiceType": t} for t in svc.types],
            "ServiceRegion": ctx.region,
            "AvailabilityZoneIds": zone_ids,
            "AvailabilityZones": zone_names_for(ctx, ctx.account, zone_ids),
            "Owner": "amazon",
            "BaseEndpointDnsNames": svc.base_dns_names,
            "PrivateDnsName": svc.private_dns_name,
            "PrivateDnsNames": [{"PrivateDnsName": svc.private_dns_name}]
            if svc.private_dns_name
            else [],
            "VpcEndpointPolicySupported": True,
            "AcceptanceRequired": False,
            "ManagesVpcEndpoints": False,
            "SupportedIpAddressTypes": ["ipv4"],
            "PrivateDnsNameVerificationState": "verified" if svc.private_dns_name else None,
            "Tags": [],
        }
    zone_ids = service_zone_ids(ctx, svc)
    out = {
        "ServiceName": svc.service_name,
        "ServiceId": svc.id,
        "ServiceType": [{"ServiceType": svc.service_type}],
        "ServiceRegion": svc.region,
        "AvailabilityZoneIds": zone_ids,
        "AvailabilityZones": zone_names_for(ctx, ctx.account, zone_ids),
        "Owner": svc.account,
        "BaseEndpointDnsNames": [base_dns_name(svc)],
        "VpcEndpointPolicySupported": False,
        "AcceptanceRequired": svc.acceptance_required,
        "ManagesVpcEndpoints": svc.manages_vpc_endpoints,
        "PayerResponsibility": svc.payer_responsibility,
        "SupportedIpAddressTypes": list(svc.supported_ip_address_types),
        "Tags": tag_list(svc.tags) if svc.account == ctx.account else [],
        "PrivateDnsNames": [],
    }
    if svc.private_dns_name:
        out["PrivateDnsName"] = svc.private_dns_name
        out["PrivateDnsNames"] = [{"PrivateDnsName": svc.private_dns_name}]
        out["PrivateDnsNameVerificationState"] = svc.private_dns_state
    return out


class _Svc:
    def __init__(self, svc, detail):
        self.svc, self.d = svc, detail
        self.tags = {t["Key"]: t["Value"] for t in detail.get("Tags") or []}


@operation("ec2")
def describe_vpc_endpoint_services(ctx: RequestContext, params: dict) -> dict:
    visible = [
        s
        for s in ctx.tx.all(EndpointService)
        if s.region == ctx.region and s.state == "Available" and is_visible(s, ctx.principal)
    ]
    candidates: list = aws_services(ctx.region) + visible
    names = params.get("ServiceNames")
    if names:
        by_name = {s.service_name: s for s in candidates}
        for n in names:
            if n not in by_name:
                raise AwsError(
                    "InvalidServiceName", f"The Vpc Endpoint Service '{n}' does not exist"
                )
        candidates = [by_name[n] for n in dict.fromkeys(names)]
    rows = [_Svc(s, _detail(ctx, s)) for s in candidates]
    rows = apply_filters(
        rows,
        params.get("Filters"),
        {
            "service-name": lambda r: r.d["ServiceName"],
            "service-type": lambda r: [t["ServiceType"] for t in r.d["ServiceType"]],
            "owner": lambda r: r.d["Owner"],
            "service-region": lambda r: r.d["ServiceRegion"],
            "supported-ip-address-types": lambda r: r.d["SupportedIpAddressTypes"],
        },
    )
    page, token = paginate(ctx, rows, params, key=lambda r: r.d["ServiceName"], low=5, high=1000)
    details = [{k: v for k, v in r.d.items() if v is not None} for r in page]
    return {
        "ServiceNames": [d["ServiceName"] for d in details],
        "ServiceDetails": details,
        "NextToken": token,
    }


__all__ = ["get_service", "service_config_out", "is_visible", "txt_record_name"]


# -- what endpoint services block in ELBv2 ------------------------------------------------------


def _lb_user(tx, lb) -> str | None:
    """An endpoint service using the load balancer blocks deleting it (its id is named)."""
    for svc in tx.all(EndpointService):
        # only a service of the load balancer's owner that took it up counts: a service that
        # failed (say another account naming this ARN) never used it
        if svc.owner != (lb.account, lb.region) or svc.state in ("Deleted", "Failed"):
            continue
        if lb.id in svc.load_balancer_arns:
            return svc.id
    return None


def _zones_in_use(tx, lb, removed_zone_ids: list[str]) -> str | None:
    """A subnet cannot be removed from an NLB while VPC endpoints of its service use the AZ."""
    from ...state.ec2 import Subnet

    for svc in tx.all(EndpointService):
        if lb.id not in svc.load_balancer_arns or svc.state == "Deleted":
            continue
        for ep in tx.all(VpcEndpoint):
            if ep.service_id != svc.id or ep.state not in (
                "available",
                "pending",
                "pendingAcceptance",
            ):
                continue
            for sid in ep.subnet_ids:
                s = tx.get(Subnet, sid)
                if s is not None and s.availability_zone_id in removed_zone_ids:
                    return (
                        f"Availability Zone {s.availability_zone_id} cannot be removed from load balancer "
                        f"'{lb.id}': VPC endpoint {ep.id} of endpoint service {svc.id} uses it"
                    )
    return None


def _register_elbv2_hooks() -> None:
    from ..elbv2.load_balancers import LB_IN_USE_HOOKS, LB_ZONE_REMOVAL_HOOKS

    LB_IN_USE_HOOKS.append(_lb_user)
    LB_ZONE_REMOVAL_HOOKS.append(_zones_in_use)


_register_elbv2_hooks()
