"""The sans-IO DNS engine: every answering rule, without sockets."""

from __future__ import annotations

import struct
import time

import dns.flags
import dns.message
import dns.opcode
import dns.rdataclass
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import pytest

from privlink.dns import (
    MAX_CHAIN,
    CallbackZone,
    Record,
    StaticZone,
    View,
    answer,
    public_view,
    resolve,
    vpc_view,
)

from .dns_support import addresses, ask, rcode, values

SVC = "vpce-svc-0123456789abcdef0"
REGIONAL = f"vpce-0a1b2c3d4e5f6a7b8-abcd1234.{SVC}.us-east-1.vpce.amazonaws.com"
ZONAL_A = f"vpce-0a1b2c3d4e5f6a7b8-abcd1234-us-east-1a.{SVC}.us-east-1.vpce.amazonaws.com"
FRIENDLY = "payments.internal.example.com"


def soa(origin: str, ttl: int = 900, minimum: int = 86400) -> Record:
    return Record(
        origin,
        "SOA",
        ttl,
        (f"ns-1.awsdns-01.org. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 {minimum}",),
    )


# -- the split-horizon world of the seed article ----------------------------------------------


@pytest.fixture
def world():
    public_zone = StaticZone(
        "example.com",
        [
            soa("example.com", 900, 300),
            Record("example.com", "NS", 172800, ("ns-1.awsdns-01.org.", "ns-2.awsdns-02.net.")),
            Record("www.example.com", "A", 300, ("198.51.100.10",)),
            Record("mail.example.com", "MX", 300, ("10 mx.example.com.",)),
        ],
        label="public:example.com",
    )
    public_internal = StaticZone(
        "internal.example.com",
        [
            Record(f"_a1b2c3d4.{FRIENDLY}", "TXT", 1800, ('"vpce:abc123XYZ"',)),
        ],
        label="public:internal.example.com",
    )
    provided = StaticZone(
        "us-east-1.vpce.amazonaws.com",
        [
            Record(REGIONAL, "A", 60, ("127.3.1.10", "127.3.2.10")),
            Record(ZONAL_A, "A", 60, ("127.3.1.10",)),
        ],
        label="provided:vpce",
    )
    public = public_view(provided=[provided], hosted_zones=[public_zone, public_internal])
    managed = StaticZone(
        FRIENDLY, [Record(FRIENDLY, "A", 60, ("127.3.1.10", "127.3.2.10"))], label="managed"
    )
    phz = StaticZone(
        "internal.example.com",
        [Record("db.internal.example.com", "A", 300, ("127.3.5.5",))],
        label="phz:internal",
    )
    consumer = vpc_view(
        private_zones=[phz], managed_zones=[managed], provided=[provided], public=public
    )
    other = vpc_view(provided=[provided], public=public)
    return {
        "public": public,
        "consumer": consumer,
        "other": other,
        "managed": managed,
        "phz": phz,
        "provided": provided,
    }


# -- precedence (AWS's) -------------------------------------------------------------------------


def test_friendly_name_resolves_to_the_enis_only_in_the_consumer_vpc(world):
    r, _ = ask(world["consumer"], FRIENDLY)
    assert rcode(r) == "NOERROR"
    assert addresses(r) == ["127.3.1.10", "127.3.2.10"]
    # Another VPC and the internet answer from the public zone internal.example.com, where
    # the name exists only as the parent of the verification TXT record: NODATA.
    for view in ("other", "public"):
        r, _ = ask(world[view], FRIENDLY)
        assert rcode(r) == "NOERROR" and r.answer == []
        assert r.authority[0].name.to_text() == "internal.example.com."
        r, _ = ask(world[view], "billing.internal.example.com")
        assert rcode(r) == "NXDOMAIN" and r.answer == []


def test_managed_zone_beats_a_less_specific_private_zone(world):
    assert world["consumer"].explain(FRIENDLY) == "managed"
    assert world["consumer"].explain("db.internal.example.com") == "phz:internal"
    r, _ = ask(world["consumer"], "db.internal.example.com")
    assert addresses(r) == ["127.3.5.5"]


