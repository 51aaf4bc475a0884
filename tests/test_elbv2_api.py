"""ELBv2 through boto3: waiters, AWS's validation and error codes, paging, attributes, tags,
subnet and security-group changes, the hooks other layers use, and durable timers."""

from __future__ import annotations

import re
import time

import botocore.exceptions
import pytest

from privlink.config import Settings
from privlink.services.elbv2 import load_balancers as lbmod
from privlink.testing import EmbeddedPrivlink

from .conftest import CONSUMER, Clients
from .elbv2_util import TargetServer, free_port_on, provider_network, realm_address

TF_STRIP = re.compile(r"attribute key ('|\")?([^'\" ]+)('|\")? is not (recognized|supported)")


@pytest.fixture
def settings(settings):
    settings.timing.load_balancer_provisioning = 0.2
    settings.timing.health_check_interval_floor = 0.5
    return settings


@pytest.fixture
def env(server, clients):
    ec2, elb = clients("ec2"), clients("elbv2")
    return ec2, elb, provider_network(ec2)


def err(excinfo) -> tuple[str, str]:
    e = excinfo.value.response["Error"]
    return e["Code"], e["Message"]


def nlb(elb, net, name="nlb", **kw):
    kw.setdefault("Subnets", [net["a"], net["b"]])
    return elb.create_load_balancer(Name=name, Type="network", Scheme="internal", **kw)[
        "LoadBalancers"
    ][0]


def tcp_tg(elb, net, name="tg", **kw):
    kw.setdefault("TargetType", "ip")
    return elb.create_target_group(Name=name, Protocol="TCP", Port=8443, VpcId=net["vpc"], **kw)[
        "TargetGroups"
    ][0]


def forward(tg_arn):
    return [{"Type": "forward", "TargetGroupArn": tg_arn}]


# -- waiters


def test_waiters_available_in_service_deleted(server, env):
    ec2, elb, net = env
    lb = nlb(elb, net)
    arn = lb["LoadBalancerArn"]
    elb.get_waiter("load_balancer_available").wait(
        LoadBalancerArns=[arn], WaiterConfig={"Delay": 1}
    )
    assert elb.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]["State"] == {
        "Code": "active"
    }
    tg = tcp_tg(elb, net, HealthCheckIntervalSeconds=5, HealthyThresholdCount=2)["TargetGroupArn"]
    host = realm_address(server, net["vpc"], "10.20.2.30")
    target = TargetServer(host, free_port_on(host))
    try:
        elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "10.20.2.30", "Port": target.port}])
        elb.create_listener(
            LoadBalancerArn=arn, Protocol="TCP", Port=8443, DefaultActions=forward(tg)
        )
        elb.get_waiter("target_in_service").wait(
            TargetGroupArn=tg,
            Targets=[{"Id": "10.20.2.30", "Port": target.port}],
            WaiterConfig={"Delay": 1, "MaxAttempts": 30},
        )
    finally:
        target.stop()
    elb.delete_load_balancer(LoadBalancerArn=arn)
    elb.get_waiter("load_balancers_deleted").wait(LoadBalancerArns=[arn], WaiterConfig={"Delay": 1})
    # the ENIs went with it, so Terraform's delete poll drains to zero at once
    assert ec2.describe_network_interfaces()["NetworkInterfaces"] == []
    # deleting again is fine; an unknown ARN is not found when described
    elb.delete_load_balancer(LoadBalancerArn=arn)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.describe_load_balancers(LoadBalancerArns=[arn])
    assert err(e) == ("LoadBalancerNotFound", "One or more load balancers not found")


# -- load balancers


@pytest.mark.parametrize(
    "name,fragment",
    [
        ("a" * 33, "cannot be longer than '32' characters"),
        ("bad_name", "alphanumeric characters or hyphens"),
        ("-leading", "cannot begin or end with '-'"),
        ("trailing-", "cannot begin or end with '-'"),
        ("internal-nlb", "cannot begin with 'internal-'"),
    ],
)
def test_load_balancer_name_rules(env, name, fragment):
    _, elb, net = env
    with pytest.raises(botocore.exceptions.ClientError) as e:
        nlb(elb, net, name=name)
    code, message = err(e)
    assert code == "ValidationError" and fragment in message


