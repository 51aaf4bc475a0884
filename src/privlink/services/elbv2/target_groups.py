"""Target groups: protocols and target types, health-check settings with the current API's
defaults, attributes per protocol family, and their registered targets (registration,
deregistration with a draining period kept by a durable timer, DescribeTargetHealth)."""

from __future__ import annotations

import ipaddress
import re

from ...api.errors import AwsError
from ...state.ec2 import Subnet, Vpc
from ...state.elbv2 import Listener, RegisteredTarget, TargetGroup, TargetHealth
from ...state.elbv2_health import serving_load_balancer, target_health, unhealthy_flow_policy
from ..base import RequestContext, TimerContext, cancel_timers, on_timer, operation
from ..ec2.azs import AzMap
from .common import (
    attribute_list,
    attribute_pairs,
    check_arn,
    check_enum,
    check_name,
    check_range,
    find_lb,
    get_lb,
    get_tg,
    hex16,
    invalid_config,
    lbs_using_tg,
    paginate,
    parse_bool,
    parse_int,
    tags_from_list,
    tg_arn,
    validation,
)

PROTOCOLS = ["HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE", "QUIC", "TCP_QUIC"]
NLB_PROTOCOLS = {"TCP", "TLS", "UDP", "TCP_UDP", "QUIC", "TCP_QUIC"}
ALB_PROTOCOLS = {"HTTP", "HTTPS"}
TARGET_TYPES = ["instance", "ip", "lambda", "alb"]
HEALTH_CHECK_PROTOCOLS = {"HTTP", "HTTPS", "TCP"}
PRIVATE_RANGES = [
    ipaddress.IPv4Network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
]


def family(tg_protocol: str | None, target_type: str) -> str:
    """nlb | alb | gwlb | lambda: which load balancer's rules a target group follows."""
    if target_type == "lambda":
        return "lambda"
    if tg_protocol == "GENEVE":
        return "gwlb"
    if tg_protocol in ALB_PROTOCOLS:
        return "alb"
    return "nlb"


# -- health-check defaults (botocore 1.43 CreateTargetGroupInput documentation)


def health_check_defaults(protocol: str | None, target_type: str) -> dict:
    if target_type == "lambda":
        return dict(
            enabled=False,
            protocol="HTTP",
            port="traffic-port",
            interval=35,
            timeout=30,
            healthy=5,
            unhealthy=5,
        )
    if protocol == "GENEVE":
        return dict(
            enabled=True, protocol="TCP", port="80", interval=10, timeout=5, healthy=5, unhealthy=2
        )
    if protocol in ALB_PROTOCOLS:
        return dict(
            enabled=True,
            protocol="HTTP",
            port="traffic-port",
            interval=30,
            timeout=6 if protocol == "HTTP" else 10,
            healthy=5,
            unhealthy=2,
        )
    return dict(
        enabled=True,
        protocol="TCP",
        port="traffic-port",
        interval=30,
        timeout=10,
        healthy=5,
        unhealthy=2,
    )


def default_matcher(fam: str) -> str:
    return "200" if fam in ("alb", "lambda") else "200-399"


_MATCHER_RANGE = {"nlb": (200, 599), "alb": (200, 499), "gwlb": (200, 399), "lambda": (200, 499)}
_CODES = re.compile(r"^\d{1,3}(-\d{1,3})?(,\d{1,3}(-\d{1,3})?)*$")


def _check_matcher(code: str, fam: str) -> str:
    low, high = _MATCHER_RANGE[fam]
    if not _CODES.match(code or ""):
        raise validation(
            f"Health check matcher HTTP code '{code}' must be a code, a list of codes or a range"
        )
    for part in code.split(","):
        nums = [int(x) for x in part.split("-")]
        if any(not low <= n <= high for n in nums) or (len(nums) == 2 and nums[0] > nums[1]):
            raise validation(
                f"Health check matcher HTTP code '{code}' must be within the range {low}-{high}"
            )
    return code


def _check_health_port(port: str) -> str:
    if port == "traffic-port":
        return port
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise validation(
            f"Health check port '{port}' must be 'traffic-port' or a port from 1 to 65535"
        )
    return str(int(port))


