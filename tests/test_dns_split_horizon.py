"""Split-horizon DNS: each VPC resolves names its own way (dig against privlink's resolvers)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from .conftest import CONSUMER, PROVIDER
from .stacks import consumer_vpc, provider_stack, wait_for, wait_service

pytestmark = pytest.mark.skipif(
    shutil.which("dig") is None, reason="dig (Debian dnsutils) is not installed"
)

NAME = "payments.internal.example.com"


@pytest.fixture
def settings(settings):
    t = settings.timing
    t.load_balancer_provisioning = 0.1
    t.endpoint_service_pending = 0.1
    t.endpoint_pending = 0.1
    t.private_dns_verification = 0.1
    return settings


def resolver(server, *args) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-m", "privlink", "dns", *args, "--endpoint-url", server.endpoint_url],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    address, port = out.stdout.split()
    return address, int(port)


def dig(where: tuple[str, int], name: str, rtype: str = "A") -> tuple[str, list[str]]:
    """(status, answers) of one query."""
    out = subprocess.run(
        [
            "dig",
            f"@{where[0]}",
            "-p",
            str(where[1]),
            name,
            rtype,
            "+time=1",
            "+tries=1",
            "+noall",
            "+comments",
            "+answer",
        ],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout
    status = "TIMEOUT"
    for line in out.splitlines():
        if "status:" in line:
            status = line.split("status:")[1].split(",")[0].strip()
    answers = [
        ln.split()[-1]
        for ln in out.splitlines()
        if ln and not ln.startswith(";") and len(ln.split()) >= 5
    ]
    return status, sorted(answers)


@pytest.fixture
def world(server, clients):
    """Provider service with a verified private DNS name; consumer endpoint accepted with
    private DNS on."""
    prov = clients("ec2", account=PROVIDER)
    stack = provider_stack(clients, PROVIDER)
    cfg = prov.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[stack.nlb_arn], AcceptanceRequired=False, PrivateDnsName=NAME
    )["ServiceConfiguration"]
    sid = cfg["ServiceId"]
    prov.modify_vpc_endpoint_service_permissions(
        ServiceId=sid, AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"]
    )
    r53 = clients("route53", account=PROVIDER)
    zid = r53.create_hosted_zone(Name="example.com", CallerReference="pub")["HostedZone"][
        "Id"
    ].split("/")[-1]
    conf = cfg["PrivateDnsNameConfiguration"]
    r53.change_resource_record_sets(
        HostedZoneId=zid,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": f"{conf['Name']}.{NAME}",
                        "Type": "TXT",
                        "TTL": 1800,
                        "ResourceRecords": [{"Value": f'"{conf["Value"]}"'}],
                    },
                }
            ]
        },
    )
    wait_service(prov, sid)
    prov.start_vpc_endpoint_service_private_dns_verification(ServiceId=sid)
    wait_for(
        lambda: (
            prov.describe_vpc_endpoint_service_configurations(ServiceIds=[sid])[
                "ServiceConfigurations"
            ][0]["PrivateDnsNameConfiguration"]["State"]
            == "verified"
        )
    )
    cons = clients("ec2", account=CONSUMER)
    cvpc, subnets = consumer_vpc(clients, CONSUMER)
    ep = cons.create_vpc_endpoint(
        VpcId=cvpc,
        VpcEndpointType="Interface",
        ServiceName=cfg["ServiceName"],
        SubnetIds=subnets,
        PrivateDnsEnabled=True,
    )["VpcEndpoint"]
    wait_for(lambda: cons.describe_vpc_endpoints()["VpcEndpoints"][0]["State"] == "available")
    enis = cons.describe_network_interfaces(NetworkInterfaceIds=ep["NetworkInterfaceIds"])[
        "NetworkInterfaces"
    ]
    realm = server.app.runtime.hooks["realm"]
    eni_hosts = {e["AvailabilityZone"]: realm.to_host(cvpc, e["PrivateIpAddress"]) for e in enis}
    return {
        "cons": cons,
        "prov": prov,
        "cvpc": cvpc,
        "pvpc": stack.vpc_id,
        "ep": ep,
        "eni_hosts": eni_hosts,
        "r53": r53,
        "sid": sid,
    }


def test_friendly_name_resolves_only_in_the_consumer_vpc(server, world):
    mine = resolver(server, world["cvpc"])
    other = resolver(server, world["pvpc"])
    public = resolver(server, "--public")
    expected = sorted(world["eni_hosts"].values())
    assert wait_for(
        lambda: dig(mine, NAME) == ("NOERROR", expected), what="friendly name in the consumer VPC"
    )
    # the provider's VPC and the internet get no address: in the public zone example.com the
    # name only exists as the parent of the verification TXT record, so the answer is NODATA
    assert dig(other, NAME) == ("NOERROR", [])
    assert dig(public, NAME) == ("NOERROR", [])
    assert dig(public, "nothing.example.com") == ("NXDOMAIN", [])
    # the verification record is public
    assert dig(public, f"_x.{NAME}", "TXT")[0] == "NXDOMAIN"


def test_zonal_and_regional_names(server, world):
    mine = resolver(server, world["cvpc"])
    entries = [d["DnsName"] for d in world["ep"]["DnsEntries"]]
    regional, zonal = entries[0], [e for e in entries[1:] if e.startswith("vpce-")]
    assert dig(mine, regional) == ("NOERROR", sorted(world["eni_hosts"].values()))
    for name in zonal:
        az = name.split(".")[0].split("-", 3)[-1]
        assert dig(mine, name) == ("NOERROR", [world["eni_hosts"][az]])
    # endpoint names are public names in AWS too
    assert dig(resolver(server, "--public"), regional)[1] == sorted(world["eni_hosts"].values())


def test_private_dns_off_and_dns_hostnames_off(server, world):
    mine = resolver(server, world["cvpc"])
    cons, ep = world["cons"], world["ep"]["VpcEndpointId"]
    regional = world["ep"]["DnsEntries"][0]["DnsName"]
    wait_for(lambda: dig(mine, NAME)[1] != [])
    cons.modify_vpc_endpoint(VpcEndpointId=ep, PrivateDnsEnabled=False)
    wait_for(
        lambda: dig(mine, NAME) == ("NOERROR", []),
        timeout=1.5,
        what="friendly name gone within a second",
    )
    assert dig(mine, regional)[0] == "NOERROR"
    cons.modify_vpc_endpoint(VpcEndpointId=ep, PrivateDnsEnabled=True)
    wait_for(lambda: dig(mine, NAME)[1] != [], timeout=1.5)
    cons.modify_vpc_attribute(VpcId=world["cvpc"], EnableDnsHostnames={"Value": False})
    wait_for(
        lambda: dig(mine, NAME) == ("NOERROR", []),
        timeout=1.5,
        what="friendly name off with enableDnsHostnames",
    )
    cons.modify_vpc_attribute(VpcId=world["cvpc"], EnableDnsSupport={"Value": False})
    wait_for(
        lambda: dig(mine, regional)[0] == "TIMEOUT",
        timeout=3,
        what="no answers without DNS support",
    )


def test_private_hosted_zone_shadows_the_endpoint(server, clients, world):
    mine = resolver(server, world["cvpc"])
    wait_for(lambda: dig(mine, NAME)[0] == "NOERROR")
    r53 = clients("route53", account=CONSUMER)
    zid = r53.create_hosted_zone(
        Name=NAME,
        CallerReference="shadow",
        VPC={"VPCRegion": "us-east-1", "VPCId": world["cvpc"]},
        HostedZoneConfig={"PrivateZone": True, "Comment": "conflicting"},
    )["HostedZone"]["Id"].split("/")[-1]
    r53.change_resource_record_sets(
        HostedZoneId=zid,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": NAME,
                        "Type": "A",
                        "TTL": 42,
                        "ResourceRecords": [{"Value": "10.10.1.99"}],
                    },
                }
            ]
        },
    )
    realm = server.app.runtime.hooks["realm"]
    want = realm.to_host(world["cvpc"], "10.10.1.99")
    wait_for(
        lambda: dig(mine, NAME) == ("NOERROR", [want]),
        timeout=1.5,
        what="private zone shadows the managed one",
    )
    # TTLs from Route 53 are kept
    out = subprocess.run(
        ["dig", f"@{mine[0]}", "-p", str(mine[1]), NAME, "+noall", "+answer"],
        capture_output=True,
        text=True,
    ).stdout
    assert out.split()[1] == "42"


def test_ec2_hostnames_and_load_balancer_names(server, clients, world):
    mine = resolver(server, world["cvpc"])
    realm = server.app.runtime.hooks["realm"]
    assert dig(mine, "ip-10-10-1-7.ec2.internal") == (
        "NOERROR",
        [realm.to_host(world["cvpc"], "10.10.1.7")],
    )
    assert dig(mine, "ip-10-99-1-7.ec2.internal")[0] == "NXDOMAIN"
    lb = clients("elbv2", account=PROVIDER).describe_load_balancers()["LoadBalancers"][0]
    nodes = sorted(
        realm.to_host(lb["VpcId"], z["LoadBalancerAddresses"][0]["PrivateIPv4Address"])
        for z in lb["AvailabilityZones"]
    )
    assert dig(resolver(server, "--public"), lb["DNSName"]) == ("NOERROR", nodes)


def test_answers_follow_subnets_and_record_changes_within_a_second(server, clients, world):
    mine = resolver(server, world["cvpc"])
    cons, ep = world["cons"], world["ep"]
    regional = ep["DnsEntries"][0]["DnsName"]
    (az_b, host_b), (az_a, host_a) = sorted(world["eni_hosts"].items(), reverse=True)
    wait_for(lambda: dig(mine, NAME)[1] == sorted([host_a, host_b]))
    subnet_b = next(
        s["SubnetId"]
        for s in cons.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [world["cvpc"]]}])[
            "Subnets"
        ]
        if s["AvailabilityZone"] == az_b
    )
    zonal_b = next(e["DnsName"] for e in ep["DnsEntries"] if f"-{az_b}." in e["DnsName"])
    # a subnet removed from the endpoint: its ENI leaves every name
    cons.modify_vpc_endpoint(VpcEndpointId=ep["VpcEndpointId"], RemoveSubnetIds=[subnet_b])
    wait_for(
        lambda: dig(mine, regional)[1] == [host_a] and dig(mine, NAME)[1] == [host_a],
        timeout=1.5,
        what="the removed subnet's ENI gone from the names",
    )
    assert dig(mine, zonal_b)[0] == "NXDOMAIN"
    # added again: a new ENI in that zone answers
    cons.modify_vpc_endpoint(VpcEndpointId=ep["VpcEndpointId"], AddSubnetIds=[subnet_b])
    both = wait_for(
        lambda: r if len(r := dig(mine, regional)[1]) == 2 else None,
        timeout=1.5,
        what="the added subnet's ENI in the regional name",
    )
    assert host_a in both
    assert dig(mine, zonal_b)[1] == [b for b in both if b != host_a]
    assert dig(mine, NAME)[1] == both
    # a record changed in Route 53: the next query sees it
    r53 = clients("route53", account=PROVIDER)
    zid = r53.list_hosted_zones()["HostedZones"][0]["Id"]

    def upsert(value):
        r53.change_resource_record_sets(
            HostedZoneId=zid,
            ChangeBatch={
                "Changes": [
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": {
                            "Name": "www.example.com",
                            "Type": "A",
                            "TTL": 60,
                            "ResourceRecords": [{"Value": value}],
                        },
                    }
                ]
            },
        )

    public = resolver(server, "--public")
    upsert("198.51.100.1")
    wait_for(lambda: dig(public, "www.example.com")[1] == ["198.51.100.1"], timeout=1.5)
    upsert("198.51.100.2")
    wait_for(
        lambda: dig(public, "www.example.com")[1] == ["198.51.100.2"],
        timeout=1.5,
        what="the changed record answered",
    )
    # the consumer VPC falls through to the public view for it
    assert dig(mine, "www.example.com")[1] == ["198.51.100.2"]