def test_create_load_balancer_errors_change_nothing(env, clients):
    ec2, elb, net = env
    first = nlb(elb, net, name="dup")
    # as AWS: the same request again succeeds and returns the same load balancer
    assert nlb(elb, net, name="dup")["LoadBalancerArn"] == first["LoadBalancerArn"]
    cases = [
        (dict(name="dup", Subnets=[net["a"]]), "DuplicateLoadBalancerName"),
        (dict(name="x1", Subnets=["subnet-0123456789abcdef0"]), "SubnetNotFound"),
        (dict(name="x2", Subnets=[]), "ValidationError"),
        (
            dict(name="x3", Subnets=[net["a"]], SubnetMappings=[{"SubnetId": net["b"]}]),
            "ValidationError",
        ),
        (dict(name="x4", SecurityGroups=["sg-0123456789abcdef0"]), "InvalidSecurityGroup"),
        (dict(name="x5", IpAddressType="dualstack"), "InvalidSubnet"),
    ]
    for kw, code in cases:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            nlb(elb, net, **kw)
        assert err(e)[0] == code, kw
    # two subnets in one AZ
    extra = ec2.create_subnet(
        VpcId=net["vpc"], CidrBlock="10.20.9.0/24", AvailabilityZone="us-east-1a"
    )
    with pytest.raises(botocore.exceptions.ClientError) as e:
        nlb(elb, net, name="x6", Subnets=[net["a"], extra["Subnet"]["SubnetId"]])
    assert err(e) == (
        "InvalidConfigurationRequest",
        "A load balancer cannot be attached to multiple subnets in the same Availability Zone",
    )
    # subnets of two VPCs
    other = provider_network(ec2, "10.30.0.0/16")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        nlb(elb, net, name="x7", Subnets=[net["a"], other["b"]])
    assert err(e)[0] == "InvalidSubnet"
    assert [lb["LoadBalancerName"] for lb in elb.describe_load_balancers()["LoadBalancers"]] == [
        "dup"
    ]
    assert len(ec2.describe_network_interfaces()["NetworkInterfaces"]) == 2


def test_subnet_mappings_private_address_and_quota(settings, env):
    ec2, elb, net = env
    lb = elb.create_load_balancer(
        Name="pinned",
        Type="network",
        Scheme="internal",
        SubnetMappings=[
            {"SubnetId": net["a"], "PrivateIPv4Address": "10.20.1.100"},
            {"SubnetId": net["b"]},
        ],
    )["LoadBalancers"][0]
    zones = {z["ZoneName"]: z for z in lb["AvailabilityZones"]}
    assert zones["us-east-1a"]["LoadBalancerAddresses"] == [{"PrivateIPv4Address": "10.20.1.100"}]
    eni = ec2.describe_network_interfaces(
        Filters=[{"Name": "private-ip-address", "Values": ["10.20.1.100"]}]
    )["NetworkInterfaces"][0]
    assert eni["Description"] == "ELB " + lb["LoadBalancerArn"].split(":loadbalancer/")[1]
    assert (
        eni["RequesterId"] == "amazon-elb" and eni["Attachment"]["InstanceOwnerId"] == "amazon-aws"
    )
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.create_load_balancer(
            Name="clash",
            Type="network",
            Scheme="internal",
            SubnetMappings=[{"SubnetId": net["a"], "PrivateIPv4Address": "10.20.1.100"}],
        )
    assert err(e)[0] == "InvalidConfigurationRequest"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.create_load_balancer(
            Name="public",
            Type="network",
            SubnetMappings=[{"SubnetId": net["a"], "PrivateIPv4Address": "10.20.1.101"}],
        )
    assert err(e)[0] == "InvalidConfigurationRequest"


def test_load_balancer_quota(server, env):
    _, elb, net = env
    server.app.settings.quotas.network_load_balancers_per_region = 2
    nlb(elb, net, name="one")
    nlb(elb, net, name="two")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        nlb(elb, net, name="three")
    assert err(e)[0] == "TooManyLoadBalancers"


