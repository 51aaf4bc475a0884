"""What the PrivateLink operations share: names and ids, who may see a service, the
service's Availability Zones, DNS names, and connection notifications."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import string
import uuid

from ...identity import Principal, principal_matches
from ...state.aws_services import AwsService, aws_service_by_name
from ...state.elbv2 import LoadBalancer
from ...state.privatelink import ConnectionNotification, EndpointService, VpcEndpoint
from ..base import RequestContext
from .azs import AzMap

log = logging.getLogger("privlink.privatelink")

# hosted zone ids of *.vpce.amazonaws.com DNS entries (AWS publishes these two; privlink
# derives a stable id for other regions)
VPCE_HOSTED_ZONES = {"us-east-1": "Z7HUB22UULQXV", "us-east-2": "ZC8PG0KIFKBRI"}

EVENTS = ("Accept", "Connect", "Delete", "Reject")


def vpce_hosted_zone(region: str) -> str:
    if region in VPCE_HOSTED_ZONES:
        return VPCE_HOSTED_ZONES[region]
    digest = hashlib.sha256(f"vpce/{region}".encode()).hexdigest().upper()
    return "Z" + "".join(c for c in digest if c.isalnum())[:12]


def managed_zone_id(endpoint_id: str) -> str:
    """The id of the AWS-managed private hosted zone behind an endpoint's private DNS."""
    digest = hashlib.sha256(f"phz/{endpoint_id}".encode()).hexdigest().upper()
    return "Z" + digest[:20]


def random_token(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def new_dns_suffix() -> str:
    return random_token(string.ascii_lowercase + string.digits, 8)


def service_name_for(region: str, service_id: str) -> str:
    return f"com.amazonaws.vpce.{region}.{service_id}"


def base_dns_name(service: EndpointService) -> str:
    return f"{service.id}.{service.region}.vpce.amazonaws.com"


# -- who may see and use a service ------------------------------------------------------


def is_visible(service: EndpointService, caller: Principal) -> bool:
    """The provider sees its own service; anyone else only if an allowed principal admits
    them (an assumed-role session counts as its role)."""
    if service.account == caller.account:
        return True
    return any(principal_matches(p.principal, caller) for p in service.allowed_principals)


def find_service_by_name(ctx: RequestContext, name: str) -> EndpointService | AwsService | None:
    """The service a consumer names, if it exists in this region and the caller may see it."""
    aws = aws_service_by_name(ctx.region, name)
    if aws is not None:
        return aws
    for svc in ctx.tx.all(EndpointService):
        if svc.service_name == name and svc.region == ctx.region:
            if svc.state in ("Deleting", "Deleted"):
                return None
            return svc if is_visible(svc, ctx.principal) else None
    return None


# -- Availability Zones ---------------------------------------------------------------


def service_zone_ids(ctx: RequestContext, service: EndpointService) -> list[str]:
    """The AZ IDs a service is offered in: where its load balancers have nodes."""
    ids: list[str] = []
    for arn in service.load_balancer_arns:
        lb = ctx.tx.get(LoadBalancer, arn)
        if lb is None:
            continue
        for node in lb.nodes:
            if node.availability_zone_id not in ids:
                ids.append(node.availability_zone_id)
    return sorted(ids)


def zone_names_for(ctx: RequestContext, account: str, zone_ids: list[str]) -> list[str]:
    """The names ``account`` uses for these AZ IDs."""
    azmap = AzMap.of(ctx, account)
    return sorted(azmap.by_id[z] for z in zone_ids if z in azmap.by_id)


# -- DNS names of an endpoint ------------------------------------------------------------


def endpoint_dns_entries(ctx: RequestContext, ep: VpcEndpoint, vpc, subnets) -> list[dict]:
    """Regional name first, then one zonal name per AZ (the consumer's AZ names), then the
    private DNS name when enabled, as AWS lists them. A VPC without DNS support gets none."""
    if ep.endpoint_type != "Interface" or not vpc.enable_dns_support:
        return []
    zone = vpce_hosted_zone(ep.region)
    out = [{"DnsName": ep.regional_dns_name, "HostedZoneId": zone}]
    for s in sorted(subnets, key=lambda s: s.availability_zone):
        out.append({"DnsName": ep.zonal_dns_name(s.availability_zone), "HostedZoneId": zone})
    name = private_dns_name_of(ctx, ep)
    if ep.private_dns_enabled and name:
        out.append({"DnsName": name, "HostedZoneId": managed_zone_id(ep.id)})
    return out


def private_dns_name_of(ctx: RequestContext, ep: VpcEndpoint) -> str | None:
    if ep.service_id:
        svc = ctx.tx.get(EndpointService, ep.service_id)
        return svc.private_dns_name if svc else None
    aws = aws_service_by_name(ep.region, ep.service_name)
    return aws.private_dns_name if aws else None


# -- connection notifications -------------------------------------------------------------


def notify(ctx, event: str, ep: VpcEndpoint, service: EndpointService | None) -> None:
    """Queue the SNS notifications an event fires: service-scoped ones for the provider,
    endpoint-scoped ones for the consumer. Delivery happens after commit, never blocking
    the call that caused the event."""
    if service is None:
        return
    from ..sns import publish_internal

    tx = ctx.tx
    for n in tx.all(ConnectionNotification):
        if n.state != "Enabled" or event not in n.events:
            continue
        if n.service_id == service.id or n.vpc_endpoint_id == ep.id:
            message = {
                "awsAccountId": n.account,
                "eventType": event,
                "endpointServiceId": service.id,
                "serviceName": service.service_name,
                "vpcEndpointId": ep.id,
                "vpcEndpointOwner": ep.account,
                "vpcEndpointState": ep.state,
                "connectionNotificationId": n.id,
                "eventTime": _iso(ctx.now),
                "eventId": str(uuid.uuid4()),
            }
            source_arn = (
                f"arn:aws:ec2:{service.region}:{service.account}:vpc-endpoint-service/{service.id}"
                if n.service_id
                else ep.arn
            )
            sent = publish_internal(
                tx,
                ctx.runtime,
                n.topic_arn,
                json.dumps(message),
                source_service="vpce.amazonaws.com",
                source_account=n.account,
                source_arn=source_arn,
                now=ctx.now,
            )
            if sent is None:
                log.warning(
                    "%s notification %s for %s not published: topic %s is missing or its policy "
                    "does not let vpce.amazonaws.com publish",
                    event,
                    n.id,
                    ep.id,
                    n.topic_arn,
                )


def _iso(ts: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
