"""What every ELBv2 operation shares: ARNs, names, lookups with AWS's not-found errors,
Marker/PageSize paging, tags and attribute validation."""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Callable, Iterable

from ...api.errors import AwsError
from ...state.elbv2 import Listener, LoadBalancer, TargetGroup
from ..base import RequestContext

ARN_PREFIX = "arn:aws:elasticloadbalancing"
TYPE_PREFIX = {"network": "net", "application": "app", "gateway": "gwy"}
PREFIX_TYPE = {v: k for k, v in TYPE_PREFIX.items()}

# CanonicalHostedZoneId of load balancer DNS names, per region and type
# (docs.aws.amazon.com/general/latest/gr/elb.html)
NLB_HOSTED_ZONES = {
    "us-east-1": "Z26RNL4JYFTOTI",
    "us-east-2": "ZLMOA37VPKANP",
    "us-west-1": "Z24FKFUX50B4VW",
    "us-west-2": "Z18D5FSROUN65G",
    "eu-west-1": "Z2IFOLAFXWLO4F",
    "eu-west-2": "ZD4D7Y8KGAS4G",
    "eu-central-1": "Z3F0SRJ5LGBH90",
    "ap-southeast-1": "ZKVM4W9LS7TM",
    "ap-southeast-2": "ZCT6FZBF4DROD",
    "ap-northeast-1": "Z31USIVHYNEOWT",
    "ap-south-1": "ZVDDRBQ08TROA",
    "ca-central-1": "Z2EPGBW3API2WT",
    "sa-east-1": "ZTK26PT1VY4CU",
}
ALB_HOSTED_ZONES = {
    "us-east-1": "Z35SXDOTRQ7X7K",
    "us-east-2": "Z3AADJGX6KTTL2",
    "us-west-1": "Z368ELLRRE2KJ0",
    "us-west-2": "Z1H1FL5HABSF5",
    "eu-west-1": "Z32O12XQLNTSW2",
    "eu-west-2": "ZHURV8PSTC4K8",
    "eu-central-1": "Z215JYRZR1TBD5",
    "ap-southeast-1": "Z1LMS91P8CMLE5",
    "ap-southeast-2": "Z1GM3OXH4ZPM65",
    "ap-northeast-1": "Z14GRHDCWA56QT",
    "ap-south-1": "ZP97RAFLXTNZK",
    "ca-central-1": "ZQSVJUPU6J1EY",
    "sa-east-1": "Z2P70J7HTTTPLU",
}

_NAME_CHARS = re.compile(r"^[A-Za-z0-9-]+$")
_ARN_RE = re.compile(
    r"^arn:aws:elasticloadbalancing:([a-z0-9-]+):(\d{12}):(loadbalancer|targetgroup|listener)/(.+)$"
)


def hex16() -> str:
    return secrets.token_hex(8)


def lb_arn(region: str, account: str, lb_type: str, name: str, lb_id: str) -> str:
    return f"{ARN_PREFIX}:{region}:{account}:loadbalancer/{TYPE_PREFIX[lb_type]}/{name}/{lb_id}"


def tg_arn(region: str, account: str, name: str, tg_id: str) -> str:
    return f"{ARN_PREFIX}:{region}:{account}:targetgroup/{name}/{tg_id}"


def listener_arn(lb: LoadBalancer, listener_id: str) -> str:
    return (
        f"{ARN_PREFIX}:{lb.region}:{lb.account}:listener/{TYPE_PREFIX[lb.type]}/"
        f"{lb.name}/{lb.lb_id}/{listener_id}"
    )


def arn_kind(arn: str) -> str | None:
    m = _ARN_RE.match(arn or "")
    return m.group(3) if m else None


def validation(message: str) -> AwsError:
    return AwsError("ValidationError", message)


def invalid_config(message: str) -> AwsError:
    return AwsError("InvalidConfigurationRequest", message)


def check_arn(arn: str, kind: str, label: str) -> None:
    if arn_kind(arn) != kind:
        raise validation(f"'{arn}' is not a valid {label} ARN")


def check_name(name: str, what: str, *, forbid_internal: bool = False) -> None:
    """AWS's load balancer / target group name rules."""
    if not name:
        raise validation(f"{what} name cannot be empty")
    if len(name) > 32:
        raise validation(f"{what} name '{name}' cannot be longer than '32' characters")
    if not _NAME_CHARS.match(name):
        raise validation(
            f"{what} name '{name}' can only contain characters that are alphanumeric characters "
            "or hyphens(-)"
        )
    if name.startswith("-") or name.endswith("-"):
        raise validation(f"{what} name '{name}' cannot begin or end with '-' character")
    if forbid_internal and name.lower().startswith("internal-"):
        raise validation(f"{what} name '{name}' cannot begin with 'internal-'")


def check_enum(value, allowed: Iterable[str], member: str) -> None:
    allowed = list(allowed)
    if value is not None and value not in allowed:
        raise validation(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(allowed)}]"
        )


