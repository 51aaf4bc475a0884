"""Control plane: privlink against a moto server, the same boto3 client code against both.

Each repetition starts both servers afresh (alternating which goes first), builds the same
account with the same calls — a provider VPC, subnet, internal NLB, TCP target group with one
``ip`` target, listener, endpoint service without acceptance, a consumer VPC with a /20
subnet and a security group, all in one account (111111111111) — and then measures, with one
boto3 client, calls one after the other:

* ``CreateVpcEndpoint`` (Interface, one subnet, one security group): the rate while the
  account grows from 1 to 50 endpoints and from 50 to 500;
* ``DescribeVpcEndpoints`` with 1, 50 and 500 endpoints in the account, once every endpoint
  is ``available`` and the server idle again (the describe figures measure the account's
  size, not the background work of the creation: privlink's data plane opening listeners
  and DNS adding names), two ways:
  *by id* (``VpcEndpointIds=[the first endpoint]``: one endpoint described, the account's
  size is what varies) and *whole list* (every endpoint of the account; privlink pages with
  ``MaxResults=100`` and ``NextToken``, moto ignores ``MaxResults`` and answers all in one
  page; the figure is complete listings per second);
* ``DescribeTargetHealth`` of the one-target group, with 1 and 500 endpoints in the account;
* privlink only: the time from ``AcceptVpcEndpointConnections`` returning to the first byte
  echoed through the endpoint (a second service with acceptance required whose target is a
  C echo server at the target's realm address; the client polls the ENI's realm address).
  moto accepts no traffic (and has no AcceptVpcEndpointConnections): "n/a".

Each timed loop runs for a fixed time (bounded in count too) after one warm-up call. The
server's CPU time per call (``/proc/PID/stat``) is reported with each rate.

privlink runs with its default timings (an accepted endpoint is ``pending`` for
``timing.endpoint_pending`` = 1 s before ``available``, standing in for AWS's minutes) and
one quota raised: ``interface_endpoints_per_vpc`` (default 50, as AWS) to 1,000.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

from .candidates import free_port, stop_processes
from .plserver import PrivlinkServer, clients, wait_for

ACCOUNT = "111111111111"
SIZES = (1, 50, 500)
CONTROL_SETTINGS = {"quotas": {"interface_endpoints_per_vpc": 1000}}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def moto_installed() -> bool:
    """moto with its server extra (``moto[server]``: Flask and flask-cors)."""
    return all(importlib.util.find_spec(m) is not None for m in ("moto", "flask", "flask_cors"))


class MotoServer:
    name = "moto"

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.proc = None
        self.url = ""

    def start(self, timeout: float = 60.0):
        port = free_port()
        log = os.path.join(self.workdir, "moto.log")
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.url + "/moto-api/", timeout=2):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto server did not start")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def version(self) -> str:
        try:
            from importlib.metadata import version

            return f"moto {version('moto')}"
        except Exception:
            return "moto"

    def stop(self) -> None:
        if self.proc:
            stop_processes([self.proc])


class PrivlinkBackend:
    def __init__(self, workdir: str, rep: int, src: str | None = None, name: str = "privlink"):
        self.name = name
        self.server = PrivlinkServer(workdir, f"{name}-{rep}", CONTROL_SETTINGS, src=src)

    def start(self):
        self.server.start()
        self.url = self.server.url
        return self

    @property
    def pid(self) -> int:
        return self.server.pid

    def stop(self) -> None:
        self.server.stop()


def timed(pid: int, fn, seconds: float, max_calls: int = 100_000) -> dict:
    """Call fn() repeatedly for ``seconds`` (after one warm-up call): calls/s, server CPU."""
    fn()
    c0 = cpu_seconds(pid)
    k0 = time.process_time()
    t0 = time.perf_counter()
    n = 0
    deadline = t0 + seconds
    while n < max_calls:
        fn()
        n += 1
        if time.perf_counter() >= deadline:
            break
    dt = time.perf_counter() - t0
    return {
        "rate": n / dt,
        "cpu_ms": (cpu_seconds(pid) - c0) / n * 1000,  # the server's
        "client_ms": (time.process_time() - k0) / n * 1000,  # the boto3 client's
        "calls": n,
    }


def setup(ec2, elb, az: dict) -> dict:
    """The provider stack and the consumer VPC (same calls on both backends)."""
    pvpc = ec2.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
    psub = ec2.create_subnet(VpcId=pvpc, CidrBlock="10.10.1.0/24", **az)["Subnet"]["SubnetId"]
    nlb = elb.create_load_balancer(
        Name="cp-nlb", Type="network", Scheme="internal", Subnets=[psub]
    )["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(
        Name="cp-tg",
        Protocol="TCP",
        Port=8443,
        VpcId=pvpc,
        TargetType="ip",
        HealthCheckProtocol="TCP",
    )["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "10.10.1.20"}])
    elb.create_listener(
        LoadBalancerArn=nlb,
        Protocol="TCP",
        Port=8443,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )
    svc = ec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[nlb], AcceptanceRequired=False
    )["ServiceConfiguration"]

    def available():
        got = ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[svc["ServiceId"]])
        return got["ServiceConfigurations"][0].get("ServiceState") == "Available"

    wait_for(available, 30, "the endpoint service")
    cvpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    csub = ec2.create_subnet(VpcId=cvpc, CidrBlock="10.20.0.0/20", **az)["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="cp", Description="cp", VpcId=cvpc)["GroupId"]
    return {
        "pvpc": pvpc,
        "psub": psub,
        "nlb": nlb,
        "tg": tg,
        "service_name": svc["ServiceName"],
        "cvpc": cvpc,
        "csub": csub,
        "sg": sg,
    }


def settle(ec2, pid: int, paged: bool, timeout: float = 60.0) -> float:
    """Wait until every endpoint of the account is ``available`` and the server is idle
    (< 5 % of a core over 0.3 s: the data plane and DNS have caught up with the new
    endpoints), so that the describe figures measure the account's size, not the work the
    creation left behind. Returns the seconds waited."""
    t0 = time.perf_counter()
    deadline = t0 + timeout

    def states() -> list[str]:
        out, token = [], None
        for _ in range(100):
            kw = {"MaxResults": 100} if paged else {}
            if token:
                kw["NextToken"] = token
            got = ec2.describe_vpc_endpoints(**kw)
            out += [e["State"] for e in got["VpcEndpoints"]]
            token = got.get("NextToken")
            if not token:
                break
        return out

    while time.perf_counter() < deadline and any(st != "available" for st in states()):
        time.sleep(0.2)
    while time.perf_counter() < deadline:
        c0 = cpu_seconds(pid)
        time.sleep(0.3)
        if cpu_seconds(pid) - c0 < 0.015:
            break
    return time.perf_counter() - t0


def list_all(ec2, paged: bool) -> int:
    if not paged:
        return len(ec2.describe_vpc_endpoints()["VpcEndpoints"])
    n, token = 0, None
    for _ in range(100):  # bounded: 100 pages of 100
        kw = {"MaxResults": 100}
        if token:
            kw["NextToken"] = token
        got = ec2.describe_vpc_endpoints(**kw)
        n += len(got["VpcEndpoints"])
        token = got.get("NextToken")
        if not token:
            break
    return n


def accept_to_first_byte(backend, ec2, elb, loadgen_env, stack: dict) -> float:
    """privlink: ms from AcceptVpcEndpointConnections returning to the first echoed byte."""
    server = backend.server
    addr_host = server.realm_address(stack["pvpc"], "10.10.1.30")
    (_, port), pid = loadgen_env.start_server("echo", addr_host)
    try:
        tg = elb.create_target_group(
            Name="cp-accept-tg",
            Protocol="TCP",
            Port=port,
            VpcId=stack["pvpc"],
            TargetType="ip",
            HealthCheckProtocol="TCP",
            HealthCheckIntervalSeconds=5,
            HealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]
        elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "10.10.1.30", "Port": port}])
        nlb = elb.create_load_balancer(
            Name="cp-accept-nlb", Type="network", Scheme="internal", Subnets=[stack["psub"]]
        )["LoadBalancers"][0]["LoadBalancerArn"]
        elb.create_listener(
            LoadBalancerArn=nlb,
            Protocol="TCP",
            Port=9100,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
        )
        svc = ec2.create_vpc_endpoint_service_configuration(
            NetworkLoadBalancerArns=[nlb], AcceptanceRequired=True
        )["ServiceConfiguration"]
        sid = svc["ServiceId"]
        wait_for(
            lambda: (
                ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[sid])[
                    "ServiceConfigurations"
                ][0]["ServiceState"]
                == "Available"
            ),
            30,
            "the second endpoint service",
        )
        ec2.authorize_security_group_ingress(
            GroupId=stack["sg"],
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 9100,
                    "ToPort": 9100,
                    "IpRanges": [{"CidrIp": "10.20.0.0/16"}],
                }
            ],
        )
        ep = ec2.create_vpc_endpoint(
            VpcId=stack["cvpc"],
            VpcEndpointType="Interface",
            ServiceName=svc["ServiceName"],
            SubnetIds=[stack["csub"]],
            SecurityGroupIds=[stack["sg"]],
        )["VpcEndpoint"]
        eid = ep["VpcEndpointId"]
        wait_for(
            lambda: (
                ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]["State"]
                == "pendingAcceptance"
            ),
            30,
            "pendingAcceptance",
        )
        eni = ec2.describe_network_interfaces(NetworkInterfaceIds=ep["NetworkInterfaceIds"])[
            "NetworkInterfaces"
        ][0]
        host = server.realm_address(stack["cvpc"], eni["PrivateIpAddress"])

        def healthy():
            d = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
            return d and all(x["TargetHealth"]["State"] == "healthy" for x in d)

        wait_for(healthy, 60, "a healthy target", interval=0.2)
        ec2.accept_vpc_endpoint_connections(ServiceId=sid, VpcEndpointIds=[eid])
        t0 = time.perf_counter()
        deadline = t0 + 60
        while time.perf_counter() < deadline:
            try:
                with socket.create_connection((host, 9100), timeout=2) as s:
                    s.sendall(b"x")
                    s.settimeout(2)
                    if s.recv(1) == b"x":
                        return (time.perf_counter() - t0) * 1000
            except OSError:
                pass
            time.sleep(0.001)
        raise RuntimeError("no byte through the accepted endpoint within 60 s")
    finally:
        for p in list(loadgen_env.servers or []):
            if p.pid == pid:
                p.kill()
                p.wait(5)
                loadgen_env.servers.remove(p)


def one_backend(backend, seconds: float, sizes, loadgen_env, log) -> dict:
    backend.start()
    try:
        ec2, elb = clients(backend.url, ACCOUNT, "ec2", "elbv2")
        is_privlink = isinstance(backend, PrivlinkBackend)
        az = (
            {"AvailabilityZoneId": "use1-az1"}
            if is_privlink
            else {"AvailabilityZone": "us-east-1a"}
        )
        stack = setup(ec2, elb, az)
        pid = backend.pid
        ids: list[str] = []
        out: dict = {}

        def create():
            ep = ec2.create_vpc_endpoint(
                VpcId=stack["cvpc"],
                VpcEndpointType="Interface",
                ServiceName=stack["service_name"],
                SubnetIds=[stack["csub"]],
                SecurityGroupIds=[stack["sg"]],
            )["VpcEndpoint"]
            ids.append(ep["VpcEndpointId"])

        paged = is_privlink
        for size in sizes:
            have = len(ids)
            if size > have:
                c0, k0, t0 = cpu_seconds(pid), time.process_time(), time.perf_counter()
                for _ in range(size - have):
                    create()
                dt = time.perf_counter() - t0
                if size - have > 1:
                    out[f"create_{have + 1}_{size}"] = {
                        "rate": (size - have) / dt,
                        "cpu_ms": (cpu_seconds(pid) - c0) / (size - have) * 1000,
                        "client_ms": (time.process_time() - k0) / (size - have) * 1000,
                        "calls": size - have,
                    }
            out[f"settle_{size}"] = settle(ec2, pid, paged)
            first = ids[0]
            out[f"by_id_{size}"] = timed(
                pid, lambda f=first: ec2.describe_vpc_endpoints(VpcEndpointIds=[f]), seconds
            )
            n = list_all(ec2, paged)
            if n != size:
                raise RuntimeError(f"{backend.name}: listed {n} endpoints, expected {size}")
            out[f"list_{size}"] = timed(pid, lambda: list_all(ec2, paged), seconds)
            if size in (sizes[0], sizes[-1]):
                out[f"dth_{size}"] = timed(
                    pid, lambda: elb.describe_target_health(TargetGroupArn=stack["tg"]), seconds
                )
        if is_privlink:
            out["accept_ms"] = accept_to_first_byte(backend, ec2, elb, loadgen_env, stack)
        return out
    finally:
        backend.stop()


def run_control(
    workdir: str, loadgen_env, reps: int, seconds: float, sizes, log, compare_src=None
) -> dict:
    """``compare_src``: another tree's src/ measured too, as "privlink-compare" (A/B)."""
    have_moto = moto_installed()
    runs: dict = {"privlink": [], "moto": []}
    info = {"moto": MotoServer(workdir).version() if have_moto else "not installed"}
    if compare_src:
        runs["privlink-compare"] = []
        info["compare_src"] = compare_src
    for rep in range(reps):
        makers = [lambda r=rep: PrivlinkBackend(workdir, r)]
        if have_moto:
            makers.append(lambda: MotoServer(workdir))
        if compare_src:
            makers.append(
                lambda r=rep: PrivlinkBackend(workdir, r, compare_src, "privlink-compare")
            )
        k = rep % len(makers)
        makers = makers[k:] + makers[:k]
        for make in makers:
            b = make()
            t0 = time.time()
            got = one_backend(b, seconds, sizes, loadgen_env, log)
            runs[b.name].append(got)
            log(
                f"control plane repetition {rep + 1}/{reps}, {b.name} ({time.time() - t0:.0f} s): "
                + ", ".join(
                    f"{k} {v['rate']:.0f}/s" if isinstance(v, dict) else f"{k} {v:.1f}"
                    for k, v in got.items()
                )
            )
    return {"info": info, "runs": runs, "sizes": list(sizes), "seconds": seconds}