def _apply_health_check(tg: TargetGroup, params: dict, *, creating: bool) -> None:
    """Set the health-check fields of ``tg`` from Create/ModifyTargetGroup ``params``."""
    fam = family(tg.protocol, tg.target_type)
    d = health_check_defaults(tg.protocol, tg.target_type)
    hc_proto = params.get("HealthCheckProtocol")
    check_enum(hc_proto, PROTOCOLS, "healthCheckProtocol")
    if hc_proto is not None:
        if hc_proto not in HEALTH_CHECK_PROTOCOLS:
            raise validation(f"Health check protocol '{hc_proto}' is not supported")
        if hc_proto == "TCP" and fam in ("alb", "lambda"):
            raise validation(
                f"Health check protocol 'TCP' is not supported for target groups with the protocol '{tg.protocol}'"
            )
        tg.health_check_protocol = hc_proto
    elif creating:
        tg.health_check_protocol = d["protocol"]
    for member, low, high in (
        ("HealthCheckIntervalSeconds", 5, 300),
        ("HealthCheckTimeoutSeconds", 2, 120),
        ("HealthyThresholdCount", 2, 10),
        ("UnhealthyThresholdCount", 2, 10),
    ):
        check_range(params.get(member), low, high, member[0].lower() + member[1:])
    if params.get("HealthCheckEnabled") is not None:
        if not params["HealthCheckEnabled"] and tg.target_type != "lambda":
            raise validation(
                f"Health checks cannot be disabled for target groups with the target type '{tg.target_type}'"
            )
        tg.health_check_enabled = bool(params["HealthCheckEnabled"])
    elif creating:
        tg.health_check_enabled = d["enabled"]
    if params.get("HealthCheckPort") is not None:
        tg.health_check_port = _check_health_port(params["HealthCheckPort"])
    elif creating:
        tg.health_check_port = d["port"]
    tg.health_check_interval = params.get("HealthCheckIntervalSeconds") or (
        d["interval"] if creating else tg.health_check_interval
    )
    tg.health_check_timeout = params.get("HealthCheckTimeoutSeconds") or (
        d["timeout"] if creating else tg.health_check_timeout
    )
    tg.healthy_threshold = params.get("HealthyThresholdCount") or (
        d["healthy"] if creating else tg.healthy_threshold
    )
    tg.unhealthy_threshold = params.get("UnhealthyThresholdCount") or (
        d["unhealthy"] if creating else tg.unhealthy_threshold
    )
    http = tg.health_check_protocol in ("HTTP", "HTTPS")
    path = params.get("HealthCheckPath")
    matcher = params.get("Matcher") or {}
    if not http:
        if path or matcher.get("HttpCode") or matcher.get("GrpcCode"):
            raise validation(
                "Health check path and matcher can be set only for HTTP and HTTPS health checks"
            )
        tg.health_check_path = None
        tg.matcher_http_code = None
        tg.matcher_grpc_code = None
    else:
        if path is not None:
            if not path.startswith("/") or len(path) > 1024:
                raise validation(
                    "Health check path must begin with '/' and be at most 1024 characters"
                )
            tg.health_check_path = path
        elif tg.health_check_path is None:
            tg.health_check_path = "/"
        grpc = tg.protocol_version == "GRPC"
        if matcher.get("HttpCode") and matcher.get("GrpcCode"):
            raise validation("Specify either an HTTP code or a gRPC code for the matcher, not both")
        if matcher.get("GrpcCode"):
            if not grpc:
                raise validation("A gRPC matcher code needs the protocol version GRPC")
            tg.matcher_grpc_code = matcher["GrpcCode"]
        elif matcher.get("HttpCode"):
            if grpc:
                raise validation(
                    "Target groups with the protocol version GRPC need a gRPC matcher code"
                )
            tg.matcher_http_code = _check_matcher(matcher["HttpCode"], fam)
        if grpc and tg.matcher_grpc_code is None:
            tg.matcher_grpc_code = "12"
        if not grpc and tg.matcher_http_code is None:
            tg.matcher_http_code = default_matcher(fam)
    if fam == "alb" and tg.health_check_interval <= tg.health_check_timeout:
        raise validation("Health check interval must be greater than the timeout.")


# -- attributes

