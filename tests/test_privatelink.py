"""The PrivateLink control plane: endpoint services, the two gates, endpoints, AZ alignment,
private DNS verification, delete ordering (aws CLI and boto3, three accounts)."""

from __future__ import annotations

import json
import textwrap

import pytest
from botocore.exceptions import ClientError

from .conftest import CONSUMER, OUTSIDER, PROVIDER
from .stacks import consumer_vpc, provider_stack, wait_for, wait_service
from .stacks import error_code as _code

ROLE = f"arn:aws:iam::{CONSUMER}:role/lab-consumer-role"


@pytest.fixture
def settings(settings):
    t = settings.timing
    t.load_balancer_provisioning = 0.2
    t.endpoint_service_pending = 0.2
    t.endpoint_pending = 0.2
    t.endpoint_deleting = 0.2
    t.private_dns_verification = 0.2
    t.private_dns_verification_retry_window = 1.0
    return settings


def _endpoint_state(ec2, eid):
    return ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]["State"]


def _role_env(tmp_path):
    config = tmp_path / "config"
    config.write_text(
        textwrap.dedent(
            f"""
            [profile consumer-base]
            region = us-east-1
            [profile consumer]
            region = us-east-1
            role_arn = {ROLE}
            source_profile = consumer-base
            """
        )
    )
    creds = tmp_path / "credentials"
    creds.write_text(
        f"[consumer-base]\naws_access_key_id = {CONSUMER}\naws_secret_access_key = x\n"
    )
    return {
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(creds),
        "HOME": str(tmp_path),
    }


def test_lab_steps_3_to_6_with_the_aws_cli(server, clients, aws, tmp_path):
    stack = provider_stack(clients, PROVIDER)
    # the consumer acts through an assumed role; its VPC uses the same CIDR as the provider's
    sts = clients("sts", account=CONSUMER)
    creds = sts.assume_role(RoleArn=ROLE, RoleSessionName="setup")["Credentials"]
    cvpc, csubnets = consumer_vpc(
        clients,
        CONSUMER,
        key=creds["AccessKeyId"],
        secret=creds["SecretAccessKey"],
        token=creds["SessionToken"],
    )
    cons = clients("ec2", account=CONSUMER)
    sg = cons.create_security_group(GroupName="lab-endpoint", Description="lab", VpcId=cvpc)[
        "GroupId"
    ]

    # Step 3: publish the endpoint service
    svc = aws(
        "ec2",
        "create-vpc-endpoint-service-configuration",
        "--network-load-balancer-arns",
        stack.nlb_arn,
        "--acceptance-required",
        "--query",
        "ServiceConfiguration.ServiceId",
        account=PROVIDER,
    )
    assert svc.startswith("vpce-svc-") and len(svc) == len("vpce-svc-") + 17
    wait_service(clients("ec2", account=PROVIDER), svc)
    svc_name = aws(
        "ec2",
        "describe-vpc-endpoint-service-configurations",
        "--service-ids",
        svc,
        "--query",
        "ServiceConfigurations[0].ServiceName",
        account=PROVIDER,
    )
    assert svc_name == f"com.amazonaws.vpce.us-east-1.{svc}"

    env = _role_env(tmp_path)
    create = [
        "ec2",
        "create-vpc-endpoint",
        "--profile",
        "consumer",
        "--vpc-id",
        cvpc,
        "--vpc-endpoint-type",
        "Interface",
        "--service-name",
        svc_name,
        "--subnet-ids",
        *csubnets,
        "--security-group-ids",
        sg,
        "--no-private-dns-enabled",
        "--query",
        "VpcEndpoint.[VpcEndpointId,State]",
    ]
    # before step 4 the consumer cannot see the service: InvalidServiceName, never "access denied"
    refused = aws.run(*create, env=env, check=False)
    assert refused.returncode != 0 and "InvalidServiceName" in refused.stderr

    # Step 4: allow the consumer's role
    aws(
        "ec2",
        "modify-vpc-endpoint-service-permissions",
        "--service-id",
        svc,
        "--add-allowed-principals",
        ROLE,
        account=PROVIDER,
    )

    # Step 5: the consumer's endpoint waits for acceptance
    out = json.loads(aws.run(*create, env=env).stdout)
    ep, state = out
    assert ep.startswith("vpce-") and state == "pendingAcceptance"

    # an outsider is still refused
    ovpc, osubnets = consumer_vpc(clients, OUTSIDER)
    outsider = clients("ec2", account=OUTSIDER)
    with pytest.raises(ClientError) as e:
        outsider.create_vpc_endpoint(
            VpcId=ovpc, VpcEndpointType="Interface", ServiceName=svc_name, SubnetIds=osubnets
        )
    assert _code(e) == "InvalidServiceName"
    with pytest.raises(ClientError) as e:
        outsider.describe_vpc_endpoint_services(ServiceNames=[svc_name])
    assert _code(e) == "InvalidServiceName"

    # the provider sees the pending connection
    pending = aws(
        "ec2",
        "describe-vpc-endpoint-connections",
        "--filters",
        f"Name=service-id,Values={svc}",
        "--query",
        "VpcEndpointConnections[?VpcEndpointState==`pendingAcceptance`].[VpcEndpointId,VpcEndpointOwner]",
        account=PROVIDER,
    )
    assert pending == [[ep, CONSUMER]]

    # Step 6: accept
    aws(
        "ec2",
        "accept-vpc-endpoint-connections",
        "--service-id",
        svc,
        "--vpc-endpoint-ids",
        ep,
        account=PROVIDER,
    )
    wait_for(lambda: _endpoint_state(cons, ep) == "available", what="endpoint available")
    described = cons.describe_vpc_endpoints(VpcEndpointIds=[ep])["VpcEndpoints"][0]
    assert len(described["NetworkInterfaceIds"]) == 2
    assert (
        described["DnsEntries"][0]["DnsName"].startswith(f"{ep}-")
        and f".{svc}.us-east-1.vpce.amazonaws.com" in described["DnsEntries"][0]["DnsName"]
    )
    assert described["Groups"] == [{"GroupId": sg, "GroupName": "lab-endpoint"}]
    enis = cons.describe_network_interfaces(NetworkInterfaceIds=described["NetworkInterfaceIds"])[
        "NetworkInterfaces"
    ]
    assert {e["InterfaceType"] for e in enis} == {"vpc_endpoint"} and all(
        e["RequesterManaged"] for e in enis
    )


