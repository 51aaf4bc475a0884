"""Listeners: a port and protocol on a load balancer with a forward default action, their
attributes (``tcp.idle_timeout.seconds``: stored here, enforced by the data plane)."""

from __future__ import annotations

import re

from ...api.errors import AwsError
from ...state.elbv2 import Listener, LoadBalancer, TargetGroup
from ..base import RequestContext, operation
from .common import (
    attribute_list,
    attribute_pairs,
    check_enum,
    check_range,
    get_lb,
    get_listener,
    get_tg,
    hex16,
    invalid_config,
    lbs_using_tg,
    listener_arn,
    paginate,
    tags_from_list,
    validation,
)

LISTENER_PROTOCOLS = {
    "network": ["TCP", "TLS", "UDP", "TCP_UDP", "QUIC", "TCP_QUIC"],
    "application": ["HTTP", "HTTPS"],
    "gateway": [],
}
# listener protocol -> target group protocols it may forward to
COMPATIBLE = {
    "TCP": {"TCP", "TCP_UDP"},
    "TLS": {"TCP", "TLS"},
    "UDP": {"UDP", "TCP_UDP"},
    "TCP_UDP": {"TCP_UDP"},
    "QUIC": {"QUIC", "TCP_QUIC"},
    "TCP_QUIC": {"TCP_QUIC"},
    "HTTP": {"HTTP", "HTTPS"},
    "HTTPS": {"HTTP", "HTTPS"},
    None: {"GENEVE"},
}
ALPN_POLICIES = ["HTTP1Only", "HTTP2Only", "HTTP2Optional", "HTTP2Preferred", "None"]
DEFAULT_SSL_POLICY = "ELBSecurityPolicy-2016-08"
DEFAULT_IDLE_TIMEOUT = "350"
_CERT_ARN = re.compile(
    r"^arn:aws:(acm:[a-z0-9-]+:\d{12}:certificate/.+|iam::\d{12}:server-certificate/.+)$"
)
ALB_LISTENER_KEYS = {
    "routing.http.response.server.enabled",
    "routing.http.request.x_amzn_mtls_clientcert_serial_number.header_name",
    "routing.http.request.x_amzn_mtls_clientcert_issuer.header_name",
    "routing.http.request.x_amzn_mtls_clientcert_subject.header_name",
    "routing.http.request.x_amzn_mtls_clientcert_validity.header_name",
    "routing.http.request.x_amzn_mtls_clientcert_leaf.header_name",
    "routing.http.request.x_amzn_mtls_clientcert.header_name",
    "routing.http.request.x_amzn_tls_version.header_name",
    "routing.http.request.x_amzn_tls_cipher_suite.header_name",
    "routing.http.response.strict_transport_security.header_value",
    "routing.http.response.access_control_allow_origin.header_value",
    "routing.http.response.access_control_allow_methods.header_value",
    "routing.http.response.access_control_allow_headers.header_value",
    "routing.http.response.access_control_allow_credentials.header_value",
    "routing.http.response.access_control_expose_headers.header_value",
    "routing.http.response.access_control_max_age.header_value",
    "routing.http.response.content_security_policy.header_value",
    "routing.http.response.x_content_type_options.header_value",
    "routing.http.response.x_frame_options.header_value",
}


def default_listener_attributes(lb_type: str, protocol: str | None) -> dict[str, str]:
    if lb_type == "application":
        return {"routing.http.response.server.enabled": "true"}
    if protocol in ("UDP", "QUIC"):
        return {}
    return {"tcp.idle_timeout.seconds": DEFAULT_IDLE_TIMEOUT}


def listener_out(ln: Listener) -> dict:
    out = {
        "ListenerArn": ln.arn,
        "LoadBalancerArn": ln.load_balancer_arn,
        "Port": ln.port or None,
        "Protocol": ln.protocol or None,
        "DefaultActions": [dict(a) for a in ln.default_actions],
    }
    if ln.certificates:
        out["Certificates"] = [dict(c) for c in ln.certificates]
    if ln.ssl_policy:
        out["SslPolicy"] = ln.ssl_policy
    if ln.alpn_policy:
        out["AlpnPolicy"] = list(ln.alpn_policy)
    return out


# -- validation