_TG_ATTRS: dict[str, tuple[str, tuple[str, ...]]] = {
    "deregistration_delay.timeout_seconds": ("delay", ("nlb", "alb", "gwlb")),
    "deregistration_delay.connection_termination.enabled": ("bool", ("nlb",)),
    "preserve_client_ip.enabled": ("bool", ("nlb",)),
    "proxy_protocol_v2.enabled": ("bool", ("nlb",)),
    "stickiness.enabled": ("bool", ("nlb", "alb", "gwlb")),
    "stickiness.type": ("stickiness", ("nlb", "alb", "gwlb")),
    "load_balancing.cross_zone.enabled": ("crosszone", ("nlb", "alb")),
    "target_health_state.unhealthy.connection_termination.enabled": ("bool", ("nlb",)),
    "target_health_state.unhealthy.draining_interval_seconds": ("draining", ("nlb",)),
    "target_group_health.dns_failover.minimum_healthy_targets.count": ("count_off", ("nlb", "alb")),
    "target_group_health.dns_failover.minimum_healthy_targets.percentage": ("pct", ("nlb", "alb")),
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count": (
        "count",
        ("nlb", "alb"),
    ),
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": (
        "pct",
        ("nlb", "alb"),
    ),
    "load_balancing.algorithm.type": ("algorithm", ("alb",)),
    "load_balancing.algorithm.anomaly_mitigation": ("onoff", ("alb",)),
    "slow_start.duration_seconds": ("slowstart", ("alb",)),
    "stickiness.app_cookie.cookie_name": ("str", ("alb",)),
    "stickiness.app_cookie.duration_seconds": ("cookie", ("alb",)),
    "stickiness.lb_cookie.duration_seconds": ("cookie", ("alb",)),
    "lambda.multi_value_headers.enabled": ("bool", ("lambda",)),
    "target_failover.on_deregistration": ("failover", ("gwlb",)),
    "target_failover.on_unhealthy": ("failover", ("gwlb",)),
}
_STICKINESS = {
    "nlb": ["source_ip"],
    "alb": ["lb_cookie", "app_cookie"],
    "gwlb": ["source_ip_dest_ip", "source_ip_dest_ip_proto"],
}
_CHOICE = {
    "crosszone": ["true", "false", "use_load_balancer_configuration"],
    "algorithm": ["round_robin", "least_outstanding_requests", "weighted_random"],
    "onoff": ["on", "off"],
    "failover": ["rebalance", "no_rebalance"],
}


def default_tg_attributes(protocol: str | None, target_type: str) -> dict[str, str]:
    fam = family(protocol, target_type)
    health = {
        "target_group_health.dns_failover.minimum_healthy_targets.count": "1",
        "target_group_health.dns_failover.minimum_healthy_targets.percentage": "off",
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count": "1",
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": "off",
    }
    if fam == "lambda":
        return {"lambda.multi_value_headers.enabled": "false"}
    if fam == "gwlb":
        return {
            "deregistration_delay.timeout_seconds": "300",
            "stickiness.enabled": "false",
            "stickiness.type": "source_ip_dest_ip_proto",
            "target_failover.on_deregistration": "no_rebalance",
            "target_failover.on_unhealthy": "no_rebalance",
        }
    if fam == "alb":
        return {
            "deregistration_delay.timeout_seconds": "300",
            "stickiness.enabled": "false",
            "stickiness.type": "lb_cookie",
            "stickiness.lb_cookie.duration_seconds": "86400",
            "stickiness.app_cookie.cookie_name": "",
            "stickiness.app_cookie.duration_seconds": "86400",
            "load_balancing.algorithm.type": "round_robin",
            "load_balancing.algorithm.anomaly_mitigation": "off",
            "slow_start.duration_seconds": "0",
            "load_balancing.cross_zone.enabled": "use_load_balancer_configuration",
            **health,
        }
    udp = protocol in ("UDP", "TCP_UDP", "QUIC", "TCP_QUIC")
    preserve = "false" if (target_type == "ip" and protocol in ("TCP", "TLS")) else "true"
    return {
        "deregistration_delay.timeout_seconds": "300",
        "deregistration_delay.connection_termination.enabled": "true"
        if protocol in ("UDP", "TCP_UDP")
        else "false",
        "preserve_client_ip.enabled": preserve,
        "proxy_protocol_v2.enabled": "false",
        "stickiness.enabled": "false",
        "stickiness.type": "source_ip",
        "load_balancing.cross_zone.enabled": "use_load_balancer_configuration",
        "target_health_state.unhealthy.connection_termination.enabled": "false" if udp else "true",
        "target_health_state.unhealthy.draining_interval_seconds": "0",
        **health,
    }


