"""ELBv2 resources: load balancers (one node per AZ, each an ENI), target groups with their
registered targets, listeners, and the observed health of each target."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .store import Resource, resource


@dataclass
class LoadBalancerNode:
    """The load balancer's presence in one AZ: a subnet and an ENI with a private address."""

    subnet_id: str
    availability_zone: str  # name, as the load balancer's account sees it
    availability_zone_id: str
    eni_id: str
    private_ip: str
    allocation_id: str | None = None


@resource("elbv2.load_balancer")
@dataclass(kw_only=True)
class LoadBalancer(Resource):
    """id is the load balancer ARN."""

    name: str
    lb_id: str  # the 16 hex digits in the ARN and DNS name
    type: str  # network | application | gateway
    scheme: str  # internal | internet-facing
    vpc_id: str
    dns_name: str
    canonical_hosted_zone_id: str
    state: str = "provisioning"  # provisioning | active | active_impaired | failed
    state_reason: str | None = None
    ip_address_type: str = "ipv4"
    nodes: list[LoadBalancerNode] = field(default_factory=list)
    security_groups: list[str] = field(default_factory=list)
    enforce_sg_inbound_on_privatelink: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    # ModifyCapacityReservation: minimum capacity units (None: no reservation)
    capacity_units: int | None = None
    capacity_modified_at: float = 0.0

    @property
    def arn(self) -> str:
        return self.id

    @property
    def arn_suffix(self) -> str:
        """``net/<name>/<id>``: the CloudWatch ``LoadBalancer`` dimension value."""
        return self.id.split(":loadbalancer/", 1)[1]

    @property
    def cross_zone(self) -> bool:
        return self.attributes.get("load_balancing.cross_zone.enabled", "false") == "true"


@dataclass
class RegisteredTarget:
    id: str  # IP address, instance id, or ALB ARN
    port: int
    availability_zone: str | None = None  # "all" for IPs outside the VPC
    availability_zone_id: str | None = None
    registered_at: float = 0.0
    # set when DeregisterTargets was called: the target drains until then, then goes away
    deregistered_at: float | None = None
    drain_until: float | None = None


@resource("elbv2.target_group")
@dataclass(kw_only=True)
class TargetGroup(Resource):
    """id is the target group ARN."""

    name: str
    tg_id: str
    protocol: str | None  # TCP | UDP | TCP_UDP | TLS | HTTP | HTTPS | GENEVE … (None for lambda)
    port: int | None
    vpc_id: str | None
    target_type: str = "instance"  # instance | ip | alb | lambda
    protocol_version: str | None = None
    ip_address_type: str = "ipv4"
    health_check_enabled: bool = True
    health_check_protocol: str | None = "TCP"
    health_check_port: str = "traffic-port"
    health_check_path: str | None = None
    health_check_interval: int = 30
    health_check_timeout: int = 10
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    matcher_http_code: str | None = None
    matcher_grpc_code: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    targets: list[RegisteredTarget] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0

    @property
    def arn(self) -> str:
        return self.id

    @property
    def arn_suffix(self) -> str:
        """``targetgroup/<name>/<id>``: the CloudWatch ``TargetGroup`` dimension value."""
        return self.id.split(":", 5)[5]

    def attr(self, key: str, default: str | None = None) -> str | None:
        return self.attributes.get(key, default)


@resource("elbv2.listener")
@dataclass(kw_only=True)
class Listener(Resource):
    """id is the listener ARN."""

    load_balancer_arn: str
    protocol: str
    port: int
    default_actions: list[dict[str, Any]] = field(default_factory=list)
    ssl_policy: str | None = None
    certificates: list[dict[str, Any]] = field(default_factory=list)
    alpn_policy: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0

    @property
    def arn(self) -> str:
        return self.id

    def forward_target_groups(self) -> list[tuple[str, int]]:
        """(target group ARN, weight) this listener forwards to."""
        out = []
        for action in self.default_actions:
            if action.get("Type") != "forward":
                continue
            if action.get("TargetGroupArn"):
                out.append((action["TargetGroupArn"], 1))
            for tg in (action.get("ForwardConfig") or {}).get("TargetGroups") or []:
                if (tg["TargetGroupArn"], 1) not in out:
                    out.append((tg["TargetGroupArn"], tg.get("Weight", 1)))
        return out

    @property
    def idle_timeout(self) -> int:
        return int(self.attributes.get("tcp.idle_timeout.seconds", "350"))


@resource("elbv2.target_health")
@dataclass(kw_only=True)
class TargetHealth(Resource):
    """What the health checker observed about one registered target (observed state, written
    only by the health checker). id = ``<target group ARN>|<target id>|<port>``."""

    target_group_arn: str
    target_id: str
    port: int
    state: str = "initial"  # initial | healthy | unhealthy | unused | draining | unavailable
    reason: str | None = "Elb.InitialHealthChecking"
    description: str | None = None
    consecutive_ok: int = 0
    consecutive_fail: int = 0
    last_checked: float = 0.0
    last_change: float = 0.0

    @staticmethod
    def key(tg_arn: str, target_id: str, port: int) -> str:
        return f"{tg_arn}|{target_id}|{port}"