def test_conflicting_private_zone_shadows_the_managed_zone(world):
    """Runbook: a manual record in a private zone for the same name wins over the endpoint's."""
    conflicting = StaticZone(
        FRIENDLY, [Record(FRIENDLY, "A", 30, ("127.3.9.9",))], label="phz:conflict"
    )
    view = vpc_view(
        private_zones=[conflicting],
        managed_zones=[world["managed"]],
        public=world["public"],
    )
    r, _ = ask(view, FRIENDLY)
    assert addresses(r) == ["127.3.9.9"]
    assert r.answer[0].ttl == 30
    # Whatever order the integration lists them in, the tier puts private zones first.
    view = vpc_view(managed_zones=[world["managed"]], private_zones=[conflicting])
    assert view.explain(FRIENDLY) == "phz:conflict"


def test_private_zone_nxdomain_does_not_fall_through_to_the_public_view(world):
    phz = StaticZone(
        "example.com",
        [Record("intranet.example.com", "A", 60, ("127.3.7.7",))],
        label="phz:example",
    )
    view = vpc_view(private_zones=[phz], public=world["public"])
    r, _ = ask(view, "www.example.com")
    assert rcode(r) == "NXDOMAIN"
    r, _ = ask(world["other"], "www.example.com")
    assert addresses(r) == ["198.51.100.10"]


def test_regional_and_zonal_names(world):
    for view in ("consumer", "other", "public"):
        r, _ = ask(world[view], REGIONAL)
        assert addresses(r) == ["127.3.1.10", "127.3.2.10"]
    r, _ = ask(world["consumer"], ZONAL_A)
    assert addresses(r) == ["127.3.1.10"]


def test_private_zone_shadows_aws_provided_names(world):
    phz = StaticZone("vpce.amazonaws.com", [], label="phz:vpce")
    view = vpc_view(private_zones=[phz], provided=[world["provided"]])
    assert rcode(ask(view, REGIONAL)[0]) == "NXDOMAIN"


def test_provided_names_answer_before_the_fallback(world):
    shadow = StaticZone("amazonaws.com", [], label="public:amazonaws")
    public = public_view(hosted_zones=[shadow])
    view = vpc_view(provided=[world["provided"]], public=public)
    assert addresses(ask(view, REGIONAL)[0]) == ["127.3.1.10", "127.3.2.10"]
    assert rcode(ask(view, "sts.amazonaws.com")[0]) == "NXDOMAIN"


def test_public_view_most_specific_zone_wins(world):
    r, _ = ask(world["public"], f"_a1b2c3d4.{FRIENDLY}", "TXT")
    assert values(r, "TXT") == ['"vpce:abc123XYZ"']
    assert r.answer[0].ttl == 1800
    assert world["public"].explain("x.internal.example.com") == "public:internal.example.com"
    assert world["public"].explain("x.example.com") == "public:example.com"


def test_same_origin_ties_go_to_the_first_zone_listed():
    a = StaticZone("example.org", [Record("a.example.org", "A", 1, ("127.0.0.1",))], label="first")
    b = StaticZone("example.org", [Record("a.example.org", "A", 1, ("127.0.0.2",))], label="second")
    assert addresses(ask(View([[a, b]]), "a.example.org")[0]) == ["127.0.0.1"]
    assert addresses(ask(View([[b, a]]), "a.example.org")[0]) == ["127.0.0.2"]


def test_outside_every_zone_is_refused_without_fallback(world):
    for view in ("public", "consumer"):
        r, _ = ask(world[view], "www.example.net")
        assert rcode(r) == "REFUSED" and r.answer == [] and r.authority == []
    assert rcode(ask(world["public"], ".", "NS")[0]) == "REFUSED"
    assert world["public"].explain("example.net").startswith("refused")


def test_no_view_is_refused():
    q = dns.message.make_query("a.example.com", "A")
    r = dns.message.from_wire(answer(q.to_wire(), None))
    assert rcode(r) == "REFUSED"


def test_silent_view_sends_nothing(world):
    view = vpc_view(private_zones=[world["phz"]], dns_support=False)
    q = dns.message.make_query("db.internal.example.com", "A")
    assert answer(q.to_wire(), view) is None


# -- record types, TTLs ------------------------------------------------------------------------