def _published(clients, acceptance: bool, name: str = "pl-lab", cidr="10.10.0.0/16"):
    prov = clients("ec2", account=PROVIDER)
    stack = provider_stack(clients, PROVIDER, name=name, cidr=cidr)
    sid = prov.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[stack.nlb_arn], AcceptanceRequired=acceptance
    )["ServiceConfiguration"]["ServiceId"]
    wait_service(prov, sid)
    prov.modify_vpc_endpoint_service_permissions(
        ServiceId=sid, AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"]
    )
    name = prov.describe_vpc_endpoint_service_configurations(ServiceIds=[sid])[
        "ServiceConfigurations"
    ][0]["ServiceName"]
    return stack, sid, name


def test_acceptance_off_goes_available_and_reject(server, clients):
    _, sid, name = _published(clients, acceptance=False)
    cons = clients("ec2", account=CONSUMER)
    cvpc, csubnets = consumer_vpc(clients, CONSUMER)
    ep = cons.create_vpc_endpoint(
        VpcId=cvpc, VpcEndpointType="Interface", ServiceName=name, SubnetIds=csubnets
    )["VpcEndpoint"]
    assert ep["State"] == "pending"
    wait_for(lambda: _endpoint_state(cons, ep["VpcEndpointId"]) == "available", what="available")
    prov = clients("ec2", account=PROVIDER)
    out = prov.reject_vpc_endpoint_connections(
        ServiceId=sid, VpcEndpointIds=[ep["VpcEndpointId"], "vpce-0123456789abcdef0"]
    )
    assert [u["Error"]["Code"] for u in out["Unsuccessful"]] == ["InvalidVpcEndpoint.NotFound"]
    assert _endpoint_state(cons, ep["VpcEndpointId"]) == "rejected"
    conns = prov.describe_vpc_endpoint_connections(
        Filters=[{"Name": "vpc-endpoint-state", "Values": ["rejected"]}]
    )
    assert [c["VpcEndpointId"] for c in conns["VpcEndpointConnections"]] == [ep["VpcEndpointId"]]


