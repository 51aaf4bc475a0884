"""Tags on load balancers, target groups and listeners; the account's limits."""

from __future__ import annotations

from ...api.errors import AwsError
from ...state.elbv2 import Listener, LoadBalancer, TargetGroup
from ..base import RequestContext, operation
from .common import MAX_TAGS, arn_kind, paginate, tag_list, tags_from_list, validation

_KINDS = {
    "loadbalancer": (LoadBalancer, "LoadBalancerNotFound", "One or more load balancers not found"),
    "targetgroup": (TargetGroup, "TargetGroupNotFound", "One or more target groups not found"),
    "listener": (Listener, "ListenerNotFound", "One or more listeners not found"),
}


def _resource(ctx: RequestContext, arn: str):
    kind = arn_kind(arn)
    if kind is None:
        raise validation(f"'{arn}' is not a valid load balancer, target group or listener ARN")
    cls, code, message = _KINDS[kind]
    obj = ctx.tx.get(cls, arn)
    if obj is None or obj.owner != (ctx.account, ctx.region):
        raise AwsError(code, message)
    return obj


def _arns(params: dict) -> list[str]:
    arns = list(dict.fromkeys(params["ResourceArns"]))
    if not arns:
        raise validation("At least one resource ARN must be specified")
    if len(arns) > 20:
        raise validation("At most 20 resource ARNs can be specified")
    return arns


@operation("elbv2")
def add_tags(ctx: RequestContext, params: dict) -> dict:
    new = tags_from_list(params["Tags"])
    if not new:
        raise validation("At least one tag must be specified")
    for arn in _arns(params):
        obj = _resource(ctx, arn)
        merged = {**obj.tags, **new}
        if len(merged) > MAX_TAGS:
            raise AwsError(
                "TooManyTags",
                f"The quota for the number of tags that can be assigned to '{arn}' has been reached",
            )
        if merged != obj.tags:
            ctx.tx.edit(obj).tags = merged
    return {}


@operation("elbv2")
def remove_tags(ctx: RequestContext, params: dict) -> dict:
    keys = params["TagKeys"]
    for arn in _arns(params):
        obj = _resource(ctx, arn)
        kept = {k: v for k, v in obj.tags.items() if k not in keys}
        if kept != obj.tags:
            ctx.tx.edit(obj).tags = kept
    return {}


@operation("elbv2")
def describe_tags(ctx: RequestContext, params: dict) -> dict:
    out = []
    for arn in _arns(params):
        obj = _resource(ctx, arn)
        out.append({"ResourceArn": arn, "Tags": tag_list(obj.tags)})
    return {"TagDescriptions": out}


@operation("elbv2")
def describe_account_limits(ctx: RequestContext, params: dict) -> dict:
    q = ctx.settings.quotas
    limits = [
        ("application-load-balancers", 50),
        ("condition-values-per-alb-rule", 5),
        ("condition-wildcards-per-alb-rule", 5),
        ("gateway-load-balancers", 100),
        ("gateway-load-balancers-per-vpc", 100),
        ("geneve-target-groups", 100),
        ("listeners-per-application-load-balancer", 50),
        ("listeners-per-network-load-balancer", q.listeners_per_load_balancer),
        ("network-load-balancers", q.network_load_balancers_per_region),
        ("rules-per-application-load-balancer", 100),
        ("target-groups", q.target_groups_per_region),
        ("target-groups-per-action-on-application-load-balancer", 5),
        ("target-groups-per-action-on-network-load-balancer", 1),
        ("target-groups-per-application-load-balancer", 100),
        ("targets-per-application-load-balancer", 1000),
        ("targets-per-availability-zone-per-gateway-load-balancer", 300),
        ("targets-per-availability-zone-per-network-load-balancer", 500),
        ("targets-per-network-load-balancer", 3000),
        ("targets-per-target-group", q.targets_per_target_group),
    ]
    page, marker = paginate(limits, params, key=lambda x: x[0])
    return {"Limits": [{"Name": n, "Max": str(m)} for n, m in page], "NextMarker": marker}