@pytest.fixture
def zone_view():
    z = StaticZone(
        "example.org",
        [
            soa("example.org", ttl=3600, minimum=60),
            Record("example.org", "NS", 86400, ("ns-1.example.net.",)),
            Record("host.example.org", "A", 123, ("127.0.0.7", "127.0.0.8")),
            Record("host.example.org", "AAAA", 77, ("::1",)),
            Record("host.example.org", "TXT", 55, ('"v=spf1 -all"', '"two words" here')),
            Record("www.example.org", "CNAME", 44, ("host.example.org",)),
            Record("deep.a.b.example.org", "A", 5, ("127.0.0.9",)),
            Record("*.wild.example.org", "A", 11, ("127.0.0.11",)),
            Record("*.wild.example.org", "TXT", 11, ('"wild"',)),
            Record("named.wild.example.org", "TXT", 12, ('"named"',)),
            Record("x.sub.wild.example.org", "A", 12, ("127.0.0.12",)),
            Record("delegated.example.org", "NS", 300, ("ns.elsewhere.net.",)),
            Record("alias.example.org", "A", alias="host.example.org"),
            Record("alias-to-nothing.example.org", "A", alias="missing.example.org"),
            Record("bad.example.org", "A", 60, ("not-an-address",)),
            Record("outside.example.net", "A", 60, ("127.0.0.1",)),
        ],
    )
    return View([[z]]), z


def test_a_aaaa_txt_keep_their_ttls(zone_view):
    view, _ = zone_view
    r, _ = ask(view, "host.example.org", "A")
    assert addresses(r) == ["127.0.0.7", "127.0.0.8"] and r.answer[0].ttl == 123
    r, _ = ask(view, "host.example.org", "AAAA")
    assert values(r) == ["::1"] and r.answer[0].ttl == 77
    r, _ = ask(view, "host.example.org", "TXT")
    assert sorted(values(r)) == ['"two words" "here"', '"v=spf1 -all"'] and r.answer[0].ttl == 55


def test_soa_and_ns_at_the_apex(zone_view):
    view, _ = zone_view
    r, _ = ask(view, "example.org", "SOA")
    assert r.answer[0].ttl == 3600 and r.answer[0][0].minimum == 60
    r, _ = ask(view, "example.org", "NS")
    assert values(r) == ["ns-1.example.net."]


def test_zone_without_soa_gets_the_private_zone_soa():
    view = View([[StaticZone("example.org", [])]])
    r, _ = ask(view, "nope.example.org")
    assert rcode(r) == "NXDOMAIN"
    assert r.authority[0].ttl == 900  # min(900, 86400)
    assert r.authority[0][0].mname.to_text() == "ns-1536.awsdns-00.co.uk."


def test_bad_records_are_left_out_and_reported(zone_view):
    view, zone = zone_view
    assert any("bad.example.org" in e for e in zone.errors)
    assert any("outside.example.net" in e for e in zone.errors)
    assert rcode(ask(view, "bad.example.org")[0]) == "NXDOMAIN"


def test_same_name_and_type_records_merge():
    z = StaticZone(
        "example.org",
        [
            Record("a.example.org", "A", 60, ("127.0.0.1",)),
            Record("a.example.org", "A", 30, ("127.0.0.2", "127.0.0.1")),
        ],
    )
    r, _ = ask(View([[z]]), "a.example.org")
    assert addresses(r) == ["127.0.0.1", "127.0.0.2"] and r.answer[0].ttl == 30


# -- NXDOMAIN / NODATA / SOA --------------------------------------------------------------------


def test_nxdomain_carries_the_soa_with_the_negative_ttl(zone_view):
    view, _ = zone_view
    r, _ = ask(view, "missing.example.org")
    assert rcode(r) == "NXDOMAIN" and r.answer == []
    (auth,) = r.authority
    assert auth.rdtype == dns.rdatatype.SOA and auth.name.to_text() == "example.org."
    assert auth.ttl == 60  # min(SOA TTL 3600, minimum 60)


def test_other_type_is_nodata(zone_view):
    view, _ = zone_view
    r, _ = ask(view, "host.example.org", "MX")
    assert rcode(r) == "NOERROR" and r.answer == []
    assert r.authority[0].rdtype == dns.rdatatype.SOA and r.authority[0].ttl == 60


def test_empty_non_terminal_is_nodata(zone_view):
    view, _ = zone_view
    # deep.a.b.example.org exists, so a.b.example.org and b.example.org do (without records).
    for name in ("b.example.org", "a.b.example.org"):
        r, _ = ask(view, name)
        assert rcode(r) == "NOERROR" and r.answer == [] and len(r.authority) == 1
    assert rcode(ask(view, "c.b.example.org")[0]) == "NXDOMAIN"
    assert rcode(ask(view, "a.example.org")[0]) == "NXDOMAIN"


def test_negative_ttl_uses_soa_ttl_when_smaller():
    z = StaticZone("example.org", [soa("example.org", ttl=30, minimum=600)])
    r, _ = ask(View([[z]]), "nope.example.org")
    assert r.authority[0].ttl == 30