def _check_protocol_port(lb: LoadBalancer, protocol: str | None, port: int | None) -> None:
    check_enum(
        protocol,
        ["HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE", "QUIC", "TCP_QUIC"],
        "protocol",
    )
    check_range(port, 1, 65535, "port")
    if lb.type == "gateway":
        if protocol or port:
            raise validation(
                "A protocol and port cannot be specified for a Gateway Load Balancer listener"
            )
        return
    allowed = LISTENER_PROTOCOLS[lb.type]
    if not protocol:
        raise validation("A listener protocol must be specified")
    if protocol not in allowed:
        raise validation(f"Listener protocol '{protocol}' must be one of '{', '.join(allowed)}'")
    if port is None:
        raise validation("A listener port must be specified")


def _check_actions(
    ctx: RequestContext,
    lb: LoadBalancer,
    protocol: str | None,
    actions: list[dict],
    this_listener: str | None,
) -> list[dict]:
    if not actions:
        raise validation("At least one default action must be specified")
    out = []
    for i, action in enumerate(actions, 1):
        kind = action.get("Type")
        if lb.type != "application" and kind != "forward":
            raise validation(
                f"Action type '{kind}' is not supported on load balancers of type '{lb.type}'"
            )
        a: dict = {"Type": kind}
        if action.get("Order") is not None:
            check_range(action["Order"], 1, 50000, "order")
            a["Order"] = action["Order"]
        if kind != "forward":
            for k, v in action.items():
                if k not in ("Type", "Order") and v is not None:
                    a[k] = v
            out.append(a)
            continue
        arns: list[tuple[str, int]] = []
        if action.get("TargetGroupArn"):
            arns.append((action["TargetGroupArn"], 1))
        fwd = action.get("ForwardConfig") or {}
        for tup in fwd.get("TargetGroups") or []:
            weight = tup.get("Weight", 1)
            check_range(weight, 0, 999, "weight")
            arn = tup.get("TargetGroupArn")
            if arns and action.get("TargetGroupArn") and arn != action["TargetGroupArn"]:
                raise validation(
                    "You cannot specify both a target group ARN and a forward config with a different target group"
                )
            if (arn, weight) not in arns and all(a_ != arn for a_, _ in arns):
                arns.append((arn, weight))
        if not arns:
            raise validation(f"A target group ARN must be specified for the forward action {i}")
        if lb.type != "application" and len(arns) > 1:
            raise validation(
                f"Load balancers of type '{lb.type}' support only one target group per forward action"
            )
        for arn, _ in arns:
            tg = get_tg(ctx, arn)
            _check_target_group(ctx, lb, protocol, tg, this_listener)
        a["TargetGroupArn"] = arns[0][0] if len(arns) == 1 else None
        a["ForwardConfig"] = {
            "TargetGroups": [{"TargetGroupArn": arn, "Weight": w} for arn, w in arns],
            "TargetGroupStickinessConfig": dict(
                fwd.get("TargetGroupStickinessConfig") or {"Enabled": False}
            ),
        }
        if a["TargetGroupArn"] is None:
            del a["TargetGroupArn"]
        out.append(a)
    return out


def _check_target_group(
    ctx: RequestContext,
    lb: LoadBalancer,
    protocol: str | None,
    tg: TargetGroup,
    this_listener: str | None,
) -> None:
    if tg.protocol not in COMPATIBLE.get(protocol, set()):
        raise AwsError(
            "IncompatibleProtocols",
            f"Listener protocol '{protocol}' is not supported with a target group with the "
            f"protocol '{tg.protocol}'",
        )
    if tg.vpc_id and tg.vpc_id != lb.vpc_id:
        raise invalid_config(
            f"The VPC of target group '{tg.arn}' ({tg.vpc_id}) does not match the VPC of the load "
            f"balancer ({lb.vpc_id})"
        )
    others = [a for a in lbs_using_tg(ctx.tx, tg) if a != lb.arn]
    if others and lb.type != "application":
        raise AwsError(
            "TargetGroupAssociationLimit",
            f"The following target groups cannot be associated with more than one load balancer: {tg.arn}",
        )


