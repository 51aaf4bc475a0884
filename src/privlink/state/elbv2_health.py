"""The health of registered targets as the load balancer sees it, for every reader:
DescribeTargetHealth, the data plane (which target may take a new flow), DNS and the doctor.

``reader`` is anything with ``get``/``all``/``owned`` (the store or a transaction).

A target's effective state combines what the configuration says (deregistered targets
drain; a target group no load balancer forwards to, or a target in an AZ the load balancer
does not have, is ``unused``) with what the health checker observed (the
:class:`~privlink.state.elbv2.TargetHealth` resource it writes).
"""

from __future__ import annotations

from dataclasses import dataclass

from .elbv2 import Listener, LoadBalancer, RegisteredTarget, TargetGroup, TargetHealth

DESCRIPTIONS = {
    "Elb.RegistrationInProgress": "Target registration is in progress",
    "Elb.InitialHealthChecking": "Initial health checks in progress",
    "Elb.InternalError": "Health checks failed due to an internal error",
    "Target.FailedHealthChecks": "Health checks failed",
    "Target.Timeout": "Request timed out",
    "Target.ResponseCodeMismatch": "Health checks failed with these codes: [{codes}]",
    "Target.NotRegistered": "Target is not registered to the target group",
    "Target.NotInUse": "Target group is not configured to receive traffic from the load balancer",
    "Target.DeregistrationInProgress": "Target deregistration is in progress",
    "Target.HealthCheckDisabled": "Health checks are disabled for the target group",
    "Target.InvalidState": "Target is in an invalid state",
}
ZONE_NOT_ENABLED = "Target is in an Availability Zone that is not enabled for the load balancer"


@dataclass(frozen=True)
class TargetHealthView:
    state: str  # initial | healthy | unhealthy | unused | draining | unavailable
    reason: str | None = None
    description: str | None = None

    @property
    def in_service(self) -> bool:
        return self.state == "healthy"


def _view(state: str, reason: str | None, description: str | None = None) -> TargetHealthView:
    if reason and description is None:
        description = DESCRIPTIONS.get(reason)
    return TargetHealthView(state, reason, description)


def serving_load_balancer(reader, tg: TargetGroup) -> LoadBalancer | None:
    """The load balancer whose listeners forward to ``tg`` (an NLB target group serves at most
    one), or None."""
    for ln in reader.owned(Listener, tg.account, tg.region):
        if any(arn == tg.id for arn, _ in ln.forward_target_groups()):
            lb = reader.get(LoadBalancer, ln.load_balancer_arn)
            if lb is not None:
                return lb
    return None


def effective_cross_zone(tg: TargetGroup, lb: LoadBalancer | None) -> bool:
    """The target group's ``load_balancing.cross_zone.enabled`` (true/false), else the load
    balancer's."""
    value = tg.attributes.get(
        "load_balancing.cross_zone.enabled", "use_load_balancer_configuration"
    )
    if value in ("true", "false"):
        return value == "true"
    return bool(lb and lb.cross_zone)


def unhealthy_flow_policy(tg: TargetGroup) -> tuple[bool, int]:
    """What happens to the flows of a target that turns unhealthy, from the target group's
    ``target_health_state.unhealthy.*`` attributes: (closed at once, else the seconds they
    run on for, 0 meaning for as long as they last)."""
    attrs = tg.attributes
    if attrs.get("target_health_state.unhealthy.connection_termination.enabled", "true") != "false":
        return True, 0
    return False, int(attrs.get("target_health_state.unhealthy.draining_interval_seconds", "0"))


def zone_enabled(lb: LoadBalancer, target: RegisteredTarget) -> bool:
    if target.availability_zone == "all" or target.availability_zone_id is None:
        return True
    return any(n.availability_zone_id == target.availability_zone_id for n in lb.nodes)


_NO_LB = object()


def target_health(reader, tg: TargetGroup, target: RegisteredTarget, lb=_NO_LB) -> TargetHealthView:
    """What DescribeTargetHealth reports for a registered target (``lb``: the serving load
    balancer if the caller already looked it up)."""
    if target.deregistered_at is not None:
        return _view("draining", "Target.DeregistrationInProgress")
    if lb is _NO_LB:
        lb = serving_load_balancer(reader, tg)
    if lb is None:
        return _view("unused", "Target.NotInUse")
    if not zone_enabled(lb, target):
        return _view("unused", "Target.NotInUse", ZONE_NOT_ENABLED)
    if not tg.health_check_enabled:
        return _view("unavailable", "Target.HealthCheckDisabled")
    if lb.state == "provisioning":
        return _view("initial", "Elb.RegistrationInProgress")
    rec = reader.get(TargetHealth, TargetHealth.key(tg.id, target.id, target.port))
    if rec is None:
        return _view("initial", "Elb.RegistrationInProgress")
    if rec.state == "healthy":
        return TargetHealthView("healthy")
    return _view(rec.state, rec.reason, rec.description)


def routable_targets(
    reader, tg: TargetGroup, availability_zone_id: str, lb=_NO_LB
) -> list[RegisteredTarget]:
    """The targets a load balancer node in ``availability_zone_id`` may send a new flow to:
    the healthy targets in its zone (any enabled zone with cross-zone load balancing on);
    when no target of the group is healthy anywhere, the node fails open to every target it
    could use. Draining and unused targets never get new flows."""
    if lb is _NO_LB:
        lb = serving_load_balancer(reader, tg)
    if lb is None:
        return []
    cross = effective_cross_zone(tg, lb)
    usable: list[tuple[RegisteredTarget, TargetHealthView]] = []
    for t in tg.targets:
        view = target_health(reader, tg, t, lb)
        if view.state not in ("unused", "draining"):
            usable.append((t, view))

    def reachable(t: RegisteredTarget) -> bool:
        return (
            cross or t.availability_zone == "all" or t.availability_zone_id == availability_zone_id
        )

    healthy = [t for t, v in usable if v.in_service and reachable(t)]
    if healthy:
        return healthy
    if any(v.in_service for _, v in usable):
        return []  # other zones have healthy targets; this node has none
    return [t for t, _ in usable if reachable(t)]


__all__ = [
    "unhealthy_flow_policy",
    "TargetHealthView",
    "serving_load_balancer",
    "effective_cross_zone",
    "zone_enabled",
    "target_health",
    "routable_targets",
    "DESCRIPTIONS",
]