# -- CNAME chains -------------------------------------------------------------------------------


def test_cname_is_followed_within_the_zone(zone_view):
    view, _ = zone_view
    r, _ = ask(view, "www.example.org")
    assert rcode(r) == "NOERROR"
    assert [(x.name.to_text(), dns.rdatatype.to_text(x.rdtype), x.ttl) for x in r.answer] == [
        ("www.example.org.", "CNAME", 44),
        ("host.example.org.", "A", 123),
    ]


def test_cname_query_returns_the_cname_only(zone_view):
    view, _ = zone_view
    r, _ = ask(view, "www.example.org", "CNAME")
    assert values(r) == ["host.example.org."] and len(r.answer) == 1


def test_cname_nodata_at_the_target(zone_view):
    view, _ = zone_view
    r, _ = ask(view, "www.example.org", "MX")
    assert rcode(r) == "NOERROR" and values(r, "CNAME") == ["host.example.org."]
    assert r.authority[0].rdtype == dns.rdatatype.SOA


def test_cname_chain_across_zones_and_tiers_into_the_fallback(world):
    phz = StaticZone(
        "corp.example",
        [
            Record("api.corp.example", "CNAME", 20, (FRIENDLY,)),
            Record("ext.corp.example", "CNAME", 20, ("www.example.com",)),
            Record("vpce.corp.example", "CNAME", 20, (REGIONAL,)),
        ],
    )
    view = vpc_view(
        private_zones=[phz],
        managed_zones=[world["managed"]],
        provided=[world["provided"]],
        public=world["public"],
    )
    r, _ = ask(view, "api.corp.example")
    assert values(r, "CNAME") == [FRIENDLY + "."] and addresses(r) == ["127.3.1.10", "127.3.2.10"]
    r, _ = ask(view, "ext.corp.example")
    assert addresses(r) == ["198.51.100.10"]  # from the public view
    r, _ = ask(view, "vpce.corp.example")
    assert addresses(r) == ["127.3.1.10", "127.3.2.10"]  # from the AWS-provided tier


def test_cname_to_a_missing_name_is_nxdomain_with_the_target_zone_soa(world):
    phz = StaticZone(
        "corp.example", [Record("gone.corp.example", "CNAME", 20, ("nothere.example.com",))]
    )
    view = vpc_view(private_zones=[phz], public=world["public"])
    r, _ = ask(view, "gone.corp.example")
    assert rcode(r) == "NXDOMAIN"
    assert values(r, "CNAME") == ["nothere.example.com."]
    assert r.authority[0].name.to_text() == "example.com."


def test_cname_leaving_the_view_ends_the_chain():
    z = StaticZone(
        "example.org", [Record("out.example.org", "CNAME", 20, ("somewhere.example.net",))]
    )
    r, _ = ask(View([[z]]), "out.example.org")
    assert rcode(r) == "NOERROR" and values(r) == ["somewhere.example.net."] and r.authority == []


def test_cname_loop_is_servfail():
    z = StaticZone(
        "example.org",
        [
            Record("a.example.org", "CNAME", 1, ("b.example.org",)),
            Record("b.example.org", "CNAME", 1, ("a.example.org",)),
            Record("self.example.org", "CNAME", 1, ("SELF.example.org",)),
        ],
    )
    for name in ("a.example.org", "self.example.org"):
        r, _ = ask(View([[z]]), name)
        assert rcode(r) == "SERVFAIL" and r.answer == []


def test_cname_chain_length_is_bounded():
    def chain(n):
        recs = [
            Record(f"c{i}.example.org", "CNAME", 1, (f"c{i + 1}.example.org",)) for i in range(n)
        ]
        recs.append(Record(f"c{n}.example.org", "A", 1, ("127.0.0.1",)))
        return View([[StaticZone("example.org", recs)]])

    r, _ = ask(chain(MAX_CHAIN), "c0.example.org")
    assert (
        rcode(r) == "NOERROR" and addresses(r) == ["127.0.0.1"] and len(r.answer) == MAX_CHAIN + 1
    )
    r, _ = ask(chain(MAX_CHAIN + 1), "c0.example.org")
    assert rcode(r) == "SERVFAIL"


# -- ANY, wildcards, delegations, aliases, callbacks ----------------------------------------------


