"""The data plane follows the store: listeners come and go with the NLB listener and the
endpoint and are rebuilt after a restart; deregistered targets keep their flows for the
deregistration delay; unhealthy targets get no new flows (existing ones: per the target
group's connection-termination attribute); security-group rules that reference a group."""

from __future__ import annotations

import json
import socket
import time

import pytest

from privlink.config import Settings
from privlink.testing import EmbeddedPrivlink

from .conftest import CONSUMER, PROVIDER, Clients
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


def _serves(host, port=8443) -> bool:
    try:
        return exchange(host, port, timeout=1.0) == b"ping\n"
    except OSError:
        return False


def _refused(host, port=8443) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return False
    except ConnectionRefusedError:
        return True


def _echoes(s: socket.socket, payload: bytes) -> bool:
    s.sendall(payload)
    return s.recv(100) == payload


def _is_reset(s: socket.socket, timeout: float = 5.0) -> bool:
    """The connection has been closed under the client (RST or FIN), within ``timeout``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            s.sendall(b"x")
            s.settimeout(0.3)
            if s.recv(10) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


def test_listeners_follow_the_nlb_listener_and_the_endpoint(server, clients, world_factory):
    w = world_factory()
    wait_healthy(clients, w.stack.tg_arn)
    host = w.wait_listening()
    elb = clients("elbv2", account=PROVIDER)
    elb.delete_listener(ListenerArn=w.stack.listener_arn)
    wait_for(lambda: _refused(host), timeout=3, what="the listener gone with the NLB listener")
    elb.create_listener(
        LoadBalancerArn=w.stack.nlb_arn,
        Protocol="TCP",
        Port=8443,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": w.stack.tg_arn}],
    )
    wait_for(lambda: _serves(host), timeout=3, what="the listener back with the NLB listener")
    clients("ec2", account=CONSUMER).delete_vpc_endpoints(VpcEndpointIds=[w.ep["VpcEndpointId"]])
    wait_for(lambda: _refused(host), timeout=3, what="the listener gone with the endpoint")


def test_listeners_are_rebuilt_after_a_restart(tmp_path):
    def settings():
        return fast(Settings(state_dir=str(tmp_path), port=0, dns_port=0))

    with EmbeddedPrivlink(settings()) as pl:
        clients = Clients(pl.endpoint_url)
        w = build(pl, clients)
        try:
            wait_healthy(clients, w.stack.tg_arn)
            host = w.wait_listening()
            assert _serves(host)
        except BaseException:
            w.stop()
            raise
    assert _refused(host)
    try:
        with EmbeddedPrivlink(settings()) as pl:
            wait_for(lambda: _serves(host), timeout=5, what="the endpoint served after a restart")
            assert pl.app.runtime.hooks["dataplane"].listeners
    finally:
        w.stop()


def test_deregistered_target_keeps_its_flows_for_the_delay(server, clients, world_factory):
    w = world_factory(targets=("10.10.1.20",))
    elb = clients("elbv2", account=PROVIDER)
    elb.modify_target_group_attributes(
        TargetGroupArn=w.stack.tg_arn,
        Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "2"},
            {"Key": "deregistration_delay.connection_termination.enabled", "Value": "true"},
        ],
    )
    wait_healthy(clients, w.stack.tg_arn)
    host = w.wait_listening()
    old = socket.create_connection((host, 8443), timeout=3)
    try:
        assert _echoes(old, b"old\n")  # a flow to 10.10.1.20
        w.targets.append(InProcessTarget(w.target_host("10.10.1.21"), 8443))
        elb.register_targets(
            TargetGroupArn=w.stack.tg_arn, Targets=[{"Id": "10.10.1.21", "Port": 8443}]
        )
        wait_healthy(clients, w.stack.tg_arn, n=2)
        elb.deregister_targets(
            TargetGroupArn=w.stack.tg_arn, Targets=[{"Id": "10.10.1.20", "Port": 8443}]
        )
        deregistered = time.time()
        # new flows avoid the draining target ...
        for _ in range(6):
            info = json.loads(http_get(host, 8443)[1])
            assert info["local"]["address"] == w.target_host("10.10.1.21")
        # ... while its existing flow keeps going for the delay
        assert _echoes(old, b"still\n")
        assert time.time() - deregistered < 2
        # then it is closed (connection termination on)
        assert _is_reset(old, timeout=5)
        assert time.time() - deregistered >= 1.5
    finally:
        old.close()


@pytest.mark.parametrize("existing", ["terminated", "kept", "drained"])
def test_unhealthy_target_gets_no_new_flows(server, clients, world_factory, existing):
    w = world_factory(targets=("10.10.1.20", "10.10.1.21"))
    elb = clients("elbv2", account=PROVIDER)
    elb.modify_target_group_attributes(
        TargetGroupArn=w.stack.tg_arn,
        Attributes=[
            {
                "Key": "target_health_state.unhealthy.connection_termination.enabled",
                "Value": str(existing == "terminated").lower(),
            },
            {
                "Key": "target_health_state.unhealthy.draining_interval_seconds",
                "Value": "2" if existing == "drained" else "0",
            },
            {"Key": "stickiness.enabled", "Value": "true"},  # one client, one target
        ],
    )
    wait_healthy(clients, w.stack.tg_arn)
    host = w.wait_listening()
    served = json.loads(http_get(host, 8443)[1])["local"]["address"]
    doomed = next(
        i for i, ip in enumerate(("10.10.1.20", "10.10.1.21")) if w.target_host(ip) == served
    )
    flow = socket.create_connection((host, 8443), timeout=3)  # sticky: to the same target
    try:
        assert _echoes(flow, b"before\n")
        w.targets[doomed].stop()  # stops accepting: health checks fail, its flows go on
        wait_healthy(clients, w.stack.tg_arn, n=1)
        other = w.target_host(("10.10.1.20", "10.10.1.21")[1 - doomed])
        for _ in range(4):
            assert json.loads(http_get(host, 8443)[1])["local"]["address"] == other
        if existing == "terminated":  # AWS's default: the unhealthy target's flows are reset
            assert _is_reset(flow, timeout=3)
        else:
            assert _echoes(flow, b"after\n")
        if existing == "drained":  # ... or once the unhealthy draining interval is over

            def doomed_state():
                return next(
                    d["TargetHealth"]["State"]
                    for d in elb.describe_target_health(TargetGroupArn=w.stack.tg_arn)[
                        "TargetHealthDescriptions"
                    ]
                    if w.target_host(d["Target"]["Id"]) == served
                )

            assert doomed_state() == "unhealthy.draining"
            assert _is_reset(flow, timeout=5)
            assert doomed_state() == "unhealthy"
        elif existing == "kept":
            time.sleep(2.5)
            assert _echoes(flow, b"later\n")
    finally:
        flow.close()


def test_security_group_rule_referencing_a_group(server, clients, world_factory):
    """A rule naming a security group admits clients whose ENI carries that group."""
    w = world_factory(sg_port=None)
    wait_healthy(clients, w.stack.tg_arn)
    ec2 = clients("ec2", account=CONSUMER)
    app_sg = ec2.create_security_group(GroupName="app", Description="app", VpcId=w.cvpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=w.sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 8443,
                "ToPort": 8443,
                "UserIdGroupPairs": [{"GroupId": app_sg}],
            }
        ],
    )
    member = ec2.create_network_interface(
        SubnetId=w.csubnets[0], PrivateIpAddress="10.10.1.80", Groups=[app_sg]
    )["NetworkInterface"]
    ec2.create_network_interface(SubnetId=w.csubnets[0], PrivateIpAddress="10.10.1.81")
    host = w.eni_host(0)
    wait_for(lambda: server.app.runtime.hooks["dataplane"].listeners, what="listeners")
    realm = w.realm()
    # a client at the address of an ENI in the referenced group: served
    status, _ = http_get(host, 8443, source=realm.to_host(w.cvpc, member["PrivateIpAddress"]))
    assert status == 200
    # a client at an ENI outside the group, and one at no ENI at all: held, no bytes
    for ip in ("10.10.1.81", "10.10.1.82"):
        s = socket.socket()
        s.bind((realm.to_host(w.cvpc, ip), 0))
        s.connect((host, 8443))
        s.sendall(b"ping\n")
        s.settimeout(1.0)
        with pytest.raises(TimeoutError):
            s.recv(10)
        s.close()


def test_a_client_of_another_vpc_has_no_route(server, clients, world_factory):
    """The provider's VPC uses the same CIDR as the consumer's (10.10.0.0/16, which the
    endpoint's security group allows): its client still has no route to the endpoint ENI."""
    w = world_factory()
    wait_healthy(clients, w.stack.tg_arn)
    host = w.wait_listening()
    realm = w.realm()
    assert http_get(host, 8443, source=realm.to_host(w.cvpc, "10.10.1.77"))[0] == 200
    s = socket.socket()
    s.bind((realm.to_host(w.stack.vpc_id, "10.10.1.77"), 0))
    s.connect((host, 8443))
    s.sendall(b"ping\n")
    s.settimeout(1.0)
    with pytest.raises(TimeoutError):
        s.recv(10)
    s.close()