def _check_tg_attribute(tg: TargetGroup, key: str, value: str) -> str:
    spec = _TG_ATTRS.get(key)
    if spec is None:
        raise validation(f"Target group attribute key '{key}' is not recognized")
    kind, fams = spec
    fam = family(tg.protocol, tg.target_type)
    if fam not in fams:
        what = "target type 'lambda'" if fam == "lambda" else f"protocol '{tg.protocol}'"
        raise invalid_config(
            f"Target group attribute key '{key}' is not supported on target groups with {what}"
        )
    w = "Target group"
    if kind == "bool":
        value = parse_bool(key, value, w)
    elif kind == "delay":
        value = parse_int(key, value, 0, 3600, w)
        if tg.protocol in ("QUIC", "TCP_QUIC") and value != "300":
            raise invalid_config(
                "The deregistration delay of QUIC target groups is fixed at 300 seconds"
            )
    elif kind == "draining":
        value = parse_int(key, value, 0, 360000, w)
    elif kind == "cookie":
        value = parse_int(key, value, 1, 604800, w)
    elif kind == "slowstart":
        value = parse_int(key, value, 0, 900, w)
        if 0 < int(value) < 30:
            raise validation(f"Target group attribute '{key}' must be 0 or between 30 and 900")
    elif kind == "stickiness":
        if value not in _STICKINESS[fam]:
            raise validation(
                f"Target group attribute '{key}' must be one of {', '.join(_STICKINESS[fam])} for "
                f"target groups with protocol '{tg.protocol}'"
            )
    elif kind in _CHOICE:
        if value not in _CHOICE[kind]:
            raise validation(
                f"Target group attribute '{key}' must be one of {', '.join(_CHOICE[kind])}"
            )
    elif kind in ("count", "count_off"):
        if not (kind == "count_off" and value == "off"):
            value = parse_int(key, value, 1, 1_000_000, w)
    elif kind == "pct" and value != "off":
        value = parse_int(key, value, 1, 100, w)
    return value


def _check_attribute_combination(tg: TargetGroup, attrs: dict[str, str]) -> None:
    udp = tg.protocol in ("UDP", "TCP_UDP")
    if udp and attrs.get("preserve_client_ip.enabled") == "false":
        raise invalid_config(
            "Client IP preservation cannot be disabled for UDP and TCP_UDP target groups"
        )
    if udp and attrs.get("target_health_state.unhealthy.connection_termination.enabled") == "true":
        raise invalid_config(
            "Connection termination for unhealthy targets cannot be enabled for UDP and TCP_UDP target groups"
        )
    if (
        attrs.get("target_health_state.unhealthy.draining_interval_seconds", "0") != "0"
        and attrs.get("target_health_state.unhealthy.connection_termination.enabled") == "true"
    ):
        raise invalid_config(
            "target_health_state.unhealthy.draining_interval_seconds can be set only when "
            "target_health_state.unhealthy.connection_termination.enabled is false"
        )


# -- output


def tg_out(ctx: RequestContext, tg: TargetGroup) -> dict:
    out = {
        "TargetGroupArn": tg.arn,
        "TargetGroupName": tg.name,
        "Protocol": tg.protocol,
        "Port": tg.port,
        "VpcId": tg.vpc_id,
        "HealthCheckProtocol": tg.health_check_protocol,
        "HealthCheckPort": tg.health_check_port,
        "HealthCheckEnabled": tg.health_check_enabled,
        "HealthCheckIntervalSeconds": tg.health_check_interval,
        "HealthCheckTimeoutSeconds": tg.health_check_timeout,
        "HealthyThresholdCount": tg.healthy_threshold,
        "UnhealthyThresholdCount": tg.unhealthy_threshold,
        "HealthCheckPath": tg.health_check_path,
        "LoadBalancerArns": lbs_using_tg(ctx.tx, tg),
        "TargetType": tg.target_type,
    }
    if tg.matcher_http_code or tg.matcher_grpc_code:
        out["Matcher"] = {"HttpCode": tg.matcher_http_code, "GrpcCode": tg.matcher_grpc_code}
    if tg.protocol in ALB_PROTOCOLS:
        out["ProtocolVersion"] = tg.protocol_version or "HTTP1"
    if tg.target_type != "lambda":
        out["IpAddressType"] = tg.ip_address_type
    return out