def _med(runs: list, key: str, field: str = "rate"):
    vals = [
        r[key][field] if field else r[key]
        for r in runs
        if key in r and (not field or field in r[key])
    ]
    return statistics.median(vals) if vals else None


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def control_rows(data: dict) -> list[str]:
    runs = data["runs"]
    runs_m = runs.get("moto", [])
    sizes = data["sizes"]
    moto_label = data["info"]["moto"]
    names = [n for n in ("privlink", "privlink-compare") if n in runs]
    labels = {
        "privlink": "privlink",
        "privlink-compare": f"privlink ({data['info'].get('compare_src')})",
    }
    rows = [
        "| figure | "
        + " | ".join(labels[n] for n in names)
        + f" | {'moto' if moto_label == 'not installed' else moto_label} |",
        "|---" * (len(names) + 2) + "|",
    ]

    def cell(rs, key):
        r = _med(rs, key)
        if r is None:
            return None
        cli = _med(rs, key, "client_ms")
        out = f"{r:,.0f}/s · server {_med(rs, key, 'cpu_ms'):.2f} ms"
        return out + (f", client {cli:.2f} ms" if cli is not None else "")

    def ratio(rs, key):
        pairs = [
            (a[key]["rate"], b[key]["rate"])
            for a, b in zip(rs, runs_m, strict=False)
            if key in a and key in b
        ]
        return statistics.median(a / b for a, b in pairs) if pairs else None

    keys = []
    for i, size in enumerate(sizes):
        if i:
            keys.append(
                (
                    f"create_{sizes[i - 1] + 1}_{size}",
                    f"CreateVpcEndpoint, endpoints {sizes[i - 1] + 1}–{size}",
                )
            )
    for size in sizes:
        keys.append((f"by_id_{size}", f"DescribeVpcEndpoints by id, {size} in the account"))
    for size in sizes:
        keys.append((f"list_{size}", f"DescribeVpcEndpoints whole list, {size} endpoint{_s(size)}"))
    for size in (sizes[0], sizes[-1]):
        keys.append(
            (f"dth_{size}", f"DescribeTargetHealth, {size} endpoint{_s(size)} in the account")
        )
    for key, label in keys:
        cells = []
        for n in names:
            a = cell(runs[n], key)
            r = ratio(runs[n], key)
            cells.append((a or "—") + (f" ({r:.2f}×)" if r else ""))
        b = cell(runs_m, key)
        b = (b + " (1.00×)") if b else ("not installed" if moto_label == "not installed" else "—")
        unit = "listings/s" if key.startswith("list_") else "calls/s"
        rows.append(f"| {label} ({unit}) | " + " | ".join(cells) + f" | {b} |")
    accs = []
    for n in names:
        acc = _med(runs[n], "accept_ms", field=None)
        accs.append(f"{acc:,.0f}" if acc is not None else "—")
    rows.append(
        "| AcceptVpcEndpointConnections → first byte through the endpoint (ms) | "
        + " | ".join(accs)
        + " | n/a (moto carries no traffic) |"
    )
    return rows


