"""Connection notifications: SNS topics told of Connect, Accept, Reject and Delete events,
for a whole endpoint service (the provider) or one endpoint (the consumer)."""

from __future__ import annotations

import re

from ...api.errors import AwsError
from ...state.privatelink import ConnectionNotification, EndpointService, VpcEndpoint
from ..base import RequestContext, new_id, operation
from .common import apply_filters, failed_item, paginate
from .plcommon import EVENTS

_TOPIC_ARN = re.compile(r"^arn:aws:sns:([a-z0-9-]+):(\d{12}):([\w-]{1,256})$")


def _not_found(nid: str) -> AwsError:
    return AwsError(
        "InvalidConnectionNotification", f"The connection notification id '{nid}' does not exist"
    )


def _check_topic(ctx: RequestContext, arn: str) -> None:
    m = _TOPIC_ARN.match(arn or "")
    if not m:
        raise AwsError("InvalidParameter", f"'{arn}' is not a valid SNS topic ARN")
    from ...state.sns import Topic

    topic = ctx.tx.get(Topic, arn)
    if topic is None or topic.region != m.group(1):
        raise AwsError("InvalidParameter", f"The SNS topic {arn} does not exist")


def _check_events(events: list[str], endpoint_scoped: bool) -> list[str]:
    if not events:
        raise AwsError("InvalidParameter", "At least one connection event is required")
    for e in events:
        if e not in EVENTS:
            raise AwsError(
                "InvalidParameter",
                f"Invalid connection event '{e}'; valid events are {', '.join(EVENTS)}",
            )
        if endpoint_scoped and e == "Connect":
            raise AwsError(
                "InvalidParameter",
                "Connect events are only available for endpoint service notifications",
            )
    return list(dict.fromkeys(events))


def notification_out(n: ConnectionNotification) -> dict:
    out = {
        "ConnectionNotificationId": n.id,
        "ConnectionNotificationType": "Topic",
        "ConnectionNotificationArn": n.topic_arn,
        "ConnectionEvents": list(n.events),
        "ConnectionNotificationState": n.state,
        "ServiceRegion": n.region,
    }
    if n.service_id:
        out["ServiceId"] = n.service_id
    if n.vpc_endpoint_id:
        out["VpcEndpointId"] = n.vpc_endpoint_id
    return out


@operation("ec2")
def create_vpc_endpoint_connection_notification(ctx: RequestContext, params: dict) -> dict:
    token = params.get("ClientToken")
    if token:
        for n in ctx.tx.owned(ConnectionNotification, ctx.account, ctx.region):
            if n.client_token == token:
                return {"ConnectionNotification": notification_out(n), "ClientToken": token}
    sid, eid = params.get("ServiceId"), params.get("VpcEndpointId")
    if bool(sid) == bool(eid):
        raise AwsError("InvalidParameter", "Specify exactly one of ServiceId and VpcEndpointId")
    if sid:
        from .endpoint_services import get_service

        svc = get_service(ctx, sid)
        if svc.service_type != "Interface":
            raise AwsError(
                "InvalidParameter",
                "Connection notifications are supported for interface endpoint services only",
            )
        count = sum(
            1
            for n in ctx.tx.owned(ConnectionNotification, ctx.account, ctx.region)
            if n.service_id == sid
        )
        if count >= ctx.settings.quotas.connection_notifications_per_service:
            raise AwsError(
                "ConnectionNotificationLimitExceeded",
                f"The endpoint service {sid} has reached its limit of connection notifications",
            )
    else:
        from .endpoints import get_endpoint

        ep = get_endpoint(ctx, eid)
        if ep.endpoint_type != "Interface":
            raise AwsError(
                "InvalidParameter",
                "Connection notifications are supported for interface endpoints only",
            )
    _check_topic(ctx, params["ConnectionNotificationArn"])
    n = ConnectionNotification(
        id=new_id("vpce-nfn-"),
        account=ctx.account,
        region=ctx.region,
        topic_arn=params["ConnectionNotificationArn"],
        events=_check_events(params["ConnectionEvents"], endpoint_scoped=bool(eid)),
        service_id=sid,
        vpc_endpoint_id=eid,
        client_token=token,
        created_at=ctx.now,
    )
    ctx.tx.put(n)
    out = {"ConnectionNotification": notification_out(n)}
    if token:
        out["ClientToken"] = token
    return out


@operation("ec2")
def describe_vpc_endpoint_connection_notifications(ctx: RequestContext, params: dict) -> dict:
    items = list(ctx.tx.owned(ConnectionNotification, ctx.account, ctx.region))
    nid = params.get("ConnectionNotificationId")
    if nid:
        items = [n for n in items if n.id == nid]
        if not items:
            raise _not_found(nid)
    items = apply_filters(
        [_Row(n) for n in items],
        params.get("Filters"),
        {
            "connection-notification-arn": lambda r: r.n.topic_arn,
            "connection-notification-id": lambda r: r.n.id,
            "connection-notification-state": lambda r: r.n.state,
            "connection-notification-type": lambda r: "Topic",
            "service-id": lambda r: r.n.service_id,
            "vpc-endpoint-id": lambda r: r.n.vpc_endpoint_id,
        },
    )
    page, token = paginate(ctx, items, params, key=lambda r: r.n.id, low=5, high=1000)
    return {"ConnectionNotificationSet": [notification_out(r.n) for r in page], "NextToken": token}


class _Row:
    tags: dict = {}

    def __init__(self, n):
        self.n = n


@operation("ec2")
def modify_vpc_endpoint_connection_notification(ctx: RequestContext, params: dict) -> dict:
    nid = params["ConnectionNotificationId"]
    n = ctx.tx.get(ConnectionNotification, nid)
    if n is None or n.owner != (ctx.account, ctx.region):
        raise _not_found(nid)
    mine = ctx.tx.edit(n)
    if params.get("ConnectionNotificationArn"):
        _check_topic(ctx, params["ConnectionNotificationArn"])
        mine.topic_arn = params["ConnectionNotificationArn"]
    if params.get("ConnectionEvents"):
        mine.events = _check_events(
            params["ConnectionEvents"], endpoint_scoped=bool(n.vpc_endpoint_id)
        )
    return {"ReturnValue": True}


@operation("ec2")
def delete_vpc_endpoint_connection_notifications(ctx: RequestContext, params: dict) -> dict:
    unsuccessful = []
    for nid in params["ConnectionNotificationIds"]:
        n = ctx.tx.get(ConnectionNotification, nid)
        if n is None or n.owner != (ctx.account, ctx.region):
            unsuccessful.append(
                failed_item(
                    nid,
                    "InvalidConnectionNotification",
                    f"The connection notification id '{nid}' does not exist",
                )
            )
            continue
        ctx.tx.delete(n)
    return {"Unsuccessful": unsuccessful}


def cleanup_for(
    ctx, service: EndpointService | None = None, endpoint: VpcEndpoint | None = None
) -> None:
    """Notifications of a deleted service or endpoint go with it."""
    for n in list(ctx.tx.all(ConnectionNotification)):
        if (service and n.service_id == service.id) or (
            endpoint and n.vpc_endpoint_id == endpoint.id
        ):
            ctx.tx.delete(n)