def test_az_alignment_by_zone_id(server, clients):
    stack, sid, name = _published(clients, acceptance=False)  # served in use1-az1 and use1-az2
    cons = clients("ec2", account=CONSUMER)
    detail = cons.describe_vpc_endpoint_services(ServiceNames=[name])["ServiceDetails"][0]
    assert sorted(detail["AvailabilityZoneIds"]) == ["use1-az1", "use1-az2"]
    names = {
        z["ZoneId"]: z["ZoneName"] for z in cons.describe_availability_zones()["AvailabilityZones"]
    }
    assert sorted(detail["AvailabilityZones"]) == sorted(names[z] for z in ("use1-az1", "use1-az2"))
    cvpc, (s1, s2) = consumer_vpc(clients, CONSUMER)
    other = cons.create_subnet(VpcId=cvpc, CidrBlock="10.10.9.0/24", AvailabilityZoneId="use1-az5")[
        "Subnet"
    ]["SubnetId"]
    with pytest.raises(ClientError) as e:
        cons.create_vpc_endpoint(
            VpcId=cvpc, VpcEndpointType="Interface", ServiceName=name, SubnetIds=[s1, other]
        )
    assert _code(e) == "InvalidParameter" and other in str(e.value)
    same_zone = cons.create_subnet(
        VpcId=cvpc, CidrBlock="10.10.8.0/24", AvailabilityZoneId="use1-az1"
    )["Subnet"]["SubnetId"]
    with pytest.raises(ClientError) as e:
        cons.create_vpc_endpoint(
            VpcId=cvpc, VpcEndpointType="Interface", ServiceName=name, SubnetIds=[s1, same_zone]
        )
    assert _code(e) == "DuplicateSubnetsInSameZone"
    assert cons.describe_vpc_endpoints()["VpcEndpoints"] == []
    ep = cons.create_vpc_endpoint(
        VpcId=cvpc, VpcEndpointType="Interface", ServiceName=name, SubnetIds=[s1, s2]
    )["VpcEndpoint"]
    regional = ep["DnsEntries"][0]["DnsName"]
    prefix = regional.split(".")[0] + "-"  # vpce-<id>-<8 characters>-
    zonal = [d["DnsName"].split(".")[0] for d in ep["DnsEntries"][1:]]
    # zonal names carry the consumer's AZ names
    assert {z.removeprefix(prefix) for z in zonal} == {names["use1-az1"], names["use1-az2"]}
    # the provider adds nothing of the consumer's: its own view names the AZs its way
    prov_cfg = clients("ec2", account=PROVIDER).describe_vpc_endpoint_service_configurations(
        ServiceIds=[sid]
    )["ServiceConfigurations"][0]
    prov_names = {
        z["ZoneId"]: z["ZoneName"]
        for z in clients("ec2", account=PROVIDER).describe_availability_zones()["AvailabilityZones"]
    }
    assert sorted(prov_cfg["AvailabilityZones"]) == sorted(
        prov_names[z] for z in ("use1-az1", "use1-az2")
    )