# -- target groups


@operation("elbv2")
def create_target_group(ctx: RequestContext, params: dict) -> dict:
    name = params["Name"]
    check_name(name, "Target group")
    target_type = params.get("TargetType") or "instance"
    check_enum(target_type, TARGET_TYPES, "targetType")
    protocol = params.get("Protocol")
    check_enum(protocol, PROTOCOLS, "protocol")
    port = params.get("Port")
    check_range(port, 1, 65535, "port")
    vpc_id = params.get("VpcId")
    if target_type == "lambda":
        if protocol or port or vpc_id:
            raise validation(
                "Protocol, port and VPC ID cannot be specified for target groups of type 'lambda'"
            )
    else:
        if not protocol:
            raise validation(
                f"A protocol must be specified for target groups of type '{target_type}'"
            )
        if port is None:
            raise validation(f"A port must be specified for target groups of type '{target_type}'")
        if not vpc_id:
            raise validation(
                f"A VPC ID must be specified for target groups of type '{target_type}'"
            )
        vpc = ctx.tx.get(Vpc, vpc_id)
        if vpc is None or vpc.owner != (ctx.account, ctx.region):
            raise validation(f"The VPC ID '{vpc_id}' is not found")
        if protocol == "GENEVE" and port != 6081:
            raise validation("The port of a GENEVE target group must be 6081")
        if target_type == "alb" and protocol != "TCP":
            raise validation("Target groups of type 'alb' must use the protocol TCP")
    pv = params.get("ProtocolVersion")
    if pv is not None:
        if protocol not in ALB_PROTOCOLS:
            raise validation(
                "A protocol version can be specified only for HTTP and HTTPS target groups"
            )
        pv = pv.upper()
        check_enum(pv, ["HTTP1", "HTTP2", "GRPC"], "protocolVersion")
    ip_type = params.get("IpAddressType") or "ipv4"
    check_enum(ip_type, ["ipv4", "ipv6"], "ipAddressType")
    if ip_type == "ipv6":
        raise validation(
            f"The VPC '{vpc_id}' has no IPv6 CIDR block; privlink's VPCs are IPv4 only"
        )
    if params.get("TargetControlPort") is not None:
        raise validation(
            "The target control port applies only to Application Load Balancer target optimizers"
        )
    tags = tags_from_list(params.get("Tags"))
    mine = list(ctx.tx.owned(TargetGroup, ctx.account, ctx.region))
    same_name = next((t for t in mine if t.name == name), None)
    if same_name is None and len(mine) >= ctx.settings.quotas.target_groups_per_region:
        raise AwsError(
            "TooManyTargetGroups",
            "You have reached the limit on the number of target groups for your AWS account",
        )
    tg_id = hex16()
    arn = tg_arn(ctx.region, ctx.account, name, tg_id)
    tg = TargetGroup(
        id=arn,
        account=ctx.account,
        region=ctx.region,
        name=name,
        tg_id=tg_id,
        protocol=protocol,
        port=port,
        vpc_id=vpc_id,
        target_type=target_type,
        protocol_version=(pv or "HTTP1") if protocol in ALB_PROTOCOLS else None,
        ip_address_type=ip_type,
        health_check_protocol=None,
        health_check_path=None,
        attributes=default_tg_attributes(protocol, target_type),
        tags=tags,
        created_at=ctx.now,
    )
    _apply_health_check(tg, params, creating=True)
    if same_name is not None:
        # as AWS: creating a target group again with the same settings succeeds
        if _settings_of(ctx, same_name) == _settings_of(ctx, tg):
            return {"TargetGroups": [tg_out(ctx, same_name)]}
        raise AwsError(
            "DuplicateTargetGroupName",
            f"A target group with the same name '{name}' exists, but with different settings",
        )
    ctx.tx.put(tg)
    return {"TargetGroups": [tg_out(ctx, tg)]}


def _settings_of(ctx: RequestContext, tg: TargetGroup) -> dict:
    out = tg_out(ctx, tg)
    for key in ("TargetGroupArn", "LoadBalancerArns"):
        out.pop(key)
    return out


def _ordered(tgs) -> list[TargetGroup]:
    return sorted(tgs, key=lambda t: (t.created_at, t.id))