def test_any_is_minimal(zone_view):
    view, _ = zone_view
    r, _ = ask(view, "host.example.org", "ANY")
    assert rcode(r) == "NOERROR" and len(r.answer) == 1
    assert r.answer[0].rdtype == dns.rdatatype.A
    r, _ = ask(view, "www.example.org", "ANY")
    assert len(r.answer) == 1 and r.answer[0].rdtype == dns.rdatatype.CNAME
    r, _ = ask(view, "b.example.org", "ANY")
    assert rcode(r) == "NOERROR" and r.answer == [] and r.authority
    assert rcode(ask(view, "nope.example.org", "ANY")[0]) == "NXDOMAIN"


def test_wildcards(zone_view):
    view, _ = zone_view
    r, _ = ask(view, "Anything.wild.example.org")
    assert (
        addresses(r) == ["127.0.0.11"]
        and r.answer[0].name.to_text() == "Anything.wild.example.org."
    )
    r, _ = ask(view, "deeper.anything.wild.example.org", "TXT")
    assert values(r) == ['"wild"']
    # An existing name is not covered by the wildcard, even for a type it lacks.
    r, _ = ask(view, "named.wild.example.org", "A")
    assert rcode(r) == "NOERROR" and r.answer == []
    # sub.wild exists (empty non-terminal): it is the closest encloser, without a wildcard.
    assert rcode(ask(view, "y.sub.wild.example.org")[0]) == "NXDOMAIN"
    assert rcode(ask(view, "sub.wild.example.org")[0]) == "NOERROR"


def test_delegation_below_a_zone_cut_is_servfail(zone_view):
    view, _ = zone_view
    r, _ = ask(view, "delegated.example.org", "NS")
    assert values(r) == ["ns.elsewhere.net."]
    assert rcode(ask(view, "www.delegated.example.org")[0]) == "SERVFAIL"


def test_alias_records_answer_with_the_targets_records(zone_view):
    view, _ = zone_view
    r, _ = ask(view, "alias.example.org")
    assert addresses(r) == ["127.0.0.7", "127.0.0.8"]
    assert r.answer[0].name.to_text() == "alias.example.org." and r.answer[0].ttl == 123
    r, _ = ask(view, "alias.example.org", "AAAA")
    assert rcode(r) == "NOERROR" and r.answer == []
    r, _ = ask(view, "alias-to-nothing.example.org")
    assert rcode(r) == "NOERROR" and r.answer == [] and r.authority


def test_alias_into_another_zone(world):
    phz = StaticZone("corp.example", [Record("svc.corp.example", "A", alias=REGIONAL)])
    view = vpc_view(private_zones=[phz], provided=[world["provided"]])
    r, _ = ask(view, "svc.corp.example")
    assert addresses(r) == ["127.3.1.10", "127.3.2.10"] and len(r.answer) == 1


def test_alias_loops_are_servfail():
    z = StaticZone(
        "example.org",
        [
            Record("a.example.org", "A", alias="b.example.org"),
            Record("b.example.org", "A", alias="a.example.org"),
            Record("me.example.org", "A", alias="me.example.org"),
        ],
    )
    for name in ("a.example.org", "me.example.org"):
        assert rcode(ask(View([[z]]), name)[0]) == "SERVFAIL"


def test_callback_zone_is_consulted_each_time_and_never_cached():
    calls = []

    def hosts(name):
        calls.append(name)
        if name.startswith("ip-127-3-1-"):
            last = name.split(".")[0].rsplit("-", 1)[1]
            return [Record(name, "A", 60, (f"127.3.1.{last}",))]
        if name == "ec2.internal":
            return []
        return None

    view = View([[CallbackZone("ec2.internal", hosts)]])
    r, _ = ask(view, "ip-127-3-1-5.ec2.internal")
    assert addresses(r) == ["127.3.1.5"]
    r, _ = ask(view, "IP-127-3-1-5.ec2.internal")
    assert addresses(r) == ["127.3.1.5"]
    assert calls == ["ip-127-3-1-5.ec2.internal"] * 2
    assert rcode(ask(view, "ip-10-0-0-1.ec2.internal")[0]) == "NXDOMAIN"
    r, _ = ask(view, "ec2.internal", "SOA")
    assert r.answer[0].rdtype == dns.rdatatype.SOA
    r, _ = ask(view, "ip-127-3-1-5.ec2.internal", "TXT")
    assert rcode(r) == "NOERROR" and r.answer == []


def test_resolve_for_the_doctor(world):
    res = resolve(world["consumer"], FRIENDLY, "A")
    assert res.rcode_text == "NOERROR" and sorted(res.values("A")) == ["127.3.1.10", "127.3.2.10"]
    assert res.zone.label == "managed"
    assert resolve(world["other"], "billing.internal.example.com").rcode_text == "NXDOMAIN"
    assert resolve(world["other"], FRIENDLY).zone.label == "public:internal.example.com"


