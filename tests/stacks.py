"""Building blocks for end-to-end tests: a provider's NLB stack and a consumer VPC, made
through the real AWS API (boto3) against privlink."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class ProviderStack:
    vpc_id: str
    subnet_ids: list[str]
    zone_ids: list[str]
    nlb_arn: str
    tg_arn: str
    listener_arn: str
    port: int
    extra: dict = field(default_factory=dict)


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def error_code(excinfo) -> str:
    """The AWS error code of a ``pytest.raises(ClientError)`` result."""
    return excinfo.value.response["Error"]["Code"]


def wait_service(ec2, sid: str, state: str = "Available"):
    """Wait until endpoint service ``sid`` is in ``state``."""
    return wait_for(
        lambda: (
            ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[sid])[
                "ServiceConfigurations"
            ][0]["ServiceState"]
            == state
        ),
        what=f"service {sid} {state}",
    )


def provider_stack(
    clients,
    account: str,
    *,
    cidr: str = "10.10.0.0/16",
    zones: tuple[str, ...] = ("use1-az1", "use1-az2"),
    port: int = 8443,
    targets: list[str] | None = None,
    cross_zone: bool = True,
    name: str = "pl-lab",
    health: dict | None = None,
) -> ProviderStack:
    ec2 = clients("ec2", account=account)
    elb = clients("elbv2", account=account)
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    base = cidr.split(".")
    subnet_ids = []
    for i, zid in enumerate(zones, 1):
        sub = ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"{base[0]}.{base[1]}.{i}.0/24", AvailabilityZoneId=zid
        )
        subnet_ids.append(sub["Subnet"]["SubnetId"])
    lb = elb.create_load_balancer(
        Name=f"{name}-nlb", Type="network", Scheme="internal", Subnets=subnet_ids
    )
    nlb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    if cross_zone:
        elb.modify_load_balancer_attributes(
            LoadBalancerArn=nlb_arn,
            Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}],
        )
    hc = {
        "HealthCheckIntervalSeconds": 5,
        "HealthyThresholdCount": 2,
        "UnhealthyThresholdCount": 2,
        "HealthCheckTimeoutSeconds": 2,
    }
    hc.update(health or {})
    tg = elb.create_target_group(
        Name=f"{name}-tg",
        Protocol="TCP",
        Port=port,
        VpcId=vpc_id,
        TargetType="ip",
        HealthCheckProtocol="TCP",
        **hc,
    )["TargetGroups"][0]["TargetGroupArn"]
    if targets:
        elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": t} for t in targets])
    listener = elb.create_listener(
        LoadBalancerArn=nlb_arn,
        Protocol="TCP",
        Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )["Listeners"][0]["ListenerArn"]
    return ProviderStack(vpc_id, subnet_ids, list(zones), nlb_arn, tg, listener, port)


def consumer_vpc(
    clients,
    account: str,
    *,
    cidr: str = "10.10.0.0/16",
    zones: tuple[str, ...] = ("use1-az1", "use1-az2"),
    dns: bool = True,
    **creds,
):
    ec2 = clients("ec2", account=account, **creds)
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    if dns:
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    base = cidr.split(".")
    subnet_ids = [
        ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"{base[0]}.{base[1]}.{i}.0/24", AvailabilityZoneId=z
        )["Subnet"]["SubnetId"]
        for i, z in enumerate(zones, 1)
    ]
    return vpc_id, subnet_ids