def _check_tls(
    params: dict, protocol: str | None, current: Listener | None
) -> tuple[str | None, list[dict], list[str]]:
    certs = params.get("Certificates")
    policy = params.get("SslPolicy")
    alpn = params.get("AlpnPolicy")
    secure = protocol in ("TLS", "HTTPS")
    if not secure:
        if certs or policy or alpn:
            raise validation(
                f"Certificates, SSL policies and ALPN policies cannot be specified for {protocol} listeners"
            )
        return None, [], []
    if certs is None and current is not None and current.certificates:
        cert_list = [dict(c) for c in current.certificates]
    else:
        if not certs:
            raise AwsError(
                "CertificateNotFound", f"A certificate must be specified for {protocol} listeners"
            )
        if len(certs) != 1:
            raise validation("You must specify exactly one default certificate")
        arn = certs[0].get("CertificateArn") or ""
        if not _CERT_ARN.match(arn):
            raise AwsError("CertificateNotFound", f"Certificate '{arn}' not found")
        cert_list = [{"CertificateArn": arn}]
    policy = policy or (
        current.ssl_policy if current and current.ssl_policy else DEFAULT_SSL_POLICY
    )
    if not policy.startswith("ELBSecurityPolicy-"):
        raise AwsError("SSLPolicyNotFound", f"SSL policy '{policy}' not found")
    if alpn is None:
        alpn_list = list(current.alpn_policy) if current else []
    else:
        if protocol != "TLS" and alpn:
            raise validation("ALPN policies can be specified only for TLS listeners")
        if len(alpn) > 1:
            raise validation("You can specify only one ALPN policy")
        for name in alpn:
            if name not in ALPN_POLICIES:
                raise AwsError("ALPNPolicyNotFound", f"ALPN policy '{name}' not found")
        alpn_list = list(alpn)
    return policy, cert_list, alpn_list


# -- operations


@operation("elbv2")
def create_listener(ctx: RequestContext, params: dict) -> dict:
    lb = get_lb(ctx, params["LoadBalancerArn"])
    protocol = params.get("Protocol")
    port = params.get("Port")
    _check_protocol_port(lb, protocol, port)
    if params.get("MutualAuthentication") and lb.type != "application":
        raise validation("Mutual authentication is supported only by HTTPS listeners")
    mine = [
        ln
        for ln in ctx.tx.owned(Listener, ctx.account, ctx.region)
        if ln.load_balancer_arn == lb.arn
    ]
    if lb.type == "gateway" and mine:
        raise AwsError("DuplicateListener", "A Gateway Load Balancer can have only one listener")
    same_port = next((ln for ln in mine if lb.type != "gateway" and ln.port == port), None)
    if same_port is None and len(mine) >= ctx.settings.quotas.listeners_per_load_balancer:
        raise AwsError(
            "TooManyListeners",
            "You've reached the limit on the number of listeners per load balancer",
        )
    policy, certs, alpn = _check_tls(params, protocol, None)
    actions = _check_actions(ctx, lb, protocol, params.get("DefaultActions") or [], None)
    tags = tags_from_list(params.get("Tags"))
    ln = Listener(
        id=listener_arn(lb, hex16()),
        account=ctx.account,
        region=ctx.region,
        load_balancer_arn=lb.arn,
        protocol=protocol or "",
        port=port or 0,
        default_actions=actions,
        ssl_policy=policy,
        certificates=certs,
        alpn_policy=alpn,
        attributes=default_listener_attributes(lb.type, protocol),
        tags=tags,
        created_at=ctx.now,
    )
    if same_port is not None:
        # as AWS: creating a listener again with the same settings succeeds
        if {**listener_out(same_port), "ListenerArn": None} == {
            **listener_out(ln),
            "ListenerArn": None,
        }:
            return {"Listeners": [listener_out(same_port)]}
        raise AwsError(
            "DuplicateListener",
            f"A listener already exists on this port for this load balancer '{lb.arn}'",
        )
    ctx.tx.put(ln)
    return {"Listeners": [listener_out(ln)]}


@operation("elbv2")
def describe_listeners(ctx: RequestContext, params: dict) -> dict:
    lb_arn_ = params.get("LoadBalancerArn")
    arns = params.get("ListenerArns")
    if lb_arn_ and arns:
        raise validation(
            "Listener ARNs and a load balancer ARN cannot be specified at the same time"
        )
    if arns:
        found = [get_listener(ctx, a) for a in dict.fromkeys(arns)]
    elif lb_arn_:
        lb = get_lb(ctx, lb_arn_)
        found = [
            ln
            for ln in ctx.tx.owned(Listener, ctx.account, ctx.region)
            if ln.load_balancer_arn == lb.arn
        ]
    else:
        raise validation("You must specify either listener ARNs or a load balancer ARN")
    found.sort(key=lambda ln: (ln.created_at, ln.id))
    page, marker = paginate(found, params)
    return {"Listeners": [listener_out(ln) for ln in page], "NextMarker": marker}


