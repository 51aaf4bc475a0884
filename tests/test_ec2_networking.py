"""EC2 networking: AZ mapping per account, VPCs, subnets, security groups, ENIs, isolation."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from privlink.config import load_settings
from privlink.testing import EmbeddedPrivlink

from .conftest import CONSUMER, PROVIDER, Clients
from .stacks import error_code as _code


def test_two_accounts_same_cidr_isolated_with_aws_cli(aws):
    ids = {}
    for account in (PROVIDER, CONSUMER):
        vpc = aws("ec2", "create-vpc", "--cidr-block", "10.20.0.0/16", account=account)["Vpc"]
        assert vpc["CidrBlock"] == "10.20.0.0/16" and vpc["State"] == "available"
        for i, az in enumerate(("us-east-1a", "us-east-1b")):
            sub = aws(
                "ec2",
                "create-subnet",
                "--vpc-id",
                vpc["VpcId"],
                "--cidr-block",
                f"10.20.{i + 1}.0/24",
                "--availability-zone",
                az,
                account=account,
            )["Subnet"]
            assert sub["AvailabilityZone"] == az and sub["AvailableIpAddressCount"] == 251
        ids[account] = vpc["VpcId"]
    assert ids[PROVIDER] != ids[CONSUMER]

    maps = {}
    for account in (PROVIDER, CONSUMER):
        zones = aws("ec2", "describe-availability-zones", account=account)["AvailabilityZones"]
        assert [z["ZoneName"] for z in zones] == [f"us-east-1{c}" for c in "abcdef"]
        assert sorted(z["ZoneId"] for z in zones) == [f"use1-az{i}" for i in range(1, 7)]
        maps[account] = {z["ZoneName"]: z["ZoneId"] for z in zones}
    assert maps[PROVIDER] != maps[CONSUMER]

    proc = aws.run(
        "ec2", "describe-vpcs", "--vpc-ids", ids[PROVIDER], account=CONSUMER, check=False
    )
    assert proc.returncode != 0 and "InvalidVpcID.NotFound" in proc.stderr
    mine = aws("ec2", "describe-vpcs", account=CONSUMER)["Vpcs"]
    assert [v["VpcId"] for v in mine] == [ids[CONSUMER]]


def test_az_filters_and_subnet_by_zone_id(clients):
    ec2 = clients("ec2")
    zones = ec2.describe_availability_zones(Filters=[{"Name": "zone-id", "Values": ["use1-az2"]}])[
        "AvailabilityZones"
    ]
    assert len(zones) == 1
    z = zones[0]
    assert z["ZoneType"] == "availability-zone" and z["GroupName"] == "us-east-1-zg-1"
    assert z["NetworkBorderGroup"] == "us-east-1" and z["RegionName"] == "us-east-1"
    assert z["GroupLongName"] == "US East (N. Virginia) 1" and z["State"] == "available"
    for name, value, count in (
        ("group-name", "us-east-1-zg-1", 6),
        ("group-long-name", "US East (N. Virginia) 1", 6),
        ("network-border-group", "us-east-1", 6),
        ("zone-type", "availability-zone", 6),
        ("zone-name", "us-east-1?", 6),
        ("parent-zone-id", "use1-az1", 0),
        ("state", "unavailable", 0),
    ):
        got = ec2.describe_availability_zones(Filters=[{"Name": name, "Values": [value]}])
        assert len(got["AvailabilityZones"]) == count, (name, value)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]
    sub = ec2.create_subnet(
        VpcId=vpc["VpcId"], CidrBlock="10.0.0.0/24", AvailabilityZoneId="use1-az2"
    )["Subnet"]
    assert sub["AvailabilityZoneId"] == "use1-az2" and sub["AvailabilityZone"] == z["ZoneName"]
    with pytest.raises(ClientError) as e:
        ec2.create_subnet(
            VpcId=vpc["VpcId"], CidrBlock="10.0.1.0/24", AvailabilityZoneId="use1-az9"
        )
    assert _code(e) == "InvalidParameterValue"


def test_shuffle_can_be_turned_off(settings, server):
    from privlink.services.ec2.azs import name_to_id_map

    assert name_to_id_map(PROVIDER, "us-east-1", shuffle=False)["us-east-1a"] == "use1-az1"
    shuffled = {name_to_id_map(str(n).zfill(12), "us-east-1")["us-east-1a"] for n in range(40)}
    assert len(shuffled) > 1  # different accounts see different physical zones as "a"


def test_the_config_file_turns_the_per_account_mapping_off(tmp_path):
    conf = tmp_path / "privlink.toml"
    conf.write_text("[availability_zones]\nshuffle_per_account = false\n")
    settings = load_settings(str(conf), ephemeral=True, port=0, dns_port=0)
    with EmbeddedPrivlink(settings) as pl:
        clients = Clients(pl.endpoint_url)
        for account in (PROVIDER, CONSUMER):
            zones = clients("ec2", account=account).describe_availability_zones()
            got = {z["ZoneName"]: z["ZoneId"] for z in zones["AvailabilityZones"]}
            assert got == {f"us-east-1{c}": f"use1-az{i}" for i, c in enumerate("abcdef", 1)}


def test_vpc_defaults_and_attributes(clients):
    ec2 = clients("ec2")
    vpc_id = ec2.create_vpc(
        CidrBlock="10.1.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "prov"}]}],
    )["Vpc"]["VpcId"]
    assert (
        ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsSupport")["EnableDnsSupport"][
            "Value"
        ]
        is True
    )
    assert (
        ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")[
            "EnableDnsHostnames"
        ]["Value"]
        is False
    )
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    assert (
        ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")[
            "EnableDnsHostnames"
        ]["Value"]
        is True
    )
    sgs = ec2.describe_security_groups(
        Filters=[
            {"Name": "group-name", "Values": ["default"]},
            {"Name": "vpc-id", "Values": [vpc_id]},
        ]
    )["SecurityGroups"]
    assert len(sgs) == 1
    assert sgs[0]["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    assert sgs[0]["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == sgs[0]["GroupId"]
    rts = ec2.describe_route_tables(
        Filters=[
            {"Name": "association.main", "Values": ["true"]},
            {"Name": "vpc-id", "Values": [vpc_id]},
        ]
    )["RouteTables"]
    assert len(rts) == 1 and rts[0]["Routes"][0]["DestinationCidrBlock"] == "10.1.0.0/16"
    acls = ec2.describe_network_acls(
        Filters=[{"Name": "default", "Values": ["true"]}, {"Name": "vpc-id", "Values": [vpc_id]}]
    )["NetworkAcls"]
    assert len(acls) == 1 and acls[0]["IsDefault"] is True
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["pr*"]}])["Vpcs"]
    assert [v["VpcId"] for v in vpcs] == [vpc_id]
    assert vpcs[0]["Tags"] == [{"Key": "Name", "Value": "prov"}]


def test_vpc_cidr_validation(clients):
    ec2 = clients("ec2")
    for bad, code in (
        ("10.0.0.0/8", "InvalidVpc.Range"),
        ("10.0.0.0/29", "InvalidVpc.Range"),
        ("10.0.0.1/16", "InvalidParameterValue"),
        ("nonsense", "InvalidParameterValue"),
    ):
        with pytest.raises(ClientError) as e:
            ec2.create_vpc(CidrBlock=bad)
        assert _code(e) == code, bad
    assert ec2.describe_vpcs()["Vpcs"] == []


def test_subnet_validation_and_dependencies(clients):
    ec2 = clients("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    s1 = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.1.0/24")["Subnet"]
    with pytest.raises(ClientError) as e:
        ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.1.128/25")
    assert _code(e) == "InvalidSubnet.Conflict"
    with pytest.raises(ClientError) as e:
        ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.21.0.0/24")
    assert _code(e) == "InvalidSubnet.Range"
    with pytest.raises(ClientError) as e:
        ec2.delete_vpc(VpcId=vpc_id)
    assert _code(e) == "DependencyViolation"
    eni = ec2.create_network_interface(SubnetId=s1["SubnetId"], Description="mine")[
        "NetworkInterface"
    ]
    assert eni["PrivateIpAddress"] == "10.20.1.4"
    assert (
        ec2.describe_subnets(SubnetIds=[s1["SubnetId"]])["Subnets"][0]["AvailableIpAddressCount"]
        == 250
    )
    with pytest.raises(ClientError) as e:
        ec2.delete_subnet(SubnetId=s1["SubnetId"])
    assert _code(e) == "DependencyViolation"
    ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    ec2.delete_subnet(SubnetId=s1["SubnetId"])
    ec2.delete_vpc(VpcId=vpc_id)
    with pytest.raises(ClientError) as e:
        ec2.describe_vpcs(VpcIds=[vpc_id])
    assert _code(e) == "InvalidVpcID.NotFound"
    assert ec2.describe_security_groups()["SecurityGroups"] == []


def test_security_group_rules(clients):
    ec2 = clients("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    gid = ec2.create_security_group(GroupName="endpoint", Description="ep", VpcId=vpc_id)["GroupId"]
    client_gid = ec2.create_security_group(GroupName="client", Description="c", VpcId=vpc_id)[
        "GroupId"
    ]
    out = ec2.authorize_security_group_ingress(
        GroupId=gid,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 8443,
                "ToPort": 8443,
                "IpRanges": [{"CidrIp": "10.20.0.0/16", "Description": "vpc"}],
            },
            {
                "IpProtocol": "6",
                "FromPort": 8443,
                "ToPort": 8443,
                "UserIdGroupPairs": [{"GroupId": client_gid}],
            },
        ],
    )
    assert out["Return"] is True and len(out["SecurityGroupRules"]) == 2
    assert all(r["SecurityGroupRuleId"].startswith("sgr-") for r in out["SecurityGroupRules"])
    with pytest.raises(ClientError) as e:
        ec2.authorize_security_group_ingress(
            GroupId=gid,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 8443,
                    "ToPort": 8443,
                    "IpRanges": [{"CidrIp": "10.20.0.0/16"}],
                }
            ],
        )
    assert _code(e) == "InvalidPermission.Duplicate"
    g = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    assert len(g["IpPermissions"]) == 1
    perm = g["IpPermissions"][0]
    assert perm["IpProtocol"] == "tcp" and perm["FromPort"] == 8443
    assert perm["IpRanges"] == [{"CidrIp": "10.20.0.0/16", "Description": "vpc"}]
    assert perm["UserIdGroupPairs"][0]["GroupId"] == client_gid
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [gid]}])[
        "SecurityGroupRules"
    ]
    assert sorted((r["IsEgress"], r.get("CidrIpv4", "")) for r in rules) == [
        (False, ""),
        (False, "10.20.0.0/16"),
        (True, "0.0.0.0/0"),
    ]
    with pytest.raises(ClientError) as e:
        ec2.delete_security_group(GroupId=client_gid)
    assert _code(e) == "DependencyViolation"
    ec2.revoke_security_group_ingress(
        GroupId=gid,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 8443,
                "ToPort": 8443,
                "UserIdGroupPairs": [{"GroupId": client_gid}],
            }
        ],
    )
    with pytest.raises(ClientError) as e:
        ec2.revoke_security_group_ingress(
            GroupId=gid,
            IpPermissions=[
                {
                    "IpProtocol": "udp",
                    "FromPort": 53,
                    "ToPort": 53,
                    "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
                }
            ],
        )
    assert _code(e) == "InvalidPermission.NotFound"
    ec2.delete_security_group(GroupId=client_gid)
    default = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])[
        "SecurityGroups"
    ][0]
    with pytest.raises(ClientError) as e:
        ec2.delete_security_group(GroupId=default["GroupId"])
    assert _code(e) == "CannotDelete"
    with pytest.raises(ClientError) as e:
        ec2.create_security_group(GroupName="endpoint", Description="again", VpcId=vpc_id)
    assert _code(e) == "InvalidGroup.Duplicate"


def test_modify_security_group_rules_keeps_the_rule_id(clients):
    ec2 = clients("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    gid = ec2.create_security_group(GroupName="m", Description="m", VpcId=vpc_id)["GroupId"]
    a, b = ec2.authorize_security_group_ingress(
        GroupId=gid,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 80,
                "ToPort": 80,
                "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
            },
        ],
    )["SecurityGroupRules"]
    ec2.modify_security_group_rules(
        GroupId=gid,
        SecurityGroupRules=[
            {
                "SecurityGroupRuleId": a["SecurityGroupRuleId"],
                "SecurityGroupRule": {
                    "IpProtocol": "tcp",
                    "FromPort": 8080,
                    "ToPort": 8081,
                    "CidrIpv4": "10.20.0.0/16",
                    "Description": "moved",
                },
            }
        ],
    )

    def rule(rid):
        (r,) = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rid])["SecurityGroupRules"]
        return (r["FromPort"], r["ToPort"], r["CidrIpv4"], r.get("Description"))

    assert rule(a["SecurityGroupRuleId"]) == (8080, 8081, "10.20.0.0/16", "moved")
    with pytest.raises(ClientError) as e:  # into a copy of the other rule
        ec2.modify_security_group_rules(
            GroupId=gid,
            SecurityGroupRules=[
                {
                    "SecurityGroupRuleId": a["SecurityGroupRuleId"],
                    "SecurityGroupRule": {
                        "IpProtocol": "tcp",
                        "FromPort": 443,
                        "ToPort": 443,
                        "CidrIpv4": "10.0.0.0/8",
                    },
                }
            ],
        )
    assert _code(e) == "InvalidPermission.Duplicate"
    assert rule(a["SecurityGroupRuleId"]) == (8080, 8081, "10.20.0.0/16", "moved")
    assert rule(b["SecurityGroupRuleId"]) == (443, 443, "10.0.0.0/8", None)
    with pytest.raises(ClientError) as e:
        ec2.modify_security_group_rules(
            GroupId=gid,
            SecurityGroupRules=[
                {
                    "SecurityGroupRuleId": "sgr-00000000000000000",
                    "SecurityGroupRule": {"IpProtocol": "-1", "CidrIpv4": "10.0.0.0/8"},
                }
            ],
        )
    assert _code(e) == "InvalidSecurityGroupRuleId.NotFound"


def test_a_group_name_two_vpcs_share_is_not_acted_on_by_name(clients):
    ec2 = clients("ec2")
    vpcs = [ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"] for _ in range(2)]
    gids = sorted(
        ec2.create_security_group(GroupName="web", Description="web", VpcId=v)["GroupId"]
        for v in vpcs
    )
    named = ec2.describe_security_groups(GroupNames=["web"])["SecurityGroups"]
    assert sorted(g["GroupId"] for g in named) == gids
    defaults = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
    assert sorted(g["VpcId"] for g in defaults) == sorted(vpcs)
    for call in (
        lambda: ec2.delete_security_group(GroupName="web"),
        lambda: ec2.authorize_security_group_ingress(
            GroupName="web", IpProtocol="tcp", FromPort=80, ToPort=80, CidrIp="10.0.0.0/8"
        ),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert _code(e) == "VPCIdNotSpecified"
    groups = ec2.describe_security_groups(GroupIds=gids)["SecurityGroups"]
    assert all(g["IpPermissions"] == [] for g in groups)
    # a name only one VPC uses still works
    ec2.delete_security_group(GroupId=gids[0])
    ec2.authorize_security_group_ingress(
        GroupName="web", IpProtocol="tcp", FromPort=80, ToPort=80, CidrIp="10.0.0.0/8"
    )
    ec2.delete_security_group(GroupName="web")
    assert (
        ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["web"]}])[
            "SecurityGroups"
        ]
        == []
    )


def test_egress_rules_and_every_peer_form(clients):
    ec2 = clients("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    gid = ec2.create_security_group(GroupName="out", Description="out", VpcId=vpc_id)["GroupId"]
    out = ec2.authorize_security_group_egress(
        GroupId=gid,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
                "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32", "Description": "v6"}],
                "PrefixListIds": [{"PrefixListId": "pl-0123abcd"}],
            }
        ],
    )["SecurityGroupRules"]
    assert [(r["IsEgress"], r["FromPort"], r["ToPort"]) for r in out] == [(True, 443, 443)] * 3
    by_peer = {r.get("CidrIpv4") or r.get("CidrIpv6") or r.get("PrefixListId"): r for r in out}
    assert set(by_peer) == {"10.0.0.0/8", "2001:db8::/32", "pl-0123abcd"}
    with pytest.raises(ClientError) as e:
        ec2.authorize_security_group_egress(
            GroupId=gid,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "PrefixListIds": [{"PrefixListId": "pl-0123abcd"}],
                }
            ],
        )
    assert _code(e) == "InvalidPermission.Duplicate"
    # the default allow-all egress goes, the three stay
    ec2.revoke_security_group_egress(
        GroupId=gid, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    g = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    assert g["IpPermissions"] == []
    (perm,) = g["IpPermissionsEgress"]
    assert perm["IpProtocol"] == "tcp" and perm["FromPort"] == 443
    assert perm["IpRanges"] == [{"CidrIp": "10.0.0.0/8"}]
    assert perm["Ipv6Ranges"] == [{"CidrIpv6": "2001:db8::/32", "Description": "v6"}]
    assert perm["PrefixListIds"] == [{"PrefixListId": "pl-0123abcd"}]
    pl_rule = by_peer["pl-0123abcd"]["SecurityGroupRuleId"]
    got = ec2.describe_security_group_rules(
        Filters=[{"Name": "security-group-rule-id", "Values": [pl_rule]}]
    )["SecurityGroupRules"]
    assert [(r["GroupId"], r["IsEgress"], r["PrefixListId"]) for r in got] == [
        (gid, True, "pl-0123abcd")
    ]
    ec2.revoke_security_group_egress(GroupId=gid, SecurityGroupRuleIds=[pl_rule])
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [gid]}])[
        "SecurityGroupRules"
    ]
    assert sorted(r["SecurityGroupRuleId"] for r in rules) == sorted(
        by_peer[p]["SecurityGroupRuleId"] for p in ("10.0.0.0/8", "2001:db8::/32")
    )
    with pytest.raises(ClientError) as e:
        ec2.revoke_security_group_egress(GroupId=gid, SecurityGroupRuleIds=[pl_rule])
    assert _code(e) == "InvalidSecurityGroupRuleId.NotFound"
    # a bad rule in a request changes nothing
    with pytest.raises(ClientError) as e:
        ec2.authorize_security_group_egress(
            GroupId=gid,
            IpPermissions=[
                {
                    "IpProtocol": "udp",
                    "FromPort": 53,
                    "ToPort": 53,
                    "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
                },
                {
                    "IpProtocol": "udp",
                    "FromPort": 53,
                    "ToPort": 53,
                    "IpRanges": [{"CidrIp": "10.0.0.1/8"}],
                },
            ],
        )
    assert _code(e) == "InvalidParameterValue"
    assert (
        len(
            ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [gid]}])[
                "SecurityGroupRules"
            ]
        )
        == 2
    )


def test_isolation_between_accounts(clients):
    prov, cons = clients("ec2", account=PROVIDER), clients("ec2", account=CONSUMER)
    vpc_id = prov.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    sub = prov.create_subnet(VpcId=vpc_id, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    gid = prov.create_security_group(GroupName="x", Description="x", VpcId=vpc_id)["GroupId"]
    eni = prov.create_network_interface(SubnetId=sub)["NetworkInterface"]["NetworkInterfaceId"]
    for call, kw, code in (
        (cons.describe_vpcs, {"VpcIds": [vpc_id]}, "InvalidVpcID.NotFound"),
        (cons.describe_subnets, {"SubnetIds": [sub]}, "InvalidSubnetID.NotFound"),
        (cons.describe_security_groups, {"GroupIds": [gid]}, "InvalidGroup.NotFound"),
        (
            cons.describe_network_interfaces,
            {"NetworkInterfaceIds": [eni]},
            "InvalidNetworkInterfaceID.NotFound",
        ),
        (cons.delete_vpc, {"VpcId": vpc_id}, "InvalidVpcID.NotFound"),
        (
            cons.create_subnet,
            {"VpcId": vpc_id, "CidrBlock": "10.20.2.0/24"},
            "InvalidVpcID.NotFound",
        ),
    ):
        with pytest.raises(ClientError) as e:
            call(**kw)
        assert _code(e) == code
    assert cons.describe_network_interfaces()["NetworkInterfaces"] == []
    assert prov.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["OwnerId"] == PROVIDER


def test_the_region_comes_from_the_credential_scope(clients):
    east, west = clients("ec2"), clients("ec2", region="eu-west-1")
    zones = west.describe_availability_zones()["AvailabilityZones"]
    assert sorted(z["ZoneId"] for z in zones) == ["euw1-az1", "euw1-az2", "euw1-az3"]
    assert {z["RegionName"] for z in zones} == {"eu-west-1"}
    assert [z["ZoneName"] for z in zones] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    vpc_id = west.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    sub = west.create_subnet(VpcId=vpc_id, CidrBlock="10.20.1.0/24", AvailabilityZone="eu-west-1b")
    assert sub["Subnet"]["SubnetArn"].startswith("arn:aws:ec2:eu-west-1:")
    assert sub["Subnet"]["AvailabilityZoneId"].startswith("euw1-az")
    assert [v["VpcId"] for v in west.describe_vpcs()["Vpcs"]] == [vpc_id]
    # the same account in another Region sees none of it
    assert east.describe_vpcs()["Vpcs"] == []
    with pytest.raises(ClientError) as e:
        east.describe_vpcs(VpcIds=[vpc_id])
    assert _code(e) == "InvalidVpcID.NotFound"
    with pytest.raises(ClientError) as e:
        east.create_subnet(VpcId=vpc_id, CidrBlock="10.20.2.0/24")
    assert _code(e) == "InvalidVpcID.NotFound"


def test_tags_and_paging(clients):
    ec2 = clients("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.20.{i}.0/24")["Subnet"]["SubnetId"]
        for i in range(7)
    ]
    ec2.create_tags(Resources=[vpc_id, subnets[0]], Tags=[{"Key": "team", "Value": "payments"}])
    tags = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["team"]}])["Tags"]
    assert sorted(t["ResourceType"] for t in tags) == ["subnet", "vpc"]
    ec2.delete_tags(Resources=[vpc_id], Tags=[{"Key": "team", "Value": "other"}])
    assert len(ec2.describe_tags()["Tags"]) == 2
    ec2.delete_tags(Resources=[vpc_id], Tags=[{"Key": "team"}])
    assert len(ec2.describe_tags()["Tags"]) == 1
    seen, token = [], None
    while True:
        kw = {"MaxResults": 5} | ({"NextToken": token} if token else {})
        page = ec2.describe_subnets(**kw)
        seen += [s["SubnetId"] for s in page["Subnets"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(subnets)
    paginator = ec2.get_paginator("describe_subnets")
    assert sum(len(p["Subnets"]) for p in paginator.paginate(PaginationConfig={"PageSize": 5})) == 7


def test_max_results_bounds_follow_each_operations_model(clients):
    ec2 = clients("ec2")
    ec2.create_vpc(CidrBlock="10.20.0.0/16")
    # DescribeRouteTablesMaxResults is 5-100, DescribeVpcsMaxResults 5-1000
    assert len(ec2.describe_route_tables(MaxResults=100)["RouteTables"]) == 1
    for call, top in ((ec2.describe_route_tables, 100), (ec2.describe_vpcs, 1000)):
        with pytest.raises(ClientError) as e:
            call(MaxResults=top + 1)
        assert _code(e) == "InvalidParameterValue" and str(top) in str(e.value)


def test_dry_run(clients):
    ec2 = clients("ec2")
    with pytest.raises(ClientError) as e:
        ec2.create_vpc(CidrBlock="10.0.0.0/16", DryRun=True)
    assert _code(e) == "DryRunOperation"
    assert ec2.describe_vpcs()["Vpcs"] == []


def test_waiters(clients):
    ec2 = clients("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.get_waiter("vpc_available").wait(
        VpcIds=[vpc_id], WaiterConfig={"Delay": 1, "MaxAttempts": 3}
    )
    sid = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    ec2.get_waiter("subnet_available").wait(
        SubnetIds=[sid], WaiterConfig={"Delay": 1, "MaxAttempts": 3}
    )


def test_network_interface_filters_terraform_uses(clients):
    ec2, elb = clients("ec2"), clients("elbv2")
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    other_vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    sa = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.1.0/24", AvailabilityZone="us-east-1a")
    sb = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.2.0/24", AvailabilityZone="us-east-1b")
    sa, sb = sa["Subnet"], sb["Subnet"]
    so = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    mine = ec2.create_network_interface(SubnetId=sa["SubnetId"], Description="app server")[
        "NetworkInterface"
    ]
    ec2.create_network_interface(SubnetId=so, Description="elsewhere")
    lb = elb.create_load_balancer(
        Name="svc", Type="network", Scheme="internal", Subnets=[sa["SubnetId"], sb["SubnetId"]]
    )["LoadBalancers"][0]
    lb_desc = "ELB " + lb["LoadBalancerArn"].split(":loadbalancer/")[1]

    def ids(*filters):
        got = ec2.describe_network_interfaces(
            Filters=[{"Name": n, "Values": list(v)} for n, v in filters]
        )["NetworkInterfaces"]
        return got

    assert [
        e["NetworkInterfaceId"] for e in ids(("network-interface-id", [mine["NetworkInterfaceId"]]))
    ] == [mine["NetworkInterfaceId"]]
    in_vpc = ids(("vpc-id", [vpc_id]))
    assert len(in_vpc) == 3 and {e["VpcId"] for e in in_vpc} == {vpc_id}
    in_b = ids(("subnet-id", [sb["SubnetId"]]))
    assert len(in_b) == 1 and in_b[0]["Description"] == lb_desc
    # what made each ENI shows in its description, requester and type
    assert in_b[0]["AvailabilityZone"] == "us-east-1b"
    assert in_b[0]["AvailabilityZoneId"] == sb["AvailabilityZoneId"]
    nodes = ids(("description", [lb_desc]))
    assert {e["SubnetId"] for e in nodes} == {sa["SubnetId"], sb["SubnetId"]}
    assert ids(("description", ["app *"])) == ids(
        ("requester-managed", ["false"]), ("vpc-id", [vpc_id])
    )
    elb_made = ids(("requester-id", ["amazon-elb"]))
    assert sorted(e["NetworkInterfaceId"] for e in elb_made) == sorted(
        e["NetworkInterfaceId"] for e in nodes
    )
    assert all(e["RequesterManaged"] and e["Status"] == "in-use" for e in elb_made)
    typed = ids(("interface-type", ["network_load_balancer"]))
    assert {e["NetworkInterfaceId"] for e in typed} == {e["NetworkInterfaceId"] for e in nodes}
    plain = ids(("interface-type", ["interface"]), ("vpc-id", [vpc_id]))
    assert [e["NetworkInterfaceId"] for e in plain] == [mine["NetworkInterfaceId"]]
    assert "RequesterId" not in plain[0] and plain[0]["Status"] == "available"
    assert ids(("vpc-id", [vpc_id]), ("subnet-id", [so])) == []
    with pytest.raises(ClientError) as e:
        ids(("no-such-filter", ["x"]))
    assert _code(e) == "InvalidParameterValue"
    # the allocator's addresses show in the subnet's count
    count = ec2.describe_subnets(SubnetIds=[sa["SubnetId"]])["Subnets"][0][
        "AvailableIpAddressCount"
    ]
    assert count == 251 - 2