def control_verdicts(data: dict) -> list[str]:
    runs_pl, runs_m = data["runs"]["privlink"], data["runs"].get("moto", [])
    sizes = data["sizes"]
    out = []
    if runs_m:
        worst = None
        keys = [f"create_{a + 1}_{b}" for a, b in zip(sizes, sizes[1:], strict=False)]
        keys += [f"by_id_{s}" for s in sizes] + [f"list_{s}" for s in sizes]
        keys += [f"dth_{sizes[0]}", f"dth_{sizes[-1]}"]
        for key in keys:
            pairs = [
                a[key]["rate"] / b[key]["rate"]
                for a, b in zip(runs_pl, runs_m, strict=False)
                if key in a and key in b
            ]
            if pairs:
                r = statistics.median(pairs)
                worst = r if worst is None else min(worst, r)
                out.append(
                    f"control plane {key}: {r:.2f}× moto's calls/s (target ≥ 3×): "
                    + ("met" if r >= 3 else f"MISSED by {(3 - r) / 3 * 100:.1f}%")
                )
    lo, hi = f"by_id_{sizes[0]}", f"by_id_{sizes[-1]}"
    for name, runs in (("privlink", runs_pl), ("moto", runs_m)):
        ratios = [r[lo]["rate"] / r[hi]["rate"] for r in runs if lo in r and hi in r]
        if ratios:
            x = statistics.median(ratios)
            tag = f" (target ≤ 5×): {'met' if x <= 5 else 'MISSED'}" if name == "privlink" else ""
            out.append(
                f"{name}: DescribeVpcEndpoints by id takes {x:.2f}× as long with {sizes[-1]}"
                f" endpoints as with {sizes[0]}{tag}"
            )
    return out