def test_delete_ordering(server, clients):
    _, sid, name = _published(clients, acceptance=True)
    cons = clients("ec2", account=CONSUMER)
    prov = clients("ec2", account=PROVIDER)
    cvpc, csubnets = consumer_vpc(clients, CONSUMER)
    ep = cons.create_vpc_endpoint(
        VpcId=cvpc, VpcEndpointType="Interface", ServiceName=name, SubnetIds=csubnets
    )["VpcEndpoint"]["VpcEndpointId"]
    out = prov.delete_vpc_endpoint_service_configurations(ServiceIds=[sid])
    assert out["Unsuccessful"][0]["Error"]["Code"] == "ExistingVpcEndpointConnections"
    with pytest.raises(ClientError) as e:
        clients("elbv2", account=PROVIDER).delete_load_balancer(
            LoadBalancerArn=prov.describe_vpc_endpoint_service_configurations(ServiceIds=[sid])[
                "ServiceConfigurations"
            ][0]["NetworkLoadBalancerArns"][0]
        )
    assert _code(e) == "ResourceInUse"
    out = cons.delete_vpc_endpoints(VpcEndpointIds=[ep, "vpce-0123456789abcdef0"])
    assert [u["Error"]["Code"] for u in out["Unsuccessful"]] == ["InvalidVpcEndpoint.NotFound"]
    assert _endpoint_state(cons, ep) == "deleting"
    wait_for(lambda: _endpoint_state(cons, ep) == "deleted", what="deleted")
    assert (
        cons.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [cvpc]}])[
            "NetworkInterfaces"
        ]
        == []
    )
    assert prov.delete_vpc_endpoint_service_configurations(ServiceIds=[sid])["Unsuccessful"] == []
    wait_for(
        lambda: not prov.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"],
        what="service gone",
    )
    with pytest.raises(ClientError) as e:
        prov.describe_vpc_endpoint_service_configurations(ServiceIds=[sid])
    assert _code(e) == "InvalidVpcEndpointServiceId.NotFound"
    out = prov.delete_vpc_endpoint_service_configurations(ServiceIds=[sid])
    assert out["Unsuccessful"][0]["Error"]["Code"] == "InvalidVpcEndpointService.NotFound"


def test_principals_quota_and_forms(server, clients, settings):
    settings.quotas.allowed_principals_per_service = 3
    _, sid, name = _published(clients, acceptance=True)
    prov = clients("ec2", account=PROVIDER)
    added = prov.modify_vpc_endpoint_service_permissions(
        ServiceId=sid, AddAllowedPrincipals=[ROLE, f"arn:aws:iam::{OUTSIDER}:user/alice"]
    )["AddedPrincipals"]
    assert sorted(a["PrincipalType"] for a in added) == ["Role", "User"]
    with pytest.raises(ClientError) as e:
        prov.modify_vpc_endpoint_service_permissions(ServiceId=sid, AddAllowedPrincipals=["*"])
    assert _code(e) == "ExceededAllowedPrincipalsLimit"
    perms = prov.describe_vpc_endpoint_service_permissions(ServiceId=sid)["AllowedPrincipals"]
    assert len(perms) == 3
    with pytest.raises(ClientError) as e:
        prov.modify_vpc_endpoint_service_permissions(
            ServiceId=sid, AddAllowedPrincipals=["not-a-principal"]
        )
    assert _code(e) == "InvalidPrincipal"
    # an assumed-role session of an allowed role sees the service; another role does not
    sts = clients("sts", account=CONSUMER)
    prov.modify_vpc_endpoint_service_permissions(
        ServiceId=sid, RemoveAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"]
    )
    for role, visible in ((ROLE, True), (f"arn:aws:iam::{CONSUMER}:role/other", False)):
        c = sts.assume_role(RoleArn=role, RoleSessionName="s1")["Credentials"]
        ec2 = clients(
            "ec2", key=c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"]
        )
        names = ec2.describe_vpc_endpoint_services()["ServiceNames"]
        assert (name in names) is visible


def test_endpoints_per_vpc_quota(server, clients, settings):
    settings.quotas.interface_endpoints_per_vpc = 2
    _, _, name = _published(clients, acceptance=False)
    cons = clients("ec2", account=CONSUMER)
    cvpc, csubnets = consumer_vpc(clients, CONSUMER)
    for _ in range(2):
        cons.create_vpc_endpoint(
            VpcId=cvpc, VpcEndpointType="Interface", ServiceName=name, SubnetIds=csubnets[:1]
        )
    with pytest.raises(ClientError) as e:
        cons.create_vpc_endpoint(
            VpcId=cvpc, VpcEndpointType="Interface", ServiceName=name, SubnetIds=csubnets[:1]
        )
    assert _code(e) == "VpcEndpointLimitExceeded"


