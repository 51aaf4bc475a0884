"""Real TCP through interface endpoints: the seed lab end to end with curl, security groups,
AZ alignment and cross-zone, PROXY v2, idle timeout, fail-open, flow logs and metrics."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import subprocess
import time

import pytest

from .conftest import CONSUMER, PROVIDER
from .dpworld import InProcessTarget, build, exchange, fast, http_get, wait_healthy
from .stacks import wait_for


@pytest.fixture
def settings(settings):
    return fast(settings)


@pytest.fixture
def world_factory(server, clients):
    made = []

    def make(**kw):
        w = build(server, clients, **kw)
        made.append(w)
        return w

    yield make
    for w in made:
        w.stop()


def _flow_logs(clients, eni_ids, group="/privlink/flow-logs"):
    ec2 = clients("ec2", account=CONSUMER)
    ec2.create_flow_logs(
        ResourceType="NetworkInterface",
        ResourceIds=eni_ids,
        TrafficType="ALL",
        LogGroupName=group,
        DeliverLogsPermissionArn=f"arn:aws:iam::{CONSUMER}:role/flow-logs",
        MaxAggregationInterval=60,
    )


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_lab_with_curl_through_the_regional_name(server, clients, world_factory, aws):
    w = world_factory(tls=True, target_kind="process")
    wait_healthy(clients, w.stack.tg_arn)
    regional = w.ep["DnsEntries"][0]["DnsName"]
    host = w.wait_listening()
    out = subprocess.run(
        [
            "curl",
            "-sk",
            "--max-time",
            "10",
            "--resolve",
            f"{regional}:8443:{host}",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            f"https://{regional}:8443/healthz",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.stdout == "200", out.stderr
    # the lab's step 7 with the aws CLI
    got = aws(
        "ec2",
        "describe-vpc-endpoints",
        "--vpc-endpoint-ids",
        w.ep["VpcEndpointId"],
        "--query",
        "VpcEndpoints[0].[State,DnsEntries[0].DnsName]",
        account=CONSUMER,
    )
    assert got == ["available", regional]


def test_security_group_without_the_port_hangs_then_works(server, clients, world_factory):
    w = world_factory(sg_port=None)
    _flow_logs(clients, [e["NetworkInterfaceId"] for e in w.enis])
    wait_healthy(clients, w.stack.tg_arn)
    host = w.eni_host(0)  # wait_listening would connect, and be held
    wait_for(lambda: server.app.runtime.hooks["dataplane"].listeners, what="listeners")
    s = socket.create_connection((host, 8443), timeout=3)
    s.sendall(b"hello\n")
    s.settimeout(1.5)
    with pytest.raises(TimeoutError):
        s.recv(10)  # no bytes, no FIN, no RST: the client hangs, as when AWS drops the SYN
    s.close()
    logs = clients("logs", account=CONSUMER)

    def reject_records():
        ev = logs.filter_log_events(
            logGroupName="/privlink/flow-logs",
            filterPattern='[version, account, eni, source, destination, srcport, destport="8443", protocol="6", packets, bytes, windowstart, windowend, action="REJECT", flowlogstatus]',
        )["events"]
        return ev

    events = wait_for(reject_records, timeout=10, what="a REJECT record")
    fields = events[0]["message"].split()
    assert (
        fields[0] == "2" and fields[1] == CONSUMER and fields[2] == w.enis[0]["NetworkInterfaceId"]
    )
    assert (
        fields[3] == "10.10.1.254" and fields[4] == w.enis[0]["PrivateIpAddress"]
    )  # the client's default address
    # fixing the rule: it works
    clients("ec2", account=CONSUMER).authorize_security_group_ingress(
        GroupId=w.sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 8443,
                "ToPort": 8443,
                "IpRanges": [{"CidrIp": "10.10.0.0/16"}],
            }
        ],
    )
    assert exchange(host, 8443) == b"ping\n"


def test_cross_zone_decides_whether_another_zone_serves(server, clients, world_factory):
    # the target lives in the provider's second AZ (use1-az2); the endpoint ENI only in use1-az1
    w = world_factory(targets=("10.10.2.20",), cross_zone=False, endpoint_zones=("use1-az1",))
    wait_healthy(clients, w.stack.tg_arn)
    host = w.eni_host(0)
    wait_for(lambda: server.app.runtime.hooks["dataplane"].listeners, what="listeners")
    with pytest.raises((ConnectionResetError, ConnectionRefusedError, BrokenPipeError)):
        exchange(host, 8443)  # cross-zone off: no target in use1-az1 -> reset
    clients("elbv2", account=PROVIDER).modify_load_balancer_attributes(
        LoadBalancerArn=w.stack.nlb_arn,
        Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}],
    )
    wait_for(lambda: _works(host), timeout=5, what="service once cross-zone is on")
    # the target group's own setting overrides the load balancer's, both ways
    elb = clients("elbv2", account=PROVIDER)

    def tg_cross_zone(value):
        elb.modify_target_group_attributes(
            TargetGroupArn=w.stack.tg_arn,
            Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": value}],
        )

    tg_cross_zone("false")
    wait_for(lambda: not _works(host), timeout=5, what="no service with the group's cross-zone off")
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=w.stack.nlb_arn,
        Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "false"}],
    )
    tg_cross_zone("true")
    wait_for(lambda: _works(host), timeout=5, what="service with the group's cross-zone on")


def _works(host):
    try:
        return exchange(host, 8443) == b"ping\n"
    except OSError:
        return False


def test_proxy_v2_carries_the_client_and_the_endpoint(server, clients, world_factory):
    w = world_factory(proxy_v2=True)
    wait_healthy(clients, w.stack.tg_arn)
    host = w.wait_listening()
    # a client bound to a VPC address of the consumer VPC (10.10.1.77)
    source = w.realm().to_host(w.cvpc, "10.10.1.77")
    status, body = http_get(host, 8443, source=source)
    assert status == 200
    info = json.loads(body)
    pp = info["proxy_protocol"]
    assert pp["source"]["address"] == "10.10.1.77"
    assert pp["destination"] == {"address": w.enis[0]["PrivateIpAddress"], "port": 8443}
    assert pp["aws_vpce_id"] == w.ep["VpcEndpointId"]
    # without PROXY v2 the target sees the NLB node, not the client
    clients("elbv2", account=PROVIDER).modify_target_group_attributes(
        TargetGroupArn=w.stack.tg_arn,
        Attributes=[{"Key": "proxy_protocol_v2.enabled", "Value": "false"}],
    )
    status, body = http_get(host, 8443, source=source)
    info = json.loads(body)
    assert info["proxy_protocol"] is None
    peer_host = info["peer"]["address"]
    lb = clients("elbv2", account=PROVIDER).describe_load_balancers()["LoadBalancers"][0]
    nodes = {
        w.target_host(z["LoadBalancerAddresses"][0]["PrivateIPv4Address"])
        for z in lb["AvailabilityZones"]
    }
    assert peer_host in nodes


def test_idle_timeout_resets_the_next_write(server, clients, world_factory):
    w = world_factory()
    wait_healthy(clients, w.stack.tg_arn)
    elb = clients("elbv2", account=PROVIDER)
    elb.modify_listener_attributes(
        ListenerArn=w.stack.listener_arn,
        Attributes=[{"Key": "tcp.idle_timeout.seconds", "Value": "1"}],
    )
    host = w.wait_listening()
    s = socket.create_connection((host, 8443), timeout=3)
    s.sendall(b"a\n")
    assert s.recv(10) == b"a\n"
    time.sleep(2.5)  # idle longer than the listener's timeout
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        s.sendall(b"b\n")
        time.sleep(0.3)
        data = s.recv(10)
        if data == b"":
            raise ConnectionResetError("closed")
        s.sendall(b"c\n")
        s.recv(10)
    s.close()
    dp = server.app.runtime.hooks["dataplane"]
    wait_for(
        lambda: sum(lst.stats.elb_resets for lst in dp.listeners.values()) >= 1,
        what="an ELB reset counted",
    )
    cw = clients("cloudwatch", account=PROVIDER)
    now = dt.datetime.now(dt.UTC)
    lb_dim = w.stack.nlb_arn.split(":loadbalancer/")[1]

    def resets():
        pts = cw.get_metric_statistics(
            Namespace="AWS/NetworkELB",
            MetricName="TCP_ELB_Reset_Count",
            Dimensions=[{"Name": "LoadBalancer", "Value": lb_dim}],
            StartTime=now - dt.timedelta(minutes=5),
            EndTime=now + dt.timedelta(minutes=2),
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(p["Sum"] for p in pts)

    wait_for(lambda: resets() >= 1, timeout=10, what="TCP_ELB_Reset_Count in CloudWatch")


def test_fail_open_and_healthy_only(server, clients, world_factory):
    w = world_factory(targets=("10.10.1.20", "10.10.1.21"))
    wait_healthy(clients, w.stack.tg_arn)
    host = w.wait_listening()
    # one of two unhealthy: every new flow goes to the healthy one
    w.targets[1].stop()
    wait_healthy(clients, w.stack.tg_arn, n=1)
    for _ in range(12):
        status, body = http_get(host, 8443)
        assert status == 200
    served_by = {json.loads(http_get(host, 8443)[1])["local"]["address"] for _ in range(8)}
    assert served_by == {w.target_host("10.10.1.20")}
    # all unhealthy: traffic still flows (fail open) to whatever is registered
    w.targets[0].stop()
    elb = clients("elbv2", account=PROVIDER)
    wait_for(
        lambda: all(
            d["TargetHealth"]["State"] == "unhealthy"
            for d in elb.describe_target_health(TargetGroupArn=w.stack.tg_arn)[
                "TargetHealthDescriptions"
            ]
        ),
        what="all unhealthy",
    )
    revived = InProcessTarget(
        w.target_host("10.10.1.21"), 8443
    )  # up again, but not yet seen healthy
    w.targets.append(revived)
    oks = 0
    for _ in range(10):
        try:
            oks += http_get(host, 8443)[0] == 200
        except OSError:
            pass
    assert oks >= 1  # flows reach the registered targets although none is healthy


def test_flow_logs_and_metrics_with_the_aws_cli(server, clients, world_factory, aws):
    w = world_factory()
    _flow_logs(clients, [e["NetworkInterfaceId"] for e in w.enis])
    wait_healthy(clients, w.stack.tg_arn)
    host = w.wait_listening()
    for _ in range(3):
        assert exchange(host, 8443, b"x" * 1000) == b"x" * 1000
    s = socket.create_connection((host, 8443))  # one flow stays open: ActiveFlowCount > 0
    try:

        def accepted():
            proc = aws.run(
                "logs",
                "filter-log-events",
                "--log-group-name",
                "/privlink/flow-logs",
                "--filter-pattern",
                "ACCEPT",
                account=CONSUMER,
                check=False,
            )
            if proc.returncode != 0:
                # the log group appears with the first delivery (the first closed window)
                assert "ResourceNotFoundException" in proc.stderr, proc.stderr
                return None
            return json.loads(proc.stdout).get("events")

        events = wait_for(accepted, timeout=15, what="ACCEPT records")
        lines = [e["message"].split() for e in events]
        assert any(
            f[4] == w.enis[0]["PrivateIpAddress"] and f[6] == "8443" and int(f[9]) >= 1000
            for f in lines
        )  # ingress
        assert any(
            f[3] == w.enis[0]["PrivateIpAddress"] and f[5] == "8443" for f in lines
        )  # egress: one record per direction
        assert {e["logStreamName"] for e in events} == {f"{w.enis[0]['NetworkInterfaceId']}-all"}
        lb_dim = w.stack.nlb_arn.split(":loadbalancer/")[1]
        start = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        end = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")

        def metric(name, stat):
            out = aws(
                "cloudwatch",
                "get-metric-statistics",
                "--namespace",
                "AWS/NetworkELB",
                "--metric-name",
                name,
                "--dimensions",
                f"Name=LoadBalancer,Value={lb_dim}",
                "--start-time",
                start,
                "--end-time",
                end,
                "--period",
                "60",
                "--statistics",
                stat,
                account=PROVIDER,
            )
            return max((p[stat] for p in out["Datapoints"]), default=0)

        assert wait_for(
            lambda: metric("ProcessedBytes", "Sum") >= 6000, timeout=15, what="ProcessedBytes"
        )
        assert wait_for(
            lambda: metric("ActiveFlowCount", "Maximum") >= 1, timeout=15, what="ActiveFlowCount"
        )
        # the provider sees how many endpoints are connected to its service
        cw = clients("cloudwatch", account=PROVIDER)

        def endpoints_count():
            pts = cw.get_metric_statistics(
                Namespace="AWS/PrivateLinkServices",
                MetricName="EndpointsCount",
                Dimensions=[{"Name": "Service Id", "Value": w.sid}],
                StartTime=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),
                EndTime=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2),
                Period=60,
                Statistics=["Maximum"],
            )["Datapoints"]
            return max((p["Maximum"] for p in pts), default=None)

        assert wait_for(lambda: endpoints_count() == 1, timeout=15, what="EndpointsCount")
        # the highest average rate over a window: at least the 6,000 bytes over one window
        assert wait_for(
            lambda: metric("PeakBytesPerSecond", "Maximum") > 0,
            timeout=15,
            what="PeakBytesPerSecond",
        )
    finally:
        s.close()


def test_short_flows_still_report_active_flow_count(server, clients, world_factory):
    """Flows that open and close between two metric ticks: the minute still has its
    ActiveFlowCount datapoint, as AWS reports it whenever traffic flows."""
    w = world_factory()
    wait_healthy(clients, w.stack.tg_arn)
    host = w.wait_listening()
    for _ in range(3):
        assert exchange(host, 8443) == b"ping\n"
    cw = clients("cloudwatch", account=PROVIDER)
    lb_dim = w.stack.nlb_arn.split(":loadbalancer/")[1]

    def datapoints():
        now = dt.datetime.now(dt.UTC)
        return cw.get_metric_statistics(
            Namespace="AWS/NetworkELB",
            MetricName="ActiveFlowCount",
            Dimensions=[{"Name": "LoadBalancer", "Value": lb_dim}],
            StartTime=now - dt.timedelta(minutes=5),
            EndTime=now + dt.timedelta(minutes=2),
            Period=60,
            Statistics=["Maximum", "SampleCount"],
        )["Datapoints"]

    points = wait_for(datapoints, timeout=10, what="ActiveFlowCount datapoints")
    assert all(p["Maximum"] >= 0 for p in points)


@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("dig") is None, reason="needs curl and dig"
)
def test_curl_by_the_private_name_through_the_vpc_resolver(server, clients, world_factory):
    """The service's verified private DNS name, resolved with dig against the consumer VPC's
    resolver (privlink dns VPC_ID), then curl to it reaches the target."""
    from .test_dns_split_horizon import dig, resolver

    name = "payments.internal.example.com"
    w = world_factory(tls=True)
    prov = clients("ec2", account=PROVIDER)
    prov.modify_vpc_endpoint_service_configuration(ServiceId=w.sid, PrivateDnsName=name)
    conf = prov.describe_vpc_endpoint_service_configurations(ServiceIds=[w.sid])[
        "ServiceConfigurations"
    ][0]["PrivateDnsNameConfiguration"]
    r53 = clients("route53", account=PROVIDER)
    zone = r53.create_hosted_zone(Name="example.com", CallerReference="pub")["HostedZone"]["Id"]
    r53.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": f"{conf['Name']}.{name}",
                        "Type": "TXT",
                        "TTL": 300,
                        "ResourceRecords": [{"Value": f'"{conf["Value"]}"'}],
                    },
                }
            ]
        },
    )
    prov.start_vpc_endpoint_service_private_dns_verification(ServiceId=w.sid)
    wait_for(
        lambda: (
            prov.describe_vpc_endpoint_service_configurations(ServiceIds=[w.sid])[
                "ServiceConfigurations"
            ][0]["PrivateDnsNameConfiguration"]["State"]
            == "verified"
        ),
        what="the private DNS name verified",
    )
    clients("ec2", account=CONSUMER).modify_vpc_endpoint(
        VpcEndpointId=w.ep["VpcEndpointId"], PrivateDnsEnabled=True
    )
    mine = resolver(server, w.cvpc)
    status, addresses = wait_for(
        lambda: (r := dig(mine, name))[1] and r, timeout=5, what="the private name resolving"
    )
    assert addresses == sorted(w.eni_host(i) for i in range(len(w.enis)))
    wait_healthy(clients, w.stack.tg_arn)
    w.wait_listening()
    out = subprocess.run(
        [
            "curl",
            "-sk",
            "--max-time",
            "10",
            "--resolve",
            f"{name}:8443:{addresses[0]}",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            f"https://{name}:8443/healthz",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.stdout == "200", out.stderr