def check_range(value, low: int, high: int, member: str) -> None:
    if value is not None and not low <= value <= high:
        cmp = (
            "greater than or equal to " + str(low)
            if value < low
            else f"less than or equal to {high}"
        )
        raise validation(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
            f"constraint: Member must have value {cmp}"
        )


# -- lookups (only the caller's account and region; another account's ARN is not found)


def _mine(ctx: RequestContext, obj) -> bool:
    return obj is not None and obj.owner == (ctx.account, ctx.region)


def find_lb(ctx: RequestContext, arn: str) -> LoadBalancer | None:
    obj = ctx.tx.get(LoadBalancer, arn)
    return obj if _mine(ctx, obj) else None


def get_lb(ctx: RequestContext, arn: str) -> LoadBalancer:
    check_arn(arn, "loadbalancer", "load balancer")
    lb = find_lb(ctx, arn)
    if lb is None:
        raise AwsError("LoadBalancerNotFound", "One or more load balancers not found")
    return lb


def get_tg(ctx: RequestContext, arn: str) -> TargetGroup:
    check_arn(arn, "targetgroup", "target group")
    tg = ctx.tx.get(TargetGroup, arn)
    if not _mine(ctx, tg):
        raise AwsError("TargetGroupNotFound", "One or more target groups not found")
    return tg


def get_listener(ctx: RequestContext, arn: str) -> Listener:
    check_arn(arn, "listener", "listener")
    ln = ctx.tx.get(Listener, arn)
    if not _mine(ctx, ln):
        raise AwsError("ListenerNotFound", "One or more listeners not found")
    return ln


def listeners_of(ctx_or_tx, lb_arn_: str) -> list[Listener]:
    tx = getattr(ctx_or_tx, "tx", ctx_or_tx)
    return [ln for ln in tx.all(Listener) if ln.load_balancer_arn == lb_arn_]


def lbs_using_tg(tx, tg: TargetGroup) -> list[str]:
    """ARNs of the load balancers whose listeners forward to ``tg``."""
    out: list[str] = []
    for ln in tx.owned(Listener, tg.account, tg.region):
        uses = any(arn == tg.id for arn, _ in ln.forward_target_groups())
        if uses and ln.load_balancer_arn not in out:
            out.append(ln.load_balancer_arn)
    return out


# -- paging: Marker / PageSize (1-400), NextMarker


def paginate(
    items: list, params: dict, key: Callable = lambda o: o.id, high: int = 400
) -> tuple[list, str | None]:
    size = params.get("PageSize")
    check_range(size, 1, high, "pageSize")
    marker = params.get("Marker")
    start = 0
    if marker:
        try:
            text = base64.urlsafe_b64decode(marker.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            text = ""
        if not text.startswith("m1:"):
            raise validation("Invalid value for marker")
        try:
            start = int(text[3:])
        except ValueError:
            raise validation("Invalid value for marker") from None
    if size is None:
        return items[start:], None
    page = items[start : start + size]
    nxt = start + size
    token = base64.urlsafe_b64encode(f"m1:{nxt}".encode()).decode() if nxt < len(items) else None
    return page, token


# -- tags

MAX_TAGS = 50


def tags_from_list(tags: list[dict] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in tags or []:
        key = t.get("Key")
        if not key:
            raise validation("A tag key must be specified")
        if key in out:
            raise AwsError("DuplicateTagKeys", f"Tag key '{key}' is duplicated")
        if key.lower().startswith("aws:"):
            raise validation("Tag keys starting with 'aws:' are reserved for internal use")
        if len(key) > 128 or len(t.get("Value") or "") > 256:
            raise validation("Tag keys are limited to 128 characters and values to 256 characters")
        out[key] = t.get("Value") or ""
    if len(out) > MAX_TAGS:
        raise AwsError(
            "TooManyTags",
            "The quota for the number of tags that can be assigned to a resource has been reached",
        )
    return out


def tag_list(tags: dict[str, str]) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def parse_bool(key: str, value: str, what: str) -> str:
    if value not in ("true", "false"):
        raise validation(f"{what} attribute '{key}' must be 'true' or 'false', not '{value}'")
    return value


def parse_int(key: str, value: str, low: int, high: int, what: str) -> str:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise validation(f"{what} attribute '{key}' must be an integer, not '{value}'") from None
    if not low <= n <= high:
        raise validation(
            f"{what} attribute '{key}' must be between {low} and {high}, not '{value}'"
        )
    return str(n)


def attribute_list(attrs: dict[str, str]) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in sorted(attrs.items())]


def attribute_pairs(params: dict, limit: int = 20) -> list[tuple[str, str]]:
    pairs = [(a.get("Key") or "", a.get("Value") or "") for a in params.get("Attributes") or []]
    if not pairs:
        raise validation("At least one attribute must be specified")
    if len(pairs) > limit:
        raise validation(f"You can specify at most {limit} attributes")
    return pairs
