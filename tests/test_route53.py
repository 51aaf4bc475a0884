"""Route 53: hosted zones, record sets, VPC associations and the read helpers (boto3 and the
aws CLI against an embedded privlink)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from privlink.state import route53 as r53state

from .conftest import CONSUMER, PROVIDER
from .stacks import error_code as _code

VPC_A = "vpc-0a1b2c3d4e5f60718"
VPC_B = "vpc-0fedcba9876543210"


@pytest.fixture(autouse=True)
def known_vpcs(request):
    """VPC_A (us-east-1) and VPC_B (us-west-2) exist, with the fixed ids these tests use."""
    if "server" not in request.fixturenames:
        return
    server = request.getfixturevalue("server")
    from privlink.state.ec2 import Vpc

    def put():
        with server.app.store.transaction() as tx:
            for i, (vid, region) in enumerate(((VPC_A, "us-east-1"), (VPC_B, "us-west-2")), 200):
                tx.put(
                    Vpc(
                        id=vid,
                        account=PROVIDER,
                        region=region,
                        cidr_block="10.0.0.0/16",
                        cidr_association_id=f"vpc-cidr-assoc-{i}",
                        realm_block=i,
                    )
                )

    server.call(put)


@pytest.fixture
def r53(clients):
    return clients("route53", account=PROVIDER)


def _zone(r53, name, ref=None, **kw):
    out = r53.create_hosted_zone(Name=name, CallerReference=ref or f"ref-{name}", **kw)
    return out["HostedZone"]["Id"].split("/")[-1], out


def _rr(name, rtype, *values, ttl=300, **extra):
    rr = {
        "Name": name,
        "Type": rtype,
        "TTL": ttl,
        "ResourceRecords": [{"Value": v} for v in values],
    }
    rr.update(extra)
    return rr


def _change(r53, zid, *changes):
    return r53.change_resource_record_sets(
        HostedZoneId=zid,
        ChangeBatch={"Changes": [{"Action": a, "ResourceRecordSet": rr} for a, rr in changes]},
    )


def _records(r53, zid):
    return r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"]


# ------------------------------------------------------------------------- hosted zones


def test_public_zone_lifecycle(r53):
    zid, out = _zone(r53, "Example.COM")
    zone = out["HostedZone"]
    assert zone["Id"] == f"/hostedzone/{zid}" and zid.startswith("Z")
    assert zone["Name"] == "example.com." and zone["Config"]["PrivateZone"] is False
    assert zone["ResourceRecordSetCount"] == 2
    assert out["ChangeInfo"]["Id"].startswith("/change/C")
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert out["Location"].endswith(f"/2013-04-01/hostedzone/{zid}")
    ns = out["DelegationSet"]["NameServers"]
    assert len(ns) == 4
    assert [n.rsplit(".", 1)[-1] for n in ns] == ["com", "net", "org", "uk"]
    assert all(n.startswith("ns-") and ".awsdns-" in n for n in ns)

    got = r53.get_hosted_zone(Id=zid)
    assert got["HostedZone"]["Name"] == "example.com."
    assert got["DelegationSet"]["NameServers"] == ns
    assert "VPCs" not in got

    recs = _records(r53, zid)
    assert [(r["Name"], r["Type"]) for r in recs] == [
        ("example.com.", "NS"),
        ("example.com.", "SOA"),
    ]
    assert sorted(v["Value"] for v in recs[0]["ResourceRecords"]) == sorted(n + "." for n in ns)
    assert recs[0]["TTL"] == 172800 and recs[1]["TTL"] == 900
    assert recs[1]["ResourceRecords"][0]["Value"].endswith(
        "awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"
    )

    change = r53.get_change(Id=out["ChangeInfo"]["Id"])
    assert change["ChangeInfo"]["Status"] == "INSYNC"
    assert r53.get_hosted_zone_count()["HostedZoneCount"] == 1

    # a record that is not one of the defaults blocks deletion
    _change(r53, zid, ("CREATE", _rr("www.example.com", "A", "192.0.2.10")))
    with pytest.raises(ClientError) as e:
        r53.delete_hosted_zone(Id=zid)
    assert _code(e) == "HostedZoneNotEmpty"
    _change(r53, zid, ("DELETE", _rr("www.example.com", "A", "192.0.2.10")))
    deleted = r53.delete_hosted_zone(Id=zid)
    assert deleted["ChangeInfo"]["Status"] == "INSYNC"
    with pytest.raises(ClientError) as e:
        r53.get_hosted_zone(Id=zid)
    assert _code(e) == "NoSuchHostedZone"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_caller_reference_is_idempotent(r53):
    zid, out = _zone(r53, "idem.example", ref="same")
    zid2, out2 = _zone(r53, "idem.example", ref="same")
    assert zid2 == zid and out2["DelegationSet"] == out["DelegationSet"]
    with pytest.raises(ClientError) as e:
        _zone(r53, "other.example", ref="same")
    assert _code(e) == "HostedZoneAlreadyExists"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert r53.get_hosted_zone_count()["HostedZoneCount"] == 1


def test_zones_are_private_to_their_account(clients, r53):
    zid, _ = _zone(r53, "mine.example")
    other = clients("route53", account=CONSUMER)
    for call in (
        lambda: other.get_hosted_zone(Id=zid),
        lambda: other.list_resource_record_sets(HostedZoneId=zid),
        lambda: _change(other, zid, ("CREATE", _rr("x.mine.example", "A", "192.0.2.1"))),
        lambda: other.delete_hosted_zone(Id=zid),
        lambda: other.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zid),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert _code(e) == "NoSuchHostedZone"
    assert other.list_hosted_zones()["HostedZones"] == []


def test_bad_zone_names_and_input(r53):
    for bad in ("a..example.com", "x" * 64 + ".com", "com"):
        with pytest.raises(ClientError) as e:
            _zone(r53, bad)
        assert _code(e) == "InvalidDomainName", bad
    with pytest.raises(ClientError) as e:
        r53.create_hosted_zone(
            Name="p.example", CallerReference="p", HostedZoneConfig={"PrivateZone": True}
        )
    assert _code(e) == "InvalidInput"
    with pytest.raises(ClientError) as e:
        r53.create_hosted_zone(
            Name="p.example",
            CallerReference="p",
            VPC={"VPCId": "vpc-nothex!", "VPCRegion": "us-east-1"},
        )
    assert _code(e) == "InvalidVPCId"
    assert r53.list_hosted_zones()["HostedZones"] == []


def test_list_hosted_zones_pages(r53):
    ids = sorted(_zone(r53, f"z{i}.example")[0] for i in range(7))
    seen, marker = [], None
    while True:
        kw = {"MaxItems": "3"}
        if marker:
            kw["Marker"] = marker
        page = r53.list_hosted_zones(**kw)
        assert page["MaxItems"] == "3"
        seen += [z["Id"].split("/")[-1] for z in page["HostedZones"]]
        if not page["IsTruncated"]:
            break
        marker = page["NextMarker"]
    assert seen == ids
    paginated = [
        z["Id"].split("/")[-1]
        for p in r53.get_paginator("list_hosted_zones").paginate(PaginationConfig={"PageSize": 2})
        for z in p["HostedZones"]
    ]
    assert paginated == ids


def test_list_hosted_zones_by_name_orders_by_reversed_labels(r53):
    names = [
        "b.example.org",
        "a.example.com",
        "example.com",
        "www.a.example.com",
        "zz.net",
        "example-a.com",
    ]
    ids = {n: _zone(r53, n)[0] for n in names}
    dup = _zone(r53, "example.com", ref="dup")[0]
    out = r53.list_hosted_zones_by_name()
    got = [z["Name"] for z in out["HostedZones"]]
    assert got == [
        "example-a.com.",  # "com.example-a." < "com.example.": '-' sorts before '.'
        "example.com.",
        "example.com.",
        "a.example.com.",
        "www.a.example.com.",
        "zz.net.",
        "b.example.org.",
    ]
    same = [z["Id"].split("/")[-1] for z in out["HostedZones"][1:3]]
    assert same == sorted([ids["example.com"], dup])

    page = r53.list_hosted_zones_by_name(DNSName="a.example.com", MaxItems="2")
    assert page["DNSName"] == "a.example.com."
    assert [z["Name"] for z in page["HostedZones"]] == ["a.example.com.", "www.a.example.com."]
    assert page["IsTruncated"] and page["NextDNSName"] == "zz.net."
    assert page["NextHostedZoneId"] == ids["zz.net"]
    nxt = r53.list_hosted_zones_by_name(
        DNSName=page["NextDNSName"], HostedZoneId=page["NextHostedZoneId"]
    )
    assert [z["Name"] for z in nxt["HostedZones"]] == ["zz.net.", "b.example.org."]
    assert nxt["IsTruncated"] is False


def test_tags(r53):
    zid, _ = _zone(r53, "tags.example")
    r53.change_tags_for_resource(
        ResourceType="hostedzone",
        ResourceId=zid,
        AddTags=[{"Key": "env", "Value": "ci"}, {"Key": "team", "Value": "net"}],
    )
    r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zid, RemoveTagKeys=["team"])
    got = r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zid)["ResourceTagSet"]
    assert got == {
        "ResourceType": "hostedzone",
        "ResourceId": zid,
        "Tags": [{"Key": "env", "Value": "ci"}],
    }
    many = r53.list_tags_for_resources(ResourceType="hostedzone", ResourceIds=[zid])
    assert many["ResourceTagSets"][0]["Tags"] == [{"Key": "env", "Value": "ci"}]
    with pytest.raises(ClientError) as e:
        r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId="ZNOPE")
    assert _code(e) == "NoSuchHostedZone"


# ----------------------------------------------------------------------------- records


def test_record_changes_and_normalisation(r53):
    zid, _ = _zone(r53, "example.com")
    out = _change(
        r53,
        zid,
        ("CREATE", _rr("WWW.Example.com", "A", "192.0.2.1", "192.0.2.2", ttl=60)),
        ("CREATE", _rr("_token.example.com.", "TXT", '"vpce:abc123"')),
        ("CREATE", _rr("*.example.com", "CNAME", "www.example.com")),
        (
            "CREATE",
            {
                "Name": "api.example.com",
                "Type": "A",
                "AliasTarget": {
                    "HostedZoneId": zid,
                    "DNSName": "WWW.example.com",
                    "EvaluateTargetHealth": False,
                },
            },
        ),
        ("CREATE", _rr("w.example.com", "A", "192.0.2.7", SetIdentifier="blue", Weight=10)),
        ("CREATE", _rr("w.example.com", "A", "192.0.2.8", SetIdentifier="green", Weight=90)),
    )
    assert out["ChangeInfo"]["Status"] == "INSYNC"
    assert r53.get_change(Id=out["ChangeInfo"]["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    recs = {(r["Name"], r["Type"], r.get("SetIdentifier")): r for r in _records(r53, zid)}
    assert recs[("www.example.com.", "A", None)]["TTL"] == 60
    assert recs[("_token.example.com.", "TXT", None)]["ResourceRecords"] == [
        {"Value": '"vpce:abc123"'}
    ]
    assert ("\\052.example.com.", "CNAME", None) in recs
    alias = recs[("api.example.com.", "A", None)]
    assert alias["AliasTarget"] == {
        "HostedZoneId": zid,
        "DNSName": "www.example.com.",
        "EvaluateTargetHealth": False,
    }
    assert "TTL" not in alias
    assert recs[("w.example.com.", "A", "blue")]["Weight"] == 10
    assert r53.get_hosted_zone(Id=zid)["HostedZone"]["ResourceRecordSetCount"] == 8

    # UPSERT replaces; DELETE needs the exact current values
    _change(r53, zid, ("UPSERT", _rr("www.example.com", "A", "192.0.2.9", ttl=30)))
    with pytest.raises(ClientError) as e:
        _change(r53, zid, ("DELETE", _rr("www.example.com", "A", "192.0.2.1", ttl=30)))
    assert _code(e) == "InvalidChangeBatch"
    assert "but the values provided do not match the current values" in str(e.value)
    _change(r53, zid, ("DELETE", _rr("www.example.com", "A", "192.0.2.9", ttl=30)))
    assert ("www.example.com.", "A") not in {(r["Name"], r["Type"]) for r in _records(r53, zid)}


def test_batches_are_atomic_with_aws_messages(r53):
    zid, _ = _zone(r53, "example.com")
    _change(r53, zid, ("CREATE", _rr("a.example.com", "A", "192.0.2.1")))
    before = _records(r53, zid)
    with pytest.raises(ClientError) as e:
        _change(
            r53,
            zid,
            ("CREATE", _rr("b.example.com", "A", "192.0.2.2")),
            ("CREATE", _rr("a.example.com", "A", "192.0.2.3")),
            ("DELETE", _rr("gone.example.com", "A", "192.0.2.4")),
        )
    assert _code(e) == "InvalidChangeBatch"
    msg = e.value.response["Error"]["Message"]
    assert (
        "Tried to create resource record set [name='a.example.com.', type='A'] but it already exists"
        in msg
    )
    assert (
        "Tried to delete resource record set [name='gone.example.com.', type='A'] but it was not found"
        in msg
    )
    assert _records(r53, zid) == before  # b.example.com was not created

    # DELETE then CREATE of one record set in a batch is the classic update
    _change(
        r53,
        zid,
        ("DELETE", _rr("a.example.com", "A", "192.0.2.1")),
        ("CREATE", _rr("a.example.com", "A", "192.0.2.5")),
    )
    with pytest.raises(ClientError) as e:
        _change(
            r53,
            zid,
            ("CREATE", _rr("c.example.com", "A", "192.0.2.1")),
            ("CREATE", _rr("c.example.com", "A", "192.0.2.2")),
        )
    assert "invalid set of changes" in str(e.value)


@pytest.mark.parametrize(
    "rr, fragment",
    [
        (_rr("t.example.com", "TXT", "unquoted"), "enclosed in quotation marks"),
        (_rr("a.example.com", "A", "300.1.1.1"), "ARRDATAIllegalIPv4Address"),
        (_rr("a.example.com", "AAAA", "192.0.2.1"), "AAAARRDATAIllegalIPv6Address"),
        (_rr("x.other.org", "A", "192.0.2.1"), "is not permitted in zone example.com."),
        (_rr("example.com", "CNAME", "x.example.net"), "not permitted at apex"),
        (_rr("www.example.com", "CNAME", "x.example.net"), "conflicts with other records"),
        (_rr("example.com", "SOA", "x"), "already exists"),
    ],
)
def test_invalid_records(r53, rr, fragment):
    zid, _ = _zone(r53, "example.com")
    _change(r53, zid, ("CREATE", _rr("www.example.com", "A", "192.0.2.1")))
    with pytest.raises(ClientError) as e:
        _change(r53, zid, ("CREATE", rr))
    assert _code(e) == "InvalidChangeBatch"
    assert fragment in e.value.response["Error"]["Message"]


def test_default_records_cannot_be_deleted_and_shape_errors(r53):
    zid, _ = _zone(r53, "example.com")
    soa = [r for r in _records(r53, zid) if r["Type"] == "SOA"][0]
    with pytest.raises(ClientError) as e:
        _change(r53, zid, ("DELETE", soa))
    assert "exactly one SOA" in str(e.value)
    with pytest.raises(ClientError) as e:
        _change(r53, zid, ("CREATE", {"Name": "x.example.com", "Type": "A"}))
    assert _code(e) == "InvalidInput"
    with pytest.raises(ClientError) as e:
        _change(r53, zid, ("CREATE", _rr("x.example.com", "A", "192.0.2.1", SetIdentifier="a")))
    assert _code(e) == "InvalidInput"


def test_list_resource_record_sets_order_and_paging(r53):
    zid, _ = _zone(r53, "example.com")
    names = ["b.example.com", "a.b.example.com", "z.example.com", "a.example.com", "example.com"]
    _change(r53, zid, *[("CREATE", _rr(n, "TXT", '"x"')) for n in names])
    _change(r53, zid, ("CREATE", _rr("a.example.com", "MX", "10 mail.example.com")))
    order = [(r["Name"], r["Type"]) for r in _records(r53, zid)]
    assert order == [
        ("example.com.", "NS"),
        ("example.com.", "SOA"),
        ("example.com.", "TXT"),
        ("a.example.com.", "MX"),
        ("a.example.com.", "TXT"),
        ("b.example.com.", "TXT"),
        ("a.b.example.com.", "TXT"),
        ("z.example.com.", "TXT"),
    ]
    # what Terraform does to read one record set
    one = r53.list_resource_record_sets(
        HostedZoneId=zid, StartRecordName="a.example.com", StartRecordType="TXT", MaxItems="1"
    )
    assert [(r["Name"], r["Type"]) for r in one["ResourceRecordSets"]] == [
        ("a.example.com.", "TXT")
    ]
    assert one["IsTruncated"] and one["NextRecordName"] == "b.example.com."
    assert one["NextRecordType"] == "TXT" and one["MaxItems"] == "1"
    # page through with the paginator
    pages = list(
        r53.get_paginator("list_resource_record_sets").paginate(
            HostedZoneId=zid, PaginationConfig={"PageSize": 3}
        )
    )
    assert len(pages) == 3
    assert [(r["Name"], r["Type"]) for p in pages for r in p["ResourceRecordSets"]] == order
    with pytest.raises(ClientError) as e:
        r53.list_resource_record_sets(HostedZoneId=zid, StartRecordType="A")
    assert _code(e) == "InvalidInput"


# ---------------------------------------------------------------------- private zones


def test_private_zone_and_vpc_association(r53):
    zid, out = _zone(
        r53,
        "internal.example.com",
        VPC={"VPCRegion": "us-east-1", "VPCId": VPC_A},
        HostedZoneConfig={"Comment": "private", "PrivateZone": True},
    )
    assert out["HostedZone"]["Config"] == {"Comment": "private", "PrivateZone": True}
    assert out["VPC"] == {"VPCRegion": "us-east-1", "VPCId": VPC_A}
    got = r53.get_hosted_zone(Id=zid)
    assert got["VPCs"] == [{"VPCRegion": "us-east-1", "VPCId": VPC_A}]
    assert "DelegationSet" not in got

    with pytest.raises(ClientError) as e:
        r53.associate_vpc_with_hosted_zone(
            HostedZoneId=zid, VPC={"VPCRegion": "us-east-1", "VPCId": VPC_A}
        )
    assert _code(e) == "ConflictingDomainExists"
    with pytest.raises(ClientError) as e:
        r53.disassociate_vpc_from_hosted_zone(
            HostedZoneId=zid, VPC={"VPCRegion": "us-east-1", "VPCId": VPC_A}
        )
    assert _code(e) == "LastVPCAssociation"
    with pytest.raises(ClientError) as e:
        r53.disassociate_vpc_from_hosted_zone(
            HostedZoneId=zid, VPC={"VPCRegion": "us-east-1", "VPCId": VPC_B}
        )
    assert _code(e) == "VPCAssociationNotFound"

    r53.associate_vpc_with_hosted_zone(
        HostedZoneId=zid, VPC={"VPCRegion": "us-west-2", "VPCId": VPC_B}
    )
    assert len(r53.get_hosted_zone(Id=zid)["VPCs"]) == 2
    by_vpc = r53.list_hosted_zones_by_vpc(VPCId=VPC_B, VPCRegion="us-west-2")
    assert by_vpc["HostedZoneSummaries"] == [
        {"HostedZoneId": zid, "Name": "internal.example.com.", "Owner": {"OwningAccount": PROVIDER}}
    ]
    # a second private zone of the same name cannot share a VPC
    with pytest.raises(ClientError) as e:
        _zone(
            r53,
            "internal.example.com",
            ref="second",
            VPC={"VPCRegion": "us-west-2", "VPCId": VPC_B},
        )
    assert _code(e) == "ConflictingDomainExists"
    r53.disassociate_vpc_from_hosted_zone(
        HostedZoneId=zid, VPC={"VPCRegion": "us-east-1", "VPCId": VPC_A}
    )
    assert (
        r53.list_hosted_zones_by_vpc(VPCId=VPC_A, VPCRegion="us-east-1")["HostedZoneSummaries"]
        == []
    )
    private = r53.list_hosted_zones(HostedZoneType="PrivateHostedZone")["HostedZones"]
    assert [z["Id"] for z in private] == [f"/hostedzone/{zid}"]

    pub, _ = _zone(r53, "public.example")
    with pytest.raises(ClientError) as e:
        r53.associate_vpc_with_hosted_zone(
            HostedZoneId=pub, VPC={"VPCRegion": "us-east-1", "VPCId": VPC_A}
        )
    assert _code(e) == "PublicZoneVPCAssociation"


# ----------------------------------------------------------------------- read helpers


def test_dns_read_helpers_and_txt_lookup(server, clients, r53):
    store = server.app.store
    pub, _ = _zone(r53, "example.com")
    sub, _ = _zone(r53, "internal.example.com")
    priv, _ = _zone(
        r53, "internal.example.com", ref="priv", VPC={"VPCRegion": "us-east-1", "VPCId": VPC_A}
    )
    _change(
        r53,
        sub,
        ("CREATE", _rr("_abc.payments.internal.example.com", "TXT", '"vpce:token-1"')),
        ("CREATE", _rr("payments.internal.example.com", "A", "198.51.100.7")),
        (
            "CREATE",
            _rr("alias.internal.example.com", "CNAME", "_abc.payments.internal.example.com"),
        ),
    )
    _change(
        r53, pub, ("CREATE", _rr("_abc.payments.internal.example.com", "TXT", '"in the parent"'))
    )
    _change(r53, priv, ("CREATE", _rr("payments.internal.example.com", "A", "10.0.0.5")))

    def read():
        return {
            "txt": r53state.find_public_txt(store, "_abc.payments.internal.example.com"),
            "txt_cname": r53state.find_public_txt(store, "alias.internal.example.com."),
            "none": r53state.find_public_txt(store, "_nothing.internal.example.com"),
            "public": r53state.public_zone_for(store, "payments.internal.example.com").id,
            "apex": r53state.public_zone_for(store, "example.com").id,
            "private": [z.id for z in r53state.private_zones_for_vpc(store, VPC_A)],
            "private_for": r53state.private_zone_for(
                store, VPC_A, "x.payments.internal.example.com"
            ).id,
            "other_vpc": r53state.private_zones_for_vpc(store, VPC_B),
            "auth_in_vpc": r53state.authoritative_zone(
                store, "payments.internal.example.com", VPC_A
            ).id,
            "auth_public": r53state.authoritative_zone(store, "payments.internal.example.com").id,
            "auth_other_vpc": r53state.authoritative_zone(
                store, "x.internal.example.com", VPC_B
            ).id,
            "a": [
                r.values
                for r in r53state.record_sets_at(
                    store,
                    store.get(r53state.HostedZone, priv),
                    "payments.internal.example.com",
                    "A",
                )
            ],
        }

    got = server.call(read)
    assert got["txt"] == ["vpce:token-1"]  # the most specific public zone answers
    assert got["txt_cname"] == ["vpce:token-1"]
    assert got["none"] == []
    assert got["public"] == sub and got["apex"] == pub
    assert got["private"] == [priv] and got["private_for"] == priv
    assert got["other_vpc"] == []
    assert got["auth_in_vpc"] == priv and got["auth_public"] == sub
    assert got["auth_other_vpc"] == sub
    assert got["a"] == [["10.0.0.5"]]

    # another account's public zone of the same name: the older zone stays authoritative
    other = clients("route53", account=CONSUMER)
    later, _ = _zone(other, "internal.example.com")
    _change(other, later, ("CREATE", _rr("_abc.payments.internal.example.com", "TXT", '"hijack"')))
    assert server.call(r53state.find_public_txt, store, "_abc.payments.internal.example.com") == [
        "vpce:token-1"
    ]


def test_name_helpers():
    assert r53state.canonical_name("*.Example.COM") == "\\052.example.com."
    assert r53state.canonical_name("\\052.example.com.") == "\\052.example.com."
    assert r53state.presentation("\\052.example.com.") == "*.example.com."
    assert r53state.unquote_txt('"v=spf1 " "include:x"') == "v=spf1 include:x"
    assert r53state.unquote_txt('"a\\"b"') == 'a"b'
    assert r53state.quoted_strings("no quotes") is None
    with pytest.raises(r53state.BadName):
        r53state.canonical_name("a..b")


def test_state_survives_restart(tmp_path):
    from privlink.testing import EmbeddedPrivlink

    from .conftest import Clients, make_settings

    settings = make_settings(ephemeral=False, state_dir=str(tmp_path))
    with EmbeddedPrivlink(settings) as pl:
        r53 = Clients(pl.endpoint_url)("route53")
        zid, _ = _zone(r53, "durable.example")
        _change(r53, zid, ("CREATE", _rr("_v.durable.example", "TXT", '"kept"')))
    with EmbeddedPrivlink(make_settings(ephemeral=False, state_dir=str(tmp_path))) as pl:
        r53 = Clients(pl.endpoint_url)("route53")
        assert len(_records(r53, zid)) == 3
        assert pl.call(r53state.find_public_txt, pl.app.store, "_v.durable.example") == ["kept"]


# ------------------------------------------------------------------------------ aws CLI


def test_aws_cli_zone_and_records(aws, tmp_path):
    out = aws("route53", "create-hosted-zone", "--name", "cli.example", "--caller-reference", "c1")
    zid = out["HostedZone"]["Id"].split("/")[-1]
    batch = tmp_path / "batch.json"
    batch.write_text(
        json.dumps(
            {
                "Changes": [
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": _rr("_verify.cli.example", "TXT", '"vpce:cli"'),
                    }
                ]
            }
        )
    )
    change = aws(
        "route53",
        "change-resource-record-sets",
        "--hosted-zone-id",
        zid,
        "--change-batch",
        f"file://{batch}",
    )
    aws("route53", "wait", "resource-record-sets-changed", "--id", change["ChangeInfo"]["Id"])
    recs = aws("route53", "list-resource-record-sets", "--hosted-zone-id", zid)[
        "ResourceRecordSets"
    ]
    assert [r["Type"] for r in recs] == ["NS", "SOA", "TXT"]
    zones = aws("route53", "list-hosted-zones-by-name", "--dns-name", "cli.example")["HostedZones"]
    assert zones[0]["Name"] == "cli.example."
    proc = aws.run("route53", "get-hosted-zone", "--id", "ZDOESNOTEXIST", check=False)
    assert proc.returncode != 0 and "NoSuchHostedZone" in proc.stderr


# ------------------------------------------------------------------------ robustness


def test_mutated_requests_get_aws_errors_never_internal_ones(server):
    """Every element of valid request bodies removed in turn, and every value replaced by
    junk: the answer is an AWS error or a success, never a 500."""
    import urllib.error
    import urllib.request
    import xml.etree.ElementTree as ET

    from .conftest import Clients

    # unsigned raw requests act as the default account, so the zones belong to it
    r53 = Clients(server.endpoint_url)("route53", account="000000000000")
    zid, _ = _zone(r53, "f.example")
    pz, _ = _zone(r53, "p.example", VPC={"VPCId": VPC_A, "VPCRegion": "us-east-1"})
    sent = {}
    r53.meta.events.register(
        "before-send.route53.*",
        lambda request, **kw: sent.__setitem__("last", (request.method, request.url, request.body)),
    )
    calls = [
        lambda: _change(
            r53,
            zid,
            ("CREATE", _rr("a.f.example", "A", "192.0.2.1", ttl=5)),
            ("UPSERT", {"Name": "b.f.example", "Type": "A", "AliasTarget": {
                "HostedZoneId": zid, "DNSName": "a.f.example", "EvaluateTargetHealth": False}}),
            ("CREATE", _rr("w.f.example", "A", "192.0.2.2", SetIdentifier="x", Weight=3)),
        ),
        lambda: r53.create_hosted_zone(
            Name="g.example", CallerReference="y", VPC={"VPCId": VPC_A, "VPCRegion": "us-east-1"},
            HostedZoneConfig={"Comment": "x", "PrivateZone": True},
        ),
        lambda: r53.associate_vpc_with_hosted_zone(
            HostedZoneId=pz, VPC={"VPCId": VPC_B, "VPCRegion": "us-west-2"}, Comment="x"
        ),
        lambda: r53.change_tags_for_resource(
            ResourceType="hostedzone", ResourceId=zid, AddTags=[{"Key": "a", "Value": "b"}],
            RemoveTagKeys=["c"],
        ),
    ]  # fmt: skip
    statuses = []
    for call in calls:
        call()
        method, url, body = sent["last"]
        root = ET.fromstring(body)
        edges = []

        def walk(el, edges=edges):
            for c in list(el):
                edges.append((el, c))
                walk(c)

        walk(root)
        variants = []
        for parent, child in edges:
            i = list(parent).index(child)
            parent.remove(child)
            variants.append(ET.tostring(root))
            parent.insert(i, child)
            if len(child) == 0:
                old = child.text
                for junk in ("", "x" * 300, "-1", "\u00e9\u4e2d", "99999999999999999999"):
                    child.text = junk
                    variants.append(ET.tostring(root))
                child.text = old
        for body in variants:
            req = urllib.request.Request(url, data=body, method=method)
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    statuses.append(resp.status)
            except urllib.error.HTTPError as e:
                answer = e.read()
                assert e.code < 500, (body, answer)
                assert b"<Code>" in answer
                statuses.append(e.code)
    assert len(statuses) > 150 and any(s >= 400 for s in statuses)