@operation("elbv2")
def describe_target_groups(ctx: RequestContext, params: dict) -> dict:
    lb_arn_ = params.get("LoadBalancerArn")
    arns = params.get("TargetGroupArns")
    names = params.get("Names")
    if sum(1 for x in (lb_arn_, arns, names) if x) > 1:
        raise validation("Specify only one of load balancer ARN, target group ARNs or names")
    if arns:
        tgs = _ordered(get_tg(ctx, a) for a in dict.fromkeys(arns))
    elif names:
        mine = {t.name: t for t in ctx.tx.owned(TargetGroup, ctx.account, ctx.region)}
        missing = [n for n in dict.fromkeys(names) if n not in mine]
        if missing:
            raise AwsError("TargetGroupNotFound", "One or more target groups not found")
        tgs = _ordered(mine[n] for n in dict.fromkeys(names))
    elif lb_arn_:
        lb = get_lb(ctx, lb_arn_)
        used: list[str] = []
        for ln in ctx.tx.owned(Listener, ctx.account, ctx.region):
            if ln.load_balancer_arn == lb.arn:
                used += [a for a, _ in ln.forward_target_groups() if a not in used]
        tgs = _ordered(t for t in (ctx.tx.get(TargetGroup, a) for a in used) if t is not None)
    else:
        tgs = _ordered(ctx.tx.owned(TargetGroup, ctx.account, ctx.region))
    page, marker = paginate(tgs, params)
    return {"TargetGroups": [tg_out(ctx, t) for t in page], "NextMarker": marker}


@operation("elbv2")
def modify_target_group(ctx: RequestContext, params: dict) -> dict:
    tg = get_tg(ctx, params["TargetGroupArn"])
    mine = ctx.tx.edit(tg)
    _apply_health_check(mine, params, creating=False)
    return {"TargetGroups": [tg_out(ctx, mine)]}


@operation("elbv2")
def delete_target_group(ctx: RequestContext, params: dict) -> dict:
    arn = params["TargetGroupArn"]
    check_arn(arn, "targetgroup", "target group")
    found = ctx.tx.get(TargetGroup, arn)
    if found is None or found.owner != (ctx.account, ctx.region):
        return {}  # as AWS: deleting a target group that is already gone succeeds
    tg = found
    if lbs_using_tg(ctx.tx, tg):
        raise AwsError(
            "ResourceInUse", f"Target group '{tg.arn}' is currently in use by a listener or a rule"
        )
    for t in tg.targets:
        _forget_health(ctx.tx, tg, t)
    cancel_timers(ctx.tx, "elbv2.target_drained", tg=tg.arn)  # nothing left to drain
    ctx.tx.delete(tg)
    return {}


@operation("elbv2")
def describe_target_group_attributes(ctx: RequestContext, params: dict) -> dict:
    tg = get_tg(ctx, params["TargetGroupArn"])
    return {"Attributes": attribute_list(tg.attributes)}


@operation("elbv2")
def modify_target_group_attributes(ctx: RequestContext, params: dict) -> dict:
    tg = get_tg(ctx, params["TargetGroupArn"])
    new = dict(tg.attributes)
    for key, value in attribute_pairs(params):
        new[key] = _check_tg_attribute(tg, key, value)
    _check_attribute_combination(tg, new)
    if new != tg.attributes:
        ctx.tx.edit(tg).attributes = new
    return {"Attributes": attribute_list(new)}


# -- targets


def _forget_health(tx, tg: TargetGroup, t: RegisteredTarget) -> None:
    rec = tx.get(TargetHealth, TargetHealth.key(tg.id, t.id, t.port))
    if rec is not None:
        tx.delete(rec)