# -- the message: flags, case, classes, opcodes, malformed queries -------------------------------


def test_flags_and_question_case(world):
    q = dns.message.make_query("PayMents.Internal.EXAMPLE.com", "A")
    q.flags |= dns.flags.CD
    wire = answer(q.to_wire(), world["consumer"])
    r = dns.message.from_wire(wire)
    assert r.id == q.id
    assert (
        r.flags & dns.flags.QR
        and r.flags & dns.flags.RD
        and r.flags & dns.flags.RA
        and r.flags & dns.flags.CD
    )
    assert not r.flags & dns.flags.AA and not r.flags & dns.flags.TC
    assert r.question[0].name.to_text() == "PayMents.Internal.EXAMPLE.com."
    assert b"\x08PayMents\x08Internal\x07EXAMPLE\x03com\x00" in wire
    q = dns.message.make_query(FRIENDLY, "A")
    q.flags &= ~dns.flags.RD
    r = dns.message.from_wire(answer(q.to_wire(), world["consumer"]))
    assert not r.flags & dns.flags.RD and addresses(r) == ["127.3.1.10", "127.3.2.10"]


def test_authoritative_view_sets_aa():
    z = StaticZone("example.org", [Record("a.example.org", "A", 1, ("127.0.0.1",))])
    r, _ = ask(View([[z]], authoritative=True), "a.example.org")
    assert r.flags & dns.flags.AA
    r, _ = ask(View([[z]], authoritative=True), "www.example.net")
    assert not r.flags & dns.flags.AA and rcode(r) == "REFUSED"


def test_cached_answers_follow_the_query_id_and_case(zone_view):
    view, _ = zone_view
    first, _ = ask(view, "host.example.org")
    assert view.cache
    q = dns.message.make_query("HOST.Example.ORG", "A")
    wire = answer(q.to_wire(), view)
    r = dns.message.from_wire(wire)
    assert r.id == q.id and r.question[0].name.to_text() == "HOST.Example.ORG."
    assert addresses(r) == addresses(first)


def test_a_rebuilt_view_answers_the_new_records():
    old = View([[StaticZone("example.org", [Record("a.example.org", "A", 1, ("127.0.0.1",))])]])
    assert addresses(ask(old, "a.example.org")[0]) == ["127.0.0.1"]
    new = View([[StaticZone("example.org", [Record("a.example.org", "A", 1, ("127.0.0.2",))])]])
    assert addresses(ask(new, "a.example.org")[0]) == ["127.0.0.2"]


def test_class_other_than_in_is_refused(zone_view):
    view, _ = zone_view
    q = dns.message.make_query("host.example.org", "TXT", rdclass=dns.rdataclass.CH)
    assert rcode(dns.message.from_wire(answer(q.to_wire(), view))) == "REFUSED"
    q = dns.message.make_query("host.example.org", "A", rdclass=dns.rdataclass.ANY)
    assert addresses(dns.message.from_wire(answer(q.to_wire(), view))) == ["127.0.0.7", "127.0.0.8"]


def test_zone_transfers_are_refused_and_mail_types_not_implemented(zone_view):
    view, _ = zone_view
    assert rcode(ask(view, "example.org", "AXFR")[0]) == "REFUSED"
    assert rcode(ask(view, "example.org", "IXFR")[0]) == "REFUSED"
    assert rcode(ask(view, "example.org", "MAILB")[0]) == "NOTIMP"


@pytest.mark.parametrize("opcode", [dns.opcode.NOTIFY, dns.opcode.STATUS, dns.opcode.IQUERY])
def test_other_opcodes_are_notimp(zone_view, opcode):
    view, _ = zone_view
    q = dns.message.make_query("example.org", "SOA")
    q.set_opcode(opcode)
    r = dns.message.from_wire(answer(q.to_wire(), view))
    assert rcode(r) == "NOTIMP" and r.opcode() == opcode and r.id == q.id


def test_update_is_notimp(zone_view):
    view, _ = zone_view
    u = dns.update.UpdateMessage("example.org")
    u.add("x", 60, "A", "127.0.0.1")
    r = dns.message.from_wire(answer(u.to_wire(), view))
    assert r.rcode() == dns.rcode.NOTIMP and r.opcode() == dns.opcode.UPDATE