@operation("elbv2")
def modify_listener(ctx: RequestContext, params: dict) -> dict:
    ln = get_listener(ctx, params["ListenerArn"])
    lb = get_lb(ctx, ln.load_balancer_arn)
    protocol = params.get("Protocol") or ln.protocol or None
    port = params.get("Port") or ln.port or None
    _check_protocol_port(lb, protocol, port)
    if params.get("Port") and params["Port"] != ln.port:
        for other in ctx.tx.owned(Listener, ctx.account, ctx.region):
            if other.load_balancer_arn == lb.arn and other.id != ln.id and other.port == port:
                raise AwsError(
                    "DuplicateListener",
                    f"A listener already exists on this port for this load balancer '{lb.arn}'",
                )
    policy, certs, alpn = _check_tls(params, protocol, ln if protocol == ln.protocol else None)
    if params.get("DefaultActions"):
        actions = _check_actions(ctx, lb, protocol, params["DefaultActions"], ln.id)
    else:
        actions = ln.default_actions
        for arn, _ in ln.forward_target_groups():
            tg = ctx.tx.get(TargetGroup, arn)
            if tg is not None and tg.protocol not in COMPATIBLE.get(protocol, set()):
                raise AwsError(
                    "IncompatibleProtocols",
                    f"Listener protocol '{protocol}' is not supported with a target group with the "
                    f"protocol '{tg.protocol}'",
                )
    mine = ctx.tx.edit(ln)
    if protocol != ln.protocol:
        mine.attributes = default_listener_attributes(lb.type, protocol)
    mine.protocol = protocol or ""
    mine.port = port or 0
    mine.ssl_policy = policy
    mine.certificates = certs
    mine.alpn_policy = alpn
    mine.default_actions = actions
    return {"Listeners": [listener_out(mine)]}


@operation("elbv2")
def delete_listener(ctx: RequestContext, params: dict) -> dict:
    ln = get_listener(ctx, params["ListenerArn"])
    ctx.tx.delete(ln)
    return {}


def _check_listener_attribute(
    ctx: RequestContext, lb: LoadBalancer, ln: Listener, key: str, value: str
) -> str:
    if key == "tcp.idle_timeout.seconds":
        if lb.type == "application":
            raise invalid_config(
                f"Listener attribute key '{key}' is not supported on listeners of Application Load Balancers"
            )
        if ln.protocol == "TLS":
            raise invalid_config("The TCP idle timeout of TLS listeners is fixed at 350 seconds")
        if ln.protocol in ("UDP", "QUIC"):
            raise invalid_config(
                f"Listener attribute key '{key}' is not supported on {ln.protocol} listeners"
            )
        floor = int(ctx.settings.timing.idle_timeout_floor)
        try:
            n = int(value)
        except ValueError:
            raise validation(
                f"Listener attribute '{key}' must be an integer, not '{value}'"
            ) from None
        if not floor <= n <= 6000:
            raise validation(
                f"Listener attribute '{key}' must be between {floor} and 6000 seconds, not '{value}'"
            )
        return str(n)
    if key in ALB_LISTENER_KEYS:
        if lb.type != "application":
            raise invalid_config(
                f"Listener attribute key '{key}' is not supported on listeners of load balancers with type '{lb.type}'"
            )
        if key == "routing.http.response.server.enabled" and value not in ("true", "false"):
            raise validation(f"Listener attribute '{key}' must be 'true' or 'false'")
        return value
    raise validation(f"Listener attribute key '{key}' is not recognized")


@operation("elbv2")
def modify_listener_attributes(ctx: RequestContext, params: dict) -> dict:
    ln = get_listener(ctx, params["ListenerArn"])
    lb = get_lb(ctx, ln.load_balancer_arn)
    new = dict(ln.attributes)
    for key, value in attribute_pairs(params):
        new[key] = _check_listener_attribute(ctx, lb, ln, key, value)
    if new != ln.attributes:
        ctx.tx.edit(ln).attributes = new
    return {"Attributes": attribute_list(new)}


@operation("elbv2")
def describe_listener_attributes(ctx: RequestContext, params: dict) -> dict:
    ln = get_listener(ctx, params["ListenerArn"])
    return {"Attributes": attribute_list(ln.attributes)}


__all__ = ["listener_out", "COMPATIBLE", "default_listener_attributes"]
