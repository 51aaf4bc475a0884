"""A whole PrivateLink path for data-plane tests: provider NLB stack with real target
processes, a published service, and an accepted consumer endpoint."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from privlink.dataplane.target import TargetServer, server_tls_context

from .conftest import CONSUMER, PROVIDER
from .stacks import consumer_vpc, provider_stack, wait_for, wait_service


class InProcessTarget:
    """privlink's target program, served from a thread of the test (stopped at the end)."""

    def __init__(self, host: str, port: int, tls: bool = False):
        self.out = io.StringIO()
        self.server = TargetServer(
            (host, port), tls=server_tls_context(["localhost", host]) if tls else None, out=self.out
        )
        self.server.bind()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.stop()
        self.thread.join(timeout=5)


class TargetProcess:
    """``privlink target`` as its own process."""

    def __init__(self, endpoint: str, vpc: str, ip: str, port: int, *extra: str):
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "privlink",
                "target",
                "--vpc",
                vpc,
                "--ip",
                ip,
                "--port",
                str(port),
                "--endpoint-url",
                endpoint,
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.first_line = self.proc.stdout.readline()
        if self.proc.poll() is not None:
            raise AssertionError(f"privlink target failed: {self.proc.stderr.read()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class World:
    server: object
    clients: object
    stack: object
    sid: str
    service_name: str
    cvpc: str
    csubnets: list[str]
    sg: str
    ep: dict
    enis: list[dict]
    targets: list = field(default_factory=list)

    def realm(self):
        return self.server.app.runtime.hooks["realm"]

    def eni_host(self, index: int = 0) -> str:
        return self.realm().to_host(self.cvpc, self.enis[index]["PrivateIpAddress"])

    def target_host(self, vpc_ip: str) -> str:
        return self.realm().to_host(self.stack.vpc_id, vpc_ip)

    def wait_listening(self, index: int = 0, port: int = 8443, timeout: float = 10.0):
        host = self.eni_host(index)

        def up():
            try:
                socket.create_connection((host, port), timeout=0.5).close()
                return True
            except OSError:
                return False

        wait_for(up, timeout=timeout, what=f"the endpoint listener on {host}:{port}")
        return host

    def stop(self):
        for t in self.targets:
            t.stop()


def fast(settings):
    t = settings.timing
    t.load_balancer_provisioning = 0.1
    t.endpoint_service_pending = 0.1
    t.endpoint_pending = 0.1
    t.endpoint_deleting = 0.1
    t.health_check_interval_floor = 0.5
    t.flow_log_aggregation_interval = 1.0
    t.metrics_flush_interval = 0.3
    t.peak_bytes_window = 1.0
    t.idle_timeout_floor = 1.0
    return settings


def build(
    server,
    clients,
    *,
    targets=("10.10.1.20",),
    zones=("use1-az1", "use1-az2"),
    endpoint_zones=None,
    cross_zone=True,
    sg_port=8443,
    tls=False,
    proxy_v2=False,
    target_kind="inprocess",
) -> World:
    stack = provider_stack(
        clients, PROVIDER, zones=zones, cross_zone=cross_zone, targets=list(targets)
    )
    realm = server.app.runtime.hooks["realm"]
    world_targets = []
    for ip in targets:
        if target_kind == "process":
            world_targets.append(
                TargetProcess(
                    server.endpoint_url, stack.vpc_id, ip, 8443, *(["--tls"] if tls else [])
                )
            )
        else:
            world_targets.append(InProcessTarget(realm.to_host(stack.vpc_id, ip), 8443, tls=tls))
    elb = clients("elbv2", account=PROVIDER)
    if proxy_v2:
        elb.modify_target_group_attributes(
            TargetGroupArn=stack.tg_arn,
            Attributes=[{"Key": "proxy_protocol_v2.enabled", "Value": "true"}],
        )
    prov = clients("ec2", account=PROVIDER)
    cfg = prov.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[stack.nlb_arn], AcceptanceRequired=False
    )["ServiceConfiguration"]
    sid = cfg["ServiceId"]
    prov.modify_vpc_endpoint_service_permissions(
        ServiceId=sid, AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"]
    )
    wait_service(prov, sid)
    cons = clients("ec2", account=CONSUMER)
    cvpc, csubnets = consumer_vpc(clients, CONSUMER, zones=endpoint_zones or zones)
    sg = cons.create_security_group(GroupName="endpoint", Description="endpoint", VpcId=cvpc)[
        "GroupId"
    ]
    if sg_port:
        cons.authorize_security_group_ingress(
            GroupId=sg,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": sg_port,
                    "ToPort": sg_port,
                    "IpRanges": [{"CidrIp": "10.10.0.0/16"}],
                }
            ],
        )
    ep = cons.create_vpc_endpoint(
        VpcId=cvpc,
        VpcEndpointType="Interface",
        ServiceName=cfg["ServiceName"],
        SubnetIds=csubnets,
        SecurityGroupIds=[sg],
    )["VpcEndpoint"]
    wait_for(
        lambda: (
            cons.describe_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"]])["VpcEndpoints"][0][
                "State"
            ]
            == "available"
        )
    )
    ep = cons.describe_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"]])["VpcEndpoints"][0]
    enis = cons.describe_network_interfaces(NetworkInterfaceIds=ep["NetworkInterfaceIds"])[
        "NetworkInterfaces"
    ]
    enis.sort(key=lambda e: csubnets.index(e["SubnetId"]))
    return World(
        server, clients, stack, sid, cfg["ServiceName"], cvpc, csubnets, sg, ep, enis, world_targets
    )


def wait_healthy(clients, tg_arn, n=None, timeout=20.0):
    elb = clients("elbv2", account=PROVIDER)

    def ok():
        d = elb.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
        healthy = [x for x in d if x["TargetHealth"]["State"] == "healthy"]
        return len(healthy) == (n if n is not None else len(d)) and d

    return wait_for(ok, timeout=timeout, what="healthy targets")


def exchange(host: str, port: int, payload: bytes = b"ping\n", timeout: float = 3.0) -> bytes:
    """Connect, send, read what comes back (the target echoes non-HTTP bytes)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(payload)
        s.settimeout(timeout)
        data = b""
        deadline = time.time() + timeout
        while len(data) < len(payload) and time.time() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def http_get(
    host: str, port: int, path: str = "/healthz", source: str | None = None, timeout: float = 5.0
) -> tuple[int, bytes]:
    s = socket.socket()
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect((host, port))
    with s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body