def test_describe_paging_names_and_accounts(env, clients):
    _, elb, net = env
    arns = [nlb(elb, net, name=f"lb-{i}")["LoadBalancerArn"] for i in range(5)]
    seen, marker = [], None
    while True:
        kw = {"PageSize": 2} | ({"Marker": marker} if marker else {})
        page = elb.describe_load_balancers(**kw)
        seen += [lb["LoadBalancerArn"] for lb in page["LoadBalancers"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert seen == arns
    paged = [
        lb["LoadBalancerArn"]
        for p in elb.get_paginator("describe_load_balancers").paginate(
            PaginationConfig={"PageSize": 3}
        )
        for lb in p["LoadBalancers"]
    ]
    assert paged == arns
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.describe_load_balancers(Names=["lb-1", "nope", "nada"])
    assert err(e) == ("LoadBalancerNotFound", "Load balancers '[nope, nada]' not found")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.describe_load_balancers(LoadBalancerArns=["not-an-arn"])
    assert err(e)[0] == "ValidationError"
    # another account sees none of them, and cannot delete them
    other = clients("elbv2", account=CONSUMER)
    assert other.describe_load_balancers()["LoadBalancers"] == []
    with pytest.raises(botocore.exceptions.ClientError) as e:
        other.describe_load_balancers(LoadBalancerArns=[arns[0]])
    assert err(e)[0] == "LoadBalancerNotFound"
    other.delete_load_balancer(LoadBalancerArn=arns[0])
    assert len(elb.describe_load_balancers()["LoadBalancers"]) == 5


def test_delete_protection_and_in_use_hook(env):
    _, elb, net = env
    arn = nlb(elb, net)["LoadBalancerArn"]
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=arn, Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}]
    )
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.delete_load_balancer(LoadBalancerArn=arn)
    assert err(e)[0] == "OperationNotPermitted"
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=arn, Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}]
    )

    def in_use(tx, lb):
        return "vpce-svc-0123456789abcdef0" if lb.arn == arn else None

    lbmod.LB_IN_USE_HOOKS.append(in_use)
    try:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            elb.delete_load_balancer(LoadBalancerArn=arn)
        code, message = err(e)
        assert code == "ResourceInUse" and "vpce-svc-0123456789abcdef0" in message
    finally:
        lbmod.LB_IN_USE_HOOKS.remove(in_use)
    elb.delete_load_balancer(LoadBalancerArn=arn)


def test_load_balancer_attributes(env):
    _, elb, net = env
    arn = nlb(elb, net)["LoadBalancerArn"]
    attrs = {
        a["Key"]: a["Value"]
        for a in elb.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    }
    assert attrs == {
        "access_logs.s3.bucket": "",
        "access_logs.s3.enabled": "false",
        "access_logs.s3.prefix": "",
        "deletion_protection.enabled": "false",
        "dns_record.client_routing_policy": "any_availability_zone",
        "ipv6.deny_all_igw_traffic": "true",
        "load_balancing.cross_zone.enabled": "false",
        "secondary_ips.auto_assigned.per_subnet": "0",
        "zonal_shift.config.enabled": "false",
    }
    for key, code in (
        ("no.such.key", "ValidationError"),
        ("routing.http2.enabled", "InvalidConfigurationRequest"),
    ):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            elb.modify_load_balancer_attributes(
                LoadBalancerArn=arn,
                Attributes=[
                    {"Key": "zonal_shift.config.enabled", "Value": "true"},
                    {"Key": key, "Value": "true"},
                ],
            )
        c, message = err(e)
        assert c == code
        assert TF_STRIP.search(f"{c}: {message}").group(2) == key  # Terraform strips it and retries
    for key, value in (
        ("deletion_protection.enabled", "yes"),
        ("dns_record.client_routing_policy", "nearest"),
        ("secondary_ips.auto_assigned.per_subnet", "8"),
    ):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            elb.modify_load_balancer_attributes(
                LoadBalancerArn=arn, Attributes=[{"Key": key, "Value": value}]
            )
        assert err(e)[0] == "ValidationError"
    # nothing changed by the failed calls
    again = {
        a["Key"]: a["Value"]
        for a in elb.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    }
    assert again == attrs


