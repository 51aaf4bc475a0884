"""Health checks: the probe functions on their own, then the live checker against real
TCP/HTTP/HTTPS targets (matcher, PROXY v2 LOCAL header, prompt stop), the routing view the
data plane reads, and a thousand probed targets next to a responsive API."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time

import pytest

from privlink.health.probes import (
    ProbeSpec,
    http_result,
    matcher_accepts,
    parse_status_line,
    probe,
    proxy_v2_local_header,
)
from privlink.state.elbv2 import TargetGroup, TargetHealth
from privlink.state.elbv2_health import routable_targets

from .elbv2_util import (
    PROXY_V2_SIGNATURE,
    TargetServer,
    free_port_on,
    provider_network,
    realm_address,
    self_signed,
    wait_for,
)

# -- pure parts


def test_proxy_v2_local_header_bytes():
    header = proxy_v2_local_header()
    assert len(header) == 16
    assert header[:12] == PROXY_V2_SIGNATURE
    assert header[12] == 0x20  # version 2, command LOCAL
    assert header[13] == 0x00  # AF_UNSPEC, UNSPEC
    assert header[14:16] == b"\x00\x00"  # nothing follows


@pytest.mark.parametrize(
    "matcher,status,ok",
    [
        ("200", 200, True),
        ("200", 201, False),
        ("200,202", 202, True),
        ("200-399", 302, True),
        ("200-399", 404, False),
        ("200-299,404", 404, True),
    ],
)
def test_matcher(matcher, status, ok):
    assert matcher_accepts(matcher, status) is ok


def test_status_line_and_result():
    assert parse_status_line(b"HTTP/1.1 204 No Content\r\n") == 204
    assert parse_status_line(b"SSH-2.0-OpenSSH\r\n") is None
    assert http_result(b"HTTP/1.0 200 OK\r\n", "200-399").ok
    mismatch = http_result(b"HTTP/1.1 503 Busy\r\n", "200-399")
    assert (mismatch.reason, mismatch.description) == (
        "Target.ResponseCodeMismatch",
        "Health checks failed with these codes: [503]",
    )
    assert http_result(b"garbage\r\n", "200").reason == "Target.FailedHealthChecks"


# -- one probe against real sockets on loopback


def run(spec: ProbeSpec):
    return asyncio.run(probe(spec))


def test_probe_tcp_http_https_and_failures(tmp_path):
    host = "127.0.0.1"
    tcp = TargetServer(host, 0)
    http = TargetServer(host, 0, mode="http", status=404)
    https = TargetServer(host, 0, mode="http", status=200, tls=self_signed(tmp_path))
    pp2 = TargetServer(host, 0, mode="http", status=200, expect_proxy=True)
    silent = socket.socket()
    silent.bind((host, 0))
    silent.listen(8)  # accepts into the backlog, never answers
    try:
        assert run(ProbeSpec(host, tcp.port, "TCP", 2)).ok
        r = run(ProbeSpec(host, http.port, "HTTP", 2, path="/healthz", matcher="200"))
        assert r.reason == "Target.ResponseCodeMismatch"
        assert http.requests[-1].startswith(b"GET /healthz HTTP/1.1\r\n")
        assert run(ProbeSpec(host, https.port, "HTTPS", 3, matcher="200")).ok
        assert run(ProbeSpec(host, pp2.port, "HTTP", 2, matcher="200", proxy_v2=True)).ok
        assert pp2.proxy_headers == [proxy_v2_local_header()]
        refused = free_port_on(host)
        assert run(ProbeSpec(host, refused, "TCP", 2)).reason == "Target.FailedHealthChecks"
        started = time.monotonic()
        timed_out = run(ProbeSpec(host, silent.getsockname()[1], "HTTP", 0.5))
        assert timed_out.reason == "Target.Timeout" and time.monotonic() - started < 2
        # never a non-loopback address
        assert run(ProbeSpec("10.20.1.20", 80, "TCP", 1)).reason == "Target.FailedHealthChecks"
    finally:
        for s in (tcp, http, https, pp2):
            s.stop()
        silent.close()


# -- the live checker


@pytest.fixture
def settings(settings):
    settings.timing.load_balancer_provisioning = 0.1
    settings.timing.health_check_interval_floor = 0.5  # a 5 s interval lasts 0.5 s
    settings.timing.health_metrics_period = 0.2
    settings.timing.metrics_flush_interval = 0.2
    return settings


def _host_counts(clients, lb_arn, tg_arn):
    """(max HealthyHostCount, max UnHealthyHostCount) CloudWatch has for the TG this minute."""
    import datetime as dt

    cw = clients("cloudwatch")
    now = dt.datetime.now(dt.UTC)
    dims = [
        {"Name": "TargetGroup", "Value": tg_arn.split(":", 5)[5]},
        {"Name": "LoadBalancer", "Value": lb_arn.split(":loadbalancer/")[1]},
    ]
    out = []
    for name in ("HealthyHostCount", "UnHealthyHostCount"):
        points = cw.get_metric_statistics(
            Namespace="AWS/NetworkELB",
            MetricName=name,
            Dimensions=dims,
            StartTime=now - dt.timedelta(minutes=5),
            EndTime=now + dt.timedelta(minutes=1),
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        out.append(max((p["Maximum"] for p in points), default=None))
    return tuple(out)


def _state(elb, tg, target_id=None):
    out = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    if target_id:
        out = [h for h in out if h["Target"]["Id"] == target_id]
    return out[0]["TargetHealth"] if out else None


def _setup(server, clients, **tg_kw):
    ec2, elb = clients("ec2"), clients("elbv2")
    net = provider_network(ec2)
    lb = elb.create_load_balancer(
        Name="nlb", Type="network", Scheme="internal", Subnets=[net["a"], net["b"]]
    )
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    tg_kw.setdefault("HealthCheckIntervalSeconds", 5)
    tg_kw.setdefault("HealthyThresholdCount", 2)
    tg_kw.setdefault("UnhealthyThresholdCount", 2)
    tg = elb.create_target_group(
        Name="tg", Protocol="TCP", Port=8443, VpcId=net["vpc"], TargetType="ip", **tg_kw
    )
    tg_arn = tg["TargetGroups"][0]["TargetGroupArn"]
    elb.get_waiter("load_balancer_available").wait(
        LoadBalancerArns=[lb_arn], WaiterConfig={"Delay": 0.2}
    )
    return elb, net, lb_arn, tg_arn


def test_http_health_check_matcher_proxy_v2_and_prompt_stop(server, clients):
    elb, net, lb_arn, tg_arn = _setup(
        server,
        clients,
        HealthCheckProtocol="HTTP",
        HealthCheckPath="/healthz",
        Matcher={"HttpCode": "200"},
    )
    elb.modify_target_group_attributes(
        TargetGroupArn=tg_arn, Attributes=[{"Key": "proxy_protocol_v2.enabled", "Value": "true"}]
    )
    host = realm_address(server, net["vpc"], "10.20.2.40")
    target = TargetServer(host, free_port_on(host), mode="http", status=404, expect_proxy=True)
    try:
        elb.register_targets(
            TargetGroupArn=tg_arn, Targets=[{"Id": "10.20.2.40", "Port": target.port}]
        )
        listener = elb.create_listener(
            LoadBalancerArn=lb_arn,
            Protocol="TCP",
            Port=8443,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
        )["Listeners"][0]["ListenerArn"]
        unhealthy = wait_for(lambda: (h := _state(elb, tg_arn)) and h["State"] == "unhealthy" and h)
        assert unhealthy == {
            "State": "unhealthy",
            "Reason": "Target.ResponseCodeMismatch",
            "Description": "Health checks failed with these codes: [404]",
        }
        # every health-check connection began with the PROXY v2 LOCAL header
        assert target.proxy_headers and set(target.proxy_headers) == {proxy_v2_local_header()}
        request = target.requests[-1].decode()
        node_ip = {
            z["ZoneName"]: z["LoadBalancerAddresses"][0]["PrivateIPv4Address"]
            for z in elb.describe_load_balancers()["LoadBalancers"][0]["AvailabilityZones"]
        }["us-east-1b"]
        assert (
            request.startswith("GET /healthz HTTP/1.1\r\n") and f"Host: {node_ip}:8443" in request
        )
        target.status = 200
        wait_for(lambda: _state(elb, tg_arn) == {"State": "healthy"})
        # CloudWatch has HealthyHostCount / UnHealthyHostCount for the TG and LB
        wait_for(lambda: _host_counts(clients, lb_arn, tg_arn) == (1, 1))

        # the routing view the data plane reads
        store = server.app.store
        tg = server.call(store.get, TargetGroup, tg_arn)
        routable = server.call(routable_targets, store, tg, "use1-az1")
        assert [t.id for t in routable] in (["10.20.2.40"], [])  # zone depends on the AZ map

        # deleting the listener stops probing at once and drops the observation
        checker = server.app.runtime.hooks["health_checker"]
        elb.delete_listener(ListenerArn=listener)
        wait_for(lambda: not checker.tracked, timeout=5)
        count = target.connections
        time.sleep(1.2)
        assert target.connections == count
        wait_for(lambda: server.call(store.count, TargetHealth) == 0, timeout=5)
        assert _state(elb, tg_arn)["Reason"] == "Target.NotInUse"
    finally:
        target.stop()


def test_cross_zone_routing_view_and_fail_open(server, clients):
    elb, net, lb_arn, tg_arn = _setup(server, clients)
    hosts = {ip: realm_address(server, net["vpc"], ip) for ip in ("10.20.1.50", "10.20.2.50")}
    port = free_port_on(hosts["10.20.1.50"])
    up = TargetServer(hosts["10.20.1.50"], port)
    try:
        elb.register_targets(
            TargetGroupArn=tg_arn, Targets=[{"Id": ip, "Port": port} for ip in hosts]
        )
        elb.create_listener(
            LoadBalancerArn=lb_arn,
            Protocol="TCP",
            Port=8443,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
        )
        wait_for(lambda: _state(elb, tg_arn, "10.20.1.50") == {"State": "healthy"})
        wait_for(lambda: _state(elb, tg_arn, "10.20.2.50")["State"] == "unhealthy")
        store = server.app.store
        lb = elb.describe_load_balancers()["LoadBalancers"][0]
        zone_ids = {
            s["AvailabilityZone"]: s["AvailabilityZoneId"]
            for s in clients("ec2").describe_subnets()["Subnets"]
        }
        az_a, az_b = zone_ids["us-east-1a"], zone_ids["us-east-1b"]
        assert {z["ZoneName"] for z in lb["AvailabilityZones"]} == {"us-east-1a", "us-east-1b"}

        def routes(zone):
            tg = server.call(store.get, TargetGroup, tg_arn)
            return [t.id for t in server.call(routable_targets, store, tg, zone)]

        assert routes(az_a) == ["10.20.1.50"]
        assert routes(az_b) == []  # cross-zone off: zone b has no healthy target
        elb.modify_load_balancer_attributes(
            LoadBalancerArn=lb_arn,
            Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}],
        )
        assert routes(az_b) == ["10.20.1.50"]
        up.stop()
        wait_for(lambda: _state(elb, tg_arn, "10.20.1.50")["State"] == "unhealthy")
        assert sorted(routes(az_b)) == ["10.20.1.50", "10.20.2.50"]  # all unhealthy: fail open
    finally:
        up.server_close()


def test_a_thousand_targets_keep_the_api_responsive(server, clients):
    ec2, elb = clients("ec2"), clients("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.0.0/20", AvailabilityZone="us-east-1a")
    sid = subnet["Subnet"]["SubnetId"]
    lb_arn = elb.create_load_balancer(Name="big", Type="network", Scheme="internal", Subnets=[sid])[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    tg_arn = elb.create_target_group(
        Name="big",
        Protocol="TCP",
        Port=8443,
        VpcId=vpc,
        TargetType="ip",
        HealthCheckIntervalSeconds=5,
        HealthyThresholdCount=2,
        UnhealthyThresholdCount=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    ips = [f"10.40.{1 + i // 250}.{1 + i % 250}" for i in range(1000)]
    live_ip = ips[0]
    host = realm_address(server, vpc, live_ip)
    port = free_port_on(host)
    live = TargetServer(host, port)
    try:
        for i in range(0, 1000, 250):
            elb.register_targets(
                TargetGroupArn=tg_arn, Targets=[{"Id": ip, "Port": port} for ip in ips[i : i + 250]]
            )
        elb.get_waiter("load_balancer_available").wait(
            LoadBalancerArns=[lb_arn], WaiterConfig={"Delay": 0.2}
        )

        def latencies(n=40):
            out = []
            for _ in range(n):
                t0 = time.perf_counter()
                elb.describe_load_balancers(LoadBalancerArns=[lb_arn])
                out.append(time.perf_counter() - t0)
            return out

        idle = latencies()
        elb.create_listener(
            LoadBalancerArn=lb_arn,
            Protocol="TCP",
            Port=8443,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
        )
        checker = server.app.runtime.hooks["health_checker"]
        wait_for(lambda: len(checker.tracked) == 1000, timeout=10)
        time.sleep(0.5)
        busy = latencies()
        started = checker.probes_run
        time.sleep(1.0)
        rate = checker.probes_run - started
        health_calls = []
        for _ in range(5):
            t0 = time.perf_counter()
            described = elb.describe_target_health(TargetGroupArn=tg_arn)[
                "TargetHealthDescriptions"
            ]
            health_calls.append(time.perf_counter() - t0)
        print(
            f"\nDescribeLoadBalancers median/p95: idle {statistics.median(idle) * 1000:.1f}/"
            f"{sorted(idle)[int(len(idle) * 0.95)] * 1000:.1f} ms, while probing 1000 targets "
            f"{statistics.median(busy) * 1000:.1f}/{sorted(busy)[int(len(busy) * 0.95)] * 1000:.1f} ms; "
            f"{rate} probes/s; DescribeTargetHealth(1000) median {statistics.median(health_calls) * 1000:.1f} ms"
        )
        assert len(described) == 1000
        # every target is probed, again and again (about every 0.5 s on an idle machine)
        wait_for(lambda: all(tr.probes >= 2 for tr in list(checker.tracked.values())), timeout=15)
        states = wait_for(
            lambda: (
                (
                    s := {
                        h["Target"]["Id"]: h["TargetHealth"]["State"]
                        for h in elb.describe_target_health(TargetGroupArn=tg_arn)[
                            "TargetHealthDescriptions"
                        ]
                    }
                )
                and s[live_ip] == "healthy"
                and sum(v == "unhealthy" for v in s.values()) == 999
                and s
            ),
            timeout=20,
        )
        assert states[live_ip] == "healthy"
    finally:
        live.stop()
    elb.delete_load_balancer(LoadBalancerArn=lb_arn)
    wait_for(lambda: not checker.tracked, timeout=5)
