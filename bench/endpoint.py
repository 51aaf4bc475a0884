"""The data plane through a real privlink endpoint: a candidate for ``python -m bench``.

``start(env)`` runs ``privlink up`` in its own process and builds, through boto3 exactly as a
user would, the whole PrivateLink path:

* provider account: a VPC and subnet in use1-az1, an internal NLB, two TCP target groups
  (``ip`` targets 10.10.1.20 and 10.10.1.21, where the bench's C sink and echo servers run at
  the targets' realm addresses), two TCP listeners (9000 → sink, 9001 → echo), PROXY v2 on
  both target groups for the ``PPv2`` row, an endpoint service without acceptance;
* consumer account: a VPC and subnet in use1-az1, a security group allowing tcp 9000-9001
  from the VPC's CIDR, an interface endpoint, and flow logs on the endpoint's ENI to
  CloudWatch Logs.

It waits until both targets are healthy and the endpoint listener relays a byte, then the
load generators connect to the ENI's realm address (``127.<block>.1.x``), exactly as a client
in the consumer VPC would. The clients have no VPC address of their own (127.0.0.x), so
privlink counts them as clients in the endpoint's VPC at the subnet's default client address
(10.20.1.254): every flow is checked against the security group and feeds the flow log.
"""

from __future__ import annotations

import os
import signal
import socket
import time

from .candidates import BenchEnv, Candidate
from .plserver import CONSUMER, PROVIDER, PrivlinkServer, clients, wait_for

BULK_PORT, ECHO_PORT = 9000, 9001
SINK_IP, ECHO_IP = "10.10.1.20", "10.10.1.21"

# The data-plane bench server: simulated provisioning delays short (setup in seconds), health
# checks every second, and flow-log records aggregated per 1 s window so that the records of
# a measurement are formatted and delivered within that measurement (AWS's shortest window
# is 60 s; the work per record is the same).
DATAPLANE_SETTINGS = {
    "dns_max_qps": 0.0,
    "timing": {
        "load_balancer_provisioning": 0.1,
        "endpoint_service_pending": 0.1,
        "endpoint_pending": 0.1,
        "health_check_interval_floor": 1.0,
        "flow_log_aggregation_interval": 1.0,
    },
}


def build_path(server: PrivlinkServer, ppv2: bool, start_targets) -> dict:
    """Provider stack, service, consumer endpoint and flow logs; returns what was built.

    ``start_targets(provider_vpc_id)`` starts the target servers once the provider VPC (and
    so the targets' realm addresses) exists, and returns {target ip: port}.
    """
    ec2p, elb = clients(server.url, PROVIDER, "ec2", "elbv2")
    ec2c, logs = clients(server.url, CONSUMER, "ec2", "logs")
    pvpc = ec2p.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
    psub = ec2p.create_subnet(VpcId=pvpc, CidrBlock="10.10.1.0/24", AvailabilityZoneId="use1-az1")[
        "Subnet"
    ]["SubnetId"]
    targets = start_targets(pvpc)
    nlb = elb.create_load_balancer(
        Name="bench-nlb", Type="network", Scheme="internal", Subnets=[psub]
    )["LoadBalancers"][0]["LoadBalancerArn"]
    tgs = {}
    for ip, lport, name in ((SINK_IP, BULK_PORT, "sink"), (ECHO_IP, ECHO_PORT, "echo")):
        tg = elb.create_target_group(
            Name=f"bench-{name}",
            Protocol="TCP",
            Port=targets[ip],
            VpcId=pvpc,
            TargetType="ip",
            HealthCheckProtocol="TCP",
            HealthCheckIntervalSeconds=5,
            HealthyThresholdCount=2,
            UnhealthyThresholdCount=2,
            HealthCheckTimeoutSeconds=2,
        )["TargetGroups"][0]["TargetGroupArn"]
        elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": ip, "Port": targets[ip]}])
        if ppv2:
            elb.modify_target_group_attributes(
                TargetGroupArn=tg,
                Attributes=[{"Key": "proxy_protocol_v2.enabled", "Value": "true"}],
            )
        elb.create_listener(
            LoadBalancerArn=nlb,
            Protocol="TCP",
            Port=lport,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
        )
        tgs[name] = tg
    svc = ec2p.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[nlb], AcceptanceRequired=False
    )["ServiceConfiguration"]
    ec2p.modify_vpc_endpoint_service_permissions(
        ServiceId=svc["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"]
    )
    cvpc = ec2c.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    csub = ec2c.create_subnet(VpcId=cvpc, CidrBlock="10.20.1.0/24", AvailabilityZoneId="use1-az1")[
        "Subnet"
    ]["SubnetId"]
    sg = ec2c.create_security_group(GroupName="bench", Description="bench clients", VpcId=cvpc)[
        "GroupId"
    ]
    ec2c.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": BULK_PORT,
                "ToPort": ECHO_PORT,
                "IpRanges": [{"CidrIp": "10.20.0.0/16"}],
            }
        ],
    )

    def service_available():
        got = ec2p.describe_vpc_endpoint_service_configurations(ServiceIds=[svc["ServiceId"]])
        return got["ServiceConfigurations"][0]["ServiceState"] == "Available"

    wait_for(service_available, 30, "the endpoint service")
    ep = ec2c.create_vpc_endpoint(
        VpcId=cvpc,
        VpcEndpointType="Interface",
        ServiceName=svc["ServiceName"],
        SubnetIds=[csub],
        SecurityGroupIds=[sg],
    )["VpcEndpoint"]
    eid = ep["VpcEndpointId"]

    def available():
        e = ec2c.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]
        return e if e["State"] == "available" else None

    ep = wait_for(available, 30, "the endpoint to be available")
    eni_id = ep["NetworkInterfaceIds"][0]
    eni = ec2c.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"][0]
    ec2c.create_flow_logs(
        ResourceType="NetworkInterface",
        ResourceIds=[eni_id],
        TrafficType="ALL",
        LogGroupName="/privlink/bench",
        DeliverLogsPermissionArn=f"arn:aws:iam::{CONSUMER}:role/flow-logs",
        MaxAggregationInterval=60,
    )

    def healthy():
        for tg in tgs.values():
            d = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
            if not d or any(x["TargetHealth"]["State"] != "healthy" for x in d):
                return False
        return True

    wait_for(healthy, 60, "healthy targets", interval=0.2)
    return {
        "provider_vpc": pvpc,
        "consumer_vpc": cvpc,
        "endpoint_id": eid,
        "eni_id": eni_id,
        "eni_ip": eni["PrivateIpAddress"],
        "eni_host": server.realm_address(cvpc, eni["PrivateIpAddress"]),
        "service_id": svc["ServiceId"],
        "target_groups": tgs,
        "clients": (ec2c, logs),
    }