def test_service_states_and_bad_load_balancer(server, clients):
    prov = clients("ec2", account=PROVIDER)
    with pytest.raises(ClientError) as e:
        prov.create_vpc_endpoint_service_configuration(AcceptanceRequired=True)
    assert _code(e) == "InvalidParameter"
    bad = "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/missing/0123456789abcdef"
    sid = prov.create_vpc_endpoint_service_configuration(NetworkLoadBalancerArns=[bad])[
        "ServiceConfiguration"
    ]["ServiceId"]
    wait_service(prov, sid, "Failed")


def test_gateway_endpoint_to_s3_and_prefix_lists(server, clients):
    ec2 = clients("ec2", account=CONSUMER)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]
    rtb = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])[
        "RouteTables"
    ][0]["RouteTableId"]
    ep = ec2.create_vpc_endpoint(
        VpcId=vpc["VpcId"], ServiceName="com.amazonaws.us-east-1.s3", RouteTableIds=[rtb]
    )["VpcEndpoint"]
    assert ep["VpcEndpointType"] == "Gateway" and ep["RouteTableIds"] == [rtb]
    pls = ec2.describe_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": ["com.amazonaws.us-east-1.s3"]}]
    )["PrefixLists"]
    assert len(pls) == 1 and pls[0]["PrefixListId"].startswith("pl-")
    with pytest.raises(ClientError) as e:
        ec2.create_vpc_endpoint(
            VpcId=vpc["VpcId"],
            ServiceName="com.amazonaws.us-east-1.s3",
            SubnetIds=["subnet-0123456789abcdef0"],
        )
    assert _code(e) == "InvalidParameter"


def test_load_balancer_belongs_to_one_service_and_only_its_owner_can_pin_it(server, clients):
    stack, sid, _ = _published(clients, acceptance=True)
    prov = clients("ec2", account=PROVIDER)
    other = provider_stack(clients, PROVIDER, name="other", cidr="10.30.0.0/16")
    sid2 = prov.create_vpc_endpoint_service_configuration(NetworkLoadBalancerArns=[other.nlb_arn])[
        "ServiceConfiguration"
    ]["ServiceId"]
    wait_service(prov, sid2)
    # adding a load balancer another service already uses is refused, and changes nothing
    with pytest.raises(ClientError) as e:
        prov.modify_vpc_endpoint_service_configuration(
            ServiceId=sid2, AddNetworkLoadBalancerArns=[stack.nlb_arn], AcceptanceRequired=False
        )
    assert _code(e) == "InvalidParameter" and sid in str(e.value)
    cfg = prov.describe_vpc_endpoint_service_configurations(ServiceIds=[sid2])[
        "ServiceConfigurations"
    ][0]
    assert cfg["NetworkLoadBalancerArns"] == [other.nlb_arn] and cfg["AcceptanceRequired"]
    # another account naming the provider's NLB gets a Failed service, which pins nothing
    elb = clients("elbv2", account=PROVIDER)
    stranger = clients("ec2", account=OUTSIDER)
    bad = stranger.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[other.nlb_arn]
    )["ServiceConfiguration"]["ServiceId"]
    wait_service(stranger, bad, "Failed")
    with pytest.raises(ClientError) as e:
        elb.delete_load_balancer(LoadBalancerArn=other.nlb_arn)
    assert _code(e) == "ResourceInUse" and sid2 in str(e.value) and bad not in str(e.value)
    assert prov.delete_vpc_endpoint_service_configurations(ServiceIds=[sid2])["Unsuccessful"] == []
    wait_for(
        lambda: (
            not prov.describe_vpc_endpoint_service_configurations(
                Filters=[{"Name": "service-id", "Values": [sid2]}]
            )["ServiceConfigurations"]
        ),
        what="service deleted",
    )
    elb.delete_load_balancer(LoadBalancerArn=other.nlb_arn)
    with pytest.raises(ClientError) as e:
        elb.describe_load_balancers(LoadBalancerArns=[other.nlb_arn])
    assert _code(e) == "LoadBalancerNotFound"