def test_tsig_signed_query_is_notauth(zone_view):
    view, _ = zone_view
    q = dns.message.make_query("host.example.org", "A")
    q.use_tsig(dns.tsigkeyring.from_text({"key.": "MTIzNDU2Nzg5MGFiY2RlZg=="}), keyname="key.")
    wire = answer(q.to_wire(), view)
    assert struct.unpack("!H", wire[2:4])[0] & 0xF == dns.rcode.NOTAUTH


def test_responses_and_runts_get_no_answer(zone_view):
    view, _ = zone_view
    q = dns.message.make_query("host.example.org", "A")
    wire = bytearray(q.to_wire())
    wire[2] |= 0x80  # QR: a response
    assert answer(bytes(wire), view) is None
    assert answer(b"", view) is None
    assert answer(b"\x12\x34\x01\x00\x00\x01", view) is None


def _header(id=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", id, flags, qd, an, ns, ar)


QNAME = b"\x04host\x07example\x03org\x00"
OPT = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)


@pytest.mark.parametrize(
    "wire",
    [
        _header(qd=0),
        _header(qd=2) + QNAME + b"\x00\x01\x00\x01" + QNAME + b"\x00\x01\x00\x01",
        _header() + QNAME[:7],  # name cut short
        _header() + QNAME + b"\x00",  # type/class cut short
        _header() + QNAME + b"\x00\x01\x00\x01" + b"junk",  # trailing bytes
        _header(ar=2) + QNAME + b"\x00\x01\x00\x01" + OPT + OPT,  # two OPTs
        _header(an=1) + QNAME + b"\x00\x01\x00\x01" + OPT,  # OPT in the answer section
        _header(ar=1) + QNAME + b"\x00\x01\x00\x01" + b"\x01x\x00" + OPT[1:],  # OPT not at root
        _header(ar=1)
        + QNAME
        + b"\x00\x01\x00\x01"
        + b"\x00"
        + struct.pack("!HHIH", 41, 1232, 0, 3)
        + b"\x00\x0a\x00",
        _header() + b"\x41abc\x00\x00\x01\x00\x01",  # extended label type
        _header() + b"\xc0\x0c\x00\x01\x00\x01",  # pointer to itself
        _header() + b"\x01a\xc0\x0c\x00\x01\x00\x01",  # pointer loop
        _header()
        + b"\x3f"
        + b"a" * 63
        + b"\x3f"
        + b"b" * 63
        + b"\x3f"
        + b"c" * 63
        + b"\x3f"
        + b"d" * 63
        + b"\x00\x00\x01\x00\x01",  # 257-byte name
        _header(ar=1) + QNAME + b"\x00\x01\x00\x01" + OPT[:5],  # truncated OPT
        _header() + QNAME + b"\x00\x29\x00\x01",  # question of type OPT
    ],
)
def test_malformed_queries_get_formerr(wire):
    out = answer(wire, View())
    assert out is not None
    r = dns.message.from_wire(out)
    assert r.rcode() == dns.rcode.FORMERR and r.id == 0x1234 and r.flags & dns.flags.QR
    assert r.flags & dns.flags.RD


def test_formerr_keeps_the_question_when_it_parsed():
    wire = _header() + QNAME + b"\x00\x01\x00\x01" + b"junk"
    r = dns.message.from_wire(answer(wire, View()))
    assert r.question[0].name.to_text() == "host.example.org."


def test_hand_built_queries_with_additional_records_are_answered(zone_view):
    view, _ = zone_view
    wire = _header() + QNAME + b"\x00\x01\x00\x01"
    r = dns.message.from_wire(answer(wire, view))
    assert addresses(r) == ["127.0.0.7", "127.0.0.8"] and r.edns == -1
    # A record in the additional section may compress its owner against the question.
    extra = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 0, 4) + b"\x7f\x00\x00\x01"
    r = dns.message.from_wire(
        answer(_header(ar=2) + QNAME + b"\x00\x01\x00\x01" + extra + OPT, view)
    )
    assert addresses(r) == ["127.0.0.7", "127.0.0.8"] and r.edns == 0


# -- EDNS, sizes, truncation --------------------------------------------------------------------


@pytest.fixture
def big_view():
    txt = [f'"{"x" * 200}{i:02d}"' for i in range(14)]  # about 3 KB of TXT
    z = StaticZone(
        "example.org",
        [
            Record("big.example.org", "TXT", 60, txt),
            Record(
                "huge.example.org", "TXT", 60, [f'"{"y" * 250}{i:03d}"' for i in range(40)]
            ),  # ~10 KB
            Record("to-big.example.org", "CNAME", 60, ("big.example.org",)),
            Record("small.example.org", "A", 60, ("127.0.0.1",)),
        ],
    )
    return View([[z]])