def _ip_target(ctx: RequestContext, tg: TargetGroup, desc: dict) -> tuple[str | None, str | None]:
    """(AZ name or 'all', AZ id) of an ip target, validated as AWS does."""
    tid = desc["Id"]
    try:
        ip = ipaddress.IPv4Address(tid)
    except ValueError:
        raise AwsError(
            "InvalidTarget", f"The IP address '{tid}' is not a valid IPv4 address"
        ) from None
    vpc = ctx.tx.get(Vpc, tg.vpc_id)
    az = desc.get("AvailabilityZone")
    if vpc is not None and ip in ipaddress.IPv4Network(vpc.cidr_block):
        subnet = next(
            (
                s
                for s in ctx.tx.owned(Subnet, tg.account, tg.region)
                if s.vpc_id == vpc.id and ip in ipaddress.IPv4Network(s.cidr_block)
            ),
            None,
        )
        if subnet is None:
            raise AwsError(
                "InvalidTarget",
                f"The IP address '{tid}' is in the VPC '{vpc.id}' but not in any of its subnets",
            )
        if az == "all":
            raise validation(
                f"The Availability Zone 'all' can be specified only for IP addresses outside the "
                f"VPC; '{tid}' is in subnet '{subnet.id}'"
            )
        if az and az != subnet.availability_zone:
            raise validation(
                f"The IP address '{tid}' is in the Availability Zone '{subnet.availability_zone}', not '{az}'"
            )
        return subnet.availability_zone, subnet.availability_zone_id
    if not any(ip in net for net in PRIVATE_RANGES):
        raise AwsError(
            "InvalidTarget",
            f"The IP address '{tid}' is not a valid target: IP addresses must be in the VPC's "
            "subnets, the RFC 1918 ranges or the RFC 6598 range",
        )
    if not az:
        raise validation(
            f"An Availability Zone or 'all' must be specified for the IP address '{tid}' because it is outside the VPC"
        )
    if az == "all":
        return "all", None
    azmap = AzMap.of(ctx)
    if az not in azmap.by_name:
        raise validation(f"The Availability Zone '{az}' is not valid")
    return az, azmap.by_name[az]


def _resolve_target(ctx: RequestContext, tg: TargetGroup, desc: dict) -> RegisteredTarget:
    tid = desc.get("Id") or ""
    port = desc.get("Port")
    check_range(port, 1, 65535, "port")
    if desc.get("QuicServerId") and tg.protocol not in ("QUIC", "TCP_QUIC"):
        raise validation(
            "A QUIC server ID can be specified only for QUIC and TCP_QUIC target groups"
        )
    az_name = az_id = None
    if tg.target_type == "ip":
        az_name, az_id = _ip_target(ctx, tg, desc)
    elif tg.target_type == "instance":
        if desc.get("AvailabilityZone"):
            raise validation("The Availability Zone cannot be specified for instance targets")
        raise AwsError(
            "InvalidTarget",
            f"The following targets are not valid instances: '{tid}' (privlink runs no EC2 "
            "instances; register IP targets)",
        )
    elif tg.target_type == "alb":
        alb = find_lb(ctx, tid)
        if alb is None or alb.type != "application":
            raise AwsError(
                "InvalidTarget", f"The target '{tid}' is not an Application Load Balancer"
            )
        want = port or tg.port
        if not any(
            ln.port == want for ln in ctx.tx.all(Listener) if ln.load_balancer_arn == alb.arn
        ):
            raise AwsError(
                "InvalidTarget",
                f"The Application Load Balancer '{tid}' has no listener on port {want}",
            )
    else:
        raise AwsError(
            "InvalidTarget", f"The target '{tid}' is not a Lambda function privlink knows"
        )
    return RegisteredTarget(
        id=tid,
        port=port or tg.port or 0,
        availability_zone=az_name,
        availability_zone_id=az_id,
        registered_at=ctx.now,
    )


@operation("elbv2")
def register_targets(ctx: RequestContext, params: dict) -> dict:
    tg = get_tg(ctx, params["TargetGroupArn"])
    if not params["Targets"]:
        raise validation("At least one target must be specified")
    mine = ctx.tx.edit(tg)
    for desc in params["Targets"]:
        new = _resolve_target(ctx, tg, desc)
        existing = next((t for t in mine.targets if t.id == new.id and t.port == new.port), None)
        if existing is not None:
            if existing.deregistered_at is None:
                continue  # already registered: nothing to do
            _forget_health(ctx.tx, tg, existing)
            mine.targets.remove(existing)
        if tg.target_type == "alb" and mine.targets:
            raise AwsError(
                "TooManyTargets", "A target group of type 'alb' can have only one target"
            )
        active = [t for t in mine.targets if t.deregistered_at is None]
        if len(active) >= ctx.settings.quotas.targets_per_target_group:
            raise AwsError(
                "TooManyTargets",
                "You have reached the limit on the number of targets per target group",
            )
        mine.targets.append(new)
    return {}


def _matching(tg: TargetGroup, desc: dict) -> list[RegisteredTarget]:
    port = desc.get("Port")
    return [t for t in tg.targets if t.id == desc.get("Id") and (port is None or t.port == port)]