def test_ip_address_types_are_validated_and_change_nothing(server, clients):
    _, sid, name = _published(clients, acceptance=False)
    prov = clients("ec2", account=PROVIDER)
    with pytest.raises(ClientError) as e:
        prov.modify_vpc_endpoint_service_configuration(
            ServiceId=sid, AddSupportedIpAddressTypes=["ipv7"]
        )
    assert _code(e) == "InvalidParameter"
    cfg = prov.describe_vpc_endpoint_service_configurations(ServiceIds=[sid])[
        "ServiceConfigurations"
    ][0]
    assert cfg["SupportedIpAddressTypes"] == ["ipv4"]
    with pytest.raises(ClientError) as e:
        prov.modify_vpc_endpoint_service_configuration(
            ServiceId=sid, AddSupportedRegions=["us-west-2", "mars-1"]
        )
    assert _code(e) == "InvalidParameter" and "mars-1" in str(e.value)
    prov.modify_vpc_endpoint_service_configuration(ServiceId=sid, AddSupportedRegions=["us-west-2"])
    cfg = prov.describe_vpc_endpoint_service_configurations(ServiceIds=[sid])[
        "ServiceConfigurations"
    ][0]
    assert [r["Region"] for r in cfg["SupportedRegions"]] == ["us-east-1", "us-west-2"]
    cons = clients("ec2", account=CONSUMER)
    cvpc, csubnets = consumer_vpc(clients, CONSUMER)

    def refused(**kw):
        with pytest.raises(ClientError) as e:
            cons.create_vpc_endpoint(
                VpcId=cvpc, VpcEndpointType="Interface", ServiceName=name, SubnetIds=csubnets, **kw
            )
        assert _code(e) == "InvalidParameter"

    refused(IpAddressType="dualstack")  # the service does not offer ipv6
    refused(DnsOptions={"DnsRecordIpType": "bogus"})
    refused(DnsOptions={"DnsRecordIpType": "ipv6"})  # an ipv4 endpoint has no ipv6 records
    assert cons.describe_vpc_endpoints()["VpcEndpoints"] == []
    ep = cons.create_vpc_endpoint(
        VpcId=cvpc, VpcEndpointType="Interface", ServiceName=name, SubnetIds=csubnets
    )["VpcEndpoint"]
    eid = ep["VpcEndpointId"]
    assert ep["IpAddressType"] == "ipv4" and ep["DnsOptions"]["DnsRecordIpType"] == "ipv4"
    for kw in (
        {"IpAddressType": "ipv6"},
        {"IpAddressType": "bogus"},
        {"DnsOptions": {"DnsRecordIpType": "dualstack"}},
        {"DnsOptions": {"DnsRecordIpType": "nope"}},
    ):
        with pytest.raises(ClientError) as e:
            cons.modify_vpc_endpoint(VpcEndpointId=eid, **kw)
        assert _code(e) == "InvalidParameter", kw
    got = cons.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]
    assert got["IpAddressType"] == "ipv4" and got["DnsOptions"]["DnsRecordIpType"] == "ipv4"
    # once the service offers both families a dualstack endpoint is fine, with dualstack records
    prov.modify_vpc_endpoint_service_configuration(
        ServiceId=sid, AddSupportedIpAddressTypes=["ipv6"]
    )
    cons.modify_vpc_endpoint(VpcEndpointId=eid, IpAddressType="dualstack")
    got = cons.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]
    assert (
        got["IpAddressType"] == "dualstack" and got["DnsOptions"]["DnsRecordIpType"] == "dualstack"
    )
    cons.modify_vpc_endpoint(VpcEndpointId=eid, DnsOptions={"DnsRecordIpType": "ipv4"})
    got = cons.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]
    assert got["DnsOptions"]["DnsRecordIpType"] == "ipv4"