def echo_answers(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"x")
            s.settimeout(timeout)
            return s.recv(1) == b"x"
    except OSError:
        return False


class PrivlinkEndpoint(Candidate):
    """A real privlink endpoint (API, data plane, security group, flow logs) in one process."""

    own_targets = True  # starts its sink and echo servers at the targets' realm addresses

    def __init__(self, ppv2: bool = False, src: str | None = None):
        self.ppv2 = ppv2
        self.src = src  # privlink sources to run (default: this tree's src/), for A/B runs
        self.name = "privlink-endpoint" + ("-ppv2" if ppv2 else "")
        self.label = "privlink endpoint" + (" PPv2" if ppv2 else "")
        self.server: PrivlinkServer | None = None
        self.own_servers: list[int] = []
        self.path: dict = {}
        self.setup_seconds = 0.0

    def start(self, env: BenchEnv) -> None:
        t0 = time.time()
        self.env = env
        tag = f"{self.name}-{os.getpid()}-{int(t0 * 1000) % 10**8}"
        self.server = PrivlinkServer(env.workdir, tag, DATAPLANE_SETTINGS, src=self.src).start()
        try:
            self._build(env)
        except BaseException:
            self.stop()
            raise
        self.setup_seconds = time.time() - t0

    def _build(self, env: BenchEnv) -> None:
        server = self.server

        def start_targets(pvpc: str) -> dict:
            sink_host = server.realm_address(pvpc, SINK_IP)
            echo_host = server.realm_address(pvpc, ECHO_IP)
            (_, sink_port), sink_pid = env.start_server("sink", sink_host)
            self.own_servers.append(sink_pid)
            (_, echo_port), echo_pid = env.start_server("echo", echo_host)
            self.own_servers.append(echo_pid)
            self.echo_server_pid = echo_pid
            return {SINK_IP: sink_port, ECHO_IP: echo_port}

        self.path = build_path(server, self.ppv2, start_targets)
        host = self.path["eni_host"]
        wait_for(lambda: echo_answers(host, ECHO_PORT), 30, f"the endpoint listener {host}")
        self.bulk_addr = (host, BULK_PORT)
        self.echo_addr = (host, ECHO_PORT)

    def pids(self) -> list[int]:
        return [self.server.pid] if self.server and self.server.pid else []

    def flow_log_events(self, limit: int = 5) -> list[str]:
        """A few flow-log records written so far (for the report's sanity check)."""
        _, logs = self.path["clients"]
        got = logs.filter_log_events(logGroupName="/privlink/bench", limit=limit)
        return [e["message"] for e in got.get("events", [])]

    def evidence(self) -> str:
        """What shows that the flows went through the whole path: the flow log's size and
        one ACCEPT record (read with the Logs API)."""
        _, logs = self.path["clients"]
        group = logs.describe_log_groups(logGroupNamePrefix="/privlink/bench")["logGroups"]
        stored = group[0].get("storedBytes", 0) if group else 0
        sample = logs.filter_log_events(
            logGroupName="/privlink/bench", filterPattern="ACCEPT", limit=1
        ).get("events", [])
        line = sample[0]["message"] if sample else "no ACCEPT record"
        return f"flow log /privlink/bench holds {stored:,} bytes of records, e.g. `{line}`"

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        for pid in self.own_servers:
            procs = self.env.servers or []
            for p in list(procs):
                if p.pid == pid:
                    p.kill()
                    p.wait(5)
                    procs.remove(p)
                    break
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.own_servers = []


def endpoint() -> PrivlinkEndpoint:
    return PrivlinkEndpoint(ppv2=False)


def endpoint_ppv2() -> PrivlinkEndpoint:
    return PrivlinkEndpoint(ppv2=True)


def compare_factories(src: str) -> list:
    """Endpoint candidates running another tree's privlink (``--compare-src``)."""

    def make(ppv2: bool):
        def factory():
            c = PrivlinkEndpoint(ppv2=ppv2, src=src)
            c.name = "privlink-compare-endpoint" + ("-ppv2" if ppv2 else "")
            c.label = f"privlink endpoint{' PPv2' if ppv2 else ''} ({src})"
            return c

        return factory

    return [make(False), make(True)]