@operation("elbv2")
def deregister_targets(ctx: RequestContext, params: dict) -> dict:
    tg = get_tg(ctx, params["TargetGroupArn"])
    if not params["Targets"]:
        raise validation("At least one target must be specified")
    delay = int(tg.attributes.get("deregistration_delay.timeout_seconds", "300"))
    in_use = serving_load_balancer(ctx.tx, tg) is not None
    mine = None
    for desc in params["Targets"]:
        for t in _matching(tg, desc):
            if mine is None:
                mine = ctx.tx.edit(tg)
            current = next(x for x in mine.targets if x.id == t.id and x.port == t.port)
            if current.deregistered_at is not None:
                continue
            if delay == 0 or not in_use:
                mine.targets.remove(current)
                _forget_health(ctx.tx, tg, current)
                continue
            current.deregistered_at = ctx.now
            current.drain_until = ctx.now + delay
            ctx.schedule(
                delay, "elbv2.target_drained", tg=tg.arn, target=t.id, port=t.port, since=ctx.now
            )
    return {}


@on_timer("elbv2.target_drained")
def _target_drained(tctx: TimerContext, args: dict) -> None:
    tg = tctx.tx.get(TargetGroup, args["tg"])
    if tg is None:
        return
    for t in tg.targets:
        if t.id == args["target"] and t.port == args["port"] and t.deregistered_at == args["since"]:
            mine = tctx.tx.edit(tg)
            mine.targets = [x for x in mine.targets if not (x.id == t.id and x.port == t.port)]
            _forget_health(tctx.tx, tg, t)
            return


def _health_port(tg: TargetGroup, t: RegisteredTarget) -> str:
    return str(t.port) if tg.health_check_port == "traffic-port" else tg.health_check_port


_NO_OVERRIDE = {
    "State": "no_override",
    "Reason": "AdministrativeOverride.NoOverride",
    "Description": "No override is currently active on target",
}


@operation("elbv2")
def describe_target_health(ctx: RequestContext, params: dict) -> dict:
    tg = get_tg(ctx, params["TargetGroupArn"])
    lb = serving_load_balancer(ctx.tx, tg)
    out = []

    _, drain = unhealthy_flow_policy(tg)

    def describe(t: RegisteredTarget) -> dict:
        view = target_health(ctx.tx, tg, t, lb)
        state = view.state
        if state == "unhealthy" and drain:
            # its flows run on for the unhealthy draining interval (the data plane closes
            # them when it is over)
            rec = ctx.tx.get(TargetHealth, TargetHealth.key(tg.id, t.id, t.port))
            if rec is not None and ctx.now < rec.last_change + drain:
                state = "unhealthy.draining"
        target = {"Id": t.id, "Port": t.port}
        if t.availability_zone:
            target["AvailabilityZone"] = t.availability_zone
        return {
            "Target": target,
            "HealthCheckPort": _health_port(tg, t),
            "TargetHealth": {
                "State": state,
                "Reason": view.reason,
                "Description": view.description,
            },
            "AdministrativeOverride": dict(_NO_OVERRIDE),
        }

    wanted = params.get("Targets")
    if wanted:
        for desc in wanted:
            if tg.target_type == "ip":
                try:
                    ipaddress.IPv4Address(desc.get("Id") or "")
                except ValueError:
                    raise AwsError(
                        "InvalidTarget",
                        f"The IP address '{desc.get('Id')}' is not a valid IPv4 address",
                    ) from None
            found = _matching(tg, desc)
            if found:
                out += [describe(t) for t in found]
                continue
            port = desc.get("Port") or tg.port
            target = {"Id": desc.get("Id"), "Port": port}
            if desc.get("AvailabilityZone"):
                target["AvailabilityZone"] = desc["AvailabilityZone"]
            out.append(
                {
                    "Target": target,
                    "HealthCheckPort": str(port)
                    if tg.health_check_port == "traffic-port"
                    else tg.health_check_port,
                    "TargetHealth": {
                        "State": "unused",
                        "Reason": "Target.NotRegistered",
                        "Description": "Target is not registered to the target group",
                    },
                }
            )
    else:
        out = [describe(t) for t in tg.targets]
    return {"TargetHealthDescriptions": out}


__all__ = ["tg_out", "family", "default_tg_attributes", "health_check_defaults"]