def test_set_subnets_security_groups_and_zone_removal_hook(env):
    ec2, elb, net = env
    sg = ec2.create_security_group(GroupName="nlb", Description="nlb", VpcId=net["vpc"])["GroupId"]
    lb = nlb(elb, net, SecurityGroups=[sg])
    arn = lb["LoadBalancerArn"]
    assert lb["SecurityGroups"] == [sg]
    assert lb["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] == "on"
    out = elb.set_subnets(LoadBalancerArn=arn, Subnets=[net["a"], net["b"], net["c"]])
    assert sorted(z["ZoneName"] for z in out["AvailabilityZones"]) == [
        "us-east-1a",
        "us-east-1b",
        "us-east-1c",
    ]
    assert len(ec2.describe_network_interfaces()["NetworkInterfaces"]) == 3

    def veto(tx, lb, zones):
        return "endpoints use these zones" if lb.arn == arn else None

    lbmod.LB_ZONE_REMOVAL_HOOKS.append(veto)
    try:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            elb.set_subnets(LoadBalancerArn=arn, Subnets=[net["a"]])
        assert err(e) == ("InvalidConfigurationRequest", "endpoints use these zones")
    finally:
        lbmod.LB_ZONE_REMOVAL_HOOKS.remove(veto)
    elb.set_subnets(LoadBalancerArn=arn, Subnets=[net["a"]])
    enis = ec2.describe_network_interfaces()["NetworkInterfaces"]
    assert [e["SubnetId"] for e in enis] == [net["a"]] and [
        g["GroupId"] for g in enis[0]["Groups"]
    ] == [sg]
    sg2 = ec2.create_security_group(GroupName="nlb2", Description="nlb2", VpcId=net["vpc"])[
        "GroupId"
    ]
    out = elb.set_security_groups(
        LoadBalancerArn=arn,
        SecurityGroups=[sg2],
        EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic="off",
    )
    assert out == {
        "SecurityGroupIds": [sg2],
        "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic": "off",
        "ResponseMetadata": out["ResponseMetadata"],
    }
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.set_security_groups(LoadBalancerArn=arn, SecurityGroups=[])
    assert err(e)[0] == "InvalidConfigurationRequest"
    bare = nlb(elb, net, name="bare")["LoadBalancerArn"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.set_security_groups(LoadBalancerArn=bare, SecurityGroups=[sg])
    assert err(e)[0] == "InvalidConfigurationRequest"


# -- target groups


def test_target_group_defaults_and_health_check_validation(env):
    _, elb, net = env
    tg = tcp_tg(elb, net)
    assert {
        k: tg[k]
        for k in (
            "HealthCheckProtocol",
            "HealthCheckPort",
            "HealthCheckEnabled",
            "HealthCheckIntervalSeconds",
            "HealthCheckTimeoutSeconds",
            "HealthyThresholdCount",
            "UnhealthyThresholdCount",
        )
    } == {
        "HealthCheckProtocol": "TCP",
        "HealthCheckPort": "traffic-port",
        "HealthCheckEnabled": True,
        "HealthCheckIntervalSeconds": 30,
        "HealthCheckTimeoutSeconds": 10,
        "HealthyThresholdCount": 5,
        "UnhealthyThresholdCount": 2,
    }
    assert "Matcher" not in tg and "HealthCheckPath" not in tg
    http_check = tcp_tg(elb, net, name="tg-http", HealthCheckProtocol="HTTP")
    assert http_check["HealthCheckPath"] == "/" and http_check["Matcher"] == {"HttpCode": "200-399"}
    alb_tg = elb.create_target_group(Name="alb-tg", Protocol="HTTP", Port=80, VpcId=net["vpc"])[
        "TargetGroups"
    ][0]
    assert (alb_tg["Matcher"], alb_tg["HealthCheckTimeoutSeconds"], alb_tg["ProtocolVersion"]) == (
        {"HttpCode": "200"},
        6,
        "HTTP1",
    )
    # as AWS: the same request again succeeds and returns the same target group
    assert tcp_tg(elb, net)["TargetGroupArn"] == tg["TargetGroupArn"]
    bad = [
        (dict(name="tg", HealthCheckIntervalSeconds=10), "DuplicateTargetGroupName"),
        (
            dict(name="m1", HealthCheckProtocol="HTTP", Matcher={"HttpCode": "600"}),
            "ValidationError",
        ),
        (dict(name="m2", HealthCheckProtocol="UDP"), "ValidationError"),
        (dict(name="m3", HealthCheckPath="/x"), "ValidationError"),
        (dict(name="m4", HealthCheckPort="70000"), "ValidationError"),
        (dict(name="m5", HealthyThresholdCount=11), "ValidationError"),
        (dict(name="bad_name"), "ValidationError"),
    ]
    for kw, code in bad:
        name = kw.pop("name")
        with pytest.raises(
            (botocore.exceptions.ClientError, botocore.exceptions.ParamValidationError)
        ) as e:
            tcp_tg(elb, net, name=name, **kw)
        if isinstance(e.value, botocore.exceptions.ClientError):
            assert err(e)[0] == code, (name, kw)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.create_target_group(Name="novpc", Protocol="TCP", Port=80, TargetType="ip")
    assert err(e)[0] == "ValidationError"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.create_target_group(
            Name="tcp-on-http",
            Protocol="HTTP",
            Port=80,
            VpcId=net["vpc"],
            HealthCheckProtocol="TCP",
        )
    assert err(e)[0] == "ValidationError"
    modified = elb.modify_target_group(
        TargetGroupArn=tg["TargetGroupArn"],
        HealthCheckProtocol="HTTPS",
        HealthCheckPath="/healthz",
        Matcher={"HttpCode": "200,204"},
    )["TargetGroups"][0]
    assert (modified["HealthCheckProtocol"], modified["HealthCheckPath"], modified["Matcher"]) == (
        "HTTPS",
        "/healthz",
        {"HttpCode": "200,204"},
    )
    assert len(elb.describe_target_groups(Names=["tg", "tg-http"])["TargetGroups"]) == 2
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.describe_target_groups(Names=["missing"])
    assert err(e)[0] == "TargetGroupNotFound"


def test_target_group_attributes(env):
    _, elb, net = env
    ip_tg = tcp_tg(elb, net)["TargetGroupArn"]
    attrs = {
        a["Key"]: a["Value"]
        for a in elb.describe_target_group_attributes(TargetGroupArn=ip_tg)["Attributes"]
    }
    assert attrs["preserve_client_ip.enabled"] == "false"
    assert attrs["proxy_protocol_v2.enabled"] == "false"
    assert attrs["deregistration_delay.timeout_seconds"] == "300"
    assert attrs["stickiness.type"] == "source_ip"
    assert attrs["load_balancing.cross_zone.enabled"] == "use_load_balancer_configuration"
    assert attrs["target_health_state.unhealthy.connection_termination.enabled"] == "true"
    udp = elb.create_target_group(
        Name="udp", Protocol="UDP", Port=53, VpcId=net["vpc"], TargetType="ip"
    )
    udp_arn = udp["TargetGroups"][0]["TargetGroupArn"]
    udp_attrs = {
        a["Key"]: a["Value"]
        for a in elb.describe_target_group_attributes(TargetGroupArn=udp_arn)["Attributes"]
    }
    assert udp_attrs["preserve_client_ip.enabled"] == "true"
    assert udp_attrs["deregistration_delay.connection_termination.enabled"] == "true"
    for arn, key, value, code in (
        (ip_tg, "deregistration_delay.timeout_seconds", "3601", "ValidationError"),
        (ip_tg, "stickiness.type", "lb_cookie", "ValidationError"),
        (ip_tg, "load_balancing.cross_zone.enabled", "maybe", "ValidationError"),
        (ip_tg, "bogus.key", "1", "ValidationError"),
        (ip_tg, "slow_start.duration_seconds", "30", "InvalidConfigurationRequest"),
        (udp_arn, "preserve_client_ip.enabled", "false", "InvalidConfigurationRequest"),
    ):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            elb.modify_target_group_attributes(
                TargetGroupArn=arn, Attributes=[{"Key": key, "Value": value}]
            )
        assert err(e)[0] == code, key
    out = elb.modify_target_group_attributes(
        TargetGroupArn=ip_tg,
        Attributes=[
            {"Key": "proxy_protocol_v2.enabled", "Value": "true"},
            {"Key": "load_balancing.cross_zone.enabled", "Value": "false"},
            {"Key": "deregistration_delay.timeout_seconds", "Value": "0"},
        ],
    )["Attributes"]
    assert {"Key": "proxy_protocol_v2.enabled", "Value": "true"} in out


def test_register_targets_validation(server, env):
    _, elb, net = env
    tg = tcp_tg(elb, net)["TargetGroupArn"]
    cases = [
        ({"Id": "8.8.8.8", "AvailabilityZone": "all"}, "InvalidTarget"),
        ({"Id": "10.20.200.5"}, "InvalidTarget"),  # in the VPC, in no subnet
        ({"Id": "192.168.1.5"}, "ValidationError"),  # outside the VPC needs an AZ
        ({"Id": "10.20.1.5", "AvailabilityZone": "all"}, "ValidationError"),
        ({"Id": "10.20.1.5", "AvailabilityZone": "us-east-1b"}, "ValidationError"),
        ({"Id": "not-an-ip"}, "InvalidTarget"),
    ]
    for target, code in cases:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            elb.register_targets(TargetGroupArn=tg, Targets=[target])
        assert err(e)[0] == code, target
    elb.register_targets(
        TargetGroupArn=tg,
        Targets=[
            {"Id": "192.168.1.5", "AvailabilityZone": "all"},
            {"Id": "10.20.1.5", "Port": 9000},
            {"Id": "10.20.1.5", "Port": 9000},  # registering twice is harmless
        ],
    )
    targets = [
        h["Target"]
        for h in elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    ]
    assert targets == [
        {"Id": "192.168.1.5", "Port": 8443, "AvailabilityZone": "all"},
        {"Id": "10.20.1.5", "Port": 9000, "AvailabilityZone": "us-east-1a"},
    ]
    inst = elb.create_target_group(Name="inst", Protocol="TCP", Port=80, VpcId=net["vpc"])[
        "TargetGroups"
    ][0]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.register_targets(
            TargetGroupArn=inst["TargetGroupArn"], Targets=[{"Id": "i-0123456789abcdef0"}]
        )
    assert err(e)[0] == "InvalidTarget"
    server.app.settings.quotas.targets_per_target_group = 3
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.register_targets(
            TargetGroupArn=tg, Targets=[{"Id": f"10.20.1.{i}"} for i in range(10, 13)]
        )
    assert err(e)[0] == "TooManyTargets"
    assert len(elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]) == 2
    # deregistering what is not registered is harmless; unused TG targets go at once
    elb.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": "10.20.1.99"}])
    elb.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": "192.168.1.5"}])
    assert len(elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]) == 1


