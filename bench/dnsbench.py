"""DNS: queries/s against a privlink VPC resolver, and against dnsmasq as a reference.

privlink: ``privlink up`` with a provider NLB, an endpoint service and an interface endpoint
in a consumer VPC (built with boto3); the C generator (``loadgen dns``) asks the consumer
VPC's resolver (its realm address, from ``/_privlink/dns``) for the endpoint's regional DNS
name (an A record), with a window of outstanding queries. privlink's own query-rate bound
(``dns_max_qps``, 50,000/s by default) is switched off for the run, so that the resolver, not
the bound, is measured.

dnsmasq (if installed): the same name and address from a hosts file, on a loopback address
and a free port, no DHCP, no upstream, cache on (``--no-daemon``). Both answer from memory.

Repetitions alternate the two; each figure is a median, each ratio is privlink / dnsmasq in
the same repetition.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time

from .candidates import free_port
from .plserver import CONSUMER, PROVIDER, PrivlinkServer, clients, wait_for

DNSMASQ = shutil.which("dnsmasq") or (
    "/usr/sbin/dnsmasq" if os.path.exists("/usr/sbin/dnsmasq") else None
)
DNSMASQ_ADDRESS = "127.0.0.53"
WINDOWS = (1, 16)  # outstanding queries: one at a time (latency-bound), and 16


def build(server: PrivlinkServer) -> tuple[str, str, tuple]:
    """An endpoint in a consumer VPC; returns (regional name, ENI VPC address, resolver)."""
    ec2p, elb = clients(server.url, PROVIDER, "ec2", "elbv2")
    ec2c = clients(server.url, CONSUMER, "ec2")
    pvpc = ec2p.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
    psub = ec2p.create_subnet(VpcId=pvpc, CidrBlock="10.10.1.0/24", AvailabilityZoneId="use1-az1")[
        "Subnet"
    ]["SubnetId"]
    nlb = elb.create_load_balancer(
        Name="dns-nlb", Type="network", Scheme="internal", Subnets=[psub]
    )["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(
        Name="dns-tg", Protocol="TCP", Port=8443, VpcId=pvpc, TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    elb.create_listener(
        LoadBalancerArn=nlb,
        Protocol="TCP",
        Port=8443,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )
    svc = ec2p.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[nlb], AcceptanceRequired=False
    )["ServiceConfiguration"]
    ec2p.modify_vpc_endpoint_service_permissions(
        ServiceId=svc["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"]
    )
    wait_for(
        lambda: (
            ec2p.describe_vpc_endpoint_service_configurations(ServiceIds=[svc["ServiceId"]])[
                "ServiceConfigurations"
            ][0]["ServiceState"]
            == "Available"
        ),
        30,
        "the endpoint service",
    )
    cvpc = ec2c.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    ec2c.modify_vpc_attribute(VpcId=cvpc, EnableDnsHostnames={"Value": True})
    csub = ec2c.create_subnet(VpcId=cvpc, CidrBlock="10.20.1.0/24", AvailabilityZoneId="use1-az1")[
        "Subnet"
    ]["SubnetId"]
    ep = ec2c.create_vpc_endpoint(
        VpcId=cvpc,
        VpcEndpointType="Interface",
        ServiceName=svc["ServiceName"],
        SubnetIds=[csub],
    )["VpcEndpoint"]
    eid = ep["VpcEndpointId"]

    def available():
        e = ec2c.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]
        return e if e["State"] == "available" else None

    ep = wait_for(available, 30, "the endpoint")
    eni = ec2c.describe_network_interfaces(NetworkInterfaceIds=ep["NetworkInterfaceIds"])[
        "NetworkInterfaces"
    ][0]
    name = ep["DnsEntries"][0]["DnsName"]
    r = server.extension("dns", vpc=cvpc)
    return name, eni["PrivateIpAddress"], (r["address"], int(r["port"]))


def query(loadgen: str, addr: tuple, name: str, seconds: float, window: int) -> dict:
    out = subprocess.run(
        [loadgen, "dns", f"{addr[0]}:{addr[1]}", name, str(seconds), str(window)],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    )
    if out.returncode != 0:
        raise RuntimeError(f"loadgen dns: {out.stderr.strip()}")
    answered, ok, lost, secs = out.stdout.split()
    answered, ok, lost, secs = int(answered), int(ok), int(lost), float(secs)
    return {"qps": ok / secs, "answered": answered, "ok": ok, "lost": lost}


class Dnsmasq:
    def __init__(self, workdir: str, name: str, ip: str):
        self.workdir = workdir
        self.hosts = os.path.join(workdir, "dnsmasq.hosts")
        with open(self.hosts, "w") as f:
            f.write(f"{ip} {name}\n")
        self.port = free_port(DNSMASQ_ADDRESS)
        self.proc = None

    def start(self) -> tuple:
        log = os.path.join(self.workdir, "dnsmasq.log")
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [
                    DNSMASQ,
                    "--no-daemon",
                    "--conf-file=/dev/null",
                    "--no-hosts",
                    f"--addn-hosts={self.hosts}",
                    "--no-resolv",
                    f"--listen-address={DNSMASQ_ADDRESS}",
                    "--bind-interfaces",
                    f"--port={self.port}",
                    "--pid-file=",
                    "--cache-size=1000",
                    "--log-facility=-",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        time.sleep(0.3)
        if self.proc.poll() is not None:
            with open(log) as f:
                raise RuntimeError(f"dnsmasq did not start: {f.read().strip()}")
        return (DNSMASQ_ADDRESS, self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def run_dns(workdir: str, loadgen: str, reps: int, seconds: float, log) -> dict:
    from .endpoint import DATAPLANE_SETTINGS

    server = PrivlinkServer(workdir, "dns-bench", DATAPLANE_SETTINGS).start()
    masq = None
    runs: dict = {"privlink": [], "dnsmasq": []}
    info: dict = {"dnsmasq": "not installed" if not DNSMASQ else ""}
    try:
        name, ip, resolver = build(server)
        info.update({"name": name, "resolver": f"{resolver[0]}:{resolver[1]}"})
        # sanity: privlink answers the name with the ENI's address (loopback form)
        first = query(loadgen, resolver, name, 0.2, 1)
        if not first["ok"]:
            raise RuntimeError(f"the VPC resolver did not answer {name}")
        targets = {"privlink": (resolver, server.pid)}
        if DNSMASQ:
            masq = Dnsmasq(workdir, name, ip)
            addr = masq.start()
            targets["dnsmasq"] = (addr, masq.proc.pid)
            info["dnsmasq"] = subprocess.run(
                [DNSMASQ, "--version"], capture_output=True, text=True
            ).stdout.split("\n")[0]
        for rep in range(reps):
            order = list(targets) if rep % 2 == 0 else list(reversed(targets))
            row: dict = {k: {} for k in targets}
            for window in WINDOWS:
                for who in order:
                    addr, _pid = targets[who]
                    row[who][f"w{window}"] = query(loadgen, addr, name, seconds, window)
            for who in targets:
                runs[who].append(row[who])
            log(
                f"dns repetition {rep + 1}/{reps}: "
                + ", ".join(
                    f"{who} " + " / ".join(f"{row[who][f'w{w}']['qps']:,.0f}" for w in WINDOWS)
                    for who in targets
                )
                + " queries/s"
            )
    finally:
        if masq:
            masq.stop()
        server.stop()
    return {"info": info, "runs": runs, "windows": list(WINDOWS), "seconds": seconds}


def dns_rows(data: dict) -> list[str]:
    """Markdown table rows: queries/s per window, privlink vs dnsmasq."""
    runs = data["runs"]
    out = [
        "| figure | privlink VPC resolver | dnsmasq |",
        "|---|---|---|",
    ]
    for w in data["windows"]:
        key = f"w{w}"
        pl = [r[key]["qps"] for r in runs["privlink"]]
        cell_pl = f"{statistics.median(pl):,.0f}" if pl else "—"
        dm = [r[key]["qps"] for r in runs.get("dnsmasq", [])]
        if dm:
            ratio = statistics.median(a / b for a, b in zip(pl, dm, strict=False) if b)
            cell_pl += f" ({ratio:.2f}×)"
            cell_dm = f"{statistics.median(dm):,.0f} (1.00×)"
        else:
            cell_dm = data["info"].get("dnsmasq") or "not installed"
        what = "one query at a time" if w == 1 else f"{w} outstanding"
        out.append(f"| queries/s, {what} | {cell_pl} | {cell_dm} |")
    lost = sum(r[f"w{w}"]["lost"] for r in runs["privlink"] for w in data["windows"])
    if lost:
        out.append(f"| queries lost (privlink, all runs) | {lost:,} | |")
    return out