def test_edns_is_echoed(big_view):
    r, _ = ask(big_view, "small.example.org", edns=0, payload=1232, want_dnssec=True)
    assert r.edns == 0 and r.payload == 4096 and r.ednsflags & dns.flags.DO
    r, _ = ask(big_view, "small.example.org", edns=0, payload=1232)
    assert r.edns == 0 and not r.ednsflags & dns.flags.DO
    r, _ = ask(big_view, "small.example.org", edns=None)
    assert r.edns == -1


def test_edns_version_above_zero_is_badvers(big_view):
    r, _ = ask(big_view, "small.example.org", edns=1)
    assert r.rcode() == dns.rcode.BADVERS and r.edns == 0 and r.answer == []


def test_without_edns_udp_answers_are_at_most_512_bytes(big_view):
    r, wire = ask(big_view, "big.example.org", "TXT", edns=None)
    assert len(wire) <= 512 and r.flags & dns.flags.TC
    assert r.answer == []  # the only RRset does not fit whole
    assert r.question[0].name.to_text() == "big.example.org."


def test_client_payload_is_honoured(big_view):
    r, wire = ask(big_view, "big.example.org", "TXT", payload=4096)
    assert not r.flags & dns.flags.TC and len(values(r)) == 14 and len(wire) > 1232
    r, wire = ask(big_view, "big.example.org", "TXT", payload=1232)
    assert r.flags & dns.flags.TC and len(wire) <= 1232 and r.edns == 0
    # Below 512 counts as 512.
    r, wire = ask(big_view, "small.example.org", payload=100)
    assert not r.flags & dns.flags.TC and addresses(r) == ["127.0.0.1"]


def test_server_payload_caps_the_client(big_view):
    r, wire = ask(big_view, "big.example.org", "TXT", payload=4096, max_udp_payload=1232)
    assert r.flags & dns.flags.TC and len(wire) <= 1232 and r.payload == 1232


def test_truncation_keeps_whole_rrsets(big_view):
    r, wire = ask(big_view, "to-big.example.org", "TXT", payload=1232)
    assert r.flags & dns.flags.TC and len(wire) <= 1232
    assert [dns.rdatatype.to_text(x.rdtype) for x in r.answer] == ["CNAME"]


def test_tcp_answers_are_never_truncated(big_view):
    r, wire = ask(big_view, "huge.example.org", "TXT", tcp=True, edns=None)
    assert not r.flags & dns.flags.TC and len(values(r)) == 40 and len(wire) > 10000
    r, wire = ask(big_view, "huge.example.org", "TXT", payload=4096)
    assert r.flags & dns.flags.TC and len(wire) <= 4096


# -- building and answering fast --------------------------------------------------------------


def test_view_rebuild_and_query_rate(capsys):
    records = [
        Record(f"h{i}.example.org", "A", 60, (f"127.1.{i // 250}.{i % 250 + 1}",))
        for i in range(2000)
    ]
    records += [Record(f"t{i}.example.org", "TXT", 60, (f'"token-{i}"',)) for i in range(500)]
    t0 = time.perf_counter()
    zones = [
        StaticZone(f"z{i}.example.com", [Record(f"a.z{i}.example.com", "A", 60, ("127.0.0.1",))])
        for i in range(200)
    ]
    view = View([[StaticZone("example.org", records), *zones]])
    build = time.perf_counter() - t0
    assert build < 1.0, f"building a 2700-record view took {build:.2f}s"
    queries = [dns.message.make_query(f"h{i}.example.org", "A").to_wire() for i in range(2000)]
    t0 = time.perf_counter()
    for q in queries:
        assert answer(q, view) is not None
    cold = len(queries) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(3):
        for q in queries:
            answer(q, view)
    warm = 3 * len(queries) / (time.perf_counter() - t0)
    nocache = View(view.tiers, cache_size=0)
    t0 = time.perf_counter()
    for q in queries:
        answer(q, nocache)
    uncached = len(queries) / (time.perf_counter() - t0)
    with capsys.disabled():
        print(
            f"\n[dns engine] view of 2700 records/201 zones built in {build * 1000:.0f} ms; "
            f"{cold:,.0f} q/s first ask, {warm:,.0f} q/s cached, {uncached:,.0f} q/s uncached"
        )
