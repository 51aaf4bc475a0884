"""The seed's Provider step 1 and hands-on lab steps 1-2 with the aws CLI, then real health
checks against a TCP server at the target's realm address: initial -> healthy, unhealthy
when it stops, draining then gone after deregistration."""

from __future__ import annotations

import time

import pytest

from .conftest import PROVIDER
from .elbv2_util import TargetServer, free_port_on, provider_network, realm_address, wait_for


@pytest.fixture
def settings(settings):
    settings.timing.load_balancer_provisioning = 0.3
    settings.timing.health_check_interval_floor = 1  # a 5 s interval lasts 1 s, timeouts 5x shorter
    return settings


def _health(aws, tg):
    out = aws("elbv2", "describe-target-health", "--target-group-arn", tg)
    return out["TargetHealthDescriptions"]


def test_seed_lab_steps_with_cli_and_real_health_checks(server, clients, aws):
    net = provider_network(clients("ec2", account=PROVIDER))
    # lab step 1: an internal NLB across two subnets, cross-zone on
    created = aws(
        "elbv2",
        "create-load-balancer",
        "--name",
        "pl-lab-nlb",
        "--type",
        "network",
        "--scheme",
        "internal",
        "--subnets",
        net["a"],
        net["b"],
    )["LoadBalancers"][0]
    assert created["State"]["Code"] == "provisioning"
    assert created["Scheme"] == "internal" and created["Type"] == "network"
    nlb = aws(
        "elbv2",
        "describe-load-balancers",
        "--names",
        "pl-lab-nlb",
        "--query",
        "LoadBalancers[0].LoadBalancerArn",
    )
    assert nlb == created["LoadBalancerArn"]
    assert nlb.startswith(
        "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/pl-lab-nlb/"
    )
    lb_id = nlb.rsplit("/", 1)[1]
    assert created["DNSName"] == f"pl-lab-nlb-{lb_id}.elb.us-east-1.amazonaws.com"
    assert created["CanonicalHostedZoneId"] == "Z26RNL4JYFTOTI"
    assert sorted(z["SubnetId"] for z in created["AvailabilityZones"]) == sorted(
        [net["a"], net["b"]]
    )
    attrs = aws(
        "elbv2",
        "modify-load-balancer-attributes",
        "--load-balancer-arn",
        nlb,
        "--attributes",
        "Key=load_balancing.cross_zone.enabled,Value=true",
    )["Attributes"]
    assert {"Key": "load_balancing.cross_zone.enabled", "Value": "true"} in attrs
    # one ENI per node, described as AWS does
    enis = clients("ec2").describe_network_interfaces(
        Filters=[
            {"Name": "description", "Values": [f"ELB net/pl-lab-nlb/{lb_id}"]},
            {"Name": "attachment.instance-owner-id", "Values": ["amazon-aws"]},
        ]
    )["NetworkInterfaces"]
    assert len(enis) == 2 and {e["InterfaceType"] for e in enis} == {"network_load_balancer"}

    # lab step 2: target group, target, listener
    tg = aws(
        "elbv2",
        "create-target-group",
        "--name",
        "pl-lab-tg",
        "--protocol",
        "TCP",
        "--port",
        "8443",
        "--vpc-id",
        net["vpc"],
        "--target-type",
        "ip",
        "--health-check-protocol",
        "TCP",
        "--health-check-interval-seconds",
        "5",
        "--health-check-timeout-seconds",
        "2",
        "--healthy-threshold-count",
        "4",
        "--unhealthy-threshold-count",
        "2",
        "--query",
        "TargetGroups[0].TargetGroupArn",
    )
    host = realm_address(server, net["vpc"], "10.20.1.20")
    port = free_port_on(host)  # the TG's port is 8443; this target overrides it
    target = TargetServer(host, port)
    try:
        aws(
            "elbv2",
            "register-targets",
            "--target-group-arn",
            tg,
            "--targets",
            f"Id=10.20.1.20,Port={port}",
        )
        first = _health(aws, tg)[0]
        assert first["Target"] == {
            "Id": "10.20.1.20",
            "Port": port,
            "AvailabilityZone": "us-east-1a",
        }
        assert first["TargetHealth"]["State"] == "unused"
        assert first["TargetHealth"]["Reason"] == "Target.NotInUse"
        listener = aws(
            "elbv2",
            "create-listener",
            "--load-balancer-arn",
            nlb,
            "--protocol",
            "TCP",
            "--port",
            "8443",
            "--default-actions",
            f"Type=forward,TargetGroupArn={tg}",
        )["Listeners"][0]
        assert listener["Port"] == 8443 and listener["Protocol"] == "TCP"
        elb = clients("elbv2")  # quicker than the CLI: sees the first moments of health checking
        first = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"][0]
        seen = [first["TargetHealth"]]
        assert seen[0]["State"] == "initial", seen

        def became_healthy():
            seen.append(_health(aws, tg)[0]["TargetHealth"])
            return seen[-1]["State"] == "healthy"

        wait_for(became_healthy, timeout=30)
        assert seen[-1] == {"State": "healthy"}
        assert {h["State"] for h in seen} <= {"initial", "healthy"}, seen
        assert {h.get("Reason") for h in seen if h["State"] == "initial"} <= {
            "Elb.RegistrationInProgress",
            "Elb.InitialHealthChecking",
        }
        assert target.connections >= 2

        # stop the target: unhealthy within interval x unhealthy threshold (+ timeout)
        target.stop()
        stopped = time.monotonic()
        wait_for(
            lambda: (
                elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"][0][
                    "TargetHealth"
                ]["State"]
                == "unhealthy"
            ),
            timeout=30,
            interval=0.05,
        )
        took = time.monotonic() - stopped
        unhealthy = _health(aws, tg)[0]["TargetHealth"]
        assert unhealthy["Reason"] == "Target.FailedHealthChecks"
        assert unhealthy["Description"] == "Health checks failed"
        # (5 s interval x 2 unhealthy checks + 2 s timeout) scaled by 1/5, with slack for a busy machine
        print(f"\nunhealthy {took:.2f}s after the target stopped (bound {(5 * 2 + 2) / 5:.1f}s)")
        assert took < (5 * 2 + 2) / 5 + 1.5, took
    finally:
        target.server_close()

    # deregister with a short delay: draining, then gone
    aws(
        "elbv2",
        "modify-target-group-attributes",
        "--target-group-arn",
        tg,
        "--attributes",
        "Key=deregistration_delay.timeout_seconds,Value=4",
    )
    aws(
        "elbv2",
        "deregister-targets",
        "--target-group-arn",
        tg,
        "--targets",
        f"Id=10.20.1.20,Port={port}",
    )
    draining = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"][0][
        "TargetHealth"
    ]
    assert draining == {
        "State": "draining",
        "Reason": "Target.DeregistrationInProgress",
        "Description": "Target deregistration is in progress",
    }
    wait_for(
        lambda: elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"] == [],
        timeout=20,
    )
    gone = aws(
        "elbv2",
        "describe-target-health",
        "--target-group-arn",
        tg,
        "--targets",
        f"Id=10.20.1.20,Port={port}",
    )["TargetHealthDescriptions"][0]["TargetHealth"]
    assert gone["State"] == "unused" and gone["Reason"] == "Target.NotRegistered"