def test_target_in_zone_the_load_balancer_lacks_is_unused(env):
    _, elb, net = env
    lb = nlb(elb, net)["LoadBalancerArn"]
    tg = tcp_tg(elb, net)["TargetGroupArn"]
    elb.create_listener(LoadBalancerArn=lb, Protocol="TCP", Port=8443, DefaultActions=forward(tg))
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "10.20.3.7"}])  # subnet c: us-east-1c
    health = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"][0][
        "TargetHealth"
    ]
    assert health == {
        "State": "unused",
        "Reason": "Target.NotInUse",
        "Description": "Target is in an Availability Zone that is not enabled for the load balancer",
    }


# -- listeners


def test_listener_rules(server, env):
    _, elb, net = env
    lb = nlb(elb, net)["LoadBalancerArn"]
    other_lb = nlb(elb, net, name="other")["LoadBalancerArn"]
    tg = tcp_tg(elb, net)["TargetGroupArn"]
    udp = elb.create_target_group(
        Name="udp", Protocol="UDP", Port=53, VpcId=net["vpc"], TargetType="ip"
    )
    udp_arn = udp["TargetGroups"][0]["TargetGroupArn"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.create_listener(
            LoadBalancerArn=lb, Protocol="TCP", Port=53, DefaultActions=forward(udp_arn)
        )
    assert err(e)[0] == "IncompatibleProtocols"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.create_listener(
            LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=forward(tg)
        )
    assert err(e)[0] == "ValidationError"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.create_listener(
            LoadBalancerArn=lb, Protocol="TLS", Port=443, DefaultActions=forward(tg)
        )
    assert err(e)[0] == "CertificateNotFound"
    ln = elb.create_listener(
        LoadBalancerArn=lb, Protocol="TCP", Port=8443, DefaultActions=forward(tg)
    )["Listeners"][0]
    assert ln["DefaultActions"][0]["ForwardConfig"]["TargetGroups"] == [
        {"TargetGroupArn": tg, "Weight": 1}
    ]
    # as AWS: the same request again succeeds and returns the same listener ...
    again = elb.create_listener(
        LoadBalancerArn=lb, Protocol="TCP", Port=8443, DefaultActions=forward(tg)
    )["Listeners"][0]
    assert again["ListenerArn"] == ln["ListenerArn"]
    # ... while another listener on the port conflicts
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.create_listener(
            LoadBalancerArn=lb, Protocol="UDP", Port=8443, DefaultActions=forward(udp_arn)
        )
    assert err(e)[0] == "DuplicateListener"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.create_listener(
            LoadBalancerArn=other_lb, Protocol="TCP", Port=8443, DefaultActions=forward(tg)
        )
    assert err(e)[0] == "TargetGroupAssociationLimit"
    tls = elb.create_listener(
        LoadBalancerArn=lb,
        Protocol="TLS",
        Port=443,
        DefaultActions=forward(tg),
        Certificates=[{"CertificateArn": "arn:aws:acm:us-east-1:111111111111:certificate/abc"}],
        AlpnPolicy=["HTTP2Preferred"],
    )["Listeners"][0]
    assert tls["SslPolicy"] == "ELBSecurityPolicy-2016-08" and tls["AlpnPolicy"] == [
        "HTTP2Preferred"
    ]
    server.app.settings.quotas.listeners_per_load_balancer = 2
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.create_listener(
            LoadBalancerArn=lb, Protocol="TCP", Port=9000, DefaultActions=forward(tg)
        )
    assert err(e)[0] == "TooManyListeners"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.delete_target_group(TargetGroupArn=tg)
    assert err(e) == (
        "ResourceInUse",
        f"Target group '{tg}' is currently in use by a listener or a rule",
    )
    assert elb.describe_target_groups(TargetGroupArns=[tg])["TargetGroups"][0][
        "LoadBalancerArns"
    ] == [lb]
    assert [
        t["TargetGroupArn"] for t in elb.describe_target_groups(LoadBalancerArn=lb)["TargetGroups"]
    ] == [tg]
    # listener attributes: the idle timeout, 60-6000, fixed on TLS listeners
    arn = ln["ListenerArn"]
    assert elb.describe_listener_attributes(ListenerArn=arn)["Attributes"] == [
        {"Key": "tcp.idle_timeout.seconds", "Value": "350"}
    ]
    for value in ("59", "6001", "soon"):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            elb.modify_listener_attributes(
                ListenerArn=arn, Attributes=[{"Key": "tcp.idle_timeout.seconds", "Value": value}]
            )
        assert err(e)[0] == "ValidationError"
    elb.modify_listener_attributes(
        ListenerArn=arn, Attributes=[{"Key": "tcp.idle_timeout.seconds", "Value": "6000"}]
    )
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.modify_listener_attributes(
            ListenerArn=tls["ListenerArn"],
            Attributes=[{"Key": "tcp.idle_timeout.seconds", "Value": "600"}],
        )
    assert err(e)[0] == "InvalidConfigurationRequest"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.modify_listener_attributes(
            ListenerArn=arn,
            Attributes=[{"Key": "routing.http.response.server.enabled", "Value": "true"}],
        )
    assert err(e)[0] == "InvalidConfigurationRequest"
    server.app.settings.timing.idle_timeout_floor = 2
    elb.modify_listener_attributes(
        ListenerArn=arn, Attributes=[{"Key": "tcp.idle_timeout.seconds", "Value": "2"}]
    )
    modified = elb.modify_listener(ListenerArn=arn, Port=8444)["Listeners"][0]
    assert modified["Port"] == 8444
    elb.delete_listener(ListenerArn=arn)
    elb.delete_listener(ListenerArn=tls["ListenerArn"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.describe_listeners(ListenerArns=[arn])
    assert err(e)[0] == "ListenerNotFound"
    elb.delete_target_group(TargetGroupArn=tg)
    # deleting it again succeeds, as AWS's DeleteTargetGroup (which has no NotFound error) does
    elb.delete_target_group(TargetGroupArn=tg)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.describe_target_groups(TargetGroupArns=[tg])
    assert err(e)[0] == "TargetGroupNotFound"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.delete_target_group(TargetGroupArn="not-an-arn")
    assert err(e)[0] == "ValidationError"


# -- tags and limits


def test_tags_and_limits(env):
    _, elb, net = env
    lb = nlb(elb, net, Tags=[{"Key": "team", "Value": "payments"}])["LoadBalancerArn"]
    tg = tcp_tg(elb, net)["TargetGroupArn"]
    elb.add_tags(ResourceArns=[lb, tg], Tags=[{"Key": "env", "Value": "test"}])
    described = {
        d["ResourceArn"]: d["Tags"]
        for d in elb.describe_tags(ResourceArns=[lb, tg])["TagDescriptions"]
    }
    assert described[lb] == [{"Key": "team", "Value": "payments"}, {"Key": "env", "Value": "test"}]
    assert described[tg] == [{"Key": "env", "Value": "test"}]
    elb.remove_tags(ResourceArns=[lb], TagKeys=["team"])
    assert elb.describe_tags(ResourceArns=[lb])["TagDescriptions"][0]["Tags"] == [
        {"Key": "env", "Value": "test"}
    ]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.add_tags(
            ResourceArns=[lb], Tags=[{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]
        )
    assert err(e)[0] == "DuplicateTagKeys"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.add_tags(ResourceArns=[lb], Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert err(e)[0] == "TooManyTags"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.describe_tags(ResourceArns=[lb.replace(lb.rsplit("/", 1)[1], "0" * 16)])
    assert err(e)[0] == "LoadBalancerNotFound"
    limits = {x["Name"]: x["Max"] for x in elb.describe_account_limits()["Limits"]}
    assert (
        limits["network-load-balancers"] == "50"
        and limits["listeners-per-network-load-balancer"] == "50"
    )
    assert elb.describe_capacity_reservation(LoadBalancerArn=lb)["CapacityReservationState"] == []
    out = elb.modify_capacity_reservation(
        LoadBalancerArn=lb, MinimumLoadBalancerCapacity={"CapacityUnits": 5500}
    )
    assert out["MinimumLoadBalancerCapacity"] == {"CapacityUnits": 5500}
    assert len(out["CapacityReservationState"]) == 2


# -- durable timers


def test_provisioning_completes_after_a_restart(tmp_path):
    settings = Settings(port=0, state_dir=str(tmp_path))
    settings.timing.load_balancer_provisioning = 1.0
    with EmbeddedPrivlink(settings) as pl:
        c = Clients(pl.endpoint_url)
        net = provider_network(c("ec2"))
        arn = nlb(c("elbv2"), net)["LoadBalancerArn"]
    time.sleep(1.2)
    with EmbeddedPrivlink(Settings(port=0, state_dir=str(tmp_path))) as pl:
        elb = Clients(pl.endpoint_url)("elbv2")
        # the timer set before the stop was due during it: it fires as the server starts
        elb.get_waiter("load_balancer_available").wait(
            LoadBalancerArns=[arn], WaiterConfig={"Delay": 0.2, "MaxAttempts": 10}
        )
        assert elb.describe_load_balancers()["LoadBalancers"][0]["State"] == {"Code": "active"}