def test_endpoint_fails_when_the_service_stops_serving_its_zone(server, clients):
    stack, sid, name = _published(clients, acceptance=True)  # served in use1-az1 and use1-az2
    cons = clients("ec2", account=CONSUMER)
    prov = clients("ec2", account=PROVIDER)
    elb = clients("elbv2", account=PROVIDER)
    cvpc, csubnets = consumer_vpc(clients, CONSUMER)
    eid = cons.create_vpc_endpoint(
        VpcId=cvpc, VpcEndpointType="Interface", ServiceName=name, SubnetIds=csubnets
    )["VpcEndpoint"]["VpcEndpointId"]
    # before accepting, the provider moves the service to an NLB in use1-az1 only
    narrow = elb.create_load_balancer(
        Name="narrow-nlb", Type="network", Scheme="internal", Subnets=stack.subnet_ids[:1]
    )["LoadBalancers"][0]["LoadBalancerArn"]
    prov.modify_vpc_endpoint_service_configuration(
        ServiceId=sid,
        AddNetworkLoadBalancerArns=[narrow],
        RemoveNetworkLoadBalancerArns=[stack.nlb_arn],
    )
    assert (
        prov.accept_vpc_endpoint_connections(ServiceId=sid, VpcEndpointIds=[eid])["Unsuccessful"]
        == []
    )
    wait_for(lambda: _endpoint_state(cons, eid) == "failed", what="endpoint failed")
    ep = cons.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]
    assert ep["LastError"]["Code"] == "InvalidParameter"
    assert "availability zone" in ep["LastError"]["Message"]
    conn = prov.describe_vpc_endpoint_connections(
        Filters=[{"Name": "vpc-endpoint-id", "Values": [eid]}]
    )["VpcEndpointConnections"]
    assert [c["VpcEndpointState"] for c in conn] == ["failed"]
    # a failed endpoint holds nothing up: the service can go, and the consumer can delete it
    assert prov.delete_vpc_endpoint_service_configurations(ServiceIds=[sid])["Unsuccessful"] == []
    assert cons.delete_vpc_endpoints(VpcEndpointIds=[eid])["Unsuccessful"] == []


def test_gateway_load_balancer_service(server, clients):
    prov = clients("ec2", account=PROVIDER)
    elb = clients("elbv2", account=PROVIDER)
    stack = provider_stack(clients, PROVIDER, name="appl")
    gwlb = elb.create_load_balancer(Name="gwlb", Type="gateway", Subnets=stack.subnet_ids[:1])[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    with pytest.raises(ClientError) as e:  # never both kinds of load balancer
        prov.create_vpc_endpoint_service_configuration(
            NetworkLoadBalancerArns=[stack.nlb_arn], GatewayLoadBalancerArns=[gwlb]
        )
    assert _code(e) == "InvalidParameter"
    with pytest.raises(ClientError) as e:
        prov.create_vpc_endpoint_service_configuration(
            GatewayLoadBalancerArns=[gwlb], PrivateDnsName="gw.example.com"
        )
    assert _code(e) == "InvalidParameter"
    svc = prov.create_vpc_endpoint_service_configuration(
        GatewayLoadBalancerArns=[gwlb], AcceptanceRequired=False
    )["ServiceConfiguration"]
    sid = svc["ServiceId"]
    assert svc["ServiceType"] == [{"ServiceType": "GatewayLoadBalancer"}]
    wait_service(prov, sid)
    with pytest.raises(ClientError) as e:
        prov.modify_vpc_endpoint_service_configuration(
            ServiceId=sid, PrivateDnsName="gw.example.com"
        )
    assert _code(e) == "InvalidParameter"
    cfg = prov.describe_vpc_endpoint_service_configurations(ServiceIds=[sid])[
        "ServiceConfigurations"
    ][0]
    assert "PrivateDnsName" not in cfg and not cfg["PrivateDnsNameConfiguration"]
    prov.modify_vpc_endpoint_service_permissions(
        ServiceId=sid, AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"]
    )
    cons = clients("ec2", account=CONSUMER)
    cvpc, csubnets = consumer_vpc(clients, CONSUMER)
    with pytest.raises(ClientError) as e:
        cons.create_vpc_endpoint(
            VpcId=cvpc,
            VpcEndpointType="Interface",
            ServiceName=cfg["ServiceName"],
            SubnetIds=csubnets[:1],
        )
    assert _code(e) == "InvalidVpcEndpointType"
    ep = cons.create_vpc_endpoint(
        VpcId=cvpc,
        VpcEndpointType="GatewayLoadBalancer",
        ServiceName=cfg["ServiceName"],
        SubnetIds=csubnets[:1],
    )["VpcEndpoint"]
    assert ep["VpcEndpointType"] == "GatewayLoadBalancer" and ep["State"] == "pending"
